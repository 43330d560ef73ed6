//! Volumes on the simulated storages: where they live (store keys), their
//! names, allocation under the storage lock with capacity checks, freeing,
//! and the disks a VM config asks for (allocate, import, cloud-init drive).

use super::*;

impl Simulator {
    pub(super) fn storage(&self, id: &str) -> Option<&StorageSpec> {
        self.inner.config.storages.iter().find(|s| s.id == id)
    }

    pub(super) fn storage_on(
        &self,
        id: &str,
        node: &str,
    ) -> std::result::Result<&StorageSpec, ApiError> {
        match self.storage(id) {
            Some(s) if s.nodes.is_empty() || s.nodes.iter().any(|n| n == node) => Ok(s),
            _ => Err(e500(format!("storage '{id}' does not exist"))),
        }
    }

    pub(super) fn store_key(spec: &StorageSpec, node: &str) -> String {
        if spec.shared {
            spec.id.clone()
        } else {
            format!("{}@{node}", spec.id)
        }
    }

    /// The backend's view of volume `storage:name` on `node`.
    pub(crate) fn volume_file(&self, node: &str, volid: &str) -> Option<VolumeFile> {
        let (storage, name) = volid.split_once(':')?;
        let spec = self.storage(storage)?;
        Some(VolumeFile::new(Self::store_key(spec, node), name))
    }

    pub(super) fn next_disk_name(
        st: &State,
        key: &str,
        spec: &StorageSpec,
        vmid: u32,
        base: bool,
    ) -> String {
        let prefix = if base { "base" } else { "vm" };
        let vols = st.volumes.get(key);
        (0..)
            .map(|n| {
                let stem = format!("{prefix}-{vmid}-disk-{n}");
                if spec.kind.is_file_based() {
                    format!("{vmid}/{stem}.qcow2")
                } else {
                    stem
                }
            })
            .find(|name| {
                let other_prefix = if base { "vm" } else { "base" };
                let twin = name.replacen(prefix, other_prefix, 1);
                vols.is_none_or(|v| !v.contains_key(name) && !v.contains_key(&twin))
            })
            .unwrap_or_default()
    }

    pub(super) fn used_bytes(st: &State, key: &str) -> u64 {
        st.volumes
            .get(key)
            .map(|v| {
                v.values()
                    .filter(|v| v.base.is_none())
                    .map(|v| v.size)
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Allocates a volume, under the storage lock, taking `secs` simulated seconds.
    pub(super) async fn alloc_volume(
        &self,
        node: &str,
        storage: &str,
        vmid: u32,
        size: u64,
        secs: f64,
        log: &TaskLog,
    ) -> std::result::Result<String, String> {
        let spec = self
            .storage_on(storage, node)
            .map_err(|e| e.message)?
            .clone();
        if !spec.content.iter().any(|c| c == "images") {
            return Err(format!(
                "storage '{storage}' does not support content-type 'images'"
            ));
        }
        let _g = self.lock_storage(&spec).await?;
        tokio::time::sleep(self.dur(secs)).await;
        let key = Self::store_key(&spec, node);
        let mut st = self.lock();
        if Self::used_bytes(&st, &key) + size > spec.capacity {
            return Err(format!(
                "unable to allocate {} on storage '{storage}': not enough free space",
                ByteSize(size)
            ));
        }
        let name = Self::next_disk_name(&st, &key, &spec, vmid, false);
        let format = if spec.kind.is_file_based() {
            "qcow2"
        } else {
            "raw"
        };
        st.volumes.entry(key).or_default().insert(
            name.clone(),
            Volume {
                size,
                format: format.into(),
                content: "images".into(),
                vmid: Some(vmid),
                base: None,
                ctime: unix_now(),
            },
        );
        drop(st);
        let volid = format!("{storage}:{name}");
        log.log(format!("  Logical volume \"{name}\" created."));
        Ok(volid)
    }

    pub(super) fn free_volume(&self, st: &mut State, node: &str, volid: &str, spec: &StorageSpec) {
        if let Some((_, name)) = volid.split_once(':') {
            let key = Self::store_key(spec, node);
            // A file that cannot be removed stays behind; the state forgets it
            // all the same, as Proxmox does with a volume it failed to free.
            let _ = self
                .backend()
                .remove_volume(&VolumeFile::new(key.clone(), name));
            if let Some(v) = st.volumes.get_mut(&key) {
                v.remove(name);
            }
        }
    }

    pub(super) fn volume_in_use_as_base(st: &State, volid: &str) -> bool {
        st.volumes
            .values()
            .flat_map(|v| v.values())
            .any(|v| v.base.as_deref() == Some(volid))
    }

    pub(super) fn import_source_size(
        &self,
        node: &str,
        src: &str,
    ) -> std::result::Result<u64, String> {
        if src.starts_with('/') {
            return Ok(ByteSize::GIB);
        }
        let (s, name) = src
            .split_once(':')
            .ok_or_else(|| format!("invalid import source '{src}'"))?;
        let spec = self.storage_on(s, node).map_err(|e| e.message)?;
        let st = self.lock();
        st.volumes
            .get(&Self::store_key(spec, node))
            .and_then(|v| v.get(name))
            .map(|v| v.size)
            .ok_or_else(|| format!("volume '{src}' does not exist"))
    }
}

impl SimClient {
    /// Drive keys in `set` that allocate or import new volumes.
    pub(super) fn new_disks(set: &BTreeMap<String, String>) -> Vec<(String, Drive)> {
        set.iter()
            .filter(|(k, _)| is_drive_key(k))
            .filter_map(|(k, v)| Drive::parse(v).ok().map(|d| (k.clone(), d)))
            .filter(|(_, d)| {
                matches!(
                    d.volume,
                    DriveVolume::Allocate { .. } | DriveVolume::CloudInit { .. }
                )
            })
            .collect()
    }

    /// Materializes new disks of a VM config in a worker: allocation, import, cloud-init drive.
    pub(super) async fn materialize_disks(
        sim: &Simulator,
        node: &str,
        vmid: u32,
        disks: Vec<(String, Drive)>,
        log: &TaskLog,
    ) -> std::result::Result<Vec<(String, String)>, String> {
        let t = sim.inner.config.timing;
        let mut out = Vec::new();
        for (key, mut drive) in disks {
            match drive.volume.clone() {
                DriveVolume::Allocate { storage, size_gib } => {
                    let (size, secs) = if let Some(src) = drive.import_from.clone() {
                        let size = sim.import_source_size(node, &src)?;
                        log.log(format!("importing disk '{src}' to VM {vmid} ..."));
                        (
                            size,
                            t.storage_op_secs
                                + t.clone_secs_per_gib * size as f64 / ByteSize::GIB as f64,
                        )
                    } else {
                        let gib: f64 = size_gib
                            .parse()
                            .map_err(|_| format!("invalid size '{size_gib}'"))?;
                        ((gib * ByteSize::GIB as f64) as u64, t.storage_op_secs)
                    };
                    let volid = sim
                        .alloc_volume(node, &storage, vmid, size, secs, log)
                        .await?;
                    let source = match drive.import_from.as_deref() {
                        None => DiskSource::Empty,
                        Some(path) if path.starts_with('/') => DiskSource::Path(path.into()),
                        Some(src) => DiskSource::Volume(
                            sim.volume_file(node, src)
                                .ok_or_else(|| format!("invalid import source '{src}'"))?,
                        ),
                    };
                    let file = sim
                        .volume_file(node, &volid)
                        .ok_or_else(|| format!("invalid volume '{volid}'"))?;
                    let created = sim
                        .on_backend(move |b| b.create_disk(&file, size, &source))
                        .await;
                    let size = match created {
                        Ok(real) => real.unwrap_or(size),
                        Err(e) => {
                            if let Some(spec) = sim.storage(&storage).cloned() {
                                sim.free_volume(&mut sim.lock(), node, &volid, &spec);
                            }
                            return Err(e);
                        }
                    };
                    if let Some(spec) = sim.storage(&storage)
                        && let Some(v) = sim
                            .lock()
                            .volumes
                            .get_mut(&Simulator::store_key(spec, node))
                            .and_then(|m| m.get_mut(volid.split_once(':').map_or("", |x| x.1)))
                    {
                        v.size = size;
                    }
                    let (st_id, name) = volid.split_once(':').unwrap_or_default();
                    drive.set_volume(DriveVolume::Volume {
                        storage: st_id.into(),
                        name: name.into(),
                    });
                    drive.remove("import-from");
                    drive
                        .set("size", &ByteSize(size).to_string())
                        .map_err(|e| e.to_string())?;
                    log.log(format!(
                        "{key}: successfully created disk '{volid},size={}'",
                        ByteSize(size)
                    ));
                    out.push((key, drive.canonical()));
                }
                DriveVolume::CloudInit { storage } => {
                    let spec = sim
                        .storage_on(&storage, node)
                        .map_err(|e| e.message)?
                        .clone();
                    let name = if spec.kind.is_file_based() {
                        format!("{vmid}/vm-{vmid}-cloudinit.qcow2")
                    } else {
                        format!("vm-{vmid}-cloudinit")
                    };
                    let g = sim.lock_storage(&spec).await?;
                    tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                    drop(g);
                    let key_s = Simulator::store_key(&spec, node);
                    sim.lock().volumes.entry(key_s).or_default().insert(
                        name.clone(),
                        Volume {
                            size: 4 << 20,
                            format: if spec.kind.is_file_based() {
                                "qcow2".into()
                            } else {
                                "raw".into()
                            },
                            content: "images".into(),
                            vmid: Some(vmid),
                            base: None,
                            ctime: unix_now(),
                        },
                    );
                    drive.set_volume(DriveVolume::Volume {
                        storage: storage.clone(),
                        name,
                    });
                    drive.set("media", "cdrom").map_err(|e| e.to_string())?;
                    log.log(format!(
                        "{key}: successfully created disk '{storage}:vm-{vmid}-cloudinit'"
                    ));
                    out.push((key, drive.canonical()));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    pub(super) fn check_disk_sources(
        &self,
        st: &State,
        node: &str,
        set: &BTreeMap<String, String>,
    ) -> std::result::Result<(), ApiError> {
        let mut cloudinit = 0;
        for (k, d) in Self::new_disks(set) {
            if let Some(s) = d.volume.storage() {
                self.sim.storage_on(s, node)?;
                self.check(st, &format!("/storage/{s}"), "Datastore.AllocateSpace")?;
            }
            if matches!(d.volume, DriveVolume::CloudInit { .. }) {
                cloudinit += 1;
            }
            if let Some(src) = &d.import_from {
                if src.starts_with('/') {
                    if !st.access.is_root(&self.who) {
                        return Err(ApiError::param(
                            &k,
                            "absolute path import-from is only allowed for root@pam",
                        ));
                    }
                } else {
                    let (s, name) = src.split_once(':').ok_or_else(|| {
                        ApiError::param(&k, format!("invalid import source '{src}'"))
                    })?;
                    self.check(st, &format!("/storage/{s}"), "Datastore.Audit")?;
                    let spec = self.sim.storage_on(s, node)?;
                    let vol = st
                        .volumes
                        .get(&Simulator::store_key(spec, node))
                        .and_then(|v| v.get(name))
                        .ok_or_else(|| e500(format!("volume '{src}' does not exist")))?;
                    if vol.content != "images" && vol.content != "import" {
                        return Err(ApiError::param(
                            &k,
                            format!(
                                "{src} has wrong type '{}' - needs to be 'images' or 'import'",
                                vol.content
                            ),
                        ));
                    }
                }
            }
        }
        if cloudinit > 1 {
            return Err(e500("only one cloud-init drive is allowed"));
        }
        Ok(())
    }
}
