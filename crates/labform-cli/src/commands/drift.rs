//! `labform drift FILE`: changes made on Proxmox by hand to VMs this lab owns, field by field.
//! Exit 0 without drift, 2 with drift (the lab's own pending changes are listed, not counted).

use std::path::PathBuf;
use std::process::ExitCode;

use labform_planner::reconcile::VmAction;

use crate::reality::plan_against_target;
use crate::target::TargetArgs;

/// Arguments of `labform drift`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
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
        let against = match plan_against_target(&args.file, &args.target).await? {
            Ok(against) => against,
            Err(code) => return Ok(code),
        };
        let mut drifted = Vec::new();
        let mut pending = 0;
        for change in &against.reconciliation.changes {
            if let VmAction::Update { changes } = &change.action {
                let fields: Vec<_> = changes.iter().filter(|field| field.drift).collect();
                if fields.is_empty() {
                    pending += 1;
                } else {
                    drifted.push((change, fields));
                }
            } else if change.action != VmAction::Unchanged {
                pending += 1;
            }
        }
        if args.json {
            let value = serde_json::json!({
                "drift": drifted.iter().map(|(change, fields)| serde_json::json!({
                    "name": change.name, "vm_id": change.vm_id, "node": change.node, "fields": fields,
                })).collect::<Vec<_>>(),
                "lab_changes_pending": pending,
            });
            println!("{}", serde_json::to_string_pretty(&value).expect("serialisable"));
        } else {
            for (change, fields) in &drifted {
                println!("{} ({}) on {}:", change.name, change.vm_id, change.node);
                for field in fields {
                    println!(
                        "  {}: lab {} / Proxmox {}",
                        field.field,
                        field.desired.as_deref().unwrap_or("(unset)"),
                        field.observed.as_deref().unwrap_or("(unset)")
                    );
                }
            }
            if drifted.is_empty() {
                println!("No drift on {}.", against.connected.description);
            } else {
                println!("{} VM(s) drifted; `labform apply` puts them back.", drifted.len());
            }
            if pending > 0 {
                println!("{pending} change(s) from the lab itself are waiting for `labform apply`.");
            }
        }
        Ok(if drifted.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
    })
}
