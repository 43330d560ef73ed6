//! `kubeadm.k8s.io/v1beta3` (kubeadm 1.22 to 1.30), from `../shared/kubeadm/v1beta3/types.go`:
//! `v1beta2` without `dns.type` and `useHyperKubeImage`, with `skipPhases`, `patches` and
//! `nodeRegistration.imagePullPolicy`, the bootstrap tokens of `bootstraptoken/v1`.
#![allow(
    dead_code,
    reason = "the fields are decoded to check a document's shape, never read"
)]

use std::collections::BTreeMap;

use serde::Deserialize;

use super::shared::{
    ApiEndpoint, ArgumentMap, BootstrapToken, BootstrapTokenDiscovery, ExternalEtcd, FileDiscovery,
    HostPathMount, JoinControlPlane, Networking, Patches, Taint,
};

/// `InitConfiguration`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InitConfiguration {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(rename = "bootstrapTokens")]
    bootstrap_tokens: Option<Vec<BootstrapToken>>,
    #[serde(rename = "nodeRegistration")]
    node_registration: Option<NodeRegistrationOptions>,
    #[serde(rename = "localAPIEndpoint")]
    local_api_endpoint: Option<ApiEndpoint>,
    #[serde(rename = "certificateKey")]
    certificate_key: Option<String>,
    #[serde(rename = "skipPhases")]
    skip_phases: Option<Vec<String>>,
    patches: Option<Patches>,
}

/// `ClusterConfiguration`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClusterConfiguration {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
    etcd: Option<Etcd>,
    networking: Option<Networking>,
    #[serde(rename = "kubernetesVersion")]
    kubernetes_version: Option<String>,
    #[serde(rename = "controlPlaneEndpoint")]
    control_plane_endpoint: Option<String>,
    #[serde(rename = "apiServer")]
    api_server: Option<ApiServer>,
    #[serde(rename = "controllerManager")]
    controller_manager: Option<ControlPlaneComponent>,
    scheduler: Option<ControlPlaneComponent>,
    dns: Option<Dns>,
    #[serde(rename = "certificatesDir")]
    certificates_dir: Option<String>,
    #[serde(rename = "imageRepository")]
    image_repository: Option<String>,
    #[serde(rename = "featureGates")]
    feature_gates: Option<BTreeMap<String, bool>>,
    #[serde(rename = "clusterName")]
    cluster_name: Option<String>,
}

/// `ControlPlaneComponent`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ControlPlaneComponent {
    #[serde(rename = "extraArgs")]
    extra_arguments: Option<ArgumentMap>,
    #[serde(rename = "extraVolumes")]
    extra_volumes: Option<Vec<HostPathMount>>,
}

/// `APIServer` (`ControlPlaneComponent` inline).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApiServer {
    #[serde(rename = "extraArgs")]
    extra_arguments: Option<ArgumentMap>,
    #[serde(rename = "extraVolumes")]
    extra_volumes: Option<Vec<HostPathMount>>,
    #[serde(rename = "certSANs")]
    cert_sans: Option<Vec<String>>,
    #[serde(rename = "timeoutForControlPlane")]
    timeout_for_control_plane: Option<String>,
}

/// `DNS` (`ImageMeta` inline).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Dns {
    #[serde(rename = "imageRepository")]
    image_repository: Option<String>,
    #[serde(rename = "imageTag")]
    image_tag: Option<String>,
}

/// `NodeRegistrationOptions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NodeRegistrationOptions {
    name: Option<String>,
    #[serde(rename = "criSocket")]
    cri_socket: Option<String>,
    taints: Option<Vec<Taint>>,
    #[serde(rename = "kubeletExtraArgs")]
    kubelet_extra_arguments: Option<ArgumentMap>,
    #[serde(rename = "ignorePreflightErrors")]
    ignore_preflight_errors: Option<Vec<String>>,
    #[serde(rename = "imagePullPolicy")]
    image_pull_policy: Option<String>,
}

/// `Etcd`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Etcd {
    local: Option<LocalEtcd>,
    external: Option<ExternalEtcd>,
}

/// `LocalEtcd` (`ImageMeta` inline).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LocalEtcd {
    #[serde(rename = "imageRepository")]
    image_repository: Option<String>,
    #[serde(rename = "imageTag")]
    image_tag: Option<String>,
    #[serde(rename = "dataDir")]
    data_directory: Option<String>,
    #[serde(rename = "extraArgs")]
    extra_arguments: Option<ArgumentMap>,
    #[serde(rename = "serverCertSANs")]
    server_cert_sans: Option<Vec<String>>,
    #[serde(rename = "peerCertSANs")]
    peer_cert_sans: Option<Vec<String>>,
}

/// `JoinConfiguration`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JoinConfiguration {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(rename = "nodeRegistration")]
    node_registration: Option<NodeRegistrationOptions>,
    #[serde(rename = "caCertPath")]
    ca_cert_path: Option<String>,
    discovery: Option<Discovery>,
    #[serde(rename = "controlPlane")]
    control_plane: Option<JoinControlPlane>,
    #[serde(rename = "skipPhases")]
    skip_phases: Option<Vec<String>>,
    patches: Option<Patches>,
}

/// `Discovery`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Discovery {
    #[serde(rename = "bootstrapToken")]
    bootstrap_token: Option<BootstrapTokenDiscovery>,
    file: Option<FileDiscovery>,
    #[serde(rename = "tlsBootstrapToken")]
    tls_bootstrap_token: Option<String>,
    timeout: Option<String>,
}
