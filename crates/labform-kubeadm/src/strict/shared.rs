//! The types every kubeadm configuration API shares, field for field the same in `v1beta2`,
//! `v1beta3` and `v1beta4` (and core Kubernetes' `Taint` and `EnvVar`, and the bootstrap
//! token of `bootstraptoken/v1`, which `v1beta2` declares itself with the same fields).
#![allow(
    dead_code,
    reason = "the fields are decoded to check a document's shape, never read"
)]

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// `APIEndpoint`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApiEndpoint {
    #[serde(rename = "advertiseAddress")]
    advertise_address: Option<String>,
    #[serde(rename = "bindPort")]
    bind_port: Option<i32>,
}

/// `Networking`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Networking {
    #[serde(rename = "serviceSubnet")]
    service_subnet: Option<String>,
    #[serde(rename = "podSubnet")]
    pod_subnet: Option<String>,
    #[serde(rename = "dnsDomain")]
    dns_domain: Option<String>,
}

/// `ExternalEtcd`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExternalEtcd {
    endpoints: Option<Vec<String>>,
    #[serde(rename = "caFile")]
    ca_file: Option<String>,
    #[serde(rename = "certFile")]
    cert_file: Option<String>,
    #[serde(rename = "keyFile")]
    key_file: Option<String>,
}

/// `JoinControlPlane`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JoinControlPlane {
    #[serde(rename = "localAPIEndpoint")]
    local_api_endpoint: Option<ApiEndpoint>,
    #[serde(rename = "certificateKey")]
    certificate_key: Option<String>,
}

/// `BootstrapTokenDiscovery`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BootstrapTokenDiscovery {
    token: Option<String>,
    #[serde(rename = "apiServerEndpoint")]
    api_server_endpoint: Option<String>,
    #[serde(rename = "caCertHashes")]
    ca_cert_hashes: Option<Vec<String>>,
    #[serde(rename = "unsafeSkipCAVerification")]
    unsafe_skip_ca_verification: Option<bool>,
}

/// `FileDiscovery`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileDiscovery {
    #[serde(rename = "kubeConfigPath")]
    kube_config_path: Option<String>,
}

/// `HostPathMount`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HostPathMount {
    name: Option<String>,
    #[serde(rename = "hostPath")]
    host_path: Option<String>,
    #[serde(rename = "mountPath")]
    mount_path: Option<String>,
    #[serde(rename = "readOnly")]
    read_only: Option<bool>,
    #[serde(rename = "pathType")]
    path_type: Option<String>,
}

/// `Patches` (`v1beta3` and later).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Patches {
    directory: Option<String>,
}

/// `BootstrapToken` (`bootstraptoken/v1`; `v1beta2`'s own has the same fields). The token is
/// a `BootstrapTokenString`, written as one string.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BootstrapToken {
    token: Option<String>,
    description: Option<String>,
    ttl: Option<String>,
    expires: Option<String>,
    usages: Option<Vec<String>>,
    groups: Option<Vec<String>>,
}

/// Core Kubernetes' `Taint`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Taint {
    key: Option<String>,
    value: Option<String>,
    effect: Option<String>,
    #[serde(rename = "timeAdded")]
    time_added: Option<String>,
}

/// Core Kubernetes' `EnvVar` (`v1beta4`'s `extraEnvs`); `valueFrom`, a core `EnvVarSource`,
/// is not taken apart.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EnvVar {
    name: Option<String>,
    value: Option<String>,
    #[serde(rename = "valueFrom")]
    value_from: Option<Value>,
}

/// Command-line arguments as `v1beta2` and `v1beta3` write them: a map of strings.
pub(super) type ArgumentMap = BTreeMap<String, String>;
