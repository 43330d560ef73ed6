//! Where the cluster runs: fresh PID, mount and network namespaces, held by one small shell
//! process (the namespaces' init) that the test process feeds through a pipe.
//!
//! - **PID namespace.** Every component is started inside it (`nsenter`), so containerd's
//!   shims and the containers they start are in it too. When its init ends, the kernel kills
//!   every process in it: nothing outlives the cluster.
//! - **Mount namespace.** `/run`, `/var/log` and `/var/lib/cni` are private tmpfs there, so
//!   containerd's shim sockets, the kubelet's pod logs and the CNI plugins' state never touch
//!   the machine's; the kubelet's and containerd's own mounts (secret volumes, overlay
//!   snapshots) vanish with the namespace.
//! - **Network namespace.** Its own loopback (etcd and the API server's ports cannot clash
//!   with anything else on the machine) and one end of a veth pair with a private address
//!   (`100.72.0.0/16`, a /30 per test process), which the kubelet registers as the node's
//!   address and through which the test process reaches the API server. The pair and the pod
//!   bridge disappear with the namespace.
//!
//! Teardown needs no cooperation from the tests: the init reads its standard input, a pipe
//! whose only writer is the test process. When the test process ends, however it ends (tests
//! passed or failed, a panic, a kill), the pipe closes, and the init kills everything in the
//! namespace, removes the kubelet's cgroups, unmounts and deletes the state directory, and
//! exits. What a killed init could not clean (its state directory, cgroups named after a
//! process that no longer exists) is removed by the next start.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

use crate::StartError;

/// The namespaces' init: private mounts, loopback up, `ready`, then wait for the test process
/// to end and clean up. `$1` is the state directory, `$2` the name of the kubelet's cgroup.
const INIT: &str = r#"set -u
state=$1
cgroup=$2
mount -t tmpfs -o mode=0755 labform-run /run || exit 1
mount -t tmpfs -o mode=0755 labform-log /var/log || exit 1
made_cni=
if [ ! -d /var/lib/cni ]; then mkdir -p /var/lib/cni && made_cni=1; fi
mount -t tmpfs -o mode=0755 labform-cni /var/lib/cni || exit 1
ip link set lo up || exit 1
echo ready
read -r _line
kill -KILL -1 2>/dev/null
for _attempt in 1 2 3 4 5 6 7 8 9 10; do
  sleep 1
  kill -KILL -1 2>/dev/null
  left=
  for directory in /sys/fs/cgroup/*/"$cgroup"; do
    [ -d "$directory" ] || continue
    find "$directory" -depth -type d -exec rmdir {} \; 2>/dev/null
    [ -d "$directory" ] && left=1
  done
  [ -z "$left" ] && break
done
awk -v prefix="$state" 'index($2, prefix) == 1 { print $2 }' /proc/self/mounts | sort -r |
  while read -r mountpoint; do umount -l "$mountpoint"; done
rm -rf "$state"
umount -l /var/lib/cni
if [ -n "$made_cni" ]; then rmdir /var/lib/cni; fi
"#;

/// The directory under the temporary directory where each test process keeps its cluster's
/// state, in a subdirectory named after its process ID.
pub(crate) fn runs_dir() -> PathBuf {
    std::env::temp_dir().join("labform-real-kubernetes")
}

/// The name of the kubelet's cgroup (its `cgroupRoot`) for test process `process`.
pub(crate) fn cgroup_name(process: u32) -> String {
    format!("labform-real-kubernetes-{process}")
}

fn failed(detail: impl Into<String>) -> StartError {
    StartError::Sandbox {
        detail: detail.into(),
    }
}

/// Runs a command to completion; its standard error on failure.
pub(crate) fn run(program: &str, arguments: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(arguments)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run {program}: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}",
            arguments.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn process_exists(process: u32) -> bool {
    Path::new(&format!("/proc/{process}")).exists()
}

/// Removes what earlier test processes left behind when their init could not clean up: state
/// directories and cgroups named after a process that no longer exists.
pub(crate) fn remove_leftovers() {
    if let Ok(entries) = fs::read_dir(runs_dir()) {
        for entry in entries.flatten() {
            let stale = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<u32>().ok())
                .is_some_and(|process| !process_exists(process));
            if stale {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for hierarchy in hierarchies.flatten() {
        let Ok(entries) = fs::read_dir(hierarchy.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let stale = entry
                .file_name()
                .to_str()
                .and_then(|name| name.strip_prefix("labform-real-kubernetes-"))
                .and_then(|process| process.parse::<u32>().ok())
                .is_some_and(|process| !process_exists(process));
            if stale {
                remove_cgroup_tree(&entry.path());
            }
        }
    }
}

/// Removes a cgroup directory and the cgroups below it, deepest first.
fn remove_cgroup_tree(directory: &Path) {
    if let Ok(entries) = fs::read_dir(directory) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                remove_cgroup_tree(&entry.path());
            }
        }
    }
    let _ = fs::remove_dir(directory);
}

/// Makes the kubelet's cgroup root in every cgroup v1 hierarchy (the kubelet refuses a
/// `cgroupRoot` that does not exist); a new cpuset cgroup gets its parent's CPUs and memory
/// nodes, without which no process may join it.
pub(crate) fn make_cgroup_root(name: &str) -> Result<(), StartError> {
    let hierarchies = fs::read_dir("/sys/fs/cgroup")
        .map_err(|error| failed(format!("cannot read /sys/fs/cgroup: {error}")))?;
    for hierarchy in hierarchies.flatten() {
        let root = hierarchy.path();
        if !root.join("cgroup.procs").is_file() {
            continue;
        }
        let directory = root.join(name);
        fs::create_dir_all(&directory)
            .map_err(|error| failed(format!("cannot create {}: {error}", directory.display())))?;
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(value) = fs::read_to_string(root.join(file)) {
                fs::write(directory.join(file), value.trim()).map_err(|error| {
                    failed(format!(
                        "cannot write {}: {error}",
                        directory.join(file).display()
                    ))
                })?;
            }
        }
    }
    Ok(())
}

/// The two ends of the veth pair's /30: the machine's end and the node's.
fn free_addresses(process: u32) -> Result<(Ipv4Addr, Ipv4Addr), StartError> {
    let used = run("ip", &["-o", "-4", "addr", "show"]).map_err(failed)?;
    let base = u32::from(Ipv4Addr::new(100, 72, 0, 0));
    for offset in 0..16_384_u32 {
        let index = (process + offset) % 16_384;
        let network = base + index * 4;
        let host = Ipv4Addr::from(network + 1);
        let node = Ipv4Addr::from(network + 2);
        let taken = (0..4).any(|last| {
            let address = Ipv4Addr::from(network + last);
            used.contains(&format!(" {address}/"))
        });
        if !taken {
            return Ok((host, node));
        }
    }
    Err(failed(
        "no free /30 in 100.72.0.0/16 for the node's veth pair",
    ))
}

/// A process started in the namespaces.
struct Component {
    name: String,
    log: PathBuf,
    child: Child,
}

/// The namespaces, their init, and the components started in them.
pub(crate) struct Sandbox {
    /// The init's process ID on the machine.
    pub(crate) init: u32,
    /// The machine's end of the veth pair.
    pub(crate) host_interface: String,
    /// The machine's address on the pair.
    pub(crate) host_address: Ipv4Addr,
    /// The node's address on the pair.
    pub(crate) node_address: Ipv4Addr,
    /// `unshare`, whose child is the init; its standard input is the pipe that keeps the init
    /// waiting.
    _unshare: Child,
    _keep_alive: ChildStdin,
    components: Mutex<Vec<Component>>,
}

impl Sandbox {
    /// Makes the namespaces and the veth pair. `state` is the state directory (removed by the
    /// init at the end), `cgroup` the kubelet's cgroup name, `log` where the init's errors go.
    pub(crate) fn create(state: &Path, cgroup: &str, log: &Path) -> Result<Self, StartError> {
        let process = std::process::id();
        let (host_address, node_address) = free_addresses(process)?;
        let log_file = fs::File::create(log)
            .map_err(|error| failed(format!("cannot create {}: {error}", log.display())))?;
        let state_text = state
            .to_str()
            .ok_or_else(|| failed("the state path is not UTF-8"))?;
        let mut unshare = Command::new("unshare")
            .args([
                "--fork",
                "--pid",
                "--mount-proc",
                "--mount",
                "--net",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                INIT,
                "labform-real-kubernetes-init",
                state_text,
                cgroup,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|error| failed(format!("cannot run unshare: {error}")))?;
        let keep_alive = unshare.stdin.take().expect("stdin is piped");
        let stdout = unshare.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        if line.trim() != "ready" {
            let _ = unshare.kill();
            let _ = unshare.wait();
            return Err(failed(format!(
                "the namespaces could not be set up: {}",
                fs::read_to_string(log).unwrap_or_default().trim()
            )));
        }
        let children = fs::read_to_string(format!(
            "/proc/{}/task/{}/children",
            unshare.id(),
            unshare.id()
        ))
        .map_err(|error| failed(format!("cannot find unshare's child: {error}")))?;
        let init: u32 = children
            .split_whitespace()
            .next()
            .and_then(|pid| pid.parse().ok())
            .ok_or_else(|| failed("unshare has no child"))?;

        let host_interface = format!("lfk8s{process}");
        let init_text = init.to_string();
        let host_cidr = format!("{host_address}/30");
        let node_cidr = format!("{node_address}/30");
        let sandbox = Self {
            init,
            host_interface: host_interface.clone(),
            host_address,
            node_address,
            _unshare: unshare,
            _keep_alive: keep_alive,
            components: Mutex::new(Vec::new()),
        };
        run(
            "ip",
            &[
                "link",
                "add",
                &host_interface,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &init_text,
            ],
        )
        .map_err(failed)?;
        run("ip", &["addr", "add", &host_cidr, "dev", &host_interface]).map_err(failed)?;
        run("ip", &["link", "set", &host_interface, "up"]).map_err(failed)?;
        sandbox
            .run_inside(&["ip", "addr", "add", &node_cidr, "dev", "eth0"])
            .map_err(failed)?;
        sandbox
            .run_inside(&["ip", "link", "set", "eth0", "up"])
            .map_err(failed)?;
        sandbox
            .run_inside(&[
                "ip",
                "route",
                "add",
                "default",
                "via",
                &host_address.to_string(),
            ])
            .map_err(failed)?;
        Ok(sandbox)
    }

    fn nsenter(&self) -> Command {
        let mut command = Command::new("nsenter");
        command.args([
            "--target",
            &self.init.to_string(),
            "--pid",
            "--mount",
            "--net",
            "--",
        ]);
        command
    }

    /// Runs a command in the namespaces to completion.
    pub(crate) fn run_inside(&self, command: &[&str]) -> Result<String, String> {
        let output = self
            .nsenter()
            .args(command)
            .stdin(Stdio::null())
            .output()
            .map_err(|error| format!("cannot run nsenter: {error}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "`{}` failed in the namespaces ({}): {}",
                command.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// Starts a long-running component in the namespaces, its output going to `log`.
    pub(crate) fn start(
        &self,
        name: &str,
        program: &Path,
        arguments: &[String],
        log: &Path,
    ) -> Result<(), StartError> {
        let file = fs::File::create(log)
            .map_err(|error| failed(format!("cannot create {}: {error}", log.display())))?;
        let errors = file
            .try_clone()
            .map_err(|error| failed(format!("cannot open {}: {error}", log.display())))?;
        let child = self
            .nsenter()
            .arg(program)
            .args(arguments)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(errors))
            .spawn()
            .map_err(|error| failed(format!("cannot start {name}: {error}")))?;
        self.components
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Component {
                name: name.to_owned(),
                log: log.to_path_buf(),
                child,
            });
        Ok(())
    }

    /// `Err` naming the first component that has exited, with the end of its log.
    pub(crate) fn check_components(&self) -> Result<(), StartError> {
        let mut components = self
            .components
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for component in components.iter_mut() {
            if let Ok(Some(status)) = component.child.try_wait() {
                return Err(StartError::Exited {
                    component: component.name.clone(),
                    status: status.to_string(),
                    log_tail: log_tail(&component.log, 30),
                });
            }
        }
        Ok(())
    }
}

/// The last `lines` lines of a log file.
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
