//! The `tenants` section: who owns which clusters and which central services they reach.

use super::*;

/// Central services a tenant reaches on another cluster.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccess {
    /// The cluster hosting them.
    pub cluster: String,
    /// Which services.
    pub services: Vec<CentralService>,
}

/// A tenant: owner of clusters, with its own Proxmox pool, API token and kubeconfig.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Name: a DNS label.
    pub name: String,
    /// Clusters the tenant owns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,
    /// Central services the tenant uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses: Vec<ServiceAccess>,
    /// Proxmox pool for the tenant's VMs (default `<lab>-<tenant>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}
