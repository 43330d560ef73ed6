//! Every rendered machine configuration against Talos's published interfaces: each document
//! validates against the JSON Schema of its version (`jsonschema`, draft 2020-12), has the keys
//! `talosctl gen config` writes for its role (the golden files), and carries CA keys only where
//! Talos puts them. Seed 004 (Talos v1.8.3, the legacy shape, checked against the oldest schema
//! labform has, v1.13, with `machine.network` checked on its own) and a cluster with workers at
//! v1.13.9 and v1.14.0, one of them with etcd snapshots (Kubernetes Talos API access on its
//! control planes).

mod common;

use std::collections::BTreeSet;

use common::{
    bundle, plan_text, planned_example, reference_directory, talos_lab, talos_lab_with_workers,
};
use labform_planner::Plan;
use labform_planner::plan::PlannedCluster;
use labform_secrets::ExposeSecret as _;
use labform_talos::{Contract, NodeConfiguration, SecretsSource, cluster_configurations};
use serde_json::Value;

fn talos_clusters(plan: &Plan) -> Vec<&PlannedCluster> {
    plan.clusters
        .iter()
        .filter(|cluster| cluster.distribution == labform_planner::plan::Distribution::Talos)
        .collect()
}

fn schema(release: &str) -> jsonschema::Validator {
    let path = reference_directory().join(format!("config.schema.{release}.json"));
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("JSON");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .expect("the schema compiles")
}

/// The configurations to check: (label, configuration).
fn configurations() -> Vec<(String, NodeConfiguration)> {
    let mut all = Vec::new();
    let (_, seed) = planned_example("seed-004");
    let mut plans = vec![("seed-004".to_owned(), seed)];
    for version in ["v1.13.9", "v1.14.0"] {
        plans.push((
            format!("workers-{version}-flannel"),
            plan_text(&talos_lab_with_workers(version, "flannel")),
        ));
        plans.push((
            format!("workers-{version}-cilium-kubernetes-v1.31.2-etcd-snapshots"),
            plan_text(&talos_lab(
                version,
                "cilium",
                Some("v1.31.2"),
                Some("CRON_TZ=Europe/Berlin 0 3 * * *"),
            )),
        ));
    }
    for (label, plan) in &plans {
        for cluster in talos_clusters(plan) {
            for configuration in
                cluster_configurations(plan, cluster, SecretsSource::Bundle(bundle()))
                    .expect("configurations")
            {
                all.push((format!("{label}/{}", configuration.vm), configuration));
            }
        }
    }
    all
}

fn errors(validator: &jsonschema::Validator, document: &Value) -> Vec<String> {
    validator
        .iter_errors(document)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect()
}

#[test]
fn every_document_validates_against_the_schema_of_its_version() {
    let v13 = schema("v1.13");
    let v14 = schema("v1.14");
    let mut checked = 0;
    for (label, configuration) in configurations() {
        let validator = match configuration.contract.schema_release() {
            "v1.13" => &v13,
            _ => &v14,
        };
        for mut document in configuration.json_documents(true) {
            if configuration.contract == Contract::Legacy {
                // `machine.network` left v1alpha1 in Talos 1.12; it is checked on its own below.
                let network = document["machine"]
                    .as_object_mut()
                    .and_then(|machine| machine.remove("network"))
                    .expect("legacy configurations carry machine.network");
                assert_legacy_network(&label, &network);
            }
            let problems = errors(validator, &document);
            assert!(problems.is_empty(), "{label}: {problems:#?}\n{document:#}");
            checked += 1;
        }
    }
    // Seed 004: 3 nodes × 1 document; workers at 1.13: 2 CNIs × 5 nodes; at 1.14: the same.
    assert!(checked > 3 + 10 + 10, "{checked} documents checked");
}

/// `machine.network` as Talos up to 1.11 reads it (its `v1alpha1.NetworkConfig`): host name,
/// one interface selected by MAC with a static address and default route, the shared VIP on
/// control planes, name servers.
fn assert_legacy_network(label: &str, network: &Value) {
    let keys: BTreeSet<&str> = network
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        keys.is_subset(&BTreeSet::from(["hostname", "interfaces", "nameservers"])),
        "{label}: {keys:?}"
    );
    let interface = &network["interfaces"][0];
    let mac = interface["deviceSelector"]["hardwareAddr"]
        .as_str()
        .expect("MAC");
    assert_eq!(mac, mac.to_ascii_lowercase(), "{label}");
    assert!(
        interface["addresses"][0]
            .as_str()
            .expect("address")
            .contains('/')
    );
    assert_eq!(interface["routes"][0]["network"], "0.0.0.0/0", "{label}");
    assert_eq!(interface["vip"]["ip"], "10.2.0.10", "{label}");
}

/// Every key path of `value` (`machine.ca.crt`, lists as `[]`).
fn key_paths(value: &Value, prefix: &str, paths: &mut BTreeSet<String>) {
    match value {
        Value::Object(entries) => {
            for (key, value) in entries {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                paths.insert(path.clone());
                key_paths(value, &path, paths);
            }
        }
        Value::Array(items) => {
            for item in items {
                key_paths(item, &format!("{prefix}[]"), paths);
            }
        }
        _ => {}
    }
}

fn kind(document: &Value) -> String {
    document["kind"].as_str().unwrap_or("v1alpha1").to_owned()
}

/// Keys of the golden files labform does not write, and why.
const LEFT_OUT: &[(&str, &str)] = &[
    // Deprecated; Talos keeps a configuration whether or not it says so.
    ("v1alpha1:persist", "deprecated"),
    // Component images: the lab names no Kubernetes version, so Talos's defaults apply.
    ("v1alpha1:machine.kubelet.image", "image"),
    ("v1alpha1:cluster.apiServer.image", "image"),
    ("v1alpha1:cluster.controllerManager", "image only"),
    ("v1alpha1:cluster.controllerManager.image", "image"),
    ("v1alpha1:cluster.proxy", "image only"),
    ("v1alpha1:cluster.proxy.image", "image"),
    ("v1alpha1:cluster.scheduler", "image only"),
    ("v1alpha1:cluster.scheduler.image", "image"),
    // `auto: stable` conflicts with the static host name labform sets.
    ("HostnameConfig:auto", "static host name"),
    // Talos 1.14's node IP: labform narrows it to the node's network.
    ("KubeNodeConfig:nodeIP", "replaced by validSubnets"),
];

/// The 1.14 documents that name a required component image.
const IMAGE_DOCUMENTS: &[&str] = &[
    "KubeletConfig",
    "KubeAPIServerConfig",
    "KubeControllerManagerConfig",
    "KubeSchedulerConfig",
    "KubeProxyConfig",
];

#[test]
fn configurations_have_the_shape_talosctl_gen_config_gives() {
    for (label, configuration) in configurations() {
        // No golden file of Talos 1.8 exists here: legacy configurations are compared with
        // the 1.13 one for every key both share (all but the network documents and 1.12's
        // additions).
        let release = configuration.contract.schema_release();
        let role = if configuration.role.is_server() {
            "controlplane"
        } else {
            "worker"
        };
        let golden_path = reference_directory()
            .join("gen-config-golden")
            .join(format!("{release}-base-{role}.yaml"));
        let golden_text = std::fs::read_to_string(golden_path).expect("golden file");
        let golden: Vec<Value> = golden_text
            .split("\n---\n")
            .map(|document| serde_saphyr::from_str(document).expect("golden YAML"))
            .collect();
        let ours = configuration.json_documents(true);
        for golden_document in &golden {
            let golden_kind = kind(golden_document);
            // Flannel's document exists only when Talos installs flannel.
            if IMAGE_DOCUMENTS.contains(&golden_kind.as_str())
                || (golden_kind == "KubeFlannelCNIConfig" && label.contains("cilium"))
            {
                continue;
            }
            if configuration.contract == Contract::Legacy && golden_kind == "HostnameConfig" {
                // Before 1.12 the host name is `machine.network.hostname`.
                continue;
            }
            let document = ours
                .iter()
                .find(|document| kind(document) == golden_kind)
                .unwrap_or_else(|| panic!("{label}: no {golden_kind} document"));
            let mut expected = BTreeSet::new();
            key_paths(golden_document, "", &mut expected);
            let mut actual = BTreeSet::new();
            key_paths(document, "", &mut actual);
            let missing: Vec<&String> = expected
                .iter()
                .filter(|path| !actual.contains(*path))
                .filter(|path| {
                    !LEFT_OUT
                        .iter()
                        .any(|(left_out, _)| *left_out == format!("{golden_kind}:{path}"))
                })
                .filter(|path| {
                    // The legacy shape predates these keys of Talos 1.12 and 1.13.
                    !(configuration.contract == Contract::Legacy
                        && path.as_str() == "machine.install.grubUseUKICmdline")
                })
                .filter(|path| {
                    // A cluster of control planes only runs its load balancers there: they are
                    // not kept out of external load balancers.
                    !(label.starts_with("seed-004") && path.starts_with("machine.nodeLabels"))
                })
                .collect();
            assert!(
                missing.is_empty(),
                "{label} {golden_kind}: missing {missing:?}"
            );
        }
    }
}

#[test]
fn ca_keys_are_only_where_talos_puts_them() {
    let bundle = bundle();
    let base64 = |text: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
    };
    let control_plane_only = [
        ("OS CA key", bundle.os_ca.key.expose_secret()),
        (
            "Kubernetes CA key",
            bundle.kubernetes_ca.key.expose_secret(),
        ),
        ("etcd CA key", bundle.etcd_ca.key.expose_secret()),
        (
            "aggregator CA key",
            bundle.aggregator_ca.key.expose_secret(),
        ),
        (
            "service-account key",
            bundle.service_account_key.expose_secret(),
        ),
        (
            "secretbox key",
            bundle.secretbox_encryption_secret.expose_secret(),
        ),
    ];
    for (label, configuration) in configurations() {
        let text = configuration.for_node();
        let text = text.expose_secret();
        assert!(
            text.contains(&base64(&bundle.os_ca.certificate))
                || text.contains(bundle.os_ca.certificate.lines().nth(1).expect("line")),
            "{label}: every node trusts the OS CA"
        );
        for (what, value) in control_plane_only {
            let first_line = value.lines().nth(1).unwrap_or(value);
            let present = text.contains(&base64(value)) || text.contains(first_line);
            assert_eq!(
                present,
                configuration.role.is_server(),
                "{label}: {what} {}",
                if present { "present" } else { "absent" }
            );
        }
        let document = &configuration.json_documents(true)[0];
        if !configuration.role.is_server() {
            assert_eq!(document["machine"]["ca"]["key"], "", "{label}");
            if configuration.contract != Contract::Documents {
                assert_eq!(document["cluster"]["ca"]["key"], "", "{label}");
            }
            assert!(document["cluster"].get("etcd").is_none(), "{label}");
        }
        assert!(
            text.contains(bundle.trustd_token.expose_secret()),
            "{label}"
        );
        assert!(
            text.contains(bundle.bootstrap_token.expose_secret()),
            "{label}"
        );
    }
}

#[test]
fn review_renderings_hold_no_secret() {
    let bundle = bundle();
    let secrets = [
        bundle.cluster_id.expose_secret(),
        bundle.cluster_secret.expose_secret(),
        bundle.bootstrap_token.expose_secret(),
        bundle.trustd_token.expose_secret(),
        bundle.secretbox_encryption_secret.expose_secret(),
    ];
    for (label, configuration) in configurations() {
        let review = configuration.for_review();
        for secret in secrets {
            assert!(!review.contains(secret), "{label}");
        }
        for key in [
            &bundle.os_ca.key,
            &bundle.kubernetes_ca.key,
            &bundle.etcd_ca.key,
        ] {
            let line = key.expose_secret().lines().nth(1).expect("key line");
            assert!(!review.contains(line), "{label}");
        }
        assert!(
            review.contains("(secret: trustd token"),
            "{label}: {review}"
        );
        assert!(!format!("{configuration:?}").contains(bundle.trustd_token.expose_secret()));
    }
}

#[test]
fn the_cni_vip_labels_and_taints_reach_the_configuration() {
    for (label, configuration) in configurations() {
        let documents = configuration.json_documents(true);
        let v1alpha1 = &documents[0];
        let find = |kind_name: &str| {
            documents
                .iter()
                .find(|document| kind(document) == kind_name)
        };
        let cilium = label.contains("cilium");
        match configuration.contract {
            Contract::Legacy | Contract::NetworkDocuments => {
                let cni = &v1alpha1["cluster"]["network"]["cni"];
                assert_eq!(cni.get("name").is_some(), cilium, "{label}");
                if cilium {
                    assert_eq!(cni["name"], "none");
                }
                assert!(
                    v1alpha1["cluster"]["controlPlane"]["endpoint"]
                        .as_str()
                        .expect("endpoint")
                        .ends_with(".10:6443"),
                    "{label}"
                );
            }
            Contract::Documents => {
                assert_eq!(
                    find("KubeFlannelCNIConfig").is_some(),
                    !cilium && configuration.role.is_server(),
                    "{label}"
                );
            }
        }
        if configuration.contract != Contract::Legacy {
            assert_eq!(
                find("Layer2VIPConfig").is_some(),
                configuration.role.is_server(),
                "{label}: only control planes share the VIP"
            );
            let alias = find("LinkAliasConfig").expect("alias");
            assert!(
                alias["selector"]["match"]
                    .as_str()
                    .expect("match")
                    .starts_with("mac(link.permanent_addr) == \"bc:24:11:"),
                "{label}"
            );
        }
        if label.starts_with("workers") && !configuration.role.is_server() {
            let text = configuration.for_review();
            assert!(text.contains("node.kubernetes.io/pool: workers"), "{label}");
            assert!(text.contains("dedicated: storage:NoSchedule"), "{label}");
        }
    }
}

#[test]
fn review_snapshots() {
    let (_, plan) = planned_example("seed-004");
    let cluster = talos_clusters(&plan)[0];
    let configurations =
        cluster_configurations(&plan, cluster, SecretsSource::Placeholders).expect("render");
    insta::assert_snapshot!(
        "seed-004-first-control-plane",
        configurations[0].for_review()
    );
    for version in ["v1.13.9", "v1.14.0"] {
        let plan = plan_text(&talos_lab_with_workers(version, "flannel"));
        let cluster = talos_clusters(&plan)[0];
        let configurations =
            cluster_configurations(&plan, cluster, SecretsSource::Placeholders).expect("render");
        insta::assert_snapshot!(
            format!("workers-{version}-control-plane"),
            configurations[0].for_review()
        );
        insta::assert_snapshot!(
            format!("workers-{version}-worker"),
            configurations.last().expect("worker").for_review()
        );
    }
}

/// The lab's `system_extensions` and the add-ons' needs make the cluster's schematic: the
/// plan carries it, every configuration names its installer, Longhorn's data directory is
/// mounted into the kubelet, and an image of the old schematic is refused before planning.
#[test]
fn the_schematic_comes_from_the_lab_and_the_add_ons() {
    use labform_planner::distribution::talos_schematic::Schematic;

    // v1.13: Talos 1.14's documents have no `machine.install` nor kubelet mounts.
    let version = "v1.13.9";
    let schematic = Schematic::new([
        "siderolabs/intel-ucode",
        "siderolabs/iscsi-tools",
        "siderolabs/qemu-guest-agent",
        "siderolabs/util-linux-tools",
    ]);
    let lab = talos_lab_with_workers(version, "flannel")
        .replace(
            "    network: lan\n    cni:",
            "    network: lan\n    system_extensions: [siderolabs/intel-ucode]\n    cni:",
        )
        .replace(
            "88d1f7a5c4f1d3aba7df787c448c1d3d008ed29cfb34af53fa0df4336a56040b",
            &schematic.id(),
        );
    let plan = plan_text(&lab);
    let cluster = talos_clusters(&plan)[0];
    let settings = cluster.talos_settings().expect("Talos settings");
    assert_eq!(settings.schematic, schematic.id());
    assert_eq!(settings.system_extensions, schematic.extensions());
    assert_eq!(settings.kubelet_host_directories, ["/var/lib/longhorn"]);
    let installer = schematic.installer_image(version);
    for configuration in cluster_configurations(&plan, cluster, SecretsSource::Bundle(bundle()))
        .expect("configurations")
    {
        let text = configuration.for_review();
        assert!(text.contains(&installer), "{text}");
        assert!(text.contains("source: /var/lib/longhorn"), "{text}");
    }

    // The same lab with the image of the schematic without intel-ucode: refused, located.
    let stale = lab.replace(
        &schematic.id(),
        "88d1f7a5c4f1d3aba7df787c448c1d3d008ed29cfb34af53fa0df4336a56040b",
    );
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("lab.yaml");
    std::fs::write(&path, stale).expect("write lab");
    let loaded = labform_model::load(&labform_model::RealFileSystem, &path);
    let planned = labform_planner::plan(
        loaded.lab.as_ref().expect("loads"),
        &labform_planner::Allocations::empty(),
    );
    assert!(planned.plan.is_none());
    assert!(
        planned
            .diagnostics
            .iter()
            .any(|diagnostic| diagnostic.code == "talos-schematic"),
        "{:?}",
        planned.diagnostics
    );
}
