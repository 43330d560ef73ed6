//! `labform plan FILE`: the offline plan (every VM with node, VM ID, addresses, size, image and
//! cloud-init summary, then each cluster's bootstrap and add-on steps), as text or JSON.
//!
//! Allocations are recorded in the lab's lock file (`FILE` with the extension `.lock`) so that
//! later plans keep every VM's address, VM ID and node.
//!
//! Against a target, `--no-refresh` (like Terraform's `-refresh=false`) trusts the spec hash each
//! VM's tags record instead of reading every config: the plan says first what it read (counted
//! call by call), what it did not, and what it therefore cannot see (drift).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use labform_executor::Refresh;
use labform_executor::metered::Metered;

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
    /// With a target: trust the spec hash each VM's tags record instead of reading its config
    /// (one cluster resources list per endpoint instead of a config read per VM). Creations and
    /// deletions are exact; a changed VM shows as outdated, without its fields; drift (changes
    /// made by hand) is not seen.
    #[arg(long)]
    pub no_refresh: bool,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.live || args.target.explicit() {
        return crate::runtime().block_on(against_target(args));
    }
    if args.no_refresh {
        anyhow::bail!(
            "--no-refresh is for a plan against a target (--live, --sim or --proxmox URL); the offline plan reads nothing from Proxmox"
        );
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
    let refresh = if args.no_refresh {
        Refresh::TrustTags
    } else {
        Refresh::ReadConfigs
    };
    let mut meters = Vec::new();
    let against = match crate::reality::plan_against_target_through(
        &args.file,
        &args.target,
        &args.lock,
        crate::reality::Preflight::Check,
        refresh,
        |connected| {
            for endpoint in &mut connected.endpoints {
                let meter = Arc::new(Metered::new(endpoint.api.clone()));
                endpoint.api = meter.clone();
                meters.push(meter);
            }
        },
    )
    .await?
    {
        Ok(against) => against,
        Err(code) => return Ok(code),
    };
    let mut calls: BTreeMap<&'static str, u64> = BTreeMap::new();
    for meter in &meters {
        for (call, count) in meter.by_call() {
            *calls.entry(call).or_default() += count.calls;
        }
    }
    if args.json {
        let mut value = changes_json(&against);
        if args.no_refresh {
            value["refresh"] = serde_json::json!({
                "configs_read": false,
                "calls": calls,
                "vms_trusted": trusted(&against),
            });
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("serialisable")
        );
    } else {
        if args.no_refresh {
            print!("{}", no_refresh_header(&against, &calls));
        }
        println!("Changes to {}:", against.connected.description);
        print!(
            "{}",
            labform_planner::render::render_changes(&against.plan, &against.reconciliation)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// This scope's VMs compared by the spec hash their tags record (configs not read).
fn trusted(against: &crate::reality::Against) -> usize {
    against
        .inventory
        .vms
        .iter()
        .filter(|vm| !vm.config_read && vm.owned_by(&against.plan.scope))
        .count()
}

/// What a plan without refresh read, did not read and cannot see: `calls` are the Proxmox
/// calls it made, by the API's method name.
fn no_refresh_header(
    against: &crate::reality::Against,
    calls: &BTreeMap<&'static str, u64>,
) -> String {
    let total: u64 = calls.values().sum();
    let configs = calls.get("vm_config").copied().unwrap_or(0);
    let listed: Vec<String> = calls
        .iter()
        .map(|(call, count)| format!("{call} {count}"))
        .collect();
    format!(
        "Planned without refresh (--no-refresh): the spec hash each VM's tags record is trusted.\n\
         \x20 Read: {total} Proxmox calls ({}); the cluster resources list for what exists, \
         {configs} config(s) of templates and of VMs without a spec tag, and the access, backup \
         job and preflight lists.\n\
         \x20 Not read: the configs of {} VM(s) (fields, disks, pending changes, protection), \
         nor other scopes' VMs (the addresses they hold).\n\
         \x20 Not seen: drift (changes made by hand on Proxmox), and whether an outdated VM is \
         updated in place or replaced; `labform drift` and a plan without --no-refresh read them.\n",
        listed.join(", "),
        trusted(against),
    )
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
