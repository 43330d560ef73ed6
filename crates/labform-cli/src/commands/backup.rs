//! `labform backup FILE [VM...]`: back VMs of the lab up now, through the Proxmox API (`vzdump`),
//! each to the storage and in the mode of the backup policy that covers it (its cluster's or its
//! own `backups`). Without VM names, every VM a policy covers. Waits for the tasks and prints
//! each backup volume, the name `labform restore --from` takes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use labform_ids::{NodeName, StorageName, VmId};
use labform_planner::plan::{PlannedBackupJob, PlannedVm};
use labform_proxmox::ProxmoxApi;
use labform_proxmox::task::{WaitOptions, wait_for_task};
use labform_proxmox::types::{Vzdump, VzdumpOptions};

use crate::reality::{Against, Preflight, plan_against_target};
use crate::target::TargetArgs;

/// Arguments of `labform backup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// The VMs to back up, by name (default: every VM a backup policy of the lab covers).
    pub vms: Vec<String>,
    /// The lock file (read and checked; this command never writes it).
    #[command(flatten)]
    pub lock: crate::lab_input::LockArgs,
    /// Where to act.
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::runtime().block_on(run_async(args))
}

/// One `vzdump` call: the VMs of one node going to one storage in one mode.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Batch {
    endpoint: usize,
    node: NodeName,
    storage: StorageName,
    mode: String,
}

async fn run_async(args: Args) -> anyhow::Result<ExitCode> {
    let against = match plan_for_vms(&args.file, &args.lock, &args.target, &args.vms).await? {
        Ok(against) => against,
        Err(code) => return Ok(code),
    };
    let chosen = &args.vms;
    let vms: Vec<&PlannedVm> = if chosen.is_empty() {
        against
            .plan
            .vms
            .iter()
            .filter(|vm| policy_of(&against.plan.backup_jobs, vm).is_some())
            .collect()
    } else {
        chosen
            .iter()
            .filter_map(|name| against.plan.vms.iter().find(|vm| &vm.name == name))
            .collect()
    };
    if vms.is_empty() {
        eprintln!(
            "error: no backup policy of {} covers a VM: give a cluster or VM `backups` with `storage` and `vzdump_schedule`",
            args.file.display()
        );
        return Ok(ExitCode::from(1));
    }
    let batches = match batches(&against, &args.file, &vms) {
        Ok(batches) => batches,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::from(1));
        }
    };
    let names: BTreeMap<VmId, &str> = vms.iter().map(|vm| (vm.vm_id, vm.name.as_str())).collect();
    let mut failed = false;
    for (batch, ids) in &batches {
        let endpoint = &against.connected.endpoints[batch.endpoint];
        let listed: Vec<String> = ids
            .iter()
            .map(|id| format!("{} ({id})", names[id]))
            .collect();
        eprintln!(
            "Backing up {} on {} to `{}` ({} mode)...",
            listed.join(", "),
            batch.node,
            batch.storage,
            batch.mode
        );
        match back_up(endpoint.api.as_ref(), batch, ids).await {
            Ok(volumes) => {
                for id in ids {
                    match volumes.get(id) {
                        Some(volume) => println!("{}\t{volume}", names[id]),
                        None => {
                            eprintln!(
                                "error: the backup of `{}` ({id}) finished but no new backup volume of it is on `{}`",
                                names[id], batch.storage
                            );
                            failed = true;
                        }
                    }
                }
            }
            Err(error) => {
                eprintln!("error: {error}");
                for cause in error.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// Checks `names` against the offline plan first (a name not in the lab is a usage error, exit
/// 2, naming the closest one, before anything connects), then plans against the target.
pub async fn plan_for_vms(
    file: &std::path::Path,
    lock: &crate::lab_input::LockArgs,
    target: &TargetArgs,
    names: &[String],
) -> anyhow::Result<Result<Against, ExitCode>> {
    let plan = match crate::lab_input::offline_plan(file, lock)? {
        Ok(plan) => plan,
        Err(code) => return Ok(Err(code)),
    };
    for name in names {
        if let Err(message) = planned_vm(&plan.vms, file, name) {
            eprintln!("error: {message}");
            return Ok(Err(ExitCode::from(2)));
        }
    }
    plan_against_target(file, target, lock, Preflight::Skip).await
}

/// The planned VM `name`, or a message naming the lab file with the closest name.
pub fn planned_vm<'a>(
    vms: &'a [PlannedVm],
    file: &std::path::Path,
    name: &str,
) -> Result<&'a PlannedVm, String> {
    if let Some(vm) = vms.iter().find(|vm| vm.name == name) {
        return Ok(vm);
    }
    let names = vms.iter().map(|vm| vm.name.as_str());
    let hint = match labform_model::diagnostic::did_you_mean(name, names.clone()) {
        Some(close) => format!("; did you mean `{close}`?"),
        None => {
            let all: Vec<&str> = names.collect();
            format!("; its VMs: {}", all.join(", "))
        }
    };
    Err(format!("{} has no VM `{name}`{hint}", file.display()))
}

/// The backup job that covers `vm`, if any.
pub fn policy_of<'a>(jobs: &'a [PlannedBackupJob], vm: &PlannedVm) -> Option<&'a PlannedBackupJob> {
    jobs.iter()
        .find(|job| job.endpoint == vm.endpoint && job.vm_ids.contains(&vm.vm_id))
}

/// The VMs grouped into `vzdump` calls, each VM on the node where it is now; a VM without a
/// policy, missing or not the lab's is an error.
fn batches(
    against: &Against,
    file: &std::path::Path,
    vms: &[&PlannedVm],
) -> Result<BTreeMap<Batch, Vec<VmId>>, String> {
    let mut batches: BTreeMap<Batch, Vec<VmId>> = BTreeMap::new();
    for vm in vms {
        let Some(job) = policy_of(&against.plan.backup_jobs, vm) else {
            return Err(format!(
                "no backup policy of {} covers `{}`: give its cluster or VM entry `backups` with `storage` and `vzdump_schedule`",
                file.display(),
                vm.name
            ));
        };
        let endpoint = against
            .connected
            .endpoints
            .iter()
            .position(|endpoint| endpoint.name == vm.endpoint.as_str())
            .with_context(|| format!("no connection to endpoint `{}`", vm.endpoint))
            .map_err(|error| error.to_string())?;
        let observed = against
            .inventory
            .vms
            .iter()
            .find(|observed| observed.endpoint == vm.endpoint && observed.vm_id == vm.vm_id);
        let Some(observed) = observed.filter(|observed| observed.owned_by(&against.plan.scope))
        else {
            return Err(format!(
                "`{}` ({}) does not exist on {} as this lab's VM; run `labform apply` first",
                vm.name, vm.vm_id, against.connected.description
            ));
        };
        batches
            .entry(Batch {
                endpoint,
                node: observed.node.clone(),
                storage: job.storage.clone(),
                mode: job.mode.clone(),
            })
            .or_default()
            .push(vm.vm_id);
    }
    Ok(batches)
}

/// Backs `ids` up in one `vzdump` task and returns each one's new backup volume: what the
/// storage holds of it afterwards that it did not before (the task's log names files, not
/// volumes, and differently per storage type).
async fn back_up(
    api: &dyn ProxmoxApi,
    batch: &Batch,
    ids: &[VmId],
) -> anyhow::Result<BTreeMap<VmId, String>> {
    let before = backup_volumes(api, batch).await?;
    let request = Vzdump {
        options: VzdumpOptions {
            vmids: ids.to_vec(),
            storage: Some(batch.storage.clone()),
            mode: Some(batch.mode.clone()),
            ..VzdumpOptions::default()
        },
        ..Vzdump::default()
    };
    let upid = api
        .vzdump(&batch.node, &request)
        .await
        .with_context(|| format!("vzdump on {} refused", batch.node))?;
    if let Some(upid) = upid {
        let wait = WaitOptions {
            deadline: std::time::Duration::from_secs(6 * 3600),
            ..WaitOptions::default()
        };
        wait_for_task(api, &upid, wait)
            .await
            .with_context(|| format!("vzdump on {} failed", batch.node))?;
    }
    let after = backup_volumes(api, batch).await?;
    let mut new: BTreeMap<VmId, (u64, String)> = BTreeMap::new();
    for (volid, (vmid, ctime)) in after {
        if before.contains_key(&volid) {
            continue;
        }
        if let Some(id) = ids.iter().find(|id| u64::from(id.get()) == vmid) {
            let newest = new.entry(*id).or_insert((ctime, volid.clone()));
            if ctime > newest.0 {
                *newest = (ctime, volid);
            }
        }
    }
    Ok(new
        .into_iter()
        .map(|(id, (_, volid))| (id, volid))
        .collect())
}

/// The backup volumes on the batch's storage: volume ID to (owner, creation time).
async fn backup_volumes(
    api: &dyn ProxmoxApi,
    batch: &Batch,
) -> anyhow::Result<BTreeMap<String, (u64, u64)>> {
    let volumes = api
        .storage_content(&batch.node, &batch.storage, Some("backup"))
        .await
        .with_context(|| {
            format!(
                "cannot list the backups on storage `{}` of {}",
                batch.storage, batch.node
            )
        })?;
    Ok(volumes
        .into_iter()
        .filter_map(|volume| {
            Some((
                volume.volid,
                (volume.vmid?, volume.ctime.unwrap_or_default()),
            ))
        })
        .collect())
}
