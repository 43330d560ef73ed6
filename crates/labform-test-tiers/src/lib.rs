//! Test tiers: what each group of labform's tests needs from the machine, in one place.
//!
//! Most tests need nothing but Rust: the unit and property tests, the snapshot tests, and every
//! test against the Proxmox simulator or the kube-apiserver double over HTTPS. Some run real
//! outside software (an OpenSSH server, cloud-init, Python validators, QEMU) or need root. Each
//! such group is a [`Tier`] with the [`Requirement`]s it needs; a test of the tier starts with
//!
//! ```no_run
//! # fn a_test() {
//! if !labform_test_tiers::REAL_SSHD.available() {
//!     return;
//! }
//! # }
//! ```
//!
//! When a requirement is missing, [`Tier::available`] prints one line, `skipped tier <name>: <why>`,
//! to the test process's standard error (past the test harness's capture, so a plain `cargo test`
//! shows it) and returns `false`; the test returns early. With `LABFORM_REQUIRE_ALL_TIERS=1` in the
//! environment (set by `scripts/test.sh` and so by CI) it panics with the same reason instead: a
//! tier that cannot run is then a failure, never a silent skip.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The environment variable that turns a skipped tier into a failure when set to `1`.
pub const REQUIRE_ALL_TIERS: &str = "LABFORM_REQUIRE_ALL_TIERS";

/// Something a tier needs from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// The tests run as root (network namespaces, tap devices, `sudo` without a password, files
    /// owned by root).
    Root,
    /// A program, found on `PATH` or in `/usr/sbin` or `/sbin`, and the Debian package that has it.
    Program {
        /// The program's file name, or an absolute path.
        name: &'static str,
        /// The Debian package that installs it.
        package: &'static str,
    },
    /// Python modules that an interpreter can import.
    PythonModules {
        /// The interpreter: `python3` from `PATH`, or an absolute path such as Debian's
        /// `/usr/bin/python3` (where Debian's `cloud-init` puts its modules).
        interpreter: &'static str,
        /// The modules' import names.
        modules: &'static [&'static str],
        /// How to install them.
        install: &'static str,
    },
    /// The node image build script of the real-VM tests: see [`node_image_build_script`].
    NodeImageBuildScript,
    /// The Kubernetes release tarball and its `SHA256SUMS`: see [`kubernetes_release_dir`].
    KubernetesRelease,
    /// The virtual environment with PyPI's proxmoxer at [`PROXMOXER_VERSION`]: see
    /// [`proxmoxer_python`].
    Proxmoxer,
    /// mermaid-cli's `mmdc` (npm `@mermaid-js/mermaid-cli`): see [`mermaid_cli`].
    MermaidCli,
}

impl Requirement {
    /// `Ok` when the machine meets the requirement, else why not (and what to install).
    pub fn check(&self) -> Result<(), String> {
        match self {
            Self::Root => match effective_user_id() {
                Some(0) => Ok(()),
                Some(user) => Err(format!("needs root (running as user ID {user})")),
                None => Err("needs root (the user ID could not be read)".to_owned()),
            },
            Self::Program { name, package } => match find_program(name) {
                Some(_) => Ok(()),
                None => Err(format!(
                    "`{name}` is missing (Debian package {package}: apt-get install {package})"
                )),
            },
            Self::PythonModules {
                interpreter,
                modules,
                install,
            } => {
                let imported = Command::new(interpreter)
                    .arg("-c")
                    .arg(format!("import {}", modules.join(", ")))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success());
                if imported {
                    Ok(())
                } else {
                    Err(format!(
                        "`{interpreter}` cannot import {} ({install})",
                        modules.join(", ")
                    ))
                }
            }
            Self::NodeImageBuildScript => {
                let script = node_image_build_script();
                if script.is_file() {
                    Ok(())
                } else {
                    Err(format!(
                        "the node image build script is missing at {} (set LABFORM_VM_IMAGE_BUILD)",
                        script.display()
                    ))
                }
            }
            Self::Proxmoxer => {
                let python = proxmoxer_python();
                let found = Command::new(&python)
                    .arg("-c")
                    .arg("import proxmoxer, requests; print(proxmoxer.__version__, requests.__version__)")
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .output()
                    .ok()
                    .filter(|output| output.status.success())
                    .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
                let wanted = format!("{PROXMOXER_VERSION} {PROXMOXER_REQUESTS_VERSION}");
                match found {
                    Some(versions) if versions == wanted => Ok(()),
                    Some(versions) => Err(format!(
                        "{} has proxmoxer and requests {versions}, not {wanted} (bash scripts/test.sh makes it)",
                        python.display()
                    )),
                    None => Err(format!(
                        "no proxmoxer {PROXMOXER_VERSION} at {} (bash scripts/test.sh makes the virtual environment; or set LABFORM_PROXMOXER_PYTHON)",
                        python.display()
                    )),
                }
            }
            Self::MermaidCli => match mermaid_cli() {
                Some(_) => Ok(()),
                None => Err(
                    "mermaid-cli's `mmdc` is missing (npm install @mermaid-js/mermaid-cli; \
                     set LABFORM_MERMAID_CLI to its `mmdc`, or put it on PATH)"
                        .to_owned(),
                ),
            },
            Self::KubernetesRelease => {
                let directory = kubernetes_release_dir();
                let missing: Vec<&str> = [KUBERNETES_RELEASE_TARBALL, "SHA256SUMS"]
                    .into_iter()
                    .filter(|file| !directory.join(file).is_file())
                    .collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "the Kubernetes release is missing in {} ({}; set LABFORM_KUBERNETES_RELEASE)",
                        directory.display(),
                        missing.join(", ")
                    ))
                }
            }
        }
    }
}

/// A group of tests that needs the same things from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    /// The name printed when the tier is skipped.
    pub name: &'static str,
    /// What the tier needs; empty for tiers that always run.
    pub requirements: &'static [Requirement],
}

impl Tier {
    /// The reasons this tier cannot run on this machine, in the order of its requirements.
    pub fn missing(&self) -> Vec<String> {
        self.requirements
            .iter()
            .filter_map(|requirement| requirement.check().err())
            .collect()
    }

    /// Whether the tier's tests can run here. When they cannot, prints `skipped tier <name>: <why>`
    /// once per test process and returns `false`, or panics with the reason when
    /// `LABFORM_REQUIRE_ALL_TIERS=1`.
    #[must_use = "a test of the tier returns early when it is not available"]
    #[track_caller]
    pub fn available(&self) -> bool {
        let require_all = std::env::var(REQUIRE_ALL_TIERS).is_ok_and(|value| value == "1");
        decide(self.name, &self.missing(), require_all)
    }
}

/// The outcome for a tier given what is missing: `true` when nothing is; otherwise a panic when
/// every tier is required, else one printed line and `false`.
#[track_caller]
fn decide(name: &str, missing: &[String], require_all: bool) -> bool {
    if missing.is_empty() {
        return true;
    }
    let why = missing.join("; ");
    assert!(
        !require_all,
        "tier {name} cannot run, and {REQUIRE_ALL_TIERS}=1 requires every tier: {why}"
    );
    static REPORTED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let first = REPORTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(name.to_owned());
    if first {
        // Straight to the process's standard error: the test harness captures only what the
        // print macros write, and this line is meant to be seen on a passing run.
        let _ = writeln!(std::io::stderr(), "skipped tier {name}: {why}");
    }
    false
}

/// Unit and property tests, snapshots, the fuzzer's corpus replay: always run.
pub const UNIT: Tier = Tier {
    name: "unit",
    requirements: &[],
};

/// Tests against the Proxmox simulator and the kube-apiserver double (`labform-kube-sim`) over
/// HTTPS on loopback, the crash test included: always run.
pub const SIMULATORS: Tier = Tier {
    name: "simulators",
    requirements: &[],
};

/// The SSH layer against a real OpenSSH server on loopback (uploads as root go through `sudo`).
pub const REAL_SSHD: Tier = Tier {
    name: "real-sshd",
    requirements: &[
        Requirement::Root,
        Requirement::Program {
            name: "sshd",
            package: "openssh-server",
        },
        Requirement::Program {
            name: "sudo",
            package: "sudo",
        },
    ],
};

/// Rendered user data through `cloud-init schema`, network configs and seeds through cloud-init's
/// own Python code (Debian's `cloud-init`, imported by Debian's `/usr/bin/python3`).
pub const CLOUD_INIT: Tier = Tier {
    name: "cloud-init",
    requirements: &[
        Requirement::Program {
            name: "cloud-init",
            package: "cloud-init",
        },
        Requirement::PythonModules {
            interpreter: "/usr/bin/python3",
            modules: &["cloudinit", "yaml"],
            install: "Debian package cloud-init: apt-get install cloud-init",
        },
    ],
};

/// NoCloud seed images read back by outside tools: `blkid` and `isoinfo`.
pub const SEED_IMAGE_READERS: Tier = Tier {
    name: "seed-image-readers",
    requirements: &[
        Requirement::Program {
            name: "blkid",
            package: "util-linux",
        },
        Requirement::Program {
            name: "isoinfo",
            package: "genisoimage",
        },
    ],
};

/// Rendered manifests through kubernetes-validate and the CRDs' JSON Schemas (Python's
/// `jsonschema`).
pub const KUBERNETES_VALIDATORS: Tier = Tier {
    name: "kubernetes-validators",
    requirements: &[Requirement::PythonModules {
        interpreter: "python3",
        modules: &["kubernetes_validate", "jsonschema"],
        install: "pip install kubernetes-validate jsonschema",
    }],
};

/// A Proxmox client nobody here wrote, PyPI's proxmoxer, against `labform sim serve`.
pub const PROXMOXER: Tier = Tier {
    name: "proxmoxer",
    requirements: &[Requirement::Proxmoxer],
};

/// The proxmoxer release the `proxmoxer` tier uses (with requests [`PROXMOXER_REQUESTS_VERSION`]).
pub const PROXMOXER_VERSION: &str = "2.3.0";

/// The requests release installed beside proxmoxer.
pub const PROXMOXER_REQUESTS_VERSION: &str = "2.34.2";

/// The Python of the virtual environment `scripts/test.sh` installs proxmoxer into:
/// `$LABFORM_PROXMOXER_PYTHON`, or `target/proxmoxer-venv/bin/python3` of the workspace.
pub fn proxmoxer_python() -> PathBuf {
    std::env::var_os("LABFORM_PROXMOXER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/proxmoxer-venv/bin/python3")
        })
}

/// The simulator's QEMU backend: volumes as files made by `qemu-img`, started VMs as QEMU
/// processes with a seed image made by `genisoimage`. No root, no guest operating system.
pub const QEMU_BACKEND: Tier = Tier {
    name: "qemu-backend",
    requirements: &[
        Requirement::Program {
            name: "qemu-system-x86_64",
            package: "qemu-system-x86",
        },
        Requirement::Program {
            name: "qemu-img",
            package: "qemu-utils",
        },
        Requirement::Program {
            name: "genisoimage",
            package: "genisoimage",
        },
    ],
};

/// A lab applied to real QEMU VMs in a network namespace, checked over SSH (5 to 10 minutes).
pub const REAL_VMS: Tier = Tier {
    name: "real-vms",
    requirements: &[
        Requirement::Root,
        Requirement::Program {
            name: "qemu-system-x86_64",
            package: "qemu-system-x86",
        },
        Requirement::Program {
            name: "qemu-img",
            package: "qemu-utils",
        },
        Requirement::Program {
            name: "genisoimage",
            package: "genisoimage",
        },
        Requirement::Program {
            name: "ip",
            package: "iproute2",
        },
        Requirement::Program {
            name: "ssh",
            package: "openssh-client",
        },
        Requirement::Program {
            name: "ssh-keygen",
            package: "openssh-client",
        },
        Requirement::Program {
            name: "socat",
            package: "socat",
        },
        Requirement::NodeImageBuildScript,
    ],
};

/// A real single-node Kubernetes v1.20.2 on this machine (etcd, kube-apiserver,
/// controller-manager, scheduler, containerd and a kubelet in their own namespaces, from
/// `labform-kube-real`), against which labform's Kubernetes API code runs.
pub const REAL_KUBERNETES: Tier = Tier {
    name: "real-kubernetes",
    requirements: &[
        Requirement::Root,
        Requirement::KubernetesRelease,
        Requirement::Program {
            name: "etcd",
            package: "etcd-server",
        },
        Requirement::Program {
            name: "containerd",
            package: "containerd",
        },
        Requirement::Program {
            name: "containerd-shim-runc-v2",
            package: "containerd",
        },
        Requirement::Program {
            name: "ctr",
            package: "containerd",
        },
        Requirement::Program {
            name: "runc",
            package: "runc",
        },
        Requirement::Program {
            name: "/usr/lib/cni/bridge",
            package: "containernetworking-plugins",
        },
        Requirement::Program {
            name: "/usr/lib/cni/host-local",
            package: "containernetworking-plugins",
        },
        Requirement::Program {
            name: "/usr/lib/cni/loopback",
            package: "containernetworking-plugins",
        },
        Requirement::Program {
            name: "/bin/busybox",
            package: "busybox-static",
        },
        Requirement::Program {
            name: "iptables",
            package: "iptables",
        },
        Requirement::Program {
            name: "tar",
            package: "tar",
        },
        Requirement::Program {
            name: "sha256sum",
            package: "coreutils",
        },
        Requirement::Program {
            name: "xz",
            package: "xz-utils",
        },
        Requirement::Program {
            name: "unshare",
            package: "util-linux",
        },
        Requirement::Program {
            name: "nsenter",
            package: "util-linux",
        },
        Requirement::Program {
            name: "ip",
            package: "iproute2",
        },
    ],
};

/// The real kubeadm v1.20.2 of the Kubernetes release (verified and unpacked by
/// `labform-kube-real`, no cluster started): `kubeadm config migrate` and `config images list`
/// read labform's rendered kubeadm configurations, and `openssl` checks the discovery hash.
pub const REAL_KUBEADM: Tier = Tier {
    name: "real-kubeadm",
    requirements: &[
        Requirement::KubernetesRelease,
        Requirement::Program {
            name: "tar",
            package: "tar",
        },
        Requirement::Program {
            name: "sha256sum",
            package: "coreutils",
        },
        Requirement::Program {
            name: "xz",
            package: "xz-utils",
        },
        Requirement::Program {
            name: "openssl",
            package: "openssl",
        },
    ],
};

/// Rendered systemd units checked by systemd itself: `systemd-analyze verify` on the units and
/// `systemd-analyze calendar` on their `OnCalendar=` events (kubeadm's etcd snapshot timer).
pub const SYSTEMD: Tier = Tier {
    name: "systemd",
    requirements: &[Requirement::Program {
        name: "systemd-analyze",
        package: "systemd",
    }],
};

/// A kubeadm cluster formed by `labform apply` on real QEMU VMs: what [`REAL_VMS`] needs (its
/// tests check both tiers), and for the air-gap directory `scripts/kubernetes-air-gap.py` makes,
/// the Kubernetes release, Debian's etcd and static busybox (images), `ldd` and `apt-get`
/// (Debian's packages by `apt-get download`).
pub const REAL_KUBEADM_VMS: Tier = Tier {
    name: "real-kubeadm-vms",
    requirements: &[
        Requirement::KubernetesRelease,
        Requirement::Program {
            name: "python3",
            package: "python3",
        },
        Requirement::Program {
            name: "apt-get",
            package: "apt",
        },
        Requirement::Program {
            name: "ldd",
            package: "libc-bin",
        },
        Requirement::Program {
            name: "etcd",
            package: "etcd-server",
        },
        Requirement::Program {
            name: "/bin/busybox",
            package: "busybox-static",
        },
        Requirement::Program {
            name: "tar",
            package: "tar",
        },
        Requirement::Program {
            name: "xz",
            package: "xz-utils",
        },
    ],
};

/// Scripts that run in busybox containers, run by busybox's own shell and applets (Talos's etcd
/// snapshot pods name and prune their snapshots with one).
pub const BUSYBOX: Tier = Tier {
    name: "busybox",
    requirements: &[Requirement::Program {
        name: "/bin/busybox",
        package: "busybox-static",
    }],
};

/// The diagrams' DOT laid out by Graphviz's `dot`.
pub const GRAPHVIZ: Tier = Tier {
    name: "graphviz",
    requirements: &[Requirement::Program {
        name: "dot",
        package: "graphviz",
    }],
};

/// The diagrams' Mermaid drawn by Mermaid itself: mermaid-cli's `mmdc` on Node.js, rendering in
/// Debian's headless Chromium.
pub const MERMAID: Tier = Tier {
    name: "mermaid",
    requirements: &[
        Requirement::Program {
            name: "node",
            package: "nodejs",
        },
        Requirement::Program {
            name: "/usr/bin/chromium",
            package: "chromium",
        },
        Requirement::MermaidCli,
    ],
};

/// The dashboard's metrics checked by Prometheus's `promtool check metrics`.
pub const PROMTOOL: Tier = Tier {
    name: "promtool",
    requirements: &[Requirement::Program {
        name: "promtool",
        package: "prometheus",
    }],
};

/// The dashboard over HTTPS: a certificate made by `openssl`, requests made by `curl`, which
/// verifies it.
pub const HTTPS_CLIENTS: Tier = Tier {
    name: "https-clients",
    requirements: &[
        Requirement::Program {
            name: "openssl",
            package: "openssl",
        },
        Requirement::Program {
            name: "curl",
            package: "curl",
        },
    ],
};

/// The dashboard's pages loaded and drawn by Debian's headless Chromium.
pub const CHROMIUM: Tier = Tier {
    name: "chromium",
    requirements: &[Requirement::Program {
        name: "/usr/bin/chromium",
        package: "chromium",
    }],
};

/// Git servers on loopback for the controller (`labform serve --git`): Git's own smart-HTTP
/// server (`git http-backend`) behind a small Python HTTPS server with a certificate signed by a
/// test CA made by `openssl`, and the `git` program the controller runs.
pub const GIT_SERVERS: Tier = Tier {
    name: "git-servers",
    requirements: &[
        Requirement::Program {
            name: "git",
            package: "git",
        },
        Requirement::Program {
            name: "/usr/lib/git-core/git-http-backend",
            package: "git",
        },
        Requirement::Program {
            name: "/usr/bin/python3",
            package: "python3",
        },
        Requirement::Program {
            name: "openssl",
            package: "openssl",
        },
        Requirement::Program {
            name: "ssh",
            package: "openssh-client",
        },
    ],
};

/// Every tier, in the order the README lists them.
pub const TIERS: &[Tier] = &[
    UNIT,
    SIMULATORS,
    REAL_SSHD,
    CLOUD_INIT,
    SEED_IMAGE_READERS,
    KUBERNETES_VALIDATORS,
    PROXMOXER,
    QEMU_BACKEND,
    REAL_VMS,
    REAL_KUBEADM,
    SYSTEMD,
    REAL_KUBEADM_VMS,
    REAL_KUBERNETES,
    BUSYBOX,
    GRAPHVIZ,
    MERMAID,
    PROMTOOL,
    HTTPS_CLIENTS,
    CHROMIUM,
    GIT_SERVERS,
];

/// Starts Debian's `sshd` (tier [`REAL_SSHD`]) on a free loopback port with its configuration in
/// `directory`: host key `host_key`, public keys from `authorized_keys`, only `user` let in, by
/// key. The process (the caller stops it) and its port, once it accepts connections.
///
/// # Panics
///
/// When sshd cannot be found or does not start in five attempts.
pub fn start_sshd(
    directory: &Path,
    host_key: &Path,
    authorized_keys: &Path,
    user: &str,
) -> (std::process::Child, u16) {
    let sshd = find_program("sshd").expect("the real-sshd tier has sshd");
    // sshd refuses to start without its privilege separation directory.
    let _ = std::fs::create_dir_all("/run/sshd");
    for _attempt in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let config = directory.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                 AuthorizedKeysFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nAllowUsers {user}\nLogLevel ERROR\n",
                host_key.display(),
                directory.join("sshd.pid").display(),
                authorized_keys.display()
            ),
        )
        .expect("write sshd_config");
        let mut child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("sshd starts");
        // Wait until it accepts connections, or gives up (a port taken in between).
        for _ in 0..100 {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (child, port);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("sshd did not start (see its messages above)");
}

/// The Kubernetes release tarball's file name in [`kubernetes_release_dir`].
pub const KUBERNETES_RELEASE_TARBALL: &str = "kubernetes-1.20.2-linux-amd64.tar.xz";

/// The directory with the real-Kubernetes tier's release: `$LABFORM_KUBERNETES_RELEASE`, or
/// `../shared/k8s` beside the repository (a documented path outside it: README, "Tests"). It
/// holds [`KUBERNETES_RELEASE_TARBALL`] and `SHA256SUMS`.
pub fn kubernetes_release_dir() -> PathBuf {
    std::env::var_os("LABFORM_KUBERNETES_RELEASE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/k8s"))
}

/// The script that builds the real-VM tests' node image: `$LABFORM_VM_IMAGE_BUILD`, or
/// `../shared/vm-image/build.sh` beside the repository (a documented path outside it: README,
/// "Tests").
pub fn node_image_build_script() -> PathBuf {
    std::env::var_os("LABFORM_VM_IMAGE_BUILD")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vm-image/build.sh")
        })
}

/// mermaid-cli's `mmdc`: `$LABFORM_MERMAID_CLI` (`scripts/test.sh` installs it with npm under
/// `target/tools/mermaid-cli` and sets it), else `mmdc` on `PATH`.
pub fn mermaid_cli() -> Option<PathBuf> {
    match std::env::var_os("LABFORM_MERMAID_CLI") {
        Some(path) => {
            let path = PathBuf::from(path);
            is_executable(&path).then_some(path)
        }
        None => find_program("mmdc"),
    }
}

/// The path of a program: `name` itself when absolute, else the first match on `PATH`, then in
/// `/usr/sbin` and `/sbin` (not on every user's `PATH`).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let candidate = Path::new(name);
    if candidate.is_absolute() {
        return is_executable(candidate).then(|| candidate.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|directory| directory.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

/// The process's effective user ID: the owner of `/proc/self` on Linux, else what `id -u` says.
fn effective_user_id() -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    if let Ok(metadata) = std::fs::metadata("/proc/self") {
        return Some(metadata.uid());
    }
    let output = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tier_without_requirements_always_runs() {
        assert!(UNIT.missing().is_empty());
        assert!(decide("unit", &[], true));
        assert!(decide("unit", &[], false));
    }

    #[test]
    fn a_missing_requirement_skips_the_tier() {
        let missing = vec!["`no-such-program` is missing".to_owned()];
        assert!(!decide("example", &missing, false));
        // Reported once per process; a second test of the tier skips quietly.
        assert!(!decide("example", &missing, false));
    }

    #[test]
    #[should_panic(
        expected = "tier example cannot run, and LABFORM_REQUIRE_ALL_TIERS=1 requires every tier: `no-such-program` is missing"
    )]
    fn a_missing_requirement_fails_when_every_tier_is_required() {
        decide(
            "example",
            &["`no-such-program` is missing".to_owned()],
            true,
        );
    }

    #[test]
    fn requirements_say_what_is_missing_and_how_to_install_it() {
        let program = Requirement::Program {
            name: "labform-no-such-program",
            package: "labform-no-such-package",
        };
        assert_eq!(
            program.check(),
            Err(
                "`labform-no-such-program` is missing (Debian package labform-no-such-package: \
                 apt-get install labform-no-such-package)"
                    .to_owned()
            )
        );
        assert_eq!(
            Requirement::Program {
                name: "sh",
                package: "dash"
            }
            .check(),
            Ok(())
        );
        let modules = Requirement::PythonModules {
            interpreter: "/nonexistent/python3",
            modules: &["a", "b"],
            install: "pip install a b",
        };
        assert_eq!(
            modules.check(),
            Err("`/nonexistent/python3` cannot import a, b (pip install a b)".to_owned())
        );
    }

    #[test]
    fn tier_names_are_unique() {
        let names: BTreeSet<&str> = TIERS.iter().map(|tier| tier.name).collect();
        assert_eq!(names.len(), TIERS.len());
    }
}
