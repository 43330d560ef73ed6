//! In-process tests of the simulator's state machine through the
//! `ProxmoxApi` trait, with tokio's paused clock (simulated seconds pass
//! instantly and deterministically).

use labform_ids::{NodeName, StorageName, VmId};
use labform_proxmox::api::ProxmoxApi;
use labform_proxmox::propstring::{Drive, DriveVolume, NetDevice};
use labform_proxmox::task::{WaitOptions, wait_for_task};
use labform_proxmox::types::*;
use labform_proxmox::{Error, Secret};
use labform_simulator::perms::Identity;
use labform_simulator::{SimConfig, Simulator};
use std::time::Duration;

fn sim() -> Simulator {
    Simulator::new(SimConfig::cluster(2, Secret::new("pw")))
}

fn n1() -> NodeName {
    NodeName::new("pve1")
}

fn id(n: u32) -> VmId {
    VmId::new(n).unwrap()
}

fn wait() -> WaitOptions {
    WaitOptions {
        initial_interval: Duration::from_millis(100),
        deadline: Duration::from_secs(3600),
        ..Default::default()
    }
}

async fn ok(api: &dyn ProxmoxApi, upid: labform_proxmox::Upid) -> TaskStatus {
    wait_for_task(api, &upid, wait()).await.unwrap()
}

async fn make_template(api: &dyn ProxmoxApi, vmid: u32) {
    let req = CreateVm::new(id(vmid))
        .with("name", "tmpl")
        .with("memory", "2048")
        .with("cores", "2")
        .with("scsi0", "local-lvm:12,discard=on")
        .with("ide2", "local-lvm:cloudinit")
        .with("net0", "virtio,bridge=vmbr0,firewall=1")
        .with("agent", "1");
    let u = api.create_vm(&n1(), &req).await.unwrap();
    ok(api, u).await;
    let u = api.convert_to_template(&n1(), id(vmid)).await.unwrap();
    ok(api, u).await;
}

#[tokio::test(start_paused = true)]
async fn create_allocates_disks_macs_and_reports_typed_config() {
    let s = sim();
    let api = s.root();
    let req = CreateVm::new(id(100))
        .with("name", "web1")
        .with("cores", "2")
        .with("memory", "1024")
        .with("scsi0", "local-lvm:4,ssd=on")
        .with("net0", "virtio,bridge=vmbr0,tag=20")
        .with("tags", "Prod,k8s web");
    let upid = api.create_vm(&n1(), &req).await.unwrap();
    assert_eq!(upid.task_type, "qmcreate");
    assert_eq!(upid.user, "root@pam");
    // Before the task ends the config carries lock: create.
    let early = api.vm_config(&n1(), id(100), false).await.unwrap();
    assert_eq!(early.lock(), Some("create"));
    ok(&api, upid).await;
    let c = api.vm_config(&n1(), id(100), false).await.unwrap();
    assert_eq!(c.lock(), None);
    assert_eq!(c.get("tags"), Some("k8s;prod;web"));
    let net = NetDevice::parse(c.get("net0").unwrap()).unwrap();
    assert_eq!(net.macaddr.unwrap().0[..3], [0xBC, 0x24, 0x11]);
    assert_eq!(c.get("net0").unwrap(), net.canonical());
    let d = Drive::parse(c.get("scsi0").unwrap()).unwrap();
    assert_eq!(
        d.volume,
        DriveVolume::Volume {
            storage: "local-lvm".into(),
            name: "vm-100-disk-0".into()
        }
    );
    assert_eq!(
        c.get("scsi0").unwrap(),
        "local-lvm:vm-100-disk-0,size=4G,ssd=1"
    );
    assert_eq!(c.digest.len(), 40);
    let j = s
        .root()
        .config_json("pve1", 100, false, None)
        .await
        .unwrap();
    assert_eq!(j["cores"], serde_json::json!(2));
    assert_eq!(j["memory"], serde_json::json!("1024"));
    // Duplicate id is refused synchronously.
    let e = api
        .create_vm(&n1(), &CreateVm::new(id(100)))
        .await
        .unwrap_err();
    assert_eq!(
        e.api().unwrap().message,
        "unable to create VM 100 - VM 100 already exists on node 'pve1'"
    );
    // Missing VM is a 500 with the config-file text.
    let e = api.vm_config(&n1(), id(999), false).await.unwrap_err();
    assert_eq!(e.status(), Some(500));
    assert_eq!(
        e.api().unwrap().message,
        "Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist"
    );
    let content = api
        .storage_content(&n1(), &StorageName::new("local-lvm"), None)
        .await
        .unwrap();
    assert_eq!(content.len(), 1);
    assert_eq!(content[0].size, 4 << 30);
}

#[tokio::test(start_paused = true)]
async fn digest_and_pending_changes() {
    let s = sim();
    let api = s.root();
    let u = api
        .create_vm(
            &n1(),
            &CreateVm::new(id(101))
                .with("memory", "512")
                .with("cores", "1"),
        )
        .await
        .unwrap();
    ok(&api, u).await;
    let c = api.vm_config(&n1(), id(101), false).await.unwrap();
    api.update_vm_config_sync(
        &n1(),
        id(101),
        &ConfigUpdate::new().set("cores", 2).digest(&c.digest),
    )
    .await
    .unwrap();
    let e = api
        .update_vm_config_sync(
            &n1(),
            id(101),
            &ConfigUpdate::new().set("cores", 3).digest(&c.digest),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.api().unwrap().message,
        "checksum mismatch (file change by other user?)"
    );
    let u = api
        .vm_action(&n1(), id(101), VmAction::Start)
        .await
        .unwrap();
    ok(&api, u).await;
    // Running: cores is not hot-pluggable, name is fast-plug.
    api.update_vm_config_sync(
        &n1(),
        id(101),
        &ConfigUpdate::new().set("cores", 4).set("name", "db"),
    )
    .await
    .unwrap();
    let merged = api.vm_config(&n1(), id(101), false).await.unwrap();
    let current = api.vm_config(&n1(), id(101), true).await.unwrap();
    assert_eq!(merged.get("cores"), Some("4"));
    assert_eq!(current.get("cores"), Some("2"));
    assert_eq!(current.get("name"), Some("db"));
    let pending = api.vm_pending(&n1(), id(101)).await.unwrap();
    let cores = pending.iter().find(|p| p.key == "cores").unwrap();
    assert_eq!(cores.pending, Some(serde_json::json!("4")));
    assert_eq!(cores.value, Some(serde_json::json!("2")));
    // Starting again fails inside the task.
    let u = api
        .vm_action(&n1(), id(101), VmAction::Start)
        .await
        .unwrap();
    match wait_for_task(&api, &u, wait()).await {
        Err(Error::TaskFailed {
            exitstatus, log, ..
        }) => {
            assert_eq!(exitstatus, "VM 101 already running");
            assert_eq!(log.last().unwrap(), "TASK ERROR: VM 101 already running");
        }
        other => panic!("expected task failure, got {other:?}"),
    }
    let e = api
        .delete_vm(&n1(), id(101), DeleteVm::default())
        .await
        .unwrap_err();
    assert_eq!(
        e.api().unwrap().message,
        "VM 101 is running - destroy failed"
    );
    let u = api.vm_action(&n1(), id(101), VmAction::Stop).await.unwrap();
    ok(&api, u).await;
    let u = api
        .vm_action(&n1(), id(101), VmAction::Start)
        .await
        .unwrap();
    ok(&api, u).await;
    let current = api.vm_config(&n1(), id(101), true).await.unwrap();
    assert_eq!(
        current.get("cores"),
        Some("4"),
        "pending applied at cold start"
    );
    // Unknown keys and bad types are per-parameter 400s.
    let e = api
        .update_vm_config_sync(
            &n1(),
            id(101),
            &ConfigUpdate::new().set("bogus", 1).set("cores", "x"),
        )
        .await
        .unwrap_err();
    let a = e.api().unwrap();
    assert_eq!(a.status, 400);
    assert_eq!(a.message, "Parameter verification failed.");
    assert!(a.errors["bogus"].contains("property is not defined in schema"));
    assert_eq!(a.errors["cores"], "type check ('integer') failed - got 'x'");
}

#[tokio::test(start_paused = true)]
async fn clone_rules_and_locks() {
    let s = sim();
    let api = s.root();
    make_template(&api, 9000).await;
    let t = api.vm_config(&n1(), id(9000), false).await.unwrap();
    assert!(t.is_template());
    assert_eq!(
        t.get("scsi0").unwrap(),
        "local-lvm:base-9000-disk-0,discard=on,size=12G"
    );
    // Linked clone of a template: default.
    let mut req = CloneVm::new(id(200));
    req.name = Some("k8s-a".into());
    let u = api.clone_vm(&n1(), id(9000), &req).await.unwrap();
    // While the task runs (the worker has started) the target is locked.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let e = api
        .update_vm_config_sync(&n1(), id(200), &ConfigUpdate::new().set("cores", 4))
        .await
        .unwrap_err();
    assert_eq!(e.api().unwrap().message, "VM is locked (clone)");
    let res = api.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    let r = res.iter().find(|r| r.vmid == Some(200)).unwrap();
    assert_eq!(r.lock.as_deref(), Some("clone"));
    assert_eq!(r.status.as_deref(), Some("unknown"));
    // Same newid again: config file already exists, synchronously.
    let e = api
        .clone_vm(&n1(), id(9000), &CloneVm::new(id(200)))
        .await
        .unwrap_err();
    assert_eq!(
        e.api().unwrap().message,
        "unable to create VM 200: config file already exists"
    );
    ok(&api, u).await;
    let c = api.vm_config(&n1(), id(200), false).await.unwrap();
    assert_eq!(c.name(), Some("k8s-a"));
    assert!(!c.is_template());
    assert_eq!(
        c.get("scsi0").unwrap(),
        "local-lvm:vm-200-disk-0,discard=on,size=12G"
    );
    assert_ne!(c.get("net0"), t.get("net0"), "clones get new MACs");
    assert_eq!(
        c.get("ide2").unwrap(),
        "local-lvm:vm-200-cloudinit,media=cdrom"
    );
    // storage with a linked clone is a parameter error.
    let mut bad = CloneVm::new(id(201));
    bad.storage = Some("local".into());
    let e = api.clone_vm(&n1(), id(9000), &bad).await.unwrap_err();
    assert_eq!(
        e.api().unwrap().errors["storage"],
        "parameter 'storage' not allowed for linked clones"
    );
    // Linked clone of a non-template fails in the task.
    let mut linked = CloneVm::new(id(202));
    linked.full = Some(false);
    let u = api.clone_vm(&n1(), id(200), &linked).await.unwrap();
    match wait_for_task(&api, &u, wait()).await {
        Err(Error::TaskFailed { exitstatus, .. }) => assert_eq!(
            exitstatus,
            "clone failed: Linked clone feature is not supported for 'local-lvm:vm-200-disk-0' (scsi0)"
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        s.with_state(|st| !st.vms.contains_key(&202)),
        "failed clone leaves nothing behind"
    );
    // The template cannot be deleted while linked clones exist.
    let u = api
        .delete_vm(&n1(), id(9000), DeleteVm::default())
        .await
        .unwrap();
    match wait_for_task(&api, &u, wait()).await {
        Err(Error::TaskFailed { exitstatus, .. }) => {
            assert!(exitstatus.contains("still in use by linked cloned"))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn parallel_linked_clones_share_the_template_lock_but_full_clones_contend_for_storage() {
    let s = sim();
    let api = s.root();
    make_template(&api, 9000).await;
    // Five linked clones at once: all succeed (shared template lock, short storage ops).
    let mut upids = Vec::new();
    for i in 0..5 {
        upids.push(
            api.clone_vm(&n1(), id(9000), &CloneVm::new(id(300 + i)))
                .await
                .unwrap(),
        );
    }
    for u in upids {
        ok(&api, u).await;
    }
    // Five full clones of 12 GiB at 1 s/GiB on local-lvm: each holds the
    // storage lock 12.5 s, the timeout is 10 s, so the naive parallel run fails.
    let mut upids = Vec::new();
    for i in 0..5 {
        let mut req = CloneVm::new(id(400 + i));
        req.full = Some(true);
        upids.push(api.clone_vm(&n1(), id(9000), &req).await.unwrap());
    }
    let mut failures = Vec::new();
    for u in upids {
        if let Err(Error::TaskFailed { exitstatus, .. }) = wait_for_task(&api, &u, wait()).await {
            failures.push(exitstatus);
        }
    }
    assert!(!failures.is_empty());
    assert!(failures.len() < 5);
    for f in failures {
        assert_eq!(
            f,
            "clone failed: can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout"
        );
    }
    // A config change on the template waits for the clones' shared locks.
    let mut req = CloneVm::new(id(500));
    req.full = Some(true);
    let clone = api.clone_vm(&n1(), id(9000), &req).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let e = api
        .update_vm_config_sync(
            &n1(),
            id(9000),
            &ConfigUpdate::new().set("description", "x"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.api().unwrap().message,
        "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout"
    );
    ok(&api, clone).await;
}

#[tokio::test(start_paused = true)]
async fn nextid_has_no_reservation() {
    let s = sim();
    let api = s.root();
    assert_eq!(api.next_vmid(None).await.unwrap().get(), 100);
    assert_eq!(api.next_vmid(None).await.unwrap().get(), 100);
    let u = api.create_vm(&n1(), &CreateVm::new(id(100))).await.unwrap();
    assert_eq!(api.next_vmid(None).await.unwrap().get(), 101);
    let e = api.next_vmid(Some(id(100))).await.unwrap_err();
    assert_eq!(e.api().unwrap().errors["vmid"], "VM 100 already exists");
    ok(&api, u).await;
}

#[tokio::test(start_paused = true)]
async fn permissions_and_privilege_separation() {
    let s = sim();
    let root = s.root();
    let u = root
        .create_vm(&n1(), &CreateVm::new(id(100)).with("name", "a"))
        .await
        .unwrap();
    ok(&root, u).await;
    root.create_user(&CreateUser {
        userid: "ci@pve".into(),
        password: None,
        comment: None,
    })
    .await
    .unwrap();
    let tok = root
        .create_token("ci@pve", "deploy", &CreateToken::default())
        .await
        .unwrap();
    assert_eq!(tok.full_tokenid, "ci@pve!deploy");
    assert_eq!(format!("{:?}", tok.value), "<redacted>");
    let who = s.check_token("ci@pve!deploy", tok.value.expose()).unwrap();
    assert!(s.check_token("ci@pve!deploy", "wrong").is_none());
    let api = s.client(who.clone());
    let e = api.vm_config(&n1(), id(100), false).await.unwrap_err();
    assert_eq!(e.status(), Some(403));
    assert_eq!(
        e.api().unwrap().message,
        "Permission check failed (/vms/100, VM.Audit)"
    );
    let acl = |users: Vec<String>, tokens: Vec<String>, role: &str| AclUpdate {
        path: "/vms".into(),
        roles: vec![role.into()],
        users,
        tokens,
        propagate: true,
        delete: false,
    };
    root.update_acl(&acl(vec!["ci@pve".into()], vec![], "PVEVMAdmin"))
        .await
        .unwrap();
    // privsep: the token still has nothing.
    assert_eq!(
        api.vm_config(&n1(), id(100), false)
            .await
            .unwrap_err()
            .status(),
        Some(403)
    );
    root.update_acl(&acl(vec![], vec!["ci@pve!deploy".into()], "PVEVMUser"))
        .await
        .unwrap();
    api.vm_config(&n1(), id(100), false).await.unwrap();
    // Intersection: the token cannot clone (VM.Clone is not in PVEVMUser).
    let e = api
        .clone_vm(&n1(), id(100), &CloneVm::new(id(101)))
        .await
        .unwrap_err();
    assert_eq!(
        e.api().unwrap().message,
        "Permission check failed (/vms/100, VM.Clone)"
    );
    // Resources are filtered.
    let user = s.client(Identity {
        user: "ci@pve".into(),
        token: None,
    });
    assert!(
        user.cluster_resources(Some(ResourceType::Storage))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        user.cluster_resources(Some(ResourceType::Vm))
            .await
            .unwrap()
            .len(),
        1
    );
    // Task visibility: a token sees only its own tasks.
    let u = root
        .vm_action(&n1(), id(100), VmAction::Stop)
        .await
        .unwrap();
    assert_eq!(
        api.task_status(&u)
            .await
            .unwrap_err()
            .api()
            .unwrap()
            .message,
        "Permission check failed (/nodes/pve1, Sys.Audit)"
    );
    ok(&root, u).await;
}

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
    let u = api
        .create_vm(&n1(), &CreateVm::new(id(130)).with("scsi0", "local-lvm:2"))
        .await
        .unwrap();
    ok(&api, u).await;
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
    let u = api
        .create_vm(
            &n1(),
            &CreateVm::new(id(140))
                .with("cores", 1)
                .with("scsi0", "local-lvm:1"),
        )
        .await
        .unwrap();
    ok(&api, u).await;
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
    let u = api.create_vm(&n1(), &CreateVm::new(id(100))).await.unwrap();
    ok(&api, u).await;
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
    let u = api
        .create_vm(
            &n1(),
            &CreateVm::new(id(150))
                .with("memory", 40960)
                .with("scsi0", "local-lvm:10"),
        )
        .await
        .unwrap();
    ok(&api, u).await;
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
    let u = api
        .create_vm(&n1(), &CreateVm::new(id(151)).with("memory", 40960))
        .await
        .unwrap();
    ok(&api, u).await;
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
    let u = api
        .create_vm(
            &n1(),
            &CreateVm::new(id(160)).with("scsi0", "local-lvm:500"),
        )
        .await
        .unwrap();
    ok(&api, u).await;
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
    let u = api
        .create_vm(
            &n1(),
            &CreateVm::new(id(100)).with("scsi0", "local-lvm:100"),
        )
        .await
        .unwrap();
    ok(&api, u).await;
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
    let u = api
        .create_vm(&n1(), &CreateVm::new(id(100)).with("name", "late"))
        .await
        .unwrap();
    ok(&api, u).await;
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
    let u = api
        .create_vm(
            &n1(),
            &CreateVm::new(id(170))
                .with("scsi0", "local-lvm:1")
                .with("ide2", "local:iso/seed.iso,media=cdrom"),
        )
        .await
        .unwrap();
    ok(&api, u).await;
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
    let u = api
        .create_vm(
            &n1(),
            &CreateVm::new(id(180))
                .with("scsi0", "local-lvm:1")
                .with("scsi1", "local-lvm:2"),
        )
        .await
        .unwrap();
    ok(&api, u).await;
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
