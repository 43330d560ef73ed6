//! Endpoints served over HTTP without a typed trait method: pools,
//! uploads by size, VM lists, cloud-init, tasks, cluster status and access
//! control reads.

use super::*;
use labform_proxmox::endpoint;

impl SimClient {
    /// `POST /pools`.
    pub async fn create_pool_checked(&self, poolid: &str, comment: Option<&str>) -> Result<()> {
        self.run(&endpoint::pools::CREATE_POOL, &[], async {
            let st = self.sim.lock();
            self.check(&st, &format!("/pool/{poolid}"), "Pool.Allocate")?;
            let ok = poolid
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
                && poolid
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
            if !ok {
                return Err(ApiError::param(
                    "poolid",
                    "invalid format - value does not look like a valid pool ID",
                ));
            }
            if st.pools.contains_key(poolid) {
                return Err(e500(format!(
                    "create pool failed: pool '{poolid}' already exists"
                )));
            }
            drop(st);
            self.sim.create_pool(poolid, comment);
            Ok(())
        })
        .await
    }

    /// `GET /nodes/{node}/qemu[?full=1]`: each guest the caller may audit,
    /// with the figures qemu-server's `vmstatus` gives (and, with `full`, the
    /// QMP status and the running machine and QEMU version).
    pub async fn list_vms(&self, node: &str, full: bool) -> Result<Vec<serde_json::Value>> {
        self.run(&endpoint::qemu::VMS, &[&node],
            async {
                self.on_node(node).read(|st| {
                    Ok(st
                        .vms
                        .values()
                        .filter(|v| {
                            v.node == node && st.has(&self.who, &format!("/vms/{}", v.vmid), "VM.Audit")
                        })
                        .map(|v| {
                            let f = super::figures::VmFigures::of(v);
                            let mut e = serde_json::json!({
                                "vmid": v.vmid,
                                "status": if v.running { "running" } else { "stopped" },
                                "name": v.conf.get("name").cloned().unwrap_or_else(|| format!("VM {}", v.vmid)),
                                "cpus": f.cpus, "cpu": f.cpu, "maxmem": f.maxmem, "mem": f.mem,
                                "memhost": f.memhost, "maxdisk": f.maxdisk, "disk": 0,
                                "netin": f.netin, "netout": f.netout,
                                "diskread": f.diskread, "diskwrite": f.diskwrite, "uptime": f.uptime,
                            });
                            if v.running {
                                // A stable made-up process id, and no pressure on an idle host.
                                e["pid"] = (10_000 + v.vmid).into();
                                for key in [
                                    "pressurecpusome", "pressurecpufull", "pressureiosome",
                                    "pressureiofull", "pressurememorysome", "pressurememoryfull",
                                ] {
                                    e[key] = 0.into();
                                }
                            }
                            if full {
                                e["qmpstatus"] = if v.running { "running" } else { "stopped" }.into();
                                if v.running {
                                    e["running-machine"] = "pc-i440fx-10.0+pve0".into();
                                    e["running-qemu"] = "10.0.2".into();
                                }
                            }
                            if v.is_template() {
                                e["template"] = 1.into();
                            }
                            if v.conf.keys().any(|k| k.starts_with("serial")) {
                                e["serial"] = 1.into();
                            }
                            if let Some(l) = v.lock() {
                                e["lock"] = l.into();
                            }
                            if let Some(t) = v.conf.get("tags") {
                                e["tags"] = t.clone().into();
                            }
                            e
                        })
                        .collect())
                })
            },
        )
        .await
    }

    /// `POST /nodes/{node}/storage/{storage}/upload` (async `imgcopy`) of a
    /// file of `size` bytes whose contents are not kept.
    pub async fn upload_sized(
        &self,
        node: &str,
        storage: &str,
        content: &str,
        filename: &str,
        size: u64,
    ) -> Result<Upid> {
        self.upload_inner(node, storage, content, filename, size, None)
            .await
    }

    /// `POST /nodes/{node}/storage/{storage}/upload` of `data`, which the
    /// backend stores (the QEMU backend writes it to the storage's files).
    pub async fn upload_data(
        &self,
        node: &str,
        storage: &str,
        content: &str,
        filename: &str,
        data: Vec<u8>,
    ) -> Result<Upid> {
        let size = data.len() as u64;
        self.upload_inner(node, storage, content, filename, size, Some(data))
            .await
    }

    async fn upload_inner(
        &self,
        node: &str,
        storage: &str,
        content: &str,
        filename: &str,
        size: u64,
        data: Option<Vec<u8>>,
    ) -> Result<Upid> {
        self.run(&endpoint::storage::UPLOAD, &[&node, &storage], async {
            let call = self
                .on_node(node)
                .privilege(format!("/storage/{storage}"), "Datastore.AllocateTemplate");
            call.read(|_| {
                let spec = self.sim.storage_on(storage, node)?;
                let ok_ext = match content {
                    "iso" => [".iso", ".img"].iter().any(|e| filename.ends_with(e)),
                    "import" => [".qcow2", ".raw", ".vmdk", ".ova"]
                        .iter()
                        .any(|e| filename.ends_with(e)),
                    _ => [".tar.gz", ".tar.xz", ".tar.zst"]
                        .iter()
                        .any(|e| filename.ends_with(e)),
                };
                if !ok_ext || filename.contains('/') || filename.is_empty() {
                    return Err(ApiError::param("filename", "wrong file extension"));
                }
                if !spec.content.iter().any(|c| c == content) {
                    return Err(e500(format!(
                        "storage '{storage}' does not support content-type '{content}'"
                    )));
                }
                Ok(())
            })?;
            let (storage_s, content_s, filename_s) =
                (storage.to_owned(), content.to_owned(), filename.to_owned());
            Ok(call.task("imgcopy", "", move |task| async move {
                let NodeTask {
                    sim,
                    node: node_s,
                    log,
                    ..
                } = task;
                let t = sim.inner.config.timing;
                tokio::time::sleep(
                    t.dur(t.clone_secs_per_gib * size as f64 / ByteSize::GIB as f64),
                )
                .await;
                if let Some(data) = data {
                    let file = sim
                        .storage_on(&storage_s, &node_s)
                        .map(|spec| {
                            VolumeFile::new(
                                Simulator::store_key(spec, &node_s),
                                format!("{content_s}/{filename_s}"),
                            )
                        })
                        .map_err(|e| e.message)?;
                    sim.on_backend(move |b| b.write_volume(&file, &data))
                        .await?;
                }
                sim.store_upload(&node_s, &storage_s, &content_s, &filename_s, size)?;
                log.log(format!("target file: {storage_s}:{content_s}/{filename_s}"));
                Ok(())
            }))
        })
        .await
    }
}

/// JSON answers of the read-only endpoints that have no typed trait method.
impl SimClient {
    /// `GET /nodes/{node}/qemu/{vmid}/cloudinit/dump?type=`.
    pub async fn cloudinit_dump(&self, node: &str, vmid: u32, kind: &str) -> Result<String> {
        self.run(
            &endpoint::cloudinit::CLOUDINIT_DUMP,
            &[&node, &vmid],
            async {
                self.on_vm(node, vmid)
                    .privilege("VM.Audit")
                    .read(|_, vm| Ok(crate::state::cloudinit_dump(vm, kind)))
            },
        )
        .await
    }

    /// `GET /nodes/{node}/qemu/{vmid}/cloudinit`: the config's cloud-init
    /// values against those of the last generated image.
    pub async fn cloudinit_pending(&self, node: &str, vmid: u32) -> Result<Vec<serde_json::Value>> {
        self.run(
            &endpoint::cloudinit::CLOUDINIT_PENDING,
            &[&node, &vmid],
            async {
                self.on_vm(node, vmid).privilege("VM.Audit").read(|_, vm| {
                    let now = crate::state::cloudinit_values(&vm.merged());
                    let old = vm.cloudinit_generated.clone().unwrap_or_default();
                    let keys: BTreeSet<&String> = now.keys().chain(old.keys()).collect();
                    let mask = |k: &str, v: &String| {
                        if k == "cipassword" {
                            "**********".to_owned()
                        } else {
                            v.clone()
                        }
                    };
                    Ok(keys
                        .into_iter()
                        .map(|k| {
                            let mut e = serde_json::json!({ "key": k });
                            if let Some(v) = old.get(k) {
                                e["value"] = mask(k, v).into();
                            }
                            match (old.get(k), now.get(k)) {
                                (Some(a), Some(b)) if a != b => e["pending"] = mask(k, b).into(),
                                (None, Some(b)) => e["pending"] = mask(k, b).into(),
                                (Some(_), None) => e["delete"] = 1.into(),
                                _ => {}
                            }
                            e
                        })
                        .collect())
                })
            },
        )
        .await
    }

    /// `PUT /nodes/{node}/qemu/{vmid}/cloudinit`: regenerate the image.
    pub async fn cloudinit_regenerate(&self, node: &str, vmid: u32) -> Result<()> {
        self.run(
            &endpoint::cloudinit::REGENERATE_CLOUDINIT,
            &[&node, &vmid],
            async {
                let call = self.on_vm(node, vmid).privilege("VM.Config.Cloudinit");
                call.update(|vm| {
                    if !vm.conf.values().any(|v| v.contains("-cloudinit")) {
                        return Err(e500(format!("VM {vmid} has no cloud-init drive")));
                    }
                    vm.cloudinit_generated = Some(crate::state::cloudinit_values(&vm.conf));
                    Ok(())
                })
            },
        )
        .await
    }

    /// `GET /cluster/status`.
    pub async fn cluster_status(&self) -> Result<Vec<serde_json::Value>> {
        self.run(&endpoint::cluster::CLUSTER_STATUS, &[], async {
            let st = self.sim.lock();
            let nodes = &self.sim.inner.config.nodes;
            let mut out = vec![serde_json::json!({
                "type": "cluster", "id": "cluster", "name": self.sim.inner.config.cluster_name,
                "nodes": nodes.len(), "quorate": 1, "version": nodes.len(),
            })];
            for (i, n) in nodes.iter().enumerate() {
                out.push(serde_json::json!({
                    "type": "node", "id": format!("node/{}", n.name), "name": n.name, "nodeid": i + 1,
                    "online": u8::from(st.online.get(&n.name).copied().unwrap_or(false)),
                    "local": u8::from(i == 0), "ip": format!("192.0.2.{}", i + 1), "level": "",
                }));
            }
            Ok(out)
        })
        .await
    }

    /// `GET /nodes/{node}/storage/{storage}/status`.
    pub async fn storage_status(&self, node: &str, storage: &str) -> Result<NodeStorage> {
        let node_n = NodeName::new(node);
        let found = self
            .node_storages(&node_n)
            .await?
            .into_iter()
            .find(|s| s.storage == storage);
        self.run(
            &endpoint::storage::STORAGE_STATUS,
            &[&node, &storage],
            async {
                let st = self.sim.lock();
                self.check_any(
                    &st,
                    &format!("/storage/{storage}"),
                    &["Datastore.Audit", "Datastore.AllocateSpace"],
                )?;
                found.ok_or_else(|| e500(format!("storage '{storage}' does not exist")))
            },
        )
        .await
    }

    /// `GET /nodes/{node}/tasks` (or `/cluster/tasks` with `None`): tasks the
    /// caller may see, newest first. `status` is the exit text of finished tasks.
    pub async fn list_tasks(&self, node: Option<&str>) -> Result<Vec<serde_json::Value>> {
        let (route, arguments): (_, &[&(dyn std::fmt::Display + Sync)]) = match &node {
            Some(n) => (&endpoint::tasks::NODE_TASKS, &[n]),
            None => (&endpoint::tasks::CLUSTER_TASKS, &[]),
        };
        self.run(route, arguments, async {
            let st = self.sim.lock();
            if let Some(n) = node {
                self.on_node(n).open(&st)?;
            }
            let mut out: Vec<(u64, u32, serde_json::Value)> = st
                .tasks
                .values()
                .filter(|t| node.is_none_or(|n| t.upid.node == n))
                .filter(|t| self.check_task_access(&st, &t.upid).is_ok())
                .map(|t| {
                    let u = &t.upid;
                    let (user, token) = u.user_and_token();
                    let mut e = serde_json::json!({
                        "upid": u.to_string(), "node": u.node, "pid": u.pid, "pstart": u.pstart,
                        "starttime": u.starttime, "type": u.task_type, "id": u.id, "user": user,
                    });
                    if let Some(tk) = token {
                        e["tokenid"] = tk.into();
                    }
                    if let (Some(s), Some(end)) = (&t.exitstatus, t.endtime) {
                        e["status"] = s.clone().into();
                        e["endtime"] = end.into();
                    }
                    (u.starttime, u.pid, e)
                })
                .collect();
            out.sort_by_key(|x| std::cmp::Reverse((x.0, x.1)));
            Ok(out.into_iter().map(|x| x.2).collect())
        })
        .await
    }

    /// `GET /access/acl`: every entry for callers with `Sys.Audit` on `/access`, otherwise the
    /// entries on paths where the caller may change permissions (`Permissions.Modify`, or the
    /// path kind's allocation privilege), as pve-access-control's `read_acl`.
    pub async fn acl_list(&self) -> Result<Vec<serde_json::Value>> {
        self.run(&endpoint::access::ACL, &[], async {
            let st = self.sim.lock();
            let audit = st.has(&self.who, "/access", "Sys.Audit");
            Ok(st
                .access
                .acl
                .iter()
                .filter(|e| audit || self.may_modify_permissions(&st, &e.path))
                .map(|e| {
                    serde_json::json!({
                        "path": e.path, "roleid": e.role, "ugid": e.subject,
                        "type": if e.subject.contains('!') { "token" } else { "user" },
                        "propagate": u8::from(e.propagate),
                    })
                })
                .collect())
        })
        .await
    }

    /// Whether the caller may change the permissions on `path` (`check_perm_modify`).
    pub(crate) fn may_modify_permissions(&self, st: &State, path: &str) -> bool {
        Self::permission_modify_privileges(path)
            .iter()
            .any(|privilege| st.has(&self.who, path, privilege))
    }

    /// The privileges of which one lets the caller change permissions on `path`.
    pub(crate) fn permission_modify_privileges(path: &str) -> Vec<&'static str> {
        let mut privileges = vec!["Permissions.Modify"];
        if path.starts_with("/storage/") {
            privileges.push("Datastore.Allocate");
        } else if path.starts_with("/vms/") {
            privileges.push("VM.Allocate");
        } else if path.starts_with("/pool/") {
            privileges.push("Pool.Allocate");
        }
        privileges
    }

    /// `GET /access/roles`.
    pub async fn roles_list(&self) -> Result<Vec<serde_json::Value>> {
        self.run(&endpoint::access::ROLES, &[], async {
            let st = self.sim.lock();
            Ok(st
                .access
                .roles
                .iter()
                .map(|(id, privs)| {
                    let p: Vec<&str> = privs.iter().map(String::as_str).collect();
                    serde_json::json!({ "roleid": id, "privs": p.join(","), "special": 1 })
                })
                .collect())
        })
        .await
    }

    /// `GET /access/permissions[?path=&userid=]`: the privileges of the caller, or of `userid`
    /// (a user or token; another's needs `Sys.Audit` on `/access` unless it is the caller's own
    /// token), per path: `path` alone, or as `get_effective_permissions` the top-level paths,
    /// every ACL path and every pool member's path, where any privilege is held.
    pub async fn permissions(
        &self,
        path: Option<&str>,
        userid: Option<&str>,
    ) -> Result<serde_json::Value> {
        self.run(&endpoint::access::PERMISSIONS, &[], async {
            let st = self.sim.lock();
            let own = self.who.full();
            let subject = match userid {
                None => self.who.clone(),
                Some(id) => {
                    let (user, token) = match id.split_once('!') {
                        Some((user, token)) => (user, Some(token.to_owned())),
                        None => (id, None),
                    };
                    let owned_token = token.is_some() && user == own;
                    if id != own && !owned_token {
                        self.check(&st, "/access", "Sys.Audit")?;
                    }
                    Identity {
                        user: user.to_owned(),
                        token,
                    }
                }
            };
            let paths: BTreeSet<String> = match path {
                Some(p) => [p.to_owned()].into(),
                None => [
                    "/",
                    "/access",
                    "/access/groups",
                    "/nodes",
                    "/pool",
                    "/sdn",
                    "/storage",
                    "/vms",
                ]
                .into_iter()
                .map(str::to_owned)
                .chain(st.access.acl.iter().map(|e| e.path.clone()))
                .chain(st.pools.values().flat_map(|p| {
                    p.vms
                        .iter()
                        .map(|v| format!("/vms/{v}"))
                        .chain(p.storage.iter().map(|s| format!("/storage/{s}")))
                        .collect::<Vec<_>>()
                }))
                .collect(),
            };
            let mut out = serde_json::Map::new();
            for p in paths {
                let privs: serde_json::Map<String, serde_json::Value> = st
                    .privs(&subject, &p)
                    .into_iter()
                    .map(|x| (x, 1.into()))
                    .collect();
                if path.is_some() || !privs.is_empty() {
                    out.insert(p, privs.into());
                }
            }
            Ok(serde_json::Value::Object(out))
        })
        .await
    }

    /// `GET /access/users[?full=1]`: every user for callers with `User.Modify` or `Sys.Audit`
    /// on `/access/groups`, otherwise only the caller's own user; with `full`, each user's API
    /// tokens.
    pub async fn users_list(&self, full: bool) -> Result<Vec<serde_json::Value>> {
        self.run(&endpoint::access::USERS, &[], async {
            let st = self.sim.lock();
            let all = st.has(&self.who, "/access/groups", "User.Modify")
                || st.has(&self.who, "/access/groups", "Sys.Audit");
            Ok(st
                .access
                .users
                .iter()
                .filter(|(id, _)| all || **id == self.who.user)
                .map(|(id, u)| {
                    let mut e = serde_json::json!({ "userid": id, "enable": u8::from(u.enable), "expire": 0 });
                    if let Some(c) = &u.comment {
                        e["comment"] = c.clone().into();
                    }
                    if full {
                        e["tokens"] = Self::token_entries(&st, id).into();
                    }
                    e
                })
                .collect())
        })
        .await
    }

    /// The tokens of `userid` as `GET /access/users/{userid}/token` lists them.
    fn token_entries(st: &State, userid: &str) -> Vec<serde_json::Value> {
        let prefix = format!("{userid}!");
        st.access
            .tokens
            .iter()
            .filter_map(|(id, t)| id.strip_prefix(&prefix).map(|name| (name, t)))
            .map(|(name, t)| {
                let mut e = serde_json::json!({ "tokenid": name, "privsep": u8::from(t.privsep), "expire": t.expire });
                if let Some(c) = &t.comment {
                    e["comment"] = c.clone().into();
                }
                e
            })
            .collect()
    }

    /// The check of the token endpoints (`['or', ['userid-param', 'self'], ['userid-group',
    /// ['User.Modify']]]`): the user itself (with a ticket: a token's user id is the token id),
    /// or `User.Modify`; otherwise a bare `Permission check failed`.
    pub(crate) fn check_token_admin(
        &self,
        st: &State,
        userid: &str,
    ) -> std::result::Result<(), ApiError> {
        if (self.who.token.is_none() && self.who.user == userid)
            || st.has(&self.who, "/access/groups", "User.Modify")
        {
            Ok(())
        } else {
            Err(ApiError::new(403, "Permission check failed"))
        }
    }

    /// `GET /access/users/{userid}/token`.
    pub async fn tokens_list(&self, userid: &str) -> Result<Vec<serde_json::Value>> {
        self.run(&endpoint::access::TOKENS, &[&userid], async {
            let st = self.sim.lock();
            self.check_token_admin(&st, userid)?;
            if !st.access.users.contains_key(userid) {
                return Err(e500(format!("no such user ('{userid}')")));
            }
            Ok(Self::token_entries(&st, userid))
        })
        .await
    }

    /// `GET /nodes/{node}/status`.
    pub async fn node_status(&self, node: &str) -> Result<serde_json::Value> {
        self.run(&endpoint::cluster::NODE_STATUS, &[&node], async {
            self.on_node(node).privilege(format!("/nodes/{node}"), "Sys.Audit").read(|st| {
                let spec = self
                    .sim
                    .inner
                    .config
                    .nodes
                    .iter()
                    .find(|n| n.name == node)
                    .ok_or_else(|| e500(format!("no such node '{node}'")))?;
                let used: u64 =
                    st.vms.values().filter(|v| v.node == node && v.running).map(|v| v.memory_mib() << 20).sum();
                let base = 2u64 << 30;
                let used = (used + base).min(spec.memory);
                Ok(serde_json::json!({
                    "boot-info": {"mode": "efi", "secureboot": 0},
                    "cpu": 0.02,
                    "cpuinfo": {"cores": spec.cpus / 2, "cpus": spec.cpus, "model": "Simulated CPU", "sockets": 1},
                    "current-kernel": {
                        "machine": "x86_64", "release": "6.14.8-2-pve", "sysname": "Linux",
                        "version": "#1 SMP PREEMPT_DYNAMIC PMX 6.14.8-2 (2025-07-22T10:04Z)",
                    },
                    "loadavg": ["0.10", "0.05", "0.01"],
                    "memory": {
                        "available": spec.memory - used, "free": spec.memory - used,
                        "total": spec.memory, "used": used,
                    },
                    "pveversion": "pve-manager/9.1.9/5b2c9d0e2a7c4f31",
                    "rootfs": {"avail": 90u64 << 30, "free": 90u64 << 30, "total": 100u64 << 30, "used": 10u64 << 30},
                    "uptime": 86_400,
                }))
            })
        })
        .await
    }
}
