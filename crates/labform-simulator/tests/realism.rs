//! The realism switches, in process with tokio's paused clock (simulated seconds pass at once,
//! and the assertions are on order and state, never on durations): the lag of
//! `/cluster/resources`, a node going down and coming back, and slow storages.

use labform_ids::{NodeName, VmId};
use labform_proxmox::api::ProxmoxApi;
use labform_proxmox::error::ErrorKind;
use labform_proxmox::task::{WaitOptions, wait_for_task};
use labform_proxmox::types::*;
use labform_proxmox::{Secret, Upid};
use labform_simulator::{SimConfig, Simulator, Timing};
use std::time::Duration;

fn node() -> NodeName {
    NodeName::new("pve1")
}

fn id(n: u32) -> VmId {
    VmId::new(n).expect("valid VM ID")
}

fn simulator(configure: impl FnOnce(&mut SimConfig)) -> Simulator {
    let mut config = SimConfig::cluster(1, Secret::new("pw"));
    config.timing = Timing::scaled(1.0);
    configure(&mut config);
    Simulator::new(config)
}

async fn finish(api: &dyn ProxmoxApi, upid: &Upid) -> TaskStatus {
    let options = WaitOptions {
        initial_interval: Duration::from_millis(100),
        deadline: Duration::from_secs(3600),
        ..Default::default()
    };
    wait_for_task(api, upid, options)
        .await
        .expect("the task ends well")
}

async fn create(api: &dyn ProxmoxApi, vmid: u32, disk: &str, extra: &[(&str, &str)]) -> Upid {
    let mut request = CreateVm::new(id(vmid))
        .with("name", format!("vm{vmid}"))
        .with("memory", "1024")
        .with("scsi0", disk);
    for (key, value) in extra {
        request = request.with(*key, *value);
    }
    api.create_vm(&node(), &request).await.expect("create")
}

async fn listed(api: &dyn ProxmoxApi, vmid: u32) -> ClusterResource {
    api.cluster_resources(Some(ResourceType::Vm))
        .await
        .expect("resources")
        .into_iter()
        .find(|resource| resource.vmid == Some(u64::from(vmid)))
        .expect("the VM is listed")
}

#[tokio::test(start_paused = true)]
async fn with_the_lag_a_new_template_shows_its_name_and_flag_only_later() {
    let simulator = simulator(|config| config.timing.resources_lag_secs = 10.0);
    let api = simulator.root();
    let upid = create(&api, 9000, "local-lvm:4", &[]).await;
    finish(&api, &upid).await;
    let upid = api
        .convert_to_template(&node(), id(9000))
        .await
        .expect("template");
    finish(&api, &upid).await;
    // Listed at once (from the VM list), but without what pvestatd has not broadcast yet.
    let early = listed(&api, 9000).await;
    assert_eq!(early.name, None);
    assert_eq!(early.template, None);
    assert_eq!(early.status.as_deref(), Some("unknown"));
    // The config is read live: it is complete already.
    let config = api
        .vm_config(&node(), id(9000), false)
        .await
        .expect("config");
    assert_eq!(config.get("name"), Some("vm9000"));
    tokio::time::sleep(Duration::from_secs(11)).await;
    let later = listed(&api, 9000).await;
    assert_eq!(later.name.as_deref(), Some("vm9000"));
    assert_eq!(later.template, Some(true));
    assert_eq!(later.status.as_deref(), Some("stopped"));
}

#[tokio::test(start_paused = true)]
async fn without_the_lag_a_new_vm_is_listed_whole_at_once() {
    let simulator = simulator(|_| {});
    let api = simulator.root();
    let upid = create(&api, 100, "local-lvm:4", &[]).await;
    finish(&api, &upid).await;
    let resource = listed(&api, 100).await;
    assert_eq!(resource.name.as_deref(), Some("vm100"));
    assert_eq!(resource.template, Some(false));
}

#[tokio::test(start_paused = true)]
async fn a_node_that_goes_down_ends_its_tasks_stops_its_vms_and_starts_onboot_ones_when_back() {
    let simulator = simulator(|_| {});
    let api = simulator.root();
    for (vmid, onboot) in [(100, "1"), (101, "0")] {
        let upid = create(&api, vmid, "local-lvm:4", &[("onboot", onboot)]).await;
        finish(&api, &upid).await;
        let upid = api
            .vm_action(&node(), id(vmid), VmAction::Start)
            .await
            .expect("start");
        finish(&api, &upid).await;
    }
    // A create still running when the node goes down.
    let running = create(&api, 102, "local-lvm:400", &[]).await;
    let status = api.task_status(&running).await.expect("status");
    assert_eq!(status.status, TaskState::Running);

    simulator.node_down("pve1");
    let refused = api
        .vm_status(&node(), id(100))
        .await
        .expect_err("the node is down");
    assert_eq!(refused.kind(), ErrorKind::ProxyFailure);
    let (tasks, vms) = simulator.with_state(|state| {
        (
            state.tasks[running.as_str()].exitstatus.clone(),
            [100, 101].map(|vmid| state.vms[&vmid].running),
        )
    });
    assert_eq!(tasks.as_deref(), Some("unexpected status"));
    assert_eq!(vms, [false, false]);
    // The interrupted worker does nothing more, however long the node stays down.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let after = simulator.with_state(|state| state.tasks[running.as_str()].exitstatus.clone());
    assert_eq!(after.as_deref(), Some("unexpected status"));

    simulator.node_up("pve1");
    let started = api.vm_status(&node(), id(100)).await.expect("status");
    assert_eq!(started.status, "running");
    let stopped = api.vm_status(&node(), id(101)).await.expect("status");
    assert_eq!(stopped.status, "stopped");
    let status = api.task_status(&running).await.expect("status");
    assert_eq!(status.exitstatus.as_deref(), Some("unexpected status"));
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_outage_takes_the_node_down_then_brings_it_back() {
    let simulator = simulator(|_| {});
    simulator.schedule_node_outage("pve1", 5.0, 20.0);
    let online = |simulator: &Simulator| simulator.with_state(|state| state.online["pve1"]);
    assert!(online(&simulator));
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(!online(&simulator));
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(online(&simulator));
}

#[tokio::test(start_paused = true)]
async fn work_on_a_slow_storage_ends_after_the_same_work_started_later_on_a_fast_one() {
    let simulator = simulator(|config| {
        config.slow_storages.insert("local-lvm".into(), 30.0);
    });
    let api = simulator.root();
    let slow = create(&api, 100, "local-lvm:4", &[]).await;
    let fast = create(&api, 101, "local:4", &[]).await;
    let fast_status = finish(&api, &fast).await;
    assert_eq!(fast_status.exitstatus.as_deref(), Some("OK"));
    let slow_status = api.task_status(&slow).await.expect("status");
    assert_eq!(
        slow_status.status,
        TaskState::Running,
        "the slow storage's create is still running when the fast one has ended"
    );
    let slow_status = finish(&api, &slow).await;
    assert_eq!(slow_status.exitstatus.as_deref(), Some("OK"));
}
