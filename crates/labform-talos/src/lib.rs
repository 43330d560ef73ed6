//! Talos clusters: what labform makes for them and how it drives them.
//!
//! - [`secrets`]: the cluster's secrets bundle (what `talosctl gen secrets` makes), generated
//!   once and kept in labform's age store, and the talosconfig client certificate
//!   (`os:admin`, signed by the OS CA).
//! - [`machine_config`]: each node's machine configuration for the cluster's Talos version
//!   ([`version::Contract`]), naming the installer of the Image Factory schematic the plan
//!   chose (`labform_planner::distribution::talos_schematic`).
//! - [`seed`]: the nocloud seed image that carries the configuration to the node through
//!   Proxmox, without snippets or SSH.
//! - [`api`] and [`cluster`]: the Talos API client (mutual TLS with the talosconfig of
//!   [`talosconfig`]) and the cluster flow over it: apply, bootstrap once, health, upgrades
//!   keeping etcd's quorum, kubeconfig, drift, reset.
//! - [`addons`]: the add-ons through the cluster's Kubernetes API (the Helm controller, the
//!   Secrets they read, their manifests), recorded in the cluster for drift and removal.
//! - [`etcd_snapshots`]: etcd snapshots on the lab's schedule, a CronJob per control plane
//!   calling the Talos API through Kubernetes Talos API access, delivered with the add-ons.
//! - [`distribution`]: Talos as a `labform_kubernetes` cluster distribution ([`Talos`]), the
//!   entry the CLI's table of distributions holds.
//!
//! Everything here reads the plan alone; nothing secret is logged or rendered for review.

pub mod addons;
pub mod api;
pub mod cluster;
pub mod distribution;
pub mod document;
pub mod error;
pub mod etcd_snapshots;
pub mod machine_config;
pub mod pki;
pub mod secrets;
pub mod seed;
pub mod talosconfig;
pub mod version;

pub use distribution::Talos;
pub use error::TalosError;
pub use machine_config::{NodeConfiguration, SecretsSource, cluster_configurations};
pub use secrets::{ADMIN_ROLE, SecretsBundle, bundle_store_key};
pub use seed::TalosSeed;
pub use version::{Contract, TalosVersion};
