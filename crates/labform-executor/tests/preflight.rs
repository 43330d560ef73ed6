//! Preflight's reads against the simulator: a handful of calls per endpoint, never a write,
//! nothing to report on a target shaped like the lab, and every problem of one that is not.

mod common;

use std::sync::Arc;

use labform_executor::engine::Endpoint;
use labform_executor::inputs::plan_against_endpoints;
use labform_executor::metered::Metered;
use labform_executor::preflight::preflight;
use labform_model::lab::LabFile;
use labform_planner::Allocations;
use labform_proxmox::{ProxmoxApi, Secret};
use labform_simulator::lab::LabShape;
use labform_simulator::{SimConfig, Simulator, Timing};

/// Plans `lab` against a simulator shaped like `target` and runs preflight; returns the problems'
/// codes and the reads and writes preflight made.
async fn check(lab: &LabFile, target: &LabFile) -> (Vec<String>, u64, u64) {
    // Shaped as `sim serve --lab` and `--sim` shape it: nodes, storages, bridges, images.
    let shape = LabShape::of(target, None).expect("one endpoint");
    let mut config = SimConfig::cluster(1, Secret::new("test-root-password"));
    shape.apply_to(&mut config);
    config.timing = Timing::scaled(0.01);
    let simulator = Simulator::new(config);
    shape.seed_images(&simulator);
    let metered = Arc::new(Metered::new(Arc::new(simulator.root())));
    let endpoints = vec![Endpoint {
        name: lab.proxmox[0].name.clone(),
        address: "https://pve.example:8006".to_owned(),
        api: metered.clone() as Arc<dyn ProxmoxApi>,
    }];
    let against = plan_against_endpoints(
        lab,
        &Allocations::empty(),
        &endpoints,
        8,
        Some(&common::SECRETS.1),
    )
    .await
    .expect("discovery");
    let (Some(plan), Some(reconciliation)) = (against.planned.plan, against.reconciliation) else {
        panic!("does not plan: {:?}", against.planned.diagnostics);
    };
    let (reads, writes) = (metered.reads(), metered.writes());
    let problems = preflight(lab, &plan, &reconciliation, &endpoints)
        .await
        .expect("preflight reads the target");
    let codes = problems
        .iter()
        .map(|problem| problem.code.to_string())
        .collect();
    (codes, metered.reads() - reads, metered.writes() - writes)
}

#[tokio::test]
async fn every_example_passes_on_a_target_shaped_like_it_in_a_handful_of_reads() {
    for example in [
        "../../examples/seed-001.yaml",
        "../../examples/seed-002.yaml",
        "../../examples/seed-003.yaml",
        "../../examples/seed-004.yaml",
    ] {
        let lab = common::load_lab(example);
        let (problems, reads, writes) = check(&lab, &lab).await;
        assert!(problems.is_empty(), "{example}: {problems:?}");
        assert_eq!(writes, 0, "{example}: preflight wrote");
        // /version, /nodes, /access/permissions, and each node's storages and bridges.
        let nodes = lab.proxmox[0].nodes.len() as u64;
        assert!(
            reads <= 3 + 2 * nodes,
            "{example}: {reads} reads for {nodes} nodes"
        );
    }
}

#[tokio::test]
async fn a_target_unlike_the_lab_gets_every_problem_at_once() {
    let lab = common::load_lab("../../examples/seed-003.yaml");
    let mut target = lab.clone();
    target.proxmox[0]
        .storages
        .retain(|storage| storage.name != "local-lvm");
    target.proxmox[0].storages[0].content.clear();
    target.proxmox[0].nodes[0].memory = "8GiB".parse().expect("a size");
    for network in &mut target.networks {
        network.vlan = None;
    }
    let (problems, _, writes) = check(&lab, &target).await;
    assert_eq!(writes, 0);
    for code in [
        "preflight-storage",
        "preflight-storage-content",
        "preflight-bridge-vlan",
        "preflight-capacity",
    ] {
        assert!(problems.contains(&code.to_owned()), "{code}: {problems:?}");
    }

    let mut target = lab.clone();
    target.proxmox[0].nodes[0].name = "pve-elsewhere".into();
    let (problems, _, writes) = check(&lab, &target).await;
    assert_eq!(writes, 0);
    assert_eq!(problems, ["preflight-node"]);
}
