//! The endpoints other clients use beside labform (issue 13): pools, the
//! storage configuration, one user, node networks, SDN, the task list's
//! filters, backups and HA, called over HTTP the way those clients call
//! them, with every exchange checked against Proxmox's API schema.

mod common;

use common::Recorder;
use labform_proxmox::Secret;
use labform_simulator::server::{RunningServer, ServerOptions, start};
use labform_simulator::{SimConfig, Simulator, Timing};
use serde_json::{Value, json};
use std::net::SocketAddr;

const ROOT_PW: &str = "sim-root-password";

/// A root session over plain HTTP: a ticket and its CSRF token.
struct Session {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Session {
    async fn login(server: &RunningServer) -> Self {
        labform_proxmox::tls::install_default_provider();
        let http = reqwest::Client::new();
        let base = format!("http://{}/api2/json", server.http_addr.unwrap());
        let login: Value = http
            .post(format!("{base}/access/ticket"))
            .form(&[("username", "root@pam"), ("password", ROOT_PW)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            cookie: format!(
                "PVEAuthCookie={}",
                login["data"]["ticket"].as_str().unwrap()
            ),
            csrf: login["data"]["CSRFPreventionToken"]
                .as_str()
                .unwrap()
                .to_owned(),
            http,
            base,
        }
    }

    /// `method path` with form `params`: the status and the JSON body.
    async fn call(&self, method: &str, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url).query(params),
            "DELETE" => self.http.delete(url).query(params),
            "POST" => self.http.post(url).form(params),
            _ => self.http.put(url).form(params),
        };
        let response = request
            .header("cookie", &self.cookie)
            .header("CSRFPreventionToken", &self.csrf)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The `data` of a call that must succeed.
    async fn ok(&self, method: &str, path: &str, params: &[(&str, &str)]) -> Value {
        let (status, body) = self.call(method, path, params).await;
        assert_eq!(status, 200, "{method} {path}: {body}");
        body["data"].clone()
    }

    /// The status and message of a call that must fail.
    async fn fails(&self, method: &str, path: &str, params: &[(&str, &str)]) -> (u16, String) {
        let (status, body) = self.call(method, path, params).await;
        assert_ne!(status, 200, "{method} {path} succeeded: {body}");
        let message = body["message"].as_str().unwrap_or("").trim_end().to_owned();
        (status, message)
    }

    /// Waits until task `upid` has stopped; its exit status.
    async fn wait(&self, node: &str, upid: &Value) -> String {
        let upid = upid.as_str().unwrap();
        let path = format!("/nodes/{node}/tasks/{}/status", urlencode(upid));
        loop {
            let status = self.ok("GET", &path, &[]).await;
            if status["status"] == "stopped" {
                return status["exitstatus"].as_str().unwrap().to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn server(rec: &Recorder) -> RunningServer {
    let mut config = SimConfig::cluster(2, Secret::new(ROOT_PW));
    config.timing = Timing::scaled(0.001);
    let sim = Simulator::new(config);
    let options = ServerOptions {
        https: None,
        http: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        observer: Some(rec.observer()),
    };
    start(sim, options).await.unwrap()
}

/// Creates VM `vmid` on pve1 with a 1 GiB disk and waits for it.
async fn create_vm(s: &Session, vmid: &str) {
    let upid = s
        .ok(
            "POST",
            "/nodes/pve1/qemu",
            &[
                ("vmid", vmid),
                ("name", "web"),
                ("memory", "1024"),
                ("scsi0", "local-lvm:1"),
            ],
        )
        .await;
    assert_eq!(s.wait("pve1", &upid).await, "OK");
}

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
