//! A [`ProxmoxApi`] wrapper that counts calls, reads and writes apart: the apply summary reports
//! them, and tests prove that an unchanged lab makes no write call.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use labform_ids::{NodeName, StorageName, VmId};
use labform_proxmox::types::*;
use labform_proxmox::{ProxmoxApi, Result, Upid};

enum Kind {
    Read,
    Write,
}

/// Counts the calls made through it.
pub struct Metered {
    inner: Arc<dyn ProxmoxApi>,
    reads: AtomicU64,
    writes: AtomicU64,
}

impl Metered {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ProxmoxApi>) -> Self {
        Self {
            inner,
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        }
    }

    fn count(&self, kind: Kind) {
        match kind {
            Kind::Read => self.reads.fetch_add(1, Ordering::Relaxed),
            Kind::Write => self.writes.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// Read calls so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Write calls so far (anything that may change Proxmox).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

#[async_trait::async_trait]
impl ProxmoxApi for Metered {
    async fn version(&self) -> Result<Version> {
        self.count(Kind::Read);
        self.inner.version().await
    }
    async fn nodes(&self) -> Result<Vec<NodeEntry>> {
        self.count(Kind::Read);
        self.inner.nodes().await
    }
    async fn cluster_resources(&self, kind: Option<ResourceType>) -> Result<Vec<ClusterResource>> {
        self.count(Kind::Read);
        self.inner.cluster_resources(kind).await
    }
    async fn next_vmid(&self, check: Option<VmId>) -> Result<VmId> {
        self.count(Kind::Read);
        self.inner.next_vmid(check).await
    }
    async fn create_vm(&self, node: &NodeName, req: &CreateVm) -> Result<Upid> {
        self.count(Kind::Write);
        self.inner.create_vm(node, req).await
    }
    async fn vm_config(&self, node: &NodeName, vmid: VmId, current: bool) -> Result<VmConfig> {
        self.count(Kind::Read);
        self.inner.vm_config(node, vmid, current).await
    }
    async fn update_vm_config(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<Upid> {
        self.count(Kind::Write);
        self.inner.update_vm_config(node, vmid, update).await
    }
    async fn update_vm_config_sync(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<()> {
        self.count(Kind::Write);
        self.inner.update_vm_config_sync(node, vmid, update).await
    }
    async fn vm_pending(&self, node: &NodeName, vmid: VmId) -> Result<Vec<PendingEntry>> {
        self.count(Kind::Read);
        self.inner.vm_pending(node, vmid).await
    }
    async fn resize_disk(&self, node: &NodeName, vmid: VmId, req: &ResizeDisk) -> Result<Upid> {
        self.count(Kind::Write);
        self.inner.resize_disk(node, vmid, req).await
    }
    async fn convert_to_template(&self, node: &NodeName, vmid: VmId) -> Result<Upid> {
        self.count(Kind::Write);
        self.inner.convert_to_template(node, vmid).await
    }
    async fn clone_vm(&self, node: &NodeName, vmid: VmId, req: &CloneVm) -> Result<Upid> {
        self.count(Kind::Write);
        self.inner.clone_vm(node, vmid, req).await
    }
    async fn vm_status(&self, node: &NodeName, vmid: VmId) -> Result<VmStatus> {
        self.count(Kind::Read);
        self.inner.vm_status(node, vmid).await
    }
    async fn vm_action(&self, node: &NodeName, vmid: VmId, action: VmAction) -> Result<Upid> {
        self.count(Kind::Write);
        self.inner.vm_action(node, vmid, action).await
    }
    async fn delete_vm(&self, node: &NodeName, vmid: VmId, opts: DeleteVm) -> Result<Upid> {
        self.count(Kind::Write);
        self.inner.delete_vm(node, vmid, opts).await
    }
    async fn migrate_vm(
        &self,
        node: &NodeName,
        vmid: VmId,
        target: &NodeName,
        online: bool,
    ) -> Result<Upid> {
        self.count(Kind::Write);
        self.inner.migrate_vm(node, vmid, target, online).await
    }
    async fn task_status(&self, upid: &Upid) -> Result<TaskStatus> {
        self.count(Kind::Read);
        self.inner.task_status(upid).await
    }
    async fn task_log(&self, upid: &Upid, start: u64, limit: u64) -> Result<TaskLog> {
        self.count(Kind::Read);
        self.inner.task_log(upid, start, limit).await
    }
    async fn node_storages(&self, node: &NodeName) -> Result<Vec<NodeStorage>> {
        self.count(Kind::Read);
        self.inner.node_storages(node).await
    }
    async fn storage_content(
        &self,
        node: &NodeName,
        storage: &StorageName,
        content: Option<&str>,
    ) -> Result<Vec<StorageVolume>> {
        self.count(Kind::Read);
        self.inner.storage_content(node, storage, content).await
    }
    async fn download_url(
        &self,
        node: &NodeName,
        storage: &StorageName,
        req: &DownloadUrl,
    ) -> Result<Upid> {
        self.count(Kind::Write);
        self.inner.download_url(node, storage, req).await
    }
    async fn agent_network_interfaces(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<Vec<GuestInterface>> {
        self.count(Kind::Read);
        self.inner.agent_network_interfaces(node, vmid).await
    }
    async fn create_user(&self, req: &CreateUser) -> Result<()> {
        self.count(Kind::Write);
        self.inner.create_user(req).await
    }
    async fn create_token(
        &self,
        userid: &str,
        tokenid: &str,
        req: &CreateToken,
    ) -> Result<TokenCreated> {
        self.count(Kind::Write);
        self.inner.create_token(userid, tokenid, req).await
    }
    async fn update_acl(&self, req: &AclUpdate) -> Result<()> {
        self.count(Kind::Write);
        self.inner.update_acl(req).await
    }
}
