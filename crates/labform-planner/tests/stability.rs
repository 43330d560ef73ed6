//! Property tests: allocation is deterministic, and growing a lab (a VM in a group, a cluster, a
//! tenant, a plain VM or a Proxmox node, inserted anywhere in the file) never moves an existing
//! VM's address, VM ID or node when the previous allocations are given, as the lock file gives them.

use std::fmt::Write as _;
use std::path::Path;

use labform_model::{MemoryFileSystem, load};
use labform_planner::{Allocations, Plan, plan};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct ClusterShape {
    servers: u32,
    agents: Vec<u32>,
    tenant: bool,
}

#[derive(Debug, Clone)]
struct LabShape {
    nodes: usize,
    clusters: Vec<ClusterShape>,
    plain_vms: Vec<u32>,
    environments: bool,
}

fn cluster_shape() -> impl Strategy<Value = ClusterShape> {
    (
        prop_oneof![Just(1u32), Just(3u32)],
        proptest::collection::vec(0u32..4, 0..3),
        any::<bool>(),
    )
        .prop_map(|(servers, agents, tenant)| ClusterShape {
            servers,
            agents,
            tenant,
        })
}

fn lab_shape() -> impl Strategy<Value = LabShape> {
    (
        1usize..4,
        proptest::collection::vec(cluster_shape(), 1..5),
        proptest::collection::vec(1u32..3, 0..3),
        any::<bool>(),
    )
        .prop_map(|(nodes, clusters, plain_vms, environments)| LabShape {
            nodes,
            clusters,
            plain_vms,
            environments,
        })
}

/// Writes a lab; `names` gives each cluster and plain VM a stable name independent of position.
fn render(shape: &LabShape, cluster_names: &[String], vm_names: &[String]) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "lab: prop");
    let _ = writeln!(
        text,
        "proxmox:\n  - name: pve\n    endpoint: https://pve.test:8006"
    );
    let _ = writeln!(
        text,
        "    credentials: {{token: {{id: a@pve!b, secret: {{env: T}}}}}}"
    );
    let _ = writeln!(text, "    nodes:");
    for node in 0..shape.nodes {
        let _ = writeln!(text, "      - {{name: n{node}, cpu: 512, memory: 4TiB}}");
    }
    let _ = writeln!(
        text,
        "    storages: [{{name: local, content: [iso, import], capacity: 1TiB}}, {{name: data, content: [images], capacity: 100TiB}}]"
    );
    let _ = writeln!(
        text,
        "images: [{{name: debian, url: https://img.test/d.qcow2, checksum: 'sha256:{}'}}]",
        "0".repeat(64)
    );
    let _ = writeln!(text, "defaults: {{image: debian}}");
    let _ = writeln!(text, "networks:");
    let _ = writeln!(
        text,
        "  - name: lan\n    bridge: vmbr0\n    cidr: 10.0.0.0/16\n    gateway: 10.0.0.1"
    );
    let _ = writeln!(
        text,
        "    pools:\n      - {{name: nodes, purpose: nodes, range: 10.0.1.0-10.0.9.255}}"
    );
    let _ = writeln!(
        text,
        "      - {{name: vips, purpose: vips, range: 10.0.0.2-10.0.0.250}}"
    );
    let _ = writeln!(
        text,
        "      - {{name: lb, purpose: load-balancers, range: 10.0.10.0-10.0.20.255}}"
    );
    if shape.environments {
        let _ = writeln!(text, "environments: [{{name: dev}}, {{name: prod}}]");
    }
    let _ = writeln!(text, "clusters:");
    for (cluster, name) in shape.clusters.iter().zip(cluster_names) {
        let _ = writeln!(
            text,
            "  - name: {name}\n    distribution: k3s\n    version: v1.31.4+k3s1\n    network: lan"
        );
        if cluster.servers > 1 {
            let _ = writeln!(text, "    api_vip: {{from_pool: vips}}");
        }
        let _ = writeln!(
            text,
            "    servers: {{count: {}, cpu: 1, memory: 1GiB}}",
            cluster.servers
        );
        if !cluster.agents.is_empty() {
            let _ = writeln!(text, "    agents:");
            for (group, count) in cluster.agents.iter().enumerate() {
                let _ = writeln!(
                    text,
                    "      - {{name: g{group}, count: {count}, cpu: 1, memory: 1GiB}}"
                );
            }
        }
        let _ = writeln!(text, "    addons: {{metallb: {{pool: lb, addresses: 2}}}}");
    }
    if !shape.plain_vms.is_empty() {
        let _ = writeln!(text, "vms:");
        for (count, name) in shape.plain_vms.iter().zip(vm_names) {
            let _ = writeln!(
                text,
                "  - {{name: {name}, count: {count}, cpu: 1, memory: 1GiB, network: lan}}"
            );
        }
    }
    let tenants: Vec<&String> = shape
        .clusters
        .iter()
        .zip(cluster_names)
        .filter(|(c, _)| c.tenant)
        .map(|(_, n)| n)
        .collect();
    if !tenants.is_empty() {
        let _ = writeln!(text, "tenants:");
        for name in tenants {
            let _ = writeln!(text, "  - {{name: t-{name}, clusters: [{name}]}}");
        }
    }
    text
}

fn plan_text(text: &str, previous: &Allocations) -> (Plan, Allocations) {
    let mut files = MemoryFileSystem::new();
    files.insert("lab.yaml", text);
    let loaded = load(&files, Path::new("lab.yaml"));
    let lab = loaded
        .lab
        .unwrap_or_else(|| panic!("does not load: {:?}\n{text}", loaded.diagnostics));
    let planned = plan(&lab, previous);
    let plan = planned
        .plan
        .unwrap_or_else(|| panic!("does not plan: {:?}\n{text}", planned.diagnostics));
    (plan, planned.allocations)
}

fn names(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|index| format!("{prefix}{index}")).collect()
}

/// Every VM of `before` exists in `after` with the same VM ID, address, MAC and node.
fn assert_kept(before: &Plan, after: &Plan) -> Result<(), TestCaseError> {
    for vm in &before.vms {
        let same = after.vms.iter().find(|other| other.name == vm.name);
        prop_assert!(same.is_some(), "{} disappeared", vm.name);
        let same = same.unwrap();
        prop_assert_eq!(same.vm_id, vm.vm_id, "{} changed VM ID", &vm.name);
        prop_assert_eq!(
            same.nic.address,
            vm.nic.address,
            "{} changed address",
            &vm.name
        );
        prop_assert_eq!(&same.nic.mac, &vm.nic.mac, "{} changed MAC", &vm.name);
        prop_assert_eq!(&same.node, &vm.node, "{} moved", &vm.name);
    }
    for cluster in &before.clusters {
        let same = after
            .clusters
            .iter()
            .find(|other| other.name == cluster.name)
            .unwrap();
        prop_assert_eq!(
            same.api_address,
            cluster.api_address,
            "{} changed API address",
            &cluster.name
        );
        prop_assert_eq!(
            same.load_balancer_addresses(),
            cluster.load_balancer_addresses()
        );
    }
    for template in &before.templates {
        let same = after
            .templates
            .iter()
            .find(|other| other.name == template.name);
        prop_assert!(
            same.is_some_and(|same| same.vm_id == template.vm_id),
            "template {} changed",
            &template.name
        );
    }
    Ok(())
}

/// The ways a lab grows.
#[derive(Debug, Clone)]
enum Growth {
    /// One more VM in a group (server count stays odd: only agents and plain VMs grow by one).
    AgentVm { cluster: usize, group: usize },
    /// A new agent group inserted first in a cluster.
    AgentGroup { cluster: usize, count: u32 },
    /// A new cluster inserted at a position, possibly owned by a new tenant.
    Cluster { at: usize, shape: ClusterShape },
    /// A new plain VM inserted at a position.
    PlainVm { at: usize, count: u32 },
    /// A new Proxmox node.
    ProxmoxNode,
}

fn growth() -> impl Strategy<Value = Growth> {
    prop_oneof![
        (0usize..8, 0usize..3).prop_map(|(cluster, group)| Growth::AgentVm { cluster, group }),
        (0usize..8, 1u32..3).prop_map(|(cluster, count)| Growth::AgentGroup { cluster, count }),
        (0usize..8, cluster_shape()).prop_map(|(at, shape)| Growth::Cluster { at, shape }),
        (0usize..8, 1u32..3).prop_map(|(at, count)| Growth::PlainVm { at, count }),
        Just(Growth::ProxmoxNode),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    #[test]
    fn planning_is_deterministic(shape in lab_shape()) {
        let text = render(&shape, &names("c", shape.clusters.len()), &names("vm", shape.plain_vms.len()));
        let (first, allocations) = plan_text(&text, &Allocations::empty());
        let (second, again) = plan_text(&text, &Allocations::empty());
        prop_assert_eq!(&first, &second);
        prop_assert_eq!(&allocations, &again);
        // Planning with its own allocations is a fixed point.
        let (third, same) = plan_text(&text, &allocations);
        prop_assert_eq!(&first, &third);
        prop_assert_eq!(&allocations, &same);
    }

    #[test]
    fn growing_a_lab_never_moves_existing_vms(shape in lab_shape(), growth in growth()) {
        let mut cluster_names = names("c", shape.clusters.len());
        let mut vm_names = names("vm", shape.plain_vms.len());
        let before_text = render(&shape, &cluster_names, &vm_names);
        let (before, allocations) = plan_text(&before_text, &Allocations::empty());
        let mut grown = shape.clone();
        let node_growth = matches!(growth, Growth::ProxmoxNode);
        match growth {
            Growth::AgentVm { cluster, group } => {
                let cluster = cluster % grown.clusters.len();
                let groups = &mut grown.clusters[cluster].agents;
                if groups.is_empty() { groups.push(1) } else { let group = group % groups.len(); groups[group] += 1 }
            }
            Growth::AgentGroup { cluster, count } => {
                let cluster = cluster % grown.clusters.len();
                // New groups take the next free name so existing VM names stay the same.
                grown.clusters[cluster].agents.push(count);
            }
            Growth::Cluster { at, shape: new } => {
                let at = at % (grown.clusters.len() + 1);
                grown.clusters.insert(at, new);
                cluster_names.insert(at, "new".to_owned());
            }
            Growth::PlainVm { at, count } => {
                let at = at % (grown.plain_vms.len() + 1);
                grown.plain_vms.insert(at, count);
                vm_names.insert(at, "newvm".to_owned());
            }
            Growth::ProxmoxNode => grown.nodes += 1,
        }
        let after_text = render(&grown, &cluster_names, &vm_names);
        let (after, _) = plan_text(&after_text, &allocations);
        assert_kept(&before, &after)?;
        prop_assert!(after.vms.len() > before.vms.len() || node_growth);
    }

    #[test]
    fn appending_without_a_lock_is_stable_too(shape in lab_shape(), extra in cluster_shape()) {
        // Without any lock, allocation follows the file's order: appending keeps earlier decisions.
        let cluster_names = names("c", shape.clusters.len() + 1);
        let vm_names = names("vm", shape.plain_vms.len());
        let mut shape_no_vms = shape.clone();
        shape_no_vms.plain_vms.clear();
        let before_text = render(&shape_no_vms, &cluster_names, &vm_names);
        let (before, _) = plan_text(&before_text, &Allocations::empty());
        let mut grown = shape_no_vms.clone();
        grown.clusters.push(extra);
        let (after, _) = plan_text(&render(&grown, &cluster_names, &vm_names), &Allocations::empty());
        assert_kept(&before, &after)?;
    }
}
