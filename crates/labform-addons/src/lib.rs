//! labform's cluster add-ons as plug-ins.
//!
//! Each add-on is one module (folder) that owns everything about it: its options as the lab file
//! writes them (serde and the JSON Schema), the checks its options need beyond the schema, its
//! one line in the plan, its manifests, and the Kubernetes Secrets it reads (by reference
//! only). The [`registry`] lists them once, with the order they are installed in and what each
//! requires; it generates the lab file's [`Addons`] and the plan's [`AddonSettings`].
//!
//! The crate sits below the lab file's crate: it knows nothing of files, positions or plans.
//! Callers hand it plain facts ([`CheckContext`] from the lab, [`ClusterFacts`] from the plan)
//! and turn what it returns into their own types: `labform-model` its [`Problem`]s into located
//! diagnostics, the planner its plan lines, `labform-kubernetes` its [`Manifests`] into YAML
//! files. Everything is pure: no I/O, no clock, no randomness.
//!
//! Adding an add-on: a module `src/NAME/mod.rs` with the options type, its [`Addon`] (checks)
//! and [`AddonRendering`] (plan line, manifests) implementations, and one entry in the
//! registry's table.

pub mod context;
pub mod output;
pub mod problem;
pub mod registry;

pub mod argocd;
pub mod cert_manager;
pub mod envoy_gateway;
pub mod external_secrets;
pub mod gitlab;
pub mod kube_prometheus_stack;
pub mod longhorn;
pub mod metallb;
pub mod minio;
pub mod tailscale_operator;
pub mod traefik;
pub mod vault;

pub use context::{AddressBlock, CheckContext, ClusterFacts, NodeSoftware, PoolFacts, TenantUse};
pub use output::{
    AddonError, AddonFailure, Chart, ChartValues, ManifestPart, Manifests, Objects, RequiredSecret,
};
pub use problem::{PathStep, Problem, ProblemPath};
pub use registry::{
    Addon, AddonDecisions, AddonKind, AddonRendering, AddonSettings, Addons, PlannedForm, manifests,
};
