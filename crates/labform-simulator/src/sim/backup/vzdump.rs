//! `POST /nodes/{node}/vzdump` (`API2/VZDump.pm`, `VZDump.pm`): a `vzdump`
//! task writing one archive per guest to a storage with `backup` content,
//! each guest under its `backup` lock; the request is the typed `Vzdump` its
//! declaration decodes.

use super::super::*;
use super::{given, verify_vzdump_parameters};
use crate::datacenter::{BackupArchive, archive_key};
use labform_proxmox::endpoint::{self, form};

impl SimClient {
    /// `POST /nodes/{node}/vzdump`: a `vzdump` task backing up the guests
    /// `request` selects that live on `node`, one archive each; `OK` without
    /// a task when none of them lives there.
    pub async fn vzdump(&self, node: &str, request: &Vzdump) -> Result<String> {
        self.run(&endpoint::backup::VZDUMP, &[&node], async {
            let call = self.on_node(node);
            let selected = call.read(|st| {
                if request.stdout == Some(true) {
                    return Err(ApiError::param(
                        "stdout",
                        "option is only allowed on the command line interface.",
                    ));
                }
                self.check_backup_options(st, &given(request))?;
                let mut checked = request.options.clone();
                verify_vzdump_parameters(&mut checked, true)?;
                let all = checked.all == Some(true);
                let selected: Vec<u32> = if let Some(pool) = &checked.pool {
                    st.pools
                        .get(pool)
                        .map(|p| p.vms.iter().copied().collect())
                        .unwrap_or_default()
                } else if !checked.vmids.is_empty() {
                    checked.vmids.iter().map(|id| id.get()).collect()
                } else {
                    st.vms
                        .keys()
                        .copied()
                        .filter(|id| !checked.exclude.iter().any(|x| x.get() == *id))
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
                    .storage
                    .as_ref()
                    .map_or_else(|| "local".to_owned(), ToString::to_string);
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
            let options = request.options.clone();
            let upid = call.task("vzdump", &task_id, move |task| async move {
                task.client()
                    .vzdump_worker(&task.node, &storage, &vmids, &options, &task.log)
                    .await
            });
            Ok(upid.to_string())
        })
        .await
    }

    /// The `vzdump` task: each guest in turn, under its `backup` lock.
    async fn vzdump_worker(
        &self,
        node: &str,
        storage: &str,
        vmids: &[u32],
        options: &VzdumpOptions,
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
        options: &VzdumpOptions,
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
                notes: options.notes_template.as_ref().map(|template| {
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
                protected: options.protected == Some(true),
            };
            let total: u64 = archive.disks.values().sum();
            let running = vm.running;
            vm.conf.insert("lock".into(), "backup".into());
            (archive, vm.conf.get("name").cloned(), running, total)
        };
        let result = async {
            let compress = options.compress.as_deref().unwrap_or("0");
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
                options.mode.as_deref().unwrap_or("snapshot")
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
}

/// The command line vzdump logs for this backup: the guests, then each option in its wire
/// form.
fn command_line(vmids: &[u32], options: &VzdumpOptions) -> String {
    let mut parts: Vec<String> = vmids.iter().map(u32::to_string).collect();
    let params = form::encode(&endpoint::backup::VZDUMP, options).unwrap_or_default();
    for (key, value) in params {
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
}
