//! In-process tests of the simulator's state machine through the
//! `ProxmoxApi` trait, with tokio's paused clock: the guest agent,
//! migration, snapshots, uploads and injected task failures, resizing,
//! waiting, timing, the resources' lag, and what destroying a VM leaves.

mod common;

use common::in_process::*;
use labform_ids::{NodeName, StorageName};
use labform_proxmox::api::ProxmoxApi;
use labform_proxmox::propstring::NetDevice;
use labform_proxmox::task::{WaitOptions, wait_for_task};
use labform_proxmox::types::*;
use labform_proxmox::{Error, Secret};
use labform_simulator::{SimConfig, Simulator};
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn agent_reports_cloud_init_addresses_after_boot() {
    let s = sim();
    let api = s.root();
    make_template(&api, 9000).await;
    let u = api
        .clone_vm(&n1(), id(9000), &CloneVm::new(id(120)))
        .await
        .unwrap();
    ok(&api, u).await;
    api.update_vm_config_sync(
        &n1(),
        id(120),
        &ConfigUpdate::new().set("ipconfig0", "ip=10.0.0.5/24,gw=10.0.0.1"),
    )
    .await
    .unwrap();
    let e = api
        .agent_network_interfaces(&n1(), id(120))
        .await
        .unwrap_err();
    assert_eq!(e.api().unwrap().message, "VM 120 is not running");
    let u = api
        .vm_action(&n1(), id(120), VmAction::Start)
        .await
        .unwrap();
    ok(&api, u).await;
    let e = api
        .agent_network_interfaces(&n1(), id(120))
        .await
        .unwrap_err();
    assert_eq!(e.api().unwrap().message, "QEMU guest agent is not running");
    tokio::time::sleep(Duration::from_secs(11)).await;
    let ifs = api.agent_network_interfaces(&n1(), id(120)).await.unwrap();
    let eth0 = ifs.iter().find(|i| i.name == "eth0").unwrap();
    let c = api.vm_config(&n1(), id(120), false).await.unwrap();
    let mac = NetDevice::parse(c.get("net0").unwrap())
        .unwrap()
        .macaddr
        .unwrap();
    assert_eq!(
        eth0.hardware_address.as_deref(),
        Some(mac.to_lower().as_str())
    );
    let v4 = &eth0.ip_addresses.as_ref().unwrap()[0];
    assert_eq!(
        (v4.kind.as_str(), v4.address.as_str(), v4.prefix),
        ("ipv4", "10.0.0.5", 24)
    );
}

#[tokio::test(start_paused = true)]
async fn migrate_moves_vm_and_local_disks() {
    let s = sim();
    let api = s.root();
    create(&api, &CreateVm::new(id(130)).with("scsi0", "local-lvm:2")).await;
    let u = api
        .migrate_vm(&n1(), id(130), &NodeName::new("pve2"), false)
        .await
        .unwrap();
    ok(&api, u).await;
    assert!(api.vm_config(&n1(), id(130), false).await.is_err());
    api.vm_config(&NodeName::new("pve2"), id(130), false)
        .await
        .unwrap();
    let vols = api
        .storage_content(&NodeName::new("pve2"), &StorageName::new("local-lvm"), None)
        .await
        .unwrap();
    assert_eq!(vols.len(), 1);
    s.set_node_online("pve2", false);
    let e = api
        .vm_config(&NodeName::new("pve2"), id(130), false)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(595));
}

#[tokio::test(start_paused = true)]
async fn snapshots_form_a_tree_and_roll_back() {
    let s = sim();
    let api = s.root();
    create(
        &api,
        &CreateVm::new(id(140))
            .with("cores", 1)
            .with("scsi0", "local-lvm:1"),
    )
    .await;
    let u = api
        .create_snapshot(&n1(), id(140), "base", Some("clean install"))
        .await
        .unwrap();
    ok(&api, u).await;
    api.update_vm_config_sync(&n1(), id(140), &ConfigUpdate::new().set("cores", 4))
        .await
        .unwrap();
    let u = api
        .create_snapshot(&n1(), id(140), "tuned", None)
        .await
        .unwrap();
    ok(&api, u).await;
    let snaps = api.list_snapshots(&n1(), id(140)).await.unwrap();
    let names: Vec<(&str, Option<&str>)> = snaps
        .iter()
        .map(|s| (s.name.as_str(), s.parent.as_deref()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("base", None),
            ("tuned", Some("base")),
            ("current", Some("tuned"))
        ]
    );
    assert_eq!(snaps[0].description, "clean install");
    assert_eq!(snaps[2].description, "You are here!");
    let e = api
        .create_snapshot(&n1(), id(140), "base", None)
        .await
        .unwrap_err();
    assert_eq!(
        e.api().unwrap().message,
        "snapshot name 'base' already used"
    );
    let u = api.rollback_snapshot(&n1(), id(140), "base").await.unwrap();
    ok(&api, u).await;
    assert_eq!(
        api.vm_config(&n1(), id(140), true)
            .await
            .unwrap()
            .get("cores"),
        Some("1")
    );
    let u = api.delete_snapshot(&n1(), id(140), "base").await.unwrap();
    ok(&api, u).await;
    let snaps = api.list_snapshots(&n1(), id(140)).await.unwrap();
    assert_eq!(snaps[0].name, "tuned");
    assert_eq!(
        snaps[0].parent, None,
        "children of a deleted snapshot are re-parented"
    );
    let e = api.convert_to_template(&n1(), id(140)).await.unwrap_err();
    assert_eq!(
        e.api().unwrap().message,
        "unable to create template, because VM contains snapshots"
    );
}

#[tokio::test(start_paused = true)]
async fn uploads_and_injected_task_failures() {
    let s = sim();
    let api = s.root();
    let iso = Upload {
        content: "iso".into(),
        filename: "seed-100.iso".into(),
        data: vec![0u8; 4096],
    };
    let u = api
        .upload(&n1(), &StorageName::new("local"), &iso)
        .await
        .unwrap();
    assert_eq!(u.task_type, "imgcopy");
    ok(&api, u).await;
    let vols = api
        .storage_content(&n1(), &StorageName::new("local"), Some("iso"))
        .await
        .unwrap();
    assert_eq!(vols[0].volid, "local:iso/seed-100.iso");
    assert_eq!(vols[0].size, 4096);
    let bad = Upload {
        filename: "seed.txt".into(),
        ..iso.clone()
    };
    let e = api
        .upload(&n1(), &StorageName::new("local"), &bad)
        .await
        .unwrap_err();
    assert_eq!(e.api().unwrap().errors["filename"], "wrong file extension");
    let e = api
        .upload(&n1(), &StorageName::new("local-lvm"), &iso)
        .await
        .unwrap_err();
    assert_eq!(
        e.api().unwrap().message,
        "storage 'local-lvm' does not support content-type 'iso'"
    );
    // An ISO cannot be the source of import-from.
    let e = api
        .create_vm(
            &n1(),
            &CreateVm::new(id(100)).with("scsi0", "local-lvm:0,import-from=local:iso/seed-100.iso"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.api().unwrap().errors["scsi0"],
        "local:iso/seed-100.iso has wrong type 'iso' - needs to be 'images' or 'import'"
    );
    s.set_faults(labform_simulator::FaultConfig {
        seed: Some(9),
        rules: vec![],
        task_failures: vec![labform_simulator::TaskFailureRule {
            task_type: "qmstart".into(),
            probability: 1.0,
            message: "start failed: injected".into(),
            times: Some(1),
        }],
    });
    create(&api, &CreateVm::new(id(100))).await;
    let u = api
        .vm_action(&n1(), id(100), VmAction::Start)
        .await
        .unwrap();
    assert!(matches!(
        wait_for_task(&api, &u, wait()).await,
        Err(Error::TaskFailed { exitstatus, .. }) if exitstatus == "start failed: injected"
    ));
    let u = api
        .vm_action(&n1(), id(100), VmAction::Start)
        .await
        .unwrap();
    ok(&api, u).await;
}

#[tokio::test(start_paused = true)]
async fn resize_reboot_and_capacities() {
    let s = sim();
    let api = s.root();
    create(
        &api,
        &CreateVm::new(id(150))
            .with("memory", 40960)
            .with("scsi0", "local-lvm:10"),
    )
    .await;
    let digest = api.vm_config(&n1(), id(150), false).await.unwrap().digest;
    let u = api
        .resize_disk(
            &n1(),
            id(150),
            &ResizeDisk {
                disk: "scsi0".into(),
                size: "+2G".into(),
                digest: Some(digest),
            },
        )
        .await
        .unwrap();
    ok(&api, u).await;
    assert_eq!(
        api.vm_config(&n1(), id(150), false)
            .await
            .unwrap()
            .get("scsi0"),
        Some("local-lvm:vm-150-disk-0,size=12G")
    );
    let u = api
        .resize_disk(
            &n1(),
            id(150),
            &ResizeDisk {
                disk: "scsi0".into(),
                size: "4G".into(),
                digest: None,
            },
        )
        .await
        .unwrap();
    match wait_for_task(&api, &u, wait()).await {
        Err(Error::TaskFailed { exitstatus, .. }) => {
            assert_eq!(exitstatus, "shrinking disks is not supported")
        }
        other => panic!("{other:?}"),
    }
    let e = api
        .vm_action(&n1(), id(150), VmAction::Reboot)
        .await
        .unwrap_err();
    assert_eq!(e.api().unwrap().message, "VM 150 not running");
    let u = api
        .vm_action(&n1(), id(150), VmAction::Start)
        .await
        .unwrap();
    ok(&api, u).await;
    let u = api
        .vm_action(&n1(), id(150), VmAction::Reboot)
        .await
        .unwrap();
    ok(&api, u).await;
    assert_eq!(
        api.vm_status(&n1(), id(150)).await.unwrap().status,
        "running"
    );
    // 40 GiB + 40 GiB does not fit a 64 GiB node.
    create(&api, &CreateVm::new(id(151)).with("memory", 40960)).await;
    let u = api
        .vm_action(&n1(), id(151), VmAction::Start)
        .await
        .unwrap();
    match wait_for_task(&api, &u, wait()).await {
        Err(Error::TaskFailed {
            exitstatus, log, ..
        }) => {
            assert_eq!(exitstatus, "start failed: QEMU exited with code 1");
            assert!(log.iter().any(|l| l.contains("Cannot allocate memory")));
        }
        other => panic!("{other:?}"),
    }
    // `local` holds 100 GiB.
    let u = api
        .create_vm(&n1(), &CreateVm::new(id(152)).with("scsi0", "local:200"))
        .await
        .unwrap();
    match wait_for_task(&api, &u, wait()).await {
        Err(Error::TaskFailed { exitstatus, .. }) => assert_eq!(
            exitstatus,
            "unable to create VM 152 - unable to allocate 200G on storage 'local': not enough free space"
        ),
        other => panic!("{other:?}"),
    }
    assert!(s.with_state(|st| !st.vms.contains_key(&152)));
}

#[tokio::test(start_paused = true)]
async fn waiting_gives_up_at_the_deadline() {
    let s = sim();
    let api = s.root();
    // Importing a 500 GiB disk takes 500 simulated seconds.
    create(&api, &CreateVm::new(id(160)).with("scsi0", "local-lvm:500")).await;
    let mut req = CloneVm::new(id(161));
    req.full = Some(true);
    let u = api.clone_vm(&n1(), id(160), &req).await.unwrap();
    let opts = WaitOptions {
        deadline: Duration::from_secs(30),
        ..wait()
    };
    match wait_for_task(&api, &u, opts).await {
        Err(Error::TaskTimeout { upid, waited }) => {
            assert_eq!(upid, u.to_string());
            assert!(waited >= Duration::from_secs(30));
        }
        other => panic!("{other:?}"),
    }
    // The task is still running and later succeeds.
    assert_eq!(
        api.task_status(&u).await.unwrap().status,
        TaskState::Running
    );
    ok(&api, u).await;
}

#[tokio::test]
async fn instant_timing_runs_on_the_real_clock() {
    let mut cfg = SimConfig::cluster(1, Secret::new("pw"));
    cfg.timing = labform_simulator::Timing::instant();
    let s = Simulator::new(cfg);
    let api = s.root();
    create(&api, &CreateVm::new(id(100)).with("scsi0", "local-lvm:100")).await;
    let mut req = CloneVm::new(id(101));
    req.full = Some(true);
    let u = api.clone_vm(&n1(), id(100), &req).await.unwrap();
    let st = wait_for_task(
        &api,
        &u,
        WaitOptions {
            initial_interval: Duration::from_millis(1),
            ..wait()
        },
    )
    .await
    .unwrap();
    assert_eq!(st.exitstatus.as_deref(), Some("OK"));
}

#[tokio::test(start_paused = true)]
async fn resources_can_lag_like_pvestatd() {
    let mut cfg = SimConfig::cluster(1, Secret::new("pw"));
    cfg.timing.resources_lag_secs = 10.0;
    let s = Simulator::new(cfg);
    let api = s.root();
    create(&api, &CreateVm::new(id(100)).with("name", "late")).await;
    let r = api.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    assert_eq!(
        (r[0].name.as_deref(), r[0].status.as_deref(), r[0].maxmem),
        (None, Some("unknown"), None)
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    let r = api.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    assert_eq!(
        (r[0].name.as_deref(), r[0].status.as_deref()),
        (Some("late"), Some("stopped"))
    );
}

#[tokio::test(start_paused = true)]
async fn destroying_a_vm_keeps_attached_isos() {
    let s = sim();
    let api = s.root();
    let iso = Upload {
        content: "iso".into(),
        filename: "seed.iso".into(),
        data: vec![1; 100],
    };
    let u = api
        .upload(&n1(), &StorageName::new("local"), &iso)
        .await
        .unwrap();
    ok(&api, u).await;
    create(
        &api,
        &CreateVm::new(id(170))
            .with("scsi0", "local-lvm:1")
            .with("ide2", "local:iso/seed.iso,media=cdrom"),
    )
    .await;
    let u = api
        .delete_vm(
            &n1(),
            id(170),
            DeleteVm {
                purge: true,
                destroy_unreferenced_disks: true,
            },
        )
        .await
        .unwrap();
    ok(&api, u).await;
    let isos = api
        .storage_content(&n1(), &StorageName::new("local"), Some("iso"))
        .await
        .unwrap();
    assert_eq!(isos.len(), 1, "the ISO survives");
    assert!(
        api.storage_content(&n1(), &StorageName::new("local-lvm"), None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(start_paused = true)]
async fn detached_disks_become_unused_and_deleting_unused_destroys_them() {
    let s = sim();
    let api = s.root();
    let lvm = StorageName::new("local-lvm");
    create(
        &api,
        &CreateVm::new(id(180))
            .with("scsi0", "local-lvm:1")
            .with("scsi1", "local-lvm:2"),
    )
    .await;
    api.update_vm_config_sync(&n1(), id(180), &ConfigUpdate::new().delete("scsi1"))
        .await
        .unwrap();
    let c = api.vm_config(&n1(), id(180), false).await.unwrap();
    assert_eq!(c.get("unused0"), Some("local-lvm:vm-180-disk-1"));
    assert_eq!(
        api.storage_content(&n1(), &lvm, None).await.unwrap().len(),
        2
    );
    // Replacing scsi0 with a new disk detaches the old one too.
    let u = api
        .update_vm_config(
            &n1(),
            id(180),
            &ConfigUpdate::new().set("scsi0", "local-lvm:3"),
        )
        .await
        .unwrap();
    ok(&api, u).await;
    let c = api.vm_config(&n1(), id(180), false).await.unwrap();
    assert_eq!(c.get("scsi0"), Some("local-lvm:vm-180-disk-2,size=3G"));
    assert_eq!(c.get("unused1"), Some("local-lvm:vm-180-disk-0"));
    api.update_vm_config_sync(
        &n1(),
        id(180),
        &ConfigUpdate::new().delete("unused0").delete("unused1"),
    )
    .await
    .unwrap();
    let vols = api.storage_content(&n1(), &lvm, None).await.unwrap();
    assert_eq!(
        vols.iter().map(|v| v.volid.as_str()).collect::<Vec<_>>(),
        ["local-lvm:vm-180-disk-2"]
    );
}
