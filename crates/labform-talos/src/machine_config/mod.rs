//! Each node's machine configuration, from the plan and the cluster's secrets bundle.
//!
//! The configuration has the shape `talosctl gen config` gives for the cluster's Talos version
//! and the node's role ([`crate::version::Contract`]), with what labform knows added: the node's
//! static address on its NIC (matched by its planned MAC), its host name and DNS, the cluster
//! endpoint on the API VIP, which the control planes share through Talos's own layer-2 VIP, the
//! pod and service networks, the CNI (Talos's flannel, or none when the lab installs Cilium or
//! Calico as an add-on), the node group's labels and taints, the install disk and the installer
//! image of the cluster's Image Factory schematic, what add-ons need on the node (host
//! directories mounted into the kubelet, such as Longhorn's), all as the plan carries them, and on control planes, when the lab schedules etcd snapshots, Kubernetes
//! Talos API access for the snapshots' CronJob pods ([`crate::etcd_snapshots`]). The kubelet and control-plane images are those of the lab's
//! `kubernetes_version` when it names one (Talos's defaults for its release otherwise), so a
//! changed version is a changed configuration, applied node by node (`crate::cluster`).
//!
//! Keys of CAs are only where Talos puts them: every configuration carries the OS and
//! Kubernetes CA certificates, only control-plane configurations carry their keys, the etcd and
//! aggregator CAs and the service-account key.

mod documents;
mod leaves;
mod network;
mod v1alpha1;

use std::net::Ipv4Addr;

use labform_planner::Plan;
use labform_planner::plan::{
    NodeRole, PlannedCluster, PlannedClusterNode, PlannedVm, TalosSettings,
};
use labform_secrets::SecretString;

use self::documents::documents_contract;
use self::leaves::Leaves;
use self::network::{hostname_document, network_documents};
use self::v1alpha1::v1alpha1_full;
use crate::document::{Value, map, string, strings};
use crate::error::TalosError;
use crate::secrets::SecretsBundle;
use crate::version::{Contract, TalosVersion};

/// The disk Talos installs to: the VM's first SCSI disk (`scsi0`).
pub const INSTALL_DISK: &str = "/dev/sda";

/// The name labform gives the node's NIC (a link alias matched by its MAC, Talos 1.12 on).
pub const LINK_ALIAS: &str = "net0";

/// The port of the Kubernetes API.
pub const KUBERNETES_API_PORT: u16 = 6443;

/// The Talos settings the plan carries for `cluster`, a Talos cluster.
pub(crate) fn talos_settings(cluster: &PlannedCluster) -> &TalosSettings {
    cluster
        .talos_settings()
        .expect("the planner gives every Talos cluster its Talos settings")
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

/// What one node's configuration is made from.
struct NodeFacts<'a> {
    cluster: &'a PlannedCluster,
    node: &'a PlannedClusterNode,
    vm: &'a PlannedVm,
    version: TalosVersion,
    settings: &'a TalosSettings,
    control_plane: bool,
    /// The node's network, `address/prefix` truncated.
    subnet: String,
    labels: Vec<(String, String)>,
    taints: Vec<(String, String)>,
    /// The Kubernetes version the lab pins, if any.
    kubernetes: Option<&'a str>,
}

/// The kubelet image Talos runs for Kubernetes `version`.
fn kubelet_image(version: &str) -> String {
    format!("ghcr.io/siderolabs/kubelet:{version}")
}

/// The image of control-plane component `component` (`kube-apiserver`, ...) for Kubernetes
/// `version`.
fn component_image(component: &str, version: &str) -> String {
    format!("registry.k8s.io/{component}:{version}")
}

/// The Kubernetes version `cluster` pins, if any.
pub fn kubernetes_version(cluster: &PlannedCluster) -> Option<&str> {
    cluster
        .talos_settings()
        .and_then(|settings| settings.kubernetes_version.as_deref())
}

/// The machine configurations of every node of `cluster` (servers first, in the plan's order).
pub fn cluster_configurations(
    plan: &Plan,
    cluster: &PlannedCluster,
    secrets: SecretsSource<'_>,
) -> Result<Vec<NodeConfiguration>, TalosError> {
    let version = TalosVersion::parse(&cluster.version)?;
    let settings = talos_settings(cluster);
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
                settings,
                control_plane: node.role.is_server(),
                subnet: subnet(node.address, vm.nic.prefix),
                labels: node_labels(node)?,
                taints: node_taints(node)?,
                kubernetes: kubernetes_version(cluster),
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

/// The host directories add-ons keep data in (Longhorn's `/var/lib/longhorn`), bind-mounted
/// into the kubelet's container.
fn kubelet_extra_mounts(facts: &NodeFacts<'_>) -> Option<Value> {
    let directories = &facts.settings.kubelet_host_directories;
    (!directories.is_empty()).then(|| {
        Value::List(
            directories
                .iter()
                .map(|directory| {
                    map([
                        ("destination", string(directory.as_str())),
                        ("type", string("bind")),
                        ("source", string(directory.as_str())),
                        ("options", strings(["bind", "rshared", "rw"])),
                    ])
                })
                .collect(),
        )
    })
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

fn document(kind: &str) -> Value {
    map([("apiVersion", string("v1alpha1")), ("kind", string(kind))])
}
