//! `labform plan FILE`: the offline plan (every VM with node, VM ID, addresses, size, image and
//! cloud-init summary, then each cluster's bootstrap and add-on steps), as text or JSON.
//!
//! Allocations are recorded in the lab's lock file (`FILE` with the extension `.lock`) so that
//! later plans keep every VM's address, VM ID and node.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::lab_input::{LockArgs, plan_offline};

/// Arguments of `labform plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// The lock file (with a target: read and checked, never written).
    #[command(flatten)]
    pub lock: LockArgs,
    /// Plan against what exists on a Proxmox (the lab's endpoint needs `--live`; or `--sim`,
    /// `--proxmox URL`) and show the changes instead of the offline plan.
    #[command(flatten)]
    pub target: crate::target::TargetArgs,
    /// Plan against the lab's own Proxmox endpoints.
    #[arg(long, conflicts_with_all = ["sim", "proxmox"])]
    pub live: bool,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.live || args.target.explicit() {
        return crate::runtime().block_on(against_target(args));
    }
    let mut outcome = plan_offline(&args.file, &args.lock)?;
    if !outcome.diagnostics.is_empty() {
        eprint!("{}", outcome.render_diagnostics());
    }
    let Some(planned) = outcome.planned.as_ref() else {
        return Ok(ExitCode::from(1));
    };
    let Some(plan) = planned.plan.as_ref() else {
        return Ok(ExitCode::from(1));
    };
    if let Err(error) = outcome.inputs.lock.record(&args.file, &planned.allocations) {
        return Ok(crate::lab_input::refused(&error));
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(plan).expect("plans serialise")
        );
    } else {
        print!("{}", labform_planner::render(plan, true));
    }
    Ok(ExitCode::SUCCESS)
}

async fn against_target(args: Args) -> anyhow::Result<ExitCode> {
    let against = match crate::reality::plan_against_target(
        &args.file,
        &args.target,
        &args.lock,
        crate::reality::Preflight::Check,
    )
    .await?
    {
        Ok(against) => against,
        Err(code) => return Ok(code),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&changes_json(&against)).expect("serialisable")
        );
    } else {
        println!("Changes to {}:", against.connected.description);
        print!(
            "{}",
            labform_planner::render::render_changes(&against.plan, &against.reconciliation)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `plan --json` against a target: where, the plan, and the changes (`labform serve`'s `/plan`
/// answers the same).
pub fn changes_json(against: &crate::reality::Against) -> serde_json::Value {
    serde_json::json!({
        "target": against.connected.description,
        "plan": against.plan,
        "changes": against.reconciliation,
    })
}
