//! One repository per cluster (issue 14 item 6): seed 000 split into a framework folder and one
//! lab file per cluster (`examples/seed-000-split/`: main, alice, bob), each with its own scope,
//! applied through the binary to one `labform sim serve` (shaped like the framework's endpoint,
//! images pre-seeded) in both orders. Whatever the order, no two scopes share a VM ID, a node
//! address, an API VIP or a load-balancer block (read back from Proxmox: the VMs' `ipconfig0`
//! and the ownership blocks their cluster nodes carry), a second apply of each lab changes
//! nothing, and the tenants still reach the central services the main repository declares.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;

use labform_ids::{NodeName, VmId};
use labform_planner::ownership::Owner;
use labform_proxmox::ProxmoxApi as _;
use labform_proxmox::types::ResourceType;

use common::{SimServer, output_text};

const SPLIT: &str = "../../examples/seed-000-split";

fn lab(name: &str) -> String {
    format!("{SPLIT}/{name}.yaml")
}

/// What one scope holds on the simulator: VM IDs and addresses (node addresses, API VIPs and
/// load-balancer blocks, each address once).
#[derive(Debug, Default)]
struct Held {
    vm_ids: BTreeSet<u32>,
    addresses: BTreeSet<Ipv4Addr>,
}

/// Reads every VM back from the simulator, by the scope its ownership block names.
fn held_by_scope(simulator: &SimServer) -> BTreeMap<String, Held> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let client = simulator.root_client();
    let resources = runtime
        .block_on(client.cluster_resources(Some(ResourceType::Vm)))
        .expect("the VMs");
    let mut held: BTreeMap<String, Held> = BTreeMap::new();
    for resource in resources {
        let node = NodeName::new(resource.node.clone().expect("a node"));
        let vm_id = VmId::new(resource.vmid.expect("an ID") as u32).expect("a VM ID");
        let config = runtime
            .block_on(client.vm_config(&node, vm_id, false))
            .expect("the config");
        let owner = config
            .values
            .get("description")
            .and_then(|description| Owner::parse(description))
            .unwrap_or_else(|| panic!("VM {vm_id} carries an ownership block"));
        let scope = held.entry(owner.scope.clone()).or_default();
        assert!(scope.vm_ids.insert(vm_id.get()));
        if let Some(address) = config
            .values
            .get("ipconfig0")
            .and_then(|ipconfig| {
                ipconfig
                    .split(',')
                    .find_map(|part| part.strip_prefix("ip="))
            })
            .and_then(|ip| ip.split('/').next())
            .and_then(|ip| ip.parse().ok())
        {
            scope.addresses.insert(address);
        }
        scope.addresses.extend(owner.api_vip);
        if let Some(block) = owner.load_balancers {
            scope.addresses.extend(block.addresses());
        }
    }
    held
}

fn apply(simulator: &SimServer, home: &Path, name: &str) -> String {
    let output = simulator.labform(
        home,
        &["apply", &lab(name), "--yes", "--no-lock", "--skip-clusters"],
    );
    assert!(output.status.success(), "{name}: {}", output_text(&output));
    output_text(&output)
}

/// Applies the three labs in `order` to a fresh simulator and checks what each scope holds.
fn apply_in_order(order: [&str; 3]) {
    let home = tempfile::tempdir().expect("temporary directory");
    let simulator = SimServer::start(&["--lab", &lab("main"), "--time-scale", "0.02"]);
    for name in order {
        apply(&simulator, home.path(), name);
    }
    let held = held_by_scope(&simulator);
    let scopes: Vec<&str> = held.keys().map(String::as_str).collect();
    assert_eq!(
        scopes,
        ["seed-000-alice", "seed-000-bob", "seed-000-main"],
        "{order:?}"
    );
    let all: Vec<&Held> = held.values().collect();
    for (index, left) in all.iter().enumerate() {
        for right in &all[index + 1..] {
            assert!(
                left.vm_ids.is_disjoint(&right.vm_ids),
                "{order:?}: VM IDs shared: {held:?}"
            );
            assert!(
                left.addresses.is_disjoint(&right.addresses),
                "{order:?}: addresses shared: {held:?}"
            );
        }
    }
    // Every cluster node records its load-balancer block (each cluster has MetalLB).
    for (scope, what) in &held {
        assert!(
            what.addresses.len() > what.vm_ids.len(),
            "{scope}: {what:?}"
        );
    }
    // Applied again, in the same order, nothing changes: each lab sees the others as foreign
    // and its own VMs as planned.
    for name in order {
        let again = apply(&simulator, home.path(), name);
        assert!(
            again.contains("Nothing to do") || again.contains("already as planned"),
            "{order:?} {name}: {again}"
        );
    }
}

#[test]
fn the_three_repositories_share_one_proxmox_in_either_order() {
    apply_in_order(["main", "alice", "bob"]);
    apply_in_order(["bob", "alice", "main"]);
}

/// The tenants' clusters live in their own repositories; the main repository still gives each
/// tenant its namespace, ServiceAccount and token on every main cluster instance, for the
/// services it uses there.
#[test]
fn tenants_reach_the_central_services_of_the_main_repository() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_labform"))
        .args(["plan", "--json", "--no-lock", &lab("main")])
        .output()
        .expect("labform runs");
    assert!(output.status.success(), "{}", output_text(&output));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let clusters = plan["clusters"].as_array().expect("clusters");
    assert_eq!(clusters.len(), 3, "main in dev, staging and prod");
    for cluster in clusters {
        let tenants: Vec<(&str, Vec<&str>)> = cluster["tenant_access"]
            .as_array()
            .expect("tenant access")
            .iter()
            .map(|access| {
                (
                    access["tenant"].as_str().expect("a tenant"),
                    access["services"]
                        .as_array()
                        .expect("services")
                        .iter()
                        .map(|service| service.as_str().expect("a service"))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            tenants,
            [
                ("alice", vec!["gitlab", "vault", "minio"]),
                ("bob", vec!["gitlab", "vault", "minio"])
            ],
            "{}",
            cluster["name"]
        );
    }
}
