//! A Talos cluster through the binary: `labform apply`, `drift` and `reset` against `labform sim
//! serve` (Proxmox, over HTTPS) and the Talos API double (`labform-talos-sim`, gRPC over mutual
//! TLS; `LABFORM_TALOS_ENDPOINTS` points labform at it), acting through the CLI's table of
//! distributions. The first apply makes the VMs with their Talos seeds, applies every node's
//! machine configuration, bootstraps etcd once and merges the kubeconfig; a second apply only
//! reads; a machine configuration changed by hand is drift, which the next apply puts back;
//! reset wipes every node, workers first. `labform talosconfig` merges the cluster's talosconfig
//! context into the user's file.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use labform_planner::{Allocations, Plan};
use labform_secrets::{ExposeSecret as _, SecretStore};
use labform_talos::api::client::{ApplyMode, TalosClient};
use labform_talos::api::tls;
use labform_talos::talosconfig::Talosconfig;
use labform_talos::{SecretsBundle, SecretsSource, cluster_configurations};
use labform_talos_sim::TalosSim;
use sha2::Digest as _;

use common::{SimServer, output_text};

const VERSION: &str = "v1.8.3";

fn start_simulator() -> SimServer {
    SimServer::start(&["--nodes", "1", "--time-scale", "0.02"])
}

fn lab_text(port: u16, checksum: &str, fingerprint: &str) -> String {
    format!(
        "lab: talos-cli
proxmox:
  - name: sim
    endpoint: https://127.0.0.1:8006
    fingerprint: \"{fingerprint}\"
    credentials: {{password: {{user: root@pam, password: {{env: LABFORM_PVE_PASSWORD}}}}}}
    nodes: [{{name: pve1, cpu: 16, memory: 64GiB}}]
    storages:
      - {{name: local, content: [iso, import, snippets, images], capacity: 100GiB, type: dir}}
      - {{name: local-lvm, content: [images], capacity: 1TiB, type: lvmthin}}
images:
  - {{name: talos, url: 'http://127.0.0.1:{port}/nocloud-amd64.raw', checksum: 'sha256:{checksum}', os: talos}}
networks:
  - {{name: lan, bridge: vmbr0, cidr: 10.7.0.0/24, gateway: 10.7.0.1, dns: [10.7.0.1], pools: [{{name: nodes, purpose: nodes, range: 10.7.0.20-10.7.0.59}}]}}
clusters:
  - name: talos
    distribution: talos
    version: {VERSION}
    network: lan
    api_vip: {{address: 10.7.0.10}}
    servers: {{count: 3, cpu: 2, memory: 4GiB, image: talos, disks: [{{size: 20GiB}}]}}
    agents: [{{name: worker, count: 1, cpu: 2, memory: 4GiB, image: talos, disks: [{{size: 20GiB}}]}}]
"
    )
}

fn offline_plan(path: &Path) -> Plan {
    let loaded = labform_model::load(&labform_model::RealFileSystem, path);
    let lab = loaded.lab.expect("the lab loads");
    labform_planner::plan(&lab, &Allocations::default())
        .plan
        .expect("the lab plans")
}

struct Run<'a> {
    directory: &'a Path,
    simulator: &'a SimServer,
    endpoints: String,
}

impl Run<'_> {
    /// Runs labform with `args`, the lab file in place of `LAB`; against the simulator when
    /// `target`.
    fn labform(&self, args: &[&str], target: bool) -> Output {
        let lab = self.directory.join("lab.yaml").display().to_string();
        let args: Vec<&str> = args
            .iter()
            .map(|argument| {
                if *argument == "LAB" {
                    lab.as_str()
                } else {
                    argument
                }
            })
            .collect();
        let mut command = if target {
            self.simulator.command(self.directory, &args)
        } else {
            let mut command = Command::new(env!("CARGO_BIN_EXE_labform"));
            command
                .args(&args)
                .env("XDG_STATE_HOME", self.directory.join("state"))
                .env("LABFORM_DATA_DIR", self.directory.join("data"));
            command
        };
        command
            .env("LABFORM_TALOS_ENDPOINTS", &self.endpoints)
            .env("LABFORM_CLUSTER_TIMEOUT", "120")
            .env("HOME", self.directory)
            .env_remove("KUBECONFIG")
            .output()
            .expect("labform runs")
    }

    fn apply(&self) -> Output {
        self.labform(
            &[
                "apply",
                "LAB",
                "--yes",
                "--journal",
                &self.directory.join("journal.sqlite").display().to_string(),
                "--kubeconfig",
                &self.directory.join("kubeconfig").display().to_string(),
            ],
            true,
        )
    }
}

fn changing_calls(sim: &TalosSim, since: usize) -> Vec<String> {
    sim.calls()[since..]
        .iter()
        .filter(|call| {
            ["ApplyConfiguration", "Bootstrap", "Upgrade", "Reset"].contains(&call.method.as_str())
        })
        .map(|call| format!("{} {}", call.method, call.node))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_drift_and_reset_a_talos_cluster_through_the_binary() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let directory = directory.path();
    let image = b"not really a Talos disk image".to_vec();
    let checksum = format!("{:x}", sha2::Sha256::digest(&image));
    let port = common::serve_file(image);
    let simulator = start_simulator();
    std::fs::write(
        directory.join("lab.yaml"),
        lab_text(port, &checksum, &simulator.fingerprint),
    )
    .expect("write the lab");
    let plan = offline_plan(&directory.join("lab.yaml"));
    let cluster = &plan.clusters[0];
    assert!(cluster.bootstrap_supported, "labform bootstraps Talos");
    let names: Vec<String> = cluster.nodes.iter().map(|node| node.vm.clone()).collect();
    let nodes: Vec<(String, IpAddr)> = cluster
        .nodes
        .iter()
        .map(|node| (node.vm.clone(), IpAddr::V4(node.address)))
        .collect();
    let sim = TalosSim::start(&nodes, VERSION)
        .await
        .expect("Talos double");
    let endpoints = sim
        .endpoints()
        .iter()
        .map(|endpoint| format!("{}={}", endpoint.address, endpoint.socket))
        .collect::<Vec<_>>()
        .join(",");
    let run = Run {
        directory,
        simulator: &simulator,
        endpoints,
    };

    // The first apply makes the VMs and forms the cluster.
    let first = run.apply();
    assert!(first.status.success(), "{}", output_text(&first));
    let first_text = output_text(&first);
    assert!(
        first_text.contains("Then Talos through its API"),
        "{first_text}"
    );
    let applies: Vec<String> = sim
        .calls()
        .iter()
        .filter(|call| call.method == "ApplyConfiguration")
        .map(|call| call.node.clone())
        .collect();
    assert_eq!(applies, names, "every node configured once, in plan order");
    let bootstraps: Vec<String> = sim
        .calls()
        .iter()
        .filter(|call| call.method == "Bootstrap")
        .map(|call| call.node.clone())
        .collect();
    assert_eq!(bootstraps, vec![names[0].clone()], "etcd bootstrapped once");
    let store = SecretStore::open(&directory.join("data")).expect("the store");
    let bundle =
        SecretsBundle::load_or_generate(&store, &plan.scope, &cluster.name).expect("bundle");
    let planned = cluster_configurations(&plan, cluster, SecretsSource::Bundle(&bundle))
        .expect("configurations");
    for configuration in &planned {
        let node = sim.node(&configuration.vm);
        assert_eq!(
            node.configuration.as_deref(),
            Some(configuration.for_node().expose_secret()),
            "{} runs its planned configuration",
            configuration.vm
        );
        assert_eq!(node.etcd_running, configuration.role.is_server());
    }
    let kubeconfig =
        std::fs::read_to_string(directory.join("kubeconfig")).expect("the kubeconfig is merged");
    assert!(
        kubeconfig.contains(&format!("name: {}", cluster.kubeconfig_context))
            && kubeconfig.contains("server: https://10.7.0.10:6443"),
        "{kubeconfig}"
    );
    assert!(
        first_text.contains(&format!(
            "context(s) {} merged into",
            cluster.kubeconfig_context
        )),
        "{first_text}"
    );

    // `labform talosconfig` merges the cluster's context beside the user's own.
    let talosconfig_path = directory.join("talosconfig");
    std::fs::write(
        &talosconfig_path,
        "context: mine\ncontexts:\n  mine:\n    endpoints: [192.0.2.1]\n",
    )
    .expect("an existing talosconfig");
    let merged = run.labform(
        &[
            "talosconfig",
            "LAB",
            "--output",
            &talosconfig_path.display().to_string(),
        ],
        false,
    );
    assert!(merged.status.success(), "{}", output_text(&merged));
    let merged_text = std::fs::read_to_string(&talosconfig_path).expect("merged");
    let merged_context =
        Talosconfig::from_yaml(&merged_text, &cluster.kubeconfig_context).expect("the context");
    let control_planes: Vec<String> = cluster
        .nodes
        .iter()
        .filter(|node| node.role.is_server())
        .map(|node| node.address.to_string())
        .collect();
    assert_eq!(merged_context.endpoints, control_planes);
    assert_eq!(merged_context.ca, bundle.os_ca.certificate);
    assert!(merged_text.starts_with("context: mine\n"), "{merged_text}");
    assert!(merged_text.contains("192.0.2.1"), "{merged_text}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&talosconfig_path)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A second apply changes nothing, on Proxmox or on the nodes.
    let before = sim.calls().len();
    let second = run.apply();
    assert!(second.status.success(), "{}", output_text(&second));
    assert!(
        output_text(&second).contains("already as planned"),
        "{}",
        output_text(&second)
    );
    assert_eq!(changing_calls(&sim, before), Vec::<String>::new());

    // No drift; then the worker's machine configuration changed by hand is.
    let clean = run.labform(&["drift", "LAB"], true);
    assert!(clean.status.success(), "{}", output_text(&clean));
    let talosconfig = Talosconfig::load_or_create(
        &store,
        &plan.scope,
        &cluster.name,
        &bundle,
        Vec::new(),
        Vec::new(),
    )
    .expect("talosconfig");
    let admin = TalosClient::new(
        tls::authenticated_client(
            &talosconfig.ca,
            &talosconfig.certificate,
            talosconfig.key.expose_secret(),
        )
        .expect("TLS"),
        Duration::from_secs(20),
    );
    let worker = &planned[3];
    let endpoint = sim
        .endpoints()
        .iter()
        .find(|endpoint| endpoint.node == worker.vm)
        .expect("the worker's endpoint");
    let changed = worker
        .for_node()
        .expose_secret()
        .replace("diskQuotaSupport: true", "diskQuotaSupport: false");
    assert_ne!(&changed, worker.for_node().expose_secret());
    admin
        .apply_configuration(endpoint, &changed.into(), ApplyMode::Auto)
        .await
        .expect("changed by hand");
    let drift = run.labform(&["drift", "LAB"], true);
    assert_eq!(drift.status.code(), Some(2), "{}", output_text(&drift));
    let drift_text = String::from_utf8_lossy(&drift.stdout).into_owned();
    assert!(
        drift_text.contains(&format!("cluster talos, node {}:", worker.vm))
            && drift_text.contains("machine configuration document v1alpha1")
            && drift_text.contains("1 cluster node(s) differ"),
        "{drift_text}"
    );
    let before = sim.calls().len();
    let repaired = run.apply();
    assert!(repaired.status.success(), "{}", output_text(&repaired));
    assert_eq!(
        changing_calls(&sim, before),
        vec![format!("ApplyConfiguration {}", worker.vm)]
    );
    let clean = run.labform(&["drift", "LAB"], true);
    assert!(clean.status.success(), "{}", output_text(&clean));

    // Reset wipes every node, workers first, and forgets the kubeconfig.
    let before = sim.calls().len();
    let reset = run.labform(&["reset", "LAB", "talos", "--yes"], false);
    assert!(reset.status.success(), "{}", output_text(&reset));
    let expected: Vec<String> = [&names[3], &names[2], &names[1], &names[0]]
        .iter()
        .map(|name| format!("Reset {name}"))
        .collect();
    assert_eq!(changing_calls(&sim, before), expected);
    for name in &names {
        assert_eq!(sim.node(name).configuration, None, "{name}");
    }
    let forgotten = run.labform(&["kubeconfig", "LAB", "--stdout"], false);
    assert!(!forgotten.status.success(), "{}", output_text(&forgotten));
}
