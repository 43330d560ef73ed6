//! A VM's config as the API shows it (current, with pending changes, or the
//! pending list) and how an update is checked and applied: per-key
//! privileges, hot-plug or pending, MAC addresses, disks retired to `unusedN`.

use super::*;
use labform_proxmox::endpoint;

impl SimClient {
    /// `GET .../config` as JSON (pending merged unless `current`).
    pub async fn config_json(
        &self,
        node: &str,
        vmid: u32,
        current: bool,
        snapshot: Option<&str>,
    ) -> Result<ConfigJson> {
        self.run(&endpoint::qemu::CONFIG, &[&node, &vmid], async {
            self.on_vm(node, vmid).privilege("VM.Audit").read(|_, vm| {
                let conf = match snapshot {
                    Some(s) => vm
                        .snapshots
                        .get(s)
                        .map(|s| s.conf.clone())
                        .ok_or_else(|| e500(format!("snapshot '{s}' does not exist")))?,
                    None if vm.clone_temp => {
                        BTreeMap::from([("lock".to_owned(), "clone".to_owned())])
                    }
                    None if current => vm.conf.clone(),
                    None => vm.merged(),
                };
                let mut j = typed_json(&conf);
                j.insert("digest".into(), vm.digest().into());
                Ok(j)
            })
        })
        .await
    }

    /// `GET .../pending` as JSON.
    pub async fn pending_json(&self, node: &str, vmid: u32) -> Result<Vec<serde_json::Value>> {
        self.run(&endpoint::qemu::PENDING, &[&node, &vmid], async {
            self.on_vm(node, vmid).privilege("VM.Audit").read(|_, vm| {
                // The pending API returns the raw config-file strings.
                let raw = |m: &BTreeMap<String, String>| -> ConfigJson {
                    m.iter()
                        .map(|(k, v)| {
                            let v = if k == "cipassword" {
                                "**********".to_owned()
                            } else {
                                v.clone()
                            };
                            (k.clone(), serde_json::Value::String(v))
                        })
                        .collect()
                };
                let cur = raw(&vm.conf);
                let pend = raw(&vm.pending);
                let keys: BTreeSet<&String> = cur
                    .keys()
                    .chain(pend.keys())
                    .chain(vm.pending_delete.iter())
                    .collect();
                Ok(keys
                    .into_iter()
                    .map(|k| {
                        let mut e = serde_json::Map::new();
                        e.insert("key".into(), k.clone().into());
                        if let Some(v) = cur.get(k) {
                            e.insert("value".into(), v.clone());
                        }
                        if let Some(v) = pend.get(k) {
                            e.insert("pending".into(), v.clone());
                        }
                        if vm.pending_delete.contains(k) {
                            e.insert("delete".into(), 1.into());
                        }
                        serde_json::Value::Object(e)
                    })
                    .collect())
            })
        })
        .await
    }

    /// Validates a config update and returns normalized (set, delete) lists
    /// plus the privileges it needs.
    pub(super) fn prepare_update(
        &self,
        st: &State,
        vmid: u32,
        update: &ConfigUpdate,
    ) -> std::result::Result<(BTreeMap<String, String>, Vec<String>), ApiError> {
        let (set, mut errors) = normalize_config(&update.set);
        let mut delete = Vec::new();
        for k in update.delete.iter().chain(update.revert.iter()) {
            if !is_config_key(k) && k != "digest" {
                errors.insert(
                    "delete".into(),
                    format!("invalid format - invalid configuration ID '{k}'"),
                );
            }
        }
        for k in &update.delete {
            if set.contains_key(k) {
                errors.insert(
                    k.clone(),
                    "unable to delete parameter that is also being set".into(),
                );
            }
            delete.push(k.clone());
        }
        if let Some(d) = &update.digest
            && d.len() > 40
        {
            errors.insert(
                "digest".into(),
                "value may only be 40 characters long".into(),
            );
        }
        if !errors.is_empty() {
            return Err(ApiError::params(errors));
        }
        if set.contains_key("lock") && !st.access.is_root(&self.who) {
            return Err(ApiError::param("lock", "Only root may use this option."));
        }
        let path = format!("/vms/{vmid}");
        for k in set.keys().chain(delete.iter()).chain(update.revert.iter()) {
            self.check(st, &path, config_privilege(k))?;
            if indexed(k, "net", 31)
                && !st.access.is_root(&self.who)
                && let Some(b) = set
                    .get(k)
                    .and_then(|v| NetDevice::parse(v).ok())
                    .and_then(|n| n.bridge)
            {
                self.check(st, &format!("/sdn/zones/localnetwork/{b}"), "SDN.Use")?;
            }
        }
        Ok((set, delete))
    }

    /// Applies a validated update to a VM (pending for non-hotpluggable keys
    /// on running VMs); allocates new disks synchronously in state.
    pub(super) fn apply_update(
        st: &mut State,
        config: &SimConfig,
        vm_key: u32,
        set: BTreeMap<String, String>,
        delete: Vec<String>,
        revert: &[String],
    ) {
        let mut macs = Vec::new();
        for (k, v) in &set {
            if indexed(k, "net", 31)
                && let Ok(mut n) = NetDevice::parse(v)
                && n.macaddr.is_none()
            {
                let mac = Simulator::gen_mac(st);
                n.set_macaddr(mac);
                macs.push((k.clone(), n.canonical()));
            }
        }
        let Some(vm) = st.vms.get(&vm_key) else {
            return;
        };
        let immediate = |k: &str| !vm.running || is_fast_plug(k) || is_hotplug(k);
        // Disks replaced or detached now become `unusedN`; deleting an
        // `unusedN` destroys its volume (qemu-server semantics).
        let owned_volume = |value: &str| -> Option<(String, String)> {
            let d = Drive::parse(value).ok()?;
            if d.is_cdrom() {
                return None;
            }
            let DriveVolume::Volume { storage, name } = d.volume else {
                return None;
            };
            let spec = config.storages.iter().find(|s| s.id == storage)?;
            let vol = st
                .volumes
                .get(&Simulator::store_key(spec, &vm.node))?
                .get(&name)?;
            (vol.vmid == Some(vm_key)).then(|| {
                (
                    Simulator::store_key(spec, &vm.node),
                    format!("{storage}:{name}"),
                )
            })
        };
        let mut retired = Vec::new();
        for k in set
            .keys()
            .chain(delete.iter())
            .filter(|k| is_drive_key(k) && immediate(k))
        {
            let Some(old) = vm.conf.get(k) else { continue };
            let Some((_, volid)) = owned_volume(old) else {
                continue;
            };
            let still_used = set
                .get(k)
                .and_then(|v| Drive::parse(v).ok())
                .is_some_and(|d| d.volume.to_string() == volid);
            if !still_used {
                retired.push(volid);
            }
        }
        let freed: Vec<(String, String)> = delete
            .iter()
            .filter(|k| indexed(k, "unused", 255))
            .filter_map(|k| vm.conf.get(k).and_then(|v| owned_volume(v)))
            .collect();
        for (key, volid) in freed {
            let name = volid
                .split_once(':')
                .map(|x| x.1.to_owned())
                .unwrap_or_default();
            // The file goes with the volume; one that cannot be removed stays behind.
            let _ = config
                .backend
                .remove_volume(&VolumeFile::new(key.clone(), name.clone()));
            if let Some(m) = st.volumes.get_mut(&key) {
                m.remove(&name);
            }
        }
        let Some(vm) = st.vms.get_mut(&vm_key) else {
            return;
        };
        for k in revert {
            vm.pending.remove(k);
            vm.pending_delete.remove(k);
        }
        for (k, mut v) in set {
            if let Some((_, m)) = macs.iter().find(|(mk, _)| *mk == k) {
                v = m.clone();
            }
            if !vm.running || is_fast_plug(&k) || is_hotplug(&k) {
                vm.conf.insert(k.clone(), v);
                vm.pending.remove(&k);
                vm.pending_delete.remove(&k);
            } else {
                vm.pending.insert(k, v);
            }
        }
        for k in delete {
            if !vm.running || is_fast_plug(&k) || is_hotplug(&k) {
                vm.conf.remove(&k);
                vm.pending.remove(&k);
                vm.pending_delete.remove(&k);
            } else {
                vm.pending.remove(&k);
                vm.pending_delete.insert(k);
            }
        }
        for volid in retired {
            if let Some(n) = (0..256).find(|n| !vm.conf.contains_key(&format!("unused{n}"))) {
                vm.conf.insert(format!("unused{n}"), volid);
            }
        }
    }
}
