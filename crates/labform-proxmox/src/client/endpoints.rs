//! The endpoint calls of [`Client`]: one [`ProxmoxApi`] method per
//! endpoint, each its declaration ([`crate::endpoint`]), the path's
//! arguments, its parameters (a typed request, or the method's arguments
//! named as the endpoint declares them; `None` leaves one out) and the typed
//! answer. The wire form of the parameters comes from the declaration
//! ([`crate::endpoint::form`]).

use super::*;
use crate::endpoint::{access, agent, backup, cluster, network, pools, power, qemu};
use crate::endpoint::{snapshots, storage, tasks};
use serde_json::json;

#[async_trait::async_trait]
impl ProxmoxApi for Client {
    async fn version(&self) -> Result<Version> {
        self.typed(&cluster::VERSION, &[], &NONE).await
    }

    async fn nodes(&self) -> Result<Vec<NodeEntry>> {
        self.typed(&cluster::NODES, &[], &NONE).await
    }

    async fn cluster_resources(&self, kind: Option<ResourceType>) -> Result<Vec<ClusterResource>> {
        let params = json!({ "type": kind.map(ResourceType::as_str) });
        self.typed(&cluster::RESOURCES, &[], &params).await
    }

    async fn next_vmid(&self, check: Option<VmId>) -> Result<VmId> {
        let params = json!({ "vmid": check });
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
        self.task(&qemu::CREATE_VM, &[node.as_str()], req).await
    }

    async fn vm_config(&self, node: &NodeName, vmid: VmId, current: bool) -> Result<VmConfig> {
        let id = vmid.to_string();
        let params = json!({ "current": current.then_some(true) });
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
        self.task(&qemu::UPDATE_CONFIG, &[node.as_str(), &id], update)
            .await
    }

    async fn update_vm_config_sync(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<()> {
        let id = vmid.to_string();
        self.call(&qemu::UPDATE_CONFIG_SYNC, &[node.as_str(), &id], update)
            .await?;
        Ok(())
    }

    async fn vm_pending(&self, node: &NodeName, vmid: VmId) -> Result<Vec<PendingEntry>> {
        let id = vmid.to_string();
        self.typed(&qemu::PENDING, &[node.as_str(), &id], &NONE)
            .await
    }

    async fn resize_disk(&self, node: &NodeName, vmid: VmId, req: &ResizeDisk) -> Result<Upid> {
        let id = vmid.to_string();
        self.task(&qemu::RESIZE, &[node.as_str(), &id], req).await
    }

    async fn convert_to_template(&self, node: &NodeName, vmid: VmId) -> Result<Upid> {
        let id = vmid.to_string();
        self.task(&qemu::TEMPLATE, &[node.as_str(), &id], &NONE)
            .await
    }

    async fn clone_vm(&self, node: &NodeName, vmid: VmId, req: &CloneVm) -> Result<Upid> {
        let id = vmid.to_string();
        self.task(&qemu::CLONE, &[node.as_str(), &id], req).await
    }

    async fn vm_status(&self, node: &NodeName, vmid: VmId) -> Result<VmStatus> {
        let id = vmid.to_string();
        self.typed(&power::STATUS, &[node.as_str(), &id], &NONE)
            .await
    }

    async fn vm_action(&self, node: &NodeName, vmid: VmId, action: VmAction) -> Result<Upid> {
        let id = vmid.to_string();
        self.task(action.endpoint(), &[node.as_str(), &id], &NONE)
            .await
    }

    async fn delete_vm(&self, node: &NodeName, vmid: VmId, opts: DeleteVm) -> Result<Upid> {
        let id = vmid.to_string();
        self.task(&qemu::DELETE_VM, &[node.as_str(), &id], &opts)
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
        let params = json!({ "target": target, "online": online.then_some(true) });
        self.task(&qemu::MIGRATE, &[node.as_str(), &id], &params)
            .await
    }

    async fn list_snapshots(&self, node: &NodeName, vmid: VmId) -> Result<Vec<SnapshotEntry>> {
        let id = vmid.to_string();
        self.typed(&snapshots::SNAPSHOTS, &[node.as_str(), &id], &NONE)
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
        let params = json!({ "snapname": name, "description": description });
        let arguments = [node.as_str(), &id];
        self.task(&snapshots::CREATE_SNAPSHOT, &arguments, &params)
            .await
    }

    async fn delete_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid> {
        let id = vmid.to_string();
        let arguments = [node.as_str(), &id, name];
        self.task(&snapshots::DELETE_SNAPSHOT, &arguments, &NONE)
            .await
    }

    async fn rollback_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid> {
        let id = vmid.to_string();
        let arguments = [node.as_str(), &id, name];
        self.task(&snapshots::ROLLBACK, &arguments, &NONE).await
    }

    async fn upload(&self, node: &NodeName, storage: &StorageName, file: &Upload) -> Result<Upid> {
        let arguments = [node.as_str(), storage.as_str()];
        let env = self
            .call_with(&storage::UPLOAD, &arguments, file, Some(file))
            .await?;
        upid_from(env.data, &storage::UPLOAD)
    }

    async fn task_status(&self, upid: &Upid) -> Result<TaskStatus> {
        let arguments = [upid.node.as_str(), upid.as_str()];
        self.typed(&tasks::TASK_STATUS, &arguments, &NONE).await
    }

    async fn task_log(&self, upid: &Upid, start: u64, limit: u64) -> Result<TaskLog> {
        let arguments = [upid.node.as_str(), upid.as_str()];
        let params = json!({ "start": start, "limit": limit });
        let env = self.call(&tasks::TASK_LOG, &arguments, &params).await?;
        let lines: Vec<TaskLogLine> = decode_data(env.data, &tasks::TASK_LOG, &arguments)?;
        let total = env.total.unwrap_or(lines.len() as u64);
        Ok(TaskLog { lines, total })
    }

    async fn node_storages(&self, node: &NodeName) -> Result<Vec<NodeStorage>> {
        self.typed(&storage::NODE_STORAGES, &[node.as_str()], &NONE)
            .await
    }

    async fn storage_content(
        &self,
        node: &NodeName,
        storage: &StorageName,
        content: Option<&str>,
    ) -> Result<Vec<StorageVolume>> {
        let params = json!({ "content": content });
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
        self.task(&storage::DOWNLOAD_URL, &arguments, req).await
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
            .typed(&agent::NETWORK_INTERFACES, &arguments, &NONE)
            .await?;
        Ok(r.result)
    }

    async fn agent_ping(&self, node: &NodeName, vmid: VmId) -> Result<()> {
        let id = vmid.to_string();
        self.call(&agent::PING, &[node.as_str(), &id], &NONE)
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
        self.task(&storage::DELETE_VOLUME, &arguments, &NONE).await
    }

    async fn pools(&self) -> Result<Vec<PoolInfo>> {
        self.typed(&pools::POOLS, &[], &NONE).await
    }

    async fn create_pool(&self, poolid: &str, comment: Option<&str>) -> Result<()> {
        let params = json!({ "poolid": poolid, "comment": comment });
        self.call(&pools::CREATE_POOL, &[], &params).await?;
        Ok(())
    }

    async fn create_user(&self, req: &CreateUser) -> Result<()> {
        self.call(&access::CREATE_USER, &[], req).await?;
        Ok(())
    }

    async fn create_token(
        &self,
        userid: &str,
        tokenid: &str,
        req: &CreateToken,
    ) -> Result<TokenCreated> {
        self.typed(&access::CREATE_TOKEN, &[userid, tokenid], req)
            .await
    }

    async fn users(&self) -> Result<Vec<UserEntry>> {
        let params = json!({ "full": true });
        self.typed(&access::USERS, &[], &params).await
    }

    async fn delete_user(&self, userid: &str) -> Result<()> {
        self.call(&access::DELETE_USER, &[userid], &NONE).await?;
        Ok(())
    }

    async fn user_tokens(&self, userid: &str) -> Result<Vec<TokenEntry>> {
        self.typed(&access::TOKENS, &[userid], &NONE).await
    }

    async fn delete_token(&self, userid: &str, tokenid: &str) -> Result<()> {
        self.call(&access::DELETE_TOKEN, &[userid, tokenid], &NONE)
            .await?;
        Ok(())
    }

    async fn acl(&self) -> Result<Vec<AclEntry>> {
        self.typed(&access::ACL, &[], &NONE).await
    }

    async fn access_permissions(&self) -> Result<Permissions> {
        self.typed(&access::PERMISSIONS, &[], &NONE).await
    }

    async fn node_bridges(&self, node: &NodeName) -> Result<Vec<NetworkInterface>> {
        let params = json!({ "type": "any_bridge" });
        self.typed(&network::NETWORK, &[node.as_str()], &params)
            .await
    }

    async fn cluster_tasks(&self) -> Result<Vec<TaskEntry>> {
        self.typed(&tasks::CLUSTER_TASKS, &[], &NONE).await
    }

    async fn update_acl(&self, req: &AclUpdate) -> Result<()> {
        self.call(&access::UPDATE_ACL, &[], req).await?;
        Ok(())
    }

    async fn backup_jobs(&self) -> Result<Vec<BackupJob>> {
        self.typed(&backup::JOBS, &[], &NONE).await
    }

    async fn create_backup_job(&self, id: &str, options: &BackupJobOptions) -> Result<()> {
        let mut params = options.clone();
        params.insert("id".to_owned(), id.to_owned());
        self.call(&backup::CREATE_JOB, &[], &params).await?;
        Ok(())
    }

    async fn update_backup_job(&self, id: &str, options: &BackupJobOptions) -> Result<()> {
        self.call(&backup::UPDATE_JOB, &[id], options).await?;
        Ok(())
    }

    async fn delete_backup_job(&self, id: &str) -> Result<()> {
        self.call(&backup::DELETE_JOB, &[id], &NONE).await?;
        Ok(())
    }

    async fn vzdump(&self, node: &NodeName, req: &Vzdump) -> Result<Option<Upid>> {
        let envelope = self.call(&backup::VZDUMP, &[node.as_str()], req).await?;
        if envelope.data.as_str() == Some("OK") {
            return Ok(None);
        }
        upid_from(envelope.data, &backup::VZDUMP).map(Some)
    }

    async fn restore_vm(&self, node: &NodeName, req: &RestoreVm) -> Result<Upid> {
        self.task(&qemu::CREATE_VM, &[node.as_str()], req).await
    }
}
