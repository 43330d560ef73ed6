//! A kubeadm cluster formed by `labform apply` on real QEMU VMs, for the tests that need one
//! (`real_kubeadm_vms.rs`; a test of `labform replace` can start from it too): one control plane
//! (2 vCPUs, 2 GiB, as kubeadm's preflight asks) and one worker, `distribution: kubeadm`,
//! `version: v1.20.2`, air-gapped from the directory `scripts/kubernetes-air-gap.py` makes out of
//! `../shared/k8s` and Debian's packages (binaries, control-plane images built from them, the OS
//! packages the node image lacks).
//!
//! No image of a CNI can be built here (Calico's and Cilium's come from registries that cannot be
//! reached), and a node without a CNI configuration never becomes Ready. So the formation writes,
//! as the stand-in for the CNI and from outside labform, a bridge configuration for Debian's CNI
//! plugins on each node (`/etc/cni/net.d/10-labform-test-bridge.conflist`, host-local addresses,
//! pods reach their own node only) before the cluster phase runs. labform itself skips the
//! add-ons, Calico among them, saying that the Helm controller's image is not in the air-gap
//! directory.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::vms::{
    Cleanup, Simulator, apply_arguments, in_namespace, lab_preamble, labform, new_key, node_image,
    serve_node_image, ssh_eventually, start_simulator, wait_for_ssh,
};

/// The lab's gateway on the bridge.
pub const GATEWAY: &str = "10.78.0.1";
/// The control plane's address.
pub const CONTROL_PLANE_ADDRESS: &str = "10.78.0.10";
/// The worker's address.
pub const WORKER_ADDRESS: &str = "10.78.0.11";
/// The control plane's VM and node name.
pub const CONTROL_PLANE: &str = "k-server-0";
/// The worker's VM and node name.
pub const WORKER: &str = "k-agent-0";
/// The label labform sets on the worker through the API once it has joined (the kubelet may
/// not give itself a `node-role.kubernetes.io` label).
pub const WORKER_LABEL: &str = "node-role.kubernetes.io/worker=true";
/// The nodes with their addresses.
pub const NODES: [(&str, &str); 2] = [
    (CONTROL_PLANE, CONTROL_PLANE_ADDRESS),
    (WORKER, WORKER_ADDRESS),
];
/// Seconds a failed test keeps its VMs running for reading before its cleanup ends them.
pub const KEEP_VMS_VARIABLE: &str = "LABFORM_KEEP_VMS_SECONDS";
/// `LABFORM_CLUSTER_TIMEOUT` of the cluster phase: software emulation on a shared machine is slow.
pub const CLUSTER_TIMEOUT_SECONDS: &str = "1800";

/// The air-gap directory, made by `scripts/kubernetes-air-gap.py` unless a finished one is
/// cached (`$LABFORM_KUBERNETES_AIR_GAP`, default `$HOME/.cache/labform/kubernetes-air-gap`).
pub fn air_gap_directory() -> PathBuf {
    let directory = std::env::var_os("LABFORM_KUBERNETES_AIR_GAP")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            PathBuf::from(home).join(".cache/labform/kubernetes-air-gap")
        });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kubernetes-air-gap.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg(&directory)
        .arg("--release-dir")
        .arg(labform_test_tiers::kubernetes_release_dir())
        .status()
        .expect("the air-gap script runs");
    assert!(
        status.success(),
        "making the air-gap directory failed: {status}"
    );
    directory
}

/// The lab: one control plane and one worker of kubeadm v1.20.2, the worker with
/// [`WORKER_LABEL`] as an `api_labels` entry.
pub fn lab_text(port: u16, checksum: &str, key: &str) -> String {
    let preamble = lab_preamble(
        "realkubeadm",
        (port, checksum),
        &[key.to_owned()],
        ("10.78.0.0/24", GATEWAY, CONTROL_PLANE_ADDRESS),
    );
    format!(
        "{preamble}clusters:
  - name: k
    distribution: kubeadm
    version: v1.20.2
    network: lan
    cni: calico
    pod_cidr: 10.244.0.0/16
    service_cidr: 10.96.0.0/12
    servers: {{count: 1, cpu: 2, memory: 2GiB, disks: [{{size: 8GiB}}]}}
    agents: [{{count: 1, cpu: 1, memory: 1536MiB, disks: [{{size: 8GiB}}], api_labels: [{WORKER_LABEL}]}}]
"
    )
}

/// The stand-in for the CNI on the node with index `index`: a bridge with host-local
/// addresses of its own /24 (see the module's documentation).
pub fn stand_in_cni(index: usize) -> String {
    format!(
        r#"{{"cniVersion": "0.4.0", "name": "labform-test-bridge", "plugins": [
  {{"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
   "ipam": {{"type": "host-local", "ranges": [[{{"subnet": "10.244.{}.0/24"}}]], "routes": [{{"dst": "0.0.0.0/0"}}]}}}},
  {{"type": "portmap", "capabilities": {{"portMappings": true}}}}
]}}"#,
        100 + index
    )
}

/// Seconds from `from` to the instants of a timed run.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    /// `labform apply --skip-clusters`: the VMs created and started.
    pub vms_apply_seconds: f64,
    /// From that apply's start until every node answers SSH.
    pub ssh_ready_seconds: f64,
    /// The cluster phase: `labform apply` until it returned (every node Ready).
    pub cluster_apply_seconds: f64,
}

/// A kubeadm cluster on real VMs; everything is undone when it is dropped.
pub struct KubeadmVms {
    /// The namespace and the simulator. Dropped before `directory` (fields drop in order):
    /// it finds the VMs to stop by the pidfiles in the simulator's state directory inside it.
    pub cleanup: Cleanup,
    /// The simulator's address.
    pub simulator: Simulator,
    /// The login key of the lab's user.
    pub key: PathBuf,
    /// The air-gap directory.
    pub air_gap: PathBuf,
    /// The first cluster apply: whether it succeeded and what it printed.
    pub first_apply: (bool, String),
    /// How long the steps took.
    pub timings: Timings,
    /// The lab's directory (lab file, journal, labform's data, kubeconfig, the simulator's
    /// state): removed last.
    pub directory: tempfile::TempDir,
}

impl KubeadmVms {
    /// Builds the VMs, puts the stand-in CNI on them and applies the cluster.
    pub fn form() -> Self {
        let image = node_image();
        let air_gap = air_gap_directory();
        let directory = tempfile::tempdir().unwrap();
        let mut cleanup =
            Cleanup::with_namespace("lfkadm", directory.path().join("state"), GATEWAY);
        let simulator = start_simulator(&mut cleanup, &image);
        let (port, checksum) = serve_node_image(&image);
        let (key, public) = new_key(directory.path(), "login");
        std::fs::write(
            directory.path().join("lab.yaml"),
            lab_text(port, &checksum, &public),
        )
        .unwrap();

        let mut timings = Timings::default();
        let started = Instant::now();
        let (ok, output) = labform(directory.path(), &simulator, "apply");
        timings.vms_apply_seconds = started.elapsed().as_secs_f64();
        assert!(ok, "the VMs are applied:\n{output}");
        for (index, (_, address)) in NODES.iter().enumerate() {
            wait_for_ssh(&cleanup.netns, &key, address);
            ssh_eventually(
                &cleanup.netns,
                &key,
                address,
                &format!(
                    "cloud-init status --wait > /dev/null; sudo mkdir -p /etc/cni/net.d && echo '{}' | sudo tee /etc/cni/net.d/10-labform-test-bridge.conflist > /dev/null",
                    stand_in_cni(index)
                ),
            );
        }
        timings.ssh_ready_seconds = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let first_apply = Self::apply_clusters(directory.path(), &simulator, &cleanup, &air_gap);
        timings.cluster_apply_seconds = started.elapsed().as_secs_f64();
        KubeadmVms {
            directory,
            cleanup,
            simulator,
            key,
            air_gap,
            first_apply,
            timings,
        }
    }

    fn apply_clusters(
        directory: &Path,
        simulator: &Simulator,
        cleanup: &Cleanup,
        air_gap: &Path,
    ) -> (bool, String) {
        let mut extra = apply_arguments(directory);
        extra.push("--kubernetes-artifacts".to_owned());
        extra.push(air_gap.display().to_string());
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let (code, text) = in_namespace(
            directory,
            simulator,
            &cleanup.netns,
            "apply",
            &extra,
            &[(
                "LABFORM_CLUSTER_TIMEOUT",
                OsStr::new(CLUSTER_TIMEOUT_SECONDS),
            )],
        );
        (code == Some(0), text)
    }

    /// `labform apply` of the whole lab again, inside the namespace.
    pub fn apply(&self) -> (bool, String) {
        Self::apply_clusters(
            self.directory.path(),
            &self.simulator,
            &self.cleanup,
            &self.air_gap,
        )
    }

    /// `labform COMMAND EXTRA LAB` inside the namespace.
    pub fn labform(&self, command: &str, extra: &[&str]) -> (Option<i32>, String) {
        in_namespace(
            self.directory.path(),
            &self.simulator,
            &self.cleanup.netns,
            command,
            extra,
            &[(
                "LABFORM_CLUSTER_TIMEOUT",
                OsStr::new(CLUSTER_TIMEOUT_SECONDS),
            )],
        )
    }

    /// The air-gap directory's kubectl with the merged kubeconfig, inside the namespace.
    pub fn kubectl(&self, arguments: &[&str]) -> Result<String, String> {
        let output = Command::new("ip")
            .args(["netns", "exec", &self.cleanup.netns])
            .arg(self.air_gap.join("kubectl"))
            .arg("--kubeconfig")
            .arg(self.directory.path().join("kubeconfig"))
            .args(arguments)
            .output()
            .map_err(|error| error.to_string())?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(super::output_text(&output))
        }
    }

    /// Runs `command` on the node at `address` over SSH.
    pub fn ssh(&self, address: &str, command: &str) -> String {
        ssh_eventually(&self.cleanup.netns, &self.key, address, command)
    }

    /// What each node shows of a cluster that did not form: the kubelet's journal, containerd's
    /// containers and tasks, the static pods' manifests and the machine's load, read over SSH
    /// (a node that does not answer says so).
    pub fn diagnostics(&self) -> String {
        let mut text = String::new();
        for (name, address) in NODES {
            let read = super::vms::ssh(
                &self.cleanup.netns,
                &self.key,
                address,
                "sudo sh -c 'uptime; free -m; ls -l /etc/kubernetes/manifests; \
                 ctr -n k8s.io containers ls; ctr -n k8s.io tasks ls; \
                 journalctl -u kubelet --no-pager -n 200'",
            );
            text.push_str(&format!(
                "===== {name} ({address})\n{}\n",
                read.unwrap_or_else(|error| format!("not read: {error}"))
            ));
        }
        text
    }

    /// Keeps the VMs running for `LABFORM_KEEP_VMS_SECONDS` (when set) before the test's cleanup
    /// ends them, printing how to reach them, so that a person can read a failed node.
    pub fn hold_for_reading(&self) {
        let Some(seconds) = std::env::var(KEEP_VMS_VARIABLE)
            .ok()
            .and_then(|text| text.parse::<u64>().ok())
        else {
            return;
        };
        eprintln!(
            "keeping the VMs for {seconds} s ({KEEP_VMS_VARIABLE}): ip netns exec {} ssh -i {} -o StrictHostKeyChecking=no {}@{CONTROL_PLANE_ADDRESS} (worker {WORKER_ADDRESS})",
            self.cleanup.netns,
            self.key.display(),
            super::vms::USER,
        );
        std::thread::sleep(std::time::Duration::from_secs(seconds));
    }

    /// Plain text of `labform` with `extra` run from outside the namespace (VMs only).
    pub fn labform_outside(&self, command: &str) -> (bool, String) {
        labform(self.directory.path(), &self.simulator, command)
    }
}

/// What a kubeadm progress line says, with the seconds labform printed: `[  12.3s] cluster k:
/// SUBJECT: STEP`.
pub fn progress_steps(output: &str) -> Vec<(f64, String, String)> {
    output
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix('[')?;
            let (seconds, rest) = rest.split_once("s] cluster ")?;
            let seconds: f64 = seconds.trim().parse().ok()?;
            let (_, rest) = rest.split_once(": ")?;
            let (subject, step) = rest.split_once(": ")?;
            Some((seconds, subject.to_owned(), step.to_owned()))
        })
        .collect()
}
