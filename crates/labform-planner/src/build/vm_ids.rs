//! VM IDs: each VM's ID from its range, kept from earlier plans, never one Proxmox shows in use
//! by anyone else.

use std::collections::BTreeSet;

use labform_ids::VmId;
use labform_model::lab::*;
use labform_model::{Diagnostic, IdRange};

use super::*;
use crate::allocate::{AllocationKey, Allocations, SlotAllocator, allocate_keys};
use crate::expand::VmSpec;

pub(super) fn allocate_vm_ids(
    lab: &LabFile,
    vms: &[VmSpec],
    previous: &Allocations,
    foreign_vm_ids: &ObservedIds,
    allocations: &mut Allocations,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Option<VmId>> {
    let mut ids = vec![None; vms.len()];
    for (endpoint_index, endpoint) in lab.proxmox.iter().enumerate() {
        let range = endpoint.vm_ids.unwrap_or(DEFAULT_VM_IDS);
        let members: Vec<usize> = (0..vms.len())
            .filter(|&index| vms[index].endpoint == endpoint_index)
            .collect();
        let keys: Vec<AllocationKey> = members
            .iter()
            .map(|&index| AllocationKey::vm(&vms[index].name))
            .collect();
        let Some(values) = allocate_ids(
            endpoint,
            "vm_ids",
            range,
            &keys,
            previous,
            foreign_vm_ids,
            diagnostics,
        ) else {
            continue;
        };
        for ((index, key), value) in members.iter().zip(&keys).zip(values) {
            ids[*index] = VmId::new(value).ok();
            allocations.vm_ids.insert(key.clone(), value);
        }
    }
    ids
}

/// Allocates one VM ID per key from `range` on `endpoint`, keeping previous IDs, skipping IDs
/// that VMs of others use, and reporting exhaustion. `None` when the range is too small.
pub(super) fn allocate_ids(
    endpoint: &ProxmoxEndpoint,
    field: &str,
    range: IdRange,
    keys: &[AllocationKey],
    previous: &Allocations,
    observed: &ObservedIds,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<u32>> {
    let mut allocator = SlotAllocator::new(u64::from(range.first), u64::from(range.last));
    let foreign = observed.foreign.get(endpoint.name.as_str());
    for id in foreign.into_iter().flatten() {
        allocator.exclude(u64::from(*id));
    }
    // Owned IDs stay with their own keys; an owned VM leaving the lab keeps its ID until deleted.
    let kept: BTreeSet<u32> = keys
        .iter()
        .filter_map(|key| previous.vm_ids.get(key).copied())
        .collect();
    for id in observed
        .owned
        .get(endpoint.name.as_str())
        .into_iter()
        .flatten()
    {
        if !kept.contains(id) {
            allocator.exclude(u64::from(*id));
        }
    }
    if keys.len() as u64 > allocator.free() {
        diagnostics.push(
            Diagnostic::error(
                "vm-ids-exhausted",
                &endpoint.source.at(field),
                format!(
                    "the range {range} has {} free IDs on `{}` but {} are needed",
                    allocator.free(),
                    endpoint.name,
                    keys.len()
                ),
            )
            .hint(format!("widen `{field}`, e.g. `{field}: 10000-19999`")),
        );
        return None;
    }
    let values = allocate_keys(&mut allocator, keys, |key| {
        previous.vm_ids.get(key).map(|&id| u64::from(id))
    });
    for (key, value) in keys.iter().zip(&values) {
        if let Some(&recorded) = previous.vm_ids.get(key)
            && foreign.is_some_and(|taken| taken.contains(&recorded))
        {
            diagnostics.push(
                Diagnostic::warning(
                    "vm-id-taken",
                    &endpoint.source.at(field),
                    format!(
                        "VM ID {recorded}, recorded for `{}`, is now used by a VM this lab does not own; it gets {} instead",
                        key.subject(),
                        value.unwrap_or_default()
                    ),
                )
                .hint("nothing to do unless you expected that VM ID: labform never touches VMs it does not own"),
            );
        }
    }
    Some(
        values
            .into_iter()
            .map(|value| value.expect("capacity checked") as u32)
            .collect(),
    )
}
