//! The endpoint calls of [`Client`]: one [`ProxmoxApi`] method per
//! endpoint, each its declaration ([`crate::endpoint`]), the path's
//! arguments, its parameters and the typed answer.

use super::*;
use crate::endpoint::{access, agent, backup, cluster, network, pools, power, qemu};
use crate::endpoint::{snapshots, storage, tasks};

/// One parameter, when it has a value.
fn optional(name: &str, value: Option<String>) -> Params {
    value
        .map(|value| vec![(name.to_owned(), value)])
        .unwrap_or_default()
}

#[async_trait::async_trait]
impl ProxmoxApi for Client {
    async fn version(&self) -> Result<Version> {
        self.typed(&cluster::VERSION, &[], &vec![]).await
    }

    async fn nodes(&self) -> Result<Vec<NodeEntry>> {
        self.typed(&cluster::NODES, &[], &vec![]).await
    }

    async fn cluster_resources(&self, kind: Option<ResourceType>) -> Result<Vec<ClusterResource>> {
        let params = optional("type", kind.map(|k| k.as_str().to_owned()));
        self.typed(&cluster::RESOURCES, &[], &params).await
    }

    async fn next_vmid(&self, check: Option<VmId>) -> Result<VmId> {
        let params = optional("vmid", check.map(|v| v.to_string()));
        let env = self.call(&cluster::NEXT_ID, &[], &params).await?;
        let n = match &env.data {
            serde_json::Value::String(s) => s.parse::<u32>().ok(),
            serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        };
        n.and_then(|n| VmId::new(n).ok())
            .ok_or_else(|| Error::Decode {
                method: cluster::NEXT_ID.method.to_string(),
                path: cluster::NEXT_ID.path.into(),
                source: serde::de::Error::custom(format!("not a VMID: {}", env.data)),
            })
    }

    async fn create_vm(&self, node: &NodeName, req: &CreateVm) -> Result<Upid> {
        self.task(&qemu::CREATE_VM, &[node.as_str()], &req.to_params())
            .await
    }

    async fn vm_config(&self, node: &NodeName, vmid: VmId, current: bool) -> Result<VmConfig> {
        let id = vmid.to_string();
        let params = optional("current", current.then(|| "1".to_owned()));
        self.typed(&qemu::CONFIG, &[node.as_str(), &id], &params)
            .await
    }

    async fn update_vm_config(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<Upid> {
        let id = vmid.to_string();
        let params = update.to_params();
        self.task(&qemu::UPDATE_CONFIG, &[node.as_str(), &id], &params)
            .await
    }

    async fn update_vm_config_sync(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<()> {
        let id = vmid.to_string();
        let params = update.to_params();
        self.call(&qemu::UPDATE_CONFIG_SYNC, &[node.as_str(), &id], &params)
            .await?;
        Ok(())
    }

    async fn vm_pending(&self, node: &NodeName, vmid: VmId) -> Result<Vec<PendingEntry>> {
        let id = vmid.to_string();
        self.typed(&qemu::PENDING, &[node.as_str(), &id], &vec![])
            .await
    }

    async fn resize_disk(&self, node: &NodeName, vmid: VmId, req: &ResizeDisk) -> Result<Upid> {
        let id = vmid.to_string();
        self.task(&qemu::RESIZE, &[node.as_str(), &id], &req.to_params())
            .await
    }

    async fn convert_to_template(&self, node: &NodeName, vmid: VmId) -> Result<Upid> {
        let id = vmid.to_string();
        self.task(&qemu::TEMPLATE, &[node.as_str(), &id], &vec![])
            .await
    }

    async fn clone_vm(&self, node: &NodeName, vmid: VmId, req: &CloneVm) -> Result<Upid> {
        let id = vmid.to_string();
        self.task(&qemu::CLONE, &[node.as_str(), &id], &req.to_params())
            .await
    }

    async fn vm_status(&self, node: &NodeName, vmid: VmId) -> Result<VmStatus> {
        let id = vmid.to_string();
        self.typed(&power::STATUS, &[node.as_str(), &id], &vec![])
            .await
    }

    async fn vm_action(&self, node: &NodeName, vmid: VmId, action: VmAction) -> Result<Upid> {
        let id = vmid.to_string();
        self.task(action.endpoint(), &[node.as_str(), &id], &vec![])
            .await
    }

    async fn delete_vm(&self, node: &NodeName, vmid: VmId, opts: DeleteVm) -> Result<Upid> {
        let id = vmid.to_string();
        self.task(&qemu::DELETE_VM, &[node.as_str(), &id], &opts.to_params())
            .await
    }

    async fn migrate_vm(
        &self,
        node: &NodeName,
        vmid: VmId,
        target: &NodeName,
        online: bool,
    ) -> Result<Upid> {
        let id = vmid.to_string();
        let mut params = vec![("target".to_owned(), target.as_str().to_owned())];
        params.extend(optional("online", online.then(|| "1".to_owned())));
        self.task(&qemu::MIGRATE, &[node.as_str(), &id], &params)
            .await
    }

    async fn list_snapshots(&self, node: &NodeName, vmid: VmId) -> Result<Vec<SnapshotEntry>> {
        let id = vmid.to_string();
        self.typed(&snapshots::SNAPSHOTS, &[node.as_str(), &id], &vec![])
            .await
    }

    async fn create_snapshot(
        &self,
        node: &NodeName,
        vmid: VmId,
        name: &str,
        description: Option<&str>,
    ) -> Result<Upid> {
        let id = vmid.to_string();
        let mut params = vec![("snapname".to_owned(), name.to_owned())];
        params.extend(optional("description", description.map(str::to_owned)));
        let arguments = [node.as_str(), &id];
        self.task(&snapshots::CREATE_SNAPSHOT, &arguments, &params)
            .await
    }

    async fn delete_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid> {
        let id = vmid.to_string();
        let arguments = [node.as_str(), &id, name];
        self.task(&snapshots::DELETE_SNAPSHOT, &arguments, &vec![])
            .await
    }

    async fn rollback_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid> {
        let id = vmid.to_string();
        let arguments = [node.as_str(), &id, name];
        self.task(&snapshots::ROLLBACK, &arguments, &vec![]).await
    }

    async fn upload(&self, node: &NodeName, storage: &StorageName, file: &Upload) -> Result<Upid> {
        let params = vec![("content".to_owned(), file.content.clone())];
        let arguments = [node.as_str(), storage.as_str()];
        let env = self
            .call_with(&storage::UPLOAD, &arguments, &params, Some(file))
            .await?;
        upid_from(env.data, &storage::UPLOAD)
    }

    async fn task_status(&self, upid: &Upid) -> Result<TaskStatus> {
        let arguments = [upid.node.as_str(), upid.as_str()];
        self.typed(&tasks::TASK_STATUS, &arguments, &vec![]).await
    }

    async fn task_log(&self, upid: &Upid, start: u64, limit: u64) -> Result<TaskLog> {
        let arguments = [upid.node.as_str(), upid.as_str()];
        let params = vec![
            ("start".to_owned(), start.to_string()),
            ("limit".to_owned(), limit.to_string()),
        ];
        let env = self.call(&tasks::TASK_LOG, &arguments, &params).await?;
        let lines: Vec<TaskLogLine> = decode_data(env.data, &tasks::TASK_LOG, &arguments)?;
        let total = env.total.unwrap_or(lines.len() as u64);
        Ok(TaskLog { lines, total })
    }

    async fn node_storages(&self, node: &NodeName) -> Result<Vec<NodeStorage>> {
        self.typed(&storage::NODE_STORAGES, &[node.as_str()], &vec![])
            .await
    }

    async fn storage_content(
        &self,
        node: &NodeName,
        storage: &StorageName,
        content: Option<&str>,
    ) -> Result<Vec<StorageVolume>> {
        let params = optional("content", content.map(str::to_owned));
        let arguments = [node.as_str(), storage.as_str()];
        self.typed(&storage::CONTENT, &arguments, &params).await
    }

    async fn download_url(
        &self,
        node: &NodeName,
        storage: &StorageName,
        req: &DownloadUrl,
    ) -> Result<Upid> {
        let arguments = [node.as_str(), storage.as_str()];
        self.task(&storage::DOWNLOAD_URL, &arguments, &req.to_params())
            .await
    }

    async fn agent_network_interfaces(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<Vec<GuestInterface>> {
        #[derive(serde::Deserialize)]
        struct R {
            result: Vec<GuestInterface>,
        }
        let id = vmid.to_string();
        let arguments = [node.as_str(), &id];
        let r: R = self
            .typed(&agent::NETWORK_INTERFACES, &arguments, &vec![])
            .await?;
        Ok(r.result)
    }

    async fn agent_ping(&self, node: &NodeName, vmid: VmId) -> Result<()> {
        let id = vmid.to_string();
        self.call(&agent::PING, &[node.as_str(), &id], &vec![])
            .await?;
        Ok(())
    }

    async fn delete_volume(
        &self,
        node: &NodeName,
        storage: &StorageName,
        volume: &str,
    ) -> Result<Upid> {
        let arguments = [node.as_str(), storage.as_str(), volume];
        self.task(&storage::DELETE_VOLUME, &arguments, &vec![])
            .await
    }

    async fn pools(&self) -> Result<Vec<PoolInfo>> {
        self.typed(&pools::POOLS, &[], &vec![]).await
    }

    async fn create_pool(&self, poolid: &str, comment: Option<&str>) -> Result<()> {
        let mut params = vec![("poolid".to_owned(), poolid.to_owned())];
        params.extend(optional("comment", comment.map(str::to_owned)));
        self.call(&pools::CREATE_POOL, &[], &params).await?;
        Ok(())
    }

    async fn create_user(&self, req: &CreateUser) -> Result<()> {
        let mut params = vec![("userid".to_owned(), req.userid.clone())];
        params.extend(optional(
            "password",
            req.password.as_ref().map(|p| p.expose().to_owned()),
        ));
        params.extend(optional("comment", req.comment.clone()));
        self.call(&access::CREATE_USER, &[], &params).await?;
        Ok(())
    }

    async fn create_token(
        &self,
        userid: &str,
        tokenid: &str,
        req: &CreateToken,
    ) -> Result<TokenCreated> {
        let mut params = Params::new();
        params.extend(optional(
            "privsep",
            req.privsep.map(|p| if p { "1" } else { "0" }.to_owned()),
        ));
        params.extend(optional("expire", req.expire.map(|e| e.to_string())));
        params.extend(optional("comment", req.comment.clone()));
        self.typed(&access::CREATE_TOKEN, &[userid, tokenid], &params)
            .await
    }

    async fn users(&self) -> Result<Vec<UserEntry>> {
        let params = vec![("full".to_owned(), "1".to_owned())];
        self.typed(&access::USERS, &[], &params).await
    }

    async fn delete_user(&self, userid: &str) -> Result<()> {
        self.call(&access::DELETE_USER, &[userid], &vec![]).await?;
        Ok(())
    }

    async fn user_tokens(&self, userid: &str) -> Result<Vec<TokenEntry>> {
        self.typed(&access::TOKENS, &[userid], &vec![]).await
    }

    async fn delete_token(&self, userid: &str, tokenid: &str) -> Result<()> {
        self.call(&access::DELETE_TOKEN, &[userid, tokenid], &vec![])
            .await?;
        Ok(())
    }

    async fn acl(&self) -> Result<Vec<AclEntry>> {
        self.typed(&access::ACL, &[], &vec![]).await
    }

    async fn access_permissions(&self) -> Result<Permissions> {
        self.typed(&access::PERMISSIONS, &[], &vec![]).await
    }

    async fn node_bridges(&self, node: &NodeName) -> Result<Vec<NetworkInterface>> {
        let params = vec![("type".to_owned(), "any_bridge".to_owned())];
        self.typed(&network::NETWORK, &[node.as_str()], &params)
            .await
    }

    async fn cluster_tasks(&self) -> Result<Vec<TaskEntry>> {
        self.typed(&tasks::CLUSTER_TASKS, &[], &vec![]).await
    }

    async fn update_acl(&self, req: &AclUpdate) -> Result<()> {
        self.call(&access::UPDATE_ACL, &[], &req.to_params())
            .await?;
        Ok(())
    }

    async fn backup_jobs(&self) -> Result<Vec<BackupJob>> {
        self.typed(&backup::JOBS, &[], &vec![]).await
    }

    async fn create_backup_job(&self, id: &str, options: &BackupJobOptions) -> Result<()> {
        let mut params = vec![("id".to_owned(), id.to_owned())];
        params.extend(
            options
                .iter()
                .map(|(key, value)| (key.clone(), value.clone())),
        );
        self.call(&backup::CREATE_JOB, &[], &params).await?;
        Ok(())
    }

    async fn update_backup_job(&self, id: &str, options: &BackupJobOptions) -> Result<()> {
        let params: Params = options
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        self.call(&backup::UPDATE_JOB, &[id], &params).await?;
        Ok(())
    }

    async fn delete_backup_job(&self, id: &str) -> Result<()> {
        self.call(&backup::DELETE_JOB, &[id], &vec![]).await?;
        Ok(())
    }

    async fn vzdump(&self, node: &NodeName, req: &Vzdump) -> Result<Option<Upid>> {
        let envelope = self
            .call(&backup::VZDUMP, &[node.as_str()], &req.to_params())
            .await?;
        if envelope.data.as_str() == Some("OK") {
            return Ok(None);
        }
        upid_from(envelope.data, &backup::VZDUMP).map(Some)
    }

    async fn restore_vm(&self, node: &NodeName, req: &RestoreVm) -> Result<Upid> {
        self.task(&qemu::CREATE_VM, &[node.as_str()], &req.to_params())
            .await
    }
}
