//! What the tests on real QEMU VMs share (`real_vms.rs`, `real_kubeadm_vms.rs`): the network
//! namespace with the lab's bridge and what is undone when a test ends, the node image, the
//! image served over HTTP, `labform sim serve --qemu`, SSH into the namespace, QEMU processes
//! and `labform` run inside the namespace (where the VMs are) against the simulator outside.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use labform_test_tiers::KillOnDrop;

/// root@pam's password of the QEMU-backed simulators.
pub const PASSWORD: &str = "real-vms-test-password";
/// The lab's bridge in the namespace.
pub const BRIDGE: &str = "vmbr0";
/// The login user of the labs' VMs.
pub const USER: &str = "lab";
/// How long a VM may take from apply to SSH under software emulation before the test gives up.
pub const BOOT_DEADLINE: Duration = Duration::from_secs(900);

/// Everything a test made outside its temporary directory, undone on drop (also on failure).
pub struct Cleanup {
    /// The network namespace.
    pub netns: String,
    /// The simulator's state directory.
    pub state_dir: PathBuf,
    /// The simulator.
    pub simulator: Option<Child>,
}

impl Cleanup {
    /// A namespace named `prefix` and the process ID, with loopback up and the lab's bridge
    /// holding `gateway/24`; nothing leaves the namespace.
    pub fn with_namespace(prefix: &str, state_dir: PathBuf, gateway: &str) -> Self {
        let cleanup = Cleanup {
            netns: format!("{prefix}{}", std::process::id()),
            state_dir,
            simulator: None,
        };
        run("ip", &["netns", "add", &cleanup.netns]);
        cleanup.in_netns(&["link", "set", "dev", "lo", "up"]);
        cleanup.in_netns(&["link", "add", "name", BRIDGE, "type", "bridge"]);
        cleanup.in_netns(&["addr", "add", &format!("{gateway}/24"), "dev", BRIDGE]);
        cleanup.in_netns(&["link", "set", "dev", BRIDGE, "up"]);
        cleanup
    }

    /// `ip -n NETNS ARGS`.
    pub fn in_netns(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.netns.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Stops the simulator (SIGTERM, so it ends its QEMU processes itself).
    pub fn stop_simulator(&mut self) {
        if let Some(mut child) = self.simulator.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.stop_simulator();
        for pid in qemu_pids(&self.state_dir).into_values() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

/// The node image, built by the shared build script unless a finished one is cached.
pub fn node_image() -> PathBuf {
    let directory = std::env::var_os("LABFORM_VM_IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            PathBuf::from(home).join(".cache/labform/vm-image")
        });
    let script = labform_test_tiers::node_image_build_script();
    let status = Command::new("bash")
        .arg(&script)
        .arg(&directory)
        .status()
        .expect("the image build script runs");
    assert!(status.success(), "building the node image failed: {status}");
    directory
}

/// Runs `program` with `args`, which must succeed; returns its standard output.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The node image's disk served over HTTP: the port and the disk's SHA-256.
pub fn serve_node_image(image: &Path) -> (u16, String) {
    let image_file = image.join("debian-12-node.qcow2");
    let checksum = run("sha256sum", &[image_file.to_str().unwrap()])
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    (super::serve_file(image_file), checksum)
}

/// The part every real-VM lab shares: lab `name` on the simulator's one node with its local
/// storage, the node image served on `port` as the default image, the lab's user with `keys`,
/// and the network `lan` on the bridge: `cidr` (a /24), gateway `gateway`, node addresses
/// `first_node`-.99. The caller adds its clusters.
pub fn lab_preamble(
    name: &str,
    (port, checksum): (u16, &str),
    keys: &[String],
    (cidr, gateway, first_node): (&str, &str, &str),
) -> String {
    let keys: Vec<String> = keys.iter().map(|key| format!("'{key}'")).collect();
    let last = first_node
        .rsplit_once('.')
        .map_or("", |(network, _)| network);
    format!(
        "lab: {name}
proxmox:
  - name: sim
    endpoint: https://127.0.0.1:8006
    credentials: {{password: {{user: root@pam, password: {{env: LABFORM_PVE_PASSWORD}}}}}}
    nodes: [{{name: pve1, cpu: 16, memory: 64GiB}}]
    storages:
      - {{name: local, content: [iso, import, snippets, images], capacity: 100GiB, type: dir}}
images:
  - {{name: debian, url: 'http://127.0.0.1:{port}/debian-12-node.qcow2', checksum: 'sha256:{checksum}'}}
defaults:
  image: debian
  user: {USER}
  ssh_keys: [{keys}]
networks:
  - {{name: lan, bridge: {BRIDGE}, cidr: {cidr}, gateway: {gateway}, pools: [{{name: nodes, purpose: nodes, range: {first_node}-{last}.99}}]}}
",
        keys = keys.join(", ")
    )
}

/// labform's environment against the QEMU-backed simulator as root@pam, its data in
/// `directory`.
fn simulator_environment<'a>(command: &'a mut Command, directory: &Path) -> &'a mut Command {
    command
        .env("LABFORM_PVE_USER", "root@pam")
        .env("LABFORM_PVE_PASSWORD", PASSWORD)
        .env("LABFORM_DATA_DIR", directory.join("data"))
        .env_remove("LABFORM_PVE_TOKEN")
}

/// A running `labform sim serve --qemu`.
pub struct Simulator {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// Its certificate's SHA-256 fingerprint.
    pub fingerprint: String,
}

/// Starts `labform sim serve --qemu` with one node, its VMs in the cleanup's namespace.
pub fn start_simulator(cleanup: &mut Cleanup, image: &Path) -> Simulator {
    let mut child = Command::new(env!("CARGO_BIN_EXE_labform"))
        .args(["sim", "serve", "--listen", "127.0.0.1:0", "--nodes", "1"])
        .args(["--time-scale", "0", "--qemu", "--netns", &cleanup.netns])
        .arg("--state-dir")
        .arg(&cleanup.state_dir)
        .arg("--kernel-dir")
        .arg(image)
        .env("LABFORM_SIM_ROOT_PASSWORD", PASSWORD)
        .stdout(Stdio::piped())
        .spawn()
        .expect("labform sim serve starts");
    let (url, fingerprint) = super::simulator_address(&mut child);
    cleanup.simulator = Some(child);
    Simulator { url, fingerprint }
}

/// Whether a command succeeded, and what it printed (standard output, then standard error).
pub fn outcome(output: &std::process::Output) -> (bool, String) {
    (output.status.success(), super::output_text(output))
}

/// `labform COMMAND --proxmox URL --fingerprint FP --yes --journal J LAB` run outside the
/// namespace (so `apply` gets `--skip-clusters`: labform cannot reach the VMs from here).
pub fn labform(directory: &Path, simulator: &Simulator, command: &str) -> (bool, String) {
    let mut labform = Command::new(env!("CARGO_BIN_EXE_labform"));
    labform.arg(command);
    if command == "apply" {
        labform.arg("--skip-clusters");
    }
    labform
        .arg("--proxmox")
        .arg(&simulator.url)
        .arg("--fingerprint")
        .arg(&simulator.fingerprint)
        .arg("--yes")
        .arg("--journal")
        .arg(directory.join("journal.sqlite"))
        .arg(directory.join("lab.yaml"));
    let output = simulator_environment(&mut labform, directory)
        .output()
        .expect("labform runs");
    outcome(&output)
}

/// Runs `command` on `address` as the lab's user with `key`, from inside the namespace.
pub fn ssh(netns: &str, key: &Path, address: &str, command: &str) -> Result<String, String> {
    let output = Command::new("ip")
        .args(["netns", "exec", netns, "ssh", "-i"])
        .arg(key)
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
        ])
        .arg(format!("{USER}@{address}"))
        .arg(command)
        .output()
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// Runs `command` over SSH, retrying while the connection fails (cloud-init restarts the SSH
/// server when it installs host keys) until it works or the boot deadline passes.
pub fn ssh_eventually(netns: &str, key: &Path, address: &str, command: &str) -> String {
    let deadline = Instant::now() + BOOT_DEADLINE;
    loop {
        match ssh(netns, key, address, command) {
            Ok(output) => return output,
            Err(error) => assert!(
                Instant::now() < deadline,
                "{address}: `{command}` kept failing: {error}"
            ),
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Waits until SSH with `key` answers on `address`; returns when it did.
pub fn wait_for_ssh(netns: &str, key: &Path, address: &str) -> Instant {
    let deadline = Instant::now() + BOOT_DEADLINE;
    loop {
        match ssh(netns, key, address, "true") {
            Ok(_) => return Instant::now(),
            Err(error) => assert!(
                Instant::now() < deadline,
                "{address} did not answer SSH within {BOOT_DEADLINE:?}: {error}"
            ),
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Running QEMU processes of the state directory, by VM name (from QEMU's `-name`).
pub fn qemu_pids(state_dir: &Path) -> std::collections::BTreeMap<String, u32> {
    let mut found = std::collections::BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(state_dir.join("run")) else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join("qemu.pid")) else {
            continue;
        };
        let Ok(pid) = text.trim().parse::<u32>() else {
            continue;
        };
        if let Some(name) = qemu_argument(pid, "-name") {
            found.insert(name.split(',').next().unwrap_or(&name).to_owned(), pid);
        }
    }
    found
}

/// The QEMU argument after `flag` of process `pid`.
pub fn qemu_argument(pid: u32, flag: &str) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let arguments: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let index = arguments.iter().position(|a| a == flag)?;
    arguments.get(index + 1).cloned()
}

/// A new ed25519 key pair `name` in `directory`: the private key's path and the public key.
pub fn new_key(directory: &Path, name: &str) -> (PathBuf, String) {
    let path = directory.join(name);
    run(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            name,
            "-f",
            path.to_str().unwrap(),
        ],
    );
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, public.trim().to_owned())
}

/// `labform COMMAND --proxmox ... EXTRA LAB` run inside the namespace (where the VMs are),
/// reaching the simulator's API on the host's loopback through a Unix socket bridged by socat
/// on both sides, with `environment` added. Returns the exit code and what it printed.
pub fn in_namespace(
    directory: &Path,
    simulator: &Simulator,
    netns: &str,
    command: &str,
    extra: &[&str],
    environment: &[(&str, &std::ffi::OsStr)],
) -> (Option<i32>, String) {
    let port = simulator.url.rsplit(':').next().unwrap().to_owned();
    let socket = directory.join("api.sock");
    let _ = std::fs::remove_file(&socket);
    // The bridge's two processes, killed when the command has run.
    let mut bridge = Vec::new();
    bridge.push(KillOnDrop(
        Command::new("socat")
            .arg(format!("UNIX-LISTEN:{},fork", socket.display()))
            .arg(format!("TCP:127.0.0.1:{port}"))
            .spawn()
            .expect("socat runs"),
    ));
    while !socket.exists() {
        std::thread::sleep(Duration::from_millis(50));
    }
    bridge.push(KillOnDrop(
        Command::new("ip")
            .args(["netns", "exec", netns, "socat"])
            .arg("TCP-LISTEN:8006,bind=127.0.0.1,reuseaddr,fork")
            .arg(format!("UNIX-CONNECT:{}", socket.display()))
            .spawn()
            .expect("socat runs in the namespace"),
    ));
    std::thread::sleep(Duration::from_millis(500));
    let mut labform = Command::new("ip");
    for (name, value) in environment {
        labform.env(name, value);
    }
    labform
        .args([
            "netns",
            "exec",
            netns,
            env!("CARGO_BIN_EXE_labform"),
            command,
        ])
        .args(["--proxmox", "https://127.0.0.1:8006", "--fingerprint"])
        .arg(&simulator.fingerprint)
        .args(extra)
        .arg(directory.join("lab.yaml"));
    let output = simulator_environment(&mut labform, directory)
        .output()
        .expect("labform runs");
    let (_, text) = outcome(&output);
    (output.status.code(), text)
}

/// The `--yes --journal J --kubeconfig K` arguments of an apply in `directory`.
pub fn apply_arguments(directory: &Path) -> Vec<String> {
    vec![
        "--yes".to_owned(),
        "--journal".to_owned(),
        directory.join("journal.sqlite").display().to_string(),
        "--kubeconfig".to_owned(),
        directory.join("kubeconfig").display().to_string(),
    ]
}

/// Every file below `directory`.
pub fn walk(directory: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(directory) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}
