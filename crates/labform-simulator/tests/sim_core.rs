//! In-process tests of the simulator's state machine through the
//! `ProxmoxApi` trait, with tokio's paused clock (simulated seconds pass
//! instantly and deterministically): creation, digests and pending changes,
//! clones and their locks, VMIDs, permissions. (`sim_operations.rs` has the
//! guest agent, migration, snapshots, uploads, resizing and timing.)

mod common;

use common::in_process::*;
use labform_ids::StorageName;
use labform_proxmox::Error;
use labform_proxmox::api::ProxmoxApi;
use labform_proxmox::propstring::{Drive, DriveVolume, NetDevice};
use labform_proxmox::task::wait_for_task;
use labform_proxmox::types::*;
use labform_simulator::perms::Identity;
use std::time::Duration;

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
    create(
        &api,
        &CreateVm::new(id(101))
            .with("memory", "512")
            .with("cores", "1"),
    )
    .await;
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
