//! `labform schema`: the JSON Schema of the lab file, generated from the model's Rust types.

use std::process::ExitCode;

/// Arguments of `labform schema`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    let schema = labform_model::json_schema();
    println!(
        "{}",
        serde_json::to_string_pretty(&schema).expect("schemas serialise")
    );
    Ok(ExitCode::SUCCESS)
}
