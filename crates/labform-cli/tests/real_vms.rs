//! Real machines end to end: `labform sim serve --qemu` boots every started VM with QEMU (software
//! emulation) on a bridge in a network namespace this test makes, and `labform apply` builds a lab
//! of one server and one agent node on them. Checked from outside labform: both VMs run, answer
//! SSH on their planned static addresses with the planned hostname, user and disk size, and their
//! guest agents report the planned addresses. The lab then changes (more memory, an extra SSH key)
//! and is applied in place; the agent is replaced (`labform replace --skip-clusters`) and comes
//! back on its address as a new QEMU process with the same host key (OpenSSH's strict checking
//! against the key the old VM presented); then destroyed: no QEMU process, no disk file, no tap
//! left.
//!
//! Needs root (namespaces, taps), qemu-system-x86, qemu-utils, genisoimage, iproute2, socat and
//! openssh-client, and the node image that `../shared/vm-image/build.sh` makes (kept in
//! `$LABFORM_VM_IMAGE_DIR`, default `$HOME/.cache/labform/vm-image`, so later runs reuse it): tier
//! `real-vms` of `labform-test-tiers`, skipped when something is missing unless
//! `LABFORM_REQUIRE_ALL_TIERS=1` (as `scripts/test.sh` sets). Timings are recorded, never asserted: see
//! `real-vms-benchmark.json` in the target directory (or `$LABFORM_REAL_VMS_BENCHMARK`).

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use common::vms::{
    BRIDGE, Cleanup, PASSWORD, Simulator, USER, in_namespace, lab_preamble, labform, new_key,
    node_image, outcome, qemu_argument, qemu_pids, run, serve_node_image, ssh, ssh_eventually,
    start_simulator, wait_for_ssh, walk,
};
use labform_ids::{NodeName, VmId};
use labform_proxmox::task::{WaitOptions, wait_for_task};
use labform_proxmox::tls::{Fingerprint, TlsTrust};
use labform_proxmox::types::{ResourceType, VmAction};
use labform_proxmox::{Auth, Client, ClientOptions, ProxmoxApi as _, Secret};

const GATEWAY: &str = "10.77.0.1";
const SERVER_ADDRESS: &str = "10.77.0.10";
const AGENT_ADDRESS: &str = "10.77.0.11";

fn lab_text(port: u16, checksum: &str, keys: &[String], memory: &str) -> String {
    let preamble = lab_preamble(
        "realvms",
        (port, checksum),
        keys,
        ("10.77.0.0/24", GATEWAY, SERVER_ADDRESS),
    );
    format!(
        "{preamble}clusters:
  - name: k
    distribution: k3s
    version: v1.31.4+k3s1
    network: lan
    servers: {{count: 1, cpu: 1, memory: {memory}, disks: [{{size: 8GiB}}]}}
    agents: [{{count: 1, cpu: 1, memory: {memory}, disks: [{{size: 8GiB}}]}}]
"
    )
}

/// Asks the VM's guest agent, on its own socket, for its interfaces.
fn guest_addresses(state_dir: &Path, pid: u32) -> Vec<String> {
    let run_dir = std::fs::read_dir(state_dir.join("run"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|dir| {
            std::fs::read_to_string(dir.join("qemu.pid"))
                .is_ok_and(|text| text.trim() == pid.to_string())
        })
        .expect("the VM's run directory");
    let stream = UnixStream::connect(run_dir.join("qga.sock")).expect("the agent socket");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    writer
        .write_all(b"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":4242}}\n")
        .unwrap();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("the agent answers");
        if line.contains("4242") {
            break;
        }
    }
    writer
        .write_all(b"{\"execute\":\"guest-network-get-interfaces\"}\n")
        .unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).expect("the agent answers");
    let answer: serde_json::Value = serde_json::from_str(&line).unwrap();
    answer["return"]
        .as_array()
        .expect("a list of interfaces")
        .iter()
        .flat_map(|interface| {
            interface["ip-addresses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|address| address["ip-address"].as_str().map(str::to_owned))
        .collect()
}

/// Seconds between two instants, or from an instant to a file's modification time.
fn seconds(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn downloaded_seconds(apply_output: &str) -> f64 {
    apply_output
        .lines()
        .find(|line| line.contains("ok     download-image"))
        .and_then(|line| line.rsplit(" in ").next())
        .and_then(|text| text.trim().trim_end_matches('s').parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_lab_on_real_virtual_machines() {
    if !labform_test_tiers::REAL_VMS.available() {
        return;
    }
    let image = node_image();
    let directory = tempfile::tempdir().unwrap();
    let mut cleanup = Cleanup::with_namespace("lfreal", directory.path().join("state"), GATEWAY);
    let simulator = start_simulator(&mut cleanup, &image);
    let (port, checksum) = serve_node_image(&image);
    let (first_key, first_public) = new_key(directory.path(), "first");
    let (second_key, second_public) = new_key(directory.path(), "second");
    let lab = directory.path().join("lab.yaml");
    std::fs::write(
        &lab,
        lab_text(port, &checksum, std::slice::from_ref(&first_public), "1GiB"),
    )
    .unwrap();

    // Apply: from nothing to two running VMs.
    let apply_started = SystemTime::now();
    let started = Instant::now();
    let (ok, output) = labform(directory.path(), &simulator, "apply");
    let apply_seconds = started.elapsed().as_secs_f64();
    assert!(ok, "the first apply succeeds:\n{output}");
    let nodes = [("k-server-0", SERVER_ADDRESS), ("k-agent-0", AGENT_ADDRESS)];
    let mut ready = Vec::new();
    for (name, address) in nodes {
        let at = wait_for_ssh(&cleanup.netns, &first_key, address);
        ready.push((name, at.duration_since(started).as_secs_f64()));
    }
    let pids = qemu_pids(&cleanup.state_dir);
    let mut qemu_started = Vec::new();
    for (name, address) in nodes {
        let pid = *pids
            .get(name)
            .unwrap_or_else(|| panic!("{name} runs as a QEMU process: {pids:?}"));
        assert_eq!(qemu_argument(pid, "-m").as_deref(), Some("1024"), "{name}");
        assert_eq!(qemu_argument(pid, "-smp").as_deref(), Some("1"), "{name}");
        let pid_file_time = std::fs::read_dir(cleanup.state_dir.join("run"))
            .unwrap()
            .flatten()
            .map(|e| e.path().join("qemu.pid"))
            .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.trim() == pid.to_string()))
            .and_then(|p| std::fs::metadata(p).ok())
            .and_then(|m| m.modified().ok())
            .unwrap();
        qemu_started.push((name, seconds(apply_started, pid_file_time)));
        // Read once cloud-init is done (its status may be an error: the image has no locales).
        let facts = ssh_eventually(
            &cleanup.netns,
            &first_key,
            address,
            "cloud-init status --wait >/dev/null; hostname; id -un; lsblk -bdno SIZE /dev/sda; \
             ip -4 -o addr show dev eth0",
        );
        let lines: Vec<&str> = facts.lines().collect();
        assert_eq!(lines.first(), Some(&name), "{name}: hostname\n{facts}");
        // The VM presents the host key labform generated: `labform ssh` trusts that key only.
        let pinned = Command::new("ip")
            .args(["netns", "exec", &cleanup.netns])
            .arg(env!("CARGO_BIN_EXE_labform"))
            .args(["ssh", "-i"])
            .arg(&first_key)
            .arg(directory.path().join("lab.yaml"))
            .arg(name)
            .args(["--", "hostname"])
            .env("LABFORM_DATA_DIR", directory.path().join("data"))
            .output()
            .unwrap();
        assert!(
            pinned.status.success() && String::from_utf8_lossy(&pinned.stdout).trim() == name,
            "{name}: labform ssh connects with the pinned host key: {}",
            String::from_utf8_lossy(&pinned.stderr)
        );
        // And strict checking does refuse another key, so the check above means something.
        let other = directory.path().join(format!("wrong-known-hosts-{name}"));
        std::fs::write(&other, format!("{address} {first_public}\n")).unwrap();
        let refused = Command::new("ip")
            .args([
                "netns",
                "exec",
                &cleanup.netns,
                "ssh",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
            ])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", other.display()))
            .arg("-i")
            .arg(&first_key)
            .arg(format!("{USER}@{address}"))
            .arg("true")
            .output()
            .unwrap();
        assert!(
            !refused.status.success()
                && String::from_utf8_lossy(&refused.stderr)
                    .contains("Host key verification failed"),
            "{name}: a host key other than labform's is refused: {}",
            String::from_utf8_lossy(&refused.stderr)
        );
        assert_eq!(lines.get(1), Some(&USER), "{name}: user\n{facts}");
        assert_eq!(
            lines.get(2),
            Some(&(8u64 << 30).to_string().as_str()),
            "{name}: the disk is 8 GiB\n{facts}"
        );
        assert!(
            lines
                .get(3)
                .is_some_and(|l| l.contains(&format!("{address}/24"))),
            "{name}: eth0 has {address}/24\n{facts}"
        );
        let addresses = guest_addresses(&cleanup.state_dir, pid);
        assert!(
            addresses.iter().any(|a| a == address),
            "{name}: the guest agent reports {address}: {addresses:?}"
        );
    }
    // Each VM's NIC is a tap named as Proxmox names it, on the lab's bridge.
    let ports = cleanup.in_netns(&["-o", "link", "show", "master", BRIDGE]);
    let mut taps: Vec<&str> = ports
        .lines()
        .filter_map(|line| line.split(": ").nth(1))
        .collect();
    taps.sort_unstable();
    let mut expected: Vec<String> = std::fs::read_dir(cleanup.state_dir.join("run"))
        .unwrap()
        .flatten()
        .map(|e| format!("tap{}i0", e.file_name().to_string_lossy()))
        .collect();
    expected.sort_unstable();
    assert_eq!(taps, expected, "the bridge's ports");
    assert!(
        ssh(&cleanup.netns, &second_key, SERVER_ADDRESS, "true").is_err(),
        "the second key is not allowed yet"
    );

    // The benchmark record: labform's own work is what happens before QEMU starts, minus the
    // image download (a one-time transfer); the rest is the guests booting.
    let last_qemu_start = qemu_started.iter().map(|(_, s)| *s).fold(0.0, f64::max);
    let last_ready = ready.iter().map(|(_, s)| *s).fold(0.0, f64::max);
    let download = downloaded_seconds(&output);
    let record = serde_json::json!({
        "lab": "one server, one agent; 1 vCPU, 1 GiB, 8 GiB disk each; TCG",
        "apply_seconds": apply_seconds,
        "image_download_seconds": download,
        "qemu_started_seconds": qemu_started,
        "ssh_ready_seconds": ready,
        "apply_to_all_ssh_ready_seconds": last_ready,
        "labform_own_seconds": last_qemu_start - download,
        "labform_own_with_download_seconds": last_qemu_start,
        "boot_seconds": last_ready - last_qemu_start,
    });
    let record_path = std::env::var_os("LABFORM_REAL_VMS_BENCHMARK")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/real-vms-benchmark.json")
        });
    let _ = std::fs::write(&record_path, format!("{record:#}\n"));
    eprintln!("real-VM benchmark ({}):\n{record:#}", record_path.display());

    // Change the lab: more memory and an extra SSH key, applied in place.
    std::fs::write(
        &lab,
        lab_text(port, &checksum, &[first_public, second_public], "1536MiB"),
    )
    .unwrap();
    let (ok, output) = labform(directory.path(), &simulator, "apply");
    assert!(ok, "the second apply succeeds:\n{output}");
    assert_eq!(
        qemu_pids(&cleanup.state_dir),
        pids,
        "in place: the same VMs run on, as the same QEMU processes:\n{output}"
    );
    // What waits for the next boot is there at the next boot: stop and start each VM from
    // outside labform (the image has no D-Bus, so its guests cannot shut down cleanly).
    // A hard stop loses what the guest has not written yet: let cloud-init finish (its status
    // may be an error: the image has no locales), then flush.
    for (_, address) in nodes {
        ssh_eventually(
            &cleanup.netns,
            &first_key,
            address,
            "cloud-init status --wait >/dev/null; sync",
        );
    }
    restart_all(&simulator);
    for (name, address) in nodes {
        wait_for_ssh(&cleanup.netns, &second_key, address);
        let memory = ssh_eventually(
            &cleanup.netns,
            &first_key,
            address,
            "grep MemTotal /proc/meminfo",
        );
        let kib: u64 = memory
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!(kib > 1200 * 1024, "{name} has the added memory: {memory}");
        let pid = qemu_pids(&cleanup.state_dir)[name];
        assert_eq!(qemu_argument(pid, "-m").as_deref(), Some("1536"), "{name}");
    }

    k3s_on_the_nodes(directory.path(), &simulator, &cleanup.netns, &first_key);

    replace_the_agent(directory.path(), &simulator, &cleanup, &first_key);

    // Destroy: no QEMU process, no disk file, no tap left.
    let (ok, output) = labform(directory.path(), &simulator, "destroy");
    assert!(ok, "destroy succeeds:\n{output}");
    assert!(
        qemu_pids(&cleanup.state_dir).is_empty(),
        "no QEMU process is left"
    );
    // Disks (VMs' and the template's) and seed images are gone; the downloaded image stays in
    // the storage's import content, as on Proxmox.
    let remaining = walk(&cleanup.state_dir.join("storage"));
    let leftover: Vec<String> = remaining
        .iter()
        .filter(|path| {
            let content = path.parent().and_then(Path::file_name);
            content.is_some_and(|c| c == "images" || c == "iso")
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        leftover.is_empty(),
        "files are left after destroy: {leftover:?} (all: {remaining:?})"
    );
    let links = cleanup.in_netns(&["-o", "link", "show"]);
    assert!(
        !links.contains("tap"),
        "no tap device is left in the namespace:\n{links}"
    );
    cleanup.stop_simulator();
    drop(cleanup);
    let namespaces = run("ip", &["netns", "list"]);
    assert!(
        !namespaces.contains(&format!("lfreal{}", std::process::id())),
        "the namespace is gone"
    );
}

/// `labform replace` of the agent's VM (its cluster steps skipped: the stand-in K3s forms no
/// cluster): a new QEMU process comes up on the same address and presents the same host key,
/// which OpenSSH's strict checking accepts against the key the old VM presented (read with
/// `ssh-keyscan` before, outside labform); the next apply has nothing to do.
fn replace_the_agent(directory: &Path, simulator: &Simulator, cleanup: &Cleanup, key: &Path) {
    let (agent, address) = ("k-agent-0", AGENT_ADDRESS);
    let scanned = Command::new("ip")
        .args([
            "netns",
            "exec",
            &cleanup.netns,
            "ssh-keyscan",
            "-t",
            "ed25519",
            address,
        ])
        .output()
        .unwrap();
    let presented = String::from_utf8_lossy(&scanned.stdout).into_owned();
    assert!(
        presented.contains("ssh-ed25519"),
        "the agent presents a host key: {presented}{}",
        String::from_utf8_lossy(&scanned.stderr)
    );
    let known_hosts = directory.join("agent-known-hosts");
    std::fs::write(&known_hosts, &presented).unwrap();
    let before = qemu_pids(&cleanup.state_dir)[agent];
    let output = Command::new(env!("CARGO_BIN_EXE_labform"))
        .args(["replace", "--skip-clusters", "--yes", "--proxmox"])
        .arg(&simulator.url)
        .arg("--fingerprint")
        .arg(&simulator.fingerprint)
        .arg("--journal")
        .arg(directory.join("journal.sqlite"))
        .arg(directory.join("lab.yaml"))
        .arg(agent)
        .env("LABFORM_PVE_USER", "root@pam")
        .env("LABFORM_PVE_PASSWORD", PASSWORD)
        .env("LABFORM_DATA_DIR", directory.join("data"))
        .env_remove("LABFORM_PVE_TOKEN")
        .output()
        .expect("labform runs");
    let (ok, text) = outcome(&output);
    assert!(ok, "replace succeeds:\n{text}");
    let after = qemu_pids(&cleanup.state_dir)[agent];
    assert_ne!(
        before, after,
        "the agent runs as a new QEMU process:\n{text}"
    );
    wait_for_ssh(&cleanup.netns, key, address);
    ssh_eventually(
        &cleanup.netns,
        key,
        address,
        "cloud-init status --wait >/dev/null; true",
    );
    let strict = Command::new("ip")
        .args([
            "netns",
            "exec",
            &cleanup.netns,
            "ssh",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .arg("-i")
        .arg(key)
        .arg(format!("{USER}@{address}"))
        .arg("hostname")
        .output()
        .unwrap();
    assert!(
        strict.status.success() && String::from_utf8_lossy(&strict.stdout).trim() == agent,
        "the new VM answers on {address} with the old VM's host key: {}",
        String::from_utf8_lossy(&strict.stderr)
    );
    let (ok, output) = labform(directory, simulator, "apply");
    assert!(
        ok && output.contains("Nothing to do."),
        "after the replacement, apply has nothing to do:\n{output}"
    );
}

/// A directory with a stand-in for a K3s release of `version` (K3s itself cannot be downloaded
/// here): a `k3s` script that reports the version and fails to run anything, and its checksum
/// list. Returns the directory and the script's SHA-256.
fn stand_in_release(directory: &Path, name: &str, version: &str) -> (PathBuf, String) {
    let release = directory.join(name);
    std::fs::create_dir_all(&release).unwrap();
    let binary = format!(
        "#!/bin/sh\n\
         # A stand-in for the K3s binary, which cannot be downloaded here: not K3s.\n\
         if [ \"$1\" = --version ]; then echo 'k3s version {version} (stand-in)'; exit 0; fi\n\
         echo \"stand-in for K3s: cannot run '$1' here\" >&2\n\
         exit 1\n"
    );
    std::fs::write(release.join("k3s"), binary).unwrap();
    let digest = run("sha256sum", &[release.join("k3s").to_str().unwrap()]);
    let digest = digest.split_whitespace().next().unwrap().to_owned();
    std::fs::write(
        release.join("sha256sum-amd64.txt"),
        format!("{digest}  k3s\n"),
    )
    .unwrap();
    (release, digest)
}

/// `labform COMMAND` run inside the namespace with the K3s release `artifacts` and, when given,
/// `LABFORM_CLUSTER_TIMEOUT`; see [`in_namespace`].
fn k3s_in_namespace(
    directory: &Path,
    simulator: &Simulator,
    netns: &str,
    artifacts: &Path,
    cluster_timeout: Option<&str>,
    command: &str,
    extra: &[&str],
) -> (Option<i32>, String) {
    let mut environment = vec![("LABFORM_K3S_ARTIFACTS", artifacts.as_os_str())];
    if let Some(seconds) = cluster_timeout {
        environment.push(("LABFORM_CLUSTER_TIMEOUT", std::ffi::OsStr::new(seconds)));
    }
    in_namespace(directory, simulator, netns, command, extra, &environment)
}

/// `labform apply` run inside the namespace (where the VMs are); see [`k3s_in_namespace`].
fn apply_in_namespace(
    directory: &Path,
    simulator: &Simulator,
    netns: &str,
    artifacts: &Path,
    cluster_timeout: Option<&str>,
) -> (bool, String) {
    let extra = common::vms::apply_arguments(directory);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let (status, text) = k3s_in_namespace(
        directory,
        simulator,
        netns,
        artifacts,
        cluster_timeout,
        "apply",
        &extra,
    );
    (status == Some(0), text)
}

/// The cluster phase on the real VMs. With `LABFORM_K3S_ARTIFACTS` (a directory with a K3s
/// release: `k3s`, `sha256sum-amd64.txt`, optionally the air-gap images), all the way to a Ready
/// cluster and its kubeconfig. Without it (K3s cannot be downloaded here), with a stand-in
/// binary that is not K3s: labform logs in with its own key, checks the pinned host keys,
/// installs the verified binary, configuration, token and unit as root, starts the service, and
/// reports the node that never becomes Ready with what its service logged.
fn k3s_on_the_nodes(directory: &Path, simulator: &Simulator, netns: &str, key: &Path) {
    let nodes = [("k-server-0", SERVER_ADDRESS), ("k-agent-0", AGENT_ADDRESS)];
    if let Some(artifacts) = std::env::var_os("LABFORM_K3S_ARTIFACTS") {
        let artifacts = PathBuf::from(artifacts);
        let (ok, output) = apply_in_namespace(directory, simulator, netns, &artifacts, None);
        assert!(ok, "apply carries on to a Ready K3s cluster:\n{output}");
        let listing = ssh_eventually(
            netns,
            key,
            SERVER_ADDRESS,
            "sudo k3s kubectl get nodes --no-headers",
        );
        for (name, _) in nodes {
            assert!(
                listing
                    .lines()
                    .any(|line| line.starts_with(name) && line.contains(" Ready ")),
                "{name} is Ready:\n{listing}"
            );
        }
        let kubeconfig = std::fs::read_to_string(directory.join("kubeconfig")).unwrap();
        assert!(
            kubeconfig.contains("server: https://10.77.0.10:6443"),
            "{kubeconfig}"
        );
        let (ok, output) = apply_in_namespace(directory, simulator, netns, &artifacts, None);
        assert!(ok && output.contains("already as planned"), "{output}");
        return;
    }
    // A release of another version: installed, refused before any service starts.
    let (other, _) = stand_in_release(directory, "k3s-other-version", "v1.30.0+k3s1");
    let (ok, output) = apply_in_namespace(directory, simulator, netns, &other, Some("30"));
    assert!(
        !ok,
        "a binary of another version fails the apply:\n{output}"
    );
    assert!(
        output.contains(
            "node k-server-0: the K3s binary installed reports v1.30.0+k3s1 but the lab asks for v1.31.4+k3s1"
        ),
        "{output}"
    );
    let state = ssh_eventually(
        netns,
        key,
        SERVER_ADDRESS,
        "sudo systemctl is-active k3s.service || true",
    );
    assert_ne!(state.trim(), "active", "the service was not started");

    let (stand_in, digest) = stand_in_release(directory, "k3s-stand-in", "v1.31.4+k3s1");
    // Without a shorter limit this would wait ten minutes for the stand-in.
    let (ok, output) = apply_in_namespace(directory, simulator, netns, &stand_in, Some("30"));
    assert!(!ok, "a server that never starts fails the apply:\n{output}");
    assert!(
        output.contains("cluster k: the first server k-server-0 wrote no kubeconfig"),
        "the error names the cluster and the node:\n{output}"
    );
    assert!(
        output.contains("stand-in for K3s: cannot run 'server' here"),
        "the error shows what the node's service logged:\n{output}"
    );
    // What labform installed, as root, from the verified files.
    let installed = ssh_eventually(
        netns,
        key,
        SERVER_ADDRESS,
        "sudo sha256sum /usr/local/bin/k3s; sudo stat -c '%a %U %n' /etc/rancher/k3s/token /etc/rancher/k3s/config.yaml /usr/local/bin/k3s; sudo systemctl is-enabled k3s.service; sudo grep -c . /etc/rancher/k3s/token",
    );
    assert!(installed.contains(&digest), "{installed}");
    assert!(
        installed.contains("600 root /etc/rancher/k3s/token"),
        "{installed}"
    );
    assert!(
        installed.contains("600 root /etc/rancher/k3s/config.yaml"),
        "{installed}"
    );
    assert!(
        installed.contains("755 root /usr/local/bin/k3s"),
        "{installed}"
    );
    assert!(installed.contains("enabled"), "{installed}");
    let config = ssh_eventually(
        netns,
        key,
        SERVER_ADDRESS,
        "sudo cat /etc/rancher/k3s/config.yaml",
    );
    assert!(
        config.contains("cluster-init: true") && config.contains("node-ip: \"10.77.0.10\""),
        "{config}"
    );
    // The agent is not touched before its server runs.
    let agent = ssh_eventually(
        netns,
        key,
        AGENT_ADDRESS,
        "test -e /usr/local/bin/k3s && echo present || echo absent",
    );
    assert_eq!(agent.trim(), "absent");
    // Drift: what apply would change on each node, found over SSH, nothing changed. The server
    // runs a failing service; the agent has nothing yet; a hand edit shows up by name.
    ssh_eventually(
        netns,
        key,
        SERVER_ADDRESS,
        "echo '# a hand edit' | sudo tee -a /etc/rancher/k3s/config.yaml > /dev/null",
    );
    let (code, drift) =
        k3s_in_namespace(directory, simulator, netns, &stand_in, None, "drift", &[]);
    assert_eq!(code, Some(2), "drift found:\n{drift}");
    assert!(
        drift.contains(
            "cluster k, node k-server-0:\n  files differ or are missing: /etc/rancher/k3s/config.yaml\n"
        ),
        "{drift}"
    );
    assert!(drift.contains("cluster k, node k-agent-0:\n  files differ or are missing: /usr/local/bin/k3s, /etc/rancher/k3s/config.yaml, /etc/rancher/k3s/token, /etc/systemd/system/k3s-agent.service\n"), "{drift}");
    assert!(drift.contains("2 cluster node(s) differ"), "{drift}");
    let edited = ssh_eventually(
        netns,
        key,
        SERVER_ADDRESS,
        "sudo tail -n 1 /etc/rancher/k3s/config.yaml",
    );
    assert_eq!(edited.trim(), "# a hand edit", "drift changes nothing");

    // The join token never appears in what labform printed.
    let token = ssh_eventually(
        netns,
        key,
        SERVER_ADDRESS,
        "sudo cat /etc/rancher/k3s/token",
    );
    assert!(!output.contains(token.trim()), "the token is not printed");

    // Reset takes it all off again.
    let reset = Command::new("ip")
        .args([
            "netns",
            "exec",
            netns,
            env!("CARGO_BIN_EXE_labform"),
            "reset",
            "--yes",
        ])
        .arg(directory.join("lab.yaml"))
        .arg("k")
        .env("LABFORM_DATA_DIR", directory.join("data"))
        .env("LABFORM_CLUSTER_TIMEOUT", "60")
        .output()
        .expect("labform runs");
    assert!(
        reset.status.success(),
        "reset: {}",
        String::from_utf8_lossy(&reset.stderr)
    );
    let gone = ssh_eventually(
        netns,
        key,
        SERVER_ADDRESS,
        "ls /usr/local/bin/k3s /etc/rancher/k3s /etc/systemd/system/k3s.service 2>&1 | grep -c 'No such file'",
    );
    assert_eq!(gone.trim(), "3", "reset removes K3s's files");
}

/// Stops and starts every VM of the lab through the simulator's API, with the Proxmox client
/// (not the `labform` binary): pending changes are applied at the cold start.
fn restart_all(simulator: &Simulator) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let api = Client::new(ClientOptions::new(
        simulator.url.clone(),
        Auth::Password {
            username: "root@pam".into(),
            password: Secret::new(PASSWORD),
        },
        TlsTrust::Fingerprint(Fingerprint::parse(&simulator.fingerprint).unwrap()),
    ))
    .unwrap();
    runtime.block_on(async {
        let resources = api.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
        for resource in resources.iter().filter(|r| r.template != Some(true)) {
            let node = NodeName::new(resource.node.clone().unwrap());
            let vm_id = VmId::new(resource.vmid.unwrap() as u32).unwrap();
            for action in [VmAction::Stop, VmAction::Start] {
                let upid = api.vm_action(&node, vm_id, action).await.unwrap();
                wait_for_task(&api, &upid, WaitOptions::default())
                    .await
                    .unwrap_or_else(|e| panic!("{action:?} {vm_id}: {e}"));
            }
        }
    });
}
