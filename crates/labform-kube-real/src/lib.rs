//! A real single-node Kubernetes for labform's tests (the `real-kubernetes` tier, see
//! `labform_test_tiers::REAL_KUBERNETES`): Kubernetes v1.20.2's kube-apiserver,
//! kube-controller-manager, kube-scheduler and kubelet (from the release in
//! `labform_test_tiers::kubernetes_release_dir`, verified and unpacked once into a cache),
//! with Debian's etcd, containerd, runc and CNI plugins.
//!
//! ```no_run
//! # fn a_test() {
//! if !labform_test_tiers::REAL_KUBERNETES.available() {
//!     return;
//! }
//! let cluster = labform_kube_real::RealCluster::shared();
//! let kubeconfig = cluster.admin_kubeconfig(); // K3s-shaped: CA, client certificate and key inline
//! # }
//! ```
//!
//! [`RealCluster::shared`] starts the cluster on its first call in a test process and hands
//! every later caller the same one. Start-up, in order: the release (cached), a PKI made with
//! rcgen, fresh PID, mount and network namespaces with a veth pair (module `sandbox`), etcd on
//! the namespace's loopback, the API server (waited for until `/readyz` says `ok`), the
//! controller-manager and the scheduler, containerd with `restrict_oom_score_adj` (the
//! machines these tests run on deny raising a process's OOM score) and the busybox image
//! imported with `ctr` (module `image`), a static pod in the kubelet's manifest directory, and
//! the kubelet, registered as node [`NODE_NAME`] with the veth address; then it waits until the
//! node is Ready, its static pod's mirror pod exists, and the `default` ServiceAccount has its
//! token. Every wait polls once a second with a generous limit (10 minutes), checking that no
//! component has exited; a component that has is named with the end of its log.
//!
//! **Duration.** On the 2-core machines this project's CI runs on, with other builds sharing
//! them, start-up takes about 40 s with the release cached: about 5 s to check the cached
//! binaries, 10 s for the control plane up to `/readyz`, 25 s for containerd, the image and
//! the kubelet up to node Ready (about 15 s more the first time, to unpack the release).
//! [`RealCluster::started_in`] and [`RealCluster::phases`] report it. Teardown is done
//! by the namespaces' init when the test process ends, whatever the outcome.

mod image;
mod pki;
mod release;
mod sandbox;

use std::fs;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use image::BUSYBOX_IMAGE;
/// The release's verified binaries (kube-apiserver, kube-controller-manager, kube-scheduler,
/// kubelet, kubectl and kubeadm), unpacked once into the cache: the directory holding them.
/// Tests that run one of them without a cluster (kubeadm's configuration checks) call this
/// alone; it needs the release and `tar`, `xz` and `sha256sum`, not root.
pub use release::prepare as release_binaries;

use crate::pki::Pki;
use crate::sandbox::Sandbox;

/// The Kubernetes version the cluster runs.
pub const VERSION: &str = "v1.20.2";

/// The name the kubelet registers its node under.
pub const NODE_NAME: &str = "labform-real-node";

/// The namespace and name prefix of the static pod the kubelet runs from its manifest
/// directory; its mirror pod in the API is `kube-system/static-sleeper-labform-real-node`.
pub const STATIC_POD: &str = "static-sleeper";

/// How long any one start-up wait may take.
const WAIT_LIMIT: Duration = Duration::from_secs(600);
/// How often the waits poll.
const POLL: Duration = Duration::from_secs(1);

/// Why the cluster could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The release could not be verified or unpacked.
    #[error("the Kubernetes release cannot be used: {detail}")]
    Release {
        /// What went wrong.
        detail: String,
    },
    /// The certificates could not be made.
    #[error("the cluster's certificates cannot be made: {detail}")]
    Pki {
        /// What went wrong.
        detail: String,
    },
    /// The namespaces, the veth pair or a process in them could not be set up.
    #[error("the cluster's namespaces cannot be set up: {detail}")]
    Sandbox {
        /// What went wrong.
        detail: String,
    },
    /// The container image could not be built or imported.
    #[error("the container image cannot be made: {detail}")]
    Image {
        /// What went wrong.
        detail: String,
    },
    /// A file of the cluster could not be written.
    #[error("cannot write {path}: {detail}")]
    Write {
        /// The file.
        path: String,
        /// The error.
        detail: String,
    },
    /// A component exited.
    #[error("{component} exited ({status}); the end of its log:\n{log_tail}")]
    Exited {
        /// The component.
        component: String,
        /// Its exit status.
        status: String,
        /// The last lines of its log.
        log_tail: String,
    },
    /// A wait ran out of time.
    #[error("{what} did not happen within {limit:?}; last seen: {last}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// The limit.
        limit: Duration,
        /// What the last check saw.
        last: String,
    },
}

/// A running single-node cluster (see the crate documentation).
pub struct RealCluster {
    sandbox: Sandbox,
    bin: PathBuf,
    state: PathBuf,
    admin_kubeconfig: String,
    server: String,
    started_in: Duration,
    phases: Vec<(&'static str, Duration)>,
}

impl std::fmt::Debug for RealCluster {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RealCluster")
            .field("server", &self.server)
            .field("state", &self.state)
            .field("started_in", &self.started_in)
            .finish_non_exhaustive()
    }
}

fn write(path: &Path, text: &str) -> Result<(), StartError> {
    fs::write(path, text).map_err(|error| StartError::Write {
        path: path.display().to_string(),
        detail: error.to_string(),
    })
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

impl RealCluster {
    /// The cluster of this test process: started by the first call, shared by every test.
    ///
    /// # Panics
    ///
    /// When it cannot be started (every caller gets the same reason).
    pub fn shared() -> &'static RealCluster {
        static CLUSTER: OnceLock<Result<RealCluster, String>> = OnceLock::new();
        let started = CLUSTER.get_or_init(|| {
            let cluster = Self::start().map_err(|error| error.to_string())?;
            let _ = writeln!(
                std::io::stderr(),
                "real-kubernetes: cluster {} ready in {:.1} s (node {NODE_NAME} at {}; {})",
                VERSION,
                cluster.started_in.as_secs_f64(),
                cluster.sandbox.node_address,
                cluster
                    .phases
                    .iter()
                    .map(|(phase, took)| format!("{phase} {:.1} s", took.as_secs_f64()))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            Ok(cluster)
        });
        match started {
            Ok(cluster) => cluster,
            Err(error) => panic!("the real Kubernetes cluster could not be started: {error}"),
        }
    }

    /// The admin's kubeconfig (`system:masters`), in the shape K3s writes: the CA, the client
    /// certificate and its key inline, the server at the node's address.
    pub fn admin_kubeconfig(&self) -> &str {
        &self.admin_kubeconfig
    }

    /// The API server's URL (`https://NODE-ADDRESS:6443`).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The node's address (the namespace's end of the veth pair).
    pub fn node_address(&self) -> Ipv4Addr {
        self.sandbox.node_address
    }

    /// The machine's end of the node's veth pair (it disappears with the cluster).
    pub fn host_interface(&self) -> &str {
        &self.sandbox.host_interface
    }

    /// The machine's address on the veth pair.
    pub fn host_address(&self) -> Ipv4Addr {
        self.sandbox.host_address
    }

    /// How long start-up took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// How long each phase of start-up took: the release, the control plane (up to the API
    /// server's `/readyz`), the node (containerd, the image, the kubelet, up to node Ready and
    /// the first ServiceAccount token).
    pub fn phases(&self) -> &[(&'static str, Duration)] {
        &self.phases
    }

    /// Runs the release's `kubectl` as the admin; its standard output, or its standard error.
    ///
    /// # Errors
    ///
    /// When kubectl fails, its standard error.
    pub fn kubectl(&self, arguments: &[&str]) -> Result<String, String> {
        self.kubectl_with_input(arguments, None)
    }

    /// `kubectl apply -f -` with `yaml`, as the admin.
    ///
    /// # Errors
    ///
    /// When kubectl fails, its standard error.
    pub fn apply(&self, yaml: &str) -> Result<String, String> {
        self.kubectl_with_input(&["apply", "-f", "-"], Some(yaml))
    }

    /// The release's `kubectl` with another kubeconfig file.
    ///
    /// # Errors
    ///
    /// When kubectl fails, its standard error.
    pub fn kubectl_as(&self, kubeconfig: &Path, arguments: &[&str]) -> Result<String, String> {
        run_kubectl(&self.bin, kubeconfig, arguments, None)
    }

    /// The release's `kubectl` as the admin, with `input` on its standard input.
    ///
    /// # Errors
    ///
    /// When kubectl fails, its standard error.
    pub fn kubectl_with_input(
        &self,
        arguments: &[&str],
        input: Option<&str>,
    ) -> Result<String, String> {
        run_kubectl(
            &self.bin,
            &self.state.join("admin.kubeconfig"),
            arguments,
            input,
        )
    }

    /// The last `lines` lines of a component's log (`etcd`, `kube-apiserver`,
    /// `kube-controller-manager`, `kube-scheduler`, `containerd`, `kubelet`), for a failing
    /// test to show.
    pub fn log_tail(&self, component: &str, lines: usize) -> String {
        sandbox::log_tail(&self.state.join(format!("{component}.log")), lines)
    }

    fn start() -> Result<Self, StartError> {
        let began = Instant::now();
        sandbox::remove_leftovers();
        let bin = release::prepare()?;
        let mut phases = vec![("release", began.elapsed())];
        let process = std::process::id();
        let state = sandbox::runs_dir().join(process.to_string());
        let _ = fs::remove_dir_all(&state);
        fs::create_dir_all(&state).map_err(|error| StartError::Write {
            path: path_text(&state),
            detail: error.to_string(),
        })?;
        let cgroup = sandbox::cgroup_name(process);
        sandbox::make_cgroup_root(&cgroup)?;
        let sandbox = Sandbox::create(&state, &cgroup, &state.join("init.log"))?;
        let node_address = sandbox.node_address;
        let server = format!("https://{node_address}:6443");
        let pki = Pki::generate(&state.join("pki"), NODE_NAME, node_address)?;
        let admin_kubeconfig = pki.kubeconfig(&server, &pki.admin);
        write(&state.join("admin.kubeconfig"), &admin_kubeconfig)?;
        let local = "https://127.0.0.1:6443";
        write(
            &state.join("controller-manager.kubeconfig"),
            &pki.kubeconfig(local, &pki.controller_manager),
        )?;
        write(
            &state.join("scheduler.kubeconfig"),
            &pki.kubeconfig(local, &pki.scheduler),
        )?;
        write(
            &state.join("kubelet.kubeconfig"),
            &pki.kubeconfig(local, &pki.kubelet),
        )?;
        let cluster = Self {
            sandbox,
            bin,
            state,
            admin_kubeconfig,
            server,
            started_in: Duration::ZERO,
            phases: Vec::new(),
        };
        let control_plane = Instant::now();
        cluster.start_control_plane(&pki)?;
        phases.push(("control plane", control_plane.elapsed()));
        let node = Instant::now();
        cluster.start_node(&pki, &cgroup)?;
        phases.push(("node", node.elapsed()));
        Ok(Self {
            started_in: began.elapsed(),
            phases,
            ..cluster
        })
    }

    fn log(&self, component: &str) -> PathBuf {
        self.state.join(format!("{component}.log"))
    }

    fn start_control_plane(&self, pki: &Pki) -> Result<(), StartError> {
        let state = &self.state;
        let etcd = labform_test_tiers::find_program("etcd").unwrap_or_else(|| "etcd".into());
        self.sandbox.start(
            "etcd",
            &etcd,
            &[
                "--name=labform".to_owned(),
                format!("--data-dir={}", path_text(&state.join("etcd"))),
                "--listen-client-urls=http://127.0.0.1:2379".to_owned(),
                "--advertise-client-urls=http://127.0.0.1:2379".to_owned(),
                "--listen-peer-urls=http://127.0.0.1:2380".to_owned(),
                "--initial-advertise-peer-urls=http://127.0.0.1:2380".to_owned(),
                "--initial-cluster=labform=http://127.0.0.1:2380".to_owned(),
            ],
            &self.log("etcd"),
        )?;
        let file = |name: &str| path_text(&pki.path(name));
        self.sandbox.start(
            "kube-apiserver",
            &self.bin.join("kube-apiserver"),
            &[
                "--etcd-servers=http://127.0.0.1:2379".to_owned(),
                "--bind-address=0.0.0.0".to_owned(),
                "--secure-port=6443".to_owned(),
                "--insecure-port=0".to_owned(),
                format!("--advertise-address={}", self.sandbox.node_address),
                format!("--tls-cert-file={}", file("apiserver.crt")),
                format!("--tls-private-key-file={}", file("apiserver.key")),
                format!("--client-ca-file={}", file("ca.crt")),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_owned(),
                format!("--service-account-key-file={}", file("service-account.pub")),
                format!(
                    "--service-account-signing-key-file={}",
                    file("service-account.key")
                ),
                "--service-cluster-ip-range=10.96.0.0/12".to_owned(),
                "--authorization-mode=Node,RBAC".to_owned(),
                "--enable-admission-plugins=NodeRestriction".to_owned(),
                "--allow-privileged=true".to_owned(),
                format!(
                    "--kubelet-client-certificate={}",
                    file("apiserver-kubelet-client.crt")
                ),
                format!(
                    "--kubelet-client-key={}",
                    file("apiserver-kubelet-client.key")
                ),
                format!("--kubelet-certificate-authority={}", file("ca.crt")),
                "--kubelet-preferred-address-types=InternalIP".to_owned(),
            ],
            &self.log("kube-apiserver"),
        )?;
        self.wait("the API server's /readyz to answer ok", || {
            match self.kubectl(&["get", "--raw", "/readyz"]) {
                Ok(answer) if answer.trim() == "ok" => Ok(()),
                Ok(answer) => Err(answer),
                Err(error) => Err(error),
            }
        })?;
        let kubeconfig = |name: &str| path_text(&state.join(format!("{name}.kubeconfig")));
        let controller_manager = kubeconfig("controller-manager");
        self.sandbox.start(
            "kube-controller-manager",
            &self.bin.join("kube-controller-manager"),
            &[
                format!("--kubeconfig={controller_manager}"),
                format!("--authentication-kubeconfig={controller_manager}"),
                format!("--authorization-kubeconfig={controller_manager}"),
                "--bind-address=127.0.0.1".to_owned(),
                "--port=0".to_owned(),
                format!(
                    "--service-account-private-key-file={}",
                    file("service-account.key")
                ),
                format!("--root-ca-file={}", file("ca.crt")),
                format!("--cluster-signing-cert-file={}", file("ca.crt")),
                format!("--cluster-signing-key-file={}", file("ca.key")),
                "--use-service-account-credentials=true".to_owned(),
                "--leader-elect=false".to_owned(),
            ],
            &self.log("kube-controller-manager"),
        )?;
        let scheduler = kubeconfig("scheduler");
        self.sandbox.start(
            "kube-scheduler",
            &self.bin.join("kube-scheduler"),
            &[
                format!("--kubeconfig={scheduler}"),
                format!("--authentication-kubeconfig={scheduler}"),
                format!("--authorization-kubeconfig={scheduler}"),
                "--bind-address=127.0.0.1".to_owned(),
                "--port=0".to_owned(),
                "--leader-elect=false".to_owned(),
            ],
            &self.log("kube-scheduler"),
        )
    }

    fn start_node(&self, pki: &Pki, cgroup: &str) -> Result<(), StartError> {
        let state = &self.state;
        let containerd_dir = state.join("containerd");
        let cni_dir = state.join("cni");
        for directory in [&containerd_dir, &cni_dir, &state.join("static-pods")] {
            fs::create_dir_all(directory).map_err(|error| StartError::Write {
                path: path_text(directory),
                detail: error.to_string(),
            })?;
        }
        let socket = containerd_dir.join("containerd.sock");
        write(
            &cni_dir.join("10-labform.conflist"),
            &serde_json::json!({
                "cniVersion": "0.4.0",
                "name": "labform",
                "plugins": [
                    {
                        "type": "bridge",
                        "bridge": "cni-labform0",
                        "isGateway": true,
                        "ipMasq": false,
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{"subnet": "10.244.0.0/24"}]],
                            "dataDir": path_text(&cni_dir.join("ipam")),
                        },
                    },
                    {"type": "loopback"},
                ],
            })
            .to_string(),
        )?;
        let config = containerd_dir.join("config.toml");
        write(
            &config,
            &format!(
                r#"version = 2
root = "{root}"
state = "{state}"

[grpc]
  address = "{socket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = true

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{cni}"
"#,
                root = path_text(&containerd_dir.join("root")),
                state = path_text(&containerd_dir.join("state")),
                socket = path_text(&socket),
                opt = path_text(&containerd_dir.join("opt")),
                pause = image::PAUSE_IMAGE,
                cni = path_text(&cni_dir),
            ),
        )?;
        let containerd =
            labform_test_tiers::find_program("containerd").unwrap_or_else(|| "containerd".into());
        self.sandbox.start(
            "containerd",
            &containerd,
            &[format!("--config={}", path_text(&config))],
            &self.log("containerd"),
        )?;
        let socket_text = path_text(&socket);
        self.wait("containerd to answer", || {
            sandbox::run("ctr", &["--address", &socket_text, "version"]).map(|_| ())
        })?;
        let archive = image::build(&state.join("image"))?;
        sandbox::run(
            "ctr",
            &[
                "--address",
                &socket_text,
                "-n",
                "k8s.io",
                "images",
                "import",
                &path_text(&archive),
            ],
        )
        .map_err(|detail| StartError::Image { detail })?;

        write(
            &state.join("static-pods").join(format!("{STATIC_POD}.yaml")),
            &format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {STATIC_POD}\n  namespace: kube-system\n\
                 spec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: sleeper\n    image: {BUSYBOX_IMAGE}\n\
                 \x20   imagePullPolicy: Never\n    command: [/bin/busybox, sleep, \"2147483647\"]\n"
            ),
        )?;
        write(&state.join("resolv.conf"), "nameserver 127.0.0.1\n")?;
        let kubelet_dir = state.join("kubelet");
        let kubelet_config = state.join("kubelet-config.yaml");
        write(
            &kubelet_config,
            &format!(
                "apiVersion: kubelet.config.k8s.io/v1beta1\n\
                 kind: KubeletConfiguration\n\
                 address: {address}\n\
                 port: 10250\n\
                 readOnlyPort: 0\n\
                 healthzBindAddress: 127.0.0.1\n\
                 healthzPort: 10248\n\
                 authentication:\n  x509:\n    clientCAFile: {ca}\n  webhook:\n    enabled: true\n  anonymous:\n    enabled: false\n\
                 authorization:\n  mode: Webhook\n\
                 tlsCertFile: {serving_certificate}\n\
                 tlsPrivateKeyFile: {serving_key}\n\
                 cgroupDriver: cgroupfs\n\
                 cgroupRoot: /{cgroup}\n\
                 failSwapOn: false\n\
                 staticPodPath: {static_pods}\n\
                 resolvConf: {resolv}\n\
                 clusterDNS: [10.96.0.10]\n\
                 clusterDomain: cluster.local\n\
                 evictionHard:\n  memory.available: 100Mi\n  nodefs.available: 1%\n  imagefs.available: 1%\n  nodefs.inodesFree: 1%\n\
                 imageGCHighThresholdPercent: 100\n\
                 imageGCLowThresholdPercent: 99\n",
                address = self.sandbox.node_address,
                ca = path_text(&pki.path("ca.crt")),
                serving_certificate = path_text(&pki.path("kubelet-serving.crt")),
                serving_key = path_text(&pki.path("kubelet-serving.key")),
                static_pods = path_text(&state.join("static-pods")),
                resolv = path_text(&state.join("resolv.conf")),
            ),
        )?;
        self.sandbox.start(
            "kubelet",
            &self.bin.join("kubelet"),
            &[
                format!("--config={}", path_text(&kubelet_config)),
                format!(
                    "--kubeconfig={}",
                    path_text(&state.join("kubelet.kubeconfig"))
                ),
                "--container-runtime=remote".to_owned(),
                format!("--container-runtime-endpoint=unix://{socket_text}"),
                format!("--root-dir={}", path_text(&kubelet_dir)),
                format!(
                    "--volume-plugin-dir={}",
                    path_text(&kubelet_dir.join("volume-plugins"))
                ),
                format!("--hostname-override={NODE_NAME}"),
                format!("--node-ip={}", self.sandbox.node_address),
                format!("--pod-infra-container-image={}", image::PAUSE_IMAGE),
            ],
            &self.log("kubelet"),
        )?;
        self.wait(&format!("node {NODE_NAME} to be Ready"), || {
            let status = self.kubectl(&[
                "get",
                "node",
                NODE_NAME,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ])?;
            if status.trim() == "True" {
                Ok(())
            } else {
                Err(format!("Ready is {status:?}"))
            }
        })?;
        let mirror = format!("{STATIC_POD}-{NODE_NAME}");
        self.wait(
            &format!("the mirror pod kube-system/{mirror} to run"),
            || {
                let phase = self.kubectl(&[
                    "-n",
                    "kube-system",
                    "get",
                    "pod",
                    &mirror,
                    "-o",
                    "jsonpath={.status.phase}",
                ])?;
                if phase.trim() == "Running" {
                    Ok(())
                } else {
                    Err(format!("phase {phase:?}"))
                }
            },
        )?;
        self.wait("the default ServiceAccount's token", || {
            let secrets = self.kubectl(&[
                "-n",
                "default",
                "get",
                "serviceaccount",
                "default",
                "-o",
                "jsonpath={.secrets[*].name}",
            ])?;
            if secrets.trim().is_empty() {
                Err("no token Secret yet".to_owned())
            } else {
                Ok(())
            }
        })
    }

    /// Polls `check` once a second until it succeeds, a component exits, or [`WAIT_LIMIT`]
    /// passes.
    fn wait(
        &self,
        what: &str,
        mut check: impl FnMut() -> Result<(), String>,
    ) -> Result<(), StartError> {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            let last = match check() {
                Ok(()) => return Ok(()),
                Err(last) => last,
            };
            self.sandbox.check_components()?;
            if Instant::now() >= deadline {
                return Err(StartError::Timeout {
                    what: what.to_owned(),
                    limit: WAIT_LIMIT,
                    last: last.trim().to_owned(),
                });
            }
            std::thread::sleep(POLL);
        }
    }
}

fn run_kubectl(
    bin: &Path,
    kubeconfig: &Path,
    arguments: &[&str],
    input: Option<&str>,
) -> Result<String, String> {
    let mut command = Command::new(bin.join("kubectl"));
    command
        .arg(format!("--kubeconfig={}", path_text(kubeconfig)))
        .arg("--request-timeout=60s")
        .args(arguments)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot run kubectl: {error}"))?;
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        stdin
            .write_all(input.as_bytes())
            .map_err(|error| format!("cannot write to kubectl: {error}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|error| format!("kubectl failed: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "kubectl {} failed: {}",
            arguments.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
