//! The `environments` section: overlays that make every cluster exist once per environment.

use super::*;

/// Changes an environment makes to one cluster. Only what differs is written.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterOverlay {
    /// The cluster changed.
    pub cluster: String,
    /// Another version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Another network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Another address pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_pool: Option<String>,
    /// Another API VIP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_vip: Option<ApiVip>,
    /// Changes to the servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servers: Option<GroupOverlay>,
    /// Changes to agent groups, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<GroupOverlay>,
}

/// Changes to a node group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupOverlay {
    /// The agent group changed (agents only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Another count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Other vCPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// Other memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// Other disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disks: Option<Vec<Disk>>,
}

/// An environment: an overlay applied to every cluster that exists in it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Name: a DNS label (`dev`, `staging`, `prod`).
    pub name: String,
    /// Network for every cluster in this environment unless an overlay says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Per-cluster changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterOverlay>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}
