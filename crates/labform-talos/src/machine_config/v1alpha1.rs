//! The `v1alpha1` document of Talos up to 1.13 (`machine` and `cluster` in full), with the
//! policies it and the 1.14 documents share: Pod Security admission, the audit policy, and
//! cluster discovery.

use labform_planner::plan::Cni;

use super::leaves::Leaves;
use super::network::legacy_network;
use super::{
    INSTALL_DISK, NodeFacts, ca_pair, cert_sans, component_image, endpoint, kubelet_extra_mounts,
    kubelet_image, labels_of, pairs, schedules_on_control_planes,
};
use crate::document::{Value, map, string, strings};
use crate::etcd_snapshots;
use crate::version::Contract;

fn pod_security_admission() -> Value {
    Value::List(vec![map([
        ("name", string("PodSecurity")),
        ("configuration", pod_security_configuration()),
    ])])
}

pub(super) fn pod_security_configuration() -> Value {
    map([
        (
            "apiVersion",
            string("pod-security.admission.config.k8s.io/v1alpha1"),
        ),
        (
            "defaults",
            map([
                ("audit", string("restricted")),
                ("audit-version", string("latest")),
                ("enforce", string("baseline")),
                ("enforce-version", string("latest")),
                ("warn", string("restricted")),
                ("warn-version", string("latest")),
            ]),
        ),
        (
            "exemptions",
            map([
                ("namespaces", strings(["kube-system"])),
                ("runtimeClasses", Value::List(Vec::new())),
                ("usernames", Value::List(Vec::new())),
            ]),
        ),
        ("kind", string("PodSecurityConfiguration")),
    ])
}

pub(super) fn audit_policy() -> Value {
    map([
        ("apiVersion", string("audit.k8s.io/v1")),
        ("kind", string("Policy")),
        (
            "rules",
            Value::List(vec![map([("level", string("Metadata"))])]),
        ),
    ])
}

fn discovery() -> Value {
    map([
        ("enabled", Value::Bool(true)),
        (
            "registries",
            map([
                ("kubernetes", map([("disabled", Value::Bool(true))])),
                ("service", Value::Map(Vec::new())),
            ]),
        ),
    ])
}

/// The `v1alpha1` document of Talos up to 1.13: machine and cluster in full.
pub(super) fn v1alpha1_full(facts: &NodeFacts<'_>, leaves: &Leaves) -> Value {
    let cluster = facts.cluster;
    let control_plane = facts.control_plane;
    let legacy = facts.version.contract() == Contract::Legacy;

    let mut kubelet = Value::Map(Vec::new());
    if let Some(kubernetes) = facts.kubernetes {
        kubelet.push("image", string(kubelet_image(kubernetes)));
    }
    kubelet.push("defaultRuntimeSeccompProfileEnabled", Value::Bool(true));
    kubelet.push("disableManifestsDirectory", Value::Bool(true));
    kubelet.push(
        "nodeIP",
        map([("validSubnets", strings([facts.subnet.clone()]))]),
    );
    if let Some(mounts) = kubelet_extra_mounts(facts) {
        kubelet.push("extraMounts", mounts);
    }

    let mut machine = map([
        (
            "type",
            string(if control_plane {
                "controlplane"
            } else {
                "worker"
            }),
        ),
        ("token", leaves.trustd_token.clone()),
        (
            "ca",
            ca_pair(&leaves.os_certificate, &leaves.os_key, control_plane),
        ),
        ("certSANs", strings(cert_sans(facts))),
        ("kubelet", kubelet),
    ]);
    if legacy {
        machine.push("network", legacy_network(facts));
    }
    let mut install = map([
        ("disk", string(INSTALL_DISK)),
        ("image", string(facts.settings.installer_image.as_str())),
        ("wipe", Value::Bool(false)),
    ]);
    if !legacy {
        install.push("grubUseUKICmdline", Value::Bool(true));
    }
    machine.push("install", install);
    let mut features = map([
        ("diskQuotaSupport", Value::Bool(true)),
        (
            "kubePrism",
            map([
                ("enabled", Value::Bool(true)),
                ("port", Value::Integer(7445)),
            ]),
        ),
        (
            "hostDNS",
            map([
                ("enabled", Value::Bool(true)),
                ("forwardKubeDNSToHost", Value::Bool(true)),
            ]),
        ),
    ]);
    if control_plane && etcd_snapshots::talos_api_access(facts.cluster) {
        // The etcd snapshots' CronJob pods reach the Talos API with this role only.
        features.push(
            "kubernetesTalosAPIAccess",
            map([
                ("enabled", Value::Bool(true)),
                ("allowedRoles", strings([etcd_snapshots::API_ACCESS_ROLE])),
                (
                    "allowedKubernetesNamespaces",
                    strings([etcd_snapshots::API_ACCESS_NAMESPACE]),
                ),
            ]),
        );
    }
    machine.push("features", features);
    let labels = labels_of(facts);
    if !labels.is_empty() {
        machine.push("nodeLabels", pairs(&labels));
    }
    if !facts.taints.is_empty() {
        machine.push("nodeTaints", pairs(&facts.taints));
    }

    let mut network = map([
        ("dnsDomain", string("cluster.local")),
        ("podSubnets", strings([cluster.pod_cidr.clone()])),
        ("serviceSubnets", strings([cluster.service_cidr.clone()])),
    ]);
    if cluster.cni != Cni::Flannel {
        network.push("cni", map([("name", string("none"))]));
    }
    let mut cluster_document = map([
        ("id", leaves.cluster_id.clone()),
        ("secret", leaves.cluster_secret.clone()),
        (
            "controlPlane",
            map([("endpoint", string(endpoint(cluster)))]),
        ),
        ("clusterName", string(cluster.name.clone())),
        ("network", network),
        ("token", leaves.bootstrap_token.clone()),
    ]);
    if control_plane {
        cluster_document.push("secretboxEncryptionSecret", leaves.secretbox.clone());
    }
    cluster_document.push(
        "ca",
        ca_pair(
            &leaves.kubernetes_certificate,
            &leaves.kubernetes_key,
            control_plane,
        ),
    );
    if control_plane {
        cluster_document.push(
            "aggregatorCA",
            ca_pair(&leaves.aggregator_certificate, &leaves.aggregator_key, true),
        );
        cluster_document.push(
            "serviceAccount",
            map([("key", leaves.service_account_key.clone())]),
        );
        let mut api_server = Value::Map(Vec::new());
        if let Some(kubernetes) = facts.kubernetes {
            api_server.push(
                "image",
                string(component_image("kube-apiserver", kubernetes)),
            );
        }
        api_server.push("certSANs", strings([cluster.api_address.to_string()]));
        api_server.push("admissionControl", pod_security_admission());
        api_server.push("auditPolicy", audit_policy());
        cluster_document.push("apiServer", api_server);
        if let Some(kubernetes) = facts.kubernetes {
            for (key, component) in [
                ("controllerManager", "kube-controller-manager"),
                ("proxy", "kube-proxy"),
                ("scheduler", "kube-scheduler"),
            ] {
                cluster_document.push(
                    key,
                    map([("image", string(component_image(component, kubernetes)))]),
                );
            }
        }
    }
    cluster_document.push("discovery", discovery());
    if control_plane {
        cluster_document.push(
            "etcd",
            map([
                (
                    "ca",
                    ca_pair(&leaves.etcd_certificate, &leaves.etcd_key, true),
                ),
                ("advertisedSubnets", strings([facts.subnet.clone()])),
            ]),
        );
    }
    if schedules_on_control_planes(cluster) {
        cluster_document.push("allowSchedulingOnControlPlanes", Value::Bool(true));
    }
    map([
        ("version", string("v1alpha1")),
        ("debug", Value::Bool(false)),
        ("machine", machine),
        ("cluster", cluster_document),
    ])
}
