//! K3s on labform's VMs, over SSH: the release files, verified against the release's checksums
//! ([`artifacts`]); each node's binary, configuration, join token and systemd unit, converged
//! file by file ([`node`], [`units`]); add-on manifests in K3s's auto-deploy directory
//! ([`delivery`]); the cluster's kubeconfig, renamed and merged into the user's file
//! ([`kubeconfig`]); and the order that ties them into a cluster: first server, joining
//! servers one at a time, agents, readiness, add-ons; upgrades one node at a time with cordon
//! and drain; reset ([`cluster`]). [`K3s`] is K3s's implementation of
//! `labform_kubernetes::distribution::ClusterDistribution`, through which the CLI acts.
//!
//! Everything written to a node is rendered by `labform-kubernetes` (pure) or here, compared by
//! SHA-256 with what the node has, and uploaded only when different: a second apply changes
//! nothing. Secrets (the join token, a datastore endpoint, kubeconfigs) travel only in SSH
//! channel data or the secret store, never in command lines, logs or errors.

pub mod artifacts;
pub mod cluster;
pub mod delivery;
pub mod distribution;
mod error;
pub use labform_kubernetes::kubeconfig;
pub mod node;
pub mod units;

pub use distribution::K3s;
pub use error::{ArtifactError, ClusterError, NodeError};
pub use labform_kubernetes::KubeconfigError;
