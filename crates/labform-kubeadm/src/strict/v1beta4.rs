//! `kubeadm.k8s.io/v1beta4` (kubeadm 1.31 and later), from `../shared/kubeadm/v1beta4/types.go`:
//! arguments as lists of `{name, value}`, `extraEnvs`, the waits in `timeouts` (no
//! `apiServer.timeoutForControlPlane` or `discovery.timeout`), `dryRun`, `dns.disabled`,
//! `proxy`, `encryptionAlgorithm`, certificate validity periods and `imagePullSerial`.
#![allow(
    dead_code,
    reason = "the fields are decoded to check a document's shape, never read"
)]

use std::collections::BTreeMap;

use serde::Deserialize;

use super::shared::{
    ApiEndpoint, BootstrapToken, BootstrapTokenDiscovery, EnvVar, ExternalEtcd, FileDiscovery,
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
    #[serde(rename = "dryRun")]
    dry_run: Option<bool>,
    #[serde(rename = "nodeRegistration")]
    node_registration: Option<NodeRegistrationOptions>,
    #[serde(rename = "localAPIEndpoint")]
    local_api_endpoint: Option<ApiEndpoint>,
    #[serde(rename = "certificateKey")]
    certificate_key: Option<String>,
    #[serde(rename = "skipPhases")]
    skip_phases: Option<Vec<String>>,
    patches: Option<Patches>,
    timeouts: Option<Timeouts>,
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
    proxy: Option<Proxy>,
    #[serde(rename = "certificatesDir")]
    certificates_dir: Option<String>,
    #[serde(rename = "imageRepository")]
    image_repository: Option<String>,
    #[serde(rename = "featureGates")]
    feature_gates: Option<BTreeMap<String, bool>>,
    #[serde(rename = "clusterName")]
    cluster_name: Option<String>,
    #[serde(rename = "encryptionAlgorithm")]
    encryption_algorithm: Option<String>,
    #[serde(rename = "certificateValidityPeriod")]
    certificate_validity_period: Option<String>,
    #[serde(rename = "caCertificateValidityPeriod")]
    ca_certificate_validity_period: Option<String>,
}

/// `ControlPlaneComponent`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ControlPlaneComponent {
    #[serde(rename = "extraArgs")]
    extra_arguments: Option<Vec<Argument>>,
    #[serde(rename = "extraVolumes")]
    extra_volumes: Option<Vec<HostPathMount>>,
    #[serde(rename = "extraEnvs")]
    extra_environment: Option<Vec<EnvVar>>,
}

/// `APIServer` (`ControlPlaneComponent` inline).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApiServer {
    #[serde(rename = "extraArgs")]
    extra_arguments: Option<Vec<Argument>>,
    #[serde(rename = "extraVolumes")]
    extra_volumes: Option<Vec<HostPathMount>>,
    #[serde(rename = "extraEnvs")]
    extra_environment: Option<Vec<EnvVar>>,
    #[serde(rename = "certSANs")]
    cert_sans: Option<Vec<String>>,
}

/// `DNS` (`ImageMeta` inline).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Dns {
    #[serde(rename = "imageRepository")]
    image_repository: Option<String>,
    #[serde(rename = "imageTag")]
    image_tag: Option<String>,
    disabled: Option<bool>,
}

/// `Proxy`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Proxy {
    disabled: Option<bool>,
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
    kubelet_extra_arguments: Option<Vec<Argument>>,
    #[serde(rename = "ignorePreflightErrors")]
    ignore_preflight_errors: Option<Vec<String>>,
    #[serde(rename = "imagePullPolicy")]
    image_pull_policy: Option<String>,
    #[serde(rename = "imagePullSerial")]
    image_pull_serial: Option<bool>,
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
    extra_arguments: Option<Vec<Argument>>,
    #[serde(rename = "extraEnvs")]
    extra_environment: Option<Vec<EnvVar>>,
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
    #[serde(rename = "dryRun")]
    dry_run: Option<bool>,
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
    timeouts: Option<Timeouts>,
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
}

/// `Arg`: one command-line argument.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Argument {
    name: Option<String>,
    value: Option<String>,
}

/// `Timeouts`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Timeouts {
    #[serde(rename = "controlPlaneComponentHealthCheck")]
    control_plane_component_health_check: Option<String>,
    #[serde(rename = "kubeletHealthCheck")]
    kubelet_health_check: Option<String>,
    #[serde(rename = "kubernetesAPICall")]
    kubernetes_api_call: Option<String>,
    #[serde(rename = "etcdAPICall")]
    etcd_api_call: Option<String>,
    #[serde(rename = "tlsBootstrap")]
    tls_bootstrap: Option<String>,
    discovery: Option<String>,
    #[serde(rename = "upgradeManifests")]
    upgrade_manifests: Option<String>,
}
