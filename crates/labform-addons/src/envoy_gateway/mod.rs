//! Envoy Gateway with the Gateway API CRDs, and the one public Gateway routes of any namespace
//! attach to (for `*.DOMAIN` when the lab names a domain).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::ClusterFacts;
use crate::output::{AddonError, Chart, Manifests};
use crate::registry::{Addon, AddonRendering, Addons};

/// The chart version when the lab names none.
pub const DEFAULT_VERSION: &str = "v1.2.4";

/// Envoy Gateway options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvoyGateway {
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Public hostname suffix routed through the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

impl Addon for EnvoyGateway {
    fn namespace(&self) -> Option<&'static str> {
        Some("envoy-gateway-system")
    }

    fn publishes_load_balancer(&self) -> bool {
        true
    }

    fn provides_ingress(&self) -> bool {
        true
    }
}

impl AddonRendering for EnvoyGateway {
    fn plan_line(&self, _: &ClusterFacts) -> String {
        format!(
            "Gateway API{}",
            self.domain
                .as_ref()
                .map(|domain| format!(" for *.{domain}"))
                .unwrap_or_default()
        )
    }

    fn manifests(&self, _: &ClusterFacts, _: &Addons) -> Result<Manifests, AddonError> {
        let mut manifests = Manifests::default();
        manifests.chart(Chart {
            name: "envoy-gateway".to_owned(),
            chart: "oci://docker.io/envoyproxy/gateway-helm".to_owned(),
            repo: None,
            version: self
                .version
                .as_deref()
                .unwrap_or(DEFAULT_VERSION)
                .to_owned(),
            namespace: "envoy-gateway-system".to_owned(),
            values: json!({}),
            bootstrap: false,
            comment:
                "Envoy Gateway with the Gateway API CRDs; the GatewayClass and Gateway follow."
                    .to_owned(),
        });
        let mut listener = json!({
            "name": "http",
            "protocol": "HTTP",
            "port": 80,
            "allowedRoutes": {"namespaces": {"from": "All"}},
        });
        if let Some(domain) = &self.domain {
            listener["hostname"] = json!(format!("*.{domain}"));
        }
        manifests.objects(
            "envoy-gateway-gateway",
            vec!["The public Gateway; routes in any namespace attach to it.".to_owned()],
            vec![
                json!({
                    "apiVersion": "gateway.networking.k8s.io/v1",
                    "kind": "GatewayClass",
                    "metadata": {"name": "envoy"},
                    "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
                }),
                json!({
                    "apiVersion": "gateway.networking.k8s.io/v1",
                    "kind": "Gateway",
                    "metadata": {"name": "public", "namespace": "envoy-gateway-system"},
                    "spec": {"gatewayClassName": "envoy", "listeners": [listener]},
                }),
            ],
        );
        Ok(manifests)
    }
}
