//! Preflight against a real HTTPS target: `labform sim serve --lab TARGET` shaped unlike the lab
//! that is applied (a node, a storage, a content type, a bridge, VLAN awareness, memory or
//! privileges missing). Each time `labform apply` must stop before its first write, with an
//! error located in the lab file that says what the target has instead; the target is checked
//! afterwards through the real client to hold nothing new.

mod common;

use std::path::Path;
use std::process::Command;

use labform_proxmox::ProxmoxApi;
use labform_proxmox::types::{AclUpdate, CreateToken, CreateUser, ResourceType};

use common::{SIM_PASSWORD, SimServer};

/// How the target differs from the lab that is applied.
#[derive(Clone, Copy)]
struct Target {
    node: &'static str,
    memory: &'static str,
    local_content: &'static str,
    thin_pool: bool,
    bridge: &'static str,
    vlan: bool,
}

/// The target the lab fits.
const FITTING: Target = Target {
    node: "pve1",
    memory: "32GiB",
    local_content: "iso, import, snippets",
    thin_pool: true,
    bridge: "vmbr0",
    vlan: true,
};

/// The lab that is applied, the part both files share after its endpoint.
const BODY: &str = "images:
  - name: debian
    url: https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2
    checksum: sha256:37ff7db70b5c25aadafd692927cf08a32a4c2b40b21771071fa941ca199dee11
defaults:
  image: debian
  ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJm3w8jPreflightTestKey00000000000000000000 t@t']
";

fn lab_text(credentials: &str) -> String {
    format!(
        "lab: preflight
proxmox:
  - name: sim
    endpoint: https://127.0.0.1:8006
    credentials: {credentials}
    nodes: [{{name: pve1, cpu: 8, memory: 32GiB}}]
    storages:
      - {{name: local, content: [iso, import, snippets], capacity: 100GiB, type: dir}}
      - {{name: local-lvm, content: [images], capacity: 500GiB, type: lvmthin}}
{BODY}networks:
  - {{name: lan, bridge: vmbr0, vlan: 10, cidr: 10.9.0.0/24, gateway: 10.9.0.1, pools: [{{name: nodes, purpose: nodes, range: 10.9.0.10-10.9.0.99}}]}}
vms:
  - {{name: web, cpu: 2, memory: 4GiB, disks: [{{size: 16GiB, storage: local-lvm}}], network: lan}}
"
    )
}

fn target_text(target: Target) -> String {
    let thin_pool = if target.thin_pool {
        "      - {name: local-lvm, content: [images], capacity: 500GiB, type: lvmthin}\n"
    } else {
        ""
    };
    let vlan = if target.vlan { ", vlan: 10" } else { "" };
    format!(
        "lab: target
proxmox:
  - name: sim
    endpoint: https://127.0.0.1:8006
    credentials: {{password: {{user: root@pam, password: {{env: LABFORM_PVE_PASSWORD}}}}}}
    nodes: [{{name: {node}, cpu: 8, memory: {memory}}}]
    storages:
      - {{name: local, content: [{content}], capacity: 100GiB, type: dir}}
{thin_pool}{BODY}networks:
  - {{name: lan, bridge: {bridge}{vlan}, cidr: 10.9.0.0/24, gateway: 10.9.0.1}}
",
        node = target.node,
        memory = target.memory,
        content = target.local_content,
        bridge = target.bridge,
    )
}

fn serve(directory: &Path, target: Target) -> SimServer {
    let file = directory.join("target.yaml");
    std::fs::write(&file, target_text(target)).unwrap();
    let file = file.display().to_string();
    SimServer::start_with_environment(
        &["--time-scale", "0.02", "--lab", &file],
        &[("XDG_STATE_HOME", &directory.join("state"))],
    )
}

/// Runs `labform apply --yes` of the lab against the simulator as root, or with the API `token`
/// (`USER@REALM!ID=SECRET`); returns
/// whether it succeeded and its standard error with the simulator's port made stable.
fn apply(directory: &Path, simulator: &SimServer, token: Option<&str>) -> (bool, String) {
    let lab = directory.join("lab.yaml");
    std::fs::write(&lab, lab_text(ROOT_CREDENTIALS)).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_labform"));
    match token {
        Some(token) => command.env("LABFORM_PVE_TOKEN", token),
        None => command
            .env("LABFORM_PVE_USER", "root@pam")
            .env("LABFORM_PVE_PASSWORD", SIM_PASSWORD),
    };
    let output = command
        .arg("apply")
        .arg(&lab)
        .args(["--yes", "--no-lock", "--skip-clusters", "--proxmox"])
        .arg(&simulator.url)
        .arg("--fingerprint")
        .arg(&simulator.fingerprint)
        .arg("--journal")
        .arg(directory.join("journal.sqlite"))
        .env("XDG_STATE_HOME", directory.join("state"))
        .env("NO_COLOR", "1")
        .current_dir(directory)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr)
        .replace(&simulator.url, "https://127.0.0.1:PORT")
        .replace(&lab.display().to_string(), "lab.yaml");
    (output.status.success(), stderr)
}

const ROOT_CREDENTIALS: &str =
    "{password: {user: root@pam, password: {env: LABFORM_PVE_PASSWORD}}}";

/// Nothing was written: no VM, no pool, no user but root, no volume.
async fn assert_untouched(simulator: &SimServer) {
    let api = simulator.root_client();
    let vms = api.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    assert!(vms.is_empty(), "preflight let VMs be made: {vms:?}");
    assert!(api.pools().await.unwrap().is_empty(), "a pool was made");
    let users: Vec<String> = api
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|user| user.userid)
        .filter(|user| user != "root@pam" && !user.starts_with("preflight-auditor"))
        .collect();
    assert!(users.is_empty(), "users were made: {users:?}");
}

/// Applies the lab to a target shaped as `target`; the apply must fail before writing.
fn refused(target: Target) -> String {
    let directory = tempfile::tempdir().unwrap();
    let simulator = serve(directory.path(), target);
    let (succeeded, stderr) = apply(directory.path(), &simulator, None);
    assert!(!succeeded, "apply went ahead:\n{stderr}");
    assert!(
        stderr.contains("nothing was changed"),
        "no preflight verdict:\n{stderr}"
    );
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(assert_untouched(&simulator));
    stderr
}

#[test]
fn a_fitting_target_passes_preflight() {
    let directory = tempfile::tempdir().unwrap();
    let simulator = serve(directory.path(), FITTING);
    let (succeeded, stderr) = apply(directory.path(), &simulator, None);
    assert!(succeeded, "{stderr}");
    assert!(!stderr.contains("error[preflight"), "{stderr}");
}

#[test]
fn a_missing_node_is_named_with_what_the_target_has() {
    let stderr = refused(Target {
        node: "pve",
        ..FITTING
    });
    assert!(stderr.contains("error[preflight-node]"), "{stderr}");
    insta::assert_snapshot!("missing-node", stderr);
}

#[test]
fn a_missing_storage_and_a_missing_content_type_are_named() {
    let stderr = refused(Target {
        thin_pool: false,
        local_content: "iso, snippets",
        ..FITTING
    });
    assert!(stderr.contains("error[preflight-storage]"), "{stderr}");
    assert!(
        stderr.contains("error[preflight-storage-content]"),
        "{stderr}"
    );
    insta::assert_snapshot!("missing-storage-and-content", stderr);
}

#[test]
fn a_missing_bridge_is_named() {
    let stderr = refused(Target {
        bridge: "vmbr1",
        ..FITTING
    });
    assert!(stderr.contains("error[preflight-bridge]"), "{stderr}");
    insta::assert_snapshot!("missing-bridge", stderr);
}

#[test]
fn a_vlan_tag_on_a_bridge_that_is_not_vlan_aware_is_refused() {
    let stderr = refused(Target {
        vlan: false,
        ..FITTING
    });
    assert!(stderr.contains("error[preflight-bridge-vlan]"), "{stderr}");
    insta::assert_snapshot!("bridge-not-vlan-aware", stderr);
}

#[test]
fn a_node_smaller_than_the_lab_says_is_refused() {
    let stderr = refused(Target {
        memory: "16GiB",
        ..FITTING
    });
    assert!(stderr.contains("error[preflight-capacity]"), "{stderr}");
    insta::assert_snapshot!("node-memory", stderr);
}

#[test]
fn credentials_without_the_privileges_the_plan_needs_are_refused() {
    let directory = tempfile::tempdir().unwrap();
    let simulator = serve(directory.path(), FITTING);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // An auditor: may read everything, change nothing.
    let secret = runtime.block_on(async {
        let api = simulator.root_client();
        api.create_user(&CreateUser {
            userid: "preflight-auditor@pve".into(),
            password: None,
            comment: None,
        })
        .await
        .unwrap();
        let token = api
            .create_token(
                "preflight-auditor@pve",
                "labform",
                &CreateToken {
                    privsep: Some(false),
                    ..CreateToken::default()
                },
            )
            .await
            .unwrap();
        api.update_acl(&AclUpdate {
            path: "/".into(),
            roles: vec!["PVEAuditor".into()],
            users: vec!["preflight-auditor@pve".into()],
            tokens: vec![],
            propagate: true,
            delete: false,
        })
        .await
        .unwrap();
        token.value.expose().to_owned()
    });
    let token = format!("preflight-auditor@pve!labform={secret}");
    let (succeeded, stderr) = apply(directory.path(), &simulator, Some(&token));
    assert!(!succeeded, "apply went ahead:\n{stderr}");
    assert!(stderr.contains("error[preflight-privileges]"), "{stderr}");
    assert!(!stderr.contains(&secret), "the token's secret was printed");
    runtime.block_on(assert_untouched(&simulator));
    insta::assert_snapshot!("privileges", stderr);
}
