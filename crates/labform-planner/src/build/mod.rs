//! Building the plan: validation, expansion, placement, address and VM ID allocation, templates,
//! cluster steps and the ordered actions.

use std::collections::{BTreeMap, BTreeSet};

use labform_model::lab::*;
use labform_model::validate::validate;
use labform_model::{Diagnostic, IdRange};

use crate::allocate::{AllocationKey, Allocations};
use crate::expand::expand;
use crate::placement::place;
use crate::plan::*;

mod addresses;
mod assemble;
mod checks;
mod clusters;
mod templates;
mod vm_ids;

use addresses::*;
use assemble::*;
use checks::*;
use clusters::*;
use templates::*;
use vm_ids::*;

pub use assemble::mac_address;

/// Default VM ID range.
pub const DEFAULT_VM_IDS: IdRange = IdRange {
    first: 1000,
    last: 8999,
};
/// Default template ID range.
pub const DEFAULT_TEMPLATE_IDS: IdRange = IdRange {
    first: 9000,
    last: 9999,
};

/// What planning produced.
#[derive(Debug)]
pub struct Planned {
    /// The plan, when there were no errors.
    pub plan: Option<Plan>,
    /// The allocations the plan made (previous ones kept), to be recorded in the lock file.
    pub allocations: Allocations,
    /// Errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
}

/// Validates and plans `lab`, keeping the `previous` allocations that still apply.
pub fn plan(lab: &LabFile, previous: &Allocations) -> Planned {
    plan_against(lab, previous, &ObservedIds::default())
}

/// VM IDs seen on Proxmox, by endpoint name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedIds {
    /// IDs of VMs this lab does not own: never handed out.
    pub foreign: BTreeMap<EndpointName, BTreeSet<u32>>,
    /// IDs of VMs this lab owns: kept by the VM they belong to, never given to another (a VM
    /// that is about to be deleted still holds its ID).
    pub owned: BTreeMap<EndpointName, BTreeSet<u32>>,
    /// Addresses labs in other scopes hold on the lab's endpoints (their VMs' static addresses,
    /// their clusters' API VIPs and load-balancer blocks): never handed out from a pool, and an
    /// earlier allocation that is among them is moved.
    pub foreign_addresses: BTreeSet<std::net::Ipv4Addr>,
}

/// Like [`plan`], against what exists: IDs in `observed` are never handed out to a new VM, and a
/// previous allocation that collides with a foreign VM is moved with a warning that says so.
pub fn plan_against(lab: &LabFile, previous: &Allocations, observed: &ObservedIds) -> Planned {
    let foreign_vm_ids = observed;
    let mut diagnostics = validate(lab);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Planned {
            plan: None,
            allocations: previous.clone(),
            diagnostics,
        };
    }
    let expanded = expand(lab, &mut diagnostics);
    check_names(&expanded, &mut diagnostics);
    let (placed, load) = place(lab, &expanded.vms, previous, &mut diagnostics);
    check_seed_storage(lab, &expanded, &placed, &mut diagnostics);
    check_talos_images(lab, &expanded, &mut diagnostics);
    let mut allocations = Allocations::empty();
    let addresses = allocate_addresses(
        lab,
        &expanded,
        previous,
        &foreign_vm_ids.foreign_addresses,
        &mut allocations,
        &mut diagnostics,
    );
    let vm_ids = allocate_vm_ids(
        lab,
        &expanded.vms,
        previous,
        foreign_vm_ids,
        &mut allocations,
        &mut diagnostics,
    );
    let templates = plan_templates(
        lab,
        &expanded.vms,
        &placed,
        previous,
        foreign_vm_ids,
        &mut allocations,
        &mut diagnostics,
    );
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Planned {
            plan: None,
            allocations: previous.clone(),
            diagnostics,
        };
    }
    for (vm, place) in expanded.vms.iter().zip(&placed) {
        if let Some(place) = place {
            allocations.nodes.insert(
                AllocationKey::vm(&vm.name),
                lab.proxmox[vm.endpoint].nodes[place.node]
                    .name
                    .clone()
                    .into(),
            );
        }
    }
    let plan = assemble(
        lab, &expanded, &placed, &load, &addresses, &vm_ids, &templates,
    );
    Planned {
        plan: Some(plan),
        allocations,
        diagnostics,
    }
}
