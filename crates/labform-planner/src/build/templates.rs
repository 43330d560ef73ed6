//! Templates: one per image and storage that VMs clone from, with its own VM ID.

use std::collections::HashMap;

use labform_ids::VmId;
use labform_model::Diagnostic;
use labform_model::lab::*;

use super::*;
use crate::allocate::{AllocationKey, Allocations};
use crate::expand::VmSpec;
use crate::placement::Placed;

/// A template to make, with the VMs cloned from it.
#[derive(Debug, Clone)]
pub(super) struct Template {
    pub(super) key: AllocationKey,
    pub(super) name: String,
    pub(super) vm_id: VmId,
    pub(super) image: usize,
    pub(super) endpoint: usize,
    pub(super) node: usize,
    pub(super) storage: usize,
}

pub(super) fn plan_templates(
    lab: &LabFile,
    vms: &[VmSpec],
    placed: &[Option<Placed>],
    previous: &Allocations,
    foreign_vm_ids: &ObservedIds,
    allocations: &mut Allocations,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Vec<Template>, Vec<Option<usize>>) {
    let mut templates: Vec<Template> = Vec::new();
    let mut of_vm = vec![None; vms.len()];
    let mut index_of: HashMap<AllocationKey, usize> = HashMap::new();
    for (vm_index, (vm, place)) in vms.iter().zip(placed).enumerate() {
        let (Some(image), Some(place)) = (vm.image, place) else {
            continue;
        };
        if lab.images[image].kind != ImageKind::CloudImage {
            continue;
        }
        let endpoint = &lab.proxmox[vm.endpoint];
        let storage = place.storages[0];
        let shared = endpoint.storages[storage].shared;
        let image_name = &lab.images[image].name;
        let storage_name = &endpoint.storages[storage].name;
        let node_name = &endpoint.nodes[place.node].name;
        let key = AllocationKey::Template {
            endpoint: endpoint.name.clone(),
            image: image_name.clone(),
            node: (!shared).then(|| node_name.clone()),
            storage: storage_name.clone(),
        };
        let position = *index_of.entry(key.clone()).or_insert_with(|| {
            let where_ = if shared {
                storage_name.clone()
            } else {
                node_name.clone()
            };
            templates.push(Template {
                key: key.clone(),
                name: sanitise(&format!("tpl-{image_name}-{where_}")),
                vm_id: VmId::new(VmId::MIN).expect("valid"),
                image,
                endpoint: vm.endpoint,
                node: place.node,
                storage,
            });
            templates.len() - 1
        });
        of_vm[vm_index] = Some(position);
    }
    // Names must be unique; add the storage when one node has templates of an image on two storages.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for template in &templates {
        *counts.entry(template.name.clone()).or_default() += 1;
    }
    for template in &mut templates {
        if counts[&template.name] > 1 {
            template.name = sanitise(&format!(
                "{}-{}",
                template.name, lab.proxmox[template.endpoint].storages[template.storage].name
            ));
        }
    }
    for (endpoint_index, endpoint) in lab.proxmox.iter().enumerate() {
        let range = endpoint.template_ids.unwrap_or(DEFAULT_TEMPLATE_IDS);
        let members: Vec<usize> = (0..templates.len())
            .filter(|&index| templates[index].endpoint == endpoint_index)
            .collect();
        let keys: Vec<AllocationKey> = members
            .iter()
            .map(|&index| templates[index].key.clone())
            .collect();
        let Some(values) = allocate_ids(
            endpoint,
            "template_ids",
            range,
            &keys,
            previous,
            foreign_vm_ids,
            diagnostics,
        ) else {
            continue;
        };
        for ((index, key), value) in members.iter().zip(&keys).zip(values) {
            templates[*index].vm_id = VmId::new(value).expect("range validated");
            allocations.vm_ids.insert(key.clone(), value);
        }
    }
    (templates, of_vm)
}
