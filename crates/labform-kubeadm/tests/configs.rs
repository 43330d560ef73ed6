//! Each node's kubeadm configuration for seed 003 (Kubernetes v1.29, `kubeadm.k8s.io/v1beta3`)
//! and for a v1.20 lab with three control planes (`v1beta2`): snapshots of what `labform
//! render` shows, the values read back against the plan, the secrets from the store (and
//! never in the rendered text), and the configuration API chosen by version.

mod common;

use common::{only_cluster, planned, store};
use labform_kubeadm::config::{InstallOptions, JoinSecrets, NodeConfig, node_configs};
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
        },
    )
    .expect("renders");
    let documents = documents(&configs[0]);
    assert_eq!(
        kind(&documents, "ClusterConfiguration")["imageRepository"],
        "registry.labform.internal"
    );
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
