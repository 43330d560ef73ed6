//! What other clients do with guests over HTTP (issue 13): vzdump archives
//! and restores from them, the guest agent's commands and figures, and HA
//! resources that start and move their guest; every exchange checked
//! against Proxmox's API schema.

mod common;

use common::Recorder;
use common::session::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vzdump_writes_an_archive_that_restores_the_guest() {
    let rec = Recorder::default();
    let srv = server(&rec).await;
    let s = Session::login(&srv).await;
    create_vm(&s, "100").await;
    s.ok(
        "PUT",
        "/nodes/pve1/qemu/100/config",
        &[("net0", "virtio,bridge=vmbr0"), ("tags", "web")],
    )
    .await;

    // Only guests on the node are backed up; none there is a plain OK.
    assert_eq!(
        s.ok("POST", "/nodes/pve2/vzdump", &[("vmid", "100")]).await,
        "OK"
    );
    let (_, wrong) = s
        .call(
            "POST",
            "/nodes/pve1/vzdump",
            &[("vmid", "100"), ("storage", "local-lvm")],
        )
        .await;
    assert_eq!(
        s.wait("pve1", &wrong["data"]).await,
        "can't use storage 'local-lvm' for backups - wrong content type"
    );
    let upid = s
        .ok(
            "POST",
            "/nodes/pve1/vzdump",
            &[
                ("vmid", "100"),
                ("compress", "zstd"),
                ("notes-template", "{{guestname}} on {{node}}"),
                ("protected", "1"),
            ],
        )
        .await;
    assert!(
        upid.as_str().unwrap().contains(":vzdump:100:root@pam:"),
        "{upid}"
    );
    assert_eq!(s.wait("pve1", &upid).await, "OK");
    let log = s
        .ok(
            "GET",
            &format!(
                "/nodes/pve1/tasks/{}/log",
                urlencode(upid.as_str().unwrap())
            ),
            &[],
        )
        .await;
    let lines: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["t"].as_str().unwrap())
        .collect();
    assert!(
        lines.contains(&"INFO: Starting Backup of VM 100 (qemu)"),
        "{lines:?}"
    );
    assert_eq!(lines.last(), Some(&"TASK OK"));

    let backups = s
        .ok(
            "GET",
            "/nodes/pve1/storage/local/content",
            &[("content", "backup")],
        )
        .await;
    let backup = &backups[0];
    let volid = backup["volid"].as_str().unwrap().to_owned();
    assert!(
        volid.starts_with("local:backup/vzdump-qemu-100-") && volid.ends_with(".vma.zst"),
        "{volid}"
    );
    assert_eq!(backup["format"], "vma.zst");
    assert_eq!(backup["subtype"], "qemu");
    assert_eq!(backup["vmid"], 100);
    assert_eq!(backup["notes"], "web on pve1");
    assert_eq!(backup["protected"], 1);

    // Restoring over the guest needs force; a new guest gets the archived config.
    let (_, exists) = s
        .call(
            "POST",
            "/nodes/pve1/qemu",
            &[("vmid", "100"), ("archive", &volid)],
        )
        .await;
    assert_eq!(
        exists["message"],
        "unable to restore VM 100 - VM 100 already exists on node 'pve1'\n"
    );
    let (status, conflict) = s
        .call(
            "POST",
            "/nodes/pve1/qemu",
            &[
                ("vmid", "200"),
                ("archive", &volid),
                ("scsi0", "local-lvm:1"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        conflict["errors"]["scsi0"],
        "option conflicts with option 'archive'\n"
    );
    let upid = s
        .ok(
            "POST",
            "/nodes/pve1/qemu",
            &[
                ("vmid", "200"),
                ("archive", &volid),
                ("storage", "local"),
                ("unique", "1"),
                ("name", "copy"),
            ],
        )
        .await;
    assert!(upid.as_str().unwrap().contains(":qmrestore:200:"), "{upid}");
    assert_eq!(s.wait("pve1", &upid).await, "OK");
    let restored = s.ok("GET", "/nodes/pve1/qemu/200/config", &[]).await;
    let original = s.ok("GET", "/nodes/pve1/qemu/100/config", &[]).await;
    assert_eq!(restored["name"], "copy");
    assert_eq!(restored["tags"], "web");
    assert_eq!(restored["memory"], original["memory"]);
    assert!(
        restored["scsi0"]
            .as_str()
            .unwrap()
            .starts_with("local:200/vm-200-disk-0.qcow2,size=1G"),
        "{restored}"
    );
    assert_ne!(restored["net0"], original["net0"]);
    // Over the stopped original, with force.
    let upid = s
        .ok(
            "POST",
            "/nodes/pve1/qemu",
            &[("vmid", "100"), ("archive", &volid), ("force", "1")],
        )
        .await;
    assert_eq!(s.wait("pve1", &upid).await, "OK");
    let again = s.ok("GET", "/nodes/pve1/qemu/100/config", &[]).await;
    assert_eq!(again["net0"], original["net0"]);
    assert_eq!(again.get("lock"), None);
    rec.assert_contract();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_agent_and_figures_of_a_running_guest() {
    let rec = Recorder::default();
    let srv = server(&rec).await;
    let s = Session::login(&srv).await;
    create_vm(&s, "100").await;
    s.ok("PUT", "/nodes/pve1/qemu/100/config", &[("agent", "1")])
        .await;
    let (status, off) = s
        .call("GET", "/nodes/pve1/qemu/100/agent/get-osinfo", &[])
        .await;
    assert_eq!(
        (status, off["message"].as_str()),
        (500, Some("VM 100 is not running\n"))
    );
    let upid = s.ok("POST", "/nodes/pve1/qemu/100/status/start", &[]).await;
    assert_eq!(s.wait("pve1", &upid).await, "OK");
    let osinfo = loop {
        let (status, body) = s
            .call("GET", "/nodes/pve1/qemu/100/agent/get-osinfo", &[])
            .await;
        if status == 200 {
            break body["data"].clone();
        }
        assert_eq!(body["message"], "QEMU guest agent is not running\n");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    assert_eq!(osinfo["result"]["id"], "debian");
    // `command` repeats, one program argument each.
    let (_, started) = s
        .call(
            "POST",
            "/nodes/pve1/qemu/100/agent/exec",
            &[("command", "echo"), ("command", "a,b"), ("command", "c")],
        )
        .await;
    let pid = started["data"]["pid"].as_u64().unwrap().to_string();
    let status = s
        .ok(
            "GET",
            "/nodes/pve1/qemu/100/agent/exec-status",
            &[("pid", &pid)],
        )
        .await;
    assert_eq!(
        status,
        json!({"exited": 1, "exitcode": 0, "out-data": "a,b c\n"})
    );
    let (_, missing) = s
        .call(
            "POST",
            "/nodes/pve1/qemu/100/agent/exec",
            &[("command", "frobnicate")],
        )
        .await;
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .contains("Failed to execute child process"),
        "{missing}"
    );

    let vms = s.ok("GET", "/nodes/pve1/qemu", &[("full", "1")]).await;
    let vm = &vms[0];
    assert_eq!(vm["status"], "running");
    assert_eq!(vm["qmpstatus"], "running");
    assert_eq!(vm["maxdisk"], 1u64 << 30);
    assert!(vm["netin"].as_u64().unwrap() > 0);
    let resources = s.ok("GET", "/cluster/resources", &[]).await;
    let kinds: std::collections::BTreeSet<&str> = resources
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["network", "node", "qemu", "storage"].into());
    let node = resources
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "node/pve1")
        .unwrap();
    assert_eq!(node["cgroup-mode"], 2);
    let guest = resources
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "qemu/100")
        .unwrap();
    assert!(guest["diskwrite"].as_u64().unwrap() > 0);

    // Permissions: the caller's own, another user's only with Sys.Audit on /access.
    s.ok("POST", "/access/users", &[("userid", "ci@pve")]).await;
    s.ok(
        "PUT",
        "/access/acl",
        &[
            ("path", "/vms/100"),
            ("roles", "PVEVMUser"),
            ("users", "ci@pve"),
        ],
    )
    .await;
    let theirs = s
        .ok("GET", "/access/permissions", &[("userid", "ci@pve")])
        .await;
    assert_eq!(
        theirs.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["/vms/100"]
    );
    assert_eq!(theirs["/vms/100"]["VM.PowerMgmt"], 1);
    let one = s
        .ok(
            "GET",
            "/access/permissions",
            &[("userid", "ci@pve"), ("path", "/storage")],
        )
        .await;
    assert_eq!(one, json!({"/storage": {}}));
    rec.assert_contract();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ha_resources_start_and_move_their_guest() {
    let rec = Recorder::default();
    let srv = server(&rec).await;
    let s = Session::login(&srv).await;
    let upid = s
        .ok(
            "POST",
            "/nodes/pve1/qemu",
            &[("vmid", "100"), ("name", "db"), ("scsi0", "nfs:1")],
        )
        .await;
    assert_eq!(s.wait("pve1", &upid).await, "OK");
    assert_eq!(s.ok("GET", "/cluster/ha/resources", &[]).await, json!([]));
    let (_, missing) = s
        .call("POST", "/cluster/ha/resources", &[("sid", "vm:999")])
        .await;
    assert_eq!(
        missing["message"],
        "resource 'vm:999' does not exist in cluster\n"
    );
    let (_, grouped) = s
        .call(
            "POST",
            "/cluster/ha/resources",
            &[("sid", "100"), ("group", "prefer-pve2")],
        )
        .await;
    assert_eq!(
        grouped["message"],
        "invalid parameter 'group': ha groups have been migrated to rules\n"
    );

    // A bare VMID names the guest; the HA manager starts it.
    s.ok(
        "POST",
        "/cluster/ha/resources",
        &[("sid", "100"), ("max_restart", "2"), ("comment", "primary")],
    )
    .await;
    let (_, twice) = s
        .call("POST", "/cluster/ha/resources", &[("sid", "vm:100")])
        .await;
    assert_eq!(
        twice["message"],
        "create resource failed: resource ID 'vm:100' already defined\n"
    );
    let resource = s.ok("GET", "/cluster/ha/resources/vm:100", &[]).await;
    assert_eq!(resource["sid"], "vm:100");
    assert_eq!(resource["type"], "vm");
    assert_eq!(resource["max_restart"], 2);
    let running = loop {
        let status = s
            .ok("GET", "/nodes/pve1/qemu/100/status/current", &[])
            .await;
        if status["status"] == "running" {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    assert_eq!(running["vmid"], 100);
    let resources = s.ok("GET", "/cluster/resources", &[("type", "vm")]).await;
    assert_eq!(resources[0]["hastate"], "started");

    // Migration: the guest moves to pve2 while it runs.
    let (_, unmanaged) = s
        .call(
            "POST",
            "/cluster/ha/resources/vm:101/migrate",
            &[("node", "pve2")],
        )
        .await;
    assert_eq!(
        unmanaged["message"],
        "resource 'vm:101' is not HA managed\n"
    );
    let answer = s
        .ok(
            "POST",
            "/cluster/ha/resources/vm:100/migrate",
            &[("node", "pve2")],
        )
        .await;
    assert_eq!(answer, json!({"sid": "vm:100", "requested-node": "pve2"}));
    loop {
        let resources = s.ok("GET", "/cluster/resources", &[("type", "vm")]).await;
        if resources[0]["node"] == "pve2" && resources[0]["hastate"] == "started" {
            assert_eq!(resources[0]["status"], "running");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let tasks = s
        .ok("GET", "/nodes/pve1/tasks", &[("typefilter", "qmigrate")])
        .await;
    assert_eq!(tasks[0]["user"], "root@pam");

    // Requesting `stopped` stops it; a stale digest is refused; deleting ends management.
    let digest = resource["digest"].as_str().unwrap().to_owned();
    s.ok(
        "PUT",
        "/cluster/ha/resources/vm:100",
        &[("state", "stopped"), ("delete", "comment")],
    )
    .await;
    let (_, stale) = s
        .call(
            "PUT",
            "/cluster/ha/resources/vm:100",
            &[("state", "started"), ("digest", &digest)],
        )
        .await;
    assert!(
        stale["message"]
            .as_str()
            .unwrap()
            .contains("detected modified configuration"),
        "{stale}"
    );
    loop {
        let status = s
            .ok("GET", "/nodes/pve2/qemu/100/status/current", &[])
            .await;
        if status["status"] == "stopped" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(
        s.ok("GET", "/cluster/ha/resources/vm:100", &[])
            .await
            .get("comment"),
        None
    );
    s.ok("DELETE", "/cluster/ha/resources/vm:100", &[]).await;
    let (_, gone) = s.call("DELETE", "/cluster/ha/resources/vm:100", &[]).await;
    assert_eq!(
        gone["message"],
        "cannot delete service 'vm:100', not HA managed!\n"
    );

    // Groups exist only where they were not migrated to rules.
    let (status, groups) = s.call("GET", "/cluster/ha/groups", &[]).await;
    assert_eq!(
        (status, groups["message"].as_str()),
        (
            500,
            Some("cannot index groups: ha groups have been migrated to rules\n")
        )
    );
    srv.simulator
        .define_ha_group("legacy", &[("nodes", "pve1,pve2")]);
    s.ok(
        "POST",
        "/cluster/ha/groups",
        &[
            ("group", "second"),
            ("nodes", "pve2:2,pve1"),
            ("restricted", "1"),
        ],
    )
    .await;
    let groups = s.ok("GET", "/cluster/ha/groups", &[]).await;
    assert_eq!(groups[1]["group"], "second");
    assert_eq!(groups[1]["restricted"], 1);
    s.ok("PUT", "/cluster/ha/groups/second", &[("comment", "spare")])
        .await;
    assert_eq!(
        s.ok("GET", "/cluster/ha/groups/second", &[]).await["comment"],
        "spare"
    );
    s.ok(
        "POST",
        "/cluster/ha/resources",
        &[("sid", "vm:100"), ("group", "second"), ("state", "stopped")],
    )
    .await;
    let (_, used) = s.call("DELETE", "/cluster/ha/groups/second", &[]).await;
    assert_eq!(
        used["message"],
        "delete ha group failed: ha group is used by service 'vm:100'\n"
    );
    s.ok("DELETE", "/cluster/ha/groups/legacy", &[]).await;
    rec.assert_contract();
}
