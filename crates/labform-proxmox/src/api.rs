//! The [`ProxmoxApi`] trait: one method per Proxmox endpoint labform uses.
//! Implemented by the HTTPS [`crate::client::Client`] and, in-process, by
//! the simulator.

use crate::error::Result;
use crate::types::*;
use crate::upid::Upid;
use labform_ids::{NodeName, StorageName, VmId};

/// The Proxmox VE API subset labform uses. Every method maps to one HTTP
/// call; async endpoints return the task's [`Upid`] (see [`crate::task`] to
/// wait for it).
#[async_trait::async_trait]
pub trait ProxmoxApi: Send + Sync {
    /// `GET /version`.
    async fn version(&self) -> Result<Version>;
    /// `GET /nodes`.
    async fn nodes(&self) -> Result<Vec<NodeEntry>>;
    /// `GET /cluster/resources[?type=..]`.
    async fn cluster_resources(&self, kind: Option<ResourceType>) -> Result<Vec<ClusterResource>>;
    /// `GET /cluster/nextid[?vmid=N]`. No reservation.
    async fn next_vmid(&self, check: Option<VmId>) -> Result<VmId>;
    /// `POST /nodes/{node}/qemu` (async `qmcreate`).
    async fn create_vm(&self, node: &NodeName, req: &CreateVm) -> Result<Upid>;
    /// `GET /nodes/{node}/qemu/{vmid}/config[?current=1]`.
    async fn vm_config(&self, node: &NodeName, vmid: VmId, current: bool) -> Result<VmConfig>;
    /// `POST /nodes/{node}/qemu/{vmid}/config` (async `qmconfig`).
    async fn update_vm_config(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<Upid>;
    /// `PUT /nodes/{node}/qemu/{vmid}/config` (sync).
    async fn update_vm_config_sync(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<()>;
    /// `GET /nodes/{node}/qemu/{vmid}/pending`.
    async fn vm_pending(&self, node: &NodeName, vmid: VmId) -> Result<Vec<PendingEntry>>;
    /// `PUT /nodes/{node}/qemu/{vmid}/resize` (async `resize`).
    async fn resize_disk(&self, node: &NodeName, vmid: VmId, req: &ResizeDisk) -> Result<Upid>;
    /// `POST /nodes/{node}/qemu/{vmid}/template` (async `qmtemplate`).
    async fn convert_to_template(&self, node: &NodeName, vmid: VmId) -> Result<Upid>;
    /// `POST /nodes/{node}/qemu/{vmid}/clone` (async `qmclone`).
    async fn clone_vm(&self, node: &NodeName, vmid: VmId, req: &CloneVm) -> Result<Upid>;
    /// `GET /nodes/{node}/qemu/{vmid}/status/current`.
    async fn vm_status(&self, node: &NodeName, vmid: VmId) -> Result<VmStatus>;
    /// `POST /nodes/{node}/qemu/{vmid}/status/{start,stop,shutdown,reboot}`.
    async fn vm_action(&self, node: &NodeName, vmid: VmId, action: VmAction) -> Result<Upid>;
    /// `DELETE /nodes/{node}/qemu/{vmid}` (async `qmdestroy`).
    async fn delete_vm(&self, node: &NodeName, vmid: VmId, opts: DeleteVm) -> Result<Upid>;
    /// `POST /nodes/{node}/qemu/{vmid}/migrate` (async `qmigrate`) to `target`.
    async fn migrate_vm(
        &self,
        node: &NodeName,
        vmid: VmId,
        target: &NodeName,
        online: bool,
    ) -> Result<Upid>;
    /// `GET /nodes/{node}/qemu/{vmid}/snapshot`.
    async fn list_snapshots(&self, node: &NodeName, vmid: VmId) -> Result<Vec<SnapshotEntry>>;
    /// `POST /nodes/{node}/qemu/{vmid}/snapshot` (async `qmsnapshot`).
    async fn create_snapshot(
        &self,
        node: &NodeName,
        vmid: VmId,
        name: &str,
        description: Option<&str>,
    ) -> Result<Upid>;
    /// `DELETE /nodes/{node}/qemu/{vmid}/snapshot/{snapname}` (async `qmdelsnapshot`).
    async fn delete_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid>;
    /// `POST /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback` (async `qmrollback`).
    async fn rollback_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid>;
    /// `GET /nodes/{node}/tasks/{upid}/status`.
    async fn task_status(&self, upid: &Upid) -> Result<TaskStatus>;
    /// `GET /nodes/{node}/tasks/{upid}/log?start=&limit=`.
    async fn task_log(&self, upid: &Upid, start: u64, limit: u64) -> Result<TaskLog>;
    /// `GET /nodes/{node}/storage`.
    async fn node_storages(&self, node: &NodeName) -> Result<Vec<NodeStorage>>;
    /// `GET /nodes/{node}/storage/{storage}/content[?content=..]`.
    async fn storage_content(
        &self,
        node: &NodeName,
        storage: &StorageName,
        content: Option<&str>,
    ) -> Result<Vec<StorageVolume>>;
    /// `POST /nodes/{node}/storage/{storage}/download-url` (async `download`).
    async fn download_url(
        &self,
        node: &NodeName,
        storage: &StorageName,
        req: &DownloadUrl,
    ) -> Result<Upid>;
    /// `POST /nodes/{node}/storage/{storage}/upload` (multipart; async `imgcopy`).
    async fn upload(&self, node: &NodeName, storage: &StorageName, file: &Upload) -> Result<Upid>;
    /// `GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces`.
    async fn agent_network_interfaces(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<Vec<GuestInterface>>;
    /// `POST /nodes/{node}/qemu/{vmid}/agent/ping`.
    async fn agent_ping(&self, node: &NodeName, vmid: VmId) -> Result<()>;
    /// `DELETE /nodes/{node}/storage/{storage}/content/{volume}` (async `imgdel`).
    async fn delete_volume(
        &self,
        node: &NodeName,
        storage: &StorageName,
        volume: &str,
    ) -> Result<Upid>;
    /// `GET /pools`.
    async fn pools(&self) -> Result<Vec<PoolInfo>>;
    /// `POST /pools`.
    async fn create_pool(&self, poolid: &str, comment: Option<&str>) -> Result<()>;
    /// `POST /access/users`.
    async fn create_user(&self, req: &CreateUser) -> Result<()>;
    /// `POST /access/users/{userid}/token/{tokenid}`.
    async fn create_token(
        &self,
        userid: &str,
        tokenid: &str,
        req: &CreateToken,
    ) -> Result<TokenCreated>;
    /// `PUT /access/acl`.
    async fn update_acl(&self, req: &AclUpdate) -> Result<()>;
    /// `GET /access/users?full=1`: the users the caller may see, each with its API tokens.
    async fn users(&self) -> Result<Vec<UserEntry>>;
    /// `DELETE /access/users/{userid}` (Proxmox also drops the user's tokens and ACL entries).
    async fn delete_user(&self, userid: &str) -> Result<()>;
    /// `GET /access/users/{userid}/token`.
    async fn user_tokens(&self, userid: &str) -> Result<Vec<TokenEntry>>;
    /// `DELETE /access/users/{userid}/token/{tokenid}`.
    async fn delete_token(&self, userid: &str, tokenid: &str) -> Result<()>;
    /// `GET /access/acl`: the entries on paths the caller may audit or change permissions of.
    async fn acl(&self) -> Result<Vec<AclEntry>>;
    /// `GET /access/permissions`: the caller's own privileges, per ACL path.
    async fn access_permissions(&self) -> Result<Permissions>;
    /// `GET /nodes/{node}/network?type=any_bridge`: the node's bridges (those the caller may
    /// audit or use).
    async fn node_bridges(&self, node: &NodeName) -> Result<Vec<NetworkInterface>>;
    /// `GET /cluster/tasks`: the recent tasks of every node, running ones included.
    async fn cluster_tasks(&self) -> Result<Vec<TaskEntry>>;
    /// `GET /cluster/backup`: every datacenter backup job (`Sys.Audit` on `/`).
    async fn backup_jobs(&self) -> Result<Vec<BackupJob>>;
    /// `POST /cluster/backup` with `id` and `options` (`Sys.Modify` on `/`).
    async fn create_backup_job(&self, id: &str, options: &BackupJobOptions) -> Result<()>;
    /// `PUT /cluster/backup/{id}`: sets `options`, leaves the others.
    async fn update_backup_job(&self, id: &str, options: &BackupJobOptions) -> Result<()>;
    /// `DELETE /cluster/backup/{id}`.
    async fn delete_backup_job(&self, id: &str) -> Result<()>;
    /// `POST /nodes/{node}/vzdump` (async `vzdump`): a backup now of the guests on `node`;
    /// `None` when none of them lives there (Proxmox answers `OK` without a task).
    async fn vzdump(&self, node: &NodeName, req: &Vzdump) -> Result<Option<Upid>>;
    /// `POST /nodes/{node}/qemu` with `archive` (async `qmrestore`): a VM made from a backup.
    async fn restore_vm(&self, node: &NodeName, req: &RestoreVm) -> Result<Upid>;
}
