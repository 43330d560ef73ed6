//! `kubelet.config.k8s.io/v1beta1` `KubeletConfiguration`, which kubeadm hands to every kubelet
//! of the cluster. labform writes one for every Kubernetes version it forms, so a field is
//! accepted only when both ends read it: the newest kubelet's type (kubernetes/kubernetes
//! `staging/src/k8s.io/kubelet/config/v1beta1/types.go`) has it and the v1.20.2 kubelet of
//! `../shared/k8s` carries its JSON tag (`tests/real_kubeadm.rs` checks that against the
//! binary). The top-level fields and `authentication` and `authorization` are checked; the
//! values of the other nested objects (`logging` among them) are not taken apart.
#![allow(
    dead_code,
    reason = "the fields are decoded to check a document's shape, never read"
)]

use serde::Deserialize;
use serde_json::Value;

/// The top-level fields every kubelet labform runs (v1.20 and later) reads, `apiVersion` and
/// `kind` last.
pub const FIELDS: [&str; 96] = [
    "enableServer",
    "staticPodPath",
    "syncFrequency",
    "fileCheckFrequency",
    "httpCheckFrequency",
    "staticPodURL",
    "staticPodURLHeader",
    "address",
    "port",
    "readOnlyPort",
    "tlsCertFile",
    "tlsPrivateKeyFile",
    "tlsCipherSuites",
    "tlsMinVersion",
    "rotateCertificates",
    "serverTLSBootstrap",
    "authentication",
    "authorization",
    "registryPullQPS",
    "registryBurst",
    "eventRecordQPS",
    "eventBurst",
    "enableDebuggingHandlers",
    "enableContentionProfiling",
    "healthzPort",
    "healthzBindAddress",
    "oomScoreAdj",
    "clusterDomain",
    "clusterDNS",
    "streamingConnectionIdleTimeout",
    "nodeStatusUpdateFrequency",
    "nodeStatusReportFrequency",
    "nodeLeaseDurationSeconds",
    "imageMinimumGCAge",
    "imageGCHighThresholdPercent",
    "imageGCLowThresholdPercent",
    "volumeStatsAggPeriod",
    "kubeletCgroups",
    "systemCgroups",
    "cgroupRoot",
    "cgroupsPerQOS",
    "cgroupDriver",
    "cpuManagerPolicy",
    "cpuManagerReconcilePeriod",
    "topologyManagerPolicy",
    "topologyManagerScope",
    "qosReserved",
    "runtimeRequestTimeout",
    "hairpinMode",
    "maxPods",
    "podCIDR",
    "podPidsLimit",
    "resolvConf",
    "runOnce",
    "cpuCFSQuota",
    "cpuCFSQuotaPeriod",
    "nodeStatusMaxImages",
    "maxOpenFiles",
    "contentType",
    "kubeAPIQPS",
    "kubeAPIBurst",
    "serializeImagePulls",
    "evictionHard",
    "evictionSoft",
    "evictionSoftGracePeriod",
    "evictionPressureTransitionPeriod",
    "evictionMaxPodGracePeriod",
    "evictionMinimumReclaim",
    "podsPerCore",
    "enableControllerAttachDetach",
    "protectKernelDefaults",
    "makeIPTablesUtilChains",
    "iptablesMasqueradeBit",
    "iptablesDropBit",
    "featureGates",
    "failSwapOn",
    "containerLogMaxSize",
    "containerLogMaxFiles",
    "configMapAndSecretChangeDetectionStrategy",
    "systemReserved",
    "kubeReserved",
    "reservedSystemCPUs",
    "showHiddenMetricsForVersion",
    "systemReservedCgroup",
    "kubeReservedCgroup",
    "enforceNodeAllocatable",
    "allowedUnsafeSysctls",
    "volumePluginDir",
    "providerID",
    "kernelMemcgNotification",
    "logging",
    "enableSystemLogHandler",
    "shutdownGracePeriod",
    "shutdownGracePeriodCriticalPods",
    "apiVersion",
    "kind",
];

/// The fields of `authentication` and `authorization` (the types below).
pub const NESTED_FIELDS: [&str; 9] = [
    "x509",
    "webhook",
    "anonymous",
    "clientCAFile",
    "enabled",
    "cacheTTL",
    "mode",
    "cacheAuthorizedTTL",
    "cacheUnauthorizedTTL",
];

/// `KubeletAuthentication`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Authentication {
    x509: Option<X509Authentication>,
    webhook: Option<WebhookAuthentication>,
    anonymous: Option<AnonymousAuthentication>,
}

/// `KubeletX509Authentication`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct X509Authentication {
    #[serde(rename = "clientCAFile")]
    client_ca_file: Option<String>,
}

/// `KubeletWebhookAuthentication`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookAuthentication {
    enabled: Option<bool>,
    #[serde(rename = "cacheTTL")]
    cache_ttl: Option<String>,
}

/// `KubeletAnonymousAuthentication`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnonymousAuthentication {
    enabled: Option<bool>,
}

/// `KubeletAuthorization`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Authorization {
    mode: Option<String>,
    webhook: Option<WebhookAuthorization>,
}

/// `KubeletWebhookAuthorization`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookAuthorization {
    #[serde(rename = "cacheAuthorizedTTL")]
    cache_authorized_ttl: Option<String>,
    #[serde(rename = "cacheUnauthorizedTTL")]
    cache_unauthorized_ttl: Option<String>,
}

/// Checks a `KubeletConfiguration` document.
pub(super) fn check(document: &Value) -> Result<(), String> {
    let fields = document
        .as_object()
        .ok_or_else(|| "not a mapping".to_owned())?;
    for name in fields.keys() {
        if !FIELDS.contains(&name.as_str()) {
            return Err(format!(
                "unknown field `{name}`: not a field every kubelet labform runs (v1.20 and later) reads"
            ));
        }
    }
    if let Some(authentication) = fields.get("authentication") {
        serde_json::from_value::<Authentication>(authentication.clone())
            .map_err(|error| format!("authentication: {error}"))?;
    }
    if let Some(authorization) = fields.get("authorization") {
        serde_json::from_value::<Authorization>(authorization.clone())
            .map_err(|error| format!("authorization: {error}"))?;
    }
    Ok(())
}
