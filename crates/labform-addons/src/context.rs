//! What an add-on may know about its cluster, beyond its own options.
//!
//! [`CheckContext`] is what the lab file says (for the checks, before anything is planned);
//! [`ClusterFacts`] is what the plan decided about the cluster (for the plan line and the
//! manifests; what the planner decides for one add-on alone travels in its planned form). Both are
//! plain data the callers fill in: `labform-model` from the lab file, the planner and
//! `labform-kubernetes` from the plan. Neither names a distribution's internals: what a
//! distribution brings of its own (K3s's servicelb and Traefik) is a flag.

use std::net::Ipv4Addr;

use labform_ids::cluster::CentralService;

use crate::registry::Addons;

/// An address pool of the cluster's network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolFacts {
    /// The pool's name.
    pub name: String,
    /// Its first address.
    pub first: Ipv4Addr,
    /// Its last address (inclusive).
    pub last: Ipv4Addr,
}

impl PoolFacts {
    /// Whether `address` lies in the pool.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        self.first <= address && address <= self.last
    }
}

/// What the checks of an add-on may read besides its options: the declared cluster.
#[derive(Debug, Clone, Copy)]
pub struct CheckContext<'a> {
    /// The distribution's name as the lab writes it (`k3s`, `kubeadm`, `talos`), for messages.
    pub distribution: &'a str,
    /// Whether the distribution gives LoadBalancer services addresses by itself (K3s servicelb).
    pub packaged_load_balancer: bool,
    /// Whether the distribution ships an ingress controller of its own (K3s Traefik).
    pub packaged_ingress: bool,
    /// Nodes of one instance of the cluster: servers and agents.
    pub nodes: u32,
    /// The pools of the cluster's network, when the network is known.
    pub pools: Option<&'a [PoolFacts]>,
    /// Every add-on of the cluster, for the dependencies between them.
    pub addons: &'a Addons,
}

/// A block of consecutive IPv4 addresses, both ends included (a cluster's load-balancer
/// addresses). Written and serialised as `FIRST-LAST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressBlock {
    /// The first address of the block.
    pub first: Ipv4Addr,
    /// The last address of the block.
    pub last: Ipv4Addr,
}

impl std::fmt::Display for AddressBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl serde::Serialize for AddressBlock {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl std::str::FromStr for AddressBlock {
    type Err = String;

    /// Reads `FIRST-LAST`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("`{text}` is not a block of addresses (FIRST-LAST)");
        let (first, last) = text.split_once('-').ok_or_else(invalid)?;
        Ok(AddressBlock {
            first: first.trim().parse().map_err(|_| invalid())?,
            last: last.trim().parse().map_err(|_| invalid())?,
        })
    }
}

impl<'de> serde::Deserialize<'de> for AddressBlock {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl AddressBlock {
    /// Every address of the block.
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> {
        (u32::from(self.first)..=u32::from(self.last)).map(Ipv4Addr::from)
    }
}

/// A tenant that uses central services of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantUse {
    /// The tenant.
    pub tenant: String,
    /// Its namespace on the cluster (`tenant-NAME`).
    pub namespace: String,
    /// The services it uses here (each an add-on: GitLab, Vault, MinIO).
    pub services: Vec<CentralService>,
}

/// How a cluster's nodes get the host software add-ons need (Longhorn's iSCSI tools).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeSoftware {
    /// Packages cloud-init installs at first boot (`Addon::node_packages`; K3s, kubeadm).
    CloudInitPackages,
    /// System extensions in the nodes' operating system image, which has no package manager
    /// (Talos: the cluster's Image Factory schematic).
    ImageExtensions,
}

/// What the plan decided about a cluster instance, as the add-ons read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterFacts {
    /// The cluster instance (`main-dev`).
    pub instance: String,
    /// The lab's ownership scope (MinIO passwords of tenants are kept under it).
    pub scope: String,
    /// The API server's address (VIP or first server).
    pub api_address: Option<Ipv4Addr>,
    /// Pod network.
    pub pod_cidr: String,
    /// Service network.
    pub service_cidr: String,
    /// Nodes of the instance.
    pub members: usize,
    /// Tenants that use the cluster's central services, in lab order.
    pub tenants: Vec<TenantUse>,
    /// How the nodes get the host software add-ons need.
    pub node_software: NodeSoftware,
}
