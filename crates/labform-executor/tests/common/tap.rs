//! A [`ProxmoxApi`] wrapper for tests that keeps a copy of every uploaded file (the simulator keeps
//! only their sizes), so tests can read the seed images apply uploaded. Every other call is passed
//! through unchanged.

use std::sync::{Arc, Mutex};

use labform_ids::{NodeName, StorageName, VmId};
use labform_proxmox::types::*;
use labform_proxmox::{ProxmoxApi, Result, Upid};

/// Passes calls to `inner`, recording uploads.
pub struct Tap {
    inner: Arc<dyn ProxmoxApi>,
    uploads: Mutex<Vec<(String, String, Upload)>>,
}

impl Tap {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ProxmoxApi>) -> Self {
        Self {
            inner,
            uploads: Mutex::new(Vec::new()),
        }
    }

    /// Every upload so far as (node, storage, file), in call order (retries included).
    pub fn uploads(&self) -> Vec<(String, String, Upload)> {
        self.uploads.lock().expect("not poisoned").clone()
    }
}

#[async_trait::async_trait]
impl ProxmoxApi for Tap {
    async fn version(&self) -> Result<Version> {
        self.inner.version().await
    }
    async fn nodes(&self) -> Result<Vec<NodeEntry>> {
        self.inner.nodes().await
    }
    async fn cluster_resources(&self, kind: Option<ResourceType>) -> Result<Vec<ClusterResource>> {
        self.inner.cluster_resources(kind).await
    }
    async fn next_vmid(&self, check: Option<VmId>) -> Result<VmId> {
        self.inner.next_vmid(check).await
    }
    async fn create_vm(&self, node: &NodeName, req: &CreateVm) -> Result<Upid> {
        self.inner.create_vm(node, req).await
    }
    async fn vm_config(&self, node: &NodeName, vmid: VmId, current: bool) -> Result<VmConfig> {
        self.inner.vm_config(node, vmid, current).await
    }
    async fn update_vm_config(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<Upid> {
        self.inner.update_vm_config(node, vmid, update).await
    }
    async fn update_vm_config_sync(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<()> {
        self.inner.update_vm_config_sync(node, vmid, update).await
    }
    async fn vm_pending(&self, node: &NodeName, vmid: VmId) -> Result<Vec<PendingEntry>> {
        self.inner.vm_pending(node, vmid).await
    }
    async fn resize_disk(&self, node: &NodeName, vmid: VmId, req: &ResizeDisk) -> Result<Upid> {
        self.inner.resize_disk(node, vmid, req).await
    }
    async fn convert_to_template(&self, node: &NodeName, vmid: VmId) -> Result<Upid> {
        self.inner.convert_to_template(node, vmid).await
    }
    async fn clone_vm(&self, node: &NodeName, vmid: VmId, req: &CloneVm) -> Result<Upid> {
        self.inner.clone_vm(node, vmid, req).await
    }
    async fn vm_status(&self, node: &NodeName, vmid: VmId) -> Result<VmStatus> {
        self.inner.vm_status(node, vmid).await
    }
    async fn vm_action(&self, node: &NodeName, vmid: VmId, action: VmAction) -> Result<Upid> {
        self.inner.vm_action(node, vmid, action).await
    }
    async fn delete_vm(&self, node: &NodeName, vmid: VmId, opts: DeleteVm) -> Result<Upid> {
        self.inner.delete_vm(node, vmid, opts).await
    }
    async fn migrate_vm(
        &self,
        node: &NodeName,
        vmid: VmId,
        target: &NodeName,
        online: bool,
    ) -> Result<Upid> {
        self.inner.migrate_vm(node, vmid, target, online).await
    }
    async fn list_snapshots(&self, node: &NodeName, vmid: VmId) -> Result<Vec<SnapshotEntry>> {
        self.inner.list_snapshots(node, vmid).await
    }
    async fn create_snapshot(
        &self,
        node: &NodeName,
        vmid: VmId,
        name: &str,
        description: Option<&str>,
    ) -> Result<Upid> {
        self.inner
            .create_snapshot(node, vmid, name, description)
            .await
    }
    async fn delete_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid> {
        self.inner.delete_snapshot(node, vmid, name).await
    }
    async fn rollback_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid> {
        self.inner.rollback_snapshot(node, vmid, name).await
    }
    async fn task_status(&self, upid: &Upid) -> Result<TaskStatus> {
        self.inner.task_status(upid).await
    }
    async fn task_log(&self, upid: &Upid, start: u64, limit: u64) -> Result<TaskLog> {
        self.inner.task_log(upid, start, limit).await
    }
    async fn node_storages(&self, node: &NodeName) -> Result<Vec<NodeStorage>> {
        self.inner.node_storages(node).await
    }
    async fn storage_content(
        &self,
        node: &NodeName,
        storage: &StorageName,
        content: Option<&str>,
    ) -> Result<Vec<StorageVolume>> {
        self.inner.storage_content(node, storage, content).await
    }
    async fn download_url(
        &self,
        node: &NodeName,
        storage: &StorageName,
        req: &DownloadUrl,
    ) -> Result<Upid> {
        self.inner.download_url(node, storage, req).await
    }
    async fn upload(&self, node: &NodeName, storage: &StorageName, file: &Upload) -> Result<Upid> {
        self.uploads.lock().expect("not poisoned").push((
            node.to_string(),
            storage.to_string(),
            file.clone(),
        ));
        self.inner.upload(node, storage, file).await
    }
    async fn agent_network_interfaces(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<Vec<GuestInterface>> {
        self.inner.agent_network_interfaces(node, vmid).await
    }
    async fn agent_ping(&self, node: &NodeName, vmid: VmId) -> Result<()> {
        self.inner.agent_ping(node, vmid).await
    }
    async fn delete_volume(
        &self,
        node: &NodeName,
        storage: &StorageName,
        volume: &str,
    ) -> Result<Upid> {
        self.inner.delete_volume(node, storage, volume).await
    }
    async fn pools(&self) -> Result<Vec<PoolInfo>> {
        self.inner.pools().await
    }
    async fn create_pool(&self, poolid: &str, comment: Option<&str>) -> Result<()> {
        self.inner.create_pool(poolid, comment).await
    }
    async fn create_user(&self, req: &CreateUser) -> Result<()> {
        self.inner.create_user(req).await
    }
    async fn create_token(
        &self,
        userid: &str,
        tokenid: &str,
        req: &CreateToken,
    ) -> Result<TokenCreated> {
        self.inner.create_token(userid, tokenid, req).await
    }
    async fn update_acl(&self, req: &AclUpdate) -> Result<()> {
        self.inner.update_acl(req).await
    }
}
