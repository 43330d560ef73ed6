//! A VM's life beyond its config: clone, delete and migrate.

use super::*;
use labform_proxmox::endpoint;

pub(super) async fn clone_vm(
    client: &SimClient,
    node: &NodeName,
    vmid: VmId,
    req: &CloneVm,
) -> Result<Upid> {
    let node = node.as_str();
    let src = vmid.get();
    let newid = req.newid.get();
    client
        .run(&endpoint::qemu::CLONE, &[&node, &src], async {
            let request = req.clone();
            let call = client.on_vm(node, src).without_config_lock();
            call.spawn(
                "qmclone",
                |st, vm| {
                    // The VM is looked up before the privilege is checked.
                    client.check(st, &format!("/vms/{src}"), "VM.Clone")?;
                    let pool_ok = req
                        .pool
                        .as_ref()
                        .is_some_and(|p| st.has(&client.who, &format!("/pool/{p}"), "VM.Allocate"));
                    // `['or', ['perm', '/vms/{newid}', ...], ['perm', '/pool/{pool}', ...]]`
                    // fails with the bare text.
                    if !pool_ok && !st.has(&client.who, &format!("/vms/{newid}"), "VM.Allocate") {
                        return Err(ApiError::new(403, "Permission check failed"));
                    }
                    if let Some(s) = &req.storage {
                        client.check(st, &format!("/storage/{s}"), "Datastore.AllocateSpace")?;
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
                        client.check_node(st, &target)?;
                        let local = vm
                            .conf
                            .iter()
                            .filter(|(k, _)| is_drive_key(k))
                            .filter_map(|(_, v)| Drive::parse(v).ok())
                            .any(|d| {
                                d.volume
                                    .storage()
                                    .and_then(|s| client.sim.storage(s))
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
                    Ok((full, target))
                },
                move |task, (full, target)| async move {
                    let VmTask { sim, node, log, .. } = &task;
                    sim.clone_worker(node, src, newid, full, &target, &request, log)
                        .await
                },
            )
        })
        .await
}

pub(super) async fn delete_vm(
    client: &SimClient,
    node: &NodeName,
    vmid: VmId,
    opts: DeleteVm,
) -> Result<Upid> {
    let node = node.as_str();
    let vmid = vmid.get();
    client
        .run(&endpoint::qemu::DELETE_VM, &[&node, &vmid], async {
            client.on_vm(node, vmid).privilege("VM.Allocate").spawn(
                "qmdestroy",
                |_, vm| {
                    SimClient::check_lock(vm)?;
                    if vm.running {
                        return Err(e500(format!("VM {vmid} is running - destroy failed")));
                    }
                    if vm.conf.get("protection").is_some_and(|p| p == "1") {
                        return Err(e500(format!(
                            "can't remove VM {vmid} - protection mode enabled"
                        )));
                    }
                    Ok(())
                },
                move |task, ()| async move {
                    let VmTask { sim, node, log, .. } = &task;
                    let t = sim.inner.config.timing;
                    let volumes: Vec<String> = {
                        let st = sim.lock();
                        let vm = task.vm(&st)?;
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
                                    st.volumes.get(&Simulator::store_key(spec, node))?.get(n)
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
                        let _sg = sim.lock_storage(&spec).await?;
                        tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                        sim.free_volume(&mut sim.lock(), node, &volid, &spec);
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
            )
        })
        .await
}

pub(super) async fn migrate_vm(
    client: &SimClient,
    node: &NodeName,
    vmid: VmId,
    target: &NodeName,
    online: bool,
) -> Result<Upid> {
    let node = node.as_str();
    let target = target.as_str();
    let vmid = vmid.get();
    client
        .run(&endpoint::qemu::MIGRATE, &[&node, &vmid], async {
            let destination = target.to_owned();
            client
                .on_vm(node, vmid)
                .privilege("VM.Migrate")
                .unsupported_on_qemu("migration is not implemented by the simulator's QEMU backend")
                .spawn(
                    "qmigrate",
                    |st, vm| {
                        if target == node {
                            return Err(ApiError::param("target", "target is local node."));
                        }
                        client.check_node(st, target)?;
                        SimClient::check_lock(vm)?;
                        if vm.running && !online {
                            return Err(e500("can't migrate running VM without --online"));
                        }
                        Ok(())
                    },
                    move |task, ()| async move {
                        let VmTask { sim, node, log, .. } = &task;
                        let target = destination;
                        let t = sim.inner.config.timing;
                        let local: Vec<(String, String, u64)> = {
                            let mut st = sim.lock();
                            let vm = task.vm_mut(&mut st)?;
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
                                        .get(&Simulator::store_key(spec, node))?
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
                                .get_mut(&Simulator::store_key(&spec, node))
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
                )
        })
        .await
}
