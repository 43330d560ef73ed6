//! `labform restore FILE VM --from BACKUP`: make a VM of the lab again from one of its backup
//! volumes, through the Proxmox API (`POST /nodes/{node}/qemu` with `archive`, a `qmrestore`
//! task), into its own VM ID, so it keeps its address, MAC and SSH host keys (they are in the
//! backed-up config, disks and seed). A running VM is refused unless `--force`, which stops it
//! first. Afterwards the VM is brought to the plan as `apply` would (a lab changed since the
//! backup is applied to it, labform's ownership block with it; then it is started), so a
//! following `labform plan` has nothing to do for it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use labform_cloudinit::StoredHostKeys;
use labform_executor::engine::{ApplyOptions, apply};
use labform_ids::{NodeName, StorageName};
use labform_planner::inventory::ObservedVm;
use labform_planner::plan::PlannedVm;
use labform_planner::reconcile::{Reconciliation, VmAction};
use labform_proxmox::ProxmoxApi;
use labform_proxmox::task::{WaitOptions, wait_for_task};
use labform_proxmox::types::{RestoreVm, VmAction as PowerAction};
use labform_secrets::SecretStore;

use crate::acting::JournalArgs;
use crate::commands::apply::lab_seeds;
use crate::commands::backup::{plan_for_vms, planned_vm};
use crate::progress::Printer;
use crate::reality::{Against, Preflight, plan_against_target};
use crate::target::TargetArgs;

/// Arguments of `labform restore`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// The VM to restore, by name.
    pub vm: String,
    /// The backup volume to restore from, as `labform backup` prints it
    /// (`local:backup/vzdump-qemu-101-2026_12_07-13_00_00.vma`), or `latest` for the VM's newest
    /// backup on its backup policy's storage.
    #[arg(long = "from", value_name = "BACKUP")]
    pub from: String,
    /// Restore over the VM even when it is running (labform stops it first).
    #[arg(long)]
    pub force: bool,
    /// The lock file (read and checked; this command never writes it).
    #[command(flatten)]
    pub lock: crate::lab_input::LockArgs,
    /// Where to act.
    #[command(flatten)]
    pub target: TargetArgs,
    /// The journal the run is recorded in.
    #[command(flatten)]
    pub journal: JournalArgs,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::runtime().block_on(run_async(args))
}

async fn run_async(args: Args) -> anyhow::Result<ExitCode> {
    let names = std::slice::from_ref(&args.vm);
    let against = match plan_for_vms(&args.file, &args.lock, &args.target, names).await? {
        Ok(against) => against,
        Err(code) => return Ok(code),
    };
    let vm = planned_vm(&against.plan.vms, &args.file, &args.vm).map_err(anyhow::Error::msg)?;
    let endpoint = against
        .connected
        .endpoints
        .iter()
        .find(|endpoint| endpoint.name == vm.endpoint.as_str())
        .with_context(|| format!("no connection to endpoint `{}`", vm.endpoint))?;
    let api = endpoint.api.as_ref();
    let observed = observed_vm(&against, vm)?;
    let node = observed.map_or(&vm.node, |observed| &observed.node);
    let archive = match backup_volume(&against, vm, api, node, &args.from).await {
        Ok(archive) => archive,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::from(1));
        }
    };
    let wait = WaitOptions {
        deadline: std::time::Duration::from_secs(6 * 3600),
        ..WaitOptions::default()
    };
    if let Some(observed) = observed.filter(|observed| observed.running) {
        if !args.force {
            eprintln!(
                "error: `{}` ({}) is running on {}; restoring replaces its disks and config: stop it first, or pass --force to have labform stop it",
                vm.name, vm.vm_id, observed.node
            );
            return Ok(ExitCode::from(1));
        }
        eprintln!("Stopping `{}` ({})...", vm.name, vm.vm_id);
        let upid = api
            .vm_action(node, vm.vm_id, PowerAction::Stop)
            .await
            .with_context(|| format!("cannot stop `{}`", vm.name))?;
        wait_for_task(api, &upid, WaitOptions::default())
            .await
            .with_context(|| format!("cannot stop `{}`", vm.name))?;
    }
    eprintln!(
        "Restoring `{}` ({}) on {node} from {archive}...",
        vm.name, vm.vm_id
    );
    let request = RestoreVm {
        vmid: vm.vm_id,
        archive: archive.clone(),
        force: observed.is_some(),
        start: false,
        pool: observed
            .is_none()
            .then(|| vm.pool.as_ref().map(ToString::to_string))
            .flatten(),
    };
    let upid = api
        .restore_vm(node, &request)
        .await
        .with_context(|| format!("cannot restore `{}` from {archive}", vm.name))?;
    wait_for_task(api, &upid, wait)
        .await
        .with_context(|| format!("cannot restore `{}` from {archive}", vm.name))?;
    eprintln!("Restored; bringing `{}` to the plan...", vm.name);
    converge(&args, &vm.name).await
}

/// The VM as it exists on the target, if it does; one that is not this lab's is an error.
fn observed_vm<'a>(against: &'a Against, vm: &PlannedVm) -> anyhow::Result<Option<&'a ObservedVm>> {
    let Some(observed) = against
        .inventory
        .vms
        .iter()
        .find(|observed| observed.endpoint == vm.endpoint && observed.vm_id == vm.vm_id)
    else {
        return Ok(None);
    };
    if !observed.owned_by(&against.plan.scope) {
        bail!(
            "VM ID {} on {} is held by `{}`, which is not this lab's VM; labform restores only its own VMs",
            vm.vm_id,
            against.connected.description,
            observed.name
        );
    }
    Ok(Some(observed))
}

/// The backup volume `from` names (or the newest of the VM's, for `latest`), checked to be a
/// backup of this VM.
async fn backup_volume(
    against: &Against,
    vm: &PlannedVm,
    api: &dyn ProxmoxApi,
    node: &NodeName,
    from: &str,
) -> Result<String, String> {
    let storage = if from == "latest" {
        match crate::commands::backup::policy_of(&against.plan.backup_jobs, vm) {
            Some(job) => job.storage.to_string(),
            None => {
                return Err(format!(
                    "`--from latest` looks on the storage of `{}`'s backup policy, and the lab gives it none; name the backup volume (`STORAGE:backup/vzdump-qemu-{}-....vma`)",
                    vm.name, vm.vm_id
                ));
            }
        }
    } else {
        match from.split_once(':') {
            Some((storage, _)) if !storage.is_empty() => storage.to_owned(),
            _ => {
                return Err(format!(
                    "`{from}` is not a backup volume; give it as `labform backup` prints it (`STORAGE:backup/vzdump-qemu-{}-....vma`) or `latest`",
                    vm.vm_id
                ));
            }
        }
    };
    let storage_name = StorageName::new(storage.clone());
    let volumes = api
        .storage_content(node, &storage_name, Some("backup"))
        .await
        .map_err(|error| {
            format!(
                "cannot list the backups on storage `{storage}` of {node}: {}",
                crate::error_chain(&error)
            )
        })?;
    let own: Vec<_> = volumes
        .iter()
        .filter(|volume| volume.vmid == Some(u64::from(vm.vm_id.get())))
        .collect();
    if from == "latest" {
        return own
            .iter()
            .max_by_key(|volume| (volume.ctime, volume.volid.clone()))
            .map(|volume| volume.volid.clone())
            .ok_or_else(|| {
                format!(
                    "storage `{storage}` of {node} holds no backup of `{}` ({}); make one with `labform backup`",
                    vm.name, vm.vm_id
                )
            });
    }
    match volumes.iter().find(|volume| volume.volid == from) {
        Some(volume) if volume.vmid == Some(u64::from(vm.vm_id.get())) => Ok(from.to_owned()),
        Some(volume) => Err(format!(
            "`{from}` is a backup of VM {}, not of `{}` ({}); a VM is restored only from its own backups",
            volume
                .vmid
                .map_or_else(|| "(unknown)".to_owned(), |id| id.to_string()),
            vm.name,
            vm.vm_id
        )),
        None => {
            let names: Vec<&str> = own.iter().map(|volume| volume.volid.as_str()).collect();
            Err(format!(
                "storage `{storage}` of {node} has no backup `{from}`; backups of `{}` there: {}",
                vm.name,
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ))
        }
    }
}

/// Plans again and carries out what the restored VM needs to be as planned (and only that).
async fn converge(args: &Args, name: &str) -> anyhow::Result<ExitCode> {
    let against =
        match plan_against_target(&args.file, &args.target, &args.lock, Preflight::Skip).await? {
            Ok(against) => against,
            Err(code) => return Ok(code),
        };
    let reconciliation = Reconciliation {
        changes: against
            .reconciliation
            .changes
            .iter()
            .filter(|change| change.name == name && !change.template)
            .cloned()
            .collect(),
        conflicts: Vec::new(),
        tenants: Vec::new(),
        tenant_conflicts: Vec::new(),
        backup_jobs: Vec::new(),
        backup_job_conflicts: Vec::new(),
    };
    if reconciliation.is_empty() {
        eprintln!("`{name}` is as planned.");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(change) = reconciliation.changes.iter().find(|change| {
        matches!(
            change.action,
            VmAction::Replace { .. } | VmAction::Delete { .. }
        )
    }) {
        bail!(
            "after the restore, `{name}` would need more than an in-place change ({:?}); run `labform plan` to see it",
            change.action
        );
    }
    let store = SecretStore::open_default().context("cannot open labform's secret store")?;
    let host_keys = StoredHostKeys::new(&store, against.plan.scope.clone());
    let journal = args.journal.open(&against.plan.scope, args.target.sim)?;
    let seeds = lab_seeds(&against.plan, &host_keys, &store);
    let report = apply(
        &against.plan,
        &reconciliation,
        &against.connected.endpoints,
        &seeds,
        ApplyOptions::default(),
        Arc::new(journal),
        Arc::new(Printer::new(false)),
    )
    .await?;
    for failure in &report.failed {
        eprintln!("error: {failure}");
    }
    if !report.failed.is_empty() {
        return Ok(ExitCode::from(3));
    }
    eprintln!("`{name}` is restored and as planned.");
    Ok(ExitCode::SUCCESS)
}
