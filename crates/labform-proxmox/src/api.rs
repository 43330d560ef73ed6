//! The [`ProxmoxApi`] trait: one method per Proxmox endpoint labform uses.
//! Implemented by the HTTPS [`crate::client::Client`] and, in-process, by
//! the simulator.
//!
//! The methods are listed once, in [`proxmox_api_methods!`], each with the
//! declared endpoint it calls ([`crate::endpoint`]): the trait is made from
//! that list, and so is any wrapper that forwards every method (the
//! executor's call counter, which counts a call as a read when its
//! endpoint's method is `GET`).

use crate::error::Result;
use crate::types::*;
use crate::upid::Upid;
use labform_ids::{NodeName, StorageName, VmId};

/// Calls macro `$callback` with every method of [`ProxmoxApi`]: its documentation, name,
/// parameters, answer (inside `Result`) and the declared endpoint it calls (an expression of type
/// `&'static Endpoint`, which may read the parameters). The callback names the types as the
/// caller's scope imports them (`labform_proxmox::types::*`, `Upid`, `labform_ids`'s names).
///
/// ```ignore
/// macro_rules! forward {
///     ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $answer:ty = $endpoint:expr;)*) => { ... };
/// }
/// labform_proxmox::proxmox_api_methods!(forward);
/// ```
#[macro_export]
macro_rules! proxmox_api_methods {
    ($callback:ident) => {
        $callback! {
            /// Proxmox's version.
            fn version() -> Version = &$crate::endpoint::cluster::VERSION;
            /// The cluster's nodes.
            fn nodes() -> Vec<NodeEntry> = &$crate::endpoint::cluster::NODES;
            /// The cluster's resources, of one type if given.
            fn cluster_resources(kind: Option<ResourceType>) -> Vec<ClusterResource> = &$crate::endpoint::cluster::RESOURCES;
            /// The next free VMID, or whether `check` is free. No reservation.
            fn next_vmid(check: Option<VmId>) -> VmId = &$crate::endpoint::cluster::NEXT_ID;
            /// Makes a VM (task `qmcreate`).
            fn create_vm(node: &NodeName, req: &CreateVm) -> Upid = &$crate::endpoint::qemu::CREATE_VM;
            /// A VM's configuration (`current`: without pending changes).
            fn vm_config(node: &NodeName, vmid: VmId, current: bool) -> VmConfig = &$crate::endpoint::qemu::CONFIG;
            /// Changes a VM's configuration (task `qmconfig`).
            fn update_vm_config(node: &NodeName, vmid: VmId, update: &ConfigUpdate) -> Upid = &$crate::endpoint::qemu::UPDATE_CONFIG;
            /// Changes a VM's configuration without a task.
            fn update_vm_config_sync(node: &NodeName, vmid: VmId, update: &ConfigUpdate) -> () = &$crate::endpoint::qemu::UPDATE_CONFIG_SYNC;
            /// A VM's configuration with its pending changes.
            fn vm_pending(node: &NodeName, vmid: VmId) -> Vec<PendingEntry> = &$crate::endpoint::qemu::PENDING;
            /// Grows a disk (task `resize`).
            fn resize_disk(node: &NodeName, vmid: VmId, req: &ResizeDisk) -> Upid = &$crate::endpoint::qemu::RESIZE;
            /// Makes a VM a template (task `qmtemplate`).
            fn convert_to_template(node: &NodeName, vmid: VmId) -> Upid = &$crate::endpoint::qemu::TEMPLATE;
            /// Clones a VM or template (task `qmclone`).
            fn clone_vm(node: &NodeName, vmid: VmId, req: &CloneVm) -> Upid = &$crate::endpoint::qemu::CLONE;
            /// A VM's current status.
            fn vm_status(node: &NodeName, vmid: VmId) -> VmStatus = &$crate::endpoint::power::STATUS;
            /// Starts, stops, shuts down or reboots a VM.
            fn vm_action(node: &NodeName, vmid: VmId, action: VmAction) -> Upid = action.endpoint();
            /// Removes a VM (task `qmdestroy`).
            fn delete_vm(node: &NodeName, vmid: VmId, opts: DeleteVm) -> Upid = &$crate::endpoint::qemu::DELETE_VM;
            /// Migrates a VM to `target` (task `qmigrate`).
            fn migrate_vm(node: &NodeName, vmid: VmId, target: &NodeName, online: bool) -> Upid = &$crate::endpoint::qemu::MIGRATE;
            /// A VM's snapshots.
            fn list_snapshots(node: &NodeName, vmid: VmId) -> Vec<SnapshotEntry> = &$crate::endpoint::snapshots::SNAPSHOTS;
            /// Takes a snapshot (task `qmsnapshot`).
            fn create_snapshot(node: &NodeName, vmid: VmId, name: &str, description: Option<&str>) -> Upid = &$crate::endpoint::snapshots::CREATE_SNAPSHOT;
            /// Removes a snapshot (task `qmdelsnapshot`).
            fn delete_snapshot(node: &NodeName, vmid: VmId, name: &str) -> Upid = &$crate::endpoint::snapshots::DELETE_SNAPSHOT;
            /// Rolls a VM back to a snapshot (task `qmrollback`).
            fn rollback_snapshot(node: &NodeName, vmid: VmId, name: &str) -> Upid = &$crate::endpoint::snapshots::ROLLBACK;
            /// A task's status.
            fn task_status(upid: &Upid) -> TaskStatus = &$crate::endpoint::tasks::TASK_STATUS;
            /// Lines `start..start + limit` of a task's log.
            fn task_log(upid: &Upid, start: u64, limit: u64) -> TaskLog = &$crate::endpoint::tasks::TASK_LOG;
            /// A node's storages.
            fn node_storages(node: &NodeName) -> Vec<NodeStorage> = &$crate::endpoint::storage::NODE_STORAGES;
            /// A storage's volumes on a node, of one content type if given.
            fn storage_content(node: &NodeName, storage: &StorageName, content: Option<&str>) -> Vec<StorageVolume> = &$crate::endpoint::storage::CONTENT;
            /// Downloads a file into a storage (task `download`).
            fn download_url(node: &NodeName, storage: &StorageName, req: &DownloadUrl) -> Upid = &$crate::endpoint::storage::DOWNLOAD_URL;
            /// Uploads a file into a storage (multipart; task `imgcopy`).
            fn upload(node: &NodeName, storage: &StorageName, file: &Upload) -> Upid = &$crate::endpoint::storage::UPLOAD;
            /// The guest agent's network interfaces.
            fn agent_network_interfaces(node: &NodeName, vmid: VmId) -> Vec<GuestInterface> = &$crate::endpoint::agent::NETWORK_INTERFACES;
            /// Pings the guest agent.
            fn agent_ping(node: &NodeName, vmid: VmId) -> () = &$crate::endpoint::agent::PING;
            /// Removes a volume (task `imgdel`).
            fn delete_volume(node: &NodeName, storage: &StorageName, volume: &str) -> Upid = &$crate::endpoint::storage::DELETE_VOLUME;
            /// The pools.
            fn pools() -> Vec<PoolInfo> = &$crate::endpoint::pools::POOLS;
            /// Makes a pool.
            fn create_pool(poolid: &str, comment: Option<&str>) -> () = &$crate::endpoint::pools::CREATE_POOL;
            /// Makes a user.
            fn create_user(req: &CreateUser) -> () = &$crate::endpoint::access::CREATE_USER;
            /// Makes an API token of a user.
            fn create_token(userid: &str, tokenid: &str, req: &CreateToken) -> TokenCreated = &$crate::endpoint::access::CREATE_TOKEN;
            /// Adds or removes ACL entries.
            fn update_acl(req: &AclUpdate) -> () = &$crate::endpoint::access::UPDATE_ACL;
            /// The users the caller may see, each with its API tokens.
            fn users() -> Vec<UserEntry> = &$crate::endpoint::access::USERS;
            /// Removes a user (Proxmox also drops the user's tokens and ACL entries).
            fn delete_user(userid: &str) -> () = &$crate::endpoint::access::DELETE_USER;
            /// A user's API tokens.
            fn user_tokens(userid: &str) -> Vec<TokenEntry> = &$crate::endpoint::access::TOKENS;
            /// Removes an API token.
            fn delete_token(userid: &str, tokenid: &str) -> () = &$crate::endpoint::access::DELETE_TOKEN;
            /// The entries on paths the caller may audit or change permissions of.
            fn acl() -> Vec<AclEntry> = &$crate::endpoint::access::ACL;
            /// The caller's own privileges, per ACL path.
            fn access_permissions() -> Permissions = &$crate::endpoint::access::PERMISSIONS;
            /// The node's bridges (those the caller may audit or use).
            fn node_bridges(node: &NodeName) -> Vec<NetworkInterface> = &$crate::endpoint::network::NETWORK;
            /// The recent tasks of every node, running ones included.
            fn cluster_tasks() -> Vec<TaskEntry> = &$crate::endpoint::tasks::CLUSTER_TASKS;
            /// Every datacenter backup job (`Sys.Audit` on `/`).
            fn backup_jobs() -> Vec<BackupJob> = &$crate::endpoint::backup::JOBS;
            /// Makes backup job `id` with `options` (`Sys.Modify` on `/`).
            fn create_backup_job(id: &str, options: &BackupJobOptions) -> () = &$crate::endpoint::backup::CREATE_JOB;
            /// Sets a backup job's `options`, leaves the others.
            fn update_backup_job(id: &str, options: &BackupJobOptions) -> () = &$crate::endpoint::backup::UPDATE_JOB;
            /// Removes a backup job.
            fn delete_backup_job(id: &str) -> () = &$crate::endpoint::backup::DELETE_JOB;
            /// A backup now of the guests on `node` (task `vzdump`); `None` when none of them
            /// lives there (Proxmox answers `OK` without a task).
            fn vzdump(node: &NodeName, req: &Vzdump) -> Option<Upid> = &$crate::endpoint::backup::VZDUMP;
            /// A VM made from a backup: `create_vm`'s endpoint with `archive` (task `qmrestore`).
            fn restore_vm(node: &NodeName, req: &RestoreVm) -> Upid = &$crate::endpoint::qemu::CREATE_VM;
        }
    };
}

/// Makes the trait from the list.
macro_rules! declare_trait {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $answer:ty = $endpoint:expr;)*) => {
        /// The Proxmox VE API subset labform uses. Every method maps to one HTTP
        /// call of its declared endpoint; async endpoints return the task's [`Upid`]
        /// (see [`crate::task`] to wait for it).
        #[async_trait::async_trait]
        pub trait ProxmoxApi: Send + Sync {
            $($(#[$doc])* async fn $name(&self, $($arg: $ty),*) -> Result<$answer>;)*
        }
    };
}

proxmox_api_methods!(declare_trait);
