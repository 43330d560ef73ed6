//! `labform validate FILE`: load, check and plan the lab offline, and report every problem.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::lab_input::{default_lock_path, load_and_plan, read_lock};

/// Arguments of `labform validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// Print diagnostics as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let previous = read_lock(&default_lock_path(&args.file))?;
    let outcome = load_and_plan(&args.file, &previous);
    if args.json {
        let report = serde_json::json!({
            "file": args.file.display().to_string(),
            "valid": !outcome.failed(),
            "diagnostics": outcome.resolved(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serialisable")
        );
    } else {
        if !outcome.diagnostics.is_empty() {
            eprint!("{}", outcome.render_diagnostics());
        }
        if outcome.failed() {
            return Ok(ExitCode::from(1));
        }
        let summary = outcome
            .planned
            .as_ref()
            .and_then(|planned| planned.plan.as_ref())
            .map(|plan| {
                format!(
                    " ({} VMs, {} clusters)",
                    plan.summary.vms, plan.summary.clusters
                )
            })
            .unwrap_or_default();
        println!("{}: valid{summary}", args.file.display());
    }
    Ok(if outcome.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
