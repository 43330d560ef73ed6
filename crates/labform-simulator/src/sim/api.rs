//! The [`ProxmoxApi`] implementation of [`SimClient`]: one method per
//! endpoint, with permission checks, validation and task workers.

use super::*;

#[async_trait::async_trait]
impl ProxmoxApi for SimClient {
    async fn version(&self) -> Result<Version> {
        self.run("GET", "/version", wp("/version"), async {
            Ok(Version {
                version: "9.1.9".into(),
                release: "9.1".into(),
                repoid: "5b2c9d0e2a7c4f31".into(),
            })
        })
        .await
    }

    async fn nodes(&self) -> Result<Vec<NodeEntry>> {
        self.run("GET", "/nodes", wp("/nodes"), async {
            let st = self.sim.lock();
            Ok(self
                .sim
                .inner
                .config
                .nodes
                .iter()
                .map(|n| {
                    let online = st.online.get(&n.name).copied().unwrap_or(false);
                    let audit = st.has(&self.who, &format!("/nodes/{}", n.name), "Sys.Audit");
                    let mem: u64 = st
                        .vms
                        .values()
                        .filter(|v| v.node == n.name && v.running)
                        .map(|v| v.memory_mib() << 20)
                        .sum();
                    NodeEntry {
                        node: n.name.clone(),
                        status: if online { "online" } else { "offline" }.into(),
                        cpu: (audit && online).then_some(0.02),
                        maxcpu: audit.then_some(u64::from(n.cpus)),
                        mem: (audit && online).then_some(mem),
                        maxmem: audit.then_some(n.memory),
                        uptime: (audit && online).then_some(86_400),
                    }
                })
                .collect())
        })
        .await
    }

    async fn cluster_resources(&self, kind: Option<ResourceType>) -> Result<Vec<ClusterResource>> {
        self.run(
            "GET",
            "/cluster/resources",
            wp("/cluster/resources"),
            async {
                let st = self.sim.lock();
                let mut out = Vec::new();
                if kind.is_none() || kind == Some(ResourceType::Vm) {
                    for vm in st.vms.values() {
                        if !st.has(&self.who, &format!("/vms/{}", vm.vmid), "VM.Audit") {
                            continue;
                        }
                        // Freshly created or cloned VMs are in the vmlist before
                        // pvestatd has reported their stats.
                        let t = self.sim.inner.config.timing;
                        let fresh = matches!(vm.lock(), Some("clone") | Some("create"))
                            || vm.created_at.elapsed() < t.dur(t.resources_lag_secs);
                        let disk: u64 = vm
                            .conf
                            .iter()
                            .filter(|(k, _)| is_drive_key(k))
                            .filter_map(|(_, v)| Drive::parse(v).ok())
                            .filter(|d| !d.is_cdrom())
                            .filter_map(|d| d.size.map(|s| s.0))
                            .sum();
                        out.push(ClusterResource {
                            id: format!("qemu/{}", vm.vmid),
                            kind: "qemu".into(),
                            node: Some(vm.node.clone()),
                            vmid: Some(u64::from(vm.vmid)),
                            name: if fresh {
                                None
                            } else {
                                vm.conf
                                    .get("name")
                                    .cloned()
                                    .or(Some(format!("VM {}", vm.vmid)))
                            },
                            status: Some(
                                if fresh {
                                    "unknown"
                                } else if vm.running {
                                    "running"
                                } else {
                                    "stopped"
                                }
                                .into(),
                            ),
                            template: (!fresh).then_some(vm.is_template()),
                            maxcpu: (!fresh).then_some(vm.cpus() as f64),
                            cpu: (!fresh).then_some(if vm.running { 0.01 } else { 0.0 }),
                            maxmem: (!fresh).then_some(vm.memory_mib() << 20),
                            mem: (!fresh).then_some(if vm.running {
                                (vm.memory_mib() << 20) / 2
                            } else {
                                0
                            }),
                            maxdisk: (!fresh).then_some(disk),
                            disk: (!fresh).then_some(0),
                            uptime: (!fresh).then_some(if vm.running { 1 } else { 0 }),
                            pool: vm
                                .pool
                                .clone()
                                .filter(|p| st.has(&self.who, &format!("/pool/{p}"), "Pool.Audit")),
                            tags: vm.conf.get("tags").cloned(),
                            lock: vm.lock().map(str::to_owned),
                            ..Default::default()
                        });
                    }
                }
                if kind.is_none() || kind == Some(ResourceType::Node) {
                    for n in &self.sim.inner.config.nodes {
                        let audit = st.has(&self.who, &format!("/nodes/{}", n.name), "Sys.Audit");
                        let online = st.online.get(&n.name).copied().unwrap_or(false);
                        out.push(ClusterResource {
                            id: format!("node/{}", n.name),
                            kind: "node".into(),
                            node: Some(n.name.clone()),
                            status: Some(if online { "online" } else { "offline" }.into()),
                            maxcpu: audit.then_some(f64::from(n.cpus)),
                            maxmem: audit.then_some(n.memory),
                            ..Default::default()
                        });
                    }
                }
                if kind.is_none() || kind == Some(ResourceType::Storage) {
                    for n in &self.sim.inner.config.nodes {
                        for s in &self.sim.inner.config.storages {
                            if !(s.nodes.is_empty() || s.nodes.contains(&n.name))
                                || !st.has(
                                    &self.who,
                                    &format!("/storage/{}", s.id),
                                    "Datastore.Audit",
                                )
                            {
                                continue;
                            }
                            let key = Simulator::store_key(s, &n.name);
                            out.push(ClusterResource {
                                id: format!("storage/{}/{}", n.name, s.id),
                                kind: "storage".into(),
                                node: Some(n.name.clone()),
                                storage: Some(s.id.clone()),
                                plugintype: Some(s.kind.as_str().into()),
                                status: Some("available".into()),
                                shared: Some(s.shared),
                                content: Some(s.content.join(",")),
                                maxdisk: Some(s.capacity),
                                disk: Some(Simulator::used_bytes(&st, &key)),
                                ..Default::default()
                            });
                        }
                    }
                }
                Ok(out)
            },
        )
        .await
    }

    async fn next_vmid(&self, check: Option<VmId>) -> Result<VmId> {
        self.run("GET", "/cluster/nextid", wp("/cluster/nextid"), async {
            let st = self.sim.lock();
            if let Some(v) = check {
                if st.vms.contains_key(&v.get()) {
                    return Err(ApiError::param("vmid", format!("VM {v} already exists")));
                }
                return Ok(v);
            }
            (100..1_000_000u32)
                .find(|id| !st.vms.contains_key(id))
                .and_then(|id| VmId::new(id).ok())
                .ok_or_else(|| e500("unable to get any free VMID in range [100, 999999]"))
        })
        .await
    }

    async fn create_vm(&self, node: &NodeName, req: &CreateVm) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid_u32(req.vmid);
        self.run(
            "POST",
            "/nodes/{node}/qemu",
            format!("/nodes/{node}/qemu"),
            async {
                let (set, disks) = {
                    let mut st = self.sim.lock();
                    self.check_node(&st, node)?;
                    let mut errors = BTreeMap::new();
                    let mut set = BTreeMap::new();
                    for (k, v) in &req.config {
                        match normalize_config_value(k, v) {
                            Ok(v) => {
                                set.insert(k.clone(), v);
                            }
                            Err(e) => {
                                errors.insert(k.clone(), e);
                            }
                        }
                    }
                    if !errors.is_empty() {
                        return Err(ApiError::params(errors));
                    }
                    // `check_vm_perm`: VM.Allocate on the pool, else on the VM (whose error
                    // names the VM).
                    let pool_ok = req
                        .pool
                        .as_ref()
                        .is_some_and(|p| st.has(&self.who, &format!("/pool/{p}"), "VM.Allocate"));
                    if !pool_ok {
                        self.check(&st, &format!("/vms/{vmid}"), "VM.Allocate")?;
                    }
                    if let Some(p) = &req.pool
                        && !st.pools.contains_key(p)
                    {
                        return Err(e500(format!("pool '{p}' does not exist")));
                    }
                    self.check_disk_sources(&st, node, &set)?;
                    if let Some(other) = st.vms.get(&vmid) {
                        return Err(e500(format!(
                            "unable to create VM {vmid} - VM {vmid} already exists on node '{}'",
                            other.node
                        )));
                    }
                    let disks = Self::new_disks(&set);
                    let mut vm = Vm::new(vmid, node);
                    vm.conf.insert("lock".into(), "create".into());
                    vm.pool = req.pool.clone();
                    st.vms.insert(vmid, vm);
                    if let Some(p) = &req.pool {
                        st.pools.entry(p.clone()).or_default().vms.insert(vmid);
                    }
                    (set, disks)
                };
                let sim = self.sim.clone();
                let start = req.start;
                let node_s = node.to_owned();
                let who = self.who.clone();
                Ok(self.sim.spawn_task(
                    node,
                    "qmcreate",
                    &vmid.to_string(),
                    &self.who,
                    move |log| async move {
                        let made =
                            match SimClient::materialize_disks(&sim, &node_s, vmid, disks, &log)
                                .await
                            {
                                Ok(m) => m,
                                Err(e) => {
                                    sim.lock().vms.remove(&vmid);
                                    return Err(format!("unable to create VM {vmid} - {e}"));
                                }
                            };
                        {
                            let mut st = sim.lock();
                            let mut set = set;
                            set.extend(made);
                            let uuid = Simulator::gen_uuid(&mut st);
                            set.entry("smbios1".into())
                                .or_insert(format!("uuid={uuid}"));
                            let vmgen = Simulator::gen_uuid(&mut st);
                            set.entry("vmgenid".into()).or_insert(vmgen);
                            set.entry("meta".into())
                                .or_insert(format!("creation-qemu=9.2.0,ctime={}", unix_now()));
                            SimClient::apply_update(
                                &mut st,
                                &sim.inner.config,
                                vmid,
                                set,
                                vec![],
                                &[],
                            );
                            if let Some(vm) = st.vms.get_mut(&vmid) {
                                vm.conf.remove("lock");
                            }
                        }
                        if start {
                            let c = sim.client(who);
                            c.do_start(&node_s, vmid, &log).await?;
                        }
                        Ok(())
                    },
                ))
            },
        )
        .await
    }

    async fn vm_config(&self, node: &NodeName, vmid: VmId, current: bool) -> Result<VmConfig> {
        let j = self
            .config_json(node.as_str(), vmid.get(), current, None)
            .await?;
        serde_json::from_value(serde_json::Value::Object(j)).map_err(|source| Error::Decode {
            method: "GET".into(),
            path: "/nodes/{node}/qemu/{vmid}/config".into(),
            source,
        })
    }

    async fn update_vm_config(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid.get();
        self.run(
            "POST",
            "/nodes/{node}/qemu/{vmid}/config",
            format!("/nodes/{node}/qemu/{vmid}/config"),
            async {
                let (set, delete) = {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    let vm = Self::vm(&st, node, vmid)?;
                    let prepared = self.prepare_update(&st, vmid, update)?;
                    self.check_disk_sources(&st, node, &prepared.0)?;
                    if let Some(d) = &update.digest
                        && *d != vm.digest()
                    {
                        return Err(e500("checksum mismatch (file change by other user?)"));
                    }
                    Self::check_lock(vm)?;
                    prepared
                };
                let sim = self.sim.clone();
                let digest = update.digest.clone();
                let revert = update.revert.clone();
                let node_s = node.to_owned();
                Ok(self.sim.spawn_task(
                    node,
                    "qmconfig",
                    &vmid.to_string(),
                    &self.who,
                    move |log| async move {
                        let t = sim.inner.config.timing;
                        let _g = sim
                            .inner
                            .locks
                            .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                            .await?;
                        {
                            let st = sim.lock();
                            let vm = SimClient::vm(&st, &node_s, vmid).map_err(|e| e.message)?;
                            if let Some(d) = &digest
                                && *d != vm.digest()
                            {
                                return Err("checksum mismatch (file change by other user?)".into());
                            }
                            SimClient::check_lock(vm).map_err(|e| e.message)?;
                        }
                        let disks = SimClient::new_disks(&set);
                        let made =
                            SimClient::materialize_disks(&sim, &node_s, vmid, disks, &log).await?;
                        let mut set = set;
                        set.extend(made);
                        for (k, v) in &set {
                            log.log(format!("update VM {vmid}: -{k} {v}"));
                        }
                        SimClient::apply_update(
                            &mut sim.lock(),
                            &sim.inner.config,
                            vmid,
                            set,
                            delete,
                            &revert,
                        );
                        Ok(())
                    },
                ))
            },
        )
        .await
    }

    async fn update_vm_config_sync(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<()> {
        let node = node.as_str();
        let vmid = vmid.get();
        self.run(
            "PUT",
            "/nodes/{node}/qemu/{vmid}/config",
            format!("/nodes/{node}/qemu/{vmid}/config"),
            async {
                let (set, delete) = {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    let vm = Self::vm(&st, node, vmid)?;
                    Self::check_lock(vm)?;
                    let p = self.prepare_update(&st, vmid, update)?;
                    if !Self::new_disks(&p.0).is_empty() {
                        // Allowed by Proxmox, but it blocks; we require POST for allocation.
                        self.check_disk_sources(&st, node, &p.0)?;
                    }
                    p
                };
                let t = self.sim.inner.config.timing;
                let _g = self
                    .sim
                    .inner
                    .locks
                    .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                    .await
                    .map_err(e500)?;
                let disks = Self::new_disks(&set);
                let mut set = set;
                if !disks.is_empty() {
                    let log = TaskLog {
                        sim: self.sim.clone(),
                        upid: String::new(),
                    };
                    set.extend(
                        Self::materialize_disks(&self.sim, node, vmid, disks, &log)
                            .await
                            .map_err(e500)?,
                    );
                }
                let mut st = self.sim.lock();
                let vm = Self::vm(&st, node, vmid)?;
                if let Some(d) = &update.digest
                    && *d != vm.digest()
                {
                    return Err(e500("checksum mismatch (file change by other user?)"));
                }
                Self::check_lock(vm)?;
                Self::apply_update(
                    &mut st,
                    &self.sim.inner.config,
                    vmid,
                    set,
                    delete,
                    &update.revert,
                );
                Ok(())
            },
        )
        .await
    }

    async fn vm_pending(&self, node: &NodeName, vmid: VmId) -> Result<Vec<PendingEntry>> {
        let j = self.pending_json(node.as_str(), vmid.get()).await?;
        serde_json::from_value(serde_json::Value::Array(j)).map_err(|source| Error::Decode {
            method: "GET".into(),
            path: "/nodes/{node}/qemu/{vmid}/pending".into(),
            source,
        })
    }

    async fn resize_disk(&self, node: &NodeName, vmid: VmId, req: &ResizeDisk) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid.get();
        self.run(
            "PUT",
            "/nodes/{node}/qemu/{vmid}/resize",
            format!("/nodes/{node}/qemu/{vmid}/resize"),
            async {
                let (add, absolute) = match req.size.strip_prefix('+') {
                    Some(s) => (true, s),
                    None => (false, req.size.as_str()),
                };
                let size = ByteSize::parse(absolute).ok_or_else(|| {
                    ApiError::param("size", "value does not match the regex pattern".to_string())
                })?;
                {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    self.check(&st, &format!("/vms/{vmid}"), "VM.Config.Disk")?;
                    let vm = Self::vm(&st, node, vmid)?;
                    if !is_drive_key(&req.disk) {
                        return Err(ApiError::param(
                            "disk",
                            format!(
                                "value '{}' does not have a value in the enumeration",
                                req.disk
                            ),
                        ));
                    }
                    if !vm.conf.contains_key(&req.disk) {
                        return Err(e500(format!("disk '{}' does not exist", req.disk)));
                    }
                    if let Some(d) = &req.digest
                        && *d != vm.digest()
                    {
                        return Err(e500("checksum mismatch (file change by other user?)"));
                    }
                    Self::check_lock(vm)?;
                }
                let sim = self.sim.clone();
                let disk = req.disk.clone();
                let node_s = node.to_owned();
                Ok(self.sim.spawn_task(
                    node,
                    "resize",
                    &vmid.to_string(),
                    &self.who,
                    move |log| async move {
                        let t = sim.inner.config.timing;
                        let _g = sim
                            .inner
                            .locks
                            .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                            .await?;
                        tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                        let (mut drive, new, file, running) = {
                            let st = sim.lock();
                            let vm = SimClient::vm(&st, &node_s, vmid).map_err(|e| e.message)?;
                            let drive =
                                Drive::parse(vm.conf.get(&disk).map(String::as_str).unwrap_or(""))
                                    .map_err(|e| e.to_string())?;
                            let old = drive.size.map(|s| s.0).unwrap_or(0);
                            let new = if add { old + size.0 } else { size.0 };
                            if new < old {
                                return Err("shrinking disks is not supported".into());
                            }
                            let file = match &drive.volume {
                                DriveVolume::Volume { storage, name } => {
                                    sim.volume_file(&node_s, &format!("{storage}:{name}"))
                                }
                                _ => None,
                            };
                            let running = vm.running.then(|| (vmid, disk.clone()));
                            (drive, new, file, running)
                        };
                        if let Some(file) = file {
                            sim.on_backend(move |b| {
                                b.resize_disk(
                                    &file,
                                    new,
                                    running.as_ref().map(|(id, key)| (*id, key.as_str())),
                                )
                            })
                            .await?;
                        }
                        let mut st = sim.lock();
                        let vm =
                            SimClient::vm_mut(&mut st, &node_s, vmid).map_err(|e| e.message)?;
                        drive
                            .set("size", &ByteSize(new).to_string())
                            .map_err(|e| e.to_string())?;
                        vm.conf.insert(disk.clone(), drive.canonical());
                        if let DriveVolume::Volume { storage, name } = &drive.volume
                            && let Some(spec) = sim.storage(storage).cloned()
                            && let Some(v) = st
                                .volumes
                                .get_mut(&Simulator::store_key(&spec, &node_s))
                                .and_then(|m| m.get_mut(name))
                        {
                            v.size = new;
                        }
                        log.log(format!("resized {disk} to {}", ByteSize(new)));
                        Ok(())
                    },
                ))
            },
        )
        .await
    }

    async fn convert_to_template(&self, node: &NodeName, vmid: VmId) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid.get();
        self.run("POST", "/nodes/{node}/qemu/{vmid}/template", format!("/nodes/{node}/qemu/{vmid}/template"), async {
            {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                self.check(&st, &format!("/vms/{vmid}"), "VM.Allocate")?;
                let vm = Self::vm(&st, node, vmid)?;
                Self::check_lock(vm)?;
                if vm.is_template() {
                    return Err(e500("VM is already a template"));
                }
                if vm.running {
                    return Err(e500("you can't convert a VM to template if VM is running"));
                }
                if !vm.snapshots.is_empty() {
                    return Err(e500("unable to create template, because VM contains snapshots"));
                }
            }
            let sim = self.sim.clone();
            let node_s = node.to_owned();
            Ok(self.sim.spawn_task(node, "qmtemplate", &vmid.to_string(), &self.who, move |log| async move {
                let t = sim.inner.config.timing;
                let _g = sim.inner.locks.exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs)).await?;
                let drives: Vec<(String, Drive)> = {
                    let st = sim.lock();
                    let vm = SimClient::vm(&st, &node_s, vmid).map_err(|e| e.message)?;
                    vm.conf
                        .iter()
                        .filter(|(k, _)| is_drive_key(k))
                        .filter_map(|(k, v)| Drive::parse(v).ok().map(|d| (k.clone(), d)))
                        .filter(|(_, d)| !d.is_cdrom())
                        .collect()
                };
                let mut renamed = Vec::new();
                for (key, mut drive) in drives {
                    let DriveVolume::Volume { storage, name } = drive.volume.clone() else { continue };
                    let spec = sim.storage_on(&storage, &node_s).map_err(|e| e.message)?.clone();
                    if spec.kind == StorageKind::Lvm {
                        return Err(format!("unable to create base volume - storage '{storage}' does not support templates"));
                    }
                    let _sg = sim.inner.locks.storage(&spec.id, spec.shared, t.dur(t.storage_lock_timeout_secs)).await?;
                    tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                    let new_name = name.replacen("vm-", "base-", 1);
                    let store = Simulator::store_key(&spec, &node_s);
                    let (from, to) = (VolumeFile::new(store.clone(), name.clone()), VolumeFile::new(store, new_name.clone()));
                    sim.on_backend(move |b| b.rename_volume(&from, &to)).await?;
                    let mut st = sim.lock();
                    if let Some(vols) = st.volumes.get_mut(&Simulator::store_key(&spec, &node_s))
                        && let Some(v) = vols.remove(&name)
                    {
                        vols.insert(new_name.clone(), v);
                    }
                    drive.set_volume(DriveVolume::Volume { storage: storage.clone(), name: new_name.clone() });
                    log.log(format!("{key}: converted '{storage}:{name}' to base volume '{storage}:{new_name}'"));
                    renamed.push((key, drive.canonical()));
                }
                let mut st = sim.lock();
                let vm = SimClient::vm_mut(&mut st, &node_s, vmid).map_err(|e| e.message)?;
                vm.conf.extend(renamed);
                vm.conf.insert("template".into(), "1".into());
                Ok(())
            }))
        })
        .await
    }

    async fn clone_vm(&self, node: &NodeName, vmid: VmId, req: &CloneVm) -> Result<Upid> {
        let node = node.as_str();
        let src = vmid.get();
        let newid = req.newid.get();
        self.run(
            "POST",
            "/nodes/{node}/qemu/{vmid}/clone",
            format!("/nodes/{node}/qemu/{src}/clone"),
            async {
                let (full, target) = {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    let vm = Self::vm(&st, node, src)?;
                    self.check(&st, &format!("/vms/{src}"), "VM.Clone")?;
                    let pool_ok = req
                        .pool
                        .as_ref()
                        .is_some_and(|p| st.has(&self.who, &format!("/pool/{p}"), "VM.Allocate"));
                    // `['or', ['perm', '/vms/{newid}', ...], ['perm', '/pool/{pool}', ...]]`
                    // fails with the bare text.
                    if !pool_ok && !st.has(&self.who, &format!("/vms/{newid}"), "VM.Allocate") {
                        return Err(ApiError::new(403, "Permission check failed"));
                    }
                    if let Some(s) = &req.storage {
                        self.check(&st, &format!("/storage/{s}"), "Datastore.AllocateSpace")?;
                    }
                    let full = req.full.unwrap_or(!vm.is_template());
                    if !full {
                        if req.storage.is_some() {
                            return Err(ApiError::param(
                                "storage",
                                "parameter 'storage' not allowed for linked clones",
                            ));
                        }
                        if req.format.is_some() {
                            return Err(ApiError::param(
                                "format",
                                "parameter 'format' not allowed for linked clones",
                            ));
                        }
                    }
                    if let Some(n) = &req.name
                        && !dns_name_ok(n)
                    {
                        return Err(ApiError::param(
                            "name",
                            "invalid format - value does not look like a valid DNS name",
                        ));
                    }
                    let target = req.target.clone().unwrap_or_else(|| node.to_owned());
                    if target != node {
                        self.check_node(&st, &target)?;
                        let local = vm
                            .conf
                            .iter()
                            .filter(|(k, _)| is_drive_key(k))
                            .filter_map(|(_, v)| Drive::parse(v).ok())
                            .any(|d| {
                                d.volume
                                    .storage()
                                    .and_then(|s| self.sim.storage(s))
                                    .is_some_and(|s| !s.shared)
                            });
                        if local {
                            return Err(e500(format!(
                                "can't clone VM to node '{target}' (VM uses local storage)"
                            )));
                        }
                    }
                    if st.vms.contains_key(&newid) {
                        return Err(e500(format!(
                            "unable to create VM {newid}: config file already exists"
                        )));
                    }
                    if let Some(p) = &req.pool
                        && !st.pools.contains_key(p)
                    {
                        return Err(e500(format!("pool '{p}' does not exist")));
                    }
                    (full, target)
                };
                let sim = self.sim.clone();
                let req = req.clone();
                let node_s = node.to_owned();
                Ok(self.sim.spawn_task(
                    node,
                    "qmclone",
                    &src.to_string(),
                    &self.who,
                    move |log| async move {
                        sim.clone_worker(&node_s, src, newid, full, &target, &req, &log)
                            .await
                    },
                ))
            },
        )
        .await
    }

    async fn vm_status(&self, node: &NodeName, vmid: VmId) -> Result<VmStatus> {
        let node = node.as_str();
        let vmid = vmid.get();
        self.run(
            "GET",
            "/nodes/{node}/qemu/{vmid}/status/current",
            format!("/nodes/{node}/qemu/{vmid}/status/current"),
            async {
                let mut st = self.sim.lock();
                self.check_node(&st, node)?;
                self.check(&st, &format!("/vms/{vmid}"), "VM.Audit")?;
                self.sim.reap(&mut st, vmid);
                let vm = Self::vm(&st, node, vmid)?;
                Ok(VmStatus {
                    vmid: u64::from(vmid),
                    status: if vm.running { "running" } else { "stopped" }.into(),
                    name: vm.conf.get("name").cloned(),
                    lock: vm.lock().map(str::to_owned),
                    qmpstatus: Some(if vm.running { "running" } else { "stopped" }.into()),
                    uptime: Some(vm.started_at.map(|s| s.elapsed().as_secs()).unwrap_or(0)),
                    template: vm.is_template().then_some(true),
                    agent: agent_enabled(&vm.conf).then_some(true),
                    cpus: Some(vm.cpus() as f64),
                    maxmem: Some(vm.memory_mib() << 20),
                    maxdisk: Some(0),
                    ha: Some(serde_json::json!({ "managed": 0 })),
                })
            },
        )
        .await
    }

    async fn vm_action(&self, node: &NodeName, vmid: VmId, action: VmAction) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid.get();
        let template = format!("/nodes/{{node}}/qemu/{{vmid}}/status/{}", action.as_str());
        let path = format!("/nodes/{node}/qemu/{vmid}/status/{}", action.as_str());
        self.run("POST", &template, path, async {
            {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                self.check(&st, &format!("/vms/{vmid}"), "VM.PowerMgmt")?;
                let vm = Self::vm(&st, node, vmid)?;
                if action == VmAction::Start && vm.is_template() {
                    return Err(e500("you can't start a vm if it's a template"));
                }
                if action != VmAction::Stop {
                    Self::check_lock(vm)?;
                }
                if action == VmAction::Reboot && !vm.running {
                    return Err(e500(format!("VM {vmid} not running")));
                }
            }
            let c = self.clone();
            let node_s = node.to_owned();
            Ok(self.sim.spawn_task(
                node,
                action.task_type(),
                &vmid.to_string(),
                &self.who,
                move |log| async move {
                    let t = c.sim.inner.config.timing;
                    match action {
                        VmAction::Start => c.do_start(&node_s, vmid, &log).await,
                        VmAction::Stop | VmAction::Shutdown => {
                            let (running, agent) =
                                c.sim.lock().vms.get(&vmid).map_or((false, false), |v| {
                                    (v.running, agent_enabled(&v.conf))
                                });
                            if running && !c.sim.backend().runs_vms() {
                                let secs = if action == VmAction::Stop {
                                    t.storage_op_secs
                                } else {
                                    t.shutdown_secs
                                };
                                tokio::time::sleep(t.dur(secs)).await;
                            }
                            if action == VmAction::Stop {
                                c.sim.on_backend(move |b| b.stop(vmid)).await?;
                            } else {
                                c.sim.on_backend(move |b| b.shutdown(vmid, agent)).await?;
                            }
                            let mut st = c.sim.lock();
                            let vm =
                                SimClient::vm_mut(&mut st, &node_s, vmid).map_err(|e| e.message)?;
                            vm.running = false;
                            vm.started_at = None;
                            Ok(())
                        }
                        VmAction::Reboot => {
                            if c.sim.backend().runs_vms() {
                                let agent = c
                                    .sim
                                    .lock()
                                    .vms
                                    .get(&vmid)
                                    .is_some_and(|v| agent_enabled(&v.conf));
                                c.sim.on_backend(move |b| b.shutdown(vmid, agent)).await?;
                            } else {
                                tokio::time::sleep(t.dur(t.shutdown_secs)).await;
                            }
                            {
                                let mut st = c.sim.lock();
                                let vm = SimClient::vm_mut(&mut st, &node_s, vmid)
                                    .map_err(|e| e.message)?;
                                vm.running = false;
                                vm.started_at = None;
                            }
                            c.do_start(&node_s, vmid, &log).await
                        }
                    }
                },
            ))
        })
        .await
    }

    async fn delete_vm(&self, node: &NodeName, vmid: VmId, opts: DeleteVm) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid.get();
        self.run(
            "DELETE",
            "/nodes/{node}/qemu/{vmid}",
            format!("/nodes/{node}/qemu/{vmid}"),
            async {
                {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    self.check(&st, &format!("/vms/{vmid}"), "VM.Allocate")?;
                    let vm = Self::vm(&st, node, vmid)?;
                    Self::check_lock(vm)?;
                    if vm.running {
                        return Err(e500(format!("VM {vmid} is running - destroy failed")));
                    }
                    if vm.conf.get("protection").is_some_and(|p| p == "1") {
                        return Err(e500(format!(
                            "can't remove VM {vmid} - protection mode enabled"
                        )));
                    }
                }
                let sim = self.sim.clone();
                let node_s = node.to_owned();
                Ok(self.sim.spawn_task(
                    node,
                    "qmdestroy",
                    &vmid.to_string(),
                    &self.who,
                    move |log| async move {
                        let t = sim.inner.config.timing;
                        let _g = sim
                            .inner
                            .locks
                            .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                            .await?;
                        let volumes: Vec<String> = {
                            let st = sim.lock();
                            let vm = SimClient::vm(&st, &node_s, vmid).map_err(|e| e.message)?;
                            SimClient::check_lock(vm).map_err(|e| e.message)?;
                            let mut vols: Vec<String> = vm
                                .conf
                                .iter()
                                .filter(|(k, _)| is_drive_key(k) || indexed(k, "unused", 255))
                                .filter_map(|(_, v)| Drive::parse(v).ok())
                                .filter_map(|d| match d.volume {
                                    DriveVolume::Volume { storage, name } => {
                                        Some(format!("{storage}:{name}"))
                                    }
                                    _ => None,
                                })
                                .collect();
                            if opts.destroy_unreferenced_disks {
                                for (key, m) in &st.volumes {
                                    let storage = key.split('@').next().unwrap_or(key);
                                    for (name, v) in m {
                                        if v.vmid == Some(vmid) && v.content == "images" {
                                            vols.push(format!("{storage}:{name}"));
                                        }
                                    }
                                }
                                vols.sort();
                                vols.dedup();
                            }
                            // Only the VM's own volumes are freed, never
                            // attached ISO images or other VMs' disks.
                            vols.retain(|volid| {
                                volid
                                    .split_once(':')
                                    .and_then(|(s, n)| {
                                        let spec = sim.storage(s)?;
                                        st.volumes.get(&Simulator::store_key(spec, &node_s))?.get(n)
                                    })
                                    .is_some_and(|v| v.vmid == Some(vmid))
                            });
                            for v in &vols {
                                if Simulator::volume_in_use_as_base(&st, v) {
                                    return Err(format!(
                                        "base volume '{v}' is still in use by linked cloned"
                                    ));
                                }
                            }
                            vols
                        };
                        for volid in volumes {
                            let Some(spec) = volid
                                .split_once(':')
                                .and_then(|(s, _)| sim.storage(s))
                                .cloned()
                            else {
                                continue;
                            };
                            let _sg = sim
                                .inner
                                .locks
                                .storage(&spec.id, spec.shared, t.dur(t.storage_lock_timeout_secs))
                                .await?;
                            tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                            sim.free_volume(&mut sim.lock(), &node_s, &volid, &spec);
                            log.log(format!(
                                "  Logical volume \"{}\" successfully removed.",
                                volid.split_once(':').map(|x| x.1).unwrap_or("")
                            ));
                        }
                        sim.on_backend(move |b| b.forget(vmid)).await?;
                        let mut st = sim.lock();
                        if let Some(vm) = st.vms.remove(&vmid)
                            && let Some(p) = vm.pool
                            && let Some(pool) = st.pools.get_mut(&p)
                        {
                            pool.vms.remove(&vmid);
                        }
                        if opts.purge {
                            let path = format!("/vms/{vmid}");
                            st.access.acl.retain(|e| e.path != path);
                        }
                        Ok(())
                    },
                ))
            },
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
        let node = node.as_str();
        let target = target.as_str().to_owned();
        let vmid = vmid.get();
        self.run(
            "POST",
            "/nodes/{node}/qemu/{vmid}/migrate",
            format!("/nodes/{node}/qemu/{vmid}/migrate"),
            async {
                {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    self.check(&st, &format!("/vms/{vmid}"), "VM.Migrate")?;
                    if self.sim.backend().runs_vms() {
                        return Err(ApiError::new(
                            501,
                            "migration is not implemented by the simulator's QEMU backend",
                        ));
                    }
                    let vm = Self::vm(&st, node, vmid)?;
                    if target == node {
                        return Err(ApiError::param("target", "target is local node."));
                    }
                    self.check_node(&st, &target)?;
                    Self::check_lock(vm)?;
                    if vm.running && !online {
                        return Err(e500("can't migrate running VM without --online"));
                    }
                }
                let sim = self.sim.clone();
                let node_s = node.to_owned();
                Ok(self.sim.spawn_task(
                    node,
                    "qmigrate",
                    &vmid.to_string(),
                    &self.who,
                    move |log| async move {
                        let t = sim.inner.config.timing;
                        let _g = sim
                            .inner
                            .locks
                            .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                            .await?;
                        let local: Vec<(String, String, u64)> = {
                            let mut st = sim.lock();
                            let vm =
                                SimClient::vm_mut(&mut st, &node_s, vmid).map_err(|e| e.message)?;
                            vm.conf.insert("lock".into(), "migrate".into());
                            let vols: Vec<(String, String)> = vm
                                .conf
                                .iter()
                                .filter(|(k, _)| is_drive_key(k))
                                .filter_map(|(_, v)| Drive::parse(v).ok())
                                .filter_map(|d| match d.volume {
                                    DriveVolume::Volume { storage, name } => Some((storage, name)),
                                    _ => None,
                                })
                                .collect();
                            vols.into_iter()
                                .filter_map(|(s, n)| {
                                    let spec = sim.storage(&s)?;
                                    if spec.shared {
                                        return None;
                                    }
                                    let vol = st
                                        .volumes
                                        .get(&Simulator::store_key(spec, &node_s))?
                                        .get(&n)?;
                                    // Only the VM's own disks move with it.
                                    (vol.vmid == Some(vmid)).then_some((s, n, vol.size))
                                })
                                .collect()
                        };
                        log.log(format!(
                            "starting migration of VM {vmid} to node '{target}'"
                        ));
                        for (s, n, size) in local {
                            log.log(format!("copying local disk '{s}:{n}'"));
                            tokio::time::sleep(
                                t.dur(t.clone_secs_per_gib * size as f64 / ByteSize::GIB as f64),
                            )
                            .await;
                            let spec = sim.storage(&s).cloned().ok_or("storage vanished")?;
                            if !(spec.nodes.is_empty() || spec.nodes.contains(&target)) {
                                sim.lock().vms.get_mut(&vmid).map(|v| v.conf.remove("lock"));
                                return Err(format!(
                                    "storage '{s}' is not available on node '{target}'"
                                ));
                            }
                            let mut st = sim.lock();
                            let v = st
                                .volumes
                                .get_mut(&Simulator::store_key(&spec, &node_s))
                                .and_then(|m| m.remove(&n));
                            if let Some(v) = v {
                                st.volumes
                                    .entry(Simulator::store_key(&spec, &target))
                                    .or_default()
                                    .insert(n, v);
                            }
                        }
                        let mut st = sim.lock();
                        if let Some(vm) = st.vms.get_mut(&vmid) {
                            vm.node = target.clone();
                            vm.conf.remove("lock");
                        }
                        log.log("migration finished successfully");
                        Ok(())
                    },
                ))
            },
        )
        .await
    }

    async fn list_snapshots(&self, node: &NodeName, vmid: VmId) -> Result<Vec<SnapshotEntry>> {
        let node = node.as_str();
        let vmid = vmid.get();
        let path = format!("/nodes/{node}/qemu/{vmid}/snapshot");
        self.run("GET", "/nodes/{node}/qemu/{vmid}/snapshot", path, async {
            let st = self.sim.lock();
            self.check_node(&st, node)?;
            self.check(&st, &format!("/vms/{vmid}"), "VM.Audit")?;
            let vm = Self::vm(&st, node, vmid)?;
            let mut out: Vec<SnapshotEntry> = vm
                .snapshots
                .iter()
                .map(|(name, s)| SnapshotEntry {
                    name: name.clone(),
                    description: s.description.clone(),
                    parent: s.conf.get("parent").cloned(),
                    snaptime: Some(s.snaptime),
                    vmstate: Some(false),
                    running: None,
                    digest: None,
                })
                .collect();
            out.push(SnapshotEntry {
                name: "current".into(),
                description: "You are here!".into(),
                parent: vm.conf.get("parent").cloned(),
                snaptime: None,
                vmstate: None,
                running: Some(u64::from(vm.running)),
                digest: Some(vm.digest()),
            });
            Ok(out)
        })
        .await
    }

    async fn create_snapshot(
        &self,
        node: &NodeName,
        vmid: VmId,
        name: &str,
        description: Option<&str>,
    ) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid.get();
        let path = format!("/nodes/{node}/qemu/{vmid}/snapshot");
        self.run("POST", "/nodes/{node}/qemu/{vmid}/snapshot", path, async {
            {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                self.check(&st, &format!("/vms/{vmid}"), "VM.Snapshot")?;
                if self.sim.backend().runs_vms() {
                    return Err(ApiError::new(
                        501,
                        "snapshots are not implemented by the simulator's QEMU backend",
                    ));
                }
                let vm = Self::vm(&st, node, vmid)?;
                let valid = name.len() <= 40
                    && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
                if !valid {
                    return Err(ApiError::param(
                        "snapname",
                        "invalid format - invalid configuration ID",
                    ));
                }
                if name == "current" || name == "vzdump" {
                    return Err(e500(format!("invalid snapshot name '{name}'")));
                }
                if vm.snapshots.contains_key(name) {
                    return Err(e500(format!("snapshot name '{name}' already used")));
                }
                if vm.is_template() {
                    return Err(e500("you can't take a snapshot if it's a template"));
                }
                Self::check_lock(vm)?;
            }
            let sim = self.sim.clone();
            let (node_s, name_s, desc) = (
                node.to_owned(),
                name.to_owned(),
                description.unwrap_or("").to_owned(),
            );
            Ok(self.sim.spawn_task(
                node,
                "qmsnapshot",
                &vmid.to_string(),
                &self.who,
                move |log| async move {
                    let t = sim.inner.config.timing;
                    let _g = sim
                        .inner
                        .locks
                        .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                        .await?;
                    let drives: Vec<String> = {
                        let mut st = sim.lock();
                        let vm =
                            SimClient::vm_mut(&mut st, &node_s, vmid).map_err(|e| e.message)?;
                        SimClient::check_lock(vm).map_err(|e| e.message)?;
                        vm.conf.insert("lock".into(), "snapshot".into());
                        vm.conf
                            .iter()
                            .filter(|(k, _)| is_drive_key(k))
                            .filter_map(|(_, v)| Drive::parse(v).ok())
                            .filter(|d| !d.is_cdrom())
                            .filter_map(|d| d.volume.storage().map(str::to_owned))
                            .collect()
                    };
                    for storage in drives {
                        if sim
                            .storage(&storage)
                            .is_some_and(|s| s.kind == StorageKind::Lvm)
                        {
                            sim.lock().vms.get_mut(&vmid).map(|v| v.conf.remove("lock"));
                            return Err("snapshot feature is not available".to_string());
                        }
                        tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                    }
                    let mut st = sim.lock();
                    let vm = SimClient::vm_mut(&mut st, &node_s, vmid).map_err(|e| e.message)?;
                    vm.conf.remove("lock");
                    let conf = vm.conf.clone();
                    vm.snapshots.insert(
                        name_s.clone(),
                        Snapshot {
                            conf,
                            snaptime: unix_now(),
                            description: desc,
                        },
                    );
                    vm.conf.insert("parent".into(), name_s.clone());
                    log.log(format!("snapshot '{name_s}' created"));
                    Ok(())
                },
            ))
        })
        .await
    }

    async fn delete_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid.get();
        let path = format!("/nodes/{node}/qemu/{vmid}/snapshot/{name}");
        self.run(
            "DELETE",
            "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}",
            path,
            async {
                {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    self.check(&st, &format!("/vms/{vmid}"), "VM.Snapshot")?;
                    let vm = Self::vm(&st, node, vmid)?;
                    if !vm.snapshots.contains_key(name) {
                        return Err(e500(format!("snapshot '{name}' does not exist")));
                    }
                    Self::check_lock(vm)?;
                }
                let sim = self.sim.clone();
                let (node_s, name_s) = (node.to_owned(), name.to_owned());
                Ok(self.sim.spawn_task(
                    node,
                    "qmdelsnapshot",
                    &vmid.to_string(),
                    &self.who,
                    move |log| async move {
                        let t = sim.inner.config.timing;
                        let _g = sim
                            .inner
                            .locks
                            .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                            .await?;
                        tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                        let mut st = sim.lock();
                        let vm =
                            SimClient::vm_mut(&mut st, &node_s, vmid).map_err(|e| e.message)?;
                        let snap = vm
                            .snapshots
                            .remove(&name_s)
                            .ok_or_else(|| format!("snapshot '{name_s}' does not exist"))?;
                        let grandparent = snap.conf.get("parent").cloned();
                        let reparent = |conf: &mut BTreeMap<String, String>| {
                            if conf.get("parent") == Some(&name_s) {
                                match &grandparent {
                                    Some(g) => conf.insert("parent".into(), g.clone()),
                                    None => conf.remove("parent"),
                                };
                            }
                        };
                        reparent(&mut vm.conf);
                        for s in vm.snapshots.values_mut() {
                            reparent(&mut s.conf);
                        }
                        log.log(format!("snapshot '{name_s}' removed"));
                        Ok(())
                    },
                ))
            },
        )
        .await
    }

    async fn rollback_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid.get();
        let path = format!("/nodes/{node}/qemu/{vmid}/snapshot/{name}/rollback");
        self.run(
            "POST",
            "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback",
            path,
            async {
                {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    self.check(&st, &format!("/vms/{vmid}"), "VM.Snapshot.Rollback")?;
                    if self.sim.backend().runs_vms() {
                        return Err(ApiError::new(
                            501,
                            "snapshots are not implemented by the simulator's QEMU backend",
                        ));
                    }
                    let vm = Self::vm(&st, node, vmid)?;
                    if !vm.snapshots.contains_key(name) {
                        return Err(e500(format!("snapshot '{name}' does not exist")));
                    }
                    Self::check_lock(vm)?;
                }
                let sim = self.sim.clone();
                let (node_s, name_s) = (node.to_owned(), name.to_owned());
                Ok(self.sim.spawn_task(
                    node,
                    "qmrollback",
                    &vmid.to_string(),
                    &self.who,
                    move |log| async move {
                        let t = sim.inner.config.timing;
                        let _g = sim
                            .inner
                            .locks
                            .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                            .await?;
                        tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                        let mut st = sim.lock();
                        let vm =
                            SimClient::vm_mut(&mut st, &node_s, vmid).map_err(|e| e.message)?;
                        let snap = vm
                            .snapshots
                            .get(&name_s)
                            .cloned()
                            .ok_or_else(|| format!("snapshot '{name_s}' does not exist"))?;
                        if vm.running {
                            log.log("stopping VM before rollback");
                            vm.running = false;
                            vm.started_at = None;
                        }
                        vm.conf = snap.conf;
                        vm.conf.insert("parent".into(), name_s.clone());
                        vm.pending.clear();
                        vm.pending_delete.clear();
                        log.log(format!("rolled back to snapshot '{name_s}'"));
                        Ok(())
                    },
                ))
            },
        )
        .await
    }

    async fn upload(&self, node: &NodeName, storage: &StorageName, file: &Upload) -> Result<Upid> {
        self.upload_data(
            node.as_str(),
            storage.as_str(),
            &file.content,
            &file.filename,
            file.data.clone(),
        )
        .await
    }

    async fn task_status(&self, upid: &Upid) -> Result<TaskStatus> {
        let path = format!("/nodes/{}/tasks/{upid}/status", upid.node);
        self.run("GET", "/nodes/{node}/tasks/{upid}/status", path, async {
            let st = self.sim.lock();
            self.check_node(&st, &upid.node)?;
            let t = st
                .tasks
                .get(upid.as_str())
                .ok_or_else(|| e500("no such task"))?;
            self.check_task_access(&st, upid)?;
            let (user, tokenid) = upid.user_and_token();
            Ok(TaskStatus {
                upid: upid.to_string(),
                node: upid.node.clone(),
                pid: u64::from(upid.pid),
                pstart: upid.pstart,
                starttime: upid.starttime,
                task_type: upid.task_type.clone(),
                id: upid.id.clone(),
                user: user.to_owned(),
                tokenid: tokenid.map(str::to_owned),
                status: if t.exitstatus.is_some() {
                    TaskState::Stopped
                } else {
                    TaskState::Running
                },
                exitstatus: t.exitstatus.clone(),
            })
        })
        .await
    }

    async fn task_log(&self, upid: &Upid, start: u64, limit: u64) -> Result<types::TaskLog> {
        let path = format!("/nodes/{}/tasks/{upid}/log", upid.node);
        self.run("GET", "/nodes/{node}/tasks/{upid}/log", path, async {
            let st = self.sim.lock();
            self.check_node(&st, &upid.node)?;
            st.tasks
                .get(upid.as_str())
                .ok_or_else(|| e500("no such task"))?;
            self.check_task_access(&st, upid)?;
            drop(st);
            let logs = self
                .sim
                .inner
                .logs
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let log = logs.get(upid.as_str()).cloned().unwrap_or_default();
            let lines = log
                .iter()
                .enumerate()
                .skip(start as usize)
                .take(limit as usize)
                .map(|(i, l)| TaskLogLine {
                    n: i as u64 + 1,
                    t: l.clone(),
                })
                .collect();
            Ok(types::TaskLog {
                lines,
                total: log.len() as u64,
            })
        })
        .await
    }

    async fn node_storages(&self, node: &NodeName) -> Result<Vec<NodeStorage>> {
        let node = node.as_str();
        self.run(
            "GET",
            "/nodes/{node}/storage",
            format!("/nodes/{node}/storage"),
            async {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                Ok(self
                    .sim
                    .inner
                    .config
                    .storages
                    .iter()
                    .filter(|s| s.nodes.is_empty() || s.nodes.iter().any(|n| n == node))
                    .filter(|s| {
                        let p = format!("/storage/{}", s.id);
                        st.has(&self.who, &p, "Datastore.Audit")
                            || st.has(&self.who, &p, "Datastore.AllocateSpace")
                    })
                    .map(|s| {
                        let used = Simulator::used_bytes(&st, &Simulator::store_key(s, node));
                        NodeStorage {
                            storage: s.id.clone(),
                            kind: s.kind.as_str().into(),
                            content: s.content.join(","),
                            active: Some(true),
                            enabled: Some(true),
                            shared: Some(s.shared),
                            total: Some(s.capacity),
                            used: Some(used),
                            avail: Some(s.capacity.saturating_sub(used)),
                        }
                    })
                    .collect())
            },
        )
        .await
    }

    async fn storage_content(
        &self,
        node: &NodeName,
        storage: &StorageName,
        content: Option<&str>,
    ) -> Result<Vec<StorageVolume>> {
        let node = node.as_str();
        let storage = storage.as_str();
        self.run(
            "GET",
            "/nodes/{node}/storage/{storage}/content",
            format!("/nodes/{node}/storage/{storage}/content"),
            async {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                self.check_any(
                    &st,
                    &format!("/storage/{storage}"),
                    &["Datastore.Audit", "Datastore.AllocateSpace"],
                )?;
                let spec = self.sim.storage_on(storage, node)?;
                let mut out = Vec::new();
                if let Some(vols) = st.volumes.get(&Simulator::store_key(spec, node)) {
                    for (name, v) in vols {
                        if content.is_some_and(|c| c != v.content) {
                            continue;
                        }
                        if let Some(id) = v.vmid
                            && !st.has(&self.who, &format!("/vms/{id}"), "VM.Audit")
                        {
                            continue;
                        }
                        out.push(StorageVolume {
                            volid: format!("{storage}:{name}"),
                            content: v.content.clone(),
                            format: v.format.clone(),
                            size: v.size,
                            vmid: v.vmid.map(u64::from),
                            ctime: Some(v.ctime),
                        });
                    }
                }
                Ok(out)
            },
        )
        .await
    }

    async fn download_url(
        &self,
        node: &NodeName,
        storage: &StorageName,
        req: &DownloadUrl,
    ) -> Result<Upid> {
        let node = node.as_str();
        let storage = storage.as_str();
        self.run("POST", "/nodes/{node}/storage/{storage}/download-url", format!("/nodes/{node}/storage/{storage}/download-url"), async {
            {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                self.check(&st, &format!("/storage/{storage}"), "Datastore.AllocateTemplate")?;
                let sys = st.has(&self.who, "/", "Sys.Audit") && st.has(&self.who, "/", "Sys.Modify");
                if !sys {
                    self.check(&st, &format!("/nodes/{node}"), "Sys.AccessNetwork")?;
                }
                let spec = self.sim.storage_on(storage, node)?;
                let ok_ext = match req.content.as_str() {
                    "iso" => [".iso", ".img"].iter().any(|e| req.filename.ends_with(e)),
                    "import" => [".qcow2", ".raw", ".vmdk", ".ova"].iter().any(|e| req.filename.ends_with(e)),
                    "vztmpl" => [".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2", ".tar"].iter().any(|e| req.filename.ends_with(e)),
                    other => {
                        return Err(ApiError::param("content", format!("value '{other}' does not have a value in the enumeration 'iso, vztmpl, import'")));
                    }
                };
                if !ok_ext {
                    return Err(ApiError::param("filename", "wrong file extension"));
                }
                if req.filename.contains('/') {
                    return Err(ApiError::param("filename", "invalid filename"));
                }
                if !spec.content.contains(&req.content) {
                    return Err(e500(format!("storage '{storage}' does not support content-type '{}'", req.content)));
                }
            }
            let sim = self.sim.clone();
            let req = req.clone();
            let node_s = node.to_owned();
            let storage_s = storage.to_owned();
            Ok(self.sim.spawn_task(node, "download", "", &self.who, move |log| async move {
                sim.download_worker(&node_s, &storage_s, &req, &log).await
            }))
        })
        .await
    }

    async fn agent_network_interfaces(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<Vec<GuestInterface>> {
        let node = node.as_str();
        let vmid = vmid.get();
        self.run(
            "GET",
            "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
            format!("/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces"),
            async {
                {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    self.check_any(
                        &st,
                        &format!("/vms/{vmid}"),
                        &["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"],
                    )?;
                    let vm = Self::vm(&st, node, vmid)?;
                    if !agent_enabled(&vm.conf) {
                        return Err(e500("No QEMU guest agent configured"));
                    }
                    if !vm.running {
                        return Err(e500(format!("VM {vmid} is not running")));
                    }
                    if !self.sim.backend().runs_vms() {
                        let t = self.sim.inner.config.timing;
                        if vm
                            .started_at
                            .is_none_or(|s| s.elapsed() < t.dur(t.agent_secs))
                        {
                            return Err(e500("QEMU guest agent is not running"));
                        }
                        return Ok(guest_interfaces(vm));
                    }
                }
                let answer = self
                    .sim
                    .on_backend(move |b| b.agent(vmid, "guest-network-get-interfaces", None))
                    .await
                    .map_err(e500)?;
                serde_json::from_value(answer)
                    .map_err(|e| e500(format!("unexpected guest agent answer: {e}")))
            },
        )
        .await
    }

    async fn agent_ping(&self, node: &NodeName, vmid: VmId) -> Result<()> {
        let node = node.as_str();
        let vmid = vmid.get();
        let path = format!("/nodes/{node}/qemu/{vmid}/agent/ping");
        self.run(
            "POST",
            "/nodes/{node}/qemu/{vmid}/agent/ping",
            path,
            async {
                {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    self.check_any(
                        &st,
                        &format!("/vms/{vmid}"),
                        &["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"],
                    )?;
                    let vm = Self::vm(&st, node, vmid)?;
                    if !agent_enabled(&vm.conf) {
                        return Err(e500("No QEMU guest agent configured"));
                    }
                    if !vm.running {
                        return Err(e500(format!("VM {vmid} is not running")));
                    }
                    if !self.sim.backend().runs_vms() {
                        let t = self.sim.inner.config.timing;
                        if vm
                            .started_at
                            .is_none_or(|s| s.elapsed() < t.dur(t.agent_secs))
                        {
                            return Err(e500("QEMU guest agent is not running"));
                        }
                        return Ok(());
                    }
                }
                self.sim
                    .on_backend(move |b| b.agent(vmid, "guest-ping", None))
                    .await
                    .map_err(e500)?;
                Ok(())
            },
        )
        .await
    }

    async fn delete_volume(
        &self,
        node: &NodeName,
        storage: &StorageName,
        volume: &str,
    ) -> Result<Upid> {
        let node = node.as_str();
        let storage = storage.as_str();
        let path = format!("/nodes/{node}/storage/{storage}/content/{volume}");
        self.run(
            "DELETE",
            "/nodes/{node}/storage/{storage}/content/{volume}",
            path,
            async {
                let name = volume
                    .strip_prefix(&format!("{storage}:"))
                    .unwrap_or(volume)
                    .to_owned();
                let owner = {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    let spec = self.sim.storage_on(storage, node)?;
                    let vol = st
                        .volumes
                        .get(&Simulator::store_key(spec, node))
                        .and_then(|m| m.get(&name))
                        .ok_or_else(|| e500(format!("volume '{storage}:{name}' does not exist")))?;
                    match vol.vmid {
                        Some(id) => self.check(&st, &format!("/vms/{id}"), "VM.Config.Disk")?,
                        None => {
                            self.check(&st, &format!("/storage/{storage}"), "Datastore.Allocate")?
                        }
                    }
                    let volid = format!("{storage}:{name}");
                    if Simulator::volume_in_use_as_base(&st, &volid) {
                        return Err(e500(format!(
                            "base volume '{volid}' is still in use by linked cloned"
                        )));
                    }
                    vol.vmid
                };
                let id = format!("{}@{storage}", owner.unwrap_or(0));
                let sim = self.sim.clone();
                let (node_s, storage_s) = (node.to_owned(), storage.to_owned());
                Ok(self
                    .sim
                    .spawn_task(node, "imgdel", &id, &self.who, move |log| async move {
                        let t = sim.inner.config.timing;
                        let spec = sim
                            .storage_on(&storage_s, &node_s)
                            .map_err(|e| e.message)?
                            .clone();
                        let _g = sim
                            .inner
                            .locks
                            .storage(&spec.id, spec.shared, t.dur(t.storage_lock_timeout_secs))
                            .await?;
                        tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                        let removed = sim
                            .lock()
                            .volumes
                            .get_mut(&Simulator::store_key(&spec, &node_s))
                            .and_then(|m| m.remove(&name));
                        if removed.is_none() {
                            return Err(format!("volume '{storage_s}:{name}' does not exist"));
                        }
                        let file =
                            VolumeFile::new(Simulator::store_key(&spec, &node_s), name.clone());
                        sim.on_backend(move |b| b.remove_volume(&file)).await?;
                        log.log(format!("removed volume '{storage_s}:{name}'"));
                        Ok(())
                    }))
            },
        )
        .await
    }

    async fn pools(&self) -> Result<Vec<PoolInfo>> {
        self.run("GET", "/pools", "/pools".into(), async {
            let st = self.sim.lock();
            Ok(st
                .pools
                .iter()
                .filter(|(id, _)| st.has(&self.who, &format!("/pool/{id}"), "Pool.Audit"))
                .map(|(id, p)| PoolInfo {
                    poolid: id.clone(),
                    comment: p.comment.clone(),
                    members: Some(
                        p.vms
                            .iter()
                            .filter_map(|v| st.vms.get(v))
                            .map(|vm| PoolMember {
                                id: format!("qemu/{}", vm.vmid),
                                node: vm.node.clone(),
                                kind: "qemu".into(),
                                vmid: Some(u64::from(vm.vmid)),
                            })
                            .collect(),
                    ),
                })
                .collect())
        })
        .await
    }

    async fn create_pool(&self, poolid: &str, comment: Option<&str>) -> Result<()> {
        self.create_pool_checked(poolid, comment).await
    }

    async fn create_user(&self, req: &CreateUser) -> Result<()> {
        self.run("POST", "/access/users", wp("/access/users"), async {
            let mut st = self.sim.lock();
            self.check(&st, "/access/groups", "User.Modify")?;
            let Some((name, realm)) = req.userid.split_once('@') else {
                return Err(ApiError::param(
                    "userid",
                    "invalid format - value does not look like a valid user ID",
                ));
            };
            if name.is_empty() || !matches!(realm, "pve" | "pam") {
                return Err(ApiError::param(
                    "userid",
                    "invalid format - value does not look like a valid user ID",
                ));
            }
            if st.access.users.contains_key(&req.userid) {
                return Err(e500(format!(
                    "create user failed: user '{}' already exists",
                    req.userid
                )));
            }
            st.access.users.insert(
                req.userid.clone(),
                User {
                    password: req.password.clone(),
                    enable: true,
                    comment: req.comment.clone(),
                },
            );
            Ok(())
        })
        .await
    }

    async fn create_token(
        &self,
        userid: &str,
        tokenid: &str,
        req: &CreateToken,
    ) -> Result<TokenCreated> {
        let path = format!("/access/users/{userid}/token/{tokenid}");
        self.run(
            "POST",
            "/access/users/{userid}/token/{tokenid}",
            path,
            async {
                let mut st = self.sim.lock();
                self.check_token_admin(&st, userid)?;
                let valid = tokenid
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                    && tokenid.len() >= 2
                    && tokenid
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
                if !valid {
                    return Err(ApiError::param(
                        "tokenid",
                        "invalid format - invalid token ID",
                    ));
                }
                if !st.access.users.contains_key(userid) {
                    return Err(e500(format!("no such user ('{userid}')")));
                }
                let full = format!("{userid}!{tokenid}");
                if st.access.tokens.contains_key(&full) {
                    return Err(ApiError::param("tokenid", "Token already exists."));
                }
                let secret = random_uuid();
                st.access.tokens.insert(
                    full.clone(),
                    Token {
                        secret: Secret::new(secret.clone()),
                        privsep: req.privsep.unwrap_or(true),
                        expire: req.expire.unwrap_or(0),
                        comment: req.comment.clone(),
                    },
                );
                Ok(TokenCreated {
                    full_tokenid: full,
                    value: Secret::new(secret),
                })
            },
        )
        .await
    }

    async fn update_acl(&self, req: &AclUpdate) -> Result<()> {
        self.run("PUT", "/access/acl", wp("/access/acl"), async {
            let mut st = self.sim.lock();
            // `['perm-modify', '{path}']`: Permissions.Modify, or the path kind's allocation
            // privilege.
            if !self.may_modify_permissions(&st, &req.path) {
                return Err(e403(
                    &req.path,
                    &Self::permission_modify_privileges(&req.path).join("|"),
                ));
            }
            if req.users.is_empty() && req.tokens.is_empty() {
                let text = "either 'users', 'groups' or 'tokens' is required.";
                return Err(ApiError::params(
                    ["users", "groups", "tokens"]
                        .into_iter()
                        .map(|name| (name.to_owned(), text.to_owned()))
                        .collect(),
                ));
            }
            if !req.path.starts_with('/') {
                return Err(ApiError::param(
                    "path",
                    format!("invalid ACL path '{}'", req.path),
                ));
            }
            let failed = |text: String| e500(format!("ACL update failed: {text}"));
            for r in &req.roles {
                if !st.access.roles.contains_key(r) {
                    return Err(failed(format!("role '{r}' does not exist")));
                }
            }
            let mut subjects = Vec::new();
            for u in &req.users {
                if !st.access.users.contains_key(u) {
                    return Err(failed(format!("user '{u}' does not exist")));
                }
                subjects.push(u.clone());
            }
            for t in &req.tokens {
                let (user, name) = t.split_once('!').unwrap_or((t.as_str(), ""));
                if !st.access.users.contains_key(user) {
                    return Err(failed(format!("no such user ('{user}')")));
                }
                if !st.access.tokens.contains_key(t) {
                    return Err(failed(format!("no such token '{name}' for user '{user}'")));
                }
                subjects.push(t.clone());
            }
            for s in subjects {
                for r in &req.roles {
                    let e = AclEntry {
                        path: req.path.clone(),
                        subject: s.clone(),
                        role: r.clone(),
                        propagate: req.propagate,
                    };
                    st.access.acl.retain(|x| {
                        !(x.path == e.path && x.subject == e.subject && x.role == e.role)
                    });
                    if !req.delete {
                        st.access.acl.insert(e);
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn users(&self) -> Result<Vec<UserEntry>> {
        let listed = self.users_list(true).await?;
        decode_listing("/access/users", listed)
    }

    async fn delete_user(&self, userid: &str) -> Result<()> {
        let path = format!("/access/users/{userid}");
        self.run("DELETE", "/access/users/{userid}", path, async {
            let mut st = self.sim.lock();
            self.check(&st, "/access/groups", "User.Modify")?;
            if !userid.contains('@') {
                return Err(ApiError::param(
                    "userid",
                    "invalid format - value does not look like a valid user ID",
                ));
            }
            if userid == "root@pam" {
                return Err(e500("delete user failed: refusing to delete root@pam"));
            }
            // Like Proxmox: the user's tokens go with it, and its and their ACL entries.
            st.access.remove_user(userid);
            Ok(())
        })
        .await
    }

    async fn user_tokens(&self, userid: &str) -> Result<Vec<TokenEntry>> {
        let listed = self.tokens_list(userid).await?;
        decode_listing(&format!("/access/users/{userid}/token"), listed)
    }

    async fn delete_token(&self, userid: &str, tokenid: &str) -> Result<()> {
        let path = format!("/access/users/{userid}/token/{tokenid}");
        self.run(
            "DELETE",
            "/access/users/{userid}/token/{tokenid}",
            path,
            async {
                let mut st = self.sim.lock();
                self.check_token_admin(&st, userid)?;
                if !st.access.users.contains_key(userid) {
                    return Err(e500(format!("no such user ('{userid}')")));
                }
                if !st.access.remove_token(&format!("{userid}!{tokenid}")) {
                    return Err(e500(format!(
                        "no such token '{tokenid}' for user '{userid}'"
                    )));
                }
                Ok(())
            },
        )
        .await
    }

    async fn acl(&self) -> Result<Vec<types::AclEntry>> {
        let listed = self.acl_list().await?;
        decode_listing("/access/acl", listed)
    }
}

/// A JSON listing of a `GET` endpoint as the typed entries the HTTP client would decode.
fn decode_listing<T: serde::de::DeserializeOwned>(
    path: &str,
    listed: Vec<serde_json::Value>,
) -> Result<Vec<T>> {
    serde_json::from_value(serde_json::Value::Array(listed)).map_err(|source| Error::Decode {
        method: "GET".to_owned(),
        path: path.to_owned(),
        source,
    })
}

/// A random UUID (v4) from the OS generator, for secrets.
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap_or_else(|_| {
        let n = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = n.to_le_bytes();
    });
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The interfaces a cloud-init configured guest reports: `lo` plus one
/// `ethN` per `netN`, with the `ipconfigN` static addresses, or for DHCP an
/// address derived from the VMID in 172.16.0.0/16 (and SLAAC from the MAC).
pub fn guest_interfaces(vm: &Vm) -> Vec<GuestInterface> {
    let addr = |kind: &str, a: String, p: u64| GuestIpAddress {
        kind: kind.into(),
        address: a,
        prefix: p,
    };
    let mut out = vec![GuestInterface {
        name: "lo".into(),
        hardware_address: Some("00:00:00:00:00:00".into()),
        ip_addresses: Some(vec![
            addr("ipv4", "127.0.0.1".into(), 8),
            addr("ipv6", "::1".into(), 128),
        ]),
    }];
    for i in 0..32u32 {
        let Some(net) = vm
            .conf
            .get(&format!("net{i}"))
            .and_then(|v| NetDevice::parse(v).ok())
        else {
            continue;
        };
        let mac = net.macaddr.unwrap_or(MacAddr([0; 6]));
        let ipc = vm
            .conf
            .get(&format!("ipconfig{i}"))
            .and_then(|v| IpConfig::parse(v).ok());
        let mut addrs = Vec::new();
        match ipc.as_ref().and_then(|c| c.ip) {
            Some(Ipv4Setting::Static(a, p)) => {
                addrs.push(addr("ipv4", a.to_string(), u64::from(p)))
            }
            Some(Ipv4Setting::Dhcp) | None
                if ipc
                    .as_ref()
                    .is_none_or(|c| c.ip6.is_none() || c.ip.is_some()) =>
            {
                addrs.push(addr(
                    "ipv4",
                    format!("172.16.{}.{}", (vm.vmid >> 8) & 0xff, vm.vmid & 0xff),
                    16,
                ));
            }
            _ => {}
        }
        match ipc.as_ref().and_then(|c| c.ip6) {
            Some(Ipv6Setting::Static(a, p)) => {
                addrs.push(addr("ipv6", a.to_string(), u64::from(p)))
            }
            Some(Ipv6Setting::Auto) | Some(Ipv6Setting::Dhcp) => {
                let m = mac.0;
                addrs.push(addr(
                    "ipv6",
                    format!(
                        "fd00::{:02x}{:02x}:{:02x}ff:fe{:02x}:{:02x}{:02x}",
                        m[0] ^ 2,
                        m[1],
                        m[2],
                        m[3],
                        m[4],
                        m[5]
                    ),
                    64,
                ));
            }
            None => {}
        }
        let m = mac.0;
        addrs.push(addr(
            "ipv6",
            format!(
                "fe80::{:02x}{:02x}:{:02x}ff:fe{:02x}:{:02x}{:02x}",
                m[0] ^ 2,
                m[1],
                m[2],
                m[3],
                m[4],
                m[5]
            ),
            64,
        ));
        out.push(GuestInterface {
            name: format!("eth{i}"),
            hardware_address: Some(mac.to_lower()),
            ip_addresses: Some(addrs),
        });
    }
    out
}
