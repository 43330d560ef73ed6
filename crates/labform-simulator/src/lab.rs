//! A simulated cluster shaped like an endpoint of a lab file: its nodes (threads, memory) and
//! storages (type, content, capacity, sharing), with the lab's images already in the image
//! storages, as on a Proxmox where they were downloaded before (the simulator cannot reach the
//! internet). Used by `labform apply --sim` and by tests.

use labform_model::lab::{Image, ProxmoxEndpoint, StorageContent};
use labform_proxmox::Secret;

use crate::config::{NodeSpec, SimConfig, StorageKind, StorageSpec, Timing};
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

/// A simulator of `endpoint` with `root_password` for root@pam and `timing`, with every image of
/// `images` present in each node's image storages.
pub fn simulator_for_endpoint(
    endpoint: &ProxmoxEndpoint,
    images: &[Image],
    root_password: Secret,
    timing: Timing,
) -> Simulator {
    let mut config = SimConfig::cluster(1, root_password);
    config.nodes = endpoint
        .nodes
        .iter()
        .map(|node| NodeSpec {
            name: node.name.clone(),
            cpus: node.cpu,
            memory: node.memory.bytes(),
            online: true,
        })
        .collect();
    config.storages = endpoint
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
    config.timing = timing;
    let simulator = Simulator::new(config);
    for image in images {
        let file = image.url.rsplit('/').next().unwrap_or(&image.name);
        let content = if file.ends_with(".iso") {
            "iso"
        } else {
            "import"
        };
        let image_storages = endpoint.storages.iter().filter(|storage| {
            storage.content.contains(&StorageContent::Import)
                || storage.content.contains(&StorageContent::Iso)
        });
        for storage in image_storages {
            for node in &endpoint.nodes {
                // A storage not on this node refuses; that is expected.
                let _ = simulator.store_upload(&node.name, &storage.name, content, file, 2 << 30);
            }
        }
    }
    simulator
}
