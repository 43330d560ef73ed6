//! VM snapshots: list, create, delete and roll back.

use super::*;
use labform_proxmox::endpoint;

/// The check before deleting or rolling back snapshot `name`: it exists and
/// the VM is not locked.
fn unlocked_with_snapshot(vm: &Vm, name: &str) -> std::result::Result<(), ApiError> {
    if !vm.snapshots.contains_key(name) {
        return Err(e500(format!("snapshot '{name}' does not exist")));
    }
    SimClient::check_lock(vm)
}

pub(super) async fn list_snapshots(
    client: &SimClient,
    node: &NodeName,
    vmid: VmId,
) -> Result<Vec<SnapshotEntry>> {
    let node = node.as_str();
    let vmid = vmid.get();
    client
        .run(&endpoint::snapshots::SNAPSHOTS, &[&node, &vmid], async {
            client
                .on_vm(node, vmid)
                .privilege("VM.Audit")
                .read(|_, vm| {
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
        })
        .await
}

pub(super) async fn create_snapshot(
    client: &SimClient,
    node: &NodeName,
    vmid: VmId,
    name: &str,
    description: Option<&str>,
) -> Result<Upid> {
    let node = node.as_str();
    let vmid = vmid.get();
    client
        .run(
            &endpoint::snapshots::CREATE_SNAPSHOT,
            &[&node, &vmid],
            async {
                let (name_s, desc) = (name.to_owned(), description.unwrap_or("").to_owned());
                client
                    .on_vm(node, vmid)
                    .privilege("VM.Snapshot")
                    .unsupported_on_qemu(
                        "snapshots are not implemented by the simulator's QEMU backend",
                    )
                    .spawn(
                        "qmsnapshot",
                        |_, vm| {
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
                            SimClient::check_lock(vm)
                        },
                        move |task, ()| async move {
                            let VmTask { sim, log, .. } = &task;
                            let t = sim.inner.config.timing;
                            let drives: Vec<String> = {
                                let mut st = sim.lock();
                                let vm = task.vm_mut(&mut st)?;
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
                            let vm = task.vm_mut(&mut st)?;
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
                    )
            },
        )
        .await
}

pub(super) async fn delete_snapshot(
    client: &SimClient,
    node: &NodeName,
    vmid: VmId,
    name: &str,
) -> Result<Upid> {
    let node = node.as_str();
    let vmid = vmid.get();
    client
        .run(
            &endpoint::snapshots::DELETE_SNAPSHOT,
            &[&node, &vmid, &name],
            async {
                let name_s = name.to_owned();
                client.on_vm(node, vmid).privilege("VM.Snapshot").spawn(
                    "qmdelsnapshot",
                    |_, vm| unlocked_with_snapshot(vm, name),
                    move |task, ()| async move {
                        let VmTask { sim, log, .. } = &task;
                        let t = sim.inner.config.timing;
                        tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                        let mut st = sim.lock();
                        let vm = task.vm_mut(&mut st)?;
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
                )
            },
        )
        .await
}

pub(super) async fn rollback_snapshot(
    client: &SimClient,
    node: &NodeName,
    vmid: VmId,
    name: &str,
) -> Result<Upid> {
    let node = node.as_str();
    let vmid = vmid.get();
    client
        .run(
            &endpoint::snapshots::ROLLBACK,
            &[&node, &vmid, &name],
            async {
                let name_s = name.to_owned();
                client
                    .on_vm(node, vmid)
                    .privilege("VM.Snapshot.Rollback")
                    .unsupported_on_qemu(
                        "snapshots are not implemented by the simulator's QEMU backend",
                    )
                    .spawn(
                        "qmrollback",
                        |_, vm| unlocked_with_snapshot(vm, name),
                        move |task, ()| async move {
                            let VmTask { sim, log, .. } = &task;
                            let t = sim.inner.config.timing;
                            tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                            let mut st = sim.lock();
                            let vm = task.vm_mut(&mut st)?;
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
                    )
            },
        )
        .await
}
