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
    /// were downloaded before, under the name and content type labform's plan downloads them as
    /// (`Image::volume_file_name`). Each goes through the checks Proxmox makes of the download
    /// request first, exactly as `download-url` does; the images Proxmox would refuse are
    /// returned with its reason (and put there all the same, so the rest of the lab can be
    /// tried; callers say so). Images already there are left alone.
    pub fn seed_images(&self, simulator: &Simulator) -> Vec<RefusedImage> {
        let mut refused = Vec::new();
        for image in &self.images {
            let file = image.volume_file_name();
            let content = image.content_type();
            let wanted = match content {
                "iso" => StorageContent::Iso,
                _ => StorageContent::Import,
            };
            let image_storages = self.endpoint.storages.iter().filter(|storage| {
                storage.content.contains(&StorageContent::Import)
                    || storage.content.contains(&StorageContent::Iso)
            });
            for storage in image_storages {
                if !storage.content.contains(&wanted) {
                    continue;
                }
                for node in &self.endpoint.nodes {
                    if !(storage.nodes.is_empty() || storage.nodes.contains(&node.name)) {
                        continue;
                    }
                    if let Err(reason) = simulator.preseed_download(
                        &node.name,
                        &storage.name,
                        content,
                        &file,
                        2 << 30,
                    ) {
                        let _ = simulator.store_upload(
                            &node.name,
                            &storage.name,
                            content,
                            &file,
                            2 << 30,
                        );
                        if !refused
                            .iter()
                            .any(|seen: &RefusedImage| seen.image == image.name)
                        {
                            refused.push(RefusedImage {
                                image: image.name.clone(),
                                file: file.clone(),
                                content: content.to_owned(),
                                reason,
                            });
                        }
                    }
                }
            }
        }
        refused
    }
}

/// An image of the lab whose download Proxmox would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedImage {
    /// The image's name in the lab.
    pub image: String,
    /// The file name it would be stored under.
    pub file: String,
    /// The content type (`import`, `iso`).
    pub content: String,
    /// Proxmox's reason (`filename: wrong file extension`).
    pub reason: String,
}

impl std::fmt::Display for RefusedImage {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "Proxmox would refuse to download image `{}` as `{}` (content {}): {}",
            self.image, self.file, self.content, self.reason
        )
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
    // Tests see what Proxmox would refuse through their own download checks; the images are
    // there either way.
    let _refused = shape.seed_images(&simulator);
    simulator
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab(images: &str) -> LabFile {
        let text = format!(
            "lab: shape
proxmox:
  - name: pve
    endpoint: https://pve.test:8006
    credentials: {{token: {{id: a@pve!b, secret: {{env: T}}}}}}
    nodes: [{{name: pve1, cpu: 8, memory: 16GiB}}]
    storages: [{{name: local, content: [iso, import], capacity: 100GiB}}, {{name: data, content: [images], capacity: 1TiB}}]
images:
{images}"
        );
        let mut files = labform_model::MemoryFileSystem::new();
        files.insert("lab.yaml", text.as_str());
        labform_model::load(&files, std::path::Path::new("lab.yaml"))
            .lab
            .expect("loads")
    }

    #[test]
    fn images_are_seeded_under_the_names_labform_downloads_them_as_after_proxmoxs_checks() {
        let lab = lab(
            "  - {name: ubuntu, url: https://img.test/noble-server-cloudimg-amd64.img, format: qcow2, checksum: 'sha256:0000000000000000000000000000000000000000000000000000000000000000'}
  - {name: talos, url: https://img.test/nocloud-amd64.raw.xz, checksum: 'sha256:1111111111111111111111111111111111111111111111111111111111111111'}
  - {name: installer, kind: iso, url: https://img.test/installer.img, checksum: 'sha256:2222222222222222222222222222222222222222222222222222222222222222'}
  - {name: talos-raw, url: https://img.test/v1.8.3/nocloud-amd64.raw, checksum: 'sha256:3333333333333333333333333333333333333333333333333333333333333333'}
",
        );
        let shape = LabShape::of(&lab, None).expect("one endpoint");
        let mut config = SimConfig::cluster(1, Secret::new("pw"));
        shape.apply_to(&mut config);
        let simulator = Simulator::new(config);
        let refused = shape.seed_images(&simulator);
        assert_eq!(
            refused.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "Proxmox would refuse to download image `talos` as `nocloud-amd64.raw.xz` (content import): filename: wrong file extension"
            ]
        );
        let volumes: Vec<String> = simulator.with_state(|state| {
            state
                .volumes
                .values()
                .flat_map(|volumes| volumes.keys().cloned())
                .collect()
        });
        assert!(
            volumes.contains(&"import/noble-server-cloudimg-amd64.qcow2".to_owned()),
            "{volumes:?}"
        );
        assert!(
            volumes.contains(&"iso/installer.img".to_owned()),
            "{volumes:?}"
        );
        // Image Factory's uncompressed raw image is what Proxmox takes.
        assert!(
            volumes.contains(&"import/nocloud-amd64.raw".to_owned()),
            "{volumes:?}"
        );
    }
}
