//! The `vms` section: VMs that are not Kubernetes nodes, and how they get their address.

use super::*;

/// How a plain VM gets its address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VmAddress {
    /// A fixed address inside the network (and outside its pools).
    Static(Ipv4Addr),
    /// From the network's first `nodes` pool.
    Pool(String),
    /// DHCP (for appliances that configure themselves).
    Dhcp,
}

/// A VM that is not a Kubernetes node.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlainVm {
    /// VM name (and hostname): a DNS label. With `count` above 1, `-0`, `-1`... are appended.
    pub name: String,
    /// How many (default 1).
    #[serde(default = "one_vm")]
    pub count: u32,
    /// vCPUs.
    pub cpu: u32,
    /// Memory.
    pub memory: ByteSize,
    /// Disks; the first is the boot disk (default: one 32GiB disk).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<Disk>,
    /// Image: a cloud image (cloned, cloud-init) or an ISO (installer attached as CD-ROM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The network.
    pub network: String,
    /// Address (default: from the network's first `nodes` pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<VmAddress>,
    /// Where it may run.
    #[serde(default)]
    pub placement: Placement,
    /// The tenant that owns it (its VMs go to the tenant's Proxmox pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Refuse `destroy` and replacement (Proxmox `protection`).
    #[serde(default)]
    pub protected: bool,
    /// What it is for, for people and diagrams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// vzdump schedule for this VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<Backups>,
    /// What cloud-init adds on this VM: packages, files, first-boot commands, user data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_init: Option<CloudInitAdditions>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}

fn one_vm() -> u32 {
    1
}
