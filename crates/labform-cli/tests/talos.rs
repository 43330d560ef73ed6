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
    lab_text_with(port, checksum, fingerprint, VERSION, "")
}

/// The lab of Talos `version` with `extra` (indented settings) added to its cluster.
fn lab_text_with(
    port: u16,
    checksum: &str,
    fingerprint: &str,
    version: &str,
    extra: &str,
) -> String {
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
  - {{name: lan, bridge: vmbr0, cidr: 10.7.0.0/24, gateway: 10.7.0.1, dns: [10.7.0.1], pools: [{{name: nodes, purpose: nodes, range: 10.7.0.20-10.7.0.59}}, {{name: gateways, purpose: load-balancers, range: 10.7.0.200-10.7.0.219}}]}}
clusters:
  - name: talos
    distribution: talos
    version: {version}
    network: lan
    api_vip: {{address: 10.7.0.10}}
    servers: {{count: 3, cpu: 2, memory: 4GiB, image: talos, disks: [{{size: 20GiB}}]}}
    agents: [{{name: worker, count: 1, cpu: 2, memory: 4GiB, image: talos, disks: [{{size: 20GiB}}]}}]
{extra}"
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
    /// Variables the lab's secret references read.
    environment: Vec<(&'static str, &'static str)>,
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
            .envs(self.environment.iter().copied())
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

/// The Talos API double for the plan's first cluster, and `LABFORM_TALOS_ENDPOINTS` for it.
async fn talos_double(plan: &Plan) -> (TalosSim, String) {
    let nodes: Vec<(String, IpAddr)> = plan.clusters[0]
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
    (sim, endpoints)
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
    let (sim, endpoints) = talos_double(&plan).await;
    // The cluster's Kubernetes API: apply and drift read labform's record of the add-ons
    // there (this lab has none).
    let kubernetes = labform_kube_sim::KubeSim::start()
        .await
        .expect("kube-apiserver double");
    sim.set_kubeconfig(&kubernetes.kubeconfig());
    let run = Run {
        directory,
        simulator: &simulator,
        endpoints,
        environment: Vec::new(),
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

    // Kubernetes pinned in the machine configurations, then upgraded the Talos way: the new
    // images' configuration goes to one node at a time, control planes first.
    let rewrite = |version: &str, extra: &str| {
        std::fs::write(
            directory.join("lab.yaml"),
            lab_text_with(port, &checksum, &simulator.fingerprint, version, extra),
        )
        .expect("rewrite the lab");
    };
    let applied_in_order: Vec<String> = names
        .iter()
        .map(|name| format!("ApplyConfiguration {name}"))
        .collect();
    for kubernetes in ["v1.31.2", "v1.32.0"] {
        rewrite(VERSION, &format!("    kubernetes_version: {kubernetes}\n"));
        let before = sim.calls().len();
        let upgraded = run.apply();
        assert!(
            upgraded.status.success(),
            "{}",
            common::output_text(&upgraded)
        );
        assert_eq!(
            changing_calls(&sim, before),
            applied_in_order,
            "{kubernetes}"
        );
        for name in &names {
            let configuration = sim.node(name).configuration.expect("configured");
            assert!(
                configuration.contains(&format!("image: ghcr.io/siderolabs/kubelet:{kubernetes}")),
                "{name} runs the kubelet of {kubernetes}"
            );
        }
    }
    // Two minor versions at once are refused before any node is touched.
    rewrite(VERSION, "    kubernetes_version: v1.34.0\n");
    let before = sim.calls().len();
    let skipped = run.apply();
    assert!(
        !skipped.status.success(),
        "{}",
        common::output_text(&skipped)
    );
    assert!(
        common::output_text(&skipped).contains("one minor version at a time"),
        "{}",
        common::output_text(&skipped)
    );
    assert_eq!(changing_calls(&sim, before), Vec::<String>::new());

    // A Talos upgrade while one etcd member is unhealthy: apply refuses before touching a
    // control plane, and the double itself refuses an upgrade that would cost the quorum.
    const NEXT: &str = "v1.8.4";
    rewrite(NEXT, "    kubernetes_version: v1.32.0\n");
    sim.set_etcd_healthy(&names[1], false);
    let before = sim.calls().len();
    let refused = run.apply();
    assert!(
        !refused.status.success(),
        "{}",
        common::output_text(&refused)
    );
    assert!(
        common::output_text(&refused).contains("quorum"),
        "{}",
        common::output_text(&refused)
    );
    assert_eq!(changing_calls(&sim, before), Vec::<String>::new());
    let first_endpoint = sim
        .endpoints()
        .iter()
        .find(|endpoint| endpoint.node == names[0])
        .expect("the first control plane's endpoint");
    let direct = admin
        .upgrade(
            first_endpoint,
            &format!("factory.talos.dev/installer/x:{NEXT}"),
        )
        .await
        .expect_err("the double refuses without quorum");
    assert_eq!(
        labform_talos::api::client::status_code(&direct),
        Some("FailedPrecondition"),
        "{direct}"
    );
    // Healthy again: every node gets the new configuration, then the upgrade, one at a time,
    // control planes first.
    sim.set_etcd_healthy(&names[1], true);
    let before = sim.calls().len();
    let upgraded = run.apply();
    assert!(
        upgraded.status.success(),
        "{}",
        common::output_text(&upgraded)
    );
    let mut expected = applied_in_order.clone();
    expected.extend(names.iter().map(|name| format!("Upgrade {name}")));
    assert_eq!(changing_calls(&sim, before), expected);
    for name in &names {
        assert_eq!(sim.node(name).version, NEXT, "{name}");
    }
    let before = sim.calls().len();
    let settled = run.apply();
    assert!(
        settled.status.success(),
        "{}",
        common::output_text(&settled)
    );
    assert_eq!(changing_calls(&sim, before), Vec::<String>::new());

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

/// Seed 004's add-ons, with the Secrets they read from the environment.
const SEED_004_ADDONS: &str = "    addons:
      metallb: {pool: gateways, addresses: 10}
      longhorn: {replicas: 3, default_storage_class: true}
      cert_manager: {}
      external_secrets:
        provider: bitwarden
        access_token: {env: BWS_ACCESS_TOKEN}
        organization_id: 2f6d8a41-93c7-4b5e-a0d2-7e1f4c9b3a58
        project_id: c81e4b07-5d2a-4f96-b3e8-0a7c6d5f2914
      envoy_gateway: {domain: example.com}
      tailscale_operator:
        oauth_client_id: {env: TS_OAUTH_CLIENT_ID}
        oauth_client_secret: {env: TS_OAUTH_CLIENT_SECRET}
      argocd:
        application_sets:
          - {name: apps, repository: 'https://github.com/example/homelab.git', directories: 'kubernetes/apps/*/*'}
";

/// What the Helm controller and the charts' Jobs would make before labform applies objects of
/// their kinds: the controller's two CRDs, and those of the charts whose custom resources the
/// add-ons render. Neither the controller nor a chart can run here (no images), so the test
/// stands in for them.
fn chart_crds() -> String {
    [
        ("helm.cattle.io", "HelmChart", "helmcharts", "Namespaced"),
        ("helm.cattle.io", "HelmChartConfig", "helmchartconfigs", "Namespaced"),
        ("metallb.io", "IPAddressPool", "ipaddresspools", "Namespaced"),
        ("metallb.io", "L2Advertisement", "l2advertisements", "Namespaced"),
        ("cert-manager.io", "Issuer", "issuers", "Namespaced"),
        ("cert-manager.io", "ClusterIssuer", "clusterissuers", "Cluster"),
        ("cert-manager.io", "Certificate", "certificates", "Namespaced"),
        ("gateway.networking.k8s.io", "GatewayClass", "gatewayclasses", "Cluster"),
        ("gateway.networking.k8s.io", "Gateway", "gateways", "Namespaced"),
        ("external-secrets.io", "ClusterSecretStore", "clustersecretstores", "Cluster"),
        ("argoproj.io", "ApplicationSet", "applicationsets", "Namespaced"),
    ]
    .iter()
    .map(|(group, kind, plural, scope)| {
        let versions: &[&str] = match *group {
            "metallb.io" => &["v1beta1"],
            "argoproj.io" => &["v1alpha1"],
            _ => &["v1"],
        };
        let versions: String = versions
            .iter()
            .map(|version| {
                format!(
                    "  - name: {version}\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}\n"
                )
            })
            .collect();
        // Groups under k8s.io are protected: kube-apiserver wants the approval annotation.
        let annotations = if group.ends_with(".k8s.io") {
            "\n  annotations: {api-approved.kubernetes.io: 'unapproved, stands in for the chart'}"
        } else {
            ""
        };
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: {plural}.{group}{annotations}\nspec:\n  group: {group}\n  scope: {scope}\n  names: {{kind: {kind}, plural: {plural}, singular: {singular}, listKind: {kind}List}}\n  versions:\n{versions}",
            singular = kind.to_ascii_lowercase(),
        )
    })
    .collect::<Vec<_>>()
    .join("---\n")
}

/// Seed 004's add-ons on a Talos cluster, through `labform apply` against `labform sim serve`,
/// the Talos API double and a real kube-apiserver (the `real-kubernetes` tier), whose admin
/// kubeconfig the double gives as Talos would give its cluster's: the Secrets the add-ons read,
/// the Helm controller and every add-on's manifest applied through the API, recorded in the
/// cluster; a second apply writes nothing; a `HelmChart` deleted by hand is drift that the next
/// apply puts back; an add-on the lab drops has its objects deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_004_add_ons_reach_a_talos_cluster_through_the_kubernetes_api() {
    if !labform_test_tiers::REAL_KUBERNETES.available() {
        return;
    }
    let real = labform_kube_real::RealCluster::shared();
    real.apply(&chart_crds()).expect("the charts' CRDs");
    let kubectl = |arguments: &[&str]| real.kubectl(arguments);
    let exists = |arguments: &[&str]| kubectl(arguments).is_ok();

    let directory = tempfile::tempdir().expect("temporary directory");
    let directory = directory.path();
    let image = b"not really a Talos disk image".to_vec();
    let checksum = format!("{:x}", sha2::Sha256::digest(&image));
    let port = common::serve_file(image);
    let simulator = start_simulator();
    // The worker's group carries a label a node may not give itself: set through the API.
    let lab = |addons: &str| {
        lab_text_with(port, &checksum, &simulator.fingerprint, VERSION, addons).replace(
            "agents: [{name: worker, count: 1,",
            "agents: [{name: worker, count: 1, api_labels: [node-role.kubernetes.io/worker=true],",
        )
    };
    std::fs::write(directory.join("lab.yaml"), lab(SEED_004_ADDONS)).expect("write the lab");
    let plan = offline_plan(&directory.join("lab.yaml"));
    let worker = plan.clusters[0]
        .nodes
        .iter()
        .find(|node| !node.role.is_server())
        .expect("a worker")
        .vm
        .clone();
    // The Talos double runs no kubelet: the worker's Node object is made by hand.
    real.apply(&format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {worker}\n"
    ))
    .expect("the worker's Node object");
    let (sim, endpoints) = talos_double(&plan).await;
    sim.set_kubeconfig(real.admin_kubeconfig());
    let run = Run {
        directory,
        simulator: &simulator,
        endpoints,
        environment: vec![
            ("BWS_ACCESS_TOKEN", "bws-token-for-the-test"),
            ("TS_OAUTH_CLIENT_ID", "ts-client-id"),
            ("TS_OAUTH_CLIENT_SECRET", "ts-client-secret-for-the-test"),
        ],
    };

    let first = run.apply();
    assert!(first.status.success(), "{}", common::output_text(&first));
    let first_text = common::output_text(&first);
    assert!(
        !first_text.contains("ts-client-secret-for-the-test"),
        "{first_text}"
    );
    for chart in [
        "metallb",
        "longhorn",
        "cert-manager",
        "external-secrets",
        "envoy-gateway",
        "tailscale-operator",
        "argocd",
    ] {
        assert!(
            exists(&["-n", "kube-system", "get", "helmchart", chart]),
            "HelmChart {chart} applied\n{first_text}"
        );
    }
    assert!(exists(&[
        "-n",
        "helm-controller",
        "get",
        "deployment",
        "helm-controller"
    ]));
    let labels = kubectl(&["get", "node", &worker, "-o", "jsonpath={.metadata.labels}"])
        .expect("the worker's labels");
    assert!(
        labels.contains("\"node-role.kubernetes.io/worker\":\"true\""),
        "{labels}\n{first_text}"
    );
    assert!(exists(&["get", "gatewayclass", "envoy"]) || exists(&["get", "gatewayclasses"]));
    assert!(exists(&["-n", "argocd", "get", "applicationset", "apps"]));
    let token = kubectl(&[
        "-n",
        "external-secrets",
        "get",
        "secret",
        "bitwarden-access-token",
        "-o",
        "jsonpath={.data}",
    ])
    .expect("the Bitwarden token's Secret");
    assert!(!token.is_empty());
    assert!(exists(&[
        "-n",
        "tailscale",
        "get",
        "secret",
        "operator-oauth"
    ]));
    let record = kubectl(&[
        "-n",
        "kube-system",
        "get",
        "configmap",
        "labform-addons",
        "-o",
        "jsonpath={.data}",
    ])
    .expect("labform's record of the add-ons");
    assert!(
        record.contains("argocd.yaml") && record.contains("helm-controller.yaml"),
        "{record}"
    );

    // A second apply writes nothing; drift finds nothing.
    let second = run.apply();
    assert!(second.status.success(), "{}", common::output_text(&second));
    assert!(
        !common::output_text(&second).contains("apply add-on manifest"),
        "{}",
        common::output_text(&second)
    );
    let clean = run.labform(&["drift", "LAB"], true);
    assert!(clean.status.success(), "{}", common::output_text(&clean));

    // A HelmChart deleted by hand is drift, and the next apply puts it back.
    kubectl(&["-n", "kube-system", "delete", "helmchart", "argocd"]).expect("deleted by hand");
    let drift = run.labform(&["drift", "LAB"], true);
    assert_eq!(
        drift.status.code(),
        Some(2),
        "{}",
        common::output_text(&drift)
    );
    let drift_text = common::output_text(&drift);
    assert!(
        drift_text.contains("argocd.yaml") && drift_text.contains("HelmChart kube-system/argocd"),
        "{drift_text}"
    );
    let repaired = run.apply();
    assert!(
        repaired.status.success(),
        "{}",
        common::output_text(&repaired)
    );
    assert!(exists(&["-n", "kube-system", "get", "helmchart", "argocd"]));
    let clean = run.labform(&["drift", "LAB"], true);
    assert!(clean.status.success(), "{}", common::output_text(&clean));

    // An add-on the lab drops has its objects deleted.
    let without_tailscale: String = SEED_004_ADDONS
        .lines()
        .filter(|line| !line.contains("tailscale_operator") && !line.contains("oauth_client"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(directory.join("lab.yaml"), lab(&without_tailscale)).expect("rewrite the lab");
    let dropped = run.apply();
    assert!(
        dropped.status.success(),
        "{}",
        common::output_text(&dropped)
    );
    assert!(
        common::output_text(&dropped).contains("remove add-on"),
        "{}",
        common::output_text(&dropped)
    );
    assert!(!exists(&[
        "-n",
        "kube-system",
        "get",
        "helmchart",
        "tailscale-operator"
    ]));
    kubectl(&["delete", "node", &worker]).expect("the worker's Node object deleted");
}
