//! The simulated cluster's state: every node's configuration, version and services, etcd, and
//! the calls answered.

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine as _;

/// What a node is, as its configuration says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `machine.type: controlplane`.
    ControlPlane,
    /// `machine.type: worker`.
    Worker,
}

/// One simulated node.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) address: IpAddr,
    pub(crate) version: String,
    pub(crate) configuration: Option<String>,
    pub(crate) role: Option<Role>,
    pub(crate) etcd_running: bool,
    pub(crate) etcd_healthy: bool,
    pub(crate) member_id: u64,
    pub(crate) upgrades: Vec<String>,
    pub(crate) resets: usize,
    pub(crate) applies: usize,
}

/// A call a node answered (or refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The node.
    pub node: String,
    /// The method (`ApplyConfiguration`, ...).
    pub method: String,
    /// Whether the client showed a certificate.
    pub authenticated: bool,
    /// The gRPC status code it ended with (`Ok`, `FailedPrecondition`, ...).
    pub outcome: String,
}

/// What a test can read of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSnapshot {
    /// Its Talos version.
    pub version: String,
    /// The configuration it runs with, if any.
    pub configuration: Option<String>,
    /// Whether etcd runs on it.
    pub etcd_running: bool,
    /// Upgrade images it was given, in order.
    pub upgrades: Vec<String>,
    /// Resets it went through.
    pub resets: usize,
    /// Configurations applied to it.
    pub applies: usize,
}

/// The cluster: its nodes by name and what it learned from configurations.
#[derive(Debug, Default)]
pub(crate) struct Cluster {
    pub(crate) nodes: BTreeMap<String, Node>,
    /// The OS CA (certificate and key, PEM) from the first control-plane configuration.
    pub(crate) os_ca: Option<(String, String)>,
    pub(crate) calls: Vec<Call>,
    /// The admin kubeconfig `Kubeconfig` gives, when a test set one (a Kubernetes API the test
    /// runs); otherwise one is made naming the configuration's endpoint.
    pub(crate) kubeconfig: Option<String>,
}

/// What the double reads from a configuration's first (`v1alpha1`) document.
pub(crate) struct ConfigurationFacts {
    pub(crate) role: Role,
    pub(crate) os_ca_certificate: String,
    pub(crate) os_ca_key: Option<String>,
    pub(crate) endpoint: String,
    pub(crate) cluster_name: String,
}

/// Reads what the double needs of `text`, or why it is not a configuration.
pub(crate) fn read_configuration(text: &str) -> Result<ConfigurationFacts, String> {
    let first = text.split("\n---\n").next().unwrap_or_default();
    let document: serde_json::Value =
        serde_saphyr::from_str(first).map_err(|error| format!("not YAML: {error}"))?;
    if document["version"] != "v1alpha1" {
        return Err("the first document is not v1alpha1".to_owned());
    }
    let role = match document["machine"]["type"].as_str() {
        Some("controlplane") => Role::ControlPlane,
        Some("worker") => Role::Worker,
        other => return Err(format!("unknown machine type {other:?}")),
    };
    let decode = |value: &serde_json::Value, what: &str| -> Result<String, String> {
        let text = value.as_str().ok_or_else(|| format!("{what} is missing"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| format!("{what} is not base64"))?;
        String::from_utf8(bytes).map_err(|_| format!("{what} is not PEM"))
    };
    let os_ca_certificate = decode(&document["machine"]["ca"]["crt"], "machine.ca.crt")?;
    let os_ca_key = match document["machine"]["ca"]["key"].as_str() {
        Some("") | None => None,
        Some(_) => Some(decode(&document["machine"]["ca"]["key"], "machine.ca.key")?),
    };
    if role == Role::ControlPlane && os_ca_key.is_none() {
        return Err("a control plane's configuration needs machine.ca.key".to_owned());
    }
    if role == Role::Worker && os_ca_key.is_some() {
        return Err("a worker's configuration must not carry machine.ca.key".to_owned());
    }
    // Talos 1.14 moved the endpoint and the name into KubeClusterConfig.
    let mut endpoint = document["cluster"]["controlPlane"]["endpoint"]
        .as_str()
        .map(str::to_owned);
    let mut cluster_name = document["cluster"]["clusterName"]
        .as_str()
        .map(str::to_owned);
    for extra in text.split("\n---\n").skip(1) {
        let document: serde_json::Value =
            serde_saphyr::from_str(extra).map_err(|error| format!("not YAML: {error}"))?;
        if document["kind"] == "KubeClusterConfig" {
            endpoint = document["endpoint"].as_str().map(str::to_owned);
            cluster_name = document["clusterName"].as_str().map(str::to_owned);
        }
    }
    Ok(ConfigurationFacts {
        role,
        os_ca_certificate,
        os_ca_key,
        endpoint: endpoint.ok_or("no cluster endpoint")?,
        cluster_name: cluster_name.ok_or("no cluster name")?,
    })
}

impl Cluster {
    pub(crate) fn snapshot(&self, node: &str) -> Option<NodeSnapshot> {
        self.nodes.get(node).map(|node| NodeSnapshot {
            version: node.version.clone(),
            configuration: node.configuration.clone(),
            etcd_running: node.etcd_running,
            upgrades: node.upgrades.clone(),
            resets: node.resets,
            applies: node.applies,
        })
    }

    /// Whether etcd runs on any node.
    pub(crate) fn etcd_bootstrapped(&self) -> bool {
        self.nodes.values().any(|node| node.etcd_running)
    }

    /// Control planes whose etcd runs.
    pub(crate) fn members(&self) -> Vec<(&String, &Node)> {
        self.nodes
            .iter()
            .filter(|(_, node)| node.etcd_running)
            .collect()
    }
}
