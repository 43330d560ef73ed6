//! Placement of VMs on Proxmox nodes within each node's capacity and the lab's overcommit policy.
//!
//! VMs placed by an earlier plan stay where they are (moving a VM is a migration, never a side
//! effect of adding another). New VMs go, in lab order, to the allowed node that keeps their group
//! spread (anti-affinity), then to the one with the most free memory, then by name.

use std::collections::{BTreeMap, HashMap};

use labform_model::lab::{AntiAffinity, LabFile, ProxmoxEndpoint, StorageContent};
use labform_model::{ByteSize, Diagnostic};

use crate::allocate::{AllocationKey, Allocations};
use crate::expand::VmSpec;

/// Where each VM runs: node index and the storage index of each disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Node index in the endpoint.
    pub node: usize,
    /// Storage index (in the endpoint) of each disk.
    pub storages: Vec<usize>,
}

#[derive(Debug, Default, Clone)]
struct NodeState {
    cpu_used: u64,
    memory_used: u64,
    vms: usize,
    groups: HashMap<String, u32>,
}

/// Capacity bookkeeping for one endpoint.
struct EndpointState<'a> {
    endpoint: &'a ProxmoxEndpoint,
    nodes: Vec<NodeState>,
    /// Bytes used per (node, storage) for local storage; node is `usize::MAX` for shared storage.
    storage_used: BTreeMap<(usize, usize), u64>,
}

impl<'a> EndpointState<'a> {
    fn new(endpoint: &'a ProxmoxEndpoint) -> Self {
        Self {
            endpoint,
            nodes: vec![NodeState::default(); endpoint.nodes.len()],
            storage_used: BTreeMap::new(),
        }
    }

    fn cpu_capacity(&self, node: usize) -> u64 {
        (f64::from(self.endpoint.nodes[node].cpu) * self.endpoint.overcommit.cpu).floor() as u64
    }

    fn memory_capacity(&self, node: usize) -> u64 {
        (self.endpoint.nodes[node].memory.bytes() as f64 * self.endpoint.overcommit.memory).floor()
            as u64
    }

    fn storage_capacity(&self, storage: usize) -> u64 {
        (self.endpoint.storages[storage].capacity.bytes() as f64 * self.endpoint.overcommit.storage)
            .floor() as u64
    }

    fn storage_key(&self, node: usize, storage: usize) -> (usize, usize) {
        if self.endpoint.storages[storage].shared {
            (usize::MAX, storage)
        } else {
            (node, storage)
        }
    }

    fn available_on(&self, storage: usize, node: usize) -> bool {
        let declared = &self.endpoint.storages[storage];
        declared.nodes.is_empty() || declared.nodes.contains(&self.endpoint.nodes[node].name)
    }

    /// The storage of each disk on `node`, or `None` when a disk's storage is not there.
    fn storages_for(&self, vm: &VmSpec, node: usize) -> Option<Vec<usize>> {
        vm.disks
            .iter()
            .map(|disk| match &disk.storage {
                Some(name) => self
                    .endpoint
                    .storages
                    .iter()
                    .position(|storage| &storage.name == name)
                    .filter(|&storage| self.available_on(storage, node)),
                None => (0..self.endpoint.storages.len()).find(|&storage| {
                    self.endpoint.storages[storage]
                        .content
                        .contains(&StorageContent::Images)
                        && self.available_on(storage, node)
                }),
            })
            .collect()
    }

    fn fits(&self, vm: &VmSpec, node: usize, storages: &[usize]) -> bool {
        let state = &self.nodes[node];
        if state.cpu_used + u64::from(vm.cpu) > self.cpu_capacity(node)
            || state.memory_used + vm.memory.bytes() > self.memory_capacity(node)
        {
            return false;
        }
        let mut wanted: BTreeMap<(usize, usize), u64> = BTreeMap::new();
        for (disk, &storage) in vm.disks.iter().zip(storages) {
            *wanted.entry(self.storage_key(node, storage)).or_default() += disk.size.bytes();
        }
        wanted.iter().all(|(key, bytes)| {
            self.storage_used.get(key).copied().unwrap_or(0) + bytes <= self.storage_capacity(key.1)
        })
    }

    fn place(&mut self, vm: &VmSpec, node: usize, storages: &[usize]) {
        let state = &mut self.nodes[node];
        state.cpu_used += u64::from(vm.cpu);
        state.memory_used += vm.memory.bytes();
        state.vms += 1;
        *state.groups.entry(vm.group.clone()).or_default() += 1;
        for (disk, &storage) in vm.disks.iter().zip(storages) {
            let key = self.storage_key(node, storage);
            *self.storage_used.entry(key).or_default() += disk.size.bytes();
        }
    }
}

/// What one node carries after placement.
#[derive(Debug, Clone, Copy)]
pub struct NodeUsage {
    /// vCPUs assigned.
    pub cpu_used: u64,
    /// vCPUs allowed (threads × overcommit).
    pub cpu_capacity: u64,
    /// Memory assigned, bytes.
    pub memory_used: u64,
    /// Memory allowed, bytes.
    pub memory_capacity: u64,
    /// VMs placed.
    pub vms: usize,
}

/// Per-node load after placement, for the plan.
#[derive(Debug, Clone)]
pub struct Load {
    /// Per endpoint, per node.
    pub nodes: Vec<Vec<NodeUsage>>,
}

/// A node a new VM could go to, with its rank (lower is better).
struct Candidate {
    node: usize,
    storages: Vec<usize>,
    rank: (u32, i64, usize),
}

/// Places every VM; returns the placement of each (None where it could not be placed) and the load.
pub fn place(
    lab: &LabFile,
    vms: &[VmSpec],
    previous: &Allocations,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Vec<Option<Placed>>, Load) {
    let mut states: Vec<EndpointState<'_>> = lab.proxmox.iter().map(EndpointState::new).collect();
    let mut placed: Vec<Option<Placed>> = vec![None; vms.len()];
    // Pass 1: keep earlier decisions that are still allowed.
    for (index, vm) in vms.iter().enumerate() {
        let Some(state) = states.get_mut(vm.endpoint) else {
            continue;
        };
        let Some(previous_node) = previous.nodes.get(&AllocationKey::vm(&vm.name)) else {
            continue;
        };
        let Some(node) = state
            .endpoint
            .nodes
            .iter()
            .position(|node| *previous_node == node.name.as_str())
        else {
            continue;
        };
        if !vm.allowed_nodes.contains(&node) {
            continue;
        }
        if let Some(storages) = state.storages_for(vm, node) {
            state.place(vm, node, &storages);
            placed[index] = Some(Placed { node, storages });
        }
    }
    // Pass 2: new VMs, in lab order.
    let mut reported_groups: Vec<String> = Vec::new();
    for (index, vm) in vms.iter().enumerate() {
        if placed[index].is_some() {
            continue;
        }
        let Some(state) = states.get_mut(vm.endpoint) else {
            continue;
        };
        let mut best: Option<Candidate> = None;
        for &node in &vm.allowed_nodes {
            let Some(storages) = state.storages_for(vm, node) else {
                continue;
            };
            if !state.fits(vm, node, &storages) {
                continue;
            }
            let same_group = state.nodes[node]
                .groups
                .get(&vm.group)
                .copied()
                .unwrap_or(0);
            if vm.anti_affinity == AntiAffinity::Required && same_group > 0 {
                continue;
            }
            let spread = if vm.anti_affinity == AntiAffinity::None {
                0
            } else {
                same_group
            };
            let free_memory =
                state.memory_capacity(node) as i64 - state.nodes[node].memory_used as i64;
            let rank = (spread, -free_memory, node);
            if best.as_ref().is_none_or(|best| rank < best.rank) {
                best = Some(Candidate {
                    node,
                    storages,
                    rank,
                });
            }
        }
        match best {
            Some(Candidate { node, storages, .. }) => {
                state.place(vm, node, &storages);
                placed[index] = Some(Placed { node, storages });
            }
            None => {
                if reported_groups.contains(&vm.group) {
                    continue;
                }
                reported_groups.push(vm.group.clone());
                let mut diagnostic = Diagnostic::error(
                    "capacity",
                    &vm.source,
                    format!(
                        "no Proxmox node has room for `{}` ({} vCPU, {}, {} of disk)",
                        vm.name,
                        vm.cpu,
                        vm.memory,
                        ByteSize(vm.disks.iter().map(|disk| disk.size.bytes()).sum())
                    ),
                );
                for &node in &vm.allowed_nodes {
                    let node_state = &state.nodes[node];
                    let mut note = format!(
                        "{}: {}/{} vCPU, {}/{} memory in use",
                        state.endpoint.nodes[node].name,
                        node_state.cpu_used,
                        state.cpu_capacity(node),
                        ByteSize(node_state.memory_used),
                        ByteSize(state.memory_capacity(node)),
                    );
                    if state.storages_for(vm, node).is_none() {
                        note.push_str("; the disk's storage is not on this node");
                    } else if vm.anti_affinity == AntiAffinity::Required
                        && node_state.groups.get(&vm.group).copied().unwrap_or(0) > 0
                    {
                        note.push_str(
                            "; already runs a VM of this group (anti_affinity: required)",
                        );
                    }
                    diagnostic = diagnostic.note(note);
                }
                diagnostics.push(diagnostic.hint(
                    "add a node or capacity, make the VMs smaller, allow more nodes, or raise the endpoint's `overcommit` ratios",
                ));
            }
        }
    }
    // Earlier placements kept in pass 1 may exceed a node whose capacity shrank.
    for state in &states {
        for (node, node_state) in state.nodes.iter().enumerate() {
            let declared = &state.endpoint.nodes[node];
            if node_state.cpu_used > state.cpu_capacity(node)
                || node_state.memory_used > state.memory_capacity(node)
            {
                diagnostics.push(
                    Diagnostic::error(
                        "capacity",
                        &declared.source,
                        format!(
                            "node `{}` is over capacity: {}/{} vCPU, {}/{} memory",
                            declared.name,
                            node_state.cpu_used,
                            state.cpu_capacity(node),
                            ByteSize(node_state.memory_used),
                            ByteSize(state.memory_capacity(node))
                        ),
                    )
                    .hint("VMs already placed there stay; add capacity or raise `overcommit`"),
                );
            }
        }
    }
    let load = Load {
        nodes: states
            .iter()
            .map(|state| {
                (0..state.nodes.len())
                    .map(|node| NodeUsage {
                        cpu_used: state.nodes[node].cpu_used,
                        cpu_capacity: state.cpu_capacity(node),
                        memory_used: state.nodes[node].memory_used,
                        memory_capacity: state.memory_capacity(node),
                        vms: state.nodes[node].vms,
                    })
                    .collect()
            })
            .collect(),
    };
    (placed, load)
}
