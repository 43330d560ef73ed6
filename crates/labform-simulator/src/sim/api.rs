//! The [`ProxmoxApi`] implementation of [`SimClient`]: one line per
//! endpoint, handing it to the module of its resource (cluster, VM config,
//! VM life cycle, power, snapshots, storage, tasks, guest agent, access).

use super::*;

#[async_trait::async_trait]
impl ProxmoxApi for SimClient {
    async fn version(&self) -> Result<Version> {
        cluster::version(self).await
    }

    async fn nodes(&self) -> Result<Vec<NodeEntry>> {
        cluster::nodes(self).await
    }

    async fn cluster_resources(&self, kind: Option<ResourceType>) -> Result<Vec<ClusterResource>> {
        cluster::cluster_resources(self, kind).await
    }

    async fn next_vmid(&self, check: Option<VmId>) -> Result<VmId> {
        cluster::next_vmid(self, check).await
    }

    async fn create_vm(&self, node: &NodeName, req: &CreateVm) -> Result<Upid> {
        vm_config::create_vm(self, node, req).await
    }

    async fn vm_config(&self, node: &NodeName, vmid: VmId, current: bool) -> Result<VmConfig> {
        vm_config::vm_config(self, node, vmid, current).await
    }

    async fn update_vm_config(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<Upid> {
        vm_config::update_vm_config(self, node, vmid, update).await
    }

    async fn update_vm_config_sync(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<()> {
        vm_config::update_vm_config_sync(self, node, vmid, update).await
    }

    async fn vm_pending(&self, node: &NodeName, vmid: VmId) -> Result<Vec<PendingEntry>> {
        vm_config::vm_pending(self, node, vmid).await
    }

    async fn resize_disk(&self, node: &NodeName, vmid: VmId, req: &ResizeDisk) -> Result<Upid> {
        vm_config::resize_disk(self, node, vmid, req).await
    }

    async fn convert_to_template(&self, node: &NodeName, vmid: VmId) -> Result<Upid> {
        vm_config::convert_to_template(self, node, vmid).await
    }

    async fn clone_vm(&self, node: &NodeName, vmid: VmId, req: &CloneVm) -> Result<Upid> {
        vm_lifecycle::clone_vm(self, node, vmid, req).await
    }

    async fn vm_status(&self, node: &NodeName, vmid: VmId) -> Result<VmStatus> {
        power::vm_status(self, node, vmid).await
    }

    async fn vm_action(&self, node: &NodeName, vmid: VmId, action: VmAction) -> Result<Upid> {
        power::vm_action(self, node, vmid, action).await
    }

    async fn delete_vm(&self, node: &NodeName, vmid: VmId, opts: DeleteVm) -> Result<Upid> {
        vm_lifecycle::delete_vm(self, node, vmid, opts).await
    }

    async fn migrate_vm(
        &self,
        node: &NodeName,
        vmid: VmId,
        target: &NodeName,
        online: bool,
    ) -> Result<Upid> {
        vm_lifecycle::migrate_vm(self, node, vmid, target, online).await
    }

    async fn list_snapshots(&self, node: &NodeName, vmid: VmId) -> Result<Vec<SnapshotEntry>> {
        snapshots::list_snapshots(self, node, vmid).await
    }

    async fn create_snapshot(
        &self,
        node: &NodeName,
        vmid: VmId,
        name: &str,
        description: Option<&str>,
    ) -> Result<Upid> {
        snapshots::create_snapshot(self, node, vmid, name, description).await
    }

    async fn delete_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid> {
        snapshots::delete_snapshot(self, node, vmid, name).await
    }

    async fn rollback_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid> {
        snapshots::rollback_snapshot(self, node, vmid, name).await
    }

    async fn upload(&self, node: &NodeName, storage: &StorageName, file: &Upload) -> Result<Upid> {
        storage::upload(self, node, storage, file).await
    }

    async fn task_status(&self, upid: &Upid) -> Result<TaskStatus> {
        tasks::task_status(self, upid).await
    }

    async fn task_log(&self, upid: &Upid, start: u64, limit: u64) -> Result<types::TaskLog> {
        tasks::task_log(self, upid, start, limit).await
    }

    async fn node_storages(&self, node: &NodeName) -> Result<Vec<NodeStorage>> {
        storage::node_storages(self, node).await
    }

    async fn storage_content(
        &self,
        node: &NodeName,
        storage: &StorageName,
        content: Option<&str>,
    ) -> Result<Vec<StorageVolume>> {
        let query = ContentQuery {
            content: content.map(str::to_owned),
            vmid: None,
        };
        storage::storage_content(self, node, storage, &query).await
    }

    async fn download_url(
        &self,
        node: &NodeName,
        storage: &StorageName,
        req: &DownloadUrl,
    ) -> Result<Upid> {
        storage::download_url(self, node, storage, req).await
    }

    async fn agent_network_interfaces(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<Vec<GuestInterface>> {
        agent::agent_network_interfaces(self, node, vmid).await
    }

    async fn agent_ping(&self, node: &NodeName, vmid: VmId) -> Result<()> {
        agent::agent_ping(self, node, vmid).await
    }

    async fn delete_volume(
        &self,
        node: &NodeName,
        storage: &StorageName,
        volume: &str,
    ) -> Result<Upid> {
        storage::delete_volume(self, node, storage, volume).await
    }

    async fn pools(&self) -> Result<Vec<PoolInfo>> {
        access::pools(self).await
    }

    async fn create_pool(&self, poolid: &str, comment: Option<&str>) -> Result<()> {
        access::create_pool(self, poolid, comment).await
    }

    async fn create_user(&self, req: &CreateUser) -> Result<()> {
        access::create_user(self, req).await
    }

    async fn create_token(
        &self,
        userid: &str,
        tokenid: &str,
        req: &CreateToken,
    ) -> Result<TokenCreated> {
        access::create_token(self, userid, tokenid, req).await
    }

    async fn update_acl(&self, req: &AclUpdate) -> Result<()> {
        access::update_acl(self, req).await
    }

    async fn users(&self) -> Result<Vec<UserEntry>> {
        access::users(self).await
    }

    async fn delete_user(&self, userid: &str) -> Result<()> {
        access::delete_user(self, userid).await
    }

    async fn user_tokens(&self, userid: &str) -> Result<Vec<TokenEntry>> {
        access::user_tokens(self, userid).await
    }

    async fn delete_token(&self, userid: &str, tokenid: &str) -> Result<()> {
        access::delete_token(self, userid, tokenid).await
    }

    async fn acl(&self) -> Result<Vec<types::AclEntry>> {
        access::acl(self).await
    }

    async fn access_permissions(&self) -> Result<types::Permissions> {
        let answer = self.permissions(None, None).await?;
        serde_json::from_value(answer).map_err(|source| Error::Decode {
            method: "GET".to_owned(),
            path: "/access/permissions".to_owned(),
            source,
        })
    }

    async fn node_bridges(&self, node: &NodeName) -> Result<Vec<types::NetworkInterface>> {
        let listed = self
            .network_index(node.as_str(), Some("any_bridge"))
            .await?;
        serde_json::from_value(serde_json::Value::Array(listed)).map_err(|source| Error::Decode {
            method: "GET".to_owned(),
            path: "/nodes/{node}/network".to_owned(),
            source,
        })
    }

    async fn cluster_tasks(&self) -> Result<Vec<types::TaskEntry>> {
        access::cluster_tasks(self).await
    }

    async fn backup_jobs(&self) -> Result<Vec<BackupJob>> {
        self.backup_job_index()
            .await?
            .into_iter()
            .map(|entry| {
                serde_json::from_value(entry).map_err(|source| Error::Decode {
                    method: "GET".to_owned(),
                    path: "/cluster/backup".to_owned(),
                    source,
                })
            })
            .collect()
    }

    async fn create_backup_job(&self, id: &str, options: &BackupJobOptions) -> Result<()> {
        let mut options = options.clone();
        options.insert("id".to_owned(), id.to_owned());
        let request = job_request(&labform_proxmox::endpoint::backup::CREATE_JOB, &options)?;
        self.backup_job_create(&request).await
    }

    async fn update_backup_job(&self, id: &str, options: &BackupJobOptions) -> Result<()> {
        let request = job_request(&labform_proxmox::endpoint::backup::UPDATE_JOB, options)?;
        self.backup_job_update(id, &request).await
    }

    async fn delete_backup_job(&self, id: &str) -> Result<()> {
        self.backup_job_delete(id).await
    }

    async fn vzdump(&self, node: &NodeName, req: &Vzdump) -> Result<Option<Upid>> {
        labform_proxmox::endpoint::form::encode(&labform_proxmox::endpoint::backup::VZDUMP, req)?;
        let answer = SimClient::vzdump(self, node.as_str(), req).await?;
        if answer == "OK" {
            return Ok(None);
        }
        Ok(Some(answer.parse()?))
    }

    async fn restore_vm(&self, node: &NodeName, req: &RestoreVm) -> Result<Upid> {
        let restore = Restore {
            vmid: req.vmid.get(),
            archive: req.archive.clone(),
            pool: req.pool.clone(),
            force: req.force,
            start: req.start,
            ..Restore::default()
        };
        SimClient::restore_vm(self, node.as_str(), &restore).await
    }
}

/// A backup job's options as labform sends them, checked by `endpoint`'s declaration as the
/// HTTPS client checks them, then decoded into the request the simulator takes.
fn job_request(
    endpoint: &'static labform_proxmox::endpoint::Endpoint,
    options: &BackupJobOptions,
) -> Result<BackupJobRequest> {
    use labform_proxmox::endpoint::form;
    let params: BTreeMap<String, String> = form::encode(endpoint, options)?.into_iter().collect();
    Ok(form::decode(endpoint, &params)?)
}
