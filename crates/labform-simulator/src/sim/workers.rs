//! Task workers that are too long to inline: VM start, clone, download,
//! plus state helpers used by the server.

use super::*;
use crate::backend::{CloudInitSeed, DriveMedium, Machine, MachineDrive, MachineNic};

impl SimClient {
    /// Starts a VM inside a task: applies pending changes, checks memory, boots.
    pub(super) async fn do_start(
        &self,
        node: &str,
        vmid: u32,
        log: &TaskLog,
    ) -> std::result::Result<(), String> {
        let t = self.sim.inner.config.timing;
        let machine = {
            let _g = self.sim.lock_vm_config(vmid).await?;
            let mut st = self.sim.lock();
            let node_mem = self
                .sim
                .inner
                .config
                .nodes
                .iter()
                .find(|n| n.name == node)
                .map(|n| n.memory)
                .unwrap_or(0);
            let used: u64 = st
                .vms
                .values()
                .filter(|v| v.node == node && v.running)
                .map(|v| v.memory_mib() << 20)
                .sum();
            self.sim.reap(&mut st, vmid);
            let vm = SimClient::vm_mut(&mut st, node, vmid).map_err(|e| e.message)?;
            if vm.running {
                return Err(format!("VM {vmid} already running"));
            }
            SimClient::check_lock(vm).map_err(|e| e.message)?;
            vm.apply_pending();
            // The cloud-init image is regenerated at every start.
            vm.cloudinit_generated = Some(crate::state::cloudinit_values(&vm.conf));
            if used + (vm.memory_mib() << 20) > node_mem {
                log.log("kvm: cannot set up guest memory 'pc.ram': Cannot allocate memory");
                return Err("start failed: QEMU exited with code 1".to_string());
            }
            if vm
                .conf
                .keys()
                .any(|k| k.starts_with("ipconfig") || k.starts_with("ci"))
                || vm.conf.values().any(|v| v.contains("cloudinit"))
            {
                log.log("generating cloud-init ISO");
            }
            if self.sim.backend().runs_vms() {
                Some(self.sim.machine(vm)?)
            } else {
                None
            }
        };
        match machine {
            Some(machine) => {
                self.sim.on_backend(move |b| b.start(&machine)).await?;
            }
            None => tokio::time::sleep(t.dur(t.boot_secs)).await,
        }
        let mut st = self.sim.lock();
        let vm = SimClient::vm_mut(&mut st, node, vmid).map_err(|e| e.message)?;
        vm.running = true;
        vm.started_at = Some(tokio::time::Instant::now());
        Ok(())
    }
}

impl Simulator {
    /// What the backend needs to run `vm`: memory, CPUs, drives (the
    /// cloud-init drive with its NoCloud documents), NICs.
    pub(crate) fn machine(&self, vm: &Vm) -> std::result::Result<Machine, String> {
        let mut drives = Vec::new();
        for (key, value) in vm.conf.iter().filter(|(k, _)| is_drive_key(k)) {
            let drive = Drive::parse(value).map_err(|e| format!("{key}: {e}"))?;
            let medium = match &drive.volume {
                DriveVolume::Volume { storage, name } if name.contains("-cloudinit") => {
                    let _ = storage;
                    DriveMedium::CloudInit(CloudInitSeed {
                        user_data: crate::state::cloudinit_dump(vm, "user"),
                        network_config: crate::state::cloudinit_dump(vm, "network"),
                        meta_data: crate::state::cloudinit_dump(vm, "meta"),
                    })
                }
                DriveVolume::Volume { storage, name } => {
                    let file = self
                        .volume_file(&vm.node, &format!("{storage}:{name}"))
                        .ok_or_else(|| format!("{key}: storage '{storage}' does not exist"))?;
                    if drive.is_cdrom() {
                        DriveMedium::Cdrom(file)
                    } else {
                        DriveMedium::Disk(file)
                    }
                }
                DriveVolume::None | DriveVolume::Cdrom => continue,
                other => return Err(format!("{key}: cannot start with volume '{other:?}'")),
            };
            drives.push(MachineDrive {
                key: key.clone(),
                medium,
            });
        }
        let mut nics = Vec::new();
        for index in 0..32u32 {
            let Some(value) = vm.conf.get(&format!("net{index}")) else {
                continue;
            };
            let nic = NetDevice::parse(value).map_err(|e| format!("net{index}: {e}"))?;
            nics.push(MachineNic {
                index,
                model: nic.model.clone(),
                mac: nic
                    .macaddr
                    .map(|m| m.to_lower())
                    .ok_or_else(|| format!("net{index}: no MAC address"))?,
                bridge: nic.bridge.clone(),
                tag: nic.tag,
            });
        }
        Ok(Machine {
            vmid: vm.vmid,
            name: vm
                .conf
                .get("name")
                .cloned()
                .unwrap_or_else(|| format!("VM{}", vm.vmid)),
            memory_mib: vm.memory_mib(),
            cpus: vm.cpus(),
            drives,
            nics,
            agent: agent_enabled(&vm.conf),
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn clone_worker(
        &self,
        node: &str,
        src: u32,
        newid: u32,
        full: bool,
        target: &str,
        req: &CloneVm,
        log: &TaskLog,
    ) -> std::result::Result<(), String> {
        let t = self.inner.config.timing;
        let lock_timeout = t.dur(t.clone_lock_timeout_secs);
        let running = self.lock().vms.get(&src).is_some_and(|v| v.running);
        let _src_lock: LockGuard = if running {
            self.inner
                .locks
                .exclusive(&vm_lock_path(src), lock_timeout)
                .await?
        } else {
            self.inner
                .locks
                .shared(&vm_lock_path(src), lock_timeout)
                .await?
        };
        let _new_lock = self
            .inner
            .locks
            .exclusive(&vm_lock_path(newid), lock_timeout)
            .await?;
        let (conf, name) = {
            let mut st = self.lock();
            let vm = st
                .vms
                .get(&src)
                .filter(|v| v.node == node)
                .ok_or_else(|| not_exist(node, src).message)?;
            if !vm.is_template() {
                SimClient::check_lock(vm).map_err(|e| e.message)?;
            }
            let conf = vm.conf.clone();
            let name = req.name.clone().unwrap_or_else(|| {
                format!(
                    "Copy-of-VM-{}",
                    vm.conf
                        .get("name")
                        .cloned()
                        .unwrap_or_else(|| src.to_string())
                )
            });
            if st.vms.contains_key(&newid) {
                return Err(format!(
                    "unable to create VM {newid}: config file already exists"
                ));
            }
            let mut temp = Vm::new(newid, target);
            temp.clone_temp = true;
            temp.pool = req.pool.clone();
            st.vms.insert(newid, temp);
            if let Some(p) = &req.pool {
                st.pools.entry(p.clone()).or_default().vms.insert(newid);
            }
            (conf, name)
        };
        log.log(format!(
            "create {} clone of drive(s)",
            if full { "full" } else { "linked" }
        ));
        let result = self
            .clone_disks(node, src, newid, full, target, req, &conf, log)
            .await;
        let mut st = self.lock();
        match result {
            Ok(disks) => {
                let mut newconf: BTreeMap<String, String> = conf
                    .into_iter()
                    .filter(|(k, _)| {
                        k != "template"
                            && k != "lock"
                            && !indexed(k, "unused", 255)
                            && k != "parent"
                    })
                    .collect();
                newconf.extend(disks);
                newconf.insert("name".into(), name);
                if let Some(d) = &req.description {
                    newconf.insert("description".into(), d.clone());
                }
                let keys: Vec<String> = newconf
                    .keys()
                    .filter(|k| indexed(k, "net", 31))
                    .cloned()
                    .collect();
                for k in keys {
                    if let Some(mut n) = newconf.get(&k).and_then(|v| NetDevice::parse(v).ok()) {
                        n.set_macaddr(Simulator::gen_mac(&mut st));
                        newconf.insert(k, n.canonical());
                    }
                }
                let uuid = Simulator::gen_uuid(&mut st);
                newconf.insert("smbios1".into(), format!("uuid={uuid}"));
                if newconf.contains_key("vmgenid") {
                    let g = Simulator::gen_uuid(&mut st);
                    newconf.insert("vmgenid".into(), g);
                }
                if let Some(vm) = st.vms.get_mut(&newid) {
                    vm.clone_temp = false;
                    vm.conf = newconf;
                }
                Ok(())
            }
            Err((e, made)) => {
                for volid in made {
                    if let Some(spec) = volid
                        .split_once(':')
                        .and_then(|(s, _)| self.storage(s))
                        .cloned()
                    {
                        self.free_volume(&mut st, target, &volid, &spec);
                    }
                }
                if let Some(vm) = st.vms.remove(&newid)
                    && let Some(p) = vm.pool
                    && let Some(pool) = st.pools.get_mut(&p)
                {
                    pool.vms.remove(&newid);
                }
                Err(format!("clone failed: {e}"))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn clone_disks(
        &self,
        node: &str,
        src: u32,
        newid: u32,
        full: bool,
        target: &str,
        req: &CloneVm,
        conf: &BTreeMap<String, String>,
        log: &TaskLog,
    ) -> std::result::Result<Vec<(String, String)>, (String, Vec<String>)> {
        let t = self.inner.config.timing;
        let mut made: Vec<String> = Vec::new();
        let mut out = Vec::new();
        for (key, value) in conf.iter().filter(|(k, _)| is_drive_key(k)) {
            let Ok(mut drive) = Drive::parse(value) else {
                continue;
            };
            let DriveVolume::Volume { storage, name } = drive.volume.clone() else {
                out.push((key.clone(), value.clone()));
                continue;
            };
            let volid = format!("{storage}:{name}");
            let is_cloudinit = name.contains("-cloudinit");
            if drive.is_cdrom() && !is_cloudinit {
                out.push((key.clone(), value.clone()));
                continue;
            }
            let fail = |e: String, made: &Vec<String>| (e, made.clone());
            let src_spec = self
                .storage_on(&storage, node)
                .map_err(|e| fail(e.message, &made))?
                .clone();
            let (size, vmid_owner) = {
                let st = self.lock();
                let v = st
                    .volumes
                    .get(&Self::store_key(&src_spec, node))
                    .and_then(|m| m.get(&name))
                    .ok_or_else(|| fail(format!("volume '{volid}' does not exist"), &made))?;
                (v.size, v.vmid)
            };
            let _ = vmid_owner;
            if is_cloudinit {
                // The cloud-init drive is always re-created, never linked.
                let spec = src_spec.clone();
                let g = self.lock_storage(&spec).await.map_err(|e| fail(e, &made))?;
                tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                drop(g);
                let new_name = if spec.kind.is_file_based() {
                    format!("{newid}/vm-{newid}-cloudinit.qcow2")
                } else {
                    format!("vm-{newid}-cloudinit")
                };
                self.lock()
                    .volumes
                    .entry(Self::store_key(&spec, target))
                    .or_default()
                    .insert(
                        new_name.clone(),
                        Volume {
                            size,
                            format: if spec.kind.is_file_based() {
                                "qcow2".into()
                            } else {
                                "raw".into()
                            },
                            content: "images".into(),
                            vmid: Some(newid),
                            base: None,
                            ctime: unix_now(),
                        },
                    );
                made.push(format!("{storage}:{new_name}"));
                drive.set_volume(DriveVolume::Volume {
                    storage: storage.clone(),
                    name: new_name,
                });
                out.push((key.clone(), drive.canonical()));
                continue;
            }
            if full {
                let dest = req.storage.clone().unwrap_or_else(|| storage.clone());
                let spec = self
                    .storage_on(&dest, target)
                    .map_err(|e| fail(e.message, &made))?
                    .clone();
                if !spec.content.iter().any(|c| c == "images") {
                    return Err(fail(
                        format!("storage '{dest}' does not support content-type 'images'"),
                        &made,
                    ));
                }
                log.log(format!("drive {key}: full clone of '{volid}'"));
                // The storage lock is held for the allocation and the copy.
                let g = self.lock_storage(&spec).await.map_err(|e| fail(e, &made))?;
                tokio::time::sleep(t.dur(
                    t.storage_op_secs + t.clone_secs_per_gib * size as f64 / ByteSize::GIB as f64,
                ))
                .await;
                let new_name = {
                    let mut st = self.lock();
                    let k = Self::store_key(&spec, target);
                    if Self::used_bytes(&st, &k) + size > spec.capacity {
                        return Err(fail(
                            format!(
                                "unable to allocate {} on storage '{dest}': not enough free space",
                                ByteSize(size)
                            ),
                            &made,
                        ));
                    }
                    let mut n = Self::next_disk_name(&st, &k, &spec, newid, false);
                    if let Some(fmt) = &req.format
                        && spec.kind.is_file_based()
                    {
                        n = n.replace(".qcow2", &format!(".{fmt}"));
                    }
                    let format = if spec.kind.is_file_based() {
                        req.format.clone().unwrap_or("qcow2".into())
                    } else {
                        "raw".into()
                    };
                    st.volumes.entry(k).or_default().insert(
                        n.clone(),
                        Volume {
                            size,
                            format,
                            content: "images".into(),
                            vmid: Some(newid),
                            base: None,
                            ctime: unix_now(),
                        },
                    );
                    n
                };
                drop(g);
                made.push(format!("{dest}:{new_name}"));
                let from = VolumeFile::new(Self::store_key(&src_spec, node), name.clone());
                let to = VolumeFile::new(Self::store_key(&spec, target), new_name.clone());
                self.on_backend(move |b| b.copy_disk(&from, &to))
                    .await
                    .map_err(|e| fail(e, &made))?;
                log.log(format!(
                    "transferred {} of {} (100.00%)",
                    ByteSize(size),
                    ByteSize(size)
                ));
                drive.set_volume(DriveVolume::Volume {
                    storage: dest,
                    name: new_name,
                });
            } else {
                let is_base = name.contains("base-");
                if !is_base || src_spec.kind == StorageKind::Lvm {
                    return Err(fail(
                        format!("Linked clone feature is not supported for '{volid}' ({key})"),
                        &made,
                    ));
                }
                log.log(format!("drive {key}: linked clone of '{volid}'"));
                let g = self
                    .lock_storage(&src_spec)
                    .await
                    .map_err(|e| fail(e, &made))?;
                tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                let new_name = {
                    let mut st = self.lock();
                    let k = Self::store_key(&src_spec, target);
                    let stem = Self::next_disk_name(&st, &k, &src_spec, newid, false);
                    let n = match src_spec.kind {
                        StorageKind::Dir | StorageKind::Nfs => format!("{name}/{stem}"),
                        StorageKind::ZfsPool => format!("{name}/{stem}"),
                        _ => stem,
                    };
                    st.volumes.entry(k).or_default().insert(
                        n.clone(),
                        Volume {
                            size,
                            format: if src_spec.kind.is_file_based() {
                                "qcow2".into()
                            } else {
                                "raw".into()
                            },
                            content: "images".into(),
                            vmid: Some(newid),
                            base: Some(volid.clone()),
                            ctime: unix_now(),
                        },
                    );
                    n
                };
                drop(g);
                made.push(format!("{storage}:{new_name}"));
                let base = VolumeFile::new(Self::store_key(&src_spec, node), name.clone());
                let overlay = VolumeFile::new(Self::store_key(&src_spec, target), new_name.clone());
                self.on_backend(move |b| b.link_clone(&base, &overlay))
                    .await
                    .map_err(|e| fail(e, &made))?;
                drive.set_volume(DriveVolume::Volume {
                    storage: storage.clone(),
                    name: new_name,
                });
            }
            out.push((key.clone(), drive.canonical()));
        }
        let _ = src;
        Ok(out)
    }

    pub(super) async fn download_worker(
        &self,
        node: &str,
        storage: &str,
        req: &DownloadUrl,
        log: &TaskLog,
    ) -> std::result::Result<(), String> {
        // Proxmox's worker decides on decompression before it downloads anything: only ISOs,
        // only with the compressors it knows (ST `API2/Storage/Status.pm`, `download_url`, and
        // `Storage.pm`'s `decompressor_info`). The parameter has no enumeration in the schema
        // (`enum` is undefined there), so any value reaches the worker.
        if let Some(compression) = &req.compression {
            if req.content != "iso" {
                return Err(format!("decompression not supported for {}", req.content));
            }
            if !labform_proxmox::endpoint::storage::DOWNLOAD_DECOMPRESSORS
                .contains(&compression.as_str())
            {
                return Err("no decompression method found".to_owned());
            }
        }
        if self.inner.config.offline_downloads {
            return self.record_download(node, storage, req, log).await;
        }
        log.log(format!("downloading {} to {}", req.url, req.filename));
        labform_proxmox::tls::install_default_provider();
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| e.to_string())?;
        let resp = client
            .get(&req.url)
            .send()
            .await
            .map_err(|e| format!("download failed: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!(
                "download failed: {} {}",
                resp.status().as_u16(),
                resp.status().canonical_reason().unwrap_or("")
            ));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| format!("download failed: {e}"))?;
        if let Some(Checksum {
            algorithm: algo,
            value: expected,
        }) = &req.checksum
        {
            let got = match algo.as_str() {
                "sha256" => {
                    use sha2::Digest;
                    sha2::Sha256::digest(&bytes)
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                }
                "sha512" => {
                    use sha2::Digest;
                    sha2::Sha512::digest(&bytes)
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                }
                "sha1" => {
                    use sha1::Digest;
                    sha1::Sha1::digest(&bytes)
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                }
                other => return Err(format!("unsupported checksum algorithm '{other}'")),
            };
            if !got.eq_ignore_ascii_case(expected) {
                return Err(format!(
                    "checksum mismatch: got '{got}' != expected '{expected}'"
                ));
            }
            log.log("calculating checksum...OK, checksum verified");
        }
        let t = self.inner.config.timing;
        tokio::time::sleep(t.dur(t.clone_secs_per_gib * bytes.len() as f64 / ByteSize::GIB as f64))
            .await;
        let spec = self
            .storage_on(storage, node)
            .map_err(|e| e.message)?
            .clone();
        let name = format!("{}/{}", req.content, req.filename);
        let store = Self::store_key(&spec, node);
        let exists = |sim: &Simulator| {
            sim.lock()
                .volumes
                .get(&store)
                .is_some_and(|v| v.contains_key(&name))
        };
        if exists(self) {
            return Err(format!(
                "refusing to override existing file '{}'",
                req.filename
            ));
        }
        let length = bytes.len() as u64;
        let file = VolumeFile::new(store.clone(), name.clone());
        self.on_backend(move |b| b.write_volume(&file, &bytes))
            .await?;
        let mut st = self.lock();
        let vols = st.volumes.entry(store.clone()).or_default();
        if vols.contains_key(&name) {
            return Err(format!(
                "refusing to override existing file '{}'",
                req.filename
            ));
        }
        let format = match req.content.as_str() {
            "iso" => "iso".to_owned(),
            _ => req.filename.rsplit('.').next().unwrap_or("raw").to_owned(),
        };
        vols.insert(
            name,
            Volume {
                size: length,
                format,
                content: req.content.clone(),
                vmid: None,
                base: None,
                ctime: unix_now(),
            },
        );
        log.log(format!("download of '{}' finished", req.url));
        Ok(())
    }

    /// `download-url` on a simulator whose downloads are offline: the file is recorded (in the
    /// state's `recorded_downloads`) and a volume of [`OFFLINE_DOWNLOAD_SIZE`] made, nothing is
    /// fetched, and the task log says so.
    async fn record_download(
        &self,
        node: &str,
        storage: &str,
        req: &DownloadUrl,
        log: &TaskLog,
    ) -> std::result::Result<(), String> {
        log.log(format!(
            "offline simulator: {} is recorded, not fetched, as {}",
            req.url, req.filename
        ));
        if req.checksum.is_some() {
            log.log("checksum not verified: nothing was downloaded");
        }
        let t = self.inner.config.timing;
        tokio::time::sleep(t.dur(t.storage_op_secs)).await;
        let spec = self
            .storage_on(storage, node)
            .map_err(|e| e.message)?
            .clone();
        let name = format!("{}/{}", req.content, req.filename);
        let store = Self::store_key(&spec, node);
        let mut st = self.lock();
        let vols = st.volumes.entry(store.clone()).or_default();
        if vols.contains_key(&name) {
            return Err(format!(
                "refusing to override existing file '{}'",
                req.filename
            ));
        }
        let format = match req.content.as_str() {
            "iso" => "iso".to_owned(),
            _ => req.filename.rsplit('.').next().unwrap_or("raw").to_owned(),
        };
        vols.insert(
            name.clone(),
            Volume {
                size: OFFLINE_DOWNLOAD_SIZE,
                format,
                content: req.content.clone(),
                vmid: None,
                base: None,
                ctime: unix_now(),
            },
        );
        st.recorded_downloads.push(RecordedDownload {
            node: node.to_owned(),
            volume: format!("{storage}:{name}"),
            url: req.url.clone(),
            checksum: req
                .checksum
                .as_ref()
                .map(|checksum| format!("{}:{}", checksum.algorithm, checksum.value)),
            time: unix_now(),
        });
        log.log(format!("download of '{}' recorded", req.url));
        Ok(())
    }

    /// Puts an image into a storage as if `download-url` had fetched it, after the checks
    /// Proxmox makes of that request (the file name's extension for the content type, the
    /// storage's content types): a file Proxmox would refuse to download is refused here too,
    /// with Proxmox's message.
    pub fn preseed_download(
        &self,
        node: &str,
        storage: &str,
        content: &str,
        filename: &str,
        size: u64,
    ) -> std::result::Result<(), String> {
        let spec = self
            .storage_on(storage, node)
            .map_err(|e| e.message)?
            .clone();
        super::storage::check_download_request(&spec, storage, content, filename).map_err(
            |error| match error.errors.iter().next() {
                Some((parameter, detail)) => format!("{parameter}: {detail}"),
                None => error.message.trim_end().to_owned(),
            },
        )?;
        self.store_upload(node, storage, content, filename, size)
    }

    /// Stores an uploaded file (the ISO upload endpoint).
    pub fn store_upload(
        &self,
        node: &str,
        storage: &str,
        content: &str,
        filename: &str,
        size: u64,
    ) -> std::result::Result<(), String> {
        let spec = self
            .storage_on(storage, node)
            .map_err(|e| e.message)?
            .clone();
        let mut st = self.lock();
        let vols = st.volumes.entry(Self::store_key(&spec, node)).or_default();
        let name = format!("{content}/{filename}");
        vols.insert(
            name,
            Volume {
                size,
                format: if content == "iso" {
                    "iso".into()
                } else {
                    "raw".into()
                },
                content: content.into(),
                vmid: None,
                base: None,
                ctime: unix_now(),
            },
        );
        Ok(())
    }

    /// Adds a pool.
    pub fn create_pool(&self, pool: &str, comment: Option<&str>) {
        self.lock().pools.entry(pool.to_owned()).or_insert(Pool {
            comment: comment.map(str::to_owned),
            ..Pool::default()
        });
    }

    /// Takes a snapshot of a VM's config (state only, no task).
    pub fn snapshot(&self, vmid: u32, name: &str) -> bool {
        let mut st = self.lock();
        match st.vms.get_mut(&vmid) {
            Some(vm) => {
                let conf = vm.conf.clone();
                vm.snapshots.insert(
                    name.to_owned(),
                    Snapshot {
                        conf,
                        snaptime: unix_now(),
                        description: String::new(),
                    },
                );
                true
            }
            None => false,
        }
    }
}
