//! The `clusters` section: Kubernetes clusters, their datastore and API endpoint.

use super::*;

/// Where the cluster keeps its state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Datastore {
    /// etcd embedded in the servers (K3s `cluster-init`); HA needs an odd number of servers.
    #[default]
    EmbeddedEtcd,
    /// SQLite on the single server (K3s default without `cluster-init`).
    Sqlite,
    /// An external SQL datastore; its DSN holds credentials, so it is a secret reference.
    External(ExternalDatastore),
}

/// An external datastore (PostgreSQL, MySQL, etcd).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalDatastore {
    /// The datastore endpoint (`postgres://user:pass@host:5432/k3s`), by reference.
    pub endpoint: SecretRef,
}

/// The Kubernetes API endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiVip {
    /// A fixed address on the servers' subnet, outside every node and load-balancer pool.
    Address(Ipv4Addr),
    /// Taken from the network's `vips` pool.
    FromPool(String),
}

/// A Kubernetes cluster. With environments, it exists once per environment.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Cluster name: a DNS label.
    pub name: String,
    /// Kubernetes distribution.
    pub distribution: Distribution,
    /// Distribution version (`v1.31.4+k3s1`, `v1.29.6`, `v1.8.3`).
    pub version: String,
    /// Talos clusters only: the Kubernetes version (`v1.31.2`) their machine configurations pin
    /// (the kubelet and control-plane images); changing it upgrades Kubernetes node by node,
    /// control planes first. Without it, Talos runs its release's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// Talos clusters only: official system extensions (Image Factory names such as
    /// `siderolabs/intel-ucode`) the nodes' image carries besides the QEMU guest agent and what
    /// the add-ons need; they make the cluster's Image Factory schematic, whose image the
    /// nodes boot and upgrade to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system_extensions: Vec<String>,
    /// The network its nodes live on.
    pub network: String,
    /// The pool of `network` node addresses come from (default: its first `nodes` pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_pool: Option<String>,
    /// Pod network (default `10.42.0.0/16`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub pod_cidr: Option<Ipv4Net>,
    /// Service network (default `10.43.0.0/16`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub service_cidr: Option<Ipv4Net>,
    /// Container network interface.
    #[serde(default)]
    pub cni: Cni,
    /// Where cluster state lives.
    #[serde(default)]
    pub datastore: Datastore,
    /// The API VIP (needed with several servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_vip: Option<ApiVip>,
    /// Control-plane nodes.
    pub servers: NodeGroup,
    /// Worker groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<NodeGroup>,
    /// Add-ons installed on the cluster.
    #[serde(default)]
    pub addons: Addons,
    /// Backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<Backups>,
    /// Environments this cluster exists in (default: all of the lab's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}
