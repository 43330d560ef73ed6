//! The `networks` section: layer-2 networks, their subnets and their named address pools.

use super::*;

/// What an address pool is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PoolPurpose {
    /// Static addresses of VMs.
    Nodes,
    /// Virtual IPs (Kubernetes API VIPs).
    Vips,
    /// Addresses MetalLB hands to LoadBalancer services.
    LoadBalancers,
}

impl PoolPurpose {
    /// The purpose as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolPurpose::Nodes => "nodes",
            PoolPurpose::Vips => "vips",
            PoolPurpose::LoadBalancers => "load-balancers",
        }
    }
}

/// A named range of addresses on a network.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressPool {
    /// Name clusters and add-ons use to refer to it.
    pub name: String,
    /// What it is for.
    pub purpose: PoolPurpose,
    /// The addresses.
    pub range: AddressRange,
}

/// A layer-2 network with an IPv4 subnet.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Name VMs and clusters use to refer to it.
    pub name: String,
    /// The Proxmox bridge (`vmbr0`).
    pub bridge: String,
    /// 802.1Q VLAN tag set on the VMs' NICs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// The subnet, `10.0.20.0/24`.
    #[schemars(with = "String")]
    pub cidr: Ipv4Net,
    /// Default gateway.
    pub gateway: Ipv4Addr,
    /// DNS servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<Ipv4Addr>,
    /// DNS search domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// MTU of the VMs' NICs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
    /// Named address pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<AddressPool>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}
