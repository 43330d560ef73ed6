//! Each node's machine configuration, from the plan and the cluster's secrets bundle.
//!
//! The configuration has the shape `talosctl gen config` gives for the cluster's Talos version
//! and the node's role ([`crate::version::Contract`]), with what labform knows added: the node's
//! static address on its NIC (matched by its planned MAC), its host name and DNS, the cluster
//! endpoint on the API VIP, which the control planes share through Talos's own layer-2 VIP, the
//! pod and service networks, the CNI (Talos's flannel, or none when the lab installs Cilium or
//! Calico as an add-on), the node group's labels and taints, the install disk and the installer
//! image of the cluster's Image Factory schematic, and what add-ons need on the node (Longhorn's
//! kubelet mount). The kubelet and control-plane images are left to Talos's defaults for its
//! release: the lab names no Kubernetes version for Talos clusters.
//!
//! Keys of CAs are only where Talos puts them: every configuration carries the OS and
//! Kubernetes CA certificates, only control-plane configurations carry their keys, the etcd and
//! aggregator CAs and the service-account key.

use std::net::Ipv4Addr;

use base64::Engine as _;
use labform_planner::Plan;
use labform_planner::plan::{Cni, NodeRole, PlannedCluster, PlannedClusterNode, PlannedVm};
use labform_secrets::{ExposeSecret as _, SecretString};

use crate::document::{Value, map, secret, string, strings};
use crate::error::TalosError;
use crate::schematic::{GUEST_AGENT_EXTENSION, Schematic};
use crate::secrets::SecretsBundle;
use crate::version::{Contract, TalosVersion};

/// The disk Talos installs to: the VM's first SCSI disk (`scsi0`).
pub const INSTALL_DISK: &str = "/dev/sda";

/// The name labform gives the node's NIC (a link alias matched by its MAC, Talos 1.12 on).
pub const LINK_ALIAS: &str = "net0";

/// The port of the Kubernetes API.
pub const KUBERNETES_API_PORT: u16 = 6443;

/// The extensions the add-ons of `cluster` need on Talos nodes, besides the guest agent.
fn addon_extensions(cluster: &PlannedCluster) -> Vec<&'static str> {
    let mut extensions = Vec::new();
    if has_addon(cluster, "longhorn") {
        // Longhorn's engine talks iSCSI and needs `fstrim`, `nsenter` and friends on the host.
        extensions.extend(["siderolabs/iscsi-tools", "siderolabs/util-linux-tools"]);
    }
    extensions
}

fn has_addon(cluster: &PlannedCluster, name: &str) -> bool {
    cluster.addons.iter().any(|addon| addon.name == name)
}

/// The Image Factory schematic of `cluster`'s nodes: the QEMU guest agent and what its add-ons
/// need.
pub fn cluster_schematic(cluster: &PlannedCluster) -> Schematic {
    let mut extensions = vec![GUEST_AGENT_EXTENSION];
    extensions.extend(addon_extensions(cluster));
    Schematic::new(extensions).expect("labform's own extension names are valid")
}

/// One node's machine configuration: its YAML documents.
#[derive(Debug, Clone)]
pub struct NodeConfiguration {
    /// The VM (and node name).
    pub vm: String,
    /// Its role.
    pub role: NodeRole,
    /// The shape, from the cluster's version.
    pub contract: Contract,
    /// The address the node's Talos API answers on.
    pub address: Ipv4Addr,
    /// The documents, `v1alpha1` first.
    pub documents: Vec<Value>,
}

impl NodeConfiguration {
    /// The configuration the node receives, with its secrets.
    pub fn for_node(&self) -> SecretString {
        SecretString::from(
            self.documents
                .iter()
                .map(Value::render_exposed)
                .collect::<Vec<_>>()
                .join("---\n"),
        )
    }

    /// The configuration for review: each secret replaced by a placeholder naming it.
    pub fn for_review(&self) -> String {
        let header = format!(
            "# labform: Talos machine configuration of {} ({}), rendered for review: every\n\
             # secret is a placeholder; the node's copy is in its seed image only.\n",
            self.vm,
            if self.role.is_server() {
                "control plane"
            } else {
                "worker"
            }
        );
        header
            + &self
                .documents
                .iter()
                .map(Value::render_for_review)
                .collect::<Vec<_>>()
                .join("---\n")
    }

    /// The documents as JSON, secrets written out when `expose`.
    pub fn json_documents(&self, expose: bool) -> Vec<serde_json::Value> {
        self.documents
            .iter()
            .map(|document| document.to_json(expose))
            .collect()
    }
}

/// What the configurations are made with: a secrets bundle, or placeholders (review without
/// touching the secret store).
#[derive(Debug, Clone, Copy)]
pub enum SecretsSource<'a> {
    /// The cluster's bundle.
    Bundle(&'a SecretsBundle),
    /// Placeholders only.
    Placeholders,
}

/// The values of the bundle as tree leaves.
struct Leaves {
    cluster_id: Value,
    cluster_secret: Value,
    bootstrap_token: Value,
    trustd_token: Value,
    secretbox: Value,
    os_certificate: Value,
    os_key: Value,
    kubernetes_certificate: Value,
    kubernetes_key: Value,
    aggregator_certificate: Value,
    aggregator_key: Value,
    etcd_certificate: Value,
    etcd_key: Value,
    service_account_key: Value,
    /// PEM (not base64) forms for the Talos 1.14 documents.
    kubernetes_certificate_pem: Value,
    kubernetes_key_pem: Value,
    aggregator_certificate_pem: Value,
    aggregator_key_pem: Value,
    service_account_key_pem: Value,
}

fn encoded(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

fn encoded_secret(value: &SecretString, what: &'static str) -> Value {
    Value::Secret(SecretString::from(encoded(value.expose_secret())), what)
}

impl Leaves {
    fn new(source: SecretsSource<'_>) -> Self {
        let Some(bundle) = (match source {
            SecretsSource::Bundle(bundle) => Some(bundle),
            SecretsSource::Placeholders => None,
        }) else {
            let empty = SecretString::from(String::new());
            let leaf = |what: &'static str| Value::Secret(empty.clone(), what);
            return Leaves {
                cluster_id: leaf("cluster ID"),
                cluster_secret: leaf("cluster secret"),
                bootstrap_token: leaf("bootstrap token"),
                trustd_token: leaf("trustd token"),
                secretbox: leaf("secretbox encryption key"),
                os_certificate: leaf("OS CA certificate"),
                os_key: leaf("OS CA key"),
                kubernetes_certificate: leaf("Kubernetes CA certificate"),
                kubernetes_key: leaf("Kubernetes CA key"),
                aggregator_certificate: leaf("aggregator CA certificate"),
                aggregator_key: leaf("aggregator CA key"),
                etcd_certificate: leaf("etcd CA certificate"),
                etcd_key: leaf("etcd CA key"),
                service_account_key: leaf("service-account key"),
                kubernetes_certificate_pem: leaf("Kubernetes CA certificate"),
                kubernetes_key_pem: leaf("Kubernetes CA key"),
                aggregator_certificate_pem: leaf("aggregator CA certificate"),
                aggregator_key_pem: leaf("aggregator CA key"),
                service_account_key_pem: leaf("service-account key"),
            };
        };
        Leaves {
            cluster_id: secret(&bundle.cluster_id, "cluster ID"),
            cluster_secret: secret(&bundle.cluster_secret, "cluster secret"),
            bootstrap_token: secret(&bundle.bootstrap_token, "bootstrap token"),
            trustd_token: secret(&bundle.trustd_token, "trustd token"),
            secretbox: secret(
                &bundle.secretbox_encryption_secret,
                "secretbox encryption key",
            ),
            os_certificate: string(encoded(&bundle.os_ca.certificate)),
            os_key: encoded_secret(&bundle.os_ca.key, "OS CA key"),
            kubernetes_certificate: string(encoded(&bundle.kubernetes_ca.certificate)),
            kubernetes_key: encoded_secret(&bundle.kubernetes_ca.key, "Kubernetes CA key"),
            aggregator_certificate: string(encoded(&bundle.aggregator_ca.certificate)),
            aggregator_key: encoded_secret(&bundle.aggregator_ca.key, "aggregator CA key"),
            etcd_certificate: string(encoded(&bundle.etcd_ca.certificate)),
            etcd_key: encoded_secret(&bundle.etcd_ca.key, "etcd CA key"),
            service_account_key: encoded_secret(&bundle.service_account_key, "service-account key"),
            kubernetes_certificate_pem: string(bundle.kubernetes_ca.certificate.clone()),
            kubernetes_key_pem: secret(&bundle.kubernetes_ca.key, "Kubernetes CA key"),
            aggregator_certificate_pem: string(bundle.aggregator_ca.certificate.clone()),
            aggregator_key_pem: secret(&bundle.aggregator_ca.key, "aggregator CA key"),
            service_account_key_pem: secret(&bundle.service_account_key, "service-account key"),
        }
    }
}

/// What one node's configuration is made from.
struct NodeFacts<'a> {
    cluster: &'a PlannedCluster,
    node: &'a PlannedClusterNode,
    vm: &'a PlannedVm,
    version: TalosVersion,
    schematic: &'a Schematic,
    control_plane: bool,
    /// The node's network, `address/prefix` truncated.
    subnet: String,
    labels: Vec<(String, String)>,
    taints: Vec<(String, String)>,
}

/// The machine configurations of every node of `cluster` (servers first, in the plan's order).
pub fn cluster_configurations(
    plan: &Plan,
    cluster: &PlannedCluster,
    secrets: SecretsSource<'_>,
) -> Result<Vec<NodeConfiguration>, TalosError> {
    let version = TalosVersion::parse(&cluster.version)?;
    let schematic = cluster_schematic(cluster);
    let leaves = Leaves::new(secrets);
    cluster
        .nodes
        .iter()
        .map(|node| {
            let vm = plan
                .vms
                .iter()
                .find(|vm| vm.name == node.vm)
                .ok_or_else(|| TalosError::MissingVm {
                    cluster: cluster.name.clone(),
                    node: node.vm.clone(),
                })?;
            if vm.nic.address.is_none() {
                return Err(TalosError::NoAddress {
                    vm: vm.name.clone(),
                });
            }
            let facts = NodeFacts {
                cluster,
                node,
                vm,
                version,
                schematic: &schematic,
                control_plane: node.role.is_server(),
                subnet: subnet(node.address, vm.nic.prefix),
                labels: node_labels(node)?,
                taints: node_taints(node)?,
            };
            let documents = match version.contract() {
                Contract::Legacy | Contract::NetworkDocuments => {
                    let mut documents = vec![v1alpha1_full(&facts, &leaves)];
                    if version.contract() == Contract::NetworkDocuments {
                        documents.push(hostname_document(&facts));
                        documents.extend(network_documents(&facts, false));
                    }
                    documents
                }
                Contract::Documents => documents_contract(&facts, &leaves),
            };
            Ok(NodeConfiguration {
                vm: node.vm.clone(),
                role: node.role,
                contract: version.contract(),
                address: node.address,
                documents,
            })
        })
        .collect()
}

fn subnet(address: Ipv4Addr, prefix: u8) -> String {
    let bits = u32::from(address);
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    };
    format!("{}/{prefix}", Ipv4Addr::from(bits & mask))
}

fn node_labels(node: &PlannedClusterNode) -> Result<Vec<(String, String)>, TalosError> {
    node.labels
        .iter()
        .map(|label| {
            label
                .split_once('=')
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .ok_or_else(|| TalosError::InvalidNodeSetting {
                    node: node.vm.clone(),
                    what: "label",
                    suffix: "",
                    value: label.clone(),
                })
        })
        .collect()
}

/// Taints as Talos writes them: `key: value:Effect`.
fn node_taints(node: &PlannedClusterNode) -> Result<Vec<(String, String)>, TalosError> {
    node.taints
        .iter()
        .map(|taint| {
            let invalid = || TalosError::InvalidNodeSetting {
                node: node.vm.clone(),
                what: "taint",
                suffix: ":Effect",
                value: taint.clone(),
            };
            let (key_value, effect) = taint.rsplit_once(':').ok_or_else(invalid)?;
            let (key, value) = key_value.split_once('=').unwrap_or((key_value, ""));
            if key.is_empty() || effect.is_empty() {
                return Err(invalid());
            }
            Ok((key.to_owned(), format!("{value}:{effect}")))
        })
        .collect()
}

fn endpoint(cluster: &PlannedCluster) -> String {
    format!("https://{}:{KUBERNETES_API_PORT}", cluster.api_address)
}

/// Whether workloads run on the control planes: a cluster of control planes only.
fn schedules_on_control_planes(cluster: &PlannedCluster) -> bool {
    cluster.agents.is_empty()
}

/// The labels Talos puts on a node, then the group's. Control planes are kept out of external
/// load balancers, as `talosctl gen config` does, unless they are the only nodes.
fn labels_of(facts: &NodeFacts<'_>) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    if facts.control_plane && !schedules_on_control_planes(facts.cluster) {
        labels.push((
            "node.kubernetes.io/exclude-from-external-load-balancers".to_owned(),
            String::new(),
        ));
    }
    labels.extend(facts.labels.iter().cloned());
    labels
}

fn pairs(entries: &[(String, String)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(key, value)| (key.clone(), string(value.clone())))
            .collect(),
    )
}

fn ca_pair(certificate: &Value, key: &Value, control_plane: bool) -> Value {
    map([
        ("crt", certificate.clone()),
        (
            "key",
            if control_plane {
                key.clone()
            } else {
                string("")
            },
        ),
    ])
}

fn kubelet_extra_mounts(facts: &NodeFacts<'_>) -> Option<Value> {
    has_addon(facts.cluster, "longhorn").then(|| {
        Value::List(vec![map([
            ("destination", string("/var/lib/longhorn")),
            ("type", string("bind")),
            ("source", string("/var/lib/longhorn")),
            ("options", strings(["bind", "rshared", "rw"])),
        ])])
    })
}

fn pod_security_admission() -> Value {
    Value::List(vec![map([
        ("name", string("PodSecurity")),
        ("configuration", pod_security_configuration()),
    ])])
}

fn pod_security_configuration() -> Value {
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

fn audit_policy() -> Value {
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
fn v1alpha1_full(facts: &NodeFacts<'_>, leaves: &Leaves) -> Value {
    let cluster = facts.cluster;
    let control_plane = facts.control_plane;
    let legacy = facts.version.contract() == Contract::Legacy;

    let mut kubelet = map([
        ("defaultRuntimeSeccompProfileEnabled", Value::Bool(true)),
        ("disableManifestsDirectory", Value::Bool(true)),
        (
            "nodeIP",
            map([("validSubnets", strings([facts.subnet.clone()]))]),
        ),
    ]);
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
        (
            "image",
            string(facts.schematic.installer_image(facts.version)),
        ),
        ("wipe", Value::Bool(false)),
    ]);
    if !legacy {
        install.push("grubUseUKICmdline", Value::Bool(true));
    }
    machine.push("install", install);
    machine.push(
        "features",
        map([
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
        ]),
    );
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
        cluster_document.push(
            "apiServer",
            map([
                ("certSANs", strings([cluster.api_address.to_string()])),
                ("admissionControl", pod_security_admission()),
                ("auditPolicy", audit_policy()),
            ]),
        );
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

/// The addresses the node's Talos API certificate names: its own and the API address.
fn cert_sans(facts: &NodeFacts<'_>) -> Vec<String> {
    let mut sans = vec![facts.node.address.to_string()];
    let api = facts.cluster.api_address.to_string();
    if !sans.contains(&api) {
        sans.push(api);
    }
    sans
}

/// Whether this node holds the shared API address: control planes of a cluster with a VIP.
fn holds_vip(facts: &NodeFacts<'_>) -> bool {
    facts.control_plane && facts.cluster.api_vip
}

/// `machine.network` of Talos up to 1.11.
fn legacy_network(facts: &NodeFacts<'_>) -> Value {
    let nic = &facts.vm.nic;
    let mut interface = map([
        (
            "deviceSelector",
            map([("hardwareAddr", string(nic.mac.to_ascii_lowercase()))]),
        ),
        (
            "addresses",
            strings([format!("{}/{}", facts.node.address, nic.prefix)]),
        ),
    ]);
    if let Some(gateway) = nic.gateway {
        interface.push(
            "routes",
            Value::List(vec![map([
                ("network", string("0.0.0.0/0")),
                ("gateway", string(gateway.to_string())),
            ])]),
        );
    }
    if let Some(mtu) = nic.mtu {
        interface.push("mtu", Value::Integer(i64::from(mtu)));
    }
    if holds_vip(facts) {
        interface.push(
            "vip",
            map([("ip", string(facts.cluster.api_address.to_string()))]),
        );
    }
    let mut network = map([
        ("hostname", string(facts.vm.name.clone())),
        ("interfaces", Value::List(vec![interface])),
    ]);
    if !nic.dns.is_empty() {
        network.push(
            "nameservers",
            strings(nic.dns.iter().map(ToString::to_string)),
        );
    }
    network
}

fn document(kind: &str) -> Value {
    map([("apiVersion", string("v1alpha1")), ("kind", string(kind))])
}

fn hostname_document(facts: &NodeFacts<'_>) -> Value {
    let mut hostname = document("HostnameConfig");
    hostname.push("hostname", string(facts.vm.name.clone()));
    hostname
}

/// The network documents of Talos 1.12 on: the NIC aliased by its MAC, its address and default
/// route, the resolver (unless `resolver_elsewhere`: Talos 1.14 writes it with host DNS) and the
/// shared API address on control planes.
fn network_documents(facts: &NodeFacts<'_>, resolver_elsewhere: bool) -> Vec<Value> {
    let nic = &facts.vm.nic;
    let mut documents = Vec::new();
    let mut alias = document("LinkAliasConfig");
    alias.push("name", string(LINK_ALIAS));
    alias.push(
        "selector",
        map([(
            "match",
            string(format!(
                "mac(link.permanent_addr) == \"{}\"",
                nic.mac.to_ascii_lowercase()
            )),
        )]),
    );
    documents.push(alias);
    let mut link = document("LinkConfig");
    link.push("name", string(LINK_ALIAS));
    link.push("up", Value::Bool(true));
    if let Some(mtu) = nic.mtu {
        link.push("mtu", Value::Integer(i64::from(mtu)));
    }
    link.push(
        "addresses",
        Value::List(vec![map([(
            "address",
            string(format!("{}/{}", facts.node.address, nic.prefix)),
        )])]),
    );
    if let Some(gateway) = nic.gateway {
        link.push(
            "routes",
            Value::List(vec![map([("gateway", string(gateway.to_string()))])]),
        );
    }
    documents.push(link);
    if !resolver_elsewhere && let Some(resolver) = resolver_document(facts, false) {
        documents.push(resolver);
    }
    if holds_vip(facts) {
        let mut vip = document("Layer2VIPConfig");
        vip.push("name", string(facts.cluster.api_address.to_string()));
        vip.push("link", string(LINK_ALIAS));
        documents.push(vip);
    }
    documents
}

fn resolver_document(facts: &NodeFacts<'_>, host_dns: bool) -> Option<Value> {
    let nic = &facts.vm.nic;
    if nic.dns.is_empty() && nic.domain.is_none() && !host_dns {
        return None;
    }
    let mut resolver = document("ResolverConfig");
    if !nic.dns.is_empty() {
        resolver.push(
            "nameservers",
            Value::List(
                nic.dns
                    .iter()
                    .map(|server| map([("address", string(server.to_string()))]))
                    .collect(),
            ),
        );
    }
    if let Some(domain) = &nic.domain {
        resolver.push(
            "searchDomains",
            map([("domains", strings([domain.clone()]))]),
        );
    }
    if host_dns {
        resolver.push(
            "hostDNS",
            map([
                ("enabled", Value::Bool(true)),
                ("forwardKubeDNSToHost", Value::Bool(true)),
            ]),
        );
    }
    Some(resolver)
}

/// Talos 1.14 on: a small `v1alpha1` document and one document per concern, in the order
/// `talosctl gen config` writes them. The documents that name a component image
/// (`KubeletConfig`, `KubeAPIServerConfig`, `KubeControllerManagerConfig`,
/// `KubeSchedulerConfig`, `KubeProxyConfig`) are left out: their image is required, and the lab
/// names no Kubernetes version, so Talos's defaults apply.
fn documents_contract(facts: &NodeFacts<'_>, leaves: &Leaves) -> Vec<Value> {
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
    if cluster.cni == Cni::Flannel {
        let mut flannel = document("KubeFlannelCNIConfig");
        flannel.push("backendType", string("vxlan"));
        flannel.push("backendPort", Value::Integer(4789));
        documents.push(flannel);
    }
    let mut core_dns = document("KubeCoreDNSConfig");
    core_dns.push("enabled", Value::Bool(true));
    documents.push(core_dns);
    documents
}
