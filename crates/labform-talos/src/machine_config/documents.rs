//! Talos 1.14 on: a small `v1alpha1` document and one document per concern.

use super::leaves::Leaves;
use super::network::{hostname_document, network_documents, resolver_document};
use super::v1alpha1::{audit_policy, pod_security_configuration};
use super::{
    NodeFacts, ca_pair, cert_sans, component_image, document, endpoint, kubelet_image, labels_of,
    pairs, schedules_on_control_planes,
};
use crate::document::{Value, map, string, strings};
use crate::etcd_snapshots;
use labform_planner::plan::Cni;

/// Talos 1.14 on: a small `v1alpha1` document and one document per concern, in the order
/// `talosctl gen config` writes them. The documents that name a component image
/// (`KubeletConfig`, `KubeAPIServerConfig`, `KubeControllerManagerConfig`,
/// `KubeSchedulerConfig`, `KubeProxyConfig`) are left out: their image is required, and the lab
/// names no Kubernetes version, so Talos's defaults apply.
pub(super) fn documents_contract(facts: &NodeFacts<'_>, leaves: &Leaves) -> Vec<Value> {
    let cluster = facts.cluster;
    let control_plane = facts.control_plane;
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
    ]);
    machine.push("features", map([("diskQuotaSupport", Value::Bool(true))]));
    let mut cluster_document = map([("token", leaves.bootstrap_token.clone())]);
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
    let mut documents = vec![map([
        ("version", string("v1alpha1")),
        ("debug", Value::Bool(false)),
        ("machine", machine),
        ("cluster", cluster_document),
    ])];

    let mut discovery_service = document("DiscoveryServiceConfig");
    discovery_service.push("name", string("default"));
    discovery_service.push("endpoint", string("https://discovery.talos.dev/"));
    documents.push(discovery_service);
    let mut identity = document("DiscoveryIdentityConfig");
    identity.push("clusterID", leaves.cluster_id.clone());
    identity.push("clusterSecret", leaves.cluster_secret.clone());
    documents.push(identity);
    documents.extend(resolver_document(facts, true));
    let mut ephemeral = document("VolumeConfig");
    ephemeral.push("name", string("EPHEMERAL"));
    ephemeral.push("mount", map([("secure", Value::Bool(true))]));
    documents.push(ephemeral);
    let mut trim = document("FilesystemTrimConfig");
    trim.push("interval", string("168h0m0s"));
    documents.push(trim);
    let mut security = document("SecurityProfileConfig");
    security.push("workloadIsolation", Value::Bool(true));
    documents.push(security);
    documents.push(hostname_document(facts));
    documents.extend(network_documents(facts, true));

    let mut kube_cluster = document("KubeClusterConfig");
    kube_cluster.push("clusterName", string(cluster.name.clone()));
    kube_cluster.push("endpoint", string(endpoint(cluster)));
    documents.push(kube_cluster);
    let mut node = document("KubeNodeConfig");
    node.push(
        "nodeIP",
        map([("validSubnets", strings([facts.subnet.clone()]))]),
    );
    let mut labels = Vec::new();
    if control_plane {
        labels.push((
            "node-role.kubernetes.io/control-plane".to_owned(),
            String::new(),
        ));
    }
    labels.extend(labels_of(facts));
    if !labels.is_empty() {
        node.push("labels", pairs(&labels));
    }
    let mut taints = Vec::new();
    if control_plane && !schedules_on_control_planes(cluster) {
        taints.push((
            "node-role.kubernetes.io/control-plane".to_owned(),
            "NoSchedule".to_owned(),
        ));
    }
    taints.extend(facts.taints.iter().cloned());
    if !taints.is_empty() {
        node.push("taints", pairs(&taints));
    }
    documents.push(node);
    if let Some(kubernetes) = facts.kubernetes {
        let mut kubelet = document("KubeletConfig");
        kubelet.push("image", string(kubelet_image(kubernetes)));
        kubelet.push("config", Value::Map(Vec::new()));
        kubelet.push("defaultRuntimeSeccompProfileEnabled", Value::Bool(true));
        documents.push(kubelet);
    }
    let mut network = document("KubeNetworkConfig");
    network.push("dnsDomain", string("cluster.local"));
    network.push("podSubnets", strings([cluster.pod_cidr.clone()]));
    network.push("serviceSubnets", strings([cluster.service_cidr.clone()]));
    documents.push(network);
    let mut api_server_ca = document("KubeAPIServerCAConfig");
    if control_plane {
        api_server_ca.push(
            "issuingCA",
            map([
                ("cert", leaves.kubernetes_certificate_pem.clone()),
                ("key", leaves.kubernetes_key_pem.clone()),
            ]),
        );
    } else {
        api_server_ca.push(
            "acceptedCAs",
            Value::List(vec![leaves.kubernetes_certificate_pem.clone()]),
        );
    }
    documents.push(api_server_ca);
    let mut prism = document("KubePrismConfig");
    prism.push("port", Value::Integer(7445));
    documents.push(prism);
    if !control_plane {
        return documents;
    }
    let mut aggregator = document("KubeAggregatorCAConfig");
    aggregator.push(
        "issuingCA",
        map([
            ("cert", leaves.aggregator_certificate_pem.clone()),
            ("key", leaves.aggregator_key_pem.clone()),
        ]),
    );
    documents.push(aggregator);
    let mut admission = document("KubeAdmissionControlConfig");
    admission.push("name", string("PodSecurity"));
    admission.push("configuration", pod_security_configuration());
    documents.push(admission);
    let mut audit = document("KubeAuditPolicyConfig");
    audit.push("configuration", audit_policy());
    documents.push(audit);
    let mut authentication = document("KubeAuthenticationConfig");
    authentication.push(
        "configuration",
        map([
            (
                "anonymous",
                map([
                    (
                        "conditions",
                        Value::List(
                            ["/livez", "/readyz", "/healthz"]
                                .into_iter()
                                .map(|path| map([("path", string(path))]))
                                .collect(),
                        ),
                    ),
                    ("enabled", Value::Bool(true)),
                ]),
            ),
            ("jwt", Value::List(Vec::new())),
        ]),
    );
    documents.push(authentication);
    for (name, kind) in [("node", "Node"), ("rbac", "RBAC")] {
        let mut authorizer = document("KubeAuthorizerConfig");
        authorizer.push("name", string(name));
        authorizer.push("type", string(kind));
        documents.push(authorizer);
    }
    let mut encryption = document("KubeEtcdEncryptionConfig");
    encryption.push(
        "config",
        map([(
            "resources",
            Value::List(vec![map([
                (
                    "providers",
                    Value::List(vec![map([(
                        "secretbox",
                        map([(
                            "keys",
                            Value::List(vec![map([
                                ("name", string("key2")),
                                ("secret", leaves.secretbox.clone()),
                            ])]),
                        )]),
                    )])]),
                ),
                ("resources", strings(["secrets"])),
            ])]),
        )]),
    );
    documents.push(encryption);
    let mut service_account = document("KubeServiceAccountConfig");
    service_account.push(
        "issuer",
        map([
            ("privateKey", leaves.service_account_key_pem.clone()),
            ("issuerURL", string(endpoint(cluster))),
        ]),
    );
    documents.push(service_account);
    if let Some(kubernetes) = facts.kubernetes {
        for (kind, component, config) in [
            ("KubeAPIServerConfig", "kube-apiserver", false),
            (
                "KubeControllerManagerConfig",
                "kube-controller-manager",
                false,
            ),
            ("KubeSchedulerConfig", "kube-scheduler", true),
            ("KubeProxyConfig", "kube-proxy", true),
        ] {
            let mut component_document = document(kind);
            component_document.push("image", string(component_image(component, kubernetes)));
            if config {
                component_document.push("config", Value::Map(Vec::new()));
            }
            documents.push(component_document);
        }
    }
    if cluster.cni == Cni::Flannel {
        let mut flannel = document("KubeFlannelCNIConfig");
        flannel.push("backendType", string("vxlan"));
        flannel.push("backendPort", Value::Integer(4789));
        documents.push(flannel);
    }
    let mut core_dns = document("KubeCoreDNSConfig");
    core_dns.push("enabled", Value::Bool(true));
    documents.push(core_dns);
    if etcd_snapshots::talos_api_access(cluster) {
        // The etcd snapshots' CronJob pods reach the Talos API with this role only.
        let mut access = document("KubeTalosAPIAccessConfig");
        access.push("allowedRoles", strings([etcd_snapshots::API_ACCESS_ROLE]));
        access.push(
            "allowedKubernetesNamespaces",
            strings([etcd_snapshots::API_ACCESS_NAMESPACE]),
        );
        documents.push(access);
    }
    documents
}
