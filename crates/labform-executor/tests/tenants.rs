//! Multi-tenancy against the simulator over HTTPS: apply gives each tenant of seed 000 a Proxmox
//! user and a privilege-separated API token limited to its pool, keeps the token's secret in the
//! secret store, and with that token (through the real client) a tenant sees and operates its own
//! VMs while every look at or touch of another tenant's VM is refused with Proxmox's 403. A
//! second apply writes nothing; a lost secret gives a new token; a tenant that leaves the lab
//! loses its ACL entries, token and user, and nobody else's user is touched.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::*;
use labform_executor::Journal;
use labform_executor::events::Event;
use labform_executor::tenants::token_store_key;
use labform_ids::VmId;
use labform_planner::plan::PlannedVm;
use labform_planner::tenancy::{tenant_token, tenant_user};
use labform_proxmox::task::wait_for_task;
use labform_proxmox::types::{CloneVm, CreateUser, DeleteVm, ResourceType, VmAction};
use labform_proxmox::{Auth, Client, ClientOptions, ProxmoxApi, Secret};
use labform_secrets::ExposeSecret;

/// A client that authenticates with `tenant`'s token, its secret read from the store.
fn tenant_client(served: &Served, scope: &str, endpoint: &str, tenant: &str) -> Client {
    let key = token_store_key(scope, endpoint, tenant).unwrap();
    let secret = SECRETS
        .1
        .get(&key)
        .unwrap()
        .unwrap_or_else(|| panic!("no secret stored for {tenant}"));
    let fingerprint = labform_proxmox::tls::Fingerprint::parse(&served.server.fingerprint).unwrap();
    Client::new(ClientOptions::new(
        served.server.https_url(),
        Auth::Token {
            token_id: tenant_token(scope, tenant),
            secret: Secret::new(secret.expose_secret()),
        },
        labform_proxmox::tls::TlsTrust::Fingerprint(fingerprint),
    ))
    .unwrap()
}

fn message(error: labform_proxmox::Error) -> (u16, String) {
    let api = error
        .api()
        .unwrap_or_else(|| panic!("not an API error: {error}"));
    (api.status, api.message.trim_end().to_owned())
}

fn tenant_kinds(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::ActionFinished {
                kind,
                target,
                outcome,
                ..
            } if kind.contains("tenant") => Some(format!("{kind} {target} {outcome}")),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_token_sees_and_operates_only_its_own_pool() {
    let mut lab = load_lab("../../examples/seed-000.yaml");
    let endpoint = lab.proxmox[0].name.clone();
    let served = serve(simulator_for(&lab, 0.001)).await;
    let admin = served.client.clone();
    let journal = Arc::new(Journal::in_memory());

    let first = cycle(&lab, admin.clone(), journal.clone(), fast_options()).await;
    assert!(first.report.failed.is_empty(), "{:#?}", first.report.failed);
    let scope = first.plan.scope.clone();
    let steps = tenant_kinds(&first.events.0.lock().unwrap());
    for tenant in ["alice", "bob"] {
        let user = tenant_user(&scope, tenant);
        let token = tenant_token(&scope, tenant);
        for expected in [
            format!("create-tenant-user {user} ok"),
            format!("create-tenant-token {token} ok"),
            format!("grant-tenant-acl /pool/seed-000-{tenant} PVEVMAdmin {user} ok"),
            format!("grant-tenant-acl /pool/seed-000-{tenant} PVEVMAdmin {token} ok"),
        ] {
            assert!(steps.contains(&expected), "{expected} in {steps:#?}");
        }
    }
    // The plan names the same token.
    let planned: Vec<&str> = first
        .plan
        .tenants
        .iter()
        .map(|tenant| tenant.api_token.as_str())
        .collect();
    assert_eq!(
        planned,
        [tenant_token(&scope, "alice"), tenant_token(&scope, "bob")]
    );
    // The token is privilege-separated, and its secret is in no event.
    let users = admin.users().await.unwrap();
    let alice_user = users
        .iter()
        .find(|user| user.userid == tenant_user(&scope, "alice"))
        .unwrap();
    assert!(
        alice_user
            .comment
            .as_deref()
            .unwrap()
            .starts_with("labform:seed-000 ")
    );
    assert!(alice_user.tokens[0].privilege_separated());
    let alice_secret = SECRETS
        .1
        .get(&token_store_key(&scope, &endpoint, "alice").unwrap())
        .unwrap()
        .unwrap();
    let events = format!("{:?}", first.events.0.lock().unwrap());
    assert!(!events.contains(alice_secret.expose_secret()));

    let in_pool = |pool: &str| -> Vec<&PlannedVm> {
        first
            .plan
            .vms
            .iter()
            .filter(|vm| vm.pool.as_deref() == Some(pool))
            .collect()
    };
    let alice_vms = in_pool("seed-000-alice");
    let bob_vms = in_pool("seed-000-bob");
    assert!(!alice_vms.is_empty() && !bob_vms.is_empty());

    // Alice sees exactly her VMs.
    let alice = tenant_client(&served, &scope, &endpoint, "alice");
    let seen: Vec<u64> = alice
        .cluster_resources(Some(ResourceType::Vm))
        .await
        .unwrap()
        .iter()
        .filter_map(|resource| resource.vmid)
        .collect();
    let mut expected: Vec<u64> = alice_vms
        .iter()
        .map(|vm| u64::from(vm.vm_id.get()))
        .collect();
    let mut seen_sorted = seen.clone();
    seen_sorted.sort();
    expected.sort();
    assert_eq!(seen_sorted, expected, "alice sees her VMs and nothing else");

    // Bob's VMs are refused with Proxmox's texts.
    let bob_vm = bob_vms[0];
    let node = bob_vm.node.clone();
    let id = bob_vm.vm_id.get();
    assert_eq!(
        message(
            alice
                .vm_config(&node, bob_vm.vm_id, false)
                .await
                .unwrap_err()
        ),
        (
            403,
            format!("Permission check failed (/vms/{id}, VM.Audit)")
        )
    );
    for action in [VmAction::Stop, VmAction::Start, VmAction::Shutdown] {
        assert_eq!(
            message(
                alice
                    .vm_action(&node, bob_vm.vm_id, action)
                    .await
                    .unwrap_err()
            ),
            (
                403,
                format!("Permission check failed (/vms/{id}, VM.PowerMgmt)")
            )
        );
    }
    assert_eq!(
        message(
            alice
                .delete_vm(&node, bob_vm.vm_id, DeleteVm::default())
                .await
                .unwrap_err()
        ),
        (
            403,
            format!("Permission check failed (/vms/{id}, VM.Allocate)")
        )
    );
    // Cloning her own VM into Bob's pool, and cloning Bob's VM, are refused too.
    let own = alice_vms[0];
    let own_node = own.node.clone();
    let mut into_bob = CloneVm::new(VmId::new(4000).unwrap());
    into_bob.pool = Some("seed-000-bob".into());
    into_bob.full = Some(true);
    assert_eq!(
        message(
            alice
                .clone_vm(&own_node, own.vm_id, &into_bob)
                .await
                .unwrap_err()
        ),
        (403, "Permission check failed".to_owned())
    );
    let mut from_bob = CloneVm::new(VmId::new(4001).unwrap());
    from_bob.pool = Some("seed-000-alice".into());
    assert_eq!(
        message(
            alice
                .clone_vm(&node, bob_vm.vm_id, &from_bob)
                .await
                .unwrap_err()
        ),
        (
            403,
            format!("Permission check failed (/vms/{id}, VM.Clone)")
        )
    );
    // Nor can she grant herself more, or read who else exists.
    assert_eq!(
        message(
            alice
                .update_acl(&labform_proxmox::types::AclUpdate {
                    path: "/pool/seed-000-bob".into(),
                    roles: vec!["PVEVMAdmin".into()],
                    users: vec![],
                    tokens: vec![tenant_token(&scope, "alice")],
                    propagate: true,
                    delete: false,
                })
                .await
                .unwrap_err()
        ),
        (
            403,
            "Permission check failed (/pool/seed-000-bob, Permissions.Modify|Pool.Allocate)"
                .to_owned()
        )
    );
    assert!(alice.acl().await.unwrap().is_empty());
    // Bob's VM is untouched.
    let bob_config = admin.vm_config(&node, bob_vm.vm_id, false).await.unwrap();
    assert_eq!(bob_config.name(), Some(bob_vm.name.as_str()));

    // Alice operates her own VM: reads it, stops and starts it, waiting on her own tasks.
    assert_eq!(
        alice
            .vm_config(&own_node, own.vm_id, false)
            .await
            .unwrap()
            .name(),
        Some(own.name.as_str())
    );
    for action in [VmAction::Stop, VmAction::Start] {
        let upid = alice.vm_action(&own_node, own.vm_id, action).await.unwrap();
        assert_eq!(upid.user, tenant_token(&scope, "alice"));
        wait_for_task(&alice, &upid, fast_options().task_wait)
            .await
            .unwrap();
    }

    // A second apply makes no write request.
    served.writes.store(0, Ordering::SeqCst);
    let second = cycle(&lab, admin.clone(), journal.clone(), fast_options()).await;
    assert!(
        second.report.failed.is_empty(),
        "{:#?}",
        second.report.failed
    );
    assert!(
        second.reconciliation.is_empty(),
        "{:#?}",
        second.reconciliation
    );
    assert_eq!(served.writes.load(Ordering::SeqCst), 0, "no write request");
    assert!(tenant_kinds(&second.events.0.lock().unwrap()).is_empty());

    // A secret lost from the store: the token is made anew and the old secret stops working.
    SECRETS
        .1
        .remove(&token_store_key(&scope, &endpoint, "bob").unwrap())
        .unwrap();
    let third = cycle(&lab, admin.clone(), journal.clone(), fast_options()).await;
    assert!(third.report.failed.is_empty(), "{:#?}", third.report.failed);
    let steps = tenant_kinds(&third.events.0.lock().unwrap());
    let bob_token = tenant_token(&scope, "bob");
    assert_eq!(steps.len(), 4, "{steps:#?}");
    assert!(steps[1].starts_with(&format!(
        "delete-tenant-token {bob_token} (its secret is not in labform's secret store"
    )));
    assert_eq!(steps[2], format!("create-tenant-token {bob_token} ok"));
    let bob = tenant_client(&served, &scope, &endpoint, "bob");
    let bob_seen = bob.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    assert_eq!(bob_seen.len(), bob_vms.len());

    // Bob leaves the lab (tenant and cluster). A user someone made by hand with a tenant-like
    // name stays.
    admin
        .create_user(&CreateUser {
            userid: tenant_user(&scope, "mallory"),
            password: None,
            comment: Some("made by hand".into()),
        })
        .await
        .unwrap();
    lab.tenants.retain(|tenant| tenant.name != "bob");
    lab.clusters.retain(|cluster| cluster.name != "bob");
    for environment in &mut lab.environments {
        environment
            .clusters
            .retain(|overlay| overlay.cluster != "bob");
    }
    let fourth = cycle(&lab, admin.clone(), journal.clone(), fast_options()).await;
    assert!(
        fourth.report.failed.is_empty(),
        "{:#?}",
        fourth.report.failed
    );
    let steps = tenant_kinds(&fourth.events.0.lock().unwrap());
    let bob_user = tenant_user(&scope, "bob");
    assert_eq!(
        steps,
        [
            format!("revoke-tenant-acl /pool/seed-000-bob PVEVMAdmin {bob_user} ok"),
            format!("revoke-tenant-acl /pool/seed-000-bob PVEVMAdmin {bob_token} ok"),
            format!("delete-tenant-token {bob_token} (the tenant left the lab) ok"),
            format!("delete-tenant-user {bob_user} ok"),
        ]
    );
    let users: Vec<String> = admin
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|user| user.userid)
        .collect();
    assert!(!users.contains(&bob_user), "{users:?}");
    assert!(users.contains(&tenant_user(&scope, "alice")));
    assert!(users.contains(&tenant_user(&scope, "mallory")));
    let acl = admin.acl().await.unwrap();
    assert!(
        acl.iter().all(|entry| !entry.ugid.starts_with(&bob_user)),
        "{acl:?}"
    );
    assert_eq!(
        acl.iter()
            .filter(|entry| entry.ugid.starts_with(&tenant_user(&scope, "alice")))
            .count(),
        2
    );
    assert!(
        SECRETS
            .1
            .get(&token_store_key(&scope, &endpoint, "bob").unwrap())
            .unwrap()
            .is_none()
    );
    // Bob's token no longer authenticates (401); Alice's still works.
    let error = bob.version().await.unwrap_err();
    assert_eq!(error.api().map(|api| api.status), Some(401), "{error}");
    assert_eq!(
        alice
            .cluster_resources(Some(ResourceType::Vm))
            .await
            .unwrap()
            .len(),
        alice_vms.len()
    );

    // Destroy removes every tenant user of the scope, and only those.
    let report = destroy(&lab, admin.clone(), &fourth.plan).await;
    assert!(report.failed.is_empty(), "{:#?}", report.failed);
    let users: Vec<String> = admin
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|user| user.userid)
        .collect();
    assert!(!users.contains(&tenant_user(&scope, "alice")), "{users:?}");
    assert!(users.contains(&tenant_user(&scope, "mallory")));
}
