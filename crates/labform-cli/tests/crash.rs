//! Crash safety: `labform apply` killed with SIGKILL at 20 points of its run against a simulator
//! in another process (`labform sim serve`, over HTTPS); every time, the next apply converges with
//! no duplicate, no orphan and no half-configured VM, and a third apply has nothing to do. The
//! same for `labform replace` killed at 8 points: the next `replace` or `apply` finishes it with
//! the VM's identity kept.

mod common;

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Command, Stdio};
use std::time::Instant;

use labform_proxmox::ProxmoxApi;
use labform_proxmox::types::ResourceType;

use common::sim_lab::SimLab;
use common::{SimServer, runtime};

fn start_simulator() -> SimServer {
    SimServer::start(&["--nodes", "2", "--time-scale", "0.02"])
}

/// A K3s cluster of one server and three agents with two disks each, on two Proxmox nodes.
const LAB: SimLab = SimLab {
    name: "crash",
    proxmox_nodes: 2,
    fingerprint: None,
    api_vip: None,
    servers: 1,
    agents: 3,
    agent_disks: "[{size: 16GiB}, {size: 8GiB}]",
    rest: "",
};

/// A directory with the crash lab, its image (`2^bits` bytes made from `seed`) served on
/// loopback for `simulator` to download.
fn lab_directory(simulator: &SimServer, bits: u32, seed: u32) -> tempfile::TempDir {
    let directory = tempfile::tempdir().unwrap();
    SimLab {
        fingerprint: Some(&simulator.fingerprint),
        ..LAB
    }
    .write(directory.path(), bits, seed);
    directory
}

fn labform(directory: &std::path::Path, simulator: &SimServer, args: &[&str]) -> Command {
    let mut command = simulator.command(directory, args);
    if args.first() == Some(&"apply") {
        // `sim serve` without QEMU: the VMs never boot, so there is no K3s to install.
        command.arg("--skip-clusters");
    }
    command
        .arg("--yes")
        .arg("--journal")
        .arg(directory.join("journal.sqlite"))
        .arg(directory.join("lab.yaml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn run_to_end(directory: &std::path::Path, simulator: &SimServer, command: &str) -> (bool, String) {
    let output = labform(directory, simulator, &[command]).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Checks the lab is complete and sound; returns the sorted names of what exists.
async fn check_converged(
    api: &dyn ProxmoxApi,
    context: &str,
    expected: Option<&[String]>,
) -> Vec<String> {
    let resources = api.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    let mut names: Vec<String> = resources
        .iter()
        .filter_map(|resource| resource.name.clone())
        .collect();
    names.sort();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names, unique, "{context}: duplicate VMs");
    let vms: Vec<&String> = names
        .iter()
        .filter(|name| !name.starts_with("tpl-"))
        .collect();
    assert_eq!(
        vms,
        ["k-agent-0", "k-agent-1", "k-agent-2", "k-server-0"],
        "{context}: orphans or missing VMs"
    );
    if let Some(expected) = expected {
        assert_eq!(
            names, expected,
            "{context}: templates differ from a clean apply's"
        );
    }
    for resource in &resources {
        let node = labform_ids::NodeName::new(resource.node.clone().unwrap());
        let vm_id = labform_ids::VmId::new(resource.vmid.unwrap() as u32).unwrap();
        let config = api.vm_config(&node, vm_id, false).await.unwrap();
        let description = config
            .values
            .get("description")
            .cloned()
            .unwrap_or_default();
        assert!(
            !description.contains("spec: pending"),
            "{context}: {} is half-configured",
            resource.name.clone().unwrap()
        );
        if resource.template != Some(true) {
            assert_eq!(
                resource.status.as_deref(),
                Some("running"),
                "{context}: {:?} is not running",
                resource.name
            );
        }
    }
    names
}

#[test]
fn killed_applies_always_converge() {
    let simulator = start_simulator();
    let directory = lab_directory(&simulator, 20, 2654435761);
    let runtime = runtime();
    let api = simulator.root_client();

    // Calibrate: how long a whole apply from empty takes (the image download included).
    let started = Instant::now();
    let (ok, stderr) = run_to_end(directory.path(), &simulator, "apply");
    assert!(ok, "the first apply succeeds: {stderr}");
    let full = started.elapsed();
    let reference = runtime.block_on(check_converged(&api, "calibration", None));
    let (ok, stderr) = run_to_end(directory.path(), &simulator, "destroy");
    assert!(ok, "{stderr}");

    let points = 20;
    for point in 0..points {
        let delay = full.mul_f64((point as f64 + 0.5) / points as f64);
        let mut child = labform(directory.path(), &simulator, &["apply"])
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let context = format!("killed after {delay:?} (point {point})");
        let (ok, stderr) = run_to_end(directory.path(), &simulator, "apply");
        assert!(ok, "{context}: the next apply converges: {stderr}");
        let context = format!("{context}\nrecovery apply said:\n{stderr}");
        runtime.block_on(check_converged(&api, &context, Some(&reference)));
        let (ok, stderr) = run_to_end(directory.path(), &simulator, "apply");
        assert!(
            ok && stderr.contains("Nothing to do."),
            "{context}: a third apply has nothing to do: {stderr}"
        );
        let (ok, stderr) = run_to_end(directory.path(), &simulator, "destroy");
        assert!(ok, "{context}: {stderr}");
    }
    // The journal shows the killed runs for what they were.
    let output = Command::new(env!("CARGO_BIN_EXE_labform"))
        .args(["history", "--limit", "200", "--journal"])
        .arg(directory.path().join("journal.sqlite"))
        .arg(directory.path().join("lab.yaml"))
        .output()
        .unwrap();
    let history = String::from_utf8_lossy(&output.stdout);
    assert!(history.contains("killed (no end recorded)"), "{history}");
}

#[test]
fn ctrl_c_stops_new_work_lets_tasks_finish_and_the_next_apply_converges() {
    let simulator = start_simulator();
    let directory = lab_directory(&simulator, 16, 40503);
    // Interrupt once the first clone has started: from then on no new work may start.
    let mut child = labform(
        directory.path(),
        &simulator,
        &["apply", "--concurrency", "1"],
    )
    .spawn()
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        let started_clone = line.contains("start  clone-vm");
        line.clear();
        if started_clone {
            let status = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            break;
        }
    }
    stderr.read_to_string(&mut seen).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "an interrupted apply exits 130:\n{seen}"
    );
    assert!(seen.contains("Interrupted: no new work starts"), "{seen}");
    // The clone that was running finished; no job started after the interrupt.
    let after = seen.split("Interrupted").nth(1).unwrap_or_default();
    assert!(
        !after.contains("start  clone-vm"),
        "no clone starts after Ctrl-C:\n{seen}"
    );
    assert!(
        seen.contains("ok     clone-vm"),
        "the running clone finished:\n{seen}"
    );
    let (ok, stderr) = run_to_end(directory.path(), &simulator, "apply");
    assert!(ok, "the next apply converges: {stderr}");
    let runtime = runtime();
    let api = simulator.root_client();
    runtime.block_on(check_converged(&api, "after Ctrl-C", None));
}

/// The VM ID, NIC (MAC), address and seed image (which carries the host keys) of `vm`.
async fn identity(api: &dyn ProxmoxApi, vm: &str) -> Vec<String> {
    let resources = api.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    let resource = resources
        .iter()
        .find(|resource| resource.name.as_deref() == Some(vm))
        .unwrap_or_else(|| panic!("{vm} exists"));
    let node = labform_ids::NodeName::new(resource.node.clone().unwrap());
    let vm_id = labform_ids::VmId::new(resource.vmid.unwrap() as u32).unwrap();
    let config = api.vm_config(&node, vm_id, false).await.unwrap();
    let mut identity = vec![vm_id.to_string()];
    for key in ["net0", "ipconfig0", "ide2"] {
        identity.push(config.values[key].clone());
    }
    identity
}

/// `labform replace` of one VM killed with SIGKILL at several points of its run; every time the
/// next run (`replace` again, or `apply`) finishes it: the VM exists once, fully configured and
/// running, with its VM ID, MAC, address and seed image, and the run after has nothing to do.
#[test]
fn killed_replacements_are_finished_by_the_next_run() {
    let simulator = start_simulator();
    let directory = lab_directory(&simulator, 16, 2246822519);
    let runtime = runtime();
    let api = simulator.root_client();
    let (ok, stderr) = run_to_end(directory.path(), &simulator, "apply");
    assert!(ok, "the first apply succeeds: {stderr}");
    let reference = runtime.block_on(check_converged(&api, "applied", None));
    let before = runtime.block_on(identity(&api, "k-agent-1"));
    let replace = || {
        let mut command = labform(
            directory.path(),
            &simulator,
            &["replace", "--skip-clusters"],
        );
        command.arg("k-agent-1");
        command
    };

    // Calibrate: how long a whole replacement takes.
    let started = Instant::now();
    let output = replace().output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let full = started.elapsed();
    assert_eq!(runtime.block_on(identity(&api, "k-agent-1")), before);

    let points = 8;
    let mut resumed = 0;
    for point in 0..points {
        // Discovery and planning take the first part of a run: most points fall after it.
        let delay = full.mul_f64(0.3 + 0.7 * (point as f64 + 0.5) / points as f64);
        let mut child = replace().spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let context = format!("replace killed after {delay:?} (point {point})");
        // Half the time `replace` finishes it, half the time `apply` does.
        let output = if point % 2 == 0 {
            replace().output().unwrap()
        } else {
            labform(directory.path(), &simulator, &["apply"])
                .output()
                .unwrap()
        };
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            output.status.success(),
            "{context}: the next run finishes it: {stderr}"
        );
        if stderr.contains("Finish replacing k-agent-1") {
            resumed += 1;
        }
        let context = format!("{context}\nthe next run said:\n{stderr}");
        runtime.block_on(check_converged(&api, &context, Some(&reference)));
        assert_eq!(
            runtime.block_on(identity(&api, "k-agent-1")),
            before,
            "{context}"
        );
        let (ok, stderr) = run_to_end(directory.path(), &simulator, "apply");
        assert!(
            ok && stderr.contains("Nothing to do."),
            "{context}: the apply after has nothing to do: {stderr}"
        );
    }
    // The kills did stop replacements halfway (the journal had steps done to resume from).
    assert!(resumed > 0, "no kill stopped a replacement halfway");
    eprintln!("{resumed} of {points} kills stopped a replacement halfway");
}
