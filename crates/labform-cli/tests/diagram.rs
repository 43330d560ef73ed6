//! `labform diagram` end to end: offline it prints what `labform-diagram` draws from the plan
//! (each format, each view) and writes `--output`; live, against `labform sim serve` (HTTPS,
//! the real client), it colours every VM missing before apply, existing after it, and drifted
//! or stopped after a change by hand.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use labform_ids::{NodeName, VmId};
use labform_proxmox::ProxmoxApi;
use labform_proxmox::task::{WaitOptions, wait_for_task};
use labform_proxmox::types::{ConfigUpdate, ResourceType, VmAction as ProxmoxVmAction};

use common::SimServer;

fn labform() -> Command {
    Command::cargo_bin("labform").expect("the labform binary")
}

#[test]
fn diagram_draws_every_format_and_view_offline() {
    for format in ["svg", "mermaid", "dot"] {
        for view in ["all", "clusters", "infrastructure"] {
            let output = labform()
                .args([
                    "diagram",
                    "../../examples/seed-002.yaml",
                    "--locked",
                    "--format",
                    format,
                    "--view",
                    view,
                ])
                .output()
                .expect("labform runs");
            assert_eq!(
                output.status.code(),
                Some(0),
                "{format} {view}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let text = String::from_utf8(output.stdout).expect("UTF-8");
            let expected_start = match format {
                "svg" => "<svg ",
                "mermaid" => "---\ntitle:",
                _ => "digraph labform {",
            };
            assert!(text.starts_with(expected_start), "{format}: {text}");
            if view != "clusters" {
                assert!(text.contains("ID "), "{format} {view} names VM IDs");
            }
        }
    }
}

#[test]
fn diagram_writes_the_output_file() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("lab.svg");
    let output = labform()
        .args([
            "diagram",
            "../../examples/seed-001.yaml",
            "--locked",
            "--output",
        ])
        .arg(&path)
        .output()
        .expect("labform runs");
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty());
    let svg = std::fs::read_to_string(&path).expect("the SVG was written");
    assert!(svg.starts_with("<svg "));
}

const LAB: &str = "../../examples/seed-001.yaml";

/// `labform sim serve`, shaped like seed-001's endpoint.
fn start_simulator() -> SimServer {
    SimServer::start(&["--lab", LAB, "--time-scale", "0.02"])
}

/// Runs labform against the simulator with the test's own state, data and journal.
fn against(directory: &Path, simulator: &SimServer, args: &[&str]) -> Output {
    let output = simulator
        .command(directory, args)
        .arg("--no-lock")
        .arg(LAB)
        .output()
        .expect("labform runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Each VM's status in a live Mermaid diagram: the last line of its box, by its name (the
/// first line).
fn statuses(directory: &Path, simulator: &SimServer) -> BTreeMap<String, String> {
    let output = against(directory, simulator, &["diagram", "--format", "mermaid"]);
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(text.contains("classDef drifted"), "{text}");
    text.lines()
        .filter(|line| line.trim_start().starts_with("vm__"))
        .map(|line| {
            let label = line
                .split_once("[\"")
                .and_then(|(_, rest)| rest.strip_suffix("\"]"))
                .unwrap_or_else(|| panic!("a box: {line}"));
            let lines: Vec<&str> = label.split("<br/>").collect();
            (
                lines[0].to_owned(),
                lines.last().copied().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A live diagram against `labform sim serve` follows the lab through its life: every VM
/// missing before apply, existing after it, then a VM's memory changed by hand is drifted and a
/// VM stopped by hand is stopped, while the others still exist.
#[test]
fn a_live_diagram_follows_apply_and_hand_edits() {
    let simulator = start_simulator();
    let directory = tempfile::tempdir().expect("temporary directory");
    let directory = directory.path();

    let before = statuses(directory, &simulator);
    assert!(before.len() >= 5, "{before:?}");
    assert!(
        before.values().all(|status| status == "missing"),
        "{before:?}"
    );

    // The simulator's VMs never boot: there is no K3s to install.
    against(
        directory,
        &simulator,
        &["apply", "--yes", "--skip-clusters"],
    );
    let after = statuses(directory, &simulator);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    assert!(after.values().all(|status| status == "exists"), "{after:?}");

    // By hand: one VM's memory, another VM stopped.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let client = simulator.root_client();
    let resources = runtime
        .block_on(client.cluster_resources(Some(ResourceType::Vm)))
        .expect("the VMs");
    let find = |name: &str| {
        let resource = resources
            .iter()
            .find(|resource| resource.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name} exists"));
        (
            NodeName::new(resource.node.clone().expect("a node")),
            VmId::new(resource.vmid.expect("an ID") as u32).expect("a VM ID"),
        )
    };
    let (node, edited) = find("home-server-0");
    runtime
        .block_on(client.update_vm_config_sync(
            &node,
            edited,
            &ConfigUpdate::new().set("memory", 1024),
        ))
        .expect("memory changed by hand");
    let (node, stopped) = find("home-worker-0");
    let task = runtime
        .block_on(client.vm_action(&node, stopped, ProxmoxVmAction::Stop))
        .expect("stopped by hand");
    runtime
        .block_on(wait_for_task(&client, &task, WaitOptions::default()))
        .expect("the stop task ends");

    let edited_statuses = statuses(directory, &simulator);
    for (name, status) in &edited_statuses {
        let expected = match name.as_str() {
            "home-server-0" => "drifted",
            "home-worker-0" => "stopped",
            _ => "exists",
        };
        assert_eq!(status, expected, "{name}: {edited_statuses:?}");
    }
}

#[test]
fn a_broken_lab_gives_exit_code_one() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("broken.yaml");
    std::fs::write(&path, "lab: broken\nproxmox: []\nnonsense: 1\n").expect("write");
    let output = labform()
        .args(["diagram", "--no-lock"])
        .arg(&path)
        .output()
        .expect("labform runs");
    assert_eq!(output.status.code(), Some(1));
}
