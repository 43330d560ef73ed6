//! labform's Talos flow against the API double over real gRPC and TLS: configurations applied
//! in maintenance mode, etcd bootstrapped once, health, Talos upgraded one node at a time
//! (control planes first), the kubeconfig fetched; a second run changes nothing; drift; the
//! double's rules (insecure apply only in maintenance mode, the OS CA and `os:admin`, bootstrap
//! once, quorum on upgrades); reset. Each test takes a few seconds (a secrets bundle's RSA key).

use std::net::IpAddr;
use std::time::Duration;

use labform_planner::plan::PlannedCluster;
use labform_planner::{Allocations, Plan};
use labform_secrets::{ExposeSecret as _, SecretStore};
use labform_talos::api::client::{ApplyMode, TalosClient, status_code};
use labform_talos::api::tls;
use labform_talos::cluster::{
    EndpointOverrides, TalosContext, TalosOptions, converge, drift, kubeconfig_store_key, reset,
};
use labform_talos::talosconfig::Talosconfig;
use labform_talos::{SecretsBundle, SecretsSource, TalosError, cluster_configurations};
use labform_talos_sim::TalosSim;

fn lab(version: &str) -> String {
    format!(
        r#"lab: talos-flow
proxmox:
  - name: pve
    endpoint: https://10.3.0.2:8006
    fingerprint: "71:C8:2E:A4:0B:F6:93:5D:18:E7:4C:B0:26:9A:D3:61:F8:05:7B:C2:3E:A9:14:D6:82:5F:0C:B7:49:E3:6A:10"
    credentials:
      token: {{id: labform@pve!lab, secret: {{env: PVE_TOKEN_SECRET}}}}
    nodes:
      - {{name: pve1, cpu: 32, memory: 256GiB}}
    storages:
      - {{name: local, content: [iso, import], capacity: 100GiB, type: dir}}
      - {{name: nvme, content: [images], capacity: 2TiB, type: zfspool}}
images:
  - name: talos
    url: https://factory.talos.dev/image/ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515/v1.13.8/nocloud-amd64.raw
    checksum: sha256:63c6dfc1dd64864695381b933a9549498525a9c9abfd502b05005f2148b4034c
    os: talos
networks:
  - name: lan
    bridge: vmbr0
    cidr: 10.3.0.0/24
    gateway: 10.3.0.1
    dns: [10.3.0.1]
    pools:
      - {{name: nodes, purpose: nodes, range: 10.3.0.20-10.3.0.59}}
clusters:
  - name: talos
    distribution: talos
    version: {version}
    network: lan
    api_vip: {{address: 10.3.0.10}}
    servers: {{count: 3, cpu: 2, memory: 4GiB, image: talos, disks: [{{size: 20GiB}}]}}
    agents:
      - {{name: worker, count: 2, cpu: 2, memory: 4GiB, image: talos, disks: [{{size: 20GiB}}]}}
"#
    )
}

fn plan(version: &str) -> Plan {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("lab.yaml");
    std::fs::write(&path, lab(version)).expect("write lab");
    let loaded = labform_model::load(&labform_model::RealFileSystem, &path);
    let lab = loaded.lab.expect("lab loads");
    labform_planner::plan(&lab, &Allocations::default())
        .plan
        .expect("lab plans")
}

fn cluster(plan: &Plan) -> &PlannedCluster {
    &plan.clusters[0]
}

async fn start(plan: &Plan, version: &str) -> TalosSim {
    let nodes: Vec<(String, IpAddr)> = cluster(plan)
        .nodes
        .iter()
        .map(|node| (node.vm.clone(), IpAddr::V4(node.address)))
        .collect();
    TalosSim::start(&nodes, version).await.expect("double")
}

fn overrides(sim: &TalosSim) -> EndpointOverrides {
    sim.endpoints()
        .iter()
        .fold(EndpointOverrides::none(), |overrides, endpoint| {
            overrides.with(endpoint.address, endpoint.socket)
        })
}

fn options() -> TalosOptions {
    TalosOptions {
        call_timeout: Duration::from_secs(20),
        ready_timeout: Duration::from_secs(60),
        poll: Duration::from_millis(20),
    }
}

fn quiet(_: &str, _: &str) {}

fn context<'a>(plan: &'a Plan, store: &'a SecretStore, sim: &TalosSim) -> TalosContext<'a> {
    TalosContext {
        plan,
        store,
        options: options(),
        overrides: overrides(sim),
        progress: &quiet,
    }
}

fn admin_client(store: &SecretStore, plan: &Plan) -> TalosClient {
    let bundle = SecretsBundle::load_or_generate(store, &plan.scope, "talos").expect("bundle");
    let talosconfig =
        Talosconfig::load_or_create(store, &plan.scope, "talos", &bundle, Vec::new(), Vec::new())
            .expect("talosconfig");
    TalosClient::new(
        tls::authenticated_client(
            &talosconfig.ca,
            &talosconfig.certificate,
            talosconfig.key.expose_secret(),
        )
        .expect("TLS"),
        Duration::from_secs(20),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_flow_runs_against_the_double() {
    let plan = plan("v1.13.9");
    let sim = start(&plan, "v1.13.8").await;
    let directory = tempfile::tempdir().expect("temporary directory");
    let store = SecretStore::open(directory.path()).expect("store");
    let context = context(&plan, &store, &sim);

    let outcome = converge(&context, cluster(&plan)).await.expect("converge");
    let names: Vec<String> = cluster(&plan)
        .nodes
        .iter()
        .map(|node| node.vm.clone())
        .collect();
    assert_eq!(outcome.applied, names);
    assert!(outcome.bootstrapped);
    assert_eq!(outcome.upgraded, names, "servers first, then workers");
    assert!(
        outcome
            .kubeconfig
            .expose_secret()
            .contains("server: https://10.3.0.10:6443")
    );
    // The flow only fetches the kubeconfig; `labform_talos::Talos` names and keeps it
    // (crates/labform-cli/tests/talos.rs).

    // Every node runs its planned configuration and the planned version.
    let bundle = SecretsBundle::load_or_generate(&store, &plan.scope, "talos").expect("bundle");
    let planned = cluster_configurations(&plan, cluster(&plan), SecretsSource::Bundle(&bundle))
        .expect("configurations");
    for configuration in &planned {
        let node = sim.node(&configuration.vm);
        assert_eq!(
            node.configuration.as_deref(),
            Some(configuration.for_node().expose_secret()),
            "{}",
            configuration.vm
        );
        assert_eq!(node.version, "v1.13.9");
        assert_eq!(
            node.upgrades,
            vec![
                "factory.talos.dev/installer/ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515:v1.13.9"
                    .to_owned()
            ]
        );
        assert_eq!(node.etcd_running, configuration.role.is_server());
    }
    let calls = sim.calls();
    let applies: Vec<_> = calls
        .iter()
        .filter(|call| call.method == "ApplyConfiguration")
        .collect();
    assert_eq!(applies.len(), 5);
    assert!(
        applies
            .iter()
            .all(|call| !call.authenticated && call.outcome == "Ok")
    );
    let bootstraps: Vec<_> = calls
        .iter()
        .filter(|call| call.method == "Bootstrap")
        .collect();
    assert_eq!(bootstraps.len(), 1);
    assert_eq!(bootstraps[0].node, names[0]);
    let upgrades: Vec<String> = calls
        .iter()
        .filter(|call| call.method == "Upgrade")
        .map(|call| call.node.clone())
        .collect();
    assert_eq!(upgrades, names, "one node at a time, control planes first");

    // A second run changes nothing.
    let before = sim.calls().len();
    let again = converge(&context, cluster(&plan))
        .await
        .expect("converge again");
    assert!(again.applied.is_empty() && !again.bootstrapped && again.upgraded.is_empty());
    assert!(
        sim.calls()[before..].iter().all(|call| ![
            "ApplyConfiguration",
            "Bootstrap",
            "Upgrade",
            "Reset"
        ]
        .contains(&call.method.as_str())),
        "a second converge only reads"
    );

    // Drift: none, then one changed node.
    let (report, _) = drift(&context, cluster(&plan)).await.expect("drift");
    assert!(report.iter().all(|node| !node.drifted()), "{report:?}");
    let admin = admin_client(&store, &plan);
    let worker = sim
        .endpoints()
        .iter()
        .find(|endpoint| endpoint.node == names[4])
        .expect("worker");
    let changed = planned[4]
        .for_node()
        .expose_secret()
        .replace("diskQuotaSupport: true", "diskQuotaSupport: false");
    admin
        .apply_configuration(worker, &changed.into(), ApplyMode::Auto)
        .await
        .expect("changed by hand");
    let (report, _) = drift(&context, cluster(&plan)).await.expect("drift");
    let drifted: Vec<_> = report.iter().filter(|node| node.drifted()).collect();
    assert_eq!(drifted.len(), 1);
    assert_eq!(drifted[0].node, names[4]);
    assert_eq!(drifted[0].documents, vec!["v1alpha1".to_owned()]);
    // The next converge puts the planned configuration back.
    let repaired = converge(&context, cluster(&plan)).await.expect("converge");
    assert_eq!(repaired.applied, vec![names[4].clone()]);

    // Reset: workers first, control planes last, the last one without leaving etcd; the
    // kubeconfig kept under the shared key is forgotten.
    let key = kubeconfig_store_key(&plan.scope, "talos").expect("key");
    store.put(&key, &outcome.kubeconfig).expect("keep");
    reset(&context, cluster(&plan)).await.expect("reset");
    for name in &names {
        let node = sim.node(name);
        assert_eq!(node.configuration, None, "{name}");
        assert_eq!(node.resets, 1, "{name}");
    }
    let resets: Vec<String> = sim
        .calls()
        .iter()
        .filter(|call| call.method == "Reset")
        .map(|call| call.node.clone())
        .collect();
    assert_eq!(
        resets,
        vec![
            names[3].clone(),
            names[4].clone(),
            names[2].clone(),
            names[1].clone(),
            names[0].clone()
        ]
    );
    assert!(
        store
            .get(&kubeconfig_store_key(&plan.scope, "talos").expect("key"))
            .expect("store")
            .is_none(),
        "reset forgets the kubeconfig"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_double_enforces_taloss_rules() {
    let plan = plan("v1.13.9");
    let sim = start(&plan, "v1.13.9").await;
    let directory = tempfile::tempdir().expect("temporary directory");
    let store = SecretStore::open(directory.path()).expect("store");
    let context = context(&plan, &store, &sim);
    converge(&context, cluster(&plan)).await.expect("converge");
    let first = &sim.endpoints()[0];
    let bundle = SecretsBundle::load_or_generate(&store, &plan.scope, "talos").expect("bundle");
    let planned = cluster_configurations(&plan, cluster(&plan), SecretsSource::Bundle(&bundle))
        .expect("configurations");

    // Insecure apply only in maintenance mode.
    let maintenance = TalosClient::new(
        tls::maintenance_client().expect("TLS"),
        Duration::from_secs(20),
    );
    let refused = maintenance
        .apply_configuration(first, &planned[0].for_node(), ApplyMode::Auto)
        .await
        .expect_err("a configured node refuses an unauthenticated apply");
    assert!(matches!(refused, TalosError::Api { .. }), "{refused}");

    // Client certificates must come from the OS CA and carry os:admin.
    let reader = bundle.client_certificate(&["os:reader"]).expect("reader");
    let reader = TalosClient::new(
        tls::authenticated_client(
            &bundle.os_ca.certificate,
            &reader.certificate,
            reader.key.expose_secret(),
        )
        .expect("TLS"),
        Duration::from_secs(20),
    );
    let denied = reader
        .bootstrap(first)
        .await
        .expect_err("os:reader may not bootstrap");
    assert_eq!(status_code(&denied), Some("PermissionDenied"), "{denied}");
    let stranger = SecretsBundle::generate().expect("another cluster");
    let foreign = stranger
        .client_certificate(&["os:admin"])
        .expect("foreign admin");
    let foreign = TalosClient::new(
        tls::authenticated_client(
            &bundle.os_ca.certificate,
            &foreign.certificate,
            foreign.key.expose_secret(),
        )
        .expect("TLS"),
        Duration::from_secs(20),
    );
    assert!(
        foreign.version(first).await.is_err(),
        "a certificate of another CA is refused"
    );

    // Bootstrap once.
    let admin = admin_client(&store, &plan);
    let again = admin
        .bootstrap(first)
        .await
        .expect_err("bootstrapped already");
    assert_eq!(status_code(&again), Some("FailedPrecondition"), "{again}");

    // Upgrades keep etcd's quorum: with two of three members unhealthy, labform refuses to take
    // the first control plane down, and so does the node.
    sim.set_etcd_healthy(&planned[1].vm, false);
    sim.set_etcd_healthy(&planned[2].vm, false);
    let newer = super_plan("v1.13.10");
    let upgrade = converge(&context_for(&newer, &store, &sim), cluster(&newer)).await;
    match upgrade {
        Err(TalosError::Quorum {
            node,
            healthy,
            members,
        }) => {
            assert_eq!(
                (node.as_str(), healthy, members),
                (planned[0].vm.as_str(), 0, 3)
            );
        }
        Err(TalosError::Timeout { .. }) | Ok(_) | Err(_) => {
            panic!("expected the quorum refusal, got {upgrade:?}")
        }
    }
    let direct = admin
        .upgrade(first, "factory.talos.dev/installer/x:v1.13.10")
        .await
        .expect_err("the node refuses too");
    assert_eq!(status_code(&direct), Some("FailedPrecondition"), "{direct}");
    assert!(
        sim.calls()
            .iter()
            .all(|call| !(call.method == "Upgrade" && call.outcome == "Ok"))
    );
}

fn super_plan(version: &str) -> Plan {
    plan(version)
}

fn context_for<'a>(plan: &'a Plan, store: &'a SecretStore, sim: &TalosSim) -> TalosContext<'a> {
    context(plan, store, sim)
}
