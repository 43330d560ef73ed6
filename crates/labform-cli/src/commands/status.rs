//! `labform status FILE`: what exists of the lab, per cluster and tenant, with state, node, VM ID
//! and address; what the lab plans but does not exist; and owned VMs the lab no longer has.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use labform_planner::reconcile::VmAction;

use crate::reality::{Preflight, plan_against_target};
use crate::target::TargetArgs;

/// Arguments of `labform status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// The lock file (read and checked; this command never writes it).
    #[command(flatten)]
    pub lock: crate::lab_input::LockArgs,
    /// Where to look.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::runtime().block_on(async {
        let against =
            match plan_against_target(&args.file, &args.target, &args.lock, Preflight::Skip).await?
            {
                Ok(against) => against,
                Err(code) => return Ok(code),
            };
        let scope = against.plan.scope.clone();
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&status_json(&against)).expect("serialisable")
            );
            return Ok(ExitCode::SUCCESS);
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Lab `{}` (scope `{scope}`) on {}",
            against.plan.lab, against.connected.description
        );
        let observed = |name: &str| against.inventory.owned(&scope).find(|vm| vm.name == name);
        let line = |out: &mut String, name: &str, planned_id: u32| match observed(name) {
            Some(vm) => {
                let state = if vm.template {
                    "template"
                } else if vm.running {
                    "running"
                } else {
                    "stopped"
                };
                let address = vm
                    .address()
                    .map(|address| address.to_string())
                    .unwrap_or_else(|| "-".to_owned());
                let _ = writeln!(
                    out,
                    "  {:>6} {:<30} {:<9} {:<10} {address}",
                    vm.vm_id, vm.name, state, vm.node
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  {planned_id:>6} {name:<30} missing (apply creates it)"
                );
            }
        };
        for cluster in &against.plan.clusters {
            let tenant = cluster
                .tenant
                .as_deref()
                .map(|tenant| format!(", tenant {tenant}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "\nCluster `{}` ({} {}{tenant})",
                cluster.name, cluster.distribution, cluster.version
            );
            for vm in against
                .plan
                .vms
                .iter()
                .filter(|vm| vm.cluster.as_deref() == Some(cluster.name.as_str()))
            {
                line(&mut out, &vm.name, vm.vm_id.get());
            }
        }
        let plain: Vec<_> = against
            .plan
            .vms
            .iter()
            .filter(|vm| vm.cluster.is_none())
            .collect();
        if !plain.is_empty() {
            let _ = writeln!(out, "\nVMs");
            for vm in plain {
                line(&mut out, &vm.name, vm.vm_id.get());
            }
        }
        if !against.plan.templates.is_empty() {
            let _ = writeln!(out, "\nTemplates");
            for template in &against.plan.templates {
                line(&mut out, &template.name, template.vm_id.get());
            }
        }
        let leaving: Vec<_> = against
            .reconciliation
            .changes
            .iter()
            .filter(|change| matches!(change.action, VmAction::Delete { .. }))
            .collect();
        if !leaving.is_empty() {
            let _ = writeln!(out, "\nOwned but no longer in the lab (apply deletes them)");
            for change in leaving {
                let _ = writeln!(
                    out,
                    "  {:>6} {:<30} on {}",
                    change.vm_id, change.name, change.node
                );
            }
        }
        print!("{out}");
        Ok(ExitCode::SUCCESS)
    })
}

/// `status --json`: where, the owned VMs as found, and the changes (`labform serve`'s `/status`
/// answers the same).
pub fn status_json(against: &crate::reality::Against) -> serde_json::Value {
    let owned: Vec<_> = against.inventory.owned(&against.plan.scope).collect();
    serde_json::json!({
        "target": against.connected.description,
        "owned": owned,
        "changes": against.reconciliation,
    })
}
