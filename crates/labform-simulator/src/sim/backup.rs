//! Backups as pve-manager has them: backup jobs (`API2/Backup.pm`,
//! `jobs.cfg`), `vzdump` (`API2/VZDump.pm`, `VZDump.pm`) writing an archive
//! of each guest to a storage with `backup` content, and restoring a guest
//! from such an archive (qemu-server's `create_vm` with `archive`, task
//! `qmrestore`).

use super::*;
use crate::datacenter::{BackupArchive, Section, archive_key};
use crate::routes::{ROUTES, Ty};

/// Options only `root@pam` may set on a backup or a backup job.
const ROOT_ONLY: &[&str] = &["tmpdir", "dumpdir", "script", "job-id"];

/// Options a backup job may drop beyond the vzdump options.
const DELETABLE: &[&str] = &["comment", "repeat-missed"];

/// A restore: `POST /nodes/{node}/qemu` with `archive`.
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// Config keys given beside the archive (they override the archived ones).
    pub config: BTreeMap<String, String>,
}

impl SimClient {
    /// Proxmox's `assert_param_permission_common` for backups and backup jobs.
    fn check_backup_options(
        &self,
        st: &State,
        options: &BTreeMap<String, String>,
    ) -> std::result::Result<(), ApiError> {
        if self.who.user == "root@pam" && self.who.token.is_none() {
            return Ok(());
        }
        if let Some(key) = ROOT_ONLY.iter().find(|k| options.contains_key(**k)) {
            return Err(ApiError::param(key, "Only root may set this option."));
        }
        if ["bwlimit", "ionice", "performance"]
            .iter()
            .any(|k| options.contains_key(*k))
        {
            self.check(st, "/", "Sys.Modify")?;
        }
        Ok(())
    }

    /// `GET /cluster/backup`: every backup job (`Sys.Audit` on `/`).
    pub async fn backup_job_index(&self) -> Result<Vec<serde_json::Value>> {
        self.run("GET", "/cluster/backup", "/cluster/backup".into(), async {
            let st = self.sim.lock();
            self.check(&st, "/", "Sys.Audit")?;
            Ok(st
                .datacenter
                .backup_jobs
                .sections
                .iter()
                .map(job_entry)
                .collect())
        })
        .await
    }

    /// `GET /cluster/backup/{id}`.
    pub async fn backup_job_read(&self, id: &str) -> Result<serde_json::Value> {
        self.run(
            "GET",
            "/cluster/backup/{id}",
            format!("/cluster/backup/{id}"),
            async {
                let st = self.sim.lock();
                self.check(&st, "/", "Sys.Audit")?;
                st.datacenter
                    .backup_jobs
                    .get(id)
                    .map(job_entry)
                    .ok_or_else(|| ApiError::param("id", format!("No such job '{id}'")))
            },
        )
        .await
    }

    /// `POST /cluster/backup`: a new job from `options` (every parameter but
    /// `id`), with Proxmox's checks; the id is generated when not given.
    pub async fn backup_job_create(
        &self,
        id: Option<&str>,
        options: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.run("POST", "/cluster/backup", "/cluster/backup".into(), async {
            let mut st = self.sim.lock();
            self.check(&st, "/", "Sys.Modify")?;
            self.check_backup_options(&st, options)?;
            if !(self.who.user == "root@pam" && self.who.token.is_none()) {
                let storage = options.get("storage").map_or("local", String::as_str);
                if !options.contains_key("dumpdir") {
                    self.check(&st, &format!("/storage/{storage}"), "Datastore.Allocate")?;
                }
            }
            let mut options = options.clone();
            self.check_backup_pool(&st, &options)?;
            schedule_check(&mut options, true)?;
            options
                .entry("enabled".into())
                .or_insert_with(|| "1".into());
            let id = id.map_or_else(random_uuid, str::to_owned);
            if st.datacenter.backup_jobs.get(&id).is_some() {
                return Err(e500(format!("Job '{id}' already exists")));
            }
            verify_vzdump_parameters(&mut options, true)?;
            st.datacenter.backup_jobs.sections.push(Section {
                kind: "vzdump".into(),
                id,
                options,
            });
            Ok(())
        })
        .await
    }

    /// `PUT /cluster/backup/{id}`: `options` set, `delete` dropped, with
    /// Proxmox's rule that `vmid`, `all` and `pool` exclude each other.
    pub async fn backup_job_update(
        &self,
        id: &str,
        options: &BTreeMap<String, String>,
        delete: &[String],
    ) -> Result<()> {
        self.run(
            "PUT",
            "/cluster/backup/{id}",
            format!("/cluster/backup/{id}"),
            async {
                let mut st = self.sim.lock();
                self.check(&st, "/", "Sys.Modify")?;
                let deleted: BTreeMap<String, String> =
                    delete.iter().map(|k| (k.clone(), "1".into())).collect();
                self.check_backup_options(&st, options)?;
                self.check_backup_options(&st, &deleted)?;
                self.check_backup_pool(&st, options)?;
                let mut options = options.clone();
                schedule_check(&mut options, false)?;
                if options.is_empty() && delete.is_empty() {
                    return Err(e500("no options specified"));
                }
                verify_vzdump_parameters(&mut options.clone(), false)?;
                let job = st
                    .datacenter
                    .backup_jobs
                    .get_mut(id)
                    .ok_or_else(|| e500("no such vzdump job"))?;
                for key in delete {
                    if !DELETABLE.contains(&key.as_str()) && job_option_type(key).is_none() {
                        return Err(ApiError::param("delete", format!("unknown option '{key}'")));
                    }
                    job.options.remove(key);
                }
                let mut next = job.options.clone();
                next.extend(options.clone());
                if next.contains_key("exclude") && !next.contains_key("pool") {
                    next.insert("all".into(), "1".into());
                }
                if options.contains_key("vmid") {
                    for key in ["all", "exclude", "pool"] {
                        next.remove(key);
                    }
                } else if options.get("all").is_some_and(|v| v == "1") {
                    next.remove("vmid");
                    next.remove("pool");
                } else if next.contains_key("pool") {
                    for key in ["vmid", "all", "exclude"] {
                        next.remove(key);
                    }
                }
                verify_vzdump_parameters(&mut next, true)?;
                job.options = next;
                Ok(())
            },
        )
        .await
    }

    /// `DELETE /cluster/backup/{id}`.
    pub async fn backup_job_delete(&self, id: &str) -> Result<()> {
        self.run(
            "DELETE",
            "/cluster/backup/{id}",
            format!("/cluster/backup/{id}"),
            async {
                let mut st = self.sim.lock();
                self.check(&st, "/", "Sys.Modify")?;
                if !st.datacenter.backup_jobs.remove(id) {
                    return Err(ApiError::param("id", format!("No such job '{id}'")));
                }
                Ok(())
            },
        )
        .await
    }

    /// A job's or backup's `pool` must exist and allow `VM.Backup`.
    fn check_backup_pool(
        &self,
        st: &State,
        options: &BTreeMap<String, String>,
    ) -> std::result::Result<(), ApiError> {
        if let Some(pool) = options.get("pool") {
            if !st.pools.contains_key(pool) {
                return Err(e500(format!("pool '{pool}' does not exist")));
            }
            self.check(st, &format!("/pool/{pool}"), "VM.Backup")?;
        }
        Ok(())
    }

    /// `POST /nodes/{node}/vzdump`: a `vzdump` task backing up the guests
    /// `options` select that live on `node`, one archive each; `OK` without
    /// a task when none of them lives there.
    pub async fn vzdump(&self, node: &str, options: &BTreeMap<String, String>) -> Result<String> {
        self.run(
            "POST",
            "/nodes/{node}/vzdump",
            format!("/nodes/{node}/vzdump"),
            async {
                let call = self.on_node(node);
                let selected = call.read(|st| {
                    if options.get("stdout").is_some_and(|v| v == "1") {
                        return Err(ApiError::param(
                            "stdout",
                            "option is only allowed on the command line interface.",
                        ));
                    }
                    self.check_backup_options(st, options)?;
                    let mut checked = options.clone();
                    verify_vzdump_parameters(&mut checked, true)?;
                    let all = checked.get("all").is_some_and(|v| v == "1");
                    let selected: Vec<u32> = if let Some(pool) = checked.get("pool") {
                        st.pools
                            .get(pool)
                            .map(|p| p.vms.iter().copied().collect())
                            .unwrap_or_default()
                    } else if let Some(list) = checked.get("vmid") {
                        list.split([',', ';', ' '])
                            .filter_map(|v| v.parse().ok())
                            .collect()
                    } else {
                        let exclude: Vec<u32> = checked
                            .get("exclude")
                            .map(|l| {
                                l.split([',', ';', ' '])
                                    .filter_map(|v| v.parse().ok())
                                    .collect()
                            })
                            .unwrap_or_default();
                        st.vms
                            .keys()
                            .copied()
                            .filter(|id| !exclude.contains(id))
                            .collect()
                    };
                    let mut local: Vec<u32> = selected
                        .iter()
                        .copied()
                        .filter(|id| st.vms.get(id).is_none_or(|vm| vm.node == node))
                        .collect();
                    local.sort_unstable();
                    if local.is_empty() && !all {
                        return Ok(None);
                    }
                    let storage = checked
                        .get("storage")
                        .cloned()
                        .unwrap_or_else(|| "local".into());
                    self.check(
                        st,
                        &format!("/storage/{storage}"),
                        "Datastore.AllocateSpace",
                    )?;
                    // Guests the caller may not back up: an error, or left out with `all`.
                    let mut allowed = Vec::new();
                    for id in local {
                        if !st.vms.contains_key(&id)
                            || st.has(&self.who, &format!("/vms/{id}"), "VM.Backup")
                        {
                            allowed.push(id);
                        } else if !all {
                            return Err(e403(&format!("/vms/{id}"), "VM.Backup"));
                        }
                    }
                    Ok(Some((allowed, storage)))
                })?;
                // None of the guests lives here: `OK`, without a task.
                let Some((vmids, storage)) = selected else {
                    return Ok("OK".to_owned());
                };
                let task_id = match vmids.as_slice() {
                    [one] => one.to_string(),
                    _ => String::new(),
                };
                let options = options.clone();
                let upid = call.task("vzdump", &task_id, move |task| async move {
                    task.client()
                        .vzdump_worker(&task.node, &storage, &vmids, &options, &task.log)
                        .await
                });
                Ok(upid.to_string())
            },
        )
        .await
    }

    /// The `vzdump` task: each guest in turn, under its `backup` lock.
    async fn vzdump_worker(
        &self,
        node: &str,
        storage: &str,
        vmids: &[u32],
        options: &BTreeMap<String, String>,
        log: &TaskLog,
    ) -> std::result::Result<(), String> {
        let spec = self
            .sim
            .storage_on(storage, node)
            .map_err(|e| e.message)?
            .clone();
        if !spec.content.iter().any(|c| c == "backup") {
            return Err(format!(
                "can't use storage '{storage}' for backups - wrong content type"
            ));
        }
        log.log(format!(
            "INFO: starting new backup job: vzdump {}",
            command_line(vmids, options)
        ));
        let mut errors = 0;
        for &vmid in vmids {
            if let Err(e) = self.backup_guest(node, &spec, vmid, options, log).await {
                log.log(format!("ERROR: Backup of VM {vmid} failed - {e}"));
                errors += 1;
            }
        }
        if errors > 0 {
            log.log("INFO: Backup job finished with errors");
            return Err("job errors".into());
        }
        log.log("INFO: Backup job finished successfully");
        Ok(())
    }

    /// Backs up one guest into `spec`: the archive's size follows its disks.
    async fn backup_guest(
        &self,
        node: &str,
        spec: &StorageSpec,
        vmid: u32,
        options: &BTreeMap<String, String>,
        log: &TaskLog,
    ) -> std::result::Result<(), String> {
        let t = self.sim.inner.config.timing;
        let _config = self.sim.lock_vm_config(vmid).await?;
        let now = unix_now();
        let (archive, name, running, total) = {
            let mut st = self.sim.lock();
            let vm = st
                .vms
                .get_mut(&vmid)
                .filter(|vm| vm.node == node)
                .ok_or_else(|| format!("unable to find VM '{vmid}'"))?;
            if let Some(lock) = vm.lock() {
                return Err(format!("VM is locked ({lock})"));
            }
            let mut disks = BTreeMap::new();
            for (key, value) in &vm.conf {
                if let Ok(drive) = Drive::parse(value)
                    && is_drive_key(key)
                    && !drive.is_cdrom()
                {
                    disks.insert(key.clone(), drive.size.map_or(0, |s| s.0));
                }
            }
            let archive = BackupArchive {
                config: vm.conf.clone(),
                disks,
                notes: options.get("notes-template").map(|template| {
                    let guest = vm
                        .conf
                        .get("name")
                        .cloned()
                        .unwrap_or_else(|| format!("VM {vmid}"));
                    template
                        .replace("{{guestname}}", &guest)
                        .replace("{{vmid}}", &vmid.to_string())
                        .replace("{{node}}", node)
                        .replace("{{cluster}}", &self.sim.inner.config.cluster_name)
                }),
                protected: options.get("protected").is_some_and(|v| v == "1"),
            };
            let total: u64 = archive.disks.values().sum();
            let running = vm.running;
            vm.conf.insert("lock".into(), "backup".into());
            (archive, vm.conf.get("name").cloned(), running, total)
        };
        let result = async {
            let compress = options.get("compress").map_or("0", String::as_str);
            let extension = match compress {
                "gzip" => "vma.gz",
                "lzo" | "1" => "vma.lzo",
                "zstd" => "vma.zst",
                _ => "vma",
            };
            let stamp = format_utc(now, "_", "-", "_");
            let file = format!("backup/vzdump-qemu-{vmid}-{stamp}.{extension}");
            log.log(format!("INFO: Starting Backup of VM {vmid} (qemu)"));
            log.log(format!(
                "INFO: Backup started at {}",
                format_utc(now, "-", " ", ":")
            ));
            log.log(format!(
                "INFO: status = {}",
                if running { "running" } else { "stopped" }
            ));
            log.log(format!(
                "INFO: backup mode: {}",
                options.get("mode").map_or("snapshot", String::as_str)
            ));
            if let Some(name) = &name {
                log.log(format!("INFO: VM Name: {name}"));
            }
            log.log(format!(
                "INFO: creating vzdump archive '{}:{file}'",
                spec.id
            ));
            tokio::time::sleep(t.dur(t.clone_secs_per_gib * total as f64 / ByteSize::GIB as f64))
                .await;
            // A simulated guest's disks are mostly empty: an eighth of their
            // size compressed, a quarter without.
            let size = (if extension == "vma" {
                total / 4
            } else {
                total / 8
            })
            .max(1 << 20);
            let key = Simulator::store_key(spec, node);
            let mut st = self.sim.lock();
            if Simulator::used_bytes(&st, &key) + size > spec.capacity {
                return Err(format!(
                    "unable to write the archive to storage '{}': not enough free space",
                    spec.id
                ));
            }
            st.volumes.entry(key.clone()).or_default().insert(
                file.clone(),
                Volume {
                    size,
                    format: extension.into(),
                    content: "backup".into(),
                    vmid: Some(vmid),
                    base: None,
                    ctime: now,
                },
            );
            let protected = archive.protected;
            let notes = archive.notes.is_some();
            st.datacenter
                .backup_archives
                .insert(archive_key(&key, &file), archive);
            drop(st);
            log.log(format!("INFO: archive file size: {}", ByteSize(size)));
            if notes {
                log.log("INFO: adding notes to backup");
            }
            if protected {
                log.log("INFO: marking backup as protected");
            }
            log.log(format!("INFO: Finished Backup of VM {vmid} (00:00:01)"));
            Ok(())
        }
        .await;
        if let Some(vm) = self.sim.lock().vms.get_mut(&vmid) {
            vm.conf.remove("lock");
        }
        result
    }

    /// `POST /nodes/{node}/qemu` with `archive`: a `qmrestore` task making
    /// guest `vmid` from the archive's config and disks.
    pub async fn restore_vm(&self, node: &str, restore: &Restore) -> Result<Upid> {
        self.run("POST", "/nodes/{node}/qemu", format!("/nodes/{node}/qemu"), async {
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

/// A backup job as `GET /cluster/backup` lists it: its options typed as the
/// schema types them, `id` and `type`.
fn job_entry(job: &Section) -> serde_json::Value {
    let mut entry: serde_json::Map<String, serde_json::Value> = job
        .options
        .iter()
        .map(|(k, v)| {
            let value = match job_option_type(k) {
                Some(Ty::Int(_)) | Some(Ty::Bool) => v.parse::<i64>().map_or_else(
                    |_| serde_json::Value::from(v.clone()),
                    serde_json::Value::from,
                ),
                _ => v.clone().into(),
            };
            (k.clone(), value)
        })
        .collect();
    entry.insert("id".into(), job.id.clone().into());
    entry.insert("type".into(), "vzdump".into());
    entry.into()
}

/// The type of backup job option `key`, from the route table.
fn job_option_type(key: &str) -> Option<Ty> {
    ROUTES
        .iter()
        .find(|r| r.method == "POST" && r.template == "/cluster/backup")
        .and_then(|r| r.params.iter().find(|p| p.name == key))
        .map(|p| p.ty)
}

/// The job's `schedule`, from the older `starttime` and `dow` when given.
fn schedule_check(
    options: &mut BTreeMap<String, String>,
    required: bool,
) -> std::result::Result<(), ApiError> {
    let starttime = options.remove("starttime");
    let dow = options.remove("dow");
    match (options.contains_key("schedule"), starttime) {
        (true, Some(_)) => Err(ApiError::param(
            "starttime",
            "'starttime' and 'schedule' cannot both be set",
        )),
        (false, None) if required => Err(ApiError::param(
            "schedule",
            "neither 'starttime' nor 'schedule' were set",
        )),
        (false, Some(start)) => {
            let days = dow.map(|d| {
                d.split([',', ' ', ';'])
                    .filter(|x| !x.is_empty())
                    .collect::<Vec<_>>()
                    .join(",")
            });
            let schedule = match days {
                Some(d) if d != "mon,tue,wed,thu,fri,sat,sun" => format!("{d} {start}"),
                _ => start,
            };
            options.insert("schedule".into(), schedule);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `PVE::VZDump::verify_vzdump_parameters`: `all`, `exclude` and `pool`
/// exclude `vmid`, and (when `check_missing`) something must be selected.
fn verify_vzdump_parameters(
    options: &mut BTreeMap<String, String>,
    check_missing: bool,
) -> std::result::Result<(), ApiError> {
    let set = |options: &BTreeMap<String, String>, k: &str| {
        options.get(k).is_some_and(|v| !v.is_empty() && v != "0")
    };
    if set(options, "vmid") {
        for key in ["all", "exclude", "pool"] {
            if set(options, key) {
                return Err(ApiError::param(key, "option conflicts with option 'vmid'"));
            }
        }
    }
    if options.contains_key("exclude") && !set(options, "pool") {
        options.insert("all".into(), "1".into());
    }
    if check_missing
        && !(set(options, "all") || set(options, "stop") || set(options, "pool"))
        && !set(options, "vmid")
    {
        return Err(ApiError::param("vmid", "property is missing"));
    }
    Ok(())
}

/// The command line vzdump logs for this backup.
fn command_line(vmids: &[u32], options: &BTreeMap<String, String>) -> String {
    let mut parts: Vec<String> = vmids.iter().map(u32::to_string).collect();
    for (key, value) in options {
        if key != "vmid" && key != "node" {
            parts.push(format!("--{key} {value}"));
        }
    }
    parts.join(" ")
}

/// `unix` as `YYYY<d>MM<d>DD<t>HH<c>MM<c>SS` in UTC (the simulated node's time zone).
fn format_utc(unix: u64, date_sep: &str, between: &str, time_sep: &str) -> String {
    let days = unix / 86_400;
    let seconds = unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{date_sep}{month:02}{date_sep}{day:02}{between}{:02}{time_sep}{:02}{time_sep}{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_use_the_civil_date() {
        assert_eq!(format_utc(0, "_", "-", "_"), "1970_01_01-00_00_00");
        assert_eq!(
            format_utc(1_796_601_600 + 3_723, "_", "-", "_"),
            "2026_12_07-01_02_03"
        );
        assert_eq!(
            format_utc(951_782_400, "-", " ", ":"),
            "2000-02-29 00:00:00"
        );
    }

    #[test]
    fn vmid_excludes_all_pool_and_exclude() {
        let mut options: BTreeMap<String, String> = [
            ("vmid".to_owned(), "100".to_owned()),
            ("all".to_owned(), "1".to_owned()),
        ]
        .into();
        let e = verify_vzdump_parameters(&mut options, true).unwrap_err();
        assert_eq!(e.errors["all"], "option conflicts with option 'vmid'");
        let mut nothing = BTreeMap::new();
        let e = verify_vzdump_parameters(&mut nothing, true).unwrap_err();
        assert_eq!(e.errors["vmid"], "property is missing");
        let mut exclude: BTreeMap<String, String> =
            [("exclude".to_owned(), "100".to_owned())].into();
        verify_vzdump_parameters(&mut exclude, true).unwrap();
        assert_eq!(exclude["all"], "1");
    }
}
