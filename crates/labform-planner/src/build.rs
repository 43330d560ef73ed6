//! Building the plan: validation, expansion, placement, address and VM ID allocation, templates,
//! cluster steps and the ordered actions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use labform_ids::{VmId, is_dns_label};
use labform_model::addons::{AddonKind, IssuerKind};
use labform_model::lab::*;
use labform_model::validate::{DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR, validate};
use labform_model::{AddressRange, Diagnostic, IdRange};
use sha2::{Digest, Sha256};

use crate::allocate::{Allocations, SlotAllocator, allocate_keys};
use crate::expand::{AddressRequest, Expanded, Instance, Role, VmSpec, expand};
use crate::placement::{Placed, place};
use crate::plan::*;

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
/// MetalLB addresses per cluster instance when the lab does not say.
pub const DEFAULT_LOAD_BALANCER_ADDRESSES: u32 = 8;

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
    pub foreign: BTreeMap<String, BTreeSet<u32>>,
    /// IDs of VMs this lab owns: kept by the VM they belong to, never given to another (a VM
    /// that is about to be deleted still holds its ID).
    pub owned: BTreeMap<String, BTreeSet<u32>>,
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
    let mut allocations = Allocations::empty();
    let addresses =
        allocate_addresses(lab, &expanded, previous, &mut allocations, &mut diagnostics);
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
                format!("vm:{}", vm.name),
                lab.proxmox[vm.endpoint].nodes[place.node].name.clone(),
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

fn check_names(expanded: &Expanded, diagnostics: &mut Vec<Diagnostic>) {
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
fn check_seed_storage(
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
        let talos = vm.instance.is_some_and(|instance| {
            lab.clusters[expanded.instances[instance].cluster].distribution == Distribution::Talos
        });
        if lab.images[image].kind != ImageKind::CloudImage || talos {
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

/// Addresses decided for VMs (by VM index), VIPs and MetalLB blocks (by instance index).
#[derive(Debug, Default)]
struct Addresses {
    vms: Vec<Option<Ipv4Addr>>,
    vips: BTreeMap<usize, Ipv4Addr>,
    load_balancers: BTreeMap<usize, (Ipv4Addr, Ipv4Addr)>,
}

fn pool_allocator(network: &Network, range: &AddressRange, reserved: &[Ipv4Addr]) -> SlotAllocator {
    let mut allocator = SlotAllocator::new(
        u64::from(u32::from(range.first)),
        u64::from(u32::from(range.last)),
    );
    let subnet = network.cidr.trunc();
    for address in [subnet.network(), subnet.broadcast(), network.gateway]
        .into_iter()
        .chain(network.dns.iter().copied())
        .chain(reserved.iter().copied())
    {
        allocator.exclude(u64::from(u32::from(address)));
    }
    allocator
}

fn allocate_addresses(
    lab: &LabFile,
    expanded: &Expanded,
    previous: &Allocations,
    allocations: &mut Allocations,
    diagnostics: &mut Vec<Diagnostic>,
) -> Addresses {
    let mut addresses = Addresses {
        vms: vec![None; expanded.vms.len()],
        ..Addresses::default()
    };
    // Fixed addresses no pool may hand out: static VM addresses and explicit VIPs.
    let mut fixed: HashMap<(usize, Ipv4Addr), String> = HashMap::new();
    for (index, vm) in expanded.vms.iter().enumerate() {
        if let AddressRequest::Static(address) = vm.address {
            if let Some(other) = fixed.insert((vm.network, address), vm.name.clone()) {
                diagnostics.push(
                    Diagnostic::error(
                        "address-conflict",
                        &vm.source.at("address.static"),
                        format!("{address} is also the address of `{other}`"),
                    )
                    .hint("give every VM its own address"),
                );
            }
            addresses.vms[index] = Some(address);
        }
    }
    for (index, instance) in expanded.instances.iter().enumerate() {
        if let Some(ApiVip::Address(address)) = instance.api_vip {
            if let Some(other) = fixed.insert(
                (instance.network, address),
                format!("the API VIP of `{}`", instance.name),
            ) {
                diagnostics.push(
                    Diagnostic::error("address-conflict", &instance.source.at("api_vip"), format!("API VIP {address} of `{}` is also used by {other}", instance.name))
                        .hint("every cluster instance needs its own VIP; environments can set theirs in their overlay"),
                );
            }
            addresses.vips.insert(index, address);
        }
    }
    for (network_index, network) in lab.networks.iter().enumerate() {
        let reserved: Vec<Ipv4Addr> = fixed
            .keys()
            .filter(|(fixed_network, _)| *fixed_network == network_index)
            .map(|(_, address)| *address)
            .collect();
        for (pool_index, pool) in network.pools.iter().enumerate() {
            let mut allocator = pool_allocator(network, &pool.range, &reserved);
            let pool_at = network.source.at("pools").index(pool_index).at("range");
            match pool.purpose {
                PoolPurpose::Nodes => {
                    let members: Vec<usize> = expanded
                        .vms
                        .iter()
                        .enumerate()
                        .filter(|(_, vm)| {
                            vm.network == network_index
                                && vm.address == AddressRequest::Pool(pool_index)
                        })
                        .map(|(index, _)| index)
                        .collect();
                    let keys: Vec<String> = members
                        .iter()
                        .map(|&index| format!("vm:{}", expanded.vms[index].name))
                        .collect();
                    let request = SingleAddresses {
                        network,
                        pool,
                        pool_at: &pool_at,
                        what: "VMs",
                    };
                    for (index, address) in request.allocate(
                        &mut allocator,
                        &members,
                        &keys,
                        previous,
                        allocations,
                        diagnostics,
                    ) {
                        addresses.vms[index] = Some(address);
                    }
                }
                PoolPurpose::Vips => {
                    let members: Vec<usize> = expanded
                        .instances
                        .iter()
                        .enumerate()
                        .filter(|(_, instance)| {
                            instance.network == network_index
                                && matches!(&instance.api_vip, Some(ApiVip::FromPool(name)) if name == &pool.name)
                        })
                        .map(|(index, _)| index)
                        .collect();
                    let keys: Vec<String> = members
                        .iter()
                        .map(|&index| format!("vip:{}", expanded.instances[index].name))
                        .collect();
                    let request = SingleAddresses {
                        network,
                        pool,
                        pool_at: &pool_at,
                        what: "API VIPs",
                    };
                    for (index, address) in request.allocate(
                        &mut allocator,
                        &members,
                        &keys,
                        previous,
                        allocations,
                        diagnostics,
                    ) {
                        addresses.vips.insert(index, address);
                    }
                }
                PoolPurpose::LoadBalancers => {
                    let members: Vec<(usize, u32)> = expanded
                        .instances
                        .iter()
                        .enumerate()
                        .filter_map(|(index, instance)| {
                            let cluster = &lab.clusters[instance.cluster];
                            let metallb = cluster.addons.metallb.as_ref()?;
                            (instance.network == network_index && metallb.pool == pool.name).then(
                                || {
                                    (
                                        index,
                                        metallb
                                            .addresses
                                            .unwrap_or(DEFAULT_LOAD_BALANCER_ADDRESSES),
                                    )
                                },
                            )
                        })
                        .collect();
                    // Dedicated service addresses are kept out of every block.
                    let mut owners: HashMap<Ipv4Addr, &str> = HashMap::new();
                    for &(index, _) in &members {
                        let cluster = &lab.clusters[expanded.instances[index].cluster];
                        for (reserved_index, reserved) in cluster
                            .addons
                            .metallb
                            .as_ref()
                            .map(|m| m.reserved.as_slice())
                            .unwrap_or_default()
                            .iter()
                            .enumerate()
                        {
                            allocator.exclude(u64::from(u32::from(reserved.address)));
                            if let Some(owner) =
                                owners.insert(reserved.address, &expanded.instances[index].name)
                                && owner != expanded.instances[index].name
                            {
                                diagnostics.push(
                                    Diagnostic::error(
                                        "address-conflict",
                                        &cluster.source.at("addons.metallb.reserved").index(reserved_index).at("address"),
                                        format!("{} is reserved by both `{owner}` and `{}`", reserved.address, expanded.instances[index].name),
                                    )
                                    .hint("a cluster that exists in several environments needs a dedicated address per environment; reserve addresses only in single-environment clusters"),
                                );
                            }
                        }
                    }
                    let demand: u64 = members.iter().map(|(_, count)| u64::from(*count)).sum();
                    if demand > allocator.free() {
                        diagnostics.push(exhausted(
                            &pool_at,
                            network,
                            pool,
                            demand as usize,
                            allocator.free(),
                            "MetalLB addresses",
                        ));
                        continue;
                    }
                    let mut pending = Vec::new();
                    for &(index, count) in &members {
                        let key = format!("lb:{}", expanded.instances[index].name);
                        let kept = previous
                            .addresses
                            .get(&key)
                            .and_then(|text| text.parse::<AddressRange>().ok())
                            .filter(|range| {
                                range.len() == u64::from(count)
                                    && allocator.reserve_block(
                                        u64::from(u32::from(range.first)),
                                        u64::from(u32::from(range.last)),
                                    )
                            });
                        match kept {
                            Some(range) => {
                                addresses
                                    .load_balancers
                                    .insert(index, (range.first, range.last));
                                allocations.addresses.insert(key, range.to_string());
                            }
                            None => pending.push((index, count, key)),
                        }
                    }
                    for (index, count, key) in pending {
                        match allocator.take_lowest_block(u64::from(count)) {
                            Some((first, last)) => {
                                let range = AddressRange { first: Ipv4Addr::from(first as u32), last: Ipv4Addr::from(last as u32) };
                                addresses.load_balancers.insert(index, (range.first, range.last));
                                allocations.addresses.insert(key, range.to_string());
                            }
                            None => diagnostics.push(
                                Diagnostic::error(
                                    "pool-exhausted",
                                    &pool_at,
                                    format!("pool `{}` has no run of {count} free consecutive addresses for `{}`", pool.name, expanded.instances[index].name),
                                )
                                .hint("enlarge the pool or lower `metallb.addresses`"),
                            ),
                        }
                    }
                }
            }
        }
    }
    addresses
}

/// One address per member from one pool, keyed for the lock file.
struct SingleAddresses<'a> {
    network: &'a Network,
    pool: &'a AddressPool,
    pool_at: &'a labform_model::Source,
    what: &'static str,
}

impl SingleAddresses<'_> {
    /// Allocates an address for each of `members` under its key in `keys`, keeping previous
    /// ones; reports exhaustion instead of allocating part of them. Returns (member, address).
    fn allocate(
        &self,
        allocator: &mut SlotAllocator,
        members: &[usize],
        keys: &[String],
        previous: &Allocations,
        allocations: &mut Allocations,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Vec<(usize, Ipv4Addr)> {
        if keys.len() as u64 > allocator.free() {
            diagnostics.push(exhausted(
                self.pool_at,
                self.network,
                self.pool,
                keys.len(),
                allocator.free(),
                self.what,
            ));
            return Vec::new();
        }
        let values = allocate_keys(allocator, keys, |key| previous_address(previous, key));
        members
            .iter()
            .zip(keys)
            .zip(values)
            .map(|((&member, key), value)| {
                let address = Ipv4Addr::from(value.expect("capacity checked") as u32);
                allocations
                    .addresses
                    .insert(key.clone(), address.to_string());
                (member, address)
            })
            .collect()
    }
}

fn previous_address(previous: &Allocations, key: &str) -> Option<u64> {
    previous
        .addresses
        .get(key)
        .and_then(|text| text.parse::<Ipv4Addr>().ok())
        .map(|address| u64::from(u32::from(address)))
}

fn exhausted(
    at: &labform_model::Source,
    network: &Network,
    pool: &AddressPool,
    demand: usize,
    free: u64,
    what: &str,
) -> Diagnostic {
    Diagnostic::error(
        "pool-exhausted",
        at,
        format!(
            "pool `{}` of network `{}` ({}) has {free} free addresses but {demand} {what} need one",
            pool.name, network.name, pool.range
        ),
    )
    .hint(format!(
        "enlarge the pool (the subnet is {}) or plan fewer {what}",
        network.cidr.trunc()
    ))
}

fn allocate_vm_ids(
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
        let keys: Vec<String> = members
            .iter()
            .map(|&index| format!("vm:{}", vms[index].name))
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
fn allocate_ids(
    endpoint: &ProxmoxEndpoint,
    field: &str,
    range: IdRange,
    keys: &[String],
    previous: &Allocations,
    observed: &ObservedIds,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<u32>> {
    let mut allocator = SlotAllocator::new(u64::from(range.first), u64::from(range.last));
    let foreign = observed.foreign.get(&endpoint.name);
    for id in foreign.into_iter().flatten() {
        allocator.exclude(u64::from(*id));
    }
    // Owned IDs stay with their own keys; an owned VM leaving the lab keeps its ID until deleted.
    let kept: BTreeSet<u32> = keys
        .iter()
        .filter_map(|key| previous.vm_ids.get(key).copied())
        .collect();
    for id in observed.owned.get(&endpoint.name).into_iter().flatten() {
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
                        key.trim_start_matches("vm:"),
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

/// A template to make, with the VMs cloned from it.
#[derive(Debug, Clone)]
struct Template {
    key: String,
    name: String,
    vm_id: VmId,
    image: usize,
    endpoint: usize,
    node: usize,
    storage: usize,
}

fn plan_templates(
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
    let mut index_of: HashMap<String, usize> = HashMap::new();
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
        let key = if shared {
            format!(
                "template:{}@{}/{image_name}@{storage_name}",
                endpoint.name, storage_name
            )
        } else {
            format!(
                "template:{}@{}/{image_name}@{node_name}/{storage_name}",
                endpoint.name, node_name
            )
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
        let keys: Vec<String> = members
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

/// Lowercases and replaces characters that are not allowed in host names.
fn sanitise(name: &str) -> String {
    let mapped: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    mapped
        .trim_matches('-')
        .chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

/// A MAC address in Proxmox's `BC:24:11` range, derived from the scope and VM name so that it is
/// the same in every plan.
pub fn mac_address(scope: &str, name: &str, attempt: u32) -> String {
    let mut hasher = Sha256::new();
    hasher.update(scope.as_bytes());
    hasher.update([0]);
    hasher.update(name.as_bytes());
    hasher.update(attempt.to_le_bytes());
    let digest = hasher.finalize();
    format!(
        "BC:24:11:{:02X}:{:02X}:{:02X}",
        digest[0], digest[1], digest[2]
    )
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    lab: &LabFile,
    expanded: &Expanded,
    placed: &[Option<Placed>],
    load: &crate::placement::Load,
    addresses: &Addresses,
    vm_ids: &[Option<VmId>],
    (templates, template_of): &(Vec<Template>, Vec<Option<usize>>),
) -> Plan {
    let lab_name = lab.lab.clone().unwrap_or_default();
    let scope = lab.scope.clone().unwrap_or_else(|| lab_name.clone());
    let defaults = lab.defaults.clone().unwrap_or_default();
    let user = defaults
        .user
        .clone()
        .unwrap_or_else(|| "labform".to_owned());
    let tenant_pool = |tenant: usize| {
        lab.tenants[tenant]
            .pool
            .clone()
            .unwrap_or_else(|| format!("{lab_name}-{}", lab.tenants[tenant].name))
    };

    // Images: one download per image and node (or per shared storage) that a template or ISO VM needs.
    let mut images: Vec<PlannedImage> = Vec::new();
    let mut image_index: HashMap<(usize, usize, usize), usize> = HashMap::new();
    let mut ensure_image =
        |images: &mut Vec<PlannedImage>, image: usize, endpoint: usize, node: usize| -> usize {
            let declared_endpoint = &lab.proxmox[endpoint];
            let declared = &lab.images[image];
            let wanted_content: &[StorageContent] = match declared.kind {
                ImageKind::CloudImage => &[StorageContent::Import, StorageContent::Iso],
                ImageKind::Iso => &[StorageContent::Iso],
            };
            let available = |storage: &Storage| {
                storage.nodes.is_empty()
                    || storage.nodes.contains(&declared_endpoint.nodes[node].name)
            };
            let storage = declared
                .storage
                .as_ref()
                .and_then(|name| {
                    declared_endpoint
                        .storages
                        .iter()
                        .position(|s| &s.name == name)
                })
                .or_else(|| {
                    wanted_content.iter().find_map(|content| {
                        declared_endpoint
                            .storages
                            .iter()
                            .position(|s| s.content.contains(content) && available(s))
                    })
                })
                .unwrap_or(0);
            let shared = declared_endpoint.storages[storage].shared;
            let key = (
                image,
                endpoint,
                if shared { usize::MAX - storage } else { node },
            );
            *image_index.entry(key).or_insert_with(|| {
                let file_name = declared
                    .url
                    .rsplit('/')
                    .next()
                    .unwrap_or(&declared.name)
                    .to_owned();
                images.push(PlannedImage {
                    name: declared.name.clone(),
                    url: declared.url.clone(),
                    checksum: declared.checksum.clone(),
                    endpoint: declared_endpoint.name.clone(),
                    node: declared_endpoint.nodes[node].name.clone(),
                    storage: declared_endpoint.storages[storage].name.clone(),
                    file_name,
                });
                images.len() - 1
            })
        };

    let mut template_image: Vec<usize> = Vec::new();
    let planned_templates: Vec<PlannedTemplate> = templates
        .iter()
        .map(|template| {
            template_image.push(ensure_image(
                &mut images,
                template.image,
                template.endpoint,
                template.node,
            ));
            let endpoint = &lab.proxmox[template.endpoint];
            let image = &lab.images[template.image];
            let spec = {
                let mut hasher = Sha256::new();
                for part in [
                    &image.url,
                    &image.checksum,
                    &endpoint.nodes[template.node].name,
                    &endpoint.storages[template.storage].name,
                ] {
                    hasher.update(part.as_bytes());
                    hasher.update([0]);
                }
                hasher.finalize()[..8]
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect()
            };
            PlannedTemplate {
                name: template.name.clone(),
                key: template.key.clone(),
                spec,
                vm_id: template.vm_id,
                image: lab.images[template.image].name.clone(),
                endpoint: endpoint.name.clone(),
                node: endpoint.nodes[template.node].name.clone(),
                storage: endpoint.storages[template.storage].name.clone(),
            }
        })
        .collect();

    // VMs.
    let mut used_macs: HashMap<String, usize> = HashMap::new();
    let mut vm_image_download: Vec<Option<usize>> = vec![None; expanded.vms.len()];
    let mut vms: Vec<PlannedVm> = Vec::with_capacity(expanded.vms.len());
    for (index, vm) in expanded.vms.iter().enumerate() {
        let place = placed[index]
            .as_ref()
            .expect("placed when there are no errors");
        let endpoint = &lab.proxmox[vm.endpoint];
        let network = &lab.networks[vm.network];
        let instance = vm.instance.map(|i| &expanded.instances[i]);
        let image = vm.image.map(|image| &lab.images[image]);
        if let Some(image_declared) = vm.image
            && lab.images[image_declared].kind == ImageKind::Iso
        {
            vm_image_download[index] = Some(ensure_image(
                &mut images,
                image_declared,
                vm.endpoint,
                place.node,
            ));
        }
        let mut attempt = 0;
        let mut mac = mac_address(&scope, &vm.name, attempt);
        while used_macs.contains_key(&mac) {
            attempt += 1;
            mac = mac_address(&scope, &vm.name, attempt);
        }
        used_macs.insert(mac.clone(), index);
        let address = addresses.vms[index];
        let talos = instance.is_some_and(|instance| {
            lab.clusters[instance.cluster].distribution == Distribution::Talos
        });
        let cloud = image.is_some_and(|image| image.kind == ImageKind::CloudImage) && !talos;
        let boot = if talos {
            "talos"
        } else if cloud {
            "cloud-init"
        } else {
            "installer"
        };
        let mut packages = vec!["qemu-guest-agent".to_owned()];
        if let Some(instance) = instance
            && lab.clusters[instance.cluster].addons.longhorn.is_some()
        {
            packages.extend(["open-iscsi".to_owned(), "nfs-common".to_owned()]);
        }
        for package in &defaults.packages {
            if !packages.contains(package) {
                packages.push(package.clone());
            }
        }
        let role_tag = match &vm.role {
            Role::Server { .. } => "role-server".to_owned(),
            Role::Agent { .. } => "role-agent".to_owned(),
            Role::Plain { .. } => "role-vm".to_owned(),
        };
        let mut tags = vec![
            "labform".to_owned(),
            format!("lab-{lab_name}"),
            format!("scope-{scope}"),
            role_tag,
        ];
        if let Some(instance) = instance {
            tags.push(format!("cluster-{}", instance.name));
        }
        if let Some(tenant) = vm.tenant {
            tags.push(format!("tenant-{}", lab.tenants[tenant].name));
        }
        vms.push(PlannedVm {
            name: vm.name.clone(),
            vm_id: vm_ids[index].expect("allocated when there are no errors"),
            endpoint: endpoint.name.clone(),
            node: endpoint.nodes[place.node].name.clone(),
            role: vm.role.label(),
            cluster: instance.map(|instance| instance.name.clone()),
            environment: instance
                .and_then(|instance| instance.environment)
                .map(|environment| lab.environments[environment].name.clone()),
            tenant: vm.tenant.map(|tenant| lab.tenants[tenant].name.clone()),
            pool: vm.tenant.map(tenant_pool).or_else(|| endpoint.pool.clone()),
            cpu: vm.cpu,
            memory_mib: vm.memory.mebibytes(),
            disks: vm
                .disks
                .iter()
                .zip(&place.storages)
                .enumerate()
                .map(|(slot, (disk, &storage))| PlannedDisk {
                    slot: format!("scsi{slot}"),
                    storage: endpoint.storages[storage].name.clone(),
                    size_gib: disk.size.gibibytes(),
                })
                .collect(),
            image: image.map(|image| image.name.clone()),
            template: template_of[index].map(|template| templates[template].vm_id),
            nic: PlannedNic {
                network: network.name.clone(),
                bridge: network.bridge.clone(),
                vlan: network.vlan,
                mac,
                address,
                prefix: network.cidr.prefix_len(),
                gateway: address.map(|_| network.gateway),
                dns: network.dns.clone(),
                domain: network.domain.clone(),
            },
            boot: boot.to_owned(),
            cloud_init: cloud.then(|| CloudInitSummary {
                hostname: vm.name.clone(),
                fqdn: network
                    .domain
                    .as_ref()
                    .map(|domain| format!("{}.{domain}", vm.name)),
                user: user.clone(),
                ssh_keys: defaults.ssh_keys.len(),
                authorized_keys: defaults.ssh_keys.clone(),
                timezone: defaults.timezone.clone(),
                packages,
                pinned_host_keys: true,
            }),
            seed: None,
            tags,
            protected: vm.protected,
            spec: String::new(),
        });
        let last = vms.last_mut().expect("just pushed");
        if last.cloud_init.is_some() {
            last.seed = endpoint
                .storages
                .iter()
                .find(|storage| {
                    storage.content.contains(&StorageContent::Iso)
                        && (storage.nodes.is_empty() || storage.nodes.contains(&last.node))
                })
                .map(|storage| PlannedSeed {
                    storage: storage.name.clone(),
                    file_name: crate::desired::seed_file_name(&scope, last, network.mtu),
                });
        }
        last.spec = crate::desired::spec_hash(last);
    }

    // Clusters.
    let clusters: Vec<PlannedCluster> = expanded
        .instances
        .iter()
        .enumerate()
        .map(|(index, instance)| {
            plan_cluster(lab, &lab_name, expanded, index, instance, addresses, &vms)
        })
        .collect();

    // Tenants.
    let tenants: Vec<PlannedTenant> = lab
        .tenants
        .iter()
        .enumerate()
        .map(|(tenant_index, tenant)| {
            let owned: Vec<&Instance> = expanded
                .instances
                .iter()
                .filter(|instance| instance.tenant == Some(tenant_index))
                .collect();
            let mut services = Vec::new();
            for access in &tenant.uses {
                for provider in expanded
                    .instances
                    .iter()
                    .filter(|instance| lab.clusters[instance.cluster].name == access.cluster)
                {
                    let same_environment = owned.is_empty()
                        || owned
                            .iter()
                            .any(|instance| instance.environment == provider.environment)
                        || provider.environment.is_none();
                    if !same_environment {
                        continue;
                    }
                    for service in &access.services {
                        services.push(format!("{}@{}", service.as_str(), provider.name));
                    }
                }
            }
            PlannedTenant {
                name: tenant.name.clone(),
                pool: tenant_pool(tenant_index),
                api_token: crate::tenancy::tenant_token(&scope, &tenant.name),
                clusters: owned.iter().map(|instance| instance.name.clone()).collect(),
                services,
            }
        })
        .collect();

    // Actions.
    let mut actions: Vec<Action> = Vec::new();
    let push = |actions: &mut Vec<Action>,
                kind: &str,
                target: String,
                reason: String,
                after: Vec<usize>| {
        actions.push(Action {
            id: actions.len(),
            kind: kind.to_owned(),
            target,
            reason,
            after,
        });
        actions.len() - 1
    };
    let new = "not on Proxmox (offline plan: Proxmox not consulted)".to_owned();
    let mut pool_action: BTreeMap<String, usize> = BTreeMap::new();
    for vm in &vms {
        if let Some(pool) = &vm.pool
            && !pool_action.contains_key(pool)
        {
            let id = push(
                &mut actions,
                "create-pool",
                pool.clone(),
                "resource pool for the lab's VMs".to_owned(),
                vec![],
            );
            pool_action.insert(pool.clone(), id);
        }
    }
    for tenant in &tenants {
        let after = pool_action.get(&tenant.pool).copied().into_iter().collect();
        push(
            &mut actions,
            "create-tenant-token",
            tenant.api_token.clone(),
            format!("API token limited by ACL to pool `{}`", tenant.pool),
            after,
        );
    }
    let image_actions: Vec<usize> = images
        .iter()
        .map(|image| {
            push(
                &mut actions,
                "download-image",
                format!(
                    "{} -> {}:{}/{}",
                    image.name, image.node, image.storage, image.file_name
                ),
                format!("{} ({})", new, image.checksum),
                vec![],
            )
        })
        .collect();
    let template_actions: Vec<usize> = planned_templates
        .iter()
        .zip(&template_image)
        .map(|(template, &image)| {
            push(
                &mut actions,
                "create-template",
                format!(
                    "{} ({}) on {}/{}",
                    template.name, template.vm_id, template.node, template.storage
                ),
                format!(
                    "linked clones of `{}` on this storage need it",
                    template.image
                ),
                vec![image_actions[image]],
            )
        })
        .collect();
    let mut started: Vec<usize> = Vec::with_capacity(vms.len());
    for (index, vm) in vms.iter().enumerate() {
        let mut after: Vec<usize> = vm
            .pool
            .as_ref()
            .and_then(|pool| pool_action.get(pool).copied())
            .into_iter()
            .collect();
        let kind = match (template_of[index], vm_image_download[index]) {
            (Some(template), _) => {
                after.push(template_actions[template]);
                "clone-vm"
            }
            (None, Some(download)) => {
                after.push(image_actions[download]);
                "create-vm"
            }
            (None, None) => "create-vm",
        };
        let created = push(
            &mut actions,
            kind,
            format!("{} ({}) on {}", vm.name, vm.vm_id, vm.node),
            new.clone(),
            after,
        );
        started.push(push(
            &mut actions,
            "start-vm",
            vm.name.clone(),
            "the VM must run to boot cloud-init".to_owned(),
            vec![created],
        ));
    }
    for cluster in &clusters {
        let members: Vec<usize> = vms
            .iter()
            .enumerate()
            .filter(|(_, vm)| vm.cluster.as_deref() == Some(cluster.name.as_str()))
            .map(|(index, _)| started[index])
            .collect();
        let mut previous = push(
            &mut actions,
            "bootstrap-cluster",
            format!(
                "{} ({} {})",
                cluster.name, cluster.distribution, cluster.version
            ),
            if cluster.bootstrap_supported {
                "new cluster".to_owned()
            } else {
                format!(
                    "new cluster; {} bootstrap is not automated yet",
                    cluster.distribution
                )
            },
            members,
        );
        for addon in &cluster.addons {
            previous = push(
                &mut actions,
                "install-addon",
                format!("{} on {}", addon.name, cluster.name),
                "add-on in the lab".to_owned(),
                vec![previous],
            );
        }
    }

    let endpoints = lab
        .proxmox
        .iter()
        .zip(&load.nodes)
        .map(|(endpoint, nodes)| PlannedEndpoint {
            name: endpoint.name.clone(),
            url: endpoint.endpoint.clone(),
            nodes: endpoint
                .nodes
                .iter()
                .zip(nodes)
                .map(|(node, usage)| NodeLoad {
                    name: node.name.clone(),
                    cpu_used: usage.cpu_used,
                    cpu_capacity: usage.cpu_capacity,
                    memory_used_mib: usage.memory_used >> 20,
                    memory_capacity_mib: usage.memory_capacity >> 20,
                    vms: usage.vms,
                })
                .collect(),
        })
        .collect();
    let summary = Summary {
        vms: vms.len(),
        clusters: clusters.len(),
        templates: planned_templates.len(),
        images: images.len(),
        cpu: vms.iter().map(|vm| u64::from(vm.cpu)).sum(),
        memory_mib: vms.iter().map(|vm| vm.memory_mib).sum(),
        disk_gib: vms
            .iter()
            .flat_map(|vm| vm.disks.iter())
            .map(|disk| disk.size_gib)
            .sum(),
    };
    Plan {
        lab: lab_name,
        scope,
        endpoints,
        images,
        templates: planned_templates,
        vms,
        clusters,
        tenants,
        actions,
        summary,
    }
}

fn plan_cluster(
    lab: &LabFile,
    lab_name: &str,
    expanded: &Expanded,
    index: usize,
    instance: &Instance,
    addresses: &Addresses,
    vms: &[PlannedVm],
) -> PlannedCluster {
    let cluster = &lab.clusters[instance.cluster];
    let network = &lab.networks[instance.network];
    let members: Vec<&PlannedVm> = vms
        .iter()
        .filter(|vm| vm.cluster.as_deref() == Some(instance.name.as_str()))
        .collect();
    let servers: Vec<String> = members
        .iter()
        .filter(|vm| vm.role == "server")
        .map(|vm| vm.name.clone())
        .collect();
    let agents: Vec<String> = members
        .iter()
        .filter(|vm| vm.role != "server")
        .map(|vm| vm.name.clone())
        .collect();
    let vip = addresses.vips.get(&index).copied();
    let first_server_address = members
        .iter()
        .find(|vm| vm.role == "server")
        .and_then(|vm| vm.nic.address);
    let api_address = vip.or(first_server_address);
    let pod: Ipv4Net = cluster
        .pod_cidr
        .unwrap_or_else(|| DEFAULT_POD_CIDR.parse().expect("valid"));
    let service: Ipv4Net = cluster
        .service_cidr
        .unwrap_or_else(|| DEFAULT_SERVICE_CIDR.parse().expect("valid"));
    let load_balancers = addresses
        .load_balancers
        .get(&index)
        .map(|(first, last)| format!("{first}-{last}"));
    let datastore = match &cluster.datastore {
        Datastore::EmbeddedEtcd => "embedded etcd".to_owned(),
        Datastore::Sqlite => "sqlite".to_owned(),
        Datastore::External(external) => format!("external ({})", external.endpoint),
    };
    let addons: Vec<PlannedAddon> = cluster
        .addons
        .enabled()
        .into_iter()
        .map(|kind| PlannedAddon {
            name: kind.key().to_owned(),
            detail: addon_detail(lab, cluster, kind, load_balancers.as_deref(), members.len()),
        })
        .collect();
    let api = api_address
        .map(|address| address.to_string())
        .unwrap_or_else(|| "?".to_owned());
    let first = servers.first().cloned();
    let mut steps = Vec::new();
    let mut step =
        |action: String, target: Option<String>| steps.push(ClusterStep { action, target });
    match cluster.distribution {
        Distribution::K3s => {
            let mut disabled = Vec::new();
            if cluster.addons.metallb.is_some() {
                disabled.push("servicelb");
            }
            if cluster.addons.traefik.is_none() {
                disabled.push("traefik");
            }
            let cni = match cluster.cni {
                Cni::Flannel => "flannel (vxlan)".to_owned(),
                other => format!("no flannel; {} installed after", other.as_str()),
            };
            let store = match &cluster.datastore {
                Datastore::EmbeddedEtcd => "cluster-init (embedded etcd)",
                Datastore::Sqlite => "SQLite",
                Datastore::External(_) => "external datastore",
            };
            step(
                format!(
                    "install K3s {} with {store}; tls-san {api}; cluster-cidr {pod}, service-cidr {service}; CNI {cni}{}",
                    instance.version,
                    if disabled.is_empty() {
                        String::new()
                    } else {
                        format!("; disable {}", disabled.join(", "))
                    }
                ),
                first.clone(),
            );
            if let Some(vip) = vip {
                step(
                    format!(
                        "deploy kube-vip announcing API VIP {vip} by ARP on network `{}`",
                        network.name
                    ),
                    first.clone(),
                );
            }
            if cluster.cni != Cni::Flannel {
                step(
                    format!("install {} for pod network {pod}", cluster.cni.as_str()),
                    first.clone(),
                );
            }
            if servers.len() > 1 {
                step(
                    format!("join servers through https://{api}:6443, one at a time"),
                    Some(servers[1..].join(", ")),
                );
            }
            if !agents.is_empty() {
                step(
                    format!("join agents through https://{api}:6443"),
                    Some(agents.join(", ")),
                );
            }
        }
        Distribution::Kubeadm => {
            step(
                format!(
                    "cloud-init installs containerd and kubeadm {} (not automated by labform yet)",
                    instance.version
                ),
                None,
            );
            step(
                format!(
                    "kubeadm init with control-plane endpoint {api}:6443, pod network {pod}, service network {service}"
                ),
                first.clone(),
            );
            step(
                format!("install {} for pod network {pod}", cluster.cni.as_str()),
                first.clone(),
            );
            if servers.len() > 1 {
                step(
                    "kubeadm join --control-plane".to_owned(),
                    Some(servers[1..].join(", ")),
                );
            }
            if !agents.is_empty() {
                step("kubeadm join".to_owned(), Some(agents.join(", ")));
            }
        }
        Distribution::Talos => {
            step(
                format!(
                    "generate Talos {} machine configs (endpoint https://{api}:6443, pods {pod}, services {service})",
                    instance.version
                ),
                None,
            );
            step(
                "apply control-plane configs; talosctl bootstrap on the first".to_owned(),
                Some(servers.join(", ")),
            );
            if !agents.is_empty() {
                step("apply worker configs".to_owned(), Some(agents.join(", ")));
            }
        }
    }
    step(
        format!(
            "wait until the API answers and all {} nodes are Ready",
            members.len()
        ),
        None,
    );
    for addon in &addons {
        step(
            format!("install add-on {}: {}", addon.name, addon.detail),
            None,
        );
    }
    if let Some(backups) = &cluster.backups {
        if let Some(schedule) = &backups.etcd_snapshot_schedule {
            step(
                format!(
                    "schedule etcd snapshots `{schedule}`, keep {}",
                    backups.etcd_snapshot_retention.unwrap_or(5)
                ),
                first.clone(),
            );
        }
        if let (Some(schedule), Some(storage)) = (&backups.vzdump_schedule, &backups.storage) {
            step(
                format!(
                    "schedule vzdump `{schedule}` to {storage}, keep {}",
                    backups.keep.unwrap_or(7)
                ),
                None,
            );
        }
    }
    let context = format!("{lab_name}-{}", instance.name);
    step(
        format!("merge kubeconfig context `{context}` (server https://{api}:6443)"),
        None,
    );
    let _ = expanded;
    PlannedCluster {
        name: instance.name.clone(),
        cluster: cluster.name.clone(),
        environment: instance
            .environment
            .map(|environment| lab.environments[environment].name.clone()),
        tenant: instance
            .tenant
            .map(|tenant| lab.tenants[tenant].name.clone()),
        distribution: cluster.distribution.as_str().to_owned(),
        version: instance.version.clone(),
        bootstrap_supported: cluster.distribution == Distribution::K3s,
        api_address,
        api_vip: vip.is_some(),
        pod_cidr: pod.to_string(),
        service_cidr: service.to_string(),
        cni: cluster.cni.as_str().to_owned(),
        datastore,
        load_balancer_addresses: load_balancers,
        servers,
        agents,
        addons,
        steps,
        kubeconfig_context: context,
    }
}

fn addon_detail(
    lab: &LabFile,
    cluster: &Cluster,
    kind: AddonKind,
    load_balancers: Option<&str>,
    nodes: usize,
) -> String {
    let addons = &cluster.addons;
    let version = |version: &Option<String>| {
        version
            .as_ref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default()
    };
    match kind {
        AddonKind::Metallb => {
            let metallb = addons.metallb.as_ref().expect("enabled");
            let mut text = format!("L2 pool {}", load_balancers.unwrap_or("?"));
            if !metallb.reserved.is_empty() {
                let reserved: Vec<String> = metallb
                    .reserved
                    .iter()
                    .map(|r| format!("{}={}", r.service, r.address))
                    .collect();
                text.push_str(&format!("; dedicated {}", reserved.join(", ")));
            }
            text
        }
        AddonKind::Traefik => {
            let traefik = addons.traefik.as_ref().expect("enabled");
            format!(
                "{:?} service{}",
                traefik.service_type,
                if traefik.dashboard { ", dashboard" } else { "" }
            )
        }
        AddonKind::CertManager => {
            let cert_manager = addons.cert_manager.as_ref().expect("enabled");
            let issuers: Vec<String> = cert_manager
                .issuers
                .iter()
                .map(|issuer| {
                    let kind = match issuer.kind {
                        IssuerKind::SelfSigned => "self-signed",
                        IssuerKind::AcmeHttp01 => "ACME HTTP-01",
                        IssuerKind::AcmeDns01 => "ACME DNS-01",
                    };
                    format!("{} ({kind})", issuer.name)
                })
                .collect();
            format!(
                "CRDs first{}{}",
                version(&cert_manager.version),
                if issuers.is_empty() {
                    String::new()
                } else {
                    format!("; issuers {}", issuers.join(", "))
                }
            )
        }
        AddonKind::KubePrometheusStack => {
            let stack = addons.kube_prometheus_stack.as_ref().expect("enabled");
            format!(
                "Prometheus, Grafana, node exporter{}{}",
                stack
                    .retention
                    .as_ref()
                    .map(|r| format!("; retention {r}"))
                    .unwrap_or_default(),
                stack
                    .storage
                    .map(|s| format!("; {s} volume"))
                    .unwrap_or_default()
            )
        }
        AddonKind::Longhorn => {
            let longhorn = addons.longhorn.as_ref().expect("enabled");
            let replicas = longhorn.replicas.unwrap_or(3.min(nodes as u32).max(1));
            format!(
                "{replicas} replicas; open-iscsi on every node{}",
                if longhorn.default_storage_class {
                    "; default StorageClass"
                } else {
                    ""
                }
            )
        }
        AddonKind::Argocd => {
            let argocd = addons.argocd.as_ref().expect("enabled");
            if argocd.application_sets.is_empty() {
                "Argo CD".to_owned()
            } else {
                let sets: Vec<String> = argocd
                    .application_sets
                    .iter()
                    .map(|set| format!("{} ({} {})", set.name, set.repository, set.directories))
                    .collect();
                format!("ApplicationSets {}", sets.join(", "))
            }
        }
        AddonKind::Vault => {
            let vault = addons.vault.as_ref().expect("enabled");
            format!(
                "{} replica(s), raft storage{}",
                vault.replicas.unwrap_or(1),
                vault.storage.map(|s| format!(" {s}")).unwrap_or_default()
            )
        }
        AddonKind::Minio => {
            let minio = addons.minio.as_ref().expect("enabled");
            format!(
                "object storage{}",
                minio.storage.map(|s| format!(" {s}")).unwrap_or_default()
            )
        }
        AddonKind::Gitlab => {
            let gitlab = addons.gitlab.as_ref().expect("enabled");
            let tenants: Vec<&str> = lab
                .tenants
                .iter()
                .filter(|tenant| {
                    tenant
                        .uses
                        .iter()
                        .any(|access| access.cluster == cluster.name)
                })
                .map(|tenant| tenant.name.as_str())
                .collect();
            format!(
                "at {}{}",
                gitlab.domain,
                if tenants.is_empty() {
                    String::new()
                } else {
                    format!("; groups for tenants {}", tenants.join(", "))
                }
            )
        }
        AddonKind::ExternalSecrets => {
            let external = addons.external_secrets.as_ref().expect("enabled");
            let provider = match (external.provider, &external.project_id) {
                (labform_model::addons::SecretProvider::Bitwarden, Some(project)) => {
                    format!("Bitwarden Secrets Manager project {project}")
                }
                (labform_model::addons::SecretProvider::Bitwarden, None) => {
                    "Bitwarden Secrets Manager".to_owned()
                }
                (labform_model::addons::SecretProvider::Vault, _) => "Vault".to_owned(),
            };
            format!(
                "ClusterSecretStore from {provider} (token {})",
                external.access_token
            )
        }
        AddonKind::EnvoyGateway => {
            let envoy = addons.envoy_gateway.as_ref().expect("enabled");
            format!(
                "Gateway API{}",
                envoy
                    .domain
                    .as_ref()
                    .map(|d| format!(" for *.{d}"))
                    .unwrap_or_default()
            )
        }
        AddonKind::TailscaleOperator => "private services on the tailnet".to_owned(),
    }
}
