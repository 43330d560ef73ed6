//! The Kubernetes vocabulary the lab file and the plan share: which distribution a cluster runs,
//! its container network interface, and the central services tenants use on another cluster.
//!
//! The lab file's types re-export these (`labform_model::{Distribution, Cni, CentralService}`),
//! so the file format and the plan speak of the same things, and the crates that render node
//! files and run clusters read them from the plan without depending on the lab file's crate.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Kubernetes distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    /// K3s (Rancher's lightweight Kubernetes).
    K3s,
    /// Upstream Kubernetes bootstrapped with kubeadm.
    Kubeadm,
    /// Talos Linux.
    Talos,
}

impl Distribution {
    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Distribution::K3s => "k3s",
            Distribution::Kubeadm => "kubeadm",
            Distribution::Talos => "talos",
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Container network interface.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Cni {
    /// Flannel (K3s's built-in default).
    #[default]
    Flannel,
    /// Calico.
    Calico,
    /// Cilium.
    Cilium,
}

impl Cni {
    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Cni::Flannel => "flannel",
            Cni::Calico => "calico",
            Cni::Cilium => "cilium",
        }
    }
}

impl fmt::Display for Cni {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A central service a tenant uses, hosted by another cluster's add-on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CentralService {
    /// GitLab: Git hosting, CI, container registry.
    Gitlab,
    /// Vault: secrets.
    Vault,
    /// MinIO: object storage.
    Minio,
}

impl CentralService {
    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            CentralService::Gitlab => "gitlab",
            CentralService::Vault => "vault",
            CentralService::Minio => "minio",
        }
    }
}

impl fmt::Display for CentralService {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}
