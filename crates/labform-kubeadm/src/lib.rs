//! kubeadm clusters on labform's VMs: which configuration API a Kubernetes version reads
//! ([`version`]), each node's kubeadm configuration rendered from the planned cluster alone
//! ([`config`]), the cluster CA, bootstrap token and certificate key labform makes and keeps in
//! its secret store, so the discovery hash is known before any node exists ([`secrets`]), etcd
//! snapshots on the lab's schedule from a systemd timer on each control plane
//! ([`etcd_snapshots`]), what a changed configuration means for a formed cluster
//! ([`reconfigure`]), kubeadm's side of the distribution seam ([`distribution`]), and strict
//! decoding of a configuration against kubeadm's own types for its API version ([`strict`]).
//!
//! Secrets never appear in what `labform render` writes: there, the bootstrap token, the
//! certificate key and the discovery hash are replaced by markers naming where labform keeps
//! them.

pub mod air_gap;
pub mod artifacts;
pub mod cluster;
pub mod config;
pub mod distribution;
mod error;
pub mod etcd_snapshots;
pub mod kube_vip;
pub mod node;
pub mod reconfigure;
pub mod secrets;
pub mod strict;
pub mod version;

pub use distribution::Kubeadm;
pub use error::{ClusterError, KubeadmError};
