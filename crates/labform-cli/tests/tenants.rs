//! Tenants as changes of their own, through the binary against `labform sim serve` (HTTPS, real
//! client): a lab whose only changes are tenants' users, tokens, ACL entries and pools. A tenant's
//! user deleted by hand, its token's secret lost from labform's secret store, a tenant added
//! without clusters of its own, and a tenant that leaves: each time the preview (`plan` against
//! the simulator, text and JSON) shows the change, `labform drift` reports what was changed by
//! hand, `apply` converges it, and a second apply has nothing to do.

mod common;

use std::path::Path;
use std::process::Output;

use labform_proxmox::{Client, ProxmoxApi};
use labform_secrets::{ExposeSecret, SecretKey, SecretStore};

use common::{SimServer, output_text};

fn start_simulator() -> SimServer {
    SimServer::start(&["--nodes", "1"])
}

fn client_for(simulator: &SimServer) -> Client {
    simulator.root_client()
}

/// A lab with no VM at all: only its tenants (none has clusters of its own).
fn write_lab(directory: &Path, tenants: &[&str]) {
    let mut text = "lab: tenancy
proxmox:
  - name: sim
    endpoint: https://127.0.0.1:8006
    credentials: {password: {user: root@pam, password: {env: LABFORM_PVE_PASSWORD}}}
    nodes: [{name: pve1, cpu: 16, memory: 64GiB}]
    storages:
      - {name: local, content: [iso, import, images], capacity: 100GiB, type: dir}
tenants:
"
    .to_owned();
    for tenant in tenants {
        text.push_str(&format!("  - name: {tenant}\n"));
    }
    std::fs::write(directory.join("lab.yaml"), text).unwrap();
}

fn labform(directory: &Path, simulator: &SimServer, args: &[&str]) -> Output {
    // The secret store (the tenants' token secrets) lives with the test.
    let mut command = simulator.command(directory, args);
    if args.first() == Some(&"apply") {
        command.args(["--yes", "--skip-clusters"]);
    }
    command.arg(directory.join("lab.yaml")).output().unwrap()
}

/// The preview as text, and the tenant changes of `plan --json` as `kind target` lines.
fn preview(directory: &Path, simulator: &SimServer) -> (String, Vec<String>) {
    let shown = labform(directory, simulator, &["plan"]);
    assert!(shown.status.success(), "{}", output_text(&shown));
    let json = labform(directory, simulator, &["plan", "--json"]);
    assert!(json.status.success(), "{}", output_text(&json));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let changes = value["changes"]["tenants"]
        .as_array()
        .expect("the changes list the tenants'")
        .iter()
        .map(|change| {
            format!(
                "{} {}{}",
                change["action"].as_str().unwrap(),
                change["userid"]
                    .as_str()
                    .or(change["pool"].as_str())
                    .or(change["subject"].as_str())
                    .unwrap(),
                if change["drift"].as_bool().unwrap() {
                    " (drift)"
                } else {
                    ""
                }
            )
        })
        .collect();
    (output_text(&shown), changes)
}

/// Applies, expecting success; then a second apply that has nothing to do.
fn apply_converges(directory: &Path, simulator: &SimServer, context: &str) -> String {
    let first = labform(directory, simulator, &["apply"]);
    assert!(first.status.success(), "{context}: {}", output_text(&first));
    let second = labform(directory, simulator, &["apply"]);
    assert!(
        second.status.success() && output_text(&second).contains("Nothing to do."),
        "{context}: the second apply has nothing to do: {}",
        output_text(&second)
    );
    output_text(&first)
}

fn drift(directory: &Path, simulator: &SimServer) -> (Option<i32>, serde_json::Value) {
    let output = labform(directory, simulator, &["drift", "--json"]);
    let value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("drift prints JSON: {}", output_text(&output)));
    (output.status.code(), value)
}

fn token_key(tenant: &str) -> SecretKey {
    SecretKey::new(format!("proxmox-token/tenancy/sim/{tenant}")).unwrap()
}

#[test]
fn tenant_only_changes_are_previewed_applied_and_reported() {
    let simulator = start_simulator();
    let directory = tempfile::tempdir().unwrap();
    let directory = directory.path();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = client_for(&simulator);
    let users = || -> Vec<String> {
        runtime
            .block_on(admin.users())
            .unwrap()
            .into_iter()
            .map(|user| user.userid)
            .collect()
    };
    let alice = "labform-tenancy-alice@pve";
    let bob = "labform-tenancy-bob@pve";

    // A lab of one tenant without clusters: it lives on the lab's only endpoint.
    write_lab(directory, &["alice"]);
    let (shown, changes) = preview(directory, &simulator);
    assert_eq!(
        changes,
        [
            "create-pool tenancy-alice".to_owned(),
            format!("create-user {alice}"),
            format!("create-token {alice}"),
            format!("acl {alice}"),
            format!("acl {alice}!labform"),
        ]
    );
    assert!(
        shown.contains(&format!("+ user    {alice} on sim")),
        "{shown}"
    );
    assert!(shown.contains("+ pool    tenancy-alice on sim"), "{shown}");
    let said = apply_converges(directory, &simulator, "a new lab");
    assert!(users().contains(&alice.to_owned()));
    let store = SecretStore::open(&directory.join("data")).unwrap();
    let secret = store.get(&token_key("alice")).unwrap().expect("kept");
    assert!(!said.contains(secret.expose_secret()), "no secret printed");
    let (code, report) = drift(directory, &simulator);
    assert_eq!(code, Some(0), "{report:#}");

    // Alice's user deleted by hand: drift, shown, put back.
    runtime.block_on(admin.delete_user(alice)).unwrap();
    let (shown, changes) = preview(directory, &simulator);
    assert_eq!(
        changes,
        [
            format!("create-user {alice} (drift)"),
            format!("create-token {alice} (drift)"),
            format!("acl {alice} (drift)"),
            format!("acl {alice}!labform (drift)"),
        ]
    );
    assert!(
        shown.contains(&format!(
            "+ user    {alice} on sim  [drift: changed outside labform]"
        )),
        "{shown}"
    );
    let (code, report) = drift(directory, &simulator);
    assert_eq!(code, Some(2), "{report:#}");
    assert_eq!(report["tenants"].as_array().unwrap().len(), 4, "{report:#}");
    apply_converges(directory, &simulator, "a user deleted by hand");
    assert!(users().contains(&alice.to_owned()));
    let (code, report) = drift(directory, &simulator);
    assert_eq!(code, Some(0), "{report:#}");

    // Alice's token secret lost from the store: the token is made anew (not drift: Proxmox is
    // as labform left it).
    assert!(store.remove(&token_key("alice")).unwrap());
    let (shown, changes) = preview(directory, &simulator);
    assert_eq!(
        changes,
        [
            format!("acl {alice}!labform"),
            format!("delete-token {alice}"),
            format!("create-token {alice}"),
            format!("acl {alice}!labform"),
        ]
    );
    assert!(
        shown.contains(&format!(
            "- token   {alice}!labform on sim: its secret is not in labform's secret store"
        )),
        "{shown}"
    );
    let (code, report) = drift(directory, &simulator);
    assert_eq!(code, Some(0), "a lost secret is not drift: {report:#}");
    assert_eq!(report["lab_changes_pending"], 4, "{report:#}");
    apply_converges(directory, &simulator, "a lost token secret");
    let renewed = store.get(&token_key("alice")).unwrap().expect("kept again");
    assert_ne!(renewed.expose_secret(), secret.expose_secret());

    // Bob added, without clusters of his own.
    write_lab(directory, &["alice", "bob"]);
    let (_, changes) = preview(directory, &simulator);
    assert_eq!(
        changes,
        [
            "create-pool tenancy-bob".to_owned(),
            format!("create-user {bob}"),
            format!("create-token {bob}"),
            format!("acl {bob}"),
            format!("acl {bob}!labform"),
        ]
    );
    apply_converges(directory, &simulator, "a tenant added");
    assert!(users().contains(&bob.to_owned()));

    // Bob leaves: his ACL entries, token and user go, and the preview says so.
    write_lab(directory, &["alice"]);
    let (shown, changes) = preview(directory, &simulator);
    assert_eq!(
        changes,
        [
            format!("acl {bob}"),
            format!("acl {bob}!labform"),
            format!("delete-token {bob}"),
            format!("delete-user {bob}"),
        ]
    );
    assert!(
        shown.contains(&format!("- user    {bob} on sim")),
        "{shown}"
    );
    assert!(
        shown.contains("4 pool, user, token and ACL change(s), 4 of them removals."),
        "{shown}"
    );
    apply_converges(directory, &simulator, "a tenant that left");
    assert!(!users().contains(&bob.to_owned()));
    assert!(store.get(&token_key("bob")).unwrap().is_none());
}
