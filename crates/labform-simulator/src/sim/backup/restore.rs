//! Restoring a guest from a backup archive: `POST /nodes/{node}/qemu` with
//! `archive` (qemu-server's `create_vm`), a `qmrestore` task.

use super::super::*;
use crate::datacenter::{BackupArchive, archive_key};
use labform_proxmox::endpoint;

/// A restore: `POST /nodes/{node}/qemu` with `archive`, decoded from its parameters by the
/// endpoint's declaration (`endpoint::form::decode`).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct Restore {
    /// The guest to restore into.
    pub vmid: u32,
    /// The backup volume (`local:backup/vzdump-qemu-...`).
    pub archive: String,
    /// Storage for the disks (default: each disk's own).
    pub storage: Option<String>,
    /// Pool to add the guest to.
    pub pool: Option<String>,
    /// Overwrite an existing guest.
    pub force: bool,
    /// Start the guest afterwards.
    pub start: bool,
    /// New MAC addresses.
    pub unique: bool,
    /// Config keys given beside the archive (they override the archived ones): the parameters
    /// the endpoint does not declare (`endpoint::form::extra_params`).
    #[serde(skip)]
    pub config: BTreeMap<String, String>,
}

impl SimClient {
    /// `POST /nodes/{node}/qemu` with `archive`: a `qmrestore` task making
    /// guest `vmid` from the archive's config and disks.
    pub async fn restore_vm(&self, node: &str, restore: &Restore) -> Result<Upid> {
        self.run(&endpoint::qemu::CREATE_VM, &[&node], async {
            let vmid = restore.vmid;
            let emsg = format!("unable to restore VM {vmid} -");
            let call = self.on_node(node);
            let (archive, spec_key, old_disks) = call.change(|st| {
                if let Some(key) = restore.config.keys().find(|k| is_drive_key(k)) {
                    return Err(ApiError::param(key, "option conflicts with option 'archive'"));
                }
                if let Some(pool) = &restore.pool
                    && !st.pools.contains_key(pool)
                {
                    return Err(e500(format!("pool '{pool}' does not exist")));
                }
                if let Some(storage) = &restore.storage {
                    self.check(st, &format!("/storage/{storage}"), "Datastore.AllocateSpace")?;
                }
                if restore.start {
                    self.check(st, &format!("/vms/{vmid}"), "VM.PowerMgmt")?;
                }
                let existing = st.vms.get(&vmid);
                let allowed = st.has(&self.who, &format!("/vms/{vmid}"), "VM.Allocate")
                    || restore
                        .pool
                        .as_ref()
                        .is_some_and(|p| st.has(&self.who, &format!("/pool/{p}"), "VM.Allocate"))
                    || (restore.force
                        && existing.is_some()
                        && st.has(&self.who, &format!("/vms/{vmid}"), "VM.Backup"));
                if !allowed {
                    return Err(ApiError::new(403, "Permission check failed"));
                }
                let (storage, name) = restore
                    .archive
                    .split_once(':')
                    .ok_or_else(|| e500("Only root can pass arbitrary filesystem paths."))?;
                let spec = self.sim.storage_on(storage, node)?.clone();
                let key = Simulator::store_key(&spec, node);
                let volume = st
                    .volumes
                    .get(&key)
                    .and_then(|m| m.get(name))
                    .ok_or_else(|| e500(format!("volume '{}' does not exist", restore.archive)))?;
                if volume.content != "backup" {
                    return Err(e500(format!(
                        "unable to use volume {} - content type needs to be 'backup'",
                        restore.archive
                    )));
                }
                let owner = volume.vmid;
                if !st.has(&self.who, &format!("/storage/{storage}"), "Datastore.Allocate")
                    && owner != Some(vmid)
                {
                    self.check(st, &format!("/storage/{storage}"), "Datastore.AllocateSpace")?;
                    if let Some(owner) = owner {
                        self.check(st, &format!("/vms/{owner}"), "VM.Backup")?;
                    }
                }
                let archive = st
                    .datacenter
                    .backup_archives
                    .get(&archive_key(&key, name))
                    .cloned()
                    .ok_or_else(|| e500(format!("{emsg} unable to read the archive '{}'", restore.archive)))?;
                let mut old_disks = Vec::new();
                match st.vms.get_mut(&vmid) {
                    Some(vm) if !restore.force || vm.node != node => {
                        return Err(e500(format!("{emsg} VM {vmid} already exists on node '{}'", vm.node)));
                    }
                    Some(vm) => {
                        if vm.conf.get("protection").is_some_and(|v| v == "1") {
                            return Err(e500(format!("{emsg} protection mode enabled")));
                        }
                        if vm.running {
                            return Err(e500(format!("{emsg} vm is running")));
                        }
                        SimClient::check_lock(vm)?;
                        old_disks = vm
                            .conf
                            .iter()
                            .filter(|(k, _)| is_drive_key(k))
                            .filter_map(|(_, v)| Drive::parse(v).ok())
                            .filter(|d| !d.is_cdrom() || matches!(&d.volume, DriveVolume::Volume { name, .. } if name.contains("-cloudinit")))
                            .filter_map(|d| match d.volume {
                                DriveVolume::Volume { storage, name } => Some(format!("{storage}:{name}")),
                                _ => None,
                            })
                            .collect();
                        vm.conf.insert("lock".into(), "create".into());
                    }
                    None => {
                        let mut vm = Vm::new(vmid, node);
                        vm.conf.insert("lock".into(), "create".into());
                        st.vms.insert(vmid, vm);
                    }
                }
                Ok((archive, key, old_disks))
            })?;
            let _ = spec_key;
            let restore = restore.clone();
            Ok(call.task("qmrestore", &vmid.to_string(), move |task| async move {
                let result = task.client().restore_worker(&task.node, &restore, archive, old_disks, &task.log).await;
                if result.is_err()
                    && let Some(vm) = task.sim.lock().vms.get_mut(&restore.vmid)
                {
                    vm.conf.remove("lock");
                }
                result.map_err(|e| format!("unable to restore VM {} - {e}", restore.vmid))
            }))
        })
        .await
    }

    /// The `qmrestore` task: the old disks go, the archived ones are made anew.
    async fn restore_worker(
        &self,
        node: &str,
        restore: &Restore,
        archive: BackupArchive,
        old_disks: Vec<String>,
        log: &TaskLog,
    ) -> std::result::Result<(), String> {
        let vmid = restore.vmid;
        let _config = self.sim.lock_vm_config(vmid).await?;
        log.log(format!("restore vma archive: {}", restore.archive));
        {
            let mut st = self.sim.lock();
            for volid in &old_disks {
                if let Some(spec) = volid
                    .split_once(':')
                    .and_then(|(s, _)| self.sim.storage(s))
                    .cloned()
                {
                    self.sim.free_volume(&mut st, node, volid, &spec);
                }
            }
        }
        let mut disks = Vec::new();
        let mut conf = archive.config.clone();
        for (key, value) in &archive.config {
            let Ok(mut drive) = Drive::parse(value) else {
                continue;
            };
            if !is_drive_key(key) {
                continue;
            }
            let original = drive.volume.storage().map(str::to_owned);
            let target = restore.storage.clone().or(original);
            match (&drive.volume, target) {
                (DriveVolume::Volume { name, .. }, Some(storage))
                    if name.contains("-cloudinit") =>
                {
                    drive.set_volume(DriveVolume::CloudInit { storage });
                    conf.remove(key);
                    disks.push((key.clone(), drive));
                }
                (_, Some(storage)) if archive.disks.contains_key(key) => {
                    let bytes = archive.disks[key];
                    let gib = bytes as f64 / ByteSize::GIB as f64;
                    drive.set_volume(DriveVolume::Allocate {
                        storage,
                        size_gib: format!("{gib}"),
                    });
                    drive.remove("size");
                    conf.remove(key);
                    disks.push((key.clone(), drive));
                }
                _ => {}
            }
        }
        let made = SimClient::materialize_disks(&self.sim, node, vmid, disks, log).await?;
        {
            let mut st = self.sim.lock();
            conf.extend(made);
            conf.extend(restore.config.clone());
            conf.remove("lock");
            if restore.unique {
                for (key, value) in conf.iter_mut() {
                    if indexed(key, "net", 31)
                        && let Ok(mut net) = NetDevice::parse(value)
                    {
                        net.set_macaddr(Simulator::gen_mac(&mut st));
                        *value = net.to_string();
                    }
                }
            }
            let pool = restore.pool.clone();
            let vm = st
                .vms
                .get_mut(&vmid)
                .ok_or_else(|| format!("VM {vmid} vanished"))?;
            vm.conf = conf;
            vm.pending.clear();
            vm.pending_delete.clear();
            vm.snapshots.clear();
            if let Some(pool) = &pool {
                vm.pool = Some(pool.clone());
            }
            if let Some(pool) = pool {
                st.pools.entry(pool).or_default().vms.insert(vmid);
            }
        }
        log.log(format!("restore of VM {vmid} finished"));
        if restore.start {
            self.do_start(node, vmid, log).await?;
        }
        Ok(())
    }
}
