//! The `proxmox` section: endpoints, their credentials (by reference), nodes, storages and
//! overcommit ratios.

use super::*;

/// A Proxmox VE cluster reached through one API endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxmoxEndpoint {
    /// A name for this Proxmox cluster, used by clusters and VMs to choose where they run.
    pub name: String,
    /// The API URL, e.g. `https://pve1.lan:8006`.
    pub endpoint: String,
    /// SHA-256 fingerprint of the API's TLS certificate to pin (`AA:BB:...`, 32 bytes). Without it,
    /// the certificate must chain to the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// How labform authenticates.
    pub credentials: Credentials,
    /// The Proxmox nodes (hosts) of this cluster.
    pub nodes: Vec<ProxmoxNode>,
    /// The storages of this cluster.
    pub storages: Vec<Storage>,
    /// VM IDs labform may give to this lab's VMs (default `1000-8999`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_ids: Option<IdRange>,
    /// VM IDs for templates made from images (default `9000-9999`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_ids: Option<IdRange>,
    /// How far VMs may exceed each node's physical capacity. Explicit: the default is none.
    #[serde(default)]
    pub overcommit: Overcommit,
    /// Proxmox resource pool for this lab's VMs (tenants get their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}

/// API credentials, by reference only.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// An API token: `{token: {id: "labform@pve!lab", secret: {env: PVE_TOKEN_SECRET}}}`.
    Token(TokenCredentials),
    /// A user and password, exchanged for a ticket.
    Password(PasswordCredentials),
}

/// An API token.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCredentials {
    /// The token ID, `USER@REALM!TOKENID`.
    pub id: String,
    /// Where the token's secret is.
    pub secret: SecretRef,
}

/// A user and a password reference.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordCredentials {
    /// The user, `USER@REALM`.
    pub user: String,
    /// Where the password is.
    pub password: SecretRef,
}

/// Overcommit ratios: how much of a node's capacity VMs may claim. `1.0` means no overcommit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Overcommit {
    /// vCPUs per physical thread (default 1.0).
    #[serde(default = "one")]
    pub cpu: f64,
    /// Memory ratio (default 1.0; ballooning aside, more is rarely wise).
    #[serde(default = "one")]
    pub memory: f64,
    /// Disk space ratio for thin-provisioned storage (default 1.0).
    #[serde(default = "one")]
    pub storage: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for Overcommit {
    fn default() -> Self {
        Self {
            cpu: 1.0,
            memory: 1.0,
            storage: 1.0,
        }
    }
}

/// A Proxmox node (a physical host).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxmoxNode {
    /// The node's name in Proxmox (`pve1`).
    pub name: String,
    /// Hardware threads available to VMs.
    pub cpu: u32,
    /// Memory available to VMs (leave room for the host).
    pub memory: ByteSize,
    /// Free-form labels, for people and for placement rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}

/// What a storage holds, as Proxmox's `content` types.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StorageContent {
    /// VM disks.
    Images,
    /// ISO images (cloud-init seed ISOs, installer ISOs).
    Iso,
    /// Disk images to import (cloud images fetched with download-url).
    Import,
    /// Snippets (cloud-init custom files).
    Snippets,
    /// Backups (vzdump).
    Backup,
    /// Container templates.
    Vztmpl,
    /// Container root disks.
    Rootdir,
}

/// A Proxmox storage.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// The storage ID (`local-lvm`).
    pub name: String,
    /// What it may hold.
    pub content: Vec<StorageContent>,
    /// Usable capacity (per node for local storage, in total for shared storage).
    pub capacity: ByteSize,
    /// Whether every node sees the same storage (NFS, Ceph, GlusterFS).
    #[serde(default)]
    pub shared: bool,
    /// Backend type, for people and for clone rules (`lvmthin`, `zfspool`, `dir`, `nfs`, `glusterfs`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// Nodes that have this storage (default: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}
