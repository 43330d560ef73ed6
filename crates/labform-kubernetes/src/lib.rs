//! Kubernetes rendering for labform: each K3s node's `config.yaml`, the kube-vip manifest that
//! carries an HA cluster's API VIP, join-token handling, and add-on manifests (K3s `HelmChart`
//! and `HelmChartConfig`, plus plain manifests for MetalLB pools, cert-manager issuers, Argo CD
//! ApplicationSets, External Secrets stores and Envoy Gateway) in the order they are applied.
//!
//! Everything here is pure: no cluster access, no clock, no randomness. The same lab and plan
//! give the same bytes. Secrets are never rendered: K3s reads its token from
//! [`TOKEN_FILE`], an external datastore's endpoint comes from a drop-in file apply writes, and
//! add-ons reference Kubernetes Secrets that apply creates from the lab's secret references
//! ([`RequiredSecret`]).
//!
//! [`render_lab`] puts it together with `labform-cloudinit` into the file tree `labform render`
//! writes: one folder per VM and one per cluster.
//!
//! The exceptions are [`cluster_api`], the client side of a running cluster's Kubernetes API
//! (readiness, node versions, cordon and drain, deleting an add-on's objects), [`kubeconfig`]
//! (kubeconfigs renamed after the cluster and merged into the user's file), and
//! [`distribution`], the trait every distribution that labform acts on implements
//! (`labform-k3s` for K3s) and the table the CLI dispatches through. The rendering modules stay
//! pure.

mod addons;
mod bundle;
pub mod cluster_api;
pub mod cluster_ca;
pub mod distribution;
mod error;
mod helm_controller;
mod k3s;
mod kube_vip;
pub mod kubeconfig;
mod manifest;
mod tenant_access;
mod token;

pub use addons::{AddonManifests, RequiredSecret, addon_manifests};
pub use bundle::{RenderedFile, render_lab, write_rendered};
pub use cluster_api::{ClusterApi, ClusterApiError};
pub use cluster_ca::{
    ClusterCa, ClusterCaError, SERVER_CA_CERT_FILE, SERVER_CA_KEY_FILE, cluster_ca, secure_token,
};
pub use distribution::{ClusterDistribution, Distributions};
pub use error::{KubeconfigError, RenderError};
pub use helm_controller::{
    HELM_CONTROLLER_IMAGE, HELM_CONTROLLER_NAMESPACE, HELM_CRDS, HELM_JOB_IMAGE,
    helm_controller_manifest,
};
pub use k3s::{K3sNodeConfig, NodeRole, k3s_node_configs};
pub use kube_vip::{KUBE_VIP_IMAGE, kube_vip_documents, kube_vip_static_pod};
pub use labform_addons::minio::password_key as minio_password_key;
pub use manifest::{ManifestFile, documents_to_yaml};
pub use tenant_access::TenantAccess;
pub use token::{
    DATASTORE_DROP_IN, TOKEN_FILE, cluster_token, datastore_drop_in, token_file_contents,
    token_store_key,
};
