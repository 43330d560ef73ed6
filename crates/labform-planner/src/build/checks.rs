//! Checks that need the expanded lab: names that would collide as host names, a storage for
//! every cloud-init VM's seed image, and Talos nodes' images of their cluster's schematic.

use std::collections::HashMap;

use labform_ids::is_dns_label;
use labform_model::Diagnostic;
use labform_model::lab::*;

use crate::distribution::talos_schematic::Schematic;
use crate::distribution::{GuestBoot, distribution_plan};
use crate::expand::{Expanded, VmSpec};
use crate::placement::Placed;

pub(super) fn check_names(expanded: &Expanded, diagnostics: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, &VmSpec> = HashMap::new();
    let mut reported: Vec<String> = Vec::new();
    for vm in &expanded.vms {
        if !is_dns_label(&vm.name) && !reported.contains(&vm.group) {
            reported.push(vm.group.clone());
            diagnostics.push(
                Diagnostic::error(
                    "name-too-long",
                    &vm.source,
                    format!("the VM name `{}` ({} characters) is not a valid host name", vm.name, vm.name.len()),
                )
                .hint("host names are at most 63 characters; shorten the cluster, environment or group name"),
            );
        }
        if let Some(first) = seen.insert(&vm.name, vm) {
            diagnostics.push(
                Diagnostic::error(
                    "duplicate-name",
                    &vm.source,
                    format!("two VMs would be named `{}`", vm.name),
                )
                .note(format!("the other comes from {}", first.source.path))
                .hint("rename a cluster, group or VM so generated names differ"),
            );
        }
    }
}

/// Every cloud-init VM gets a NoCloud seed ISO uploaded next to it: its node needs a storage with
/// `iso` content. Reported once per node.
pub(super) fn check_seed_storage(
    lab: &LabFile,
    expanded: &Expanded,
    placed: &[Option<Placed>],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut reported: Vec<(usize, usize)> = Vec::new();
    for (vm, place) in expanded.vms.iter().zip(placed) {
        let (Some(place), Some(image)) = (place, vm.image) else {
            continue;
        };
        let own_boot = vm.instance.is_some_and(|instance| {
            let kind = lab.clusters[expanded.instances[instance].cluster].distribution;
            distribution_plan(kind).guest_boot() != GuestBoot::CloudInit
        });
        if lab.images[image].kind != ImageKind::CloudImage || own_boot {
            continue;
        }
        let endpoint = &lab.proxmox[vm.endpoint];
        let node = &endpoint.nodes[place.node].name;
        let has_iso = endpoint.storages.iter().any(|storage| {
            storage.content.contains(&StorageContent::Iso)
                && (storage.nodes.is_empty() || storage.nodes.contains(node))
        });
        if !has_iso && !reported.contains(&(vm.endpoint, place.node)) {
            reported.push((vm.endpoint, place.node));
            diagnostics.push(
                Diagnostic::error(
                    "no-seed-storage",
                    &endpoint.source.at("storages"),
                    format!("node `{node}` has no storage with `iso` content for the cloud-init seed of `{}`", vm.name),
                )
                .hint(format!("labform uploads each VM's NoCloud seed ISO to its node: add `iso` to the content of a storage available on `{node}`")),
            );
        }
    }
}

/// A Talos node boots the image the lab names, and gets only that image's system extensions
/// until its first upgrade (to the installer of its cluster's schematic): an Image Factory image
/// of another schematic would leave the nodes without the guest agent or what the add-ons need.
/// Checked where the address names its schematic (a copy elsewhere is the lab's to keep right,
/// as the plan says); reported once per image and cluster.
pub(super) fn check_talos_images(
    lab: &LabFile,
    expanded: &Expanded,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut reported: Vec<(usize, usize)> = Vec::new();
    for vm in &expanded.vms {
        let (Some(instance), Some(image_index)) = (vm.instance, vm.image) else {
            continue;
        };
        let cluster_index = expanded.instances[instance].cluster;
        let cluster = &lab.clusters[cluster_index];
        if cluster.distribution != Distribution::Talos
            || reported.contains(&(image_index, cluster_index))
        {
            continue;
        }
        let image = &lab.images[image_index];
        let Some(found) = Schematic::id_in_url(&image.url) else {
            continue;
        };
        let wanted = Schematic::of_cluster(cluster);
        if found != wanted.id() {
            reported.push((image_index, cluster_index));
            diagnostics.push(
                Diagnostic::error(
                    "talos-schematic",
                    &image.source.at("url"),
                    format!(
                        "image `{}` is of Image Factory schematic {found}, but cluster `{}`'s nodes need schematic {} ({})",
                        image.name,
                        cluster.name,
                        wanted.id(),
                        wanted.extensions().join(", "),
                    ),
                )
                .note("a node boots the image's extensions and gets its cluster's only at its first upgrade")
                .hint(format!(
                    "write `url: {}` and that file's checksum",
                    wanted.nocloud_image_url(&expanded.instances[instance].version)
                )),
            );
        }
    }
}
