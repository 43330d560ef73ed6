//! Addresses: each VM's static address from its network's pools, each cluster's API VIP and
//! MetalLB block, keeping what earlier plans decided.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;

use labform_model::lab::*;
use labform_model::{AddressRange, Diagnostic};

use crate::plan::AddressBlock;

use crate::allocate::{AllocationKey, Allocations, SlotAllocator, allocate_keys};
use crate::expand::{AddressRequest, Expanded};

/// Addresses decided for VMs (by VM index), VIPs and MetalLB blocks (by instance index).
#[derive(Debug, Default)]
pub(super) struct Addresses {
    pub(super) vms: Vec<Option<Ipv4Addr>>,
    pub(super) vips: BTreeMap<usize, Ipv4Addr>,
    pub(super) load_balancers: BTreeMap<usize, AddressBlock>,
}

pub(super) fn pool_allocator(
    network: &Network,
    range: &AddressRange,
    reserved: &[Ipv4Addr],
) -> SlotAllocator {
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

pub(super) fn allocate_addresses(
    lab: &LabFile,
    expanded: &Expanded,
    previous: &Allocations,
    foreign: &BTreeSet<Ipv4Addr>,
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
    // Every instance with MetalLB gets a block here or an error: expansion has reported an
    // instance whose network lacks the pool, and a pool too small is reported below. The plan
    // carries the block in the planned add-on (`build/clusters.rs`).
    for (network_index, network) in lab.networks.iter().enumerate() {
        // What other scopes hold is taken as if it were fixed here.
        let reserved: Vec<Ipv4Addr> = fixed
            .keys()
            .filter(|(fixed_network, _)| *fixed_network == network_index)
            .map(|(_, address)| *address)
            .chain(foreign.iter().copied())
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
                    let keys: Vec<AllocationKey> = members
                        .iter()
                        .map(|&index| AllocationKey::vm(&expanded.vms[index].name))
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
                    let keys: Vec<AllocationKey> = members
                        .iter()
                        .map(|&index| AllocationKey::Vip(expanded.instances[index].name.clone()))
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
                            (instance.network == network_index && metallb.pool == pool.name)
                                .then(|| (index, metallb.address_count()))
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
                        let key =
                            AllocationKey::LoadBalancer(expanded.instances[index].name.clone());
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
                                addresses.load_balancers.insert(
                                    index,
                                    AddressBlock {
                                        first: range.first,
                                        last: range.last,
                                    },
                                );
                                allocations.addresses.insert(key, range.to_string());
                            }
                            None => pending.push((index, count, key)),
                        }
                    }
                    for (index, count, key) in pending {
                        match allocator.take_lowest_block(u64::from(count)) {
                            Some((first, last)) => {
                                let range = AddressRange { first: Ipv4Addr::from(first as u32), last: Ipv4Addr::from(last as u32) };
                                addresses.load_balancers.insert(index, AddressBlock { first: range.first, last: range.last });
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
pub(super) struct SingleAddresses<'a> {
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
        keys: &[AllocationKey],
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

pub(super) fn previous_address(previous: &Allocations, key: &AllocationKey) -> Option<u64> {
    previous
        .addresses
        .get(key)
        .and_then(|text| text.parse::<Ipv4Addr>().ok())
        .map(|address| u64::from(u32::from(address)))
}

pub(super) fn exhausted(
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
