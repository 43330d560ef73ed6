//! What clusters' node groups and plain VMs share: placement on endpoints, nodes and storages,
//! disks, CPU and memory sizes, and the image they boot.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn placement(&mut self, at: &Source, placement: &Placement, count: u32) {
        let endpoint = match &placement.proxmox {
            Some(name) => {
                let known: Vec<&str> = self.lab.proxmox.iter().map(|e| e.name.as_str()).collect();
                if !self.reference(
                    &at.at("proxmox"),
                    "proxmox endpoint",
                    name,
                    known.iter().copied(),
                ) {
                    return;
                }
                self.lab.proxmox.iter().find(|e| &e.name == name)
            }
            None if self.lab.proxmox.len() > 1 => {
                self.push(
                    Diagnostic::error(
                        "ambiguous-endpoint",
                        at,
                        "the lab has several Proxmox endpoints and this group names none",
                    )
                    .hint(format!(
                        "add `placement: {{proxmox: {}}}`",
                        self.lab.proxmox[0].name
                    )),
                );
                return;
            }
            None => self.lab.proxmox.first(),
        };
        let Some(endpoint) = endpoint else { return };
        let node_names: Vec<&str> = endpoint.nodes.iter().map(|n| n.name.as_str()).collect();
        for (index, node) in placement.nodes.iter().enumerate() {
            self.reference(
                &at.at("nodes").index(index),
                "Proxmox node",
                node,
                node_names.iter().copied(),
            );
            if placement.nodes[..index].contains(node) {
                self.push(
                    Diagnostic::error(
                        "duplicate-name",
                        &at.at("nodes").index(index),
                        format!("node `{node}` is listed twice"),
                    )
                    .hint("list each node once"),
                );
            }
        }
        let allowed = if placement.nodes.is_empty() {
            endpoint.nodes.len()
        } else {
            placement.nodes.len()
        };
        if placement.anti_affinity == AntiAffinity::Required && count as usize > allowed {
            self.push(
                Diagnostic::error("anti-affinity", &at.at("anti_affinity"), format!("{count} VMs must run on different nodes but only {allowed} node(s) are allowed"))
                    .hint("allow more nodes, lower the count, or use `anti_affinity: preferred`"),
            );
        }
    }

    pub(super) fn disks(&mut self, at: &Source, disks: &[Disk], placement: &Placement) {
        let endpoint = match &placement.proxmox {
            Some(name) => self.lab.proxmox.iter().find(|e| &e.name == name),
            None => self.lab.proxmox.first(),
        };
        for (index, disk) in disks.iter().enumerate() {
            let disk_at = at.index(index);
            if disk.size < crate::units::ByteSize::gib(1) {
                self.push(
                    Diagnostic::error(
                        "disk-too-small",
                        &disk_at.at("size"),
                        format!("a disk of {} is too small", disk.size),
                    )
                    .hint("disks start at 1GiB; a boot disk needs several"),
                );
            }
            if let (Some(storage), Some(endpoint)) = (&disk.storage, endpoint) {
                match endpoint.storages.iter().find(|s| &s.name == storage) {
                    None => {
                        let known: Vec<&str> = endpoint
                            .storages
                            .iter()
                            .filter(|s| s.content.contains(&StorageContent::Images))
                            .map(|s| s.name.as_str())
                            .collect();
                        self.reference(
                            &disk_at.at("storage"),
                            "storage",
                            storage,
                            known.iter().copied(),
                        );
                    }
                    Some(found) if !found.content.contains(&StorageContent::Images) => self.push(
                        Diagnostic::error(
                            "storage-content",
                            &disk_at.at("storage"),
                            format!("storage `{storage}` cannot hold VM disks"),
                        )
                        .hint("choose a storage with `images` in its content"),
                    ),
                    Some(_) => {}
                }
            }
        }
    }

    pub(super) fn sizes(&mut self, at: &Source, cpu: u32, memory: crate::units::ByteSize) {
        if cpu == 0 {
            self.push(
                Diagnostic::error(
                    "invalid-size",
                    &at.at("cpu"),
                    "a VM needs at least one vCPU",
                )
                .hint("write `cpu: 1` or more"),
            );
        }
        if memory < crate::units::ByteSize::mib(256) {
            self.push(
                Diagnostic::error(
                    "invalid-size",
                    &at.at("memory"),
                    format!("{memory} of memory is too little to boot"),
                )
                .hint("give at least 512MiB; K3s servers want 2GiB"),
            );
        }
    }

    pub(super) fn image_reference(
        &mut self,
        at: &Source,
        image: Option<&String>,
        cloud_only: bool,
    ) {
        let image = image.or(self.lab.defaults.as_ref().and_then(|d| d.image.as_ref()));
        let Some(image) = image else {
            self.push(
                Diagnostic::error("missing-image", at, "no image to boot")
                    .hint("set `image:` here or `defaults.image`"),
            );
            return;
        };
        let known: Vec<&str> = self.lab.images.iter().map(|i| i.name.as_str()).collect();
        if !self.reference(&at.at("image"), "image", image, known.iter().copied()) {
            return;
        }
        let declared = self
            .lab
            .images
            .iter()
            .find(|i| &i.name == image)
            .expect("found above");
        if cloud_only && declared.kind == ImageKind::Iso {
            self.push(
                Diagnostic::error(
                    "image-kind",
                    &at.at("image"),
                    format!("image `{image}` is an ISO; Kubernetes nodes clone a cloud image"),
                )
                .hint("use a cloud image with cloud-init (kind: cloud-image)"),
            );
        }
    }
}
