//! `labform validate FILE`: load, check and plan the lab offline, and report every problem.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::lab_input::{LockArgs, plan_offline};

/// Arguments of `labform validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// Print diagnostics as JSON.
    #[arg(long)]
    pub json: bool,
    /// The lock file (read and checked; validate never writes it).
    #[command(flatten)]
    pub lock: LockArgs,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let outcome = plan_offline(&args.file, &args.lock)?;
    if let Some(Err(error)) = outcome
        .planned
        .as_ref()
        .map(|planned| outcome.inputs.lock.check(&args.file, &planned.allocations))
    {
        return Ok(crate::lab_input::refused(&error));
    }
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
            .plan()
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
