//! The endpoint calls of [`Client`]: one [`ProxmoxApi`] method per
//! endpoint, each a path, its parameters and the typed answer.

use super::*;

#[async_trait::async_trait]
impl ProxmoxApi for Client {
    async fn version(&self) -> Result<Version> {
        self.get("/version", &["version"], &vec![]).await
    }

    async fn nodes(&self) -> Result<Vec<NodeEntry>> {
        self.get("/nodes", &["nodes"], &vec![]).await
    }

    async fn cluster_resources(&self, kind: Option<ResourceType>) -> Result<Vec<ClusterResource>> {
        let params = kind
            .map(|k| vec![("type".to_owned(), k.as_str().to_owned())])
            .unwrap_or_default();
        self.get("/cluster/resources", &["cluster", "resources"], &params)
            .await
    }

    async fn next_vmid(&self, check: Option<VmId>) -> Result<VmId> {
        let params = check
            .map(|v| vec![("vmid".to_owned(), v.to_string())])
            .unwrap_or_default();
        let env = self
            .call(
                Method::GET,
                "/cluster/nextid",
                &["cluster", "nextid"],
                &params,
            )
            .await?;
        let n = match &env.data {
            serde_json::Value::String(s) => s.parse::<u32>().ok(),
            serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        };
        n.and_then(|n| VmId::new(n).ok())
            .ok_or_else(|| Error::Decode {
                method: "GET".into(),
                path: "/cluster/nextid".into(),
                source: serde::de::Error::custom(format!("not a VMID: {}", env.data)),
            })
    }

    async fn create_vm(&self, node: &NodeName, req: &CreateVm) -> Result<Upid> {
        let segs = ["nodes", node.as_str(), "qemu"];
        self.task(Method::POST, "/nodes/{node}/qemu", &segs, &req.to_params())
            .await
    }

    async fn vm_config(&self, node: &NodeName, vmid: VmId, current: bool) -> Result<VmConfig> {
        let id = vmid.to_string();
        let params = if current {
            vec![("current".to_owned(), "1".to_owned())]
        } else {
            vec![]
        };
        self.get(
            "/nodes/{node}/qemu/{vmid}/config",
            &["nodes", node.as_str(), "qemu", &id, "config"],
            &params,
        )
        .await
    }

    async fn update_vm_config(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "config"];
        self.task(
            Method::POST,
            "/nodes/{node}/qemu/{vmid}/config",
            &segs,
            &update.to_params(),
        )
        .await
    }

    async fn update_vm_config_sync(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<()> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "config"];
        self.call(
            Method::PUT,
            "/nodes/{node}/qemu/{vmid}/config",
            &segs,
            &update.to_params(),
        )
        .await?;
        Ok(())
    }

    async fn vm_pending(&self, node: &NodeName, vmid: VmId) -> Result<Vec<PendingEntry>> {
        let id = vmid.to_string();
        self.get(
            "/nodes/{node}/qemu/{vmid}/pending",
            &["nodes", node.as_str(), "qemu", &id, "pending"],
            &vec![],
        )
        .await
    }

    async fn resize_disk(&self, node: &NodeName, vmid: VmId, req: &ResizeDisk) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "resize"];
        self.task(
            Method::PUT,
            "/nodes/{node}/qemu/{vmid}/resize",
            &segs,
            &req.to_params(),
        )
        .await
    }

    async fn convert_to_template(&self, node: &NodeName, vmid: VmId) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "template"];
        self.task(
            Method::POST,
            "/nodes/{node}/qemu/{vmid}/template",
            &segs,
            &vec![],
        )
        .await
    }

    async fn clone_vm(&self, node: &NodeName, vmid: VmId, req: &CloneVm) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "clone"];
        self.task(
            Method::POST,
            "/nodes/{node}/qemu/{vmid}/clone",
            &segs,
            &req.to_params(),
        )
        .await
    }

    async fn vm_status(&self, node: &NodeName, vmid: VmId) -> Result<VmStatus> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "status", "current"];
        self.get("/nodes/{node}/qemu/{vmid}/status/current", &segs, &vec![])
            .await
    }

    async fn vm_action(&self, node: &NodeName, vmid: VmId, action: VmAction) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = [
            "nodes",
            node.as_str(),
            "qemu",
            &id,
            "status",
            action.as_str(),
        ];
        let template = format!("/nodes/{{node}}/qemu/{{vmid}}/status/{}", action.as_str());
        self.task(Method::POST, &template, &segs, &vec![]).await
    }

    async fn delete_vm(&self, node: &NodeName, vmid: VmId, opts: DeleteVm) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id];
        self.task(
            Method::DELETE,
            "/nodes/{node}/qemu/{vmid}",
            &segs,
            &opts.to_params(),
        )
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
        let segs = ["nodes", node.as_str(), "qemu", &id, "migrate"];
        let mut params = vec![("target".to_owned(), target.as_str().to_owned())];
        if online {
            params.push(("online".into(), "1".into()));
        }
        self.task(
            Method::POST,
            "/nodes/{node}/qemu/{vmid}/migrate",
            &segs,
            &params,
        )
        .await
    }

    async fn list_snapshots(&self, node: &NodeName, vmid: VmId) -> Result<Vec<SnapshotEntry>> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "snapshot"];
        self.get("/nodes/{node}/qemu/{vmid}/snapshot", &segs, &vec![])
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
        let segs = ["nodes", node.as_str(), "qemu", &id, "snapshot"];
        let mut params = vec![("snapname".to_owned(), name.to_owned())];
        if let Some(d) = description {
            params.push(("description".into(), d.to_owned()));
        }
        let t = "/nodes/{node}/qemu/{vmid}/snapshot";
        self.task(Method::POST, t, &segs, &params).await
    }

    async fn delete_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "snapshot", name];
        let t = "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}";
        self.task(Method::DELETE, t, &segs, &vec![]).await
    }

    async fn rollback_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = [
            "nodes",
            node.as_str(),
            "qemu",
            &id,
            "snapshot",
            name,
            "rollback",
        ];
        let t = "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback";
        self.task(Method::POST, t, &segs, &vec![]).await
    }

    async fn upload(&self, node: &NodeName, storage: &StorageName, file: &Upload) -> Result<Upid> {
        let segs = [
            "nodes",
            node.as_str(),
            "storage",
            storage.as_str(),
            "upload",
        ];
        let t = "/nodes/{node}/storage/{storage}/upload";
        let params = vec![("content".to_owned(), file.content.clone())];
        let env = self
            .call_with(Method::POST, t, &segs, &params, Some(file))
            .await?;
        upid_from(env.data, "POST", t)
    }

    async fn task_status(&self, upid: &Upid) -> Result<TaskStatus> {
        let segs = [
            "nodes",
            upid.node.as_str(),
            "tasks",
            upid.as_str(),
            "status",
        ];
        self.get("/nodes/{node}/tasks/{upid}/status", &segs, &vec![])
            .await
    }

    async fn task_log(&self, upid: &Upid, start: u64, limit: u64) -> Result<TaskLog> {
        let segs = ["nodes", upid.node.as_str(), "tasks", upid.as_str(), "log"];
        let params = vec![
            ("start".to_owned(), start.to_string()),
            ("limit".to_owned(), limit.to_string()),
        ];
        let env = self
            .call(
                Method::GET,
                "/nodes/{node}/tasks/{upid}/log",
                &segs,
                &params,
            )
            .await?;
        let lines: Vec<TaskLogLine> =
            serde_json::from_value(env.data).map_err(|source| Error::Decode {
                method: "GET".into(),
                path: "/nodes/{node}/tasks/{upid}/log".into(),
                source,
            })?;
        let total = env.total.unwrap_or(lines.len() as u64);
        Ok(TaskLog { lines, total })
    }

    async fn node_storages(&self, node: &NodeName) -> Result<Vec<NodeStorage>> {
        self.get(
            "/nodes/{node}/storage",
            &["nodes", node.as_str(), "storage"],
            &vec![],
        )
        .await
    }

    async fn storage_content(
        &self,
        node: &NodeName,
        storage: &StorageName,
        content: Option<&str>,
    ) -> Result<Vec<StorageVolume>> {
        let segs = [
            "nodes",
            node.as_str(),
            "storage",
            storage.as_str(),
            "content",
        ];
        let params = content
            .map(|c| vec![("content".to_owned(), c.to_owned())])
            .unwrap_or_default();
        self.get("/nodes/{node}/storage/{storage}/content", &segs, &params)
            .await
    }

    async fn download_url(
        &self,
        node: &NodeName,
        storage: &StorageName,
        req: &DownloadUrl,
    ) -> Result<Upid> {
        let segs = [
            "nodes",
            node.as_str(),
            "storage",
            storage.as_str(),
            "download-url",
        ];
        let t = "/nodes/{node}/storage/{storage}/download-url";
        self.task(Method::POST, t, &segs, &req.to_params()).await
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
        let segs = [
            "nodes",
            node.as_str(),
            "qemu",
            &id,
            "agent",
            "network-get-interfaces",
        ];
        let r: R = self
            .get(
                "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
                &segs,
                &vec![],
            )
            .await?;
        Ok(r.result)
    }

    async fn agent_ping(&self, node: &NodeName, vmid: VmId) -> Result<()> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "agent", "ping"];
        self.call(
            Method::POST,
            "/nodes/{node}/qemu/{vmid}/agent/ping",
            &segs,
            &vec![],
        )
        .await?;
        Ok(())
    }

    async fn delete_volume(
        &self,
        node: &NodeName,
        storage: &StorageName,
        volume: &str,
    ) -> Result<Upid> {
        let segs = [
            "nodes",
            node.as_str(),
            "storage",
            storage.as_str(),
            "content",
            volume,
        ];
        let t = "/nodes/{node}/storage/{storage}/content/{volume}";
        self.task(Method::DELETE, t, &segs, &vec![]).await
    }

    async fn pools(&self) -> Result<Vec<PoolInfo>> {
        self.get("/pools", &["pools"], &vec![]).await
    }

    async fn create_pool(&self, poolid: &str, comment: Option<&str>) -> Result<()> {
        let mut params = vec![("poolid".to_owned(), poolid.to_owned())];
        if let Some(c) = comment {
            params.push(("comment".into(), c.to_owned()));
        }
        self.call(Method::POST, "/pools", &["pools"], &params)
            .await?;
        Ok(())
    }

    async fn create_user(&self, req: &CreateUser) -> Result<()> {
        let mut params = vec![("userid".to_owned(), req.userid.clone())];
        if let Some(p) = &req.password {
            params.push(("password".into(), p.expose().to_owned()));
        }
        if let Some(c) = &req.comment {
            params.push(("comment".into(), c.clone()));
        }
        self.call(Method::POST, "/access/users", &["access", "users"], &params)
            .await?;
        Ok(())
    }

    async fn create_token(
        &self,
        userid: &str,
        tokenid: &str,
        req: &CreateToken,
    ) -> Result<TokenCreated> {
        let mut params = Params::new();
        if let Some(p) = req.privsep {
            params.push(("privsep".into(), if p { "1" } else { "0" }.into()));
        }
        if let Some(e) = req.expire {
            params.push(("expire".into(), e.to_string()));
        }
        if let Some(c) = &req.comment {
            params.push(("comment".into(), c.clone()));
        }
        let segs = ["access", "users", userid, "token", tokenid];
        self.typed(
            Method::POST,
            "/access/users/{userid}/token/{tokenid}",
            &segs,
            &params,
        )
        .await
    }

    async fn users(&self) -> Result<Vec<UserEntry>> {
        let params = vec![("full".to_owned(), "1".to_owned())];
        self.get("/access/users", &["access", "users"], &params)
            .await
    }

    async fn delete_user(&self, userid: &str) -> Result<()> {
        self.call(
            Method::DELETE,
            "/access/users/{userid}",
            &["access", "users", userid],
            &vec![],
        )
        .await?;
        Ok(())
    }

    async fn user_tokens(&self, userid: &str) -> Result<Vec<TokenEntry>> {
        self.get(
            "/access/users/{userid}/token",
            &["access", "users", userid, "token"],
            &vec![],
        )
        .await
    }

    async fn delete_token(&self, userid: &str, tokenid: &str) -> Result<()> {
        self.call(
            Method::DELETE,
            "/access/users/{userid}/token/{tokenid}",
            &["access", "users", userid, "token", tokenid],
            &vec![],
        )
        .await?;
        Ok(())
    }

    async fn acl(&self) -> Result<Vec<AclEntry>> {
        self.get("/access/acl", &["access", "acl"], &vec![]).await
    }

    async fn access_permissions(&self) -> Result<Permissions> {
        self.get("/access/permissions", &["access", "permissions"], &vec![])
            .await
    }

    async fn node_bridges(&self, node: &NodeName) -> Result<Vec<NetworkInterface>> {
        self.get(
            "/nodes/{node}/network",
            &["nodes", node.as_str(), "network"],
            &vec![("type".to_owned(), "any_bridge".to_owned())],
        )
        .await
    }

    async fn cluster_tasks(&self) -> Result<Vec<TaskEntry>> {
        self.get("/cluster/tasks", &["cluster", "tasks"], &vec![])
            .await
    }

    async fn update_acl(&self, req: &AclUpdate) -> Result<()> {
        self.call(
            Method::PUT,
            "/access/acl",
            &["access", "acl"],
            &req.to_params(),
        )
        .await?;
        Ok(())
    }

    async fn backup_jobs(&self) -> Result<Vec<BackupJob>> {
        self.get("/cluster/backup", &["cluster", "backup"], &vec![])
            .await
    }

    async fn create_backup_job(&self, id: &str, options: &BackupJobOptions) -> Result<()> {
        let mut params = vec![("id".to_owned(), id.to_owned())];
        params.extend(
            options
                .iter()
                .map(|(key, value)| (key.clone(), value.clone())),
        );
        self.call(
            Method::POST,
            "/cluster/backup",
            &["cluster", "backup"],
            &params,
        )
        .await?;
        Ok(())
    }

    async fn update_backup_job(&self, id: &str, options: &BackupJobOptions) -> Result<()> {
        let params: Params = options
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        self.call(
            Method::PUT,
            "/cluster/backup/{id}",
            &["cluster", "backup", id],
            &params,
        )
        .await?;
        Ok(())
    }

    async fn delete_backup_job(&self, id: &str) -> Result<()> {
        self.call(
            Method::DELETE,
            "/cluster/backup/{id}",
            &["cluster", "backup", id],
            &vec![],
        )
        .await?;
        Ok(())
    }

    async fn vzdump(&self, node: &NodeName, req: &Vzdump) -> Result<Option<Upid>> {
        let template = "/nodes/{node}/vzdump";
        let envelope = self
            .call(
                Method::POST,
                template,
                &["nodes", node.as_str(), "vzdump"],
                &req.to_params(),
            )
            .await?;
        if envelope.data.as_str() == Some("OK") {
            return Ok(None);
        }
        upid_from(envelope.data, "POST", template).map(Some)
    }

    async fn restore_vm(&self, node: &NodeName, req: &RestoreVm) -> Result<Upid> {
        let segs = ["nodes", node.as_str(), "qemu"];
        self.task(Method::POST, "/nodes/{node}/qemu", &segs, &req.to_params())
            .await
    }
}
