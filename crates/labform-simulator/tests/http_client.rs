//! The real HTTPS client against the simulator's HTTPS server on 127.0.0.1,
//! with every exchange checked against Proxmox's API schema: safe retries and
//! ticket renewal, the read endpoints' data, and pool-confined tokens.

mod common;

use common::Recorder;
use common::https::*;
use common::session::{ROOT_PW, Session, server};
use labform_proxmox::api::ProxmoxApi;
use labform_proxmox::task::wait_for_task;
use labform_proxmox::types::*;
use labform_proxmox::{Auth, Client, ClientOptions, Error, Secret};
use labform_simulator::{Fault, FaultConfig, FaultRule};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_only_where_safe_and_tickets_renew() {
    let rec = Recorder::default();
    let srv = server(&rec).await;
    let root = root_client(&srv);
    let count = |m: &str, t: &str| {
        rec.all()
            .iter()
            .filter(|x| x.method == m && x.template.as_deref() == Some(t))
            .count()
    };
    srv.simulator.set_faults(FaultConfig {
        seed: Some(1),
        rules: vec![
            FaultRule {
                endpoint: "GET /nodes".into(),
                probability: 1.0,
                times: Some(2),
                fault: Fault::Proxy595,
            },
            FaultRule {
                endpoint: "POST /nodes/{node}/qemu".into(),
                probability: 1.0,
                times: Some(1),
                fault: Fault::Status {
                    status: 500,
                    message: "unexpected failure".into(),
                },
            },
            FaultRule {
                endpoint: "PUT /nodes/{node}/qemu/{vmid}/config".into(),
                probability: 1.0,
                times: Some(1),
                fault: Fault::LockTimeout,
            },
        ],
        task_failures: vec![],
    });
    // Read with two 595s: retried, succeeds on the third attempt.
    assert_eq!(root.nodes().await.unwrap().len(), 2);
    assert_eq!(count("GET", "/nodes"), 3);
    // A read that failed with a handler error (500) is not retried.
    root.vm_config(&n1(), id(999), false).await.unwrap_err();
    assert_eq!(count("GET", "/nodes/{node}/qemu/{vmid}/config"), 1);
    // A write that failed for an unknown reason is not retried.
    let e = root
        .create_vm(&n1(), &CreateVm::new(id(100)))
        .await
        .unwrap_err();
    assert_eq!(e.api().unwrap().message, "unexpected failure");
    assert_eq!(count("POST", "/nodes/{node}/qemu"), 1);
    let u = root
        .create_vm(&n1(), &CreateVm::new(id(100)))
        .await
        .unwrap();
    wait_for_task(&root, &u, wait()).await.unwrap();
    // A lock timeout means nothing was done: retried.
    root.update_vm_config_sync(&n1(), id(100), &ConfigUpdate::new().set("cores", 2))
        .await
        .unwrap();
    assert_eq!(count("PUT", "/nodes/{node}/qemu/{vmid}/config"), 2);

    // Ticket renewal: with a zero renewal age every call renews the ticket
    // (POST /access/ticket with the current ticket as password).
    let mut o = ClientOptions::new(
        srv.https_url(),
        Auth::Password {
            username: "root@pam".into(),
            password: Secret::new(ROOT_PW),
        },
        pin(&srv),
    );
    o.ticket_renew_after = Duration::ZERO;
    let c = Client::new(fast(o)).unwrap();
    let before = count("POST", "/access/ticket");
    c.version().await.unwrap();
    c.version().await.unwrap();
    c.update_vm_config_sync(&n1(), id(100), &ConfigUpdate::new().set("cores", 3))
        .await
        .unwrap();
    assert_eq!(
        count("POST", "/access/ticket") - before,
        3,
        "one login and two renewals"
    );
    rec.assert_contract();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_endpoints_answer_schema_shaped_data() {
    let rec = Recorder::default();
    let srv = server(&rec).await;
    let root = root_client(&srv);
    let create = CreateVm::new(id(100))
        .with("name", "ci-vm")
        .with("scsi0", "local-lvm:1")
        .with("ide2", "local-lvm:cloudinit")
        .with("net0", "virtio,bridge=vmbr0")
        .with("ipconfig0", "ip=10.0.0.9/24,gw=10.0.0.1")
        .with("nameserver", "10.0.0.1 1.1.1.1")
        .with("searchdomain", "lab.example")
        .with("ciuser", "ops");
    let u = root.create_vm(&n1(), &create).await.unwrap();
    wait_for_task(&root, &u, wait()).await.unwrap();
    let u = root
        .vm_action(&n1(), id(100), VmAction::Start)
        .await
        .unwrap();
    wait_for_task(&root, &u, wait()).await.unwrap();
    root.update_vm_config_sync(&n1(), id(100), &ConfigUpdate::new().set("ciuser", "admin"))
        .await
        .unwrap();
    root.create_user(&CreateUser {
        userid: "bob@pve".into(),
        password: None,
        comment: None,
    })
    .await
    .unwrap();
    root.create_token("bob@pve", "tk", &CreateToken::default())
        .await
        .unwrap();
    root.update_acl(&AclUpdate {
        path: "/vms/100".into(),
        roles: vec!["PVEAuditor".into()],
        users: vec!["bob@pve".into()],
        tokens: vec![],
        propagate: true,
        delete: false,
    })
    .await
    .unwrap();

    let session = Session::login(&srv).await;
    let get = |path: &'static str| {
        let session = &session;
        async move {
            let (status, body) = session.call("GET", path, &[]).await;
            assert_eq!(status, 200, "{path}");
            body
        }
    };
    let user = get("/nodes/pve1/qemu/100/cloudinit/dump?type=user").await;
    let user = user["data"].as_str().unwrap();
    assert!(user.starts_with("#cloud-config\nhostname: ci-vm\nmanage_etc_hosts: true\nfqdn: ci-vm.lab.example\nuser: admin\n"), "{user}");
    let net = get("/nodes/pve1/qemu/100/cloudinit/dump?type=network").await;
    let net = net["data"].as_str().unwrap();
    assert!(
        net.contains(
            "address: '10.0.0.9'\n        netmask: '255.255.255.0'\n        gateway: '10.0.0.1'"
        ),
        "{net}"
    );
    assert!(net.contains("      - '1.1.1.1'\n"), "{net}");
    let meta = get("/nodes/pve1/qemu/100/cloudinit/dump?type=meta").await;
    assert!(meta["data"].as_str().unwrap().starts_with("instance-id: "));
    // ciuser changed after the image was generated at start: pending.
    let ci = get("/nodes/pve1/qemu/100/cloudinit").await;
    let ciuser = ci["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "ciuser")
        .unwrap()
        .clone();
    assert_eq!(
        ciuser,
        serde_json::json!({"key": "ciuser", "value": "ops", "pending": "admin"})
    );
    let tasks = get("/nodes/pve1/tasks?vmid=100").await;
    assert_eq!(tasks["total"], 2);
    assert_eq!(tasks["data"][0]["type"], "qmstart");
    assert_eq!(tasks["data"][0]["status"], "OK");
    let all = get("/cluster/tasks").await;
    assert!(all["data"].as_array().unwrap().len() >= 2);
    let ns = get("/nodes/pve1/status").await;
    assert_eq!(ns["data"]["memory"]["total"], 64u64 << 30);
    assert_eq!(ns["data"]["cpuinfo"]["cpus"], 16);
    let status = get("/cluster/status").await;
    assert_eq!(status["data"][0]["type"], "cluster");
    let st = get("/nodes/pve1/storage/local-lvm/status").await;
    assert_eq!(st["data"]["type"], "lvmthin");
    let acl = get("/access/acl").await;
    assert_eq!(acl["data"][0]["ugid"], "bob@pve");
    let roles = get("/access/roles").await;
    assert!(
        roles["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["roleid"] == "PVEVMAdmin")
    );
    let perms = get("/access/permissions?path=/vms/100").await;
    assert_eq!(perms["data"]["/vms/100"]["VM.Allocate"], 1);
    let users = get("/access/users").await;
    assert_eq!(users["data"].as_array().unwrap().len(), 2);
    let toks = get("/access/users/bob@pve/token").await;
    assert_eq!(toks["data"][0]["tokenid"], "tk");
    assert_eq!(toks["data"][0]["privsep"], 1);
    rec.assert_contract();
}

/// Two tenants, each a user with a privilege-separated token and PVEVMAdmin on its pool only:
/// the listings of users (with tokens), a user's tokens and the ACL, the 403s a token gets on the
/// other pool's VM, and deleting a token and a user (which drop their ACL entries), every exchange
/// within the schema.
#[tokio::test]
async fn pool_confined_tokens_and_access_listings_follow_the_schema() {
    let rec = Recorder::default();
    let srv = server(&rec).await;
    let root = root_client(&srv);
    let mut tokens = Vec::new();
    for (tenant, vmid) in [("a", 100), ("b", 101)] {
        let user = format!("t-{tenant}@pve");
        root.create_pool(&format!("pool-{tenant}"), None)
            .await
            .unwrap();
        let mut create = CreateVm::new(id(vmid)).with("memory", 512);
        create.pool = Some(format!("pool-{tenant}"));
        let upid = root.create_vm(&n1(), &create).await.unwrap();
        wait_for_task(&root, &upid, wait()).await.unwrap();
        root.create_user(&CreateUser {
            userid: user.clone(),
            password: None,
            comment: Some(format!("tenant {tenant}")),
        })
        .await
        .unwrap();
        let created = root
            .create_token(
                &user,
                "labform",
                &CreateToken {
                    privsep: Some(true),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        root.update_acl(&AclUpdate {
            path: format!("/pool/pool-{tenant}"),
            roles: vec!["PVEVMAdmin".into()],
            users: vec![user.clone()],
            tokens: vec![created.full_tokenid.clone()],
            propagate: true,
            delete: false,
        })
        .await
        .unwrap();
        tokens.push(created);
    }
    let users = root.users().await.unwrap();
    let a = users.iter().find(|user| user.userid == "t-a@pve").unwrap();
    assert_eq!(a.comment.as_deref(), Some("tenant a"));
    assert_eq!(a.tokens.len(), 1);
    assert!(a.tokens[0].privilege_separated());
    assert_eq!(
        root.user_tokens("t-b@pve").await.unwrap()[0].tokenid,
        "labform"
    );
    assert_eq!(root.acl().await.unwrap().len(), 4);

    let tenant_a = Client::new(fast(ClientOptions::new(
        srv.https_url(),
        Auth::Token {
            token_id: tokens[0].full_tokenid.clone(),
            secret: tokens[0].value.clone(),
        },
        pin(&srv),
    )))
    .unwrap();
    let seen: Vec<Option<u64>> = tenant_a
        .cluster_resources(Some(ResourceType::Vm))
        .await
        .unwrap()
        .iter()
        .map(|resource| resource.vmid)
        .collect();
    assert_eq!(seen, [Some(100)]);
    tenant_a.vm_config(&n1(), id(100), false).await.unwrap();
    let refused = |e: Error| e.api().unwrap().message.trim_end().to_owned();
    assert_eq!(
        refused(tenant_a.vm_config(&n1(), id(101), false).await.unwrap_err()),
        "Permission check failed (/vms/101, VM.Audit)"
    );
    assert_eq!(
        refused(
            tenant_a
                .vm_action(&n1(), id(101), VmAction::Start)
                .await
                .unwrap_err()
        ),
        "Permission check failed (/vms/101, VM.PowerMgmt)"
    );
    let mut clone = CloneVm::new(id(102));
    clone.pool = Some("pool-b".into());
    assert_eq!(
        refused(tenant_a.clone_vm(&n1(), id(100), &clone).await.unwrap_err()),
        "Permission check failed"
    );
    // A token lists no users but its own user's, and no ACL entries.
    let own: Vec<String> = tenant_a
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|user| user.userid)
        .collect();
    assert_eq!(own, ["t-a@pve"]);
    assert!(tenant_a.acl().await.unwrap().is_empty());
    assert_eq!(
        refused(tenant_a.user_tokens("t-b@pve").await.unwrap_err()),
        "Permission check failed"
    );

    // Deleting a token drops its ACL entries; deleting a user drops the rest.
    root.delete_token("t-a@pve", "labform").await.unwrap();
    assert_eq!(
        refused(root.delete_token("t-a@pve", "labform").await.unwrap_err()),
        "no such token 'labform' for user 't-a@pve'"
    );
    assert_eq!(root.acl().await.unwrap().len(), 3);
    root.delete_user("t-b@pve").await.unwrap();
    let left: Vec<String> = root
        .acl()
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.ugid)
        .collect();
    assert_eq!(left, ["t-a@pve"]);
    assert!(
        root.users()
            .await
            .unwrap()
            .iter()
            .all(|user| user.userid != "t-b@pve")
    );
    rec.assert_contract();
}
