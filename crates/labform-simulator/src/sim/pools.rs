//! Pools as pve-manager's `PVE/API2/Pool.pm` has them: the listing (with
//! members only for one pool), reading one pool, adding and removing VMs
//! and storages, and deleting an empty pool.

use super::figures::VmFigures;
use super::*;
use labform_proxmox::endpoint::{self, Endpoint};

impl SimClient {
    /// `GET /pools[?poolid=&type=]`: the pools the caller may audit; with
    /// `poolid`, that pool with its members.
    pub async fn pool_index(
        &self,
        poolid: Option<&str>,
        kind: Option<&str>,
    ) -> Result<Vec<serde_json::Value>> {
        self.run(&endpoint::pools::POOLS, &[], async {
            let st = self.sim.lock();
            if let Some(poolid) = poolid {
                self.check(&st, &format!("/pool/{poolid}"), "Pool.Audit")?;
                let mut entry = self.pool_entry(&st, poolid, kind)?;
                entry.insert("poolid".into(), poolid.into());
                return Ok(vec![entry.into()]);
            }
            Ok(st
                .pools
                .iter()
                .filter(|(id, _)| st.has(&self.who, &format!("/pool/{id}"), "Pool.Audit"))
                .map(|(id, pool)| {
                    let mut e = serde_json::json!({ "poolid": id });
                    if let Some(c) = &pool.comment {
                        e["comment"] = c.clone().into();
                    }
                    e
                })
                .collect())
        })
        .await
    }

    /// `GET /pools/{poolid}[?type=]` (deprecated in Proxmox, still served).
    pub async fn pool_read(&self, poolid: &str, kind: Option<&str>) -> Result<serde_json::Value> {
        self.run(&endpoint::pools::POOL, &[&poolid], async {
            let st = self.sim.lock();
            self.check(&st, &format!("/pool/{poolid}"), "Pool.Audit")?;
            Ok(self.pool_entry(&st, poolid, kind)?.into())
        })
        .await
    }

    /// One pool's `comment` and `members` (VMs as `extract_vm_stats`, then
    /// storages as `extract_storage_stats` on the first node).
    fn pool_entry(
        &self,
        st: &State,
        poolid: &str,
        kind: Option<&str>,
    ) -> std::result::Result<serde_json::Map<String, serde_json::Value>, ApiError> {
        let pool = st
            .pools
            .get(poolid)
            .ok_or_else(|| e500(format!("pool '{poolid}' does not exist")))?;
        let mut members = Vec::new();
        if kind.is_none_or(|k| k == "qemu") {
            for vm in pool.vms.iter().filter_map(|id| st.vms.get(id)) {
                members.push(vm_member(vm));
            }
        }
        if kind.is_none_or(|k| k == "storage") {
            let config = &self.sim.inner.config;
            for id in &pool.storage {
                let Some(spec) = config.storages.iter().find(|s| &s.id == id) else {
                    continue;
                };
                let node = match spec.nodes.first() {
                    Some(n) if !spec.nodes.contains(&config.nodes[0].name) => n.clone(),
                    _ => config.nodes[0].name.clone(),
                };
                let used = Simulator::used_bytes(st, &Simulator::store_key(spec, &node));
                members.push(serde_json::json!({
                    "id": format!("storage/{node}/{id}"), "storage": id, "node": node,
                    "type": "storage", "plugintype": spec.kind.as_str(), "status": "available",
                    "shared": u8::from(spec.shared), "content": content_string(spec),
                    "maxdisk": spec.capacity, "disk": used,
                }));
            }
        }
        let mut entry = serde_json::Map::new();
        entry.insert("members".into(), members.into());
        if let Some(c) = &pool.comment {
            entry.insert("comment".into(), c.clone().into());
        }
        Ok(entry)
    }

    /// `PUT /pools` and `PUT /pools/{poolid}`: the comment, and VMs and
    /// storages added or (with `delete`) removed, each needing the right to
    /// change permissions on the member.
    pub async fn pool_update(&self, route: &'static Endpoint, update: &UpdatePool) -> Result<()> {
        let poolid = update.poolid.as_str();
        self.run(route, &[&poolid], async {
            let mut st = self.sim.lock();
            self.check(&st, &format!("/pool/{poolid}"), "Pool.Allocate")?;
            let failed = |text: String| e500(format!("update pools failed: {text}"));
            if !st.pools.contains_key(poolid) {
                return Err(failed(format!("pool '{poolid}' does not exist")));
            }
            let mut next = st.pools.clone();
            let mut vm_pools: BTreeMap<u32, Option<String>> = BTreeMap::new();
            for vmid in &update.vms {
                self.check_permission_modify(&st, &format!("/vms/{vmid}"))?;
                let id = vmid.get();
                let current = vm_pools
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| st.vms.get(&id).and_then(|vm| vm.pool.clone()));
                let pool = next.get_mut(poolid).ok_or_else(|| e500("pool vanished"))?;
                if update.delete {
                    if !pool.vms.remove(&id) {
                        return Err(failed(format!("VM {id} is not a pool member")));
                    }
                    vm_pools.insert(id, None);
                } else {
                    if pool.vms.contains(&id) {
                        return Err(failed(format!("VM {id} is already a pool member")));
                    }
                    if let Some(existing) = current {
                        if !update.allow_move {
                            return Err(failed(format!(
                                "VM {id} belongs already to pool '{existing}' and 'allow-move' is not set"
                            )));
                        }
                        self.check(&st, &format!("/pool/{existing}"), "Pool.Allocate")?;
                        if let Some(old) = next.get_mut(&existing) {
                            old.vms.remove(&id);
                        }
                    }
                    if let Some(pool) = next.get_mut(poolid) {
                        pool.vms.insert(id);
                    }
                    vm_pools.insert(id, Some(poolid.to_owned()));
                }
            }
            for storage in &update.storage {
                self.check_permission_modify(&st, &format!("/storage/{storage}"))?;
                let pool = next.get_mut(poolid).ok_or_else(|| e500("pool vanished"))?;
                if update.delete {
                    if !pool.storage.remove(storage) {
                        return Err(failed(format!("Storage '{storage}' is not a pool member")));
                    }
                } else if !pool.storage.insert(storage.clone()) {
                    return Err(failed(format!("Storage '{storage}' is already a pool member")));
                }
            }
            if let Some(comment) = &update.comment
                && let Some(pool) = next.get_mut(poolid)
            {
                pool.comment = Some(comment.clone());
            }
            st.pools = next;
            for (id, pool) in vm_pools {
                if let Some(vm) = st.vms.get_mut(&id) {
                    vm.pool = pool;
                }
            }
            Ok(())
        })
        .await
    }

    /// `DELETE /pools?poolid=` and `DELETE /pools/{poolid}`: an empty pool
    /// (members that no longer exist do not count), with its ACL entries.
    pub async fn pool_delete(&self, route: &'static Endpoint, poolid: &str) -> Result<()> {
        self.run(route, &[&poolid], async {
            let mut st = self.sim.lock();
            self.check(&st, &format!("/pool/{poolid}"), "Pool.Allocate")?;
            let failed = |text: String| e500(format!("delete pool failed: {text}"));
            let pool = st
                .pools
                .get(poolid)
                .ok_or_else(|| failed(format!("pool '{poolid}' does not exist")))?;
            if let Some(id) = pool.vms.iter().find(|id| st.vms.contains_key(id)) {
                return Err(failed(format!(
                    "pool '{poolid}' is not empty (contains VM {id})"
                )));
            }
            let storages = &self.sim.inner.config.storages;
            if let Some(id) = pool
                .storage
                .iter()
                .find(|id| storages.iter().any(|s| &&s.id == id))
            {
                return Err(failed(format!(
                    "pool '{poolid}' is not empty (contains storage '{id}')"
                )));
            }
            st.pools.remove(poolid);
            let path = format!("/pool/{poolid}");
            st.access.acl.retain(|entry| entry.path != path);
            Ok(())
        })
        .await
    }

    /// `check_perm_modify`: the caller may change permissions on `path`.
    pub(crate) fn check_permission_modify(
        &self,
        st: &State,
        path: &str,
    ) -> std::result::Result<(), ApiError> {
        if self.may_modify_permissions(st, path) {
            Ok(())
        } else {
            Err(e403(
                path,
                &Self::permission_modify_privileges(path).join("|"),
            ))
        }
    }
}

/// A guest as `extract_vm_stats` lists it (pool members, `/cluster/resources`).
pub(super) fn vm_member(vm: &Vm) -> serde_json::Value {
    let f = VmFigures::of(vm);
    serde_json::json!({
        "id": format!("qemu/{}", vm.vmid), "vmid": vm.vmid, "node": vm.node, "type": "qemu",
        "status": if vm.running { "running" } else { "stopped" },
        "name": vm.conf.get("name").cloned().unwrap_or_else(|| format!("VM {}", vm.vmid)),
        "template": u8::from(vm.is_template()), "uptime": f.uptime,
        "maxcpu": f.cpus, "cpu": f.cpu, "maxmem": f.maxmem, "mem": f.mem,
        "maxdisk": f.maxdisk, "disk": 0, "netin": f.netin, "netout": f.netout,
        "diskread": f.diskread, "diskwrite": f.diskwrite, "memhost": f.memhost,
    })
}

/// A storage's content types as Proxmox prints them (sorted, `,`-joined).
pub(super) fn content_string(spec: &StorageSpec) -> String {
    let mut content: Vec<&str> = spec.content.iter().map(String::as_str).collect();
    content.sort_unstable();
    content.join(",")
}
