//! The real HTTPS client against the simulator's HTTPS server on 127.0.0.1,
//! with every exchange checked against Proxmox's API schema: a VM's life
//! cycle with an API token, task failures, HTTP semantics and TLS pinning.
//! (`http_client.rs` has retries, tickets and the read endpoints.)

mod common;

use common::Recorder;
use common::https::*;
use common::session::{ROOT_PW, server};
use labform_ids::StorageName;
use labform_proxmox::api::ProxmoxApi;
use labform_proxmox::propstring::NetDevice;
use labform_proxmox::task::wait_for_task;
use labform_proxmox::tls::{Fingerprint, TlsTrust};
use labform_proxmox::types::*;
use labform_proxmox::{Auth, Client, ClientOptions, Error, Secret, fetch_fingerprint};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_lifecycle_with_token_over_pinned_https() {
    let rec = Recorder::default();
    let srv = server(&rec).await;
    let root = root_client(&srv);
    assert_eq!(root.version().await.unwrap().release, "9.1");
    assert_eq!(
        fetch_fingerprint(&srv.https_url()).await.unwrap(),
        srv.fingerprint
    );

    // A privilege-separated token with its own ACLs.
    root.create_user(&CreateUser {
        userid: "ci@pve".into(),
        password: None,
        comment: Some("labform".into()),
    })
    .await
    .unwrap();
    let tok = root
        .create_token("ci@pve", "deploy", &CreateToken::default())
        .await
        .unwrap();
    for (subject_users, subject_tokens) in [
        (vec!["ci@pve".to_owned()], vec![]),
        (vec![], vec!["ci@pve!deploy".to_owned()]),
    ] {
        for (path, role) in [
            ("/vms", "PVEVMAdmin"),
            ("/storage", "PVEDatastoreUser"),
            ("/sdn", "PVESDNUser"),
        ] {
            root.update_acl(&AclUpdate {
                path: path.into(),
                roles: vec![role.into()],
                users: subject_users.clone(),
                tokens: subject_tokens.clone(),
                propagate: true,
                delete: false,
            })
            .await
            .unwrap();
        }
    }
    let api = Client::new(fast(ClientOptions::new(
        srv.https_url(),
        Auth::Token {
            token_id: tok.full_tokenid.clone(),
            secret: tok.value.clone(),
        },
        pin(&srv),
    )))
    .unwrap();

    // Cloud image flow: download (as root), import, template, linked clone.
    let url = serve_bytes(b"not really a qcow2 image").await;
    let u = root
        .download_url(
            &n1(),
            &StorageName::new("local"),
            &DownloadUrl {
                url,
                content: "import".into(),
                filename: "noble.qcow2".into(),
                checksum: None,
                compression: None,
            },
        )
        .await
        .unwrap();
    wait_for_task(&root, &u, wait()).await.unwrap();
    let vmid = api.next_vmid(None).await.unwrap();
    assert_eq!(vmid.get(), 100);
    let create = CreateVm::new(id(9000))
        .with("name", "noble-template")
        .with("memory", 2048)
        .with("cores", 2)
        .with("scsihw", "virtio-scsi-single")
        .with(
            "scsi0",
            "local-lvm:0,import-from=local:import/noble.qcow2,discard=on",
        )
        .with("ide2", "local-lvm:cloudinit")
        .with("net0", "virtio,bridge=vmbr0")
        .with("agent", "enabled=1");
    let u = api.create_vm(&n1(), &create).await.unwrap();
    wait_for_task(&api, &u, wait()).await.unwrap();
    // The token cannot see root's tasks, root can see the token's.
    let e = api.task_status(&srv_upid(&root).await).await.unwrap_err();
    assert_eq!(
        e.api().unwrap().message,
        "Permission check failed (/nodes/pve1, Sys.Audit)"
    );
    root.task_status(&u).await.unwrap();
    let u = api.convert_to_template(&n1(), id(9000)).await.unwrap();
    wait_for_task(&api, &u, wait()).await.unwrap();

    let mut clone = CloneVm::new(vmid);
    clone.name = Some("k8s-cp-1".into());
    let u = api.clone_vm(&n1(), id(9000), &clone).await.unwrap();
    assert_eq!(u.user, "ci@pve!deploy");
    let st = wait_for_task(&api, &u, wait()).await.unwrap();
    assert_eq!(st.tokenid.as_deref(), Some("deploy"));
    let cfg = api.vm_config(&n1(), vmid, false).await.unwrap();
    assert_eq!(cfg.name(), Some("k8s-cp-1"));
    let nets = cfg.nets().unwrap();
    assert_eq!(nets[0].1.bridge.as_deref(), Some("vmbr0"));

    // Cloud-init settings through the async config endpoint, with a digest.
    let update = ConfigUpdate::new()
        .set("ipconfig0", "ip=10.0.0.5/24,gw=10.0.0.1")
        .set("ciuser", "labform")
        .set("cipassword", "s3cret")
        .ssh_keys(&["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB+x/y= me@host"])
        .digest(cfg.digest.clone());
    let u = api.update_vm_config(&n1(), vmid, &update).await.unwrap();
    wait_for_task(&api, &u, wait()).await.unwrap();
    let cfg = api.vm_config(&n1(), vmid, false).await.unwrap();
    assert_eq!(cfg.get("cipassword"), Some("**********"));
    assert_eq!(
        cfg.get("sshkeys"),
        Some("ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIB%2Bx%2Fy%3D%20me%40host")
    );
    let e = api
        .update_vm_config_sync(&n1(), vmid, &update)
        .await
        .unwrap_err();
    assert_eq!(
        e.api().unwrap().message,
        "checksum mismatch (file change by other user?)"
    );

    let u = api.vm_action(&n1(), vmid, VmAction::Start).await.unwrap();
    wait_for_task(&api, &u, wait()).await.unwrap();
    assert_eq!(api.vm_status(&n1(), vmid).await.unwrap().status, "running");
    // Poll the guest agent until it answers (it needs a few simulated seconds).
    let mut ifs = None;
    for _ in 0..2000 {
        match api.agent_network_interfaces(&n1(), vmid).await {
            Ok(i) => {
                ifs = Some(i);
                break;
            }
            Err(e) => {
                assert_eq!(e.api().unwrap().message, "QEMU guest agent is not running");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    let ifs = ifs.expect("agent never answered");
    api.agent_ping(&n1(), vmid).await.unwrap();
    let eth0 = ifs.iter().find(|i| i.name == "eth0").unwrap();
    let mac = NetDevice::parse(cfg.get("net0").unwrap())
        .unwrap()
        .macaddr
        .unwrap();
    assert_eq!(
        eth0.hardware_address.as_deref(),
        Some(mac.to_lower().as_str())
    );
    assert_eq!(eth0.ip_addresses.as_ref().unwrap()[0].address, "10.0.0.5");

    // Snapshots and a seed ISO upload through the real client.
    let u = api
        .create_snapshot(&n1(), vmid, "booted", Some("after first boot"))
        .await
        .unwrap();
    wait_for_task(&api, &u, wait()).await.unwrap();
    let snaps = api.list_snapshots(&n1(), vmid).await.unwrap();
    assert_eq!(
        snaps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["booted", "current"]
    );
    let u = api.delete_snapshot(&n1(), vmid, "booted").await.unwrap();
    wait_for_task(&api, &u, wait()).await.unwrap();
    // Larger than axum's default 2 MiB body limit and pve-http-server's 512 KiB form limit.
    let iso = Upload {
        content: "iso".into(),
        filename: format!("seed-{vmid}.iso"),
        data: vec![7u8; 3 << 20],
    };
    let u = root
        .upload(&n1(), &StorageName::new("local"), &iso)
        .await
        .unwrap();
    wait_for_task(&root, &u, wait()).await.unwrap();
    let isos = root
        .storage_content(&n1(), &StorageName::new("local"), Some("iso"))
        .await
        .unwrap();
    assert_eq!(isos[0].volid, format!("local:iso/seed-{vmid}.iso"));
    assert_eq!(isos[0].size, 3 << 20);
    let u = root
        .delete_volume(&n1(), &StorageName::new("local"), &isos[0].volid)
        .await
        .unwrap();
    assert_eq!(u.task_type, "imgdel");
    wait_for_task(&root, &u, wait()).await.unwrap();
    assert!(
        root.storage_content(&n1(), &StorageName::new("local"), Some("iso"))
            .await
            .unwrap()
            .is_empty()
    );
    root.create_pool("lab", Some("test lab")).await.unwrap();
    let e = root.create_pool("lab", None).await.unwrap_err();
    assert_eq!(
        e.api().unwrap().message,
        "create pool failed: pool 'lab' already exists"
    );
    let mut c2 = CloneVm::new(id(777));
    c2.pool = Some("lab".into());
    let u = root.clone_vm(&n1(), id(9000), &c2).await.unwrap();
    wait_for_task(&root, &u, wait()).await.unwrap();
    let pools = root.pools().await.unwrap();
    assert_eq!(pools[0].poolid, "lab");
    // Like Proxmox (`PVE/API2/Pool.pm`), the listing names the members only
    // for one pool (`GET /pools?poolid=lab`; tests/client_endpoints.rs).
    assert_eq!(pools[0].members, None);
    let pool = srv
        .simulator
        .with_state(|st| st.pools.get("lab").map(|p| p.vms.clone()));
    assert_eq!(pool, Some([777].into()));

    let res = api.cluster_resources(None).await.unwrap();
    assert!(
        res.iter()
            .any(|r| r.id == format!("qemu/{vmid}") && r.status.as_deref() == Some("running"))
    );
    assert!(res.iter().any(|r| r.id == "storage/pve1/local-lvm"));
    let e = api
        .delete_vm(&n1(), vmid, DeleteVm::default())
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(500));
    let u = api
        .vm_action(&n1(), vmid, VmAction::Shutdown)
        .await
        .unwrap();
    wait_for_task(&api, &u, wait()).await.unwrap();
    let u = api
        .delete_vm(
            &n1(),
            vmid,
            DeleteVm {
                purge: true,
                destroy_unreferenced_disks: true,
            },
        )
        .await
        .unwrap();
    wait_for_task(&api, &u, wait()).await.unwrap();
    let log = api.task_log(&u, 0, 50).await.unwrap();
    assert_eq!(log.lines.last().unwrap().t, "TASK OK");
    assert_eq!(log.total, log.lines.len() as u64);
    rec.assert_contract();
    // The password never reached the log of exchanges.
    assert!(rec.all().iter().all(|x| !x.params.contains_key("password")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_failures_carry_exit_status_and_log() {
    let rec = Recorder::default();
    let srv = server(&rec).await;
    let root = root_client(&srv);
    let u = root
        .create_vm(&n1(), &CreateVm::new(id(100)).with("scsi0", "local-lvm:1"))
        .await
        .unwrap();
    wait_for_task(&root, &u, wait()).await.unwrap();
    let mut req = CloneVm::new(id(101));
    req.full = Some(false);
    let u = root.clone_vm(&n1(), id(100), &req).await.unwrap();
    match wait_for_task(&root, &u, wait()).await {
        Err(Error::TaskFailed {
            exitstatus,
            log,
            upid,
        }) => {
            assert_eq!(upid, u.to_string());
            assert_eq!(
                exitstatus,
                "clone failed: Linked clone feature is not supported for 'local-lvm:vm-100-disk-0' (scsi0)"
            );
            assert_eq!(log.last().unwrap(), &format!("TASK ERROR: {exitstatus}"));
        }
        other => panic!("{other:?}"),
    }
    rec.assert_contract();
}

/// Starts a task as root and returns its UPID.
async fn srv_upid(root: &Client) -> labform_proxmox::Upid {
    let u = root
        .create_vm(&n1(), &CreateVm::new(id(150)))
        .await
        .unwrap();
    wait_for_task(root, &u, wait()).await.unwrap();
    u
}

async fn raw(addr: SocketAddr, request: String) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_semantics_match_proxmox() {
    let rec = Recorder::default();
    let srv = server(&rec).await;
    let http = srv.http_addr.unwrap();
    let base = format!("http://{http}/api2/json");
    labform_proxmox::tls::install_default_provider();
    let c = reqwest::Client::new();

    // No credentials: 401, empty body, reason phrase.
    let r = raw(
        http,
        "GET /api2/json/nodes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 401 No ticket\r\n"), "{r}");
    assert!(
        r.ends_with("\r\n\r\n"),
        "401 before the handler has an empty body: {r}"
    );
    // Login with a form body.
    let login = c
        .post(format!("{base}/access/ticket"))
        .body(format!("username=root%40pam&password={ROOT_PW}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let j: serde_json::Value = login.json().await.unwrap();
    let ticket = j["data"]["ticket"].as_str().unwrap().to_owned();
    let csrf = j["data"]["CSRFPreventionToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(ticket.starts_with("PVE:root@pam:"));
    let bad = c
        .post(format!("{base}/access/ticket"))
        .form(&[("username", "root@pam"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let cookie = format!("PVEAuthCookie={ticket}");

    let forged = raw(
        http,
        "GET /api2/json/nodes HTTP/1.1\r\nHost: x\r\nCookie: PVEAuthCookie=PVE:root@pam:66A1B2C3::Zm9yZ2Vk\r\nConnection: close\r\n\r\n"
            .into(),
    )
    .await;
    assert!(
        forged.starts_with("HTTP/1.1 401 permission denied - invalid PVE ticket\r\n"),
        "{forged}"
    );
    // Unknown path: 501 with Proxmox's message.
    let r = c
        .get(format!("{base}/nodes/pve1/lxc"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 501);
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        j,
        serde_json::json!({"data": null, "message": "Method 'GET /nodes/pve1/lxc' not implemented\n"})
    );
    // Write without CSRF token.
    let r = c
        .post(format!("{base}/nodes/pve1/qemu"))
        .header("cookie", &cookie)
        .form(&[("vmid", "100")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // With CSRF: created; JSON bodies work too.
    let r = c
        .post(format!("{base}/nodes/pve1/qemu"))
        .header("cookie", &cookie)
        .header("CSRFPreventionToken", &csrf)
        .json(&serde_json::json!({"vmid": 100, "name": "raw", "onboot": true, "cores": "2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let j: serde_json::Value = r.json().await.unwrap();
    assert!(j["data"].as_str().unwrap().starts_with("UPID:pve1:"));
    // Form booleans must be 0/1; unknown parameters are rejected.
    let r = c
        .put(format!("{base}/nodes/pve1/qemu/100/config"))
        .header("cookie", &cookie)
        .header("CSRFPreventionToken", &csrf)
        .body("onboot=true&bogus=1")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["message"], "Parameter verification failed.\n");
    assert_eq!(
        j["errors"]["onboot"],
        "type check ('boolean') failed - got 'true'\n"
    );
    assert_eq!(
        j["errors"]["bogus"],
        "property is not defined in schema and the schema does not allow additional properties\n"
    );
    // Missing VM: 500, the reason phrase is the message.
    let r = raw(
        http,
        format!("GET /api2/json/nodes/pve1/qemu/999/config HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(
        r.starts_with(
            "HTTP/1.1 500 Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist\r\n"
        ),
        "{r}"
    );
    assert!(r.contains("Server: pve-api-daemon/3.0") || r.contains("server: pve-api-daemon/3.0"));
    // Body on GET.
    let r = c
        .get(format!("{base}/version"))
        .header("cookie", &cookie)
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 501);
    // Path/body conflict.
    let r = c
        .post(format!("{base}/nodes/pve1/qemu/100/config"))
        .header("cookie", &cookie)
        .header("CSRFPreventionToken", &csrf)
        .form(&[("vmid", "101")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Parameters the simulator does not model are refused, not ignored.
    let r = c
        .put(format!("{base}/access/acl"))
        .header("cookie", &cookie)
        .header("CSRFPreventionToken", &csrf)
        .form(&[("path", "/"), ("roles", "PVEAuditor"), ("groups", "admins")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 501);
    // Tokens are refused where Proxmox refuses them.
    let root = root_client(&srv);
    let tok = root
        .create_token(
            "root@pam",
            "t1",
            &CreateToken {
                privsep: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let r = c
        .post(format!("{base}/access/ticket"))
        .header(
            "authorization",
            format!("PVEAPIToken={}={}", tok.full_tokenid, tok.value.expose()),
        )
        .form(&[("username", "root@pam"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "login ignores tokens and checks the password"
    );
    let r = c
        .get(format!("{base}/cluster/nextid"))
        .header(
            "authorization",
            format!("PVEAPIToken={}={}", tok.full_tokenid, tok.value.expose()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["data"],
        serde_json::json!(101)
    );
    rec.assert_contract();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_pinning_rejects_other_certificates() {
    let rec = Recorder::default();
    let srv = server(&rec).await;
    let auth = Auth::Password {
        username: "root@pam".into(),
        password: Secret::new(ROOT_PW),
    };
    let wrong = TlsTrust::Fingerprint(Fingerprint([7; 32]));
    let c = Client::new(fast(ClientOptions::new(
        srv.https_url(),
        auth.clone(),
        wrong,
    )))
    .unwrap();
    let e = c.version().await.unwrap_err();
    let chain = error_chain(&e);
    assert!(
        chain.contains("certificate fingerprint mismatch"),
        "{chain}"
    );
    assert!(!chain.contains(ROOT_PW));
    let c = Client::new(fast(ClientOptions::new(
        srv.https_url(),
        auth,
        TlsTrust::SystemRoots,
    )))
    .unwrap();
    let e = c.version().await.unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    assert!(!format!("{c:?}").contains(ROOT_PW));
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(" / ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
