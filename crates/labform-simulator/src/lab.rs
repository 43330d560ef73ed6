//! A simulated cluster shaped like an endpoint of a lab file: its nodes (threads, memory),
//! storages (type, content, capacity, sharing) and the bridges its networks use (VLAN-aware
//! where they carry tags), with the lab's images already in the image storages, as on a Proxmox
//! where they were downloaded before, and `download-url` recording instead of fetching (the
//! simulator need not reach the internet). Used by `labform apply --sim`, `labform sim serve
//! --lab` and tests.

use labform_model::lab::{Image, LabFile, Network, ProxmoxEndpoint, StorageContent};
use labform_proxmox::Secret;

use crate::config::{NetworkBridge, NodeSpec, SimConfig, StorageKind, StorageSpec, Timing};
use crate::sim::Simulator;

/// The storage plugin a lab storage's `type` names (shared storages without a type are NFS).
pub fn storage_kind(kind: Option<&str>, shared: bool) -> StorageKind {
    match kind {
        Some("lvmthin") => StorageKind::LvmThin,
        Some("zfspool") => StorageKind::ZfsPool,
        Some("lvm") => StorageKind::Lvm,
        _ if shared => StorageKind::Nfs,
        _ => StorageKind::Dir,
    }
}

/// Proxmox's name of a content type.
pub fn content_name(content: StorageContent) -> &'static str {
    match content {
        StorageContent::Images => "images",
        StorageContent::Iso => "iso",
        StorageContent::Import => "import",
        StorageContent::Snippets => "snippets",
        StorageContent::Backup => "backup",
        StorageContent::Vztmpl => "vztmpl",
        StorageContent::Rootdir => "rootdir",
    }
}

/// What of a lab file shapes a simulated cluster: one endpoint, the lab's images and networks.
#[derive(Debug, Clone)]
pub struct LabShape {
    /// The endpoint the simulator stands in for.
    pub endpoint: ProxmoxEndpoint,
    /// The lab's images (present in the image storages from the start).
    pub images: Vec<Image>,
    /// The lab's networks (their bridges are made on every node).
    pub networks: Vec<Network>,
}

impl LabShape {
    /// The shape of `lab`'s endpoint `name` (its only one when `None`).
    pub fn of(lab: &LabFile, name: Option<&str>) -> Result<Self, String> {
        let endpoint = match name {
            Some(name) => lab
                .proxmox
                .iter()
                .find(|endpoint| endpoint.name == name)
                .ok_or_else(|| {
                    format!(
                        "the lab has no endpoint `{name}` (it has: {})",
                        endpoint_names(lab)
                    )
                })?,
            None => match lab.proxmox.as_slice() {
                [only] => only,
                [] => return Err("the lab has no Proxmox endpoint".into()),
                _ => {
                    return Err(format!(
                        "the lab has several endpoints ({}): choose one with --endpoint",
                        endpoint_names(lab)
                    ));
                }
            },
        };
        Ok(Self {
            endpoint: endpoint.clone(),
            images: lab.images.clone(),
            networks: lab.networks.clone(),
        })
    }

    /// Gives `config` this shape: the endpoint's nodes (threads, memory), storages (type,
    /// content, capacity, sharing) and the networks' bridges on every node, VLAN-aware where a
    /// network on the bridge has a tag. Downloads are recorded, not fetched.
    pub fn apply_to(&self, config: &mut SimConfig) {
        config.nodes = self
            .endpoint
            .nodes
            .iter()
            .map(|node| NodeSpec {
                name: node.name.clone(),
                cpus: node.cpu,
                memory: node.memory.bytes(),
                online: true,
            })
            .collect();
        config.storages = self
            .endpoint
            .storages
            .iter()
            .map(|storage| StorageSpec {
                id: storage.name.clone(),
                kind: storage_kind(storage.r#type.as_deref(), storage.shared),
                content: storage
                    .content
                    .iter()
                    .map(|content| content_name(*content).to_owned())
                    .collect(),
                shared: storage.shared,
                capacity: storage.capacity.bytes(),
                nodes: storage.nodes.clone(),
            })
            .collect();
        config.bridges = bridges(&self.networks);
        config.offline_downloads = true;
    }

    /// Puts every image of the lab into each node's image storages, as on a Proxmox where they
    /// were downloaded before, under the name and content type labform's plan downloads them as.
    /// Images already there are left alone.
    pub fn seed_images(&self, simulator: &Simulator) {
        for image in &self.images {
            let file = image.volume_file_name();
            let file = file.as_str();
            let content = image.content_type();
            let image_storages = self.endpoint.storages.iter().filter(|storage| {
                storage.content.contains(&StorageContent::Import)
                    || storage.content.contains(&StorageContent::Iso)
            });
            for storage in image_storages {
                for node in &self.endpoint.nodes {
                    // A storage not on this node, or a file already there, refuses; that is expected.
                    let _ =
                        simulator.store_upload(&node.name, &storage.name, content, file, 2 << 30);
                }
            }
        }
    }
}

fn endpoint_names(lab: &LabFile) -> String {
    lab.proxmox
        .iter()
        .map(|endpoint| endpoint.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The bridges the lab's networks use, in lab order, VLAN-aware when a network on the bridge is
/// tagged (`vmbr0` alone when the lab has no networks). Every node has them all.
pub fn bridges(networks: &[Network]) -> Vec<NetworkBridge> {
    let mut out: Vec<NetworkBridge> = Vec::new();
    for network in networks {
        match out.iter_mut().find(|bridge| bridge.name == network.bridge) {
            Some(bridge) => {
                bridge.vlan_aware |= network.vlan.is_some();
                if let Some(comments) = &mut bridge.comments {
                    comments.push_str(", ");
                    comments.push_str(&network.name);
                }
            }
            None => out.push(NetworkBridge {
                name: network.bridge.clone(),
                vlan_aware: network.vlan.is_some(),
                comments: Some(format!("lab networks: {}", network.name)),
            }),
        }
    }
    if out.is_empty() {
        out.push(NetworkBridge::plain("vmbr0"));
    }
    out
}

/// A simulator of `endpoint` with `root_password` for root@pam and `timing`, with every image of
/// `images` present in each node's image storages (state kept in memory only).
pub fn simulator_for_endpoint(
    endpoint: &ProxmoxEndpoint,
    images: &[Image],
    root_password: Secret,
    timing: Timing,
) -> Simulator {
    let shape = LabShape {
        endpoint: endpoint.clone(),
        images: images.to_vec(),
        networks: Vec::new(),
    };
    let mut config = SimConfig::cluster(1, root_password);
    shape.apply_to(&mut config);
    config.timing = timing;
    let simulator = Simulator::new(config);
    shape.seed_images(&simulator);
    simulator
}
