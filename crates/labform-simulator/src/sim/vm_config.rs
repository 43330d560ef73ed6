//! Creating a VM and its config: read, update (as a task or at once),
//! pending changes, disk resize and conversion to a template.

use super::*;
use labform_proxmox::endpoint;

pub(super) async fn create_vm(client: &SimClient, node: &NodeName, req: &CreateVm) -> Result<Upid> {
    let node = node.as_str();
    let vmid = vmid_u32(req.vmid);
    client
        .run(&endpoint::qemu::CREATE_VM, &[&node], async {
            let call = client.on_node(node);
            let (set, disks) = call.change(|st| {
                let (set, errors) = normalize_config(&req.config);
                if !errors.is_empty() {
                    return Err(ApiError::params(errors));
                }
                // `check_vm_perm`: VM.Allocate on the pool, else on the VM (whose error
                // names the VM).
                let pool_ok = req
                    .pool
                    .as_ref()
                    .is_some_and(|p| st.has(&client.who, &format!("/pool/{p}"), "VM.Allocate"));
                if !pool_ok {
                    client.check(st, &format!("/vms/{vmid}"), "VM.Allocate")?;
                }
                if let Some(p) = &req.pool
                    && !st.pools.contains_key(p)
                {
                    return Err(e500(format!("pool '{p}' does not exist")));
                }
                client.check_disk_sources(st, node, &set)?;
                if let Some(other) = st.vms.get(&vmid) {
                    return Err(e500(format!(
                        "unable to create VM {vmid} - VM {vmid} already exists on node '{}'",
                        other.node
                    )));
                }
                let disks = SimClient::new_disks(&set);
                let mut vm = Vm::new(vmid, node);
                vm.conf.insert("lock".into(), "create".into());
                vm.pool = req.pool.clone();
                st.vms.insert(vmid, vm);
                if let Some(p) = &req.pool {
                    st.pools.entry(p.clone()).or_default().vms.insert(vmid);
                }
                Ok((set, disks))
            })?;
            let start = req.start;
            Ok(
                call.task("qmcreate", &vmid.to_string(), move |task| async move {
                    let NodeTask {
                        sim,
                        who,
                        node: node_s,
                        log,
                    } = task;
                    let made = match SimClient::materialize_disks(&sim, &node_s, vmid, disks, &log)
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
                        SimClient::apply_update(&mut st, &sim.inner.config, vmid, set, vec![], &[]);
                        if let Some(vm) = st.vms.get_mut(&vmid) {
                            vm.conf.remove("lock");
                        }
                    }
                    if start {
                        let c = sim.client(who);
                        c.do_start(&node_s, vmid, &log).await?;
                    }
                    Ok(())
                }),
            )
        })
        .await
}

pub(super) async fn vm_config(
    client: &SimClient,
    node: &NodeName,
    vmid: VmId,
    current: bool,
) -> Result<VmConfig> {
    let j = client
        .config_json(node.as_str(), vmid.get(), current, None)
        .await?;
    serde_json::from_value(serde_json::Value::Object(j)).map_err(|source| Error::Decode {
        method: "GET".into(),
        path: "/nodes/{node}/qemu/{vmid}/config".into(),
        source,
    })
}

pub(super) async fn update_vm_config(
    client: &SimClient,
    node: &NodeName,
    vmid: VmId,
    update: &ConfigUpdate,
) -> Result<Upid> {
    let node = node.as_str();
    let vmid = vmid.get();
    client
        .run(&endpoint::qemu::UPDATE_CONFIG, &[&node, &vmid], async {
            let digest = update.digest.clone();
            let revert = update.revert.clone();
            client.on_vm(node, vmid).spawn(
                "qmconfig",
                |st, vm| {
                    let prepared = client.prepare_update(st, vmid, update)?;
                    client.check_disk_sources(st, node, &prepared.0)?;
                    SimClient::check_digest(vm, update.digest.as_deref())?;
                    SimClient::check_lock(vm)?;
                    Ok(prepared)
                },
                move |task, (set, delete)| async move {
                    let VmTask { sim, node, log, .. } = &task;
                    {
                        let st = sim.lock();
                        let vm = task.vm(&st)?;
                        SimClient::check_digest(vm, digest.as_deref()).map_err(|e| e.message)?;
                        SimClient::check_lock(vm).map_err(|e| e.message)?;
                    }
                    let disks = SimClient::new_disks(&set);
                    let made = SimClient::materialize_disks(sim, node, vmid, disks, log).await?;
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
            )
        })
        .await
}

pub(super) async fn update_vm_config_sync(
    client: &SimClient,
    node: &NodeName,
    vmid: VmId,
    update: &ConfigUpdate,
) -> Result<()> {
    let node = node.as_str();
    let vmid = vmid.get();
    client
        .run(
            &endpoint::qemu::UPDATE_CONFIG_SYNC,
            &[&node, &vmid],
            async {
                let call = client.on_vm(node, vmid);
                let (set, delete) = call.read(|st, vm| {
                    SimClient::check_lock(vm)?;
                    let prepared = client.prepare_update(st, vmid, update)?;
                    if !SimClient::new_disks(&prepared.0).is_empty() {
                        // Allowed by Proxmox, but it blocks; we require POST for allocation.
                        client.check_disk_sources(st, node, &prepared.0)?;
                    }
                    Ok(prepared)
                })?;
                let _config_lock = client.sim.lock_vm_config(vmid).await.map_err(e500)?;
                let disks = SimClient::new_disks(&set);
                let mut set = set;
                if !disks.is_empty() {
                    let log = TaskLog::discarded(&client.sim);
                    set.extend(
                        SimClient::materialize_disks(&client.sim, node, vmid, disks, &log)
                            .await
                            .map_err(e500)?,
                    );
                }
                let mut st = client.sim.lock();
                let vm = SimClient::vm(&st, node, vmid)?;
                SimClient::check_digest(vm, update.digest.as_deref())?;
                SimClient::check_lock(vm)?;
                SimClient::apply_update(
                    &mut st,
                    &client.sim.inner.config,
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

pub(super) async fn vm_pending(
    client: &SimClient,
    node: &NodeName,
    vmid: VmId,
) -> Result<Vec<PendingEntry>> {
    let j = client.pending_json(node.as_str(), vmid.get()).await?;
    serde_json::from_value(serde_json::Value::Array(j)).map_err(|source| Error::Decode {
        method: "GET".into(),
        path: "/nodes/{node}/qemu/{vmid}/pending".into(),
        source,
    })
}

pub(super) async fn resize_disk(
    client: &SimClient,
    node: &NodeName,
    vmid: VmId,
    req: &ResizeDisk,
) -> Result<Upid> {
    let node = node.as_str();
    let vmid = vmid.get();
    client
        .run(&endpoint::qemu::RESIZE, &[&node, &vmid], async {
            let (add, absolute) = match req.size.strip_prefix('+') {
                Some(s) => (true, s),
                None => (false, req.size.as_str()),
            };
            let size = ByteSize::parse(absolute).ok_or_else(|| {
                ApiError::param("size", "value does not match the regex pattern".to_string())
            })?;
            let disk = req.disk.clone();
            client.on_vm(node, vmid).privilege("VM.Config.Disk").spawn(
                "resize",
                |_, vm| {
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
                    SimClient::check_digest(vm, req.digest.as_deref())?;
                    SimClient::check_lock(vm)
                },
                move |task, ()| async move {
                    let VmTask { sim, node, log, .. } = &task;
                    let t = sim.inner.config.timing;
                    tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                    let (mut drive, new, file, running) = {
                        let st = sim.lock();
                        let vm = task.vm(&st)?;
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
                                sim.volume_file(node, &format!("{storage}:{name}"))
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
                    let vm = task.vm_mut(&mut st)?;
                    drive
                        .set("size", &ByteSize(new).to_string())
                        .map_err(|e| e.to_string())?;
                    vm.conf.insert(disk.clone(), drive.canonical());
                    if let DriveVolume::Volume { storage, name } = &drive.volume
                        && let Some(spec) = sim.storage(storage).cloned()
                        && let Some(v) = st
                            .volumes
                            .get_mut(&Simulator::store_key(&spec, node))
                            .and_then(|m| m.get_mut(name))
                    {
                        v.size = new;
                    }
                    log.log(format!("resized {disk} to {}", ByteSize(new)));
                    Ok(())
                },
            )
        })
        .await
}

pub(super) async fn convert_to_template(
    client: &SimClient,
    node: &NodeName,
    vmid: VmId,
) -> Result<Upid> {
    let node = node.as_str();
    let vmid = vmid.get();
    client
        .run(&endpoint::qemu::TEMPLATE, &[&node, &vmid], async {
            client.on_vm(node, vmid).privilege("VM.Allocate").spawn(
                "qmtemplate",
                |_, vm| {
                    SimClient::check_lock(vm)?;
                    if vm.is_template() {
                        return Err(e500("VM is already a template"));
                    }
                    if vm.running {
                        return Err(e500("you can't convert a VM to template if VM is running"));
                    }
                    if !vm.snapshots.is_empty() {
                        return Err(e500(
                            "unable to create template, because VM contains snapshots",
                        ));
                    }
                    Ok(())
                },
                move |task, ()| async move {
                    let VmTask { sim, node, log, .. } = &task;
                    let t = sim.inner.config.timing;
                    let drives: Vec<(String, Drive)> = {
                        let st = sim.lock();
                        let vm = task.vm(&st)?;
                        vm.conf
                            .iter()
                            .filter(|(k, _)| is_drive_key(k))
                            .filter_map(|(k, v)| Drive::parse(v).ok().map(|d| (k.clone(), d)))
                            .filter(|(_, d)| !d.is_cdrom())
                            .collect()
                    };
                    let mut renamed = Vec::new();
                    for (key, mut drive) in drives {
                        let DriveVolume::Volume { storage, name } = drive.volume.clone() else {
                            continue;
                        };
                        let spec = sim
                            .storage_on(&storage, node)
                            .map_err(|e| e.message)?
                            .clone();
                        if spec.kind == StorageKind::Lvm {
                            return Err(format!(
                                "unable to create base volume - storage '{storage}' does not support templates"
                            ));
                        }
                        let _storage_lock = sim.lock_storage(&spec).await?;
                        tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                        let new_name = name.replacen("vm-", "base-", 1);
                        let store = Simulator::store_key(&spec, node);
                        let from = VolumeFile::new(store.clone(), name.clone());
                        let to = VolumeFile::new(store, new_name.clone());
                        sim.on_backend(move |b| b.rename_volume(&from, &to)).await?;
                        let mut st = sim.lock();
                        if let Some(vols) = st.volumes.get_mut(&Simulator::store_key(&spec, node))
                            && let Some(v) = vols.remove(&name)
                        {
                            vols.insert(new_name.clone(), v);
                        }
                        drive.set_volume(DriveVolume::Volume {
                            storage: storage.clone(),
                            name: new_name.clone(),
                        });
                        log.log(format!(
                            "{key}: converted '{storage}:{name}' to base volume '{storage}:{new_name}'"
                        ));
                        renamed.push((key, drive.canonical()));
                    }
                    let mut st = sim.lock();
                    let vm = task.vm_mut(&mut st)?;
                    vm.conf.extend(renamed);
                    vm.conf.insert("template".into(), "1".into());
                    Ok(())
                },
            )
        })
        .await
}
