//! The endpoints other clients use beside labform (issue 13): pools, the
//! storage configuration, one user, node networks, SDN, the task list's
//! filters, backup jobs and a storage's content, called over HTTP the way
//! those clients call them, with every exchange checked against Proxmox's
//! API schema; and bad parameters refused as Proxmox refuses them.
//! (`client_guests.rs` has vzdump and restore, the guest agent and HA.)

mod common;

use common::Recorder;
use common::session::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_gain_and_lose_members_and_only_empty_pools_go() {
    let rec = Recorder::default();
    let srv = server(&rec).await;
    let s = Session::login(&srv).await;
    create_vm(&s, "100").await;
    s.ok(
        "POST",
        "/pools",
        &[("poolid", "lab"), ("comment", "the lab")],
    )
    .await;
    s.ok("POST", "/pools", &[("poolid", "other")]).await;

    // Members through `PUT /pools`, and the older `PUT /pools/{poolid}`.
    s.ok("PUT", "/pools", &[("poolid", "lab"), ("vms", "100")])
        .await;
    s.ok("PUT", "/pools/lab", &[("storage", "local-lvm")]).await;
    let (_, again) = s
        .fails("PUT", "/pools", &[("poolid", "lab"), ("vms", "100")])
        .await;
    assert_eq!(
        again,
        "update pools failed: VM 100 is already a pool member"
    );
    let (_, moved) = s
        .fails("PUT", "/pools", &[("poolid", "other"), ("vms", "100")])
        .await;
    assert_eq!(
        moved,
        "update pools failed: VM 100 belongs already to pool 'lab' and 'allow-move' is not set"
    );

    // The listing has members only for one pool.
    let listing = s.ok("GET", "/pools", &[]).await;
    assert_eq!(
        listing,
        json!([{"poolid": "lab", "comment": "the lab"}, {"poolid": "other"}])
    );
    let one = s.ok("GET", "/pools", &[("poolid", "lab")]).await;
    let members = &one[0]["members"];
    assert_eq!(members[0]["id"], "qemu/100");
    assert_eq!(members[0]["name"], "web");
    assert_eq!(members[0]["maxmem"], 1024u64 << 20);
    assert_eq!(members[1]["id"], "storage/pve1/local-lvm");
    let only_storage = s.ok("GET", "/pools/lab", &[("type", "storage")]).await;
    assert_eq!(only_storage["members"].as_array().unwrap().len(), 1);
    let resources = s.ok("GET", "/cluster/resources", &[("type", "vm")]).await;
    assert_eq!(resources[0]["pool"], "lab");

    // Moving with allow-move, then deleting: a pool with members stays.
    s.ok(
        "PUT",
        "/pools",
        &[("poolid", "other"), ("vms", "100"), ("allow-move", "1")],
    )
    .await;
    let (_, busy) = s.fails("DELETE", "/pools", &[("poolid", "other")]).await;
    assert_eq!(
        busy,
        "delete pool failed: pool 'other' is not empty (contains VM 100)"
    );
    let (_, storage) = s.fails("DELETE", "/pools/lab", &[]).await;
    assert_eq!(
        storage,
        "delete pool failed: pool 'lab' is not empty (contains storage 'local-lvm')"
    );
    s.ok(
        "PUT",
        "/pools",
        &[("poolid", "lab"), ("storage", "local-lvm"), ("delete", "1")],
    )
    .await;
    s.ok("DELETE", "/pools/lab", &[]).await;
    s.ok(
        "PUT",
        "/pools",
        &[("poolid", "other"), ("vms", "100"), ("delete", "1")],
    )
    .await;
    s.ok("DELETE", "/pools", &[("poolid", "other")]).await;
    assert_eq!(s.ok("GET", "/pools", &[]).await, json!([]));
    let (status, gone) = s.fails("GET", "/pools/lab", &[]).await;
    assert_eq!((status, gone.as_str()), (500, "pool 'lab' does not exist"));
    rec.assert_contract();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_reads_answer_like_proxmox() {
    let rec = Recorder::default();
    let srv = server(&rec).await;
    srv.simulator
        .define_sdn_zone("lab", "vlan", &[("bridge", "vmbr0")]);
    srv.simulator
        .define_sdn_vnet("tenant1", "lab", &[("tag", "20")]);
    let s = Session::login(&srv).await;

    let storages = s.ok("GET", "/storage", &[]).await;
    let ids: Vec<&str> = storages
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["storage"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["local", "local-lvm", "nfs"]);
    let thin = s.ok("GET", "/storage/local-lvm", &[]).await;
    assert_eq!(thin["type"], "lvmthin");
    assert_eq!(thin["content"], "images,rootdir");
    assert_eq!(thin["vgname"], "pve");
    assert_eq!(thin["digest"].as_str().unwrap().len(), 40);
    assert_eq!(
        s.ok("GET", "/storage", &[("type", "nfs")])
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.fails("GET", "/storage/nope", &[]).await,
        (500, "storage 'nope' does not exist".to_owned())
    );

    s.ok(
        "POST",
        "/access/users",
        &[("userid", "ci@pve"), ("comment", "robot")],
    )
    .await;
    s.ok(
        "POST",
        "/access/users/ci@pve/token/deploy",
        &[("privsep", "0")],
    )
    .await;
    let user = s.ok("GET", "/access/users/ci@pve", &[]).await;
    assert_eq!(user["comment"], "robot");
    assert_eq!(user["tokens"]["deploy"]["privsep"], 0);
    assert_eq!(user["groups"], json!([]));
    assert_eq!(
        s.fails("GET", "/access/users/nobody@pve", &[]).await,
        (500, "no such user ('nobody@pve')".to_owned())
    );

    let network = s.ok("GET", "/nodes/pve2/network", &[]).await;
    let names: Vec<&str> = network
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["iface"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["eno1", "vmbr0"]);
    let bridges = s
        .ok("GET", "/nodes/pve2/network", &[("type", "any_bridge")])
        .await;
    assert_eq!(bridges[0]["cidr"], "192.0.2.2/24");
    let vmbr0 = s.ok("GET", "/nodes/pve2/network/vmbr0", &[]).await;
    assert_eq!(vmbr0["bridge_ports"], "eno1");
    assert_eq!(
        s.fails("GET", "/nodes/pve2/network/vmbr9", &[]).await.0,
        400
    );

    let zones = s.ok("GET", "/cluster/sdn/zones", &[]).await;
    assert_eq!(zones[0]["zone"], "lab");
    assert_eq!(zones[0]["type"], "vlan");
    assert_eq!(
        s.ok("GET", "/cluster/sdn/zones", &[("type", "evpn")]).await,
        json!([])
    );
    assert_eq!(
        s.ok("GET", "/cluster/sdn/zones/lab", &[]).await["bridge"],
        "vmbr0"
    );
    let vnets = s.ok("GET", "/cluster/sdn/vnets", &[]).await;
    assert_eq!(vnets[0]["vnet"], "tenant1");
    assert_eq!(vnets[0]["tag"], 20);
    assert_eq!(
        s.ok("GET", "/cluster/sdn/vnets/tenant1", &[]).await["zone"],
        "lab"
    );
    assert_eq!(
        s.fails("GET", "/cluster/sdn/vnets/nope", &[]).await,
        (500, "sdn vnet 'nope' does not exist".to_owned())
    );
    rec.assert_contract();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_list_filters_like_proxmox() {
    let rec = Recorder::default();
    let srv = server(&rec).await;
    let s = Session::login(&srv).await;
    create_vm(&s, "100").await;
    create_vm(&s, "101").await;
    let upid = s.ok("POST", "/nodes/pve1/qemu/101/status/start", &[]).await;
    assert_eq!(s.wait("pve1", &upid).await, "OK");
    let (_, failed) = s
        .call("POST", "/nodes/pve1/qemu/101/status/start", &[])
        .await;
    assert_eq!(
        s.wait("pve1", &failed["data"]).await,
        "VM 101 already running"
    );

    let (status, body) = s.call("GET", "/nodes/pve1/tasks", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], 4);
    let of = |filter: &[(&str, &str)]| {
        let filter: Vec<(String, String)> = filter
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let s = &s;
        async move {
            let filter: Vec<(&str, &str)> = filter
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let list = s.ok("GET", "/nodes/pve1/tasks", &filter).await;
            list.as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    format!(
                        "{}:{}",
                        t["type"].as_str().unwrap(),
                        t["id"].as_str().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        of(&[("typefilter", "qmstart")]).await,
        ["qmstart:101", "qmstart:101"]
    );
    assert_eq!(of(&[("vmid", "100")]).await, ["qmcreate:100"]);
    assert_eq!(of(&[("errors", "1")]).await, ["qmstart:101"]);
    assert_eq!(
        of(&[("statusfilter", "ok"), ("typefilter", "qmstart")]).await,
        ["qmstart:101"]
    );
    assert_eq!(of(&[("userfilter", "ROOT")]).await.len(), 4);
    assert_eq!(of(&[("userfilter", "ci@pve")]).await.len(), 0);
    assert_eq!(of(&[("since", "4000000000")]).await.len(), 0);
    assert_eq!(of(&[("until", "1000")]).await.len(), 0);
    assert_eq!(of(&[("start", "1"), ("limit", "2")]).await.len(), 2);
    // Nothing runs now: the active list is empty, and all is the archive.
    assert_eq!(of(&[("source", "active")]).await.len(), 0);
    assert_eq!(of(&[("source", "all")]).await.len(), 4);
    rec.assert_contract();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_jobs_keep_their_options() {
    let rec = Recorder::default();
    let srv = server(&rec).await;
    let s = Session::login(&srv).await;
    assert_eq!(s.ok("GET", "/cluster/backup", &[]).await, json!([]));
    let (status, missing) = s
        .call("POST", "/cluster/backup", &[("id", "nightly")])
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        missing["errors"]["schedule"],
        "neither 'starttime' nor 'schedule' were set\n"
    );
    let (_, conflict) = s
        .call(
            "POST",
            "/cluster/backup",
            &[
                ("id", "nightly"),
                ("schedule", "02:00"),
                ("vmid", "100"),
                ("all", "1"),
            ],
        )
        .await;
    assert_eq!(
        conflict["errors"]["all"],
        "option conflicts with option 'vmid'\n"
    );
    s.ok(
        "POST",
        "/cluster/backup",
        &[
            ("id", "nightly"),
            ("schedule", "02:00"),
            ("vmid", "100,101"),
            ("storage", "local"),
            ("mode", "snapshot"),
            ("compress", "zstd"),
        ],
    )
    .await;
    s.ok(
        "POST",
        "/cluster/backup",
        &[("starttime", "03:30"), ("dow", "sat,sun"), ("all", "1")],
    )
    .await;
    let jobs = s.ok("GET", "/cluster/backup", &[]).await;
    assert_eq!(jobs.as_array().unwrap().len(), 2);
    assert_eq!(jobs[1]["schedule"], "sat,sun 03:30");
    assert_eq!(jobs[1]["all"], 1);
    assert_eq!(jobs[1]["id"].as_str().unwrap().len(), 36);
    let nightly = s.ok("GET", "/cluster/backup/nightly", &[]).await;
    assert_eq!(nightly["vmid"], "100,101");
    assert_eq!(nightly["enabled"], 1);
    assert_eq!(nightly["type"], "vzdump");
    // Choosing every guest drops the list; an unknown option cannot go.
    s.ok(
        "PUT",
        "/cluster/backup/nightly",
        &[("all", "1"), ("comment", "all of them")],
    )
    .await;
    let nightly = s.ok("GET", "/cluster/backup/nightly", &[]).await;
    assert_eq!(nightly.get("vmid"), None);
    assert_eq!(nightly["comment"], "all of them");
    s.ok("PUT", "/cluster/backup/nightly", &[("delete", "comment")])
        .await;
    assert_eq!(
        s.ok("GET", "/cluster/backup/nightly", &[])
            .await
            .get("comment"),
        None
    );
    let (_, unknown) = s
        .call("PUT", "/cluster/backup/nightly", &[("delete", "colour")])
        .await;
    assert_eq!(unknown["errors"]["delete"], "unknown option 'colour'\n");
    s.ok("DELETE", "/cluster/backup/nightly", &[]).await;
    let (status, gone) = s.call("GET", "/cluster/backup/nightly", &[]).await;
    assert_eq!(status, 400);
    assert_eq!(gone["errors"]["id"], "No such job 'nightly'\n");
    rec.assert_contract();
}

/// Pools, the task list, vzdump, backup jobs and HA take typed requests their declarations decode:
/// a value that does not fit is refused before anything happens, as Proxmox's schema check
/// refuses it (400 `Parameter verification failed.` with the parameter's error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_that_do_not_fit_get_proxmoxs_400() {
    let rec = Recorder::default();
    let srv = server(&rec).await;
    let s = Session::login(&srv).await;
    create_vm(&s, "100").await;
    s.ok("POST", "/pools", &[("poolid", "lab")]).await;
    let refused = [
        (
            "PUT",
            "/pools",
            vec![("poolid", "lab"), ("vms", "100,web")],
            "vms",
            "invalid format - value does not look like a valid VM ID\n",
        ),
        (
            "PUT",
            "/pools/lab",
            vec![("storage", "local lvm!")],
            "storage",
            "invalid format - storage ID 'lvm!' contains illegal characters\n",
        ),
        (
            "PUT",
            "/pools",
            vec![("poolid", "lab"), ("allow-move", "yes")],
            "allow-move",
            "type check ('boolean') failed - got 'yes'\n",
        ),
        (
            "GET",
            "/nodes/pve1/tasks",
            vec![("statusfilter", "ok,fine")],
            "statusfilter",
            "invalid format - invalid status 'fine'\n",
        ),
        (
            "GET",
            "/nodes/pve1/tasks",
            vec![("start", "-1")],
            "start",
            "value must have a minimum value of 0\n",
        ),
        (
            "GET",
            "/nodes/pve1/tasks",
            vec![("source", "running")],
            "source",
            "value 'running' does not have a value in the enumeration 'archive, active, all'\n",
        ),
        (
            "POST",
            "/nodes/pve1/vzdump",
            vec![("vmid", "100;99")],
            "vmid",
            "invalid format - value does not look like a valid VM ID\n",
        ),
        (
            "POST",
            "/nodes/pve1/vzdump",
            vec![("all", "1"), ("mode", "live")],
            "mode",
            "value 'live' does not have a value in the enumeration 'snapshot, suspend, stop'\n",
        ),
        (
            "POST",
            "/cluster/backup",
            vec![("schedule", "02:00"), ("all", "1"), ("exclude", "1o1")],
            "exclude",
            "invalid format - value does not look like a valid VM ID\n",
        ),
        (
            "PUT",
            "/cluster/backup/nightly",
            vec![("lockwait", "-5")],
            "lockwait",
            "value must have a minimum value of 0\n",
        ),
        (
            "POST",
            "/cluster/ha/resources",
            vec![("sid", "vm:100"), ("max_restart", "-1")],
            "max_restart",
            "value must have a minimum value of 0\n",
        ),
    ];
    for (method, path, params, name, error) in refused {
        let (status, body) = s.call(method, path, &params).await;
        assert_eq!(status, 400, "{method} {path} {params:?}: {body}");
        assert_eq!(
            body["message"], "Parameter verification failed.\n",
            "{body}"
        );
        assert_eq!(body["errors"][name], error, "{method} {path} {params:?}");
    }
    // Nothing changed: the pool is empty, no backup job, no vzdump task, no HA resource.
    assert_eq!(s.ok("GET", "/cluster/ha/resources", &[]).await, json!([]));
    let lab = s.ok("GET", "/pools/lab", &[]).await;
    assert_eq!(lab["members"], json!([]));
    assert_eq!(s.ok("GET", "/cluster/backup", &[]).await, json!([]));
    let vzdumps = s
        .ok("GET", "/nodes/pve1/tasks", &[("typefilter", "vzdump")])
        .await;
    assert_eq!(vzdumps, json!([]));
    // What fits is decoded: a list with every separator Proxmox splits at.
    s.ok("PUT", "/pools", &[("poolid", "lab"), ("vms", " 100 ;")])
        .await;
    let lab = s.ok("GET", "/pools/lab", &[]).await;
    assert_eq!(lab["members"][0]["id"], "qemu/100");
    let (status, none) = s
        .call("GET", "/nodes/pve1/tasks", &[("statusfilter", "")])
        .await;
    assert_eq!((status, &none["data"]), (200, &json!([])));
    rec.assert_contract();
}

/// A storage's content as pve-storage lists it (`Content.pm` over `volume_list` and the
/// plugin's `list_volumes`): each entry with its `content`, a linked clone's `parent` on a
/// directory, a backup's `subtype`; sorted by volume ID; `vmid` keeps that guest's images and
/// backups; every entry checked against the schema's `returns`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_content_lists_like_pve_storage() {
    let rec = Recorder::default();
    let srv = server(&rec).await;
    let s = Session::login(&srv).await;
    let upid = s
        .ok(
            "POST",
            "/nodes/pve1/qemu",
            &[("vmid", "9000"), ("name", "base"), ("scsi0", "local:1")],
        )
        .await;
    assert_eq!(s.wait("pve1", &upid).await, "OK");
    let upid = s.ok("POST", "/nodes/pve1/qemu/9000/template", &[]).await;
    assert_eq!(s.wait("pve1", &upid).await, "OK");
    let upid = s
        .ok(
            "POST",
            "/nodes/pve1/qemu/9000/clone",
            &[("newid", "101"), ("name", "linked")],
        )
        .await;
    assert_eq!(s.wait("pve1", &upid).await, "OK");
    let upid = s
        .ok(
            "POST",
            "/nodes/pve1/vzdump",
            &[("vmid", "101"), ("notes-template", "{{guestname}}")],
        )
        .await;
    assert_eq!(s.wait("pve1", &upid).await, "OK");

    let content = |params: &'static [(&'static str, &'static str)]| {
        let s = &s;
        async move {
            let list = s
                .ok("GET", "/nodes/pve1/storage/local/content", params)
                .await;
            list.as_array().unwrap().clone()
        }
    };
    let all = content(&[]).await;
    let volids: Vec<&str> = all.iter().map(|v| v["volid"].as_str().unwrap()).collect();
    assert_eq!(volids.len(), 3, "{all:?}");
    assert_eq!(volids[0], "local:9000/base-9000-disk-0.qcow2");
    assert_eq!(
        volids[1],
        "local:9000/base-9000-disk-0.qcow2/101/vm-101-disk-0.qcow2"
    );
    assert!(
        volids[2].starts_with("local:backup/vzdump-qemu-101-"),
        "{volids:?}"
    );
    let (base, clone, backup) = (&all[0], &all[1], &all[2]);
    assert_eq!(
        (&base["content"], &base["format"], &base["vmid"]),
        (&json!("images"), &json!("qcow2"), &json!(9000))
    );
    assert_eq!(base.get("parent"), None);
    assert_eq!(clone["parent"], "../9000/base-9000-disk-0.qcow2");
    assert_eq!(clone["vmid"], 101);
    assert_eq!(
        (&backup["content"], &backup["subtype"], &backup["vmid"]),
        (&json!("backup"), &json!("qemu"), &json!(101))
    );
    assert_eq!(backup["notes"], "linked");
    assert!(backup["ctime"].as_u64().unwrap() > 0 && backup["size"].as_u64().unwrap() > 0);

    // One guest's images and backups; one content type; a type the storage does not hold.
    let of_101: Vec<Value> = content(&[("vmid", "101")]).await;
    assert_eq!(of_101, [clone.clone(), backup.clone()]);
    assert_eq!(
        content(&[("content", "images")]).await,
        [base.clone(), clone.clone()]
    );
    let lvm = s
        .ok(
            "GET",
            "/nodes/pve1/storage/local-lvm/content",
            &[("content", "iso")],
        )
        .await;
    assert_eq!(lvm, json!([]));
    rec.assert_contract();
}
