//! The infrastructure view: each Proxmox endpoint with its nodes, the VMs and templates on each
//! node (ID and address), the storages the lab uses there, and the networks (bridge, VLAN,
//! subnet). A node with many VMs shows them per role as one box with a count and the ID range,
//! and lists each VM in the box's members, so the 2,000-VM lab stays readable.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use labform_planner::plan::{EndpointName, Plan, PlannedEndpoint, VmId};

use crate::graph::{BoxKind, DiagramBox, ElementId, Group};
use crate::status::{Live, Status, StatusCounts};

/// A Proxmox node with more VMs than this shows them per role, collapsed.
pub const NODE_THRESHOLD: usize = 12;

/// One VM or template on a node.
struct Guest {
    name: String,
    vm_id: VmId,
    role: String,
    address: Option<Ipv4Addr>,
    status: Option<Status>,
}

impl Guest {
    fn member(&self) -> String {
        match self.address {
            Some(address) => format!("{} (ID {}, {address})", self.name, self.vm_id),
            None => format!("{} (ID {})", self.name, self.vm_id),
        }
    }
}

/// The infrastructure view of `plan`, coloured by `live` when given.
pub fn view(plan: &Plan, live: Option<&Live>) -> Group {
    let mut view = Group::new(ElementId::new(&["infrastructure"]), "Infrastructure");
    for endpoint in &plan.endpoints {
        view.groups.push(endpoint_group(plan, endpoint, live));
    }
    let networks = networks(plan);
    if !networks.boxes.is_empty() {
        view.groups.push(networks);
    }
    view
}

fn endpoint_group(plan: &Plan, endpoint: &PlannedEndpoint, live: Option<&Live>) -> Group {
    let name = endpoint.name.to_string();
    let mut group = Group::new(
        ElementId::new(&["endpoint", &name]),
        format!("Proxmox {name} ({})", endpoint.url),
    );
    let status_of = |vm_id: VmId| live.map(|live| live.vm(&endpoint.name, vm_id));
    for node in &endpoint.nodes {
        let node_name = node.name.to_string();
        let mut guests: Vec<Guest> = Vec::new();
        for template in plan
            .templates
            .iter()
            .filter(|template| template.endpoint == endpoint.name && template.node == node.name)
        {
            guests.push(Guest {
                name: template.name.clone(),
                vm_id: template.vm_id,
                role: "template".to_string(),
                address: None,
                status: status_of(template.vm_id),
            });
        }
        for vm in plan
            .vms
            .iter()
            .filter(|vm| vm.endpoint == endpoint.name && vm.node == node.name)
        {
            guests.push(Guest {
                name: vm.name.clone(),
                vm_id: vm.vm_id,
                role: vm.role.clone(),
                address: vm.nic.address,
                status: status_of(vm.vm_id),
            });
        }
        if let Some(live) = live {
            for extra in live
                .extra()
                .iter()
                .filter(|extra| extra.endpoint == endpoint.name && extra.node == node_name)
            {
                guests.push(Guest {
                    name: extra.name.clone(),
                    vm_id: extra.vm_id,
                    role: "not in the lab".to_string(),
                    address: None,
                    status: Some(Status::Extra),
                });
            }
        }
        let mut node_group = Group::new(
            ElementId::new(&["node", &name, &node_name]),
            format!(
                "node {node_name}: {}/{} vCPU, {}/{} MiB, {} VMs",
                node.cpu_used,
                node.cpu_capacity,
                node.memory_used_mib,
                node.memory_capacity_mib,
                node.vms
            ),
        );
        node_group.boxes = guest_boxes(&name, &node_name, guests);
        group.groups.push(node_group);
    }
    group.boxes.extend(storages(plan, &endpoint.name));
    group
}

/// The boxes of one node's guests: one each, or per role when the node holds many.
fn guest_boxes(endpoint: &str, node: &str, guests: Vec<Guest>) -> Vec<DiagramBox> {
    if guests.len() <= NODE_THRESHOLD {
        return guests
            .into_iter()
            .map(|guest| single(endpoint, guest))
            .collect();
    }
    let mut roles: Vec<(String, Vec<Guest>)> = Vec::new();
    for guest in guests {
        match roles.iter_mut().find(|(role, _)| *role == guest.role) {
            Some((_, members)) => members.push(guest),
            None => roles.push((guest.role.clone(), vec![guest])),
        }
    }
    let mut boxes = Vec::new();
    for (role, mut members) in roles {
        if members.len() == 1 {
            boxes.push(single(endpoint, members.remove(0)));
            continue;
        }
        members.sort_by_key(|guest| guest.vm_id);
        let first = members.first().map(|guest| guest.vm_id);
        let last = members.last().map(|guest| guest.vm_id);
        let mut lines = vec![format!("{role} × {}", members.len())];
        if let (Some(first), Some(last)) = (first, last) {
            lines.push(format!("IDs {first}–{last}"));
        }
        let addresses: Vec<Ipv4Addr> = members.iter().filter_map(|guest| guest.address).collect();
        if let (Some(low), Some(high)) = (addresses.iter().min(), addresses.iter().max()) {
            lines.push(format!("{low} – {high}"));
        }
        let mut counts = StatusCounts::default();
        for guest in &members {
            if let Some(status) = guest.status {
                counts.add(status);
            }
        }
        if counts.worst().is_some() {
            lines.push(counts.summary());
        }
        boxes.push(DiagramBox {
            id: ElementId::new(&["vms", endpoint, node, &role]),
            kind: BoxKind::VmGroup,
            lines,
            members: members.iter().map(Guest::member).collect(),
            status: counts.worst(),
        });
    }
    boxes
}

fn single(endpoint: &str, guest: Guest) -> DiagramBox {
    let id_text = guest.vm_id.to_string();
    let mut lines = vec![guest.name.clone(), format!("ID {}", guest.vm_id)];
    if let Some(address) = guest.address {
        lines.push(address.to_string());
    }
    lines.push(guest.role.clone());
    if let Some(status) = guest.status {
        lines.push(status.name().to_string());
    }
    DiagramBox {
        id: ElementId::new(&["vm", endpoint, &id_text]),
        kind: BoxKind::Vm,
        lines,
        members: Vec::new(),
        status: guest.status,
    }
}

/// The storages the plan uses on `endpoint`: what for, and on which nodes.
fn storages(plan: &Plan, endpoint: &EndpointName) -> Vec<DiagramBox> {
    // storage -> (uses in first-seen order, nodes in first-seen order)
    let mut order: Vec<String> = Vec::new();
    let mut uses: BTreeMap<String, (Vec<&'static str>, Vec<String>)> = BTreeMap::new();
    let mut note = |storage: String, usage: &'static str, node: String| {
        if !uses.contains_key(&storage) {
            order.push(storage.clone());
        }
        let entry = uses.entry(storage).or_default();
        if !entry.0.contains(&usage) {
            entry.0.push(usage);
        }
        if !entry.1.contains(&node) {
            entry.1.push(node);
        }
    };
    for image in plan
        .images
        .iter()
        .filter(|image| image.endpoint == *endpoint)
    {
        note(image.storage.to_string(), "images", image.node.to_string());
    }
    for template in plan
        .templates
        .iter()
        .filter(|template| template.endpoint == *endpoint)
    {
        note(
            template.storage.to_string(),
            "templates",
            template.node.to_string(),
        );
    }
    for vm in plan.vms.iter().filter(|vm| vm.endpoint == *endpoint) {
        for disk in &vm.disks {
            note(disk.storage.to_string(), "disks", vm.node.to_string());
        }
        if let Some(seed) = &vm.seed {
            note(seed.storage.to_string(), "seeds", vm.node.to_string());
        }
    }
    order
        .into_iter()
        .map(|storage| {
            let (usage, nodes) = &uses[&storage];
            let nodes_line = if nodes.len() <= 3 {
                format!("on {}", nodes.join(", "))
            } else {
                format!("on {} nodes", nodes.len())
            };
            DiagramBox {
                id: ElementId::new(&["storage", endpoint.as_ref(), &storage]),
                kind: BoxKind::Storage,
                lines: vec![format!("storage {storage}"), usage.join(", "), nodes_line],
                members: Vec::new(),
                status: None,
            }
        })
        .collect()
}

/// One network the VMs are on, as the view tells them apart: network name, bridge and VLAN.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct NetworkKey {
    network: String,
    bridge: String,
    vlan: Option<u16>,
}

/// What the view says of a network: how many VMs, its subnet and gateway.
#[derive(Debug, Default)]
struct NetworkDetails {
    vms: usize,
    subnet: Option<String>,
    gateway: Option<Ipv4Addr>,
}

/// The networks the VMs are on: bridge, VLAN, subnet and gateway, and how many VMs.
fn networks(plan: &Plan) -> Group {
    let mut group = Group::new(ElementId::new(&["networks"]), "Networks");
    let mut seen: Vec<NetworkKey> = Vec::new();
    let mut details: BTreeMap<NetworkKey, NetworkDetails> = BTreeMap::new();
    for vm in &plan.vms {
        let key = NetworkKey {
            network: vm.nic.network.clone(),
            bridge: vm.nic.bridge.clone(),
            vlan: vm.nic.vlan,
        };
        if !details.contains_key(&key) {
            seen.push(key.clone());
        }
        let entry = details.entry(key).or_default();
        entry.vms += 1;
        if entry.subnet.is_none()
            && let Some(address) = vm.nic.address
        {
            entry.subnet = Some(subnet(address, vm.nic.prefix));
        }
        if entry.gateway.is_none() {
            entry.gateway = vm.nic.gateway;
        }
    }
    for key in seen {
        let found = &details[&key];
        let mut lines = vec![format!("network {}", key.network)];
        lines.push(match key.vlan {
            Some(vlan) => format!("{}, VLAN {vlan}", key.bridge),
            None => format!("{}, untagged", key.bridge),
        });
        if let Some(subnet) = &found.subnet {
            lines.push(subnet.clone());
        }
        if let Some(gateway) = found.gateway {
            lines.push(format!("gateway {gateway}"));
        }
        lines.push(format!("{} VMs", found.vms));
        let vlan_text = key.vlan.map(|vlan| vlan.to_string()).unwrap_or_default();
        group.boxes.push(DiagramBox {
            id: ElementId::new(&["network", &key.network, &key.bridge, &vlan_text]),
            kind: BoxKind::Network,
            lines,
            members: Vec::new(),
            status: None,
        });
    }
    group
}

fn subnet(address: Ipv4Addr, prefix: u8) -> String {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    };
    format!("{}/{prefix}", Ipv4Addr::from(u32::from(address) & mask))
}
