//! Apply against the in-process simulator: a lab is built from empty, a second apply of the
//! unchanged lab makes no write call, and the VMs carry their ownership and planned config.

mod common;

use std::sync::Arc;

use common::*;
use labform_executor::Journal;
use labform_planner::reconcile::VmAction;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_applies_from_empty_and_converges() {
    let lab = load_lab("../../examples/seed-001.yaml");
    let simulator = simulator_for(&lab, 0.001);
    let api: Arc<dyn labform_proxmox::ProxmoxApi> = Arc::new(simulator.root());
    let journal = Arc::new(Journal::in_memory());

    let first = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
    assert!(first.report.failed.is_empty(), "{:#?}", first.report.failed);
    assert_eq!(
        first.report.created.len(),
        6,
        "5 VMs and 1 template: {:?}",
        first.report.created
    );
    assert!(
        first
            .reconciliation
            .changes
            .iter()
            .all(|change| change.action == VmAction::Create)
    );

    let second = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
    assert!(
        second.reconciliation.is_empty(),
        "{:#?}",
        second.reconciliation
    );
    assert_eq!(second.writes, 0, "an unchanged lab makes no write call");
    // The guests, the owned configs, the access reads and the backup jobs.
    assert!(
        second.reads <= 2 + 6 + 1,
        "discovery reads: {}",
        second.reads
    );
    assert_eq!(second.plan, first.plan, "the plan is stable across applies");

    // What Proxmox holds is what the plan says.
    let server = first
        .plan
        .vms
        .iter()
        .find(|vm| vm.name == "home-server-0")
        .unwrap();
    let config = api
        .vm_config(&server.node, server.vm_id, true)
        .await
        .unwrap();
    assert_eq!(config.values["memory"], "4096");
    assert_eq!(config.values["ipconfig0"], "ip=10.0.0.10/24,gw=10.0.0.1");
    assert!(config.values["description"].contains("scope: k3s-home"));
    assert!(config.values["description"].contains(&format!("spec: {}", server.spec)));
    let runs = journal.runs("k3s-home", 10).unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|run| run.outcome == "ok"), "{runs:?}");
}
