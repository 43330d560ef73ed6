//! `labform plan FILE`: the offline plan (every VM with node, VM ID, addresses, size, image and
//! cloud-init summary, then each cluster's bootstrap and add-on steps), as text or JSON.
//!
//! Allocations are recorded in the lab's lock file (`FILE` with the extension `.lock`) so that
//! later plans keep every VM's address, VM ID and node.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::lab_input::{default_lock_path, load_and_plan, read_lock, write_lock};

/// Arguments of `labform plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// Lock file of earlier allocations (default: FILE with the extension `.lock`).
    #[arg(long, value_name = "PATH")]
    pub lock: Option<PathBuf>,
    /// Fail instead of changing the lock file (for CI).
    #[arg(long, conflicts_with = "no_lock")]
    pub locked: bool,
    /// Neither read nor write a lock file.
    #[arg(long)]
    pub no_lock: bool,
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
    let lock_path = args
        .lock
        .clone()
        .unwrap_or_else(|| default_lock_path(&args.file));
    let previous = if args.no_lock {
        labform_planner::Allocations::empty()
    } else {
        read_lock(&lock_path)?
    };
    let outcome = load_and_plan(&args.file, &previous);
    if !outcome.diagnostics.is_empty() {
        eprint!("{}", outcome.render_diagnostics());
    }
    let Some(planned) = outcome.planned.as_ref() else {
        return Ok(ExitCode::from(1));
    };
    let Some(plan) = planned.plan.as_ref() else {
        return Ok(ExitCode::from(1));
    };
    if !args.no_lock && planned.allocations != previous {
        if args.locked {
            eprintln!(
                "error: the plan changes allocations recorded in {}; run `labform plan {}` without --locked to update it",
                lock_path.display(),
                args.file.display()
            );
            return Ok(ExitCode::from(1));
        }
        write_lock(&lock_path, &planned.allocations)?;
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
    let against = match crate::reality::plan_against_target(&args.file, &args.target).await? {
        Ok(against) => against,
        Err(code) => return Ok(code),
    };
    if args.json {
        let value = serde_json::json!({
            "target": against.connected.description,
            "plan": against.plan,
            "changes": against.reconciliation,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("serialisable")
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
