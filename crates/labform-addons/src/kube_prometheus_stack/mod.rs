//! kube-prometheus-stack: Prometheus (retention, optional persistent volume), Grafana (admin
//! password from a Secret apply makes), node exporter and Alertmanager.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::ClusterFacts;
use crate::output::{AddonError, Chart, Manifests, RequiredSecret, kubernetes_quantity};
use crate::registry::{Addon, AddonRendering, Addons};
use labform_ids::secret::SecretRef;
use labform_ids::size::ByteSize;

/// The chart version when the lab names none.
pub const DEFAULT_VERSION: &str = "66.3.1";

/// kube-prometheus-stack options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubePrometheusStack {
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Metrics retention (`15d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<String>,
    /// Persistent volume for Prometheus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<ByteSize>,
    /// Grafana admin password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana_admin_password: Option<SecretRef>,
}

impl Addon for KubePrometheusStack {
    fn namespace(&self) -> Option<&'static str> {
        Some("monitoring")
    }
}

impl AddonRendering for KubePrometheusStack {
    fn plan_line(&self, _: &ClusterFacts) -> String {
        format!(
            "Prometheus, Grafana, node exporter{}{}",
            self.retention
                .as_ref()
                .map(|retention| format!("; retention {retention}"))
                .unwrap_or_default(),
            self.storage
                .map(|size| format!("; {size} volume"))
                .unwrap_or_default()
        )
    }

    fn manifests(&self, _: &ClusterFacts, _: &Addons) -> Result<Manifests, AddonError> {
        let mut manifests = Manifests::default();
        let mut prometheus_spec = json!({"retention": self.retention.as_deref().unwrap_or("10d")});
        if let Some(storage) = self.storage {
            prometheus_spec["storageSpec"] = json!({"volumeClaimTemplate": {"spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": kubernetes_quantity(storage.bytes())}},
            }}});
        }
        let mut grafana = json!({});
        if let Some(password) = &self.grafana_admin_password {
            let secret = manifests.secret(RequiredSecret {
                namespace: "monitoring".to_owned(),
                name: "grafana-admin".to_owned(),
                key: "admin-password".to_owned(),
                from: password.clone(),
                literals: vec![("admin-user".to_owned(), "admin".to_owned())],
                labels: Vec::new(),
                purpose: "Grafana admin credentials".to_owned(),
            });
            grafana["admin"] = json!({
                "existingSecret": secret,
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            });
        }
        manifests.chart(Chart {
            name: "kube-prometheus-stack".to_owned(),
            chart: "kube-prometheus-stack".to_owned(),
            repo: Some("https://prometheus-community.github.io/helm-charts".to_owned()),
            version: self
                .version
                .as_deref()
                .unwrap_or(DEFAULT_VERSION)
                .to_owned(),
            namespace: "monitoring".to_owned(),
            values: json!({
                "prometheus": {"prometheusSpec": prometheus_spec},
                "grafana": grafana,
            }),
            bootstrap: false,
            comment: "Prometheus, Grafana, node exporter and Alertmanager.".to_owned(),
        });
        Ok(manifests)
    }
}
