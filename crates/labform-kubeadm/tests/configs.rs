//! Each node's kubeadm configuration for seed 003 (Kubernetes v1.29, `kubeadm.k8s.io/v1beta3`)
//! and for a v1.20 lab with three control planes (`v1beta2`): snapshots of what `labform
//! render` shows, the values read back against the plan, the secrets from the store (and
//! never in the rendered text), and the configuration API chosen by version.

mod common;

use common::{only_cluster, planned, store};
use labform_kubeadm::config::{InstallOptions, JoinSecrets, NodeConfig, node_configs};
use labform_kubeadm::reconfigure::{
    ConfigurationPart, KubeadmSettings, ReconfigurationEffect as ChangeEffect, TaintChange,
    changes, label_changes, refusal, taint_change,
};
use labform_kubeadm::secrets::cluster_secrets;
use labform_planner::plan::{NodeRole, PlannedCluster};
use labform_secrets::ExposeSecret as _;
use serde_json::Value;

const LABS: [&str; 2] = ["examples/seed-003", "tests/kubeadm-v1-20"];

fn redacted(lab: &str) -> (PlannedCluster, Vec<NodeConfig>) {
    let plan = planned(lab);
    let cluster = only_cluster(&plan).clone();
    let configs = node_configs(
        &cluster,
        &JoinSecrets::Redacted { scope: &plan.scope },
        &InstallOptions::default(),
    )
    .unwrap_or_else(|error| panic!("{lab}: {error}"));
    (cluster, configs)
}

/// The YAML documents of a configuration, by kind.
fn documents(config: &NodeConfig) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(&config.text)
        .unwrap_or_else(|error| panic!("{}: not YAML: {error}\n{}", config.vm, config.text))
        .into_iter()
        .filter(|document| !document.is_null())
        .collect()
}

fn kind<'a>(documents: &'a [Value], kind: &str) -> &'a Value {
    documents
        .iter()
        .find(|document| document["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {documents:?}"))
}

#[test]
fn snapshots_of_every_node_configuration() {
    for lab in LABS {
        let (_, configs) = redacted(lab);
        let mut text = String::new();
        for config in configs {
            text.push_str(&format!(
                "=== {} ({:?})\n{}\n",
                config.vm, config.role, config.text
            ));
        }
        insta::assert_snapshot!(lab.rsplit('/').next().expect("a name"), text);
    }
}

#[test]
fn the_configuration_api_follows_the_version() {
    for (lab, api) in [
        ("examples/seed-003", "kubeadm.k8s.io/v1beta3"),
        ("tests/kubeadm-v1-20", "kubeadm.k8s.io/v1beta2"),
    ] {
        let (_, configs) = redacted(lab);
        for config in &configs {
            for document in documents(config) {
                if document["kind"] != "KubeletConfiguration" {
                    assert_eq!(document["apiVersion"], api, "{lab} {}", config.vm);
                }
            }
        }
    }
    // v1beta4 (1.31 and later): arguments become lists of name and value.
    let plan = planned("examples/seed-003");
    let mut cluster = only_cluster(&plan).clone();
    cluster.version = "v1.31.2".to_owned();
    let configs = node_configs(
        &cluster,
        &JoinSecrets::Redacted { scope: &plan.scope },
        &InstallOptions::default(),
    )
    .expect("v1.31 renders");
    let first = documents(&configs[0]);
    let init = kind(&first, "InitConfiguration");
    assert_eq!(init["apiVersion"], "kubeadm.k8s.io/v1beta4");
    assert_eq!(
        init["nodeRegistration"]["kubeletExtraArgs"][0]["name"],
        "node-ip"
    );
    assert_eq!(
        init["nodeRegistration"]["criSocket"],
        "unix:///var/run/containerd/containerd.sock"
    );
}

#[test]
fn values_come_from_the_plan() {
    for lab in LABS {
        let (cluster, configs) = redacted(lab);
        assert_eq!(configs.len(), cluster.nodes.len(), "{lab}");
        let endpoint = format!("{}:6443", cluster.api_address);
        for (config, node) in configs.iter().zip(&cluster.nodes) {
            assert_eq!(config.vm, node.vm);
            let documents = documents(config);
            let registration = match node.role {
                NodeRole::FirstServer => {
                    let init = kind(&documents, "InitConfiguration");
                    assert_eq!(
                        init["localAPIEndpoint"]["advertiseAddress"],
                        node.address.to_string()
                    );
                    let configuration = kind(&documents, "ClusterConfiguration");
                    assert_eq!(configuration["kubernetesVersion"], cluster.version);
                    assert_eq!(configuration["controlPlaneEndpoint"], endpoint);
                    assert_eq!(configuration["networking"]["podSubnet"], cluster.pod_cidr);
                    assert_eq!(
                        configuration["networking"]["serviceSubnet"],
                        cluster.service_cidr
                    );
                    let sans = configuration["apiServer"]["certSANs"]
                        .as_array()
                        .expect("SANs");
                    assert!(sans.contains(&Value::from(cluster.api_address.to_string())));
                    for server in cluster.nodes.iter().filter(|node| node.role.is_server()) {
                        assert!(sans.contains(&Value::from(server.address.to_string())));
                    }
                    let kubelet = kind(&documents, "KubeletConfiguration");
                    assert_eq!(kubelet["cgroupDriver"], "systemd");
                    init["nodeRegistration"].clone()
                }
                NodeRole::JoiningServer | NodeRole::Agent => {
                    let join = kind(&documents, "JoinConfiguration");
                    let discovery = &join["discovery"]["bootstrapToken"];
                    assert_eq!(discovery["apiServerEndpoint"], endpoint);
                    assert_eq!(discovery["caCertHashes"].as_array().map(Vec::len), Some(1));
                    assert!(discovery.get("unsafeSkipCAVerification").is_none());
                    assert_eq!(
                        join["controlPlane"].is_object(),
                        node.role == NodeRole::JoiningServer,
                        "{lab} {}",
                        node.vm
                    );
                    join["nodeRegistration"].clone()
                }
            };
            assert_eq!(registration["name"], node.vm);
            let taints = registration["taints"].as_array().map_or(0, Vec::len);
            assert_eq!(taints, node.taints.len(), "{lab} {}", node.vm);
        }
    }
}

#[test]
fn secrets_are_the_stores_and_never_rendered() {
    let plan = planned("tests/kubeadm-v1-20");
    let cluster = only_cluster(&plan);
    let (_directory, store) = store();
    let secrets = cluster_secrets(&store, &plan.scope, &cluster.name).expect("secrets");
    // The same secrets on every later run.
    let again = cluster_secrets(&store, &plan.scope, &cluster.name).expect("secrets again");
    assert_eq!(again.ca_certificate, secrets.ca_certificate);
    assert_eq!(again.discovery_hash, secrets.discovery_hash);
    assert_eq!(
        again.bootstrap_token.expose_secret(),
        secrets.bootstrap_token.expose_secret()
    );
    // kubeadm's shapes: `[a-z0-9]{6}.[a-z0-9]{16}`, a 32-byte key in hexadecimal.
    let token = secrets.bootstrap_token.expose_secret();
    let (identifier, secret) = token.split_once('.').expect("a dot");
    assert_eq!((identifier.len(), secret.len()), (6, 16));
    assert!(
        token
            .bytes()
            .all(|byte| byte == b'.' || byte.is_ascii_digit() || byte.is_ascii_lowercase())
    );
    assert_eq!(secrets.certificate_key.expose_secret().len(), 64);
    assert!(secrets.discovery_hash.starts_with("sha256:"));
    assert_eq!(secrets.discovery_hash.len(), "sha256:".len() + 64);

    let with_values = node_configs(
        cluster,
        &JoinSecrets::Values(&secrets),
        &InstallOptions::default(),
    )
    .expect("renders");
    for config in &with_values {
        assert!(config.text.contains(token), "{}", config.vm);
    }
    assert!(
        with_values[1]
            .text
            .contains(secrets.certificate_key.expose_secret())
    );
    assert!(with_values[1].text.contains(&secrets.discovery_hash));
    let (_, redacted) = redacted("tests/kubeadm-v1-20");
    for config in &redacted {
        for value in [
            token,
            secrets.certificate_key.expose_secret(),
            secrets.discovery_hash.as_str(),
        ] {
            assert!(!config.text.contains(value), "{}", config.vm);
        }
        assert!(!config.text.contains("PRIVATE KEY"));
    }
    assert!(!format!("{secrets:?}").contains(token));
}

#[test]
fn an_air_gapped_cluster_names_its_image_repository() {
    let plan = planned("tests/kubeadm-v1-20");
    let configs = node_configs(
        only_cluster(&plan),
        &JoinSecrets::Redacted { scope: &plan.scope },
        &InstallOptions {
            image_repository: Some("registry.labform.internal".to_owned()),
            ..InstallOptions::default()
        },
    )
    .expect("renders");
    let documents = documents(&configs[0]);
    assert_eq!(
        kind(&documents, "ClusterConfiguration")["imageRepository"],
        "registry.labform.internal"
    );
}

/// The control plane's wait goes where the configuration API reads it: the ClusterConfiguration's
/// `apiServer.timeoutForControlPlane` up to `v1beta3`, `timeouts.controlPlaneComponentHealthCheck`
/// of the first control plane's InitConfiguration and the other control planes'
/// JoinConfiguration from `v1beta4`, written as Go's durations; absent, kubeadm's 4 minutes.
#[test]
fn the_control_plane_wait_goes_where_the_version_reads_it() {
    let plan = planned("tests/kubeadm-v1-20");
    let mut cluster = only_cluster(&plan).clone();
    let render = |cluster: &PlannedCluster, seconds: Option<u64>| {
        node_configs(
            cluster,
            &JoinSecrets::Redacted { scope: &plan.scope },
            &InstallOptions {
                control_plane_timeout: seconds.map(std::time::Duration::from_secs),
                ..InstallOptions::default()
            },
        )
        .expect("renders")
    };
    for (seconds, text) in [
        (600, "10m0s"),
        (90, "1m30s"),
        (45, "45s"),
        (5400, "1h30m0s"),
    ] {
        for version in ["v1.20.2", "v1.29.6"] {
            cluster.version = version.to_owned();
            let configs = render(&cluster, Some(seconds));
            let documents = documents(&configs[0]);
            assert_eq!(
                kind(&documents, "ClusterConfiguration")["apiServer"]["timeoutForControlPlane"],
                text,
                "{version}"
            );
            assert!(
                kind(&documents, "InitConfiguration")
                    .get("timeouts")
                    .is_none()
            );
        }
        cluster.version = "v1.31.2".to_owned();
        let configs = render(&cluster, Some(seconds));
        let first = documents(&configs[0]);
        assert_eq!(
            kind(&first, "InitConfiguration")["timeouts"]["controlPlaneComponentHealthCheck"],
            text
        );
        assert!(
            kind(&first, "ClusterConfiguration")["apiServer"]
                .get("timeoutForControlPlane")
                .is_none()
        );
        for config in &configs[1..] {
            let join = documents(config);
            let timeouts = &kind(&join, "JoinConfiguration")["timeouts"];
            if config.role == NodeRole::JoiningServer {
                assert_eq!(
                    timeouts["controlPlaneComponentHealthCheck"], text,
                    "{}",
                    config.vm
                );
            } else {
                assert!(
                    timeouts.is_null(),
                    "{}: workers run no control plane",
                    config.vm
                );
            }
        }
    }
    for version in ["v1.20.2", "v1.31.2"] {
        cluster.version = version.to_owned();
        for config in render(&cluster, None) {
            assert!(
                !config.text.contains("timeoutForControlPlane"),
                "{}",
                config.vm
            );
            assert!(!config.text.contains("timeouts"), "{}", config.vm);
        }
    }
}

/// kube-vip's static pod as control planes get it: on Kubernetes 1.20 every control plane reads
/// `admin.conf`; from 1.29 the first reads `super-admin.conf` while `kubeadm init` runs.
#[test]
fn kube_vip_static_pods_for_review() {
    let plan = planned("tests/kubeadm-v1-20");
    let cluster = only_cluster(&plan);
    assert!(cluster.api_vip, "the lab has an API VIP");
    let mut text = String::new();
    for (version, role) in [
        ("v1.20.2", NodeRole::FirstServer),
        ("v1.20.2", NodeRole::JoiningServer),
        ("v1.29.6", NodeRole::FirstServer),
    ] {
        let version =
            labform_kubeadm::version::KubernetesVersion::parse(version).expect("a version");
        let manifest =
            labform_kubeadm::kube_vip::kube_vip_manifest(cluster, version, role).expect("rendered");
        let pod: Value = serde_saphyr::from_str(&manifest).expect("YAML");
        assert_eq!(pod["kind"], "Pod");
        assert_eq!(pod["metadata"]["namespace"], "kube-system");
        let reads = if version.minor >= 29 && role == NodeRole::FirstServer {
            "/etc/kubernetes/super-admin.conf"
        } else {
            "/etc/kubernetes/admin.conf"
        };
        assert!(manifest.contains(reads), "{manifest}");
        assert!(manifest.contains("192.168.60.5"), "{manifest}");
        text.push_str(&format!("=== {version} {role:?}\n{manifest}\n"));
    }
    insta::assert_snapshot!("kube-vip-static-pods", text);
}

/// What a changed lab means for a formed cluster, on the configurations labform renders: an
/// upgrade one minor at a time changes only what the upgrade carries out, also where the
/// configuration API changes (1.21 to 1.22, 1.30 to 1.31); the control plane's wait only
/// matters to the next kubeadm run; node labels and taints go through the API; the service
/// network, the certificate names and a control plane's taints to or from kubeadm's default
/// are refused. What each part does is the plan's.
#[test]
fn a_changed_configuration_under_a_formed_cluster() {
    let plan = planned("tests/kubeadm-v1-20");
    let cluster = only_cluster(&plan).clone();
    let labform_planner::plan::DistributionSettings::Kubeadm(settings) = &cluster.settings else {
        panic!("a kubeadm cluster's plan carries its kubeadm settings");
    };
    assert_eq!(*settings, KubeadmSettings::planned());
    let settings = settings.clone();
    let render = |cluster: &PlannedCluster, seconds: Option<u64>| {
        node_configs(
            cluster,
            &JoinSecrets::Redacted { scope: &plan.scope },
            &InstallOptions {
                control_plane_timeout: seconds.map(std::time::Duration::from_secs),
                ..InstallOptions::default()
            },
        )
        .expect("renders")
    };
    let effects =
        |before: &[NodeConfig], after: &[NodeConfig]| -> Vec<(String, String, ChangeEffect)> {
            before
                .iter()
                .zip(after)
                .flat_map(|(before, after)| {
                    changes(&before.text, &after.text, &settings)
                        .expect("both are YAML")
                        .into_iter()
                        .map(|change| (before.vm.clone(), change.field, change.effect))
                })
                .collect()
        };
    for (from, to) in [
        ("v1.20.2", "v1.21.1"),
        ("v1.21.1", "v1.22.4"),
        ("v1.30.2", "v1.31.2"),
    ] {
        let (mut before, mut after) = (cluster.clone(), cluster.clone());
        before.version = from.to_owned();
        after.version = to.to_owned();
        let found = effects(&render(&before, Some(600)), &render(&after, Some(600)));
        for (vm, field, effect) in &found {
            assert!(
                matches!(effect, ChangeEffect::Upgrade | ChangeEffect::NextKubeadmRun),
                "{from} to {to}: {vm}: {field} is {effect:?}"
            );
        }
        assert!(
            found.iter().any(|(_, field, effect)| field
                == "ClusterConfiguration kubernetesVersion"
                && *effect == ChangeEffect::Upgrade),
            "{from} to {to}: {found:?}"
        );
    }

    let before = render(&cluster, None);
    let waits = effects(&before, &render(&cluster, Some(1800)));
    assert_eq!(
        waits,
        [(
            cluster.nodes[0].vm.clone(),
            "ClusterConfiguration apiServer.timeoutForControlPlane".to_owned(),
            ChangeEffect::NextKubeadmRun
        )]
    );

    let mut changed = cluster.clone();
    changed.service_cidr = "10.112.0.0/12".to_owned();
    changed.nodes[4].labels = vec!["example.com/tier=batch".to_owned()];
    changed.nodes[3].taints = vec!["dedicated=batch:NoSchedule".to_owned()];
    // A control plane's taints: another taint of labform's goes through the API; none at all
    // would be kubeadm's own control-plane taint, which labform does not change.
    changed.nodes[2].taints = vec!["dedicated=etcd:NoExecute".to_owned()];
    changed.nodes[1].taints = vec![];
    let after = render(&changed, None);
    let found = effects(&before, &after);
    let first = &cluster.nodes[0].vm;
    assert!(found.contains(&(
        first.clone(),
        "ClusterConfiguration networking.serviceSubnet".to_owned(),
        ChangeEffect::Refused
    )));
    let api: Vec<(&str, &str)> = found
        .iter()
        .filter(|(_, _, effect)| *effect == ChangeEffect::ThroughApi)
        .map(|(vm, field, _)| (vm.as_str(), field.as_str()))
        .collect();
    assert_eq!(
        api,
        [
            (
                cluster.nodes[2].vm.as_str(),
                "JoinConfiguration nodeRegistration.taints"
            ),
            (
                cluster.nodes[3].vm.as_str(),
                "JoinConfiguration nodeRegistration.taints"
            ),
            (
                cluster.nodes[4].vm.as_str(),
                "JoinConfiguration nodeRegistration.kubeletExtraArgs.node-labels"
            ),
        ],
        "{found:#?}"
    );
    assert!(found.contains(&(
        cluster.nodes[1].vm.clone(),
        "JoinConfiguration nodeRegistration.taints".to_owned(),
        ChangeEffect::Refused
    )));
    let worker = changes(&before[4].text, &after[4].text, &settings).expect("YAML");
    let labels = label_changes(&worker);
    assert_eq!(labels.set, ["example.com/tier=batch"]);
    assert_eq!(labels.removed, ["tier"]);
    let tainted = changes(&before[3].text, &after[3].text, &settings).expect("YAML");
    assert_eq!(
        taint_change(&tainted),
        Some(TaintChange {
            previous: vec![],
            wanted: vec!["dedicated=batch:NoSchedule".to_owned()],
        })
    );
    let control_plane = changes(&before[2].text, &after[2].text, &settings).expect("YAML");
    assert_eq!(
        taint_change(&control_plane),
        Some(TaintChange {
            previous: vec!["dedicated=control-plane:NoSchedule".to_owned()],
            wanted: vec!["dedicated=etcd:NoExecute".to_owned()],
        })
    );
    let untainted = changes(&before[1].text, &after[1].text, &settings).expect("YAML");
    assert_eq!(
        untainted[0].part,
        ConfigurationPart::ControlPlaneDefaultTaint
    );
    assert_eq!(taint_change(&untainted), None);
    // The refusal names each node's fields with both values, and what to do.
    let by_node: Vec<_> = before
        .iter()
        .zip(&after)
        .map(|(before, after)| {
            (
                before.vm.clone(),
                changes(&before.text, &after.text, &settings).expect("YAML"),
            )
        })
        .collect();
    let error = refusal(&cluster.name, &by_node).expect("refused");
    insta::assert_snapshot!("refused-reconfiguration", error.to_string());
    assert!(
        refusal(&cluster.name, &by_node[2..]).is_none(),
        "labels and labform's taints alone are not refused"
    );
}
