//! Reads of the cluster's configuration: the storage configuration
//! (`/storage`, pve-storage's `API2/Storage/Config.pm`), one user with its
//! tokens (`/access/users/{userid}`), a node's network interfaces
//! (`/nodes/{node}/network`, pve-manager's `API2/Network.pm`) and SDN zones
//! and vnets (`/cluster/sdn/...`, pve-network).

use super::pools::content_string;
use super::*;
use crate::config::StorageKind;
use crate::datacenter::{Section, SectionFile, sha1_hex};
use labform_proxmox::endpoint;

impl SimClient {
    /// `GET /storage[?type=]`: the storages the caller may audit or allocate space on.
    pub async fn storage_index(&self, kind: Option<&str>) -> Result<Vec<serde_json::Value>> {
        self.run(&endpoint::storage::STORAGE_CONFIGURATIONS, &[], async {
            let st = self.sim.lock();
            let config = &self.sim.inner.config;
            Ok(config
                .storages
                .iter()
                .filter(|s| {
                    let path = format!("/storage/{}", s.id);
                    st.has(&self.who, &path, "Datastore.Audit")
                        || st.has(&self.who, &path, "Datastore.AllocateSpace")
                })
                .filter(|s| kind.is_none_or(|k| k == s.kind.as_str()))
                .map(|s| storage_config_entry(s, &config.storages))
                .collect())
        })
        .await
    }

    /// `GET /storage/{storage}`: one storage's configuration (`Datastore.Allocate`).
    pub async fn storage_read(&self, storage: &str) -> Result<serde_json::Value> {
        self.run(
            &endpoint::storage::STORAGE_CONFIGURATION,
            &[&storage],
            async {
                let st = self.sim.lock();
                self.check(&st, &format!("/storage/{storage}"), "Datastore.Allocate")?;
                let storages = &self.sim.inner.config.storages;
                storages
                    .iter()
                    .find(|s| s.id == storage)
                    .map(|s| storage_config_entry(s, storages))
                    .ok_or_else(|| e500(format!("storage '{storage}' does not exist")))
            },
        )
        .await
    }

    /// `GET /access/users/{userid}`: the user's settings, groups and tokens
    /// (`User.Modify` or `Sys.Audit` on `/access/groups`).
    pub async fn user_read(&self, userid: &str) -> Result<serde_json::Value> {
        self.run(&endpoint::access::USER, &[&userid], async {
            let st = self.sim.lock();
            let user = st
                .access
                .users
                .get(userid)
                .ok_or_else(|| e500(format!("no such user ('{userid}')")))?;
            if !(st.has(&self.who, "/access/groups", "User.Modify")
                || st.has(&self.who, "/access/groups", "Sys.Audit"))
            {
                return Err(ApiError::new(403, "Permission check failed"));
            }
            let prefix = format!("{userid}!");
            let tokens: serde_json::Map<String, serde_json::Value> = st
                .access
                .tokens
                .iter()
                .filter_map(|(id, t)| id.strip_prefix(&prefix).map(|name| (name, t)))
                .map(|(name, t)| {
                    let mut e =
                        serde_json::json!({ "privsep": u8::from(t.privsep), "expire": t.expire });
                    if let Some(c) = &t.comment {
                        e["comment"] = c.clone().into();
                    }
                    (name.to_owned(), e)
                })
                .collect();
            let mut out = serde_json::json!({
                "enable": u8::from(user.enable), "expire": 0, "groups": [], "tokens": tokens,
            });
            if let Some(c) = &user.comment {
                out["comment"] = c.clone().into();
            }
            Ok(out)
        })
        .await
    }

    /// `GET /nodes/{node}/network[?type=]`: the node's interfaces but `lo`;
    /// bridges only where the caller may audit or use them (root always).
    pub async fn network_index(
        &self,
        node: &str,
        kind: Option<&str>,
    ) -> Result<Vec<serde_json::Value>> {
        self.run(&endpoint::network::NETWORK, &[&node], async {
            self.on_node(node).read(|st| {
                Ok(self
                    .node_interfaces(node)
                    .into_iter()
                    .filter(|i| i["iface"] != "lo")
                    .filter(|i| {
                        let ty = i["type"].as_str().unwrap_or("");
                        kind.is_none_or(|k| {
                            k == ty
                                || (ty == "bridge"
                                    && matches!(k, "any_bridge" | "any_local_bridge"))
                        })
                    })
                    .filter(|i| {
                        i["type"] != "bridge" || self.who.user == "root@pam" || {
                            let path = format!(
                                "/sdn/zones/localnetwork/{}",
                                i["iface"].as_str().unwrap_or("")
                            );
                            st.has(&self.who, &path, "SDN.Audit")
                                || st.has(&self.who, &path, "SDN.Use")
                        }
                    })
                    .collect())
            })
        })
        .await
    }

    /// `GET /nodes/{node}/network/{iface}` (`Sys.Audit` on the node).
    pub async fn network_read(&self, node: &str, iface: &str) -> Result<serde_json::Value> {
        self.run(&endpoint::network::INTERFACE, &[&node, &iface], async {
            self.on_node(node)
                .privilege(format!("/nodes/{node}"), "Sys.Audit")
                .read(|_| {
                    let mut found = self
                        .node_interfaces(node)
                        .into_iter()
                        .find(|i| i["iface"] == iface)
                        .ok_or_else(|| ApiError::param("iface", "interface does not exist"))?;
                    if let Some(o) = found.as_object_mut() {
                        o.remove("iface");
                    }
                    Ok(found)
                })
        })
        .await
    }

    /// The interfaces of `node` as `/etc/network/interfaces` has them on a
    /// fresh install: `lo`, the physical port `eno1`, and the bridges, the
    /// first with the node's address on `eno1`.
    fn node_interfaces(&self, node: &str) -> Vec<serde_json::Value> {
        let config = &self.sim.inner.config;
        let index = config
            .nodes
            .iter()
            .position(|n| n.name == node)
            .unwrap_or(0);
        let address = format!("192.0.2.{}", index + 1);
        let mut out = vec![
            serde_json::json!({
                "iface": "lo", "type": "loopback", "method": "loopback", "method6": "manual",
                "families": ["inet"], "active": 1, "autostart": 1, "priority": 1,
            }),
            serde_json::json!({
                "iface": "eno1", "type": "eth", "method": "manual", "method6": "manual",
                "families": ["inet"], "active": 1, "exists": 1, "priority": 2,
            }),
        ];
        for (i, bridge) in config.bridges.iter().enumerate() {
            let mut entry = serde_json::json!({
                "iface": bridge.name, "type": "bridge", "method6": "manual", "families": ["inet"],
                "active": 1, "autostart": 1, "bridge_stp": "off", "bridge_fd": "0",
                "priority": 3 + i,
            });
            if bridge.vlan_aware {
                entry["bridge_vlan_aware"] = 1.into();
            }
            if let Some(comments) = &bridge.comments {
                entry["comments"] = format!("{comments}\n").into();
            }
            if i == 0 {
                entry["method"] = "static".into();
                entry["address"] = address.clone().into();
                entry["netmask"] = "24".into();
                entry["cidr"] = format!("{address}/24").into();
                entry["gateway"] = "192.0.2.254".into();
                entry["bridge_ports"] = "eno1".into();
            } else {
                entry["method"] = "manual".into();
                entry["bridge_ports"] = "none".into();
            }
            out.push(entry);
        }
        out
    }

    /// `GET /cluster/sdn/zones[?type=]`: the zones the caller may audit or allocate.
    pub async fn sdn_zone_index(&self, kind: Option<&str>) -> Result<Vec<serde_json::Value>> {
        self.run(&endpoint::network::SDN_ZONES, &[], async {
            let st = self.sim.lock();
            let zones = &st.datacenter.sdn_zones;
            Ok(zones
                .sections
                .iter()
                .filter(|z| {
                    self.has_any(
                        &st,
                        &format!("/sdn/zones/{}", z.id),
                        &["SDN.Audit", "SDN.Allocate"],
                    )
                })
                .filter(|z| kind.is_none_or(|k| k == z.kind))
                .map(|z| section_entry(z, "zone", zones))
                .collect())
        })
        .await
    }

    /// `GET /cluster/sdn/zones/{zone}` (`SDN.Allocate` on the zone).
    pub async fn sdn_zone_read(&self, zone: &str) -> Result<serde_json::Value> {
        self.run(&endpoint::network::SDN_ZONE, &[&zone], async {
            let st = self.sim.lock();
            self.check(&st, &format!("/sdn/zones/{zone}"), "SDN.Allocate")?;
            let zones = &st.datacenter.sdn_zones;
            zones
                .get(zone)
                .map(|z| section_entry(z, "zone", zones))
                .ok_or_else(|| e500(format!("sdn '{zone}' does not exist")))
        })
        .await
    }

    /// `GET /cluster/sdn/vnets`: the vnets the caller may audit or allocate.
    pub async fn sdn_vnet_index(&self) -> Result<Vec<serde_json::Value>> {
        self.run(&endpoint::network::SDN_VNETS, &[], async {
            let st = self.sim.lock();
            let vnets = &st.datacenter.sdn_vnets;
            Ok(vnets
                .sections
                .iter()
                .filter(|v| {
                    let zone = v.options.get("zone").map(String::as_str).unwrap_or("");
                    self.has_any(
                        &st,
                        &format!("/sdn/zones/{zone}/{}", v.id),
                        &["SDN.Audit", "SDN.Allocate"],
                    )
                })
                .map(|v| section_entry(v, "vnet", vnets))
                .collect())
        })
        .await
    }

    /// `GET /cluster/sdn/vnets/{vnet}` (`SDN.Audit` or `SDN.Allocate` on its zone's path).
    pub async fn sdn_vnet_read(&self, vnet: &str) -> Result<serde_json::Value> {
        self.run(&endpoint::network::SDN_VNET, &[&vnet], async {
            let st = self.sim.lock();
            let vnets = &st.datacenter.sdn_vnets;
            let found = vnets
                .get(vnet)
                .ok_or_else(|| e500(format!("sdn vnet '{vnet}' does not exist")))?;
            let zone = found.options.get("zone").map(String::as_str).unwrap_or("");
            self.check_any(
                &st,
                &format!("/sdn/zones/{zone}/{vnet}"),
                &["SDN.Audit", "SDN.Allocate"],
            )?;
            Ok(section_entry(found, "vnet", vnets))
        })
        .await
    }

    /// Whether the caller has any of `privileges` on `path`.
    pub(super) fn has_any(&self, st: &State, path: &str, privileges: &[&str]) -> bool {
        privileges.iter().any(|p| st.has(&self.who, path, p))
    }
}

impl Simulator {
    /// Adds (or replaces) SDN zone `zone` of type `kind` (`simple`, `vlan`,
    /// `vxlan`, `evpn`, ...) with its `options`, as applied configuration.
    pub fn define_sdn_zone(&self, zone: &str, kind: &str, options: &[(&str, &str)]) {
        let mut st = self.lock();
        upsert(&mut st.datacenter.sdn_zones, kind, zone, options);
    }

    /// Adds (or replaces) vnet `vnet` in `zone`, with its other `options`
    /// (`tag`, `alias`, `vlanaware`).
    pub fn define_sdn_vnet(&self, vnet: &str, zone: &str, options: &[(&str, &str)]) {
        let mut st = self.lock();
        let mut all: Vec<(&str, &str)> = vec![("zone", zone)];
        all.extend_from_slice(options);
        upsert(&mut st.datacenter.sdn_vnets, "vnet", vnet, &all);
    }
}

fn upsert(file: &mut SectionFile, kind: &str, id: &str, options: &[(&str, &str)]) {
    let section = Section {
        kind: kind.to_owned(),
        id: id.to_owned(),
        options: options
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    match file.get_mut(id) {
        Some(existing) => *existing = section,
        None => file.sections.push(section),
    }
}

/// A section as the SDN API answers it: its options, `type`, its id under
/// `id_key` and the file's digest.
fn section_entry(section: &Section, id_key: &str, file: &SectionFile) -> serde_json::Value {
    let mut entry: serde_json::Map<String, serde_json::Value> = section
        .options
        .iter()
        .map(|(k, v)| {
            let value = v
                .parse::<i64>()
                .ok()
                .filter(|_| matches!(k.as_str(), "tag" | "mtu" | "vlanaware"))
                .map_or_else(
                    || serde_json::Value::from(v.clone()),
                    serde_json::Value::from,
                );
            (k.clone(), value)
        })
        .collect();
    entry.insert("type".into(), section.kind.clone().into());
    entry.insert(id_key.into(), section.id.clone().into());
    entry.insert("digest".into(), file.digest().into());
    entry.into()
}

/// One storage's configuration as `storage.cfg` has it, with the file's digest.
fn storage_config_entry(spec: &StorageSpec, all: &[StorageSpec]) -> serde_json::Value {
    let mut entry = serde_json::json!({
        "storage": spec.id, "type": spec.kind.as_str(), "content": content_string(spec),
        "digest": storage_cfg_digest(all),
    });
    for (key, value) in type_options(spec) {
        entry[key] = value.into();
    }
    if spec.shared && spec.kind != StorageKind::Nfs {
        entry["shared"] = 1.into();
    }
    if !spec.nodes.is_empty() {
        entry["nodes"] = spec.nodes.join(",").into();
    }
    entry
}

/// The options of a storage's plugin type: where its data lives.
fn type_options(spec: &StorageSpec) -> Vec<(&'static str, String)> {
    match spec.kind {
        StorageKind::Dir if spec.id == "local" => vec![("path", "/var/lib/vz".into())],
        StorageKind::Dir => vec![("path", format!("/mnt/{}", spec.id))],
        StorageKind::Nfs => vec![
            ("path", format!("/mnt/pve/{}", spec.id)),
            ("server", "192.0.2.200".into()),
            ("export", format!("/export/{}", spec.id)),
        ],
        StorageKind::LvmThin => vec![("thinpool", "data".into()), ("vgname", "pve".into())],
        StorageKind::Lvm => vec![("vgname", spec.id.clone())],
        StorageKind::ZfsPool => vec![("pool", "rpool/data".into()), ("sparse", "1".into())],
    }
}

/// SHA-1 of the `storage.cfg` the storages make.
fn storage_cfg_digest(all: &[StorageSpec]) -> String {
    let mut text = String::new();
    for spec in all {
        text.push_str(&format!("{}: {}\n", spec.kind.as_str(), spec.id));
        for (key, value) in type_options(spec) {
            text.push_str(&format!("\t{key} {value}\n"));
        }
        text.push_str(&format!("\tcontent {}\n\n", content_string(spec)));
    }
    sha1_hex(text.as_bytes())
}
