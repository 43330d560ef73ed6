//! Apply over HTTPS against the simulator's server, with the real client pinned to its
//! certificate: every example lab builds from empty, a second apply makes no write request, hand
//! changes are shown as drift and reverted, faults are survived, and destroy removes exactly what
//! the lab owns.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::*;
use labform_executor::Journal;
use labform_ids::{NodeName, VmId};
use labform_planner::reconcile::VmAction;
use labform_proxmox::types::{ConfigUpdate, CreateVm};
use labform_simulator::{Fault, FaultConfig, FaultRule, TaskFailureRule};

const EXAMPLES: &[&str] = &["seed-000", "seed-001", "seed-002", "seed-003", "seed-004"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_applies_converges_and_destroys_cleanly() {
    for name in EXAMPLES {
        let lab = load_lab(&format!("../../examples/{name}.yaml"));
        let simulator = simulator_for(&lab, 0.001);
        // Someone else's VM on the first ID of the lab's range, named like a planned VM.
        let first_id = lab.proxmox[0]
            .vm_ids
            .map(|range| range.first)
            .unwrap_or(1000);
        let bystander_node = lab.proxmox[0].nodes[0].name.clone();
        let served = serve(simulator).await;
        let api = served.client.clone();
        let planned_first = {
            let offline = labform_planner::plan(&lab, &labform_planner::Allocations::empty())
                .plan
                .unwrap();
            offline.vms[0].name.clone()
        };
        let create = CreateVm::new(VmId::new(first_id).unwrap())
            .with("name", &planned_first)
            .with("memory", 512)
            .with("description", "not labform's");
        let upid = api
            .create_vm(&NodeName::new(&bystander_node), &create)
            .await
            .unwrap();
        labform_proxmox::task::wait_for_task(api.as_ref(), &upid, fast_options().task_wait)
            .await
            .unwrap();

        let journal = Arc::new(Journal::in_memory());
        let first = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
        assert!(
            first.report.failed.is_empty(),
            "{name}: {:#?}",
            first.report.failed
        );
        assert!(
            first.plan.vms.iter().all(|vm| vm.vm_id.get() != first_id),
            "{name}: the bystander's ID was avoided"
        );
        assert_eq!(
            first.report.created.len(),
            first.plan.vms.len() + first.plan.templates.len(),
            "{name}"
        );

        // Tenants' VMs (and the endpoint pool's) are in their Proxmox pools.
        let resources = api
            .cluster_resources(Some(labform_proxmox::types::ResourceType::Vm))
            .await
            .unwrap();
        for vm in first.plan.vms.iter().filter(|vm| vm.pool.is_some()) {
            let resource = resources
                .iter()
                .find(|resource| resource.vmid == Some(u64::from(vm.vm_id.get())))
                .unwrap();
            assert_eq!(
                resource.pool.as_deref(),
                vm.pool.as_deref(),
                "{name}: {} is in its pool",
                vm.name
            );
        }
        served.writes.store(0, Ordering::SeqCst);
        let second = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
        assert!(
            second.reconciliation.is_empty(),
            "{name}: {:#?}",
            second.reconciliation
        );
        assert_eq!(
            served.writes.load(Ordering::SeqCst),
            0,
            "{name}: an unchanged lab makes no write request"
        );

        let report = destroy(&lab, api.clone(), &second.plan).await;
        let protected: Vec<&String> = first
            .plan
            .vms
            .iter()
            .filter(|vm| vm.protected)
            .map(|vm| &vm.name)
            .collect();
        assert_eq!(
            report.failed.len(),
            protected.len(),
            "{name}: only protected VMs refuse: {:?}",
            report.failed
        );
        let left = api
            .cluster_resources(Some(labform_proxmox::types::ResourceType::Vm))
            .await
            .unwrap();
        let names: Vec<String> = left
            .iter()
            .filter_map(|resource| resource.name.clone())
            .collect();
        assert!(
            names.contains(&planned_first),
            "{name}: the bystander is untouched"
        );
        // Templates that protected VMs may be linked clones of stay too.
        let kept_templates = names.iter().filter(|left| left.starts_with("tpl-")).count();
        let protected_clones = first
            .plan
            .vms
            .iter()
            .any(|vm| vm.protected && vm.template.is_some());
        assert_eq!(protected_clones, kept_templates > 0, "{name}: {names:?}");
        assert_eq!(
            left.len(),
            1 + protected.len() + kept_templates,
            "{name}: left {names:?}"
        );
        let bystander = api
            .vm_config(
                &NodeName::new(&bystander_node),
                VmId::new(first_id).unwrap(),
                true,
            )
            .await
            .unwrap();
        assert_eq!(bystander.values["memory"], "512");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_made_change_is_drift_and_apply_reverts_it() {
    let lab = load_lab("../../examples/seed-001.yaml");
    let served = serve(simulator_for(&lab, 0.001)).await;
    let api = served.client.clone();
    let journal = Arc::new(Journal::in_memory());
    let first = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
    assert!(first.report.failed.is_empty(), "{:#?}", first.report.failed);
    let worker = first
        .plan
        .vms
        .iter()
        .find(|vm| vm.name == "home-worker-1")
        .unwrap();
    let node = worker.node.clone();
    api.update_vm_config_sync(
        &node,
        worker.vm_id,
        &ConfigUpdate::new().set("cores", 12).set(
            "tags",
            "labform;lab-k3s-home;scope-k3s-home;role-agent;cluster-home;hand-made",
        ),
    )
    .await
    .unwrap();

    let second = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
    let change = second
        .reconciliation
        .changes
        .iter()
        .find(|change| change.name == "home-worker-1")
        .unwrap();
    let VmAction::Update { changes } = &change.action else {
        panic!("{change:?}")
    };
    let fields: Vec<(&str, Option<&str>, Option<&str>, bool)> = changes
        .iter()
        .map(|field| {
            (
                field.field.as_str(),
                field.observed.as_deref(),
                field.desired.as_deref(),
                field.drift,
            )
        })
        .collect();
    assert_eq!(fields.len(), 2, "{fields:?}");
    assert_eq!(fields[0], ("cores", Some("12"), Some("4"), true));
    assert_eq!(fields[1].0, "tags");
    assert!(
        second
            .reconciliation
            .changes
            .iter()
            .filter(|change| change.action != VmAction::Unchanged)
            .count()
            == 1
    );
    assert_eq!(second.report.updated, ["home-worker-1"]);

    let third = cycle(&lab, api.clone(), journal, fast_options()).await;
    assert!(
        third.reconciliation.is_empty(),
        "apply reverted the drift: {:#?}",
        third.reconciliation
    );
    let config = api.vm_config(&node, worker.vm_id, false).await.unwrap();
    assert_eq!(config.values["cores"], "4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_converges_through_injected_faults() {
    let lab = load_lab("../../examples/seed-000.yaml");
    let simulator = simulator_for(&lab, 0.001);
    let rule = |endpoint: &str, probability: f64, fault: Fault| FaultRule {
        endpoint: endpoint.to_owned(),
        probability,
        times: None,
        fault,
    };
    simulator.set_faults(FaultConfig {
        seed: Some(7),
        rules: vec![
            rule("*", 0.03, Fault::Status { status: 500, message: "internal error (injected)".into() }),
            rule("*", 0.03, Fault::Proxy595),
            rule("*", 0.04, Fault::LockTimeout),
        ],
        task_failures: vec![
            TaskFailureRule {
                task_type: "qmclone".into(),
                probability: 0.1,
                message: "clone failed: can't lock file '/var/lock/pve-manager/pve-storage-local-zfs' - got timeout".into(),
                times: None,
            },
            TaskFailureRule {
                task_type: "qmstart".into(),
                probability: 0.1,
                message: "start failed: QEMU exited with code 1".into(),
                times: None,
            },
        ],
    });
    let served = serve(simulator).await;
    let api = served.client.clone();
    let journal = Arc::new(Journal::in_memory());
    let mut runs = 0;
    let mut errors = Vec::new();
    loop {
        runs += 1;
        let cycle = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
        if cycle.reconciliation.is_empty() && cycle.report.failed.is_empty() {
            break;
        }
        for failure in &cycle.report.failed {
            // Every failure names the VM and says what Proxmox answered.
            assert!(failure.contains(':'), "{failure}");
            errors.push(failure.clone());
        }
        assert!(
            runs < 8,
            "no convergence after {runs} applies; errors: {errors:#?}"
        );
    }
    // Converged: exactly the planned VMs, once each.
    served.server.simulator.set_faults(FaultConfig::default());
    let resources = api
        .cluster_resources(Some(labform_proxmox::types::ResourceType::Vm))
        .await
        .unwrap();
    let mut names: Vec<String> = resources
        .iter()
        .filter_map(|resource| resource.name.clone())
        .collect();
    names.sort();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "no duplicate VMs");
    let offline = labform_planner::plan(&lab, &labform_planner::Allocations::empty())
        .plan
        .unwrap();
    assert_eq!(
        names.len(),
        offline.vms.len() + offline.templates.len(),
        "no orphans: {names:?}"
    );
}
