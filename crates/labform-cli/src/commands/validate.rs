//! `labform validate FILE...`: load, check and plan each lab offline, and report every problem.
//! With several files (one repository per cluster, each with its own scope, on one Proxmox),
//! they are planned in the order given, each avoiding the VM IDs of those before it as it would
//! against Proxmox, and then checked together for a shared scope, VM ID, node address, API VIP
//! or load-balancer block.

use std::path::PathBuf;
use std::process::ExitCode;

use labform_model::Diagnostic;
use labform_planner::shared::{SharedLab, clashes, ids_of_others};

use crate::lab_input::{LockArgs, Outcome, plan_offline};

/// Arguments of `labform validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file; several lab files that share a Proxmox are also checked together.
    #[arg(required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Print diagnostics as JSON.
    #[arg(long)]
    pub json: bool,
    /// The lock file (read and checked; validate never writes it).
    #[command(flatten)]
    pub lock: LockArgs,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.files.len() > 1 && args.lock.lock.is_some() {
        eprintln!(
            "error: --lock names one lock file; with several lab files each uses its own (FILE.lock)"
        );
        return Ok(ExitCode::from(2));
    }
    let mut outcomes: Vec<Outcome> = Vec::new();
    for file in &args.files {
        let mut outcome = plan_offline(file, &args.lock)?;
        if !outcomes.is_empty()
            && let Some(lab) = outcome.inputs.lab.as_ref().filter(|_| !outcome.failed())
        {
            // Against one Proxmox, the VMs of the labs before this one hold their IDs.
            let others = shared_labs(&outcomes);
            let observed = ids_of_others(lab, &others);
            let planned =
                labform_planner::plan_against(lab, outcome.inputs.lock.recorded(), &observed);
            outcome.diagnostics = outcome.inputs.diagnostics.clone();
            outcome
                .diagnostics
                .extend(planned.diagnostics.iter().cloned());
            outcome.planned = Some(planned);
        }
        outcomes.push(outcome);
    }
    if outcomes.len() > 1 {
        let labs = shared_labs(&outcomes);
        if labs.len() == outcomes.len() {
            let found: Vec<(usize, Diagnostic)> = clashes(&labs);
            for (index, diagnostic) in found {
                outcomes[index].diagnostics.push(diagnostic);
            }
        }
    }
    for (file, outcome) in args.files.iter().zip(&outcomes) {
        if let Some(Err(error)) = outcome
            .planned
            .as_ref()
            .map(|planned| outcome.inputs.lock.check(file, &planned.allocations))
        {
            return Ok(crate::lab_input::refused(&error));
        }
    }
    let failed = outcomes.iter().any(Outcome::failed);
    if args.json {
        let reports: Vec<serde_json::Value> = args
            .files
            .iter()
            .zip(&outcomes)
            .map(|(file, outcome)| {
                serde_json::json!({
                    "file": file.display().to_string(),
                    "valid": !outcome.failed(),
                    "diagnostics": outcome.resolved(),
                })
            })
            .collect();
        let report = match <[serde_json::Value; 1]>::try_from(reports) {
            Ok([one]) => one,
            Err(several) => serde_json::Value::Array(several),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serialisable")
        );
    } else {
        for (file, outcome) in args.files.iter().zip(&outcomes) {
            if !outcome.diagnostics.is_empty() {
                eprint!("{}", outcome.render_diagnostics());
            }
            if outcome.failed() {
                continue;
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
            println!("{}: valid{summary}", file.display());
        }
        if outcomes.len() > 1 && !failed {
            println!(
                "{} lab files together: no shared scope, VM ID, node address, API VIP or load-balancer block",
                outcomes.len()
            );
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The labs that planned, with their plans.
fn shared_labs(outcomes: &[Outcome]) -> Vec<SharedLab<'_>> {
    outcomes
        .iter()
        .filter_map(|outcome| {
            Some(SharedLab {
                lab: outcome.inputs.lab.as_ref()?,
                plan: outcome.plan()?,
            })
        })
        .collect()
}
