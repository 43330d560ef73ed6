//! Discovery: what exists on one Proxmox endpoint, read in a handful of calls.
//!
//! One `GET /cluster/resources?type=vm` lists every guest with its node, name, status, tags and
//! pool. Only guests tagged `labform` get their config read, with bounded concurrency, to parse
//! the ownership block from the description: this scope's to compare fields, other scopes' to
//! learn the addresses they hold (their VMs' addresses, their clusters' API VIPs and
//! load-balancer blocks), which this lab then never hands out. Everything else is recorded by VM
//! ID only, so its IDs are never handed out and it is never touched. Reads that fail with a server or transport error are repeated a few times.
//!
//! [`Refresh::TrustTags`] (`plan --no-refresh`, like Terraform's `-refresh=false`) reads no config
//! of a VM whose tags record its scope and spec hash: its ownership comes from the tags
//! ([`Owner::from_tags`]) and reconciliation compares the spec hash only. Templates (whose
//! allocation key is not in their tags) and this scope's VMs without a spec tag (made before
//! labform wrote it) are still read; other scopes' VMs are not (their addresses stay unseen).
//!
//! [`discover_access`] reads, once the lab is planned, what tenants' reconciliation compares: the
//! users named like the scope's tenant users with their API tokens, those users' ACL entries
//! (only when such users exist), the pools (only when the plan puts something in a pool on
//! the endpoint), and the backup jobs whose ID starts with `labform-`.

use std::collections::BTreeMap;
use std::sync::Arc;

use labform_ids::{NodeName, PoolName, VmId};
use labform_planner::inventory::{
    ObservedAccess, ObservedAclEntry, ObservedBackupJob, ObservedDisk, ObservedToken, ObservedUser,
    ObservedVm,
};
use labform_planner::ownership::Owner;
use labform_planner::plan::Plan;
use labform_planner::tenancy::tenant_user_prefix;
use labform_proxmox::propstring::{Drive, is_drive_key};
use labform_proxmox::types::{ResourceType, decode_percent};
use labform_proxmox::{ErrorKind, ProxmoxApi};
use tokio::sync::Semaphore;

use crate::error::ExecuteError;

/// How many configs discovery reads at once (per endpoint): every command that plans against
/// Proxmox reads with this bound.
pub const CONFIG_READS_AT_ONCE: usize = 16;

/// Whether discovery reads the configs of labform's VMs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Refresh {
    /// Read the config of every labform VM (of any scope): fields, pending changes, disks,
    /// addresses and the ownership block. What apply, drift and `plan --live` do.
    #[default]
    ReadConfigs,
    /// Trust the scope and spec hash the VMs' tags record; read only the configs of templates
    /// and of this scope's VMs without a spec tag.
    TrustTags,
}

/// How long discovery waits for guests that are still being created or cloned (a run that was
/// killed leaves its Proxmox tasks running) before it reads them as they are.
pub const SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Reads every guest of `endpoint` (the lab's name for it) through `api`; guests of `scope` and of
/// other labform scopes with their config.
///
/// Guests locked by `clone` or `create` are still being made, possibly by a run that was killed:
/// their config (and so their owner) is not final yet. Discovery waits for those locks to clear
/// first, so an unfinished VM of this lab is never mistaken for someone else's. A lock while no
/// create, clone or restore task runs anywhere in the cluster is stale (the task that set it
/// ended without clearing it: its node went down, or Proxmox's services were killed) and is not
/// waited for: Proxmox leaves such a VM as it is (`qm unlock` clears it), and so does labform,
/// which never touches a VM whose config does not say it is the lab's.
pub async fn discover(
    endpoint: &str,
    api: Arc<dyn ProxmoxApi>,
    scope: &str,
    concurrency: usize,
) -> Result<Vec<ObservedVm>, ExecuteError> {
    discover_with(endpoint, api, scope, concurrency, Refresh::ReadConfigs).await
}

/// [`discover`], reading configs as `refresh` says.
pub async fn discover_with(
    endpoint: &str,
    api: Arc<dyn ProxmoxApi>,
    scope: &str,
    concurrency: usize,
    refresh: Refresh,
) -> Result<Vec<ObservedVm>, ExecuteError> {
    let started = tokio::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(100);
    let resources = loop {
        let resources = read_retrying(|| api.cluster_resources(Some(ResourceType::Vm)))
            .await
            .map_err(|source| ExecuteError::api("list the cluster's VMs", source))?;
        let settling = resources
            .iter()
            .any(|resource| matches!(resource.lock.as_deref(), Some("clone") | Some("create")));
        if !settling || started.elapsed() >= SETTLE_TIMEOUT || !making_guests(api.as_ref()).await {
            break resources;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(5));
    };
    let scope_tag = format!("scope-{scope}");
    let mut observed = Vec::new();
    let mut reads = tokio::task::JoinSet::new();
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    for resource in resources {
        if resource.kind != "qemu" {
            continue;
        }
        let (Some(vmid), Some(node)) = (resource.vmid, resource.node.clone()) else {
            continue;
        };
        let Ok(vm_id) = VmId::new(vmid as u32) else {
            continue;
        };
        let tags: Vec<String> = resource
            .tags
            .as_deref()
            .unwrap_or("")
            .split([';', ',', ' '])
            .filter(|tag| !tag.is_empty())
            .map(str::to_owned)
            .collect();
        let template = resource.template.unwrap_or(false);
        let name = resource.name.clone().unwrap_or_default();
        let trusted = match refresh {
            Refresh::TrustTags if !template => Owner::from_tags(&name, &tags),
            _ => None,
        };
        let labform = tags.iter().any(|tag| tag == "labform");
        let read = labform
            && match refresh {
                Refresh::ReadConfigs => true,
                Refresh::TrustTags => trusted.is_none() && tags.contains(&scope_tag),
            };
        let vm = ObservedVm {
            endpoint: endpoint.to_owned().into(),
            vm_id,
            node: node.clone().into(),
            name,
            template,
            running: resource.status.as_deref() == Some("running"),
            tags,
            owner: trusted,
            config: BTreeMap::new(),
            pending: BTreeMap::new(),
            disks: Vec::new(),
            pool: resource.pool.clone().map(PoolName::from),
            config_read: read,
        };
        if read {
            let api = Arc::clone(&api);
            let limit = Arc::clone(&limit);
            reads.spawn(async move {
                let _permit = limit.acquire_owned().await.expect("never closed");
                let node = NodeName::new(node);
                let config = read_retrying(|| api.vm_config(&node, vm_id, false)).await;
                (vm, config)
            });
        } else {
            observed.push(vm);
        }
    }
    while let Some(joined) = reads.join_next().await {
        let (mut vm, config) = joined.expect("discovery tasks do not panic");
        let config = config.map_err(|source| {
            ExecuteError::api(
                format!("read the config of VM {} on {}", vm.vm_id, vm.node),
                source,
            )
        })?;
        fill_from_config(&mut vm, &config.values);
        observed.push(vm);
    }
    observed.sort_by_key(|vm| vm.vm_id);
    Ok(observed)
}

/// Whether a task that makes a guest (`qmcreate`, `qmclone`, `qmrestore`) runs anywhere in the
/// cluster; `true` when the task list cannot be read, so that discovery keeps waiting.
async fn making_guests(api: &dyn ProxmoxApi) -> bool {
    match read_retrying(|| api.cluster_tasks()).await {
        Ok(tasks) => tasks.iter().any(|task| {
            task.is_running()
                && matches!(
                    task.task_type.as_str(),
                    "qmcreate" | "qmclone" | "qmrestore"
                )
        }),
        Err(_) => true,
    }
}

/// Reads the pools, tenant users and ACL entries of `endpoint` (the lab's name for it) that
/// reconciling `plan`'s tenants needs.
pub async fn discover_access(
    endpoint: &str,
    api: Arc<dyn ProxmoxApi>,
    plan: &Plan,
) -> Result<ObservedAccess, ExecuteError> {
    let prefix = tenant_user_prefix(&plan.scope);
    let users: Vec<ObservedUser> = read_retrying(|| api.users())
        .await
        .map_err(|source| ExecuteError::api("list the users", source))?
        .into_iter()
        .filter(|user| user.userid.starts_with(&prefix))
        .map(|user| ObservedUser {
            tokens: user
                .tokens
                .iter()
                .map(|token| ObservedToken {
                    name: token.tokenid.clone(),
                    privilege_separated: token.privilege_separated(),
                })
                .collect(),
            userid: user.userid,
            comment: user.comment,
        })
        .collect();
    let acl = if users.is_empty() {
        // Proxmox drops a user's ACL entries with the user: none can exist.
        Vec::new()
    } else {
        let subject_of_ours = |subject: &str| {
            let userid = subject.split('!').next().unwrap_or(subject);
            users.iter().any(|user| user.userid == userid)
        };
        read_retrying(|| api.acl())
            .await
            .map_err(|source| ExecuteError::api("list the ACL entries", source))?
            .into_iter()
            .filter(|entry| subject_of_ours(&entry.ugid))
            .map(|entry| ObservedAclEntry {
                propagate: entry.propagates(),
                path: entry.path,
                subject: entry.ugid,
                role: entry.roleid,
            })
            .collect()
    };
    let pooled = plan
        .vms
        .iter()
        .any(|vm| vm.endpoint == endpoint && vm.pool.is_some())
        || plan
            .tenants
            .iter()
            .any(|tenant| tenant.endpoints.iter().any(|here| here == endpoint));
    let pools = if pooled {
        read_retrying(|| api.pools())
            .await
            .map_err(|source| ExecuteError::api("list the pools", source))?
            .into_iter()
            .map(|pool| pool.poolid)
            .collect()
    } else {
        Vec::new()
    };
    let backup_jobs = match read_retrying(|| api.backup_jobs()).await {
        Ok(jobs) => jobs
            .into_iter()
            .filter(|job| job.id.starts_with("labform-"))
            .map(|job| ObservedBackupJob {
                endpoint: endpoint.to_owned().into(),
                id: job.id,
                options: job.options,
            })
            .collect(),
        // Without `Sys.Audit` on `/` the jobs cannot be listed; a plan without backup jobs on
        // this endpoint needs none of them (it could not have made any with these credentials).
        Err(error)
            if error.kind() == ErrorKind::PermissionDenied
                && !plan.backup_jobs.iter().any(|job| job.endpoint == endpoint) =>
        {
            Vec::new()
        }
        Err(source) => return Err(ExecuteError::api("list the backup jobs", source)),
    };
    Ok(ObservedAccess {
        endpoint: endpoint.to_owned().into(),
        pools,
        users,
        acl,
        backup_jobs,
    })
}

/// Reads attempted this many times when Proxmox answers 5xx or cannot be reached.
const READ_ATTEMPTS: u32 = 6;

/// Runs the read `call`, again after a short pause while it fails with a server error (5xx, a
/// proxy's 595/596) or a transport error: reads change nothing, so repeating them is safe.
async fn read_retrying<T, F, Fut>(mut call: F) -> labform_proxmox::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = labform_proxmox::Result<T>>,
{
    let mut pause = std::time::Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        match call().await {
            Err(error) if attempt < READ_ATTEMPTS && error.is_retryable_read() => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(2));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Fills the owned fields of `vm` from its config values.
pub fn fill_from_config(vm: &mut ObservedVm, values: &BTreeMap<String, String>) {
    vm.owner = values
        .get("description")
        .and_then(|text| Owner::parse(text));
    if let Some(name) = values.get("name") {
        vm.name = name.clone();
    }
    vm.template = vm.template || values.get("template").is_some_and(|value| value == "1");
    for (key, value) in values {
        if key == "sshkeys" {
            vm.config.insert(
                key.clone(),
                decode_percent(value).unwrap_or_else(|| value.clone()),
            );
        } else if key != "description" && key != "digest" {
            vm.config.insert(key.clone(), value.clone());
        }
        if let Some(disk) = parse_disk(key, value) {
            vm.disks.push(disk);
        }
    }
    vm.disks.sort_by(|left, right| left.slot.cmp(&right.slot));
}

/// A disk from a config entry like `scsi0: local-lvm:vm-100-disk-0,size=32G` (a `scsiN`,
/// `virtioN`, `sataN` or `ideN` drive on a storage with a size; CD-ROMs and cloud-init drives are
/// not disks).
pub fn parse_disk(key: &str, value: &str) -> Option<ObservedDisk> {
    if !is_drive_key(key) || matches!(key, "efidisk0" | "tpmstate0") {
        return None;
    }
    let drive = Drive::parse(value).ok()?;
    if drive.is_cdrom() || drive.volume.is_cloud_init() {
        return None;
    }
    Some(ObservedDisk {
        slot: key.to_owned(),
        storage: drive.volume.storage()?.into(),
        size_gib: drive.size?.gib_ceil(),
    })
}

/// The size of drive `value` (`...,size=32G`) in whole GiB, rounded up.
pub fn drive_size_gib(value: &str) -> Option<u64> {
    Drive::parse(value).ok()?.size.map(|size| size.gib_ceil())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disks_and_sizes() {
        let disk = parse_disk("scsi0", "local-lvm:vm-100-disk-0,discard=on,size=32G").unwrap();
        assert_eq!(
            (disk.slot.as_str(), disk.storage.as_str(), disk.size_gib),
            ("scsi0", "local-lvm", 32)
        );
        assert_eq!(
            parse_disk("ide2", "local-lvm:vm-100-cloudinit,media=cdrom"),
            None
        );
        assert_eq!(parse_disk("scsihw", "virtio-scsi-pci"), None);
        assert_eq!(drive_size_gib("local:vm-1-disk-0,size=512M"), Some(1));
        assert_eq!(drive_size_gib("local:vm-1-disk-0,size=1T"), Some(1024));
        assert_eq!(drive_size_gib("local:vm-1-disk-0,size=2.5G"), Some(3));
        assert_eq!(drive_size_gib("local:vm-1-disk-0"), None);
    }
}
