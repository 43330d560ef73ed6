//! The Tailscale Kubernetes operator: private services on the tailnet. Its OAuth client is the
//! Secret `tailscale/operator-oauth`, made by apply from the lab's references.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::ClusterFacts;
use crate::output::{AddonError, Chart, Manifests, RequiredSecret};
use crate::registry::{Addon, AddonRendering, Addons};
use labform_ids::secret::SecretRef;

/// The chart version when the lab names none.
pub const DEFAULT_VERSION: &str = "1.78.3";

/// Tailscale operator options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TailscaleOperator {
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// OAuth client ID.
    pub oauth_client_id: SecretRef,
    /// OAuth client secret.
    pub oauth_client_secret: SecretRef,
}

impl Addon for TailscaleOperator {
    fn namespace(&self) -> Option<&'static str> {
        Some("tailscale")
    }
}

impl AddonRendering for TailscaleOperator {
    fn plan_line(&self, _: &ClusterFacts) -> String {
        "private services on the tailnet".to_owned()
    }

    fn manifests(&self, _: &ClusterFacts, _: &Addons) -> Result<Manifests, AddonError> {
        let mut manifests = Manifests::default();
        manifests.secret(RequiredSecret {
            namespace: "tailscale".to_owned(),
            name: "operator-oauth".to_owned(),
            key: "client_secret".to_owned(),
            from: self.oauth_client_secret.clone(),
            literals: Vec::new(),
            labels: Vec::new(),
            purpose: format!(
                "Tailscale operator OAuth client (client_id from {})",
                self.oauth_client_id
            ),
        });
        manifests.chart(Chart {
            name: "tailscale-operator".to_owned(),
            chart: "tailscale-operator".to_owned(),
            repo: Some("https://pkgs.tailscale.com/helmcharts".to_owned()),
            version: self.version.as_deref().unwrap_or(DEFAULT_VERSION).to_owned(),
            namespace: "tailscale".to_owned(),
            values: json!({}),
            bootstrap: false,
            comment: "Tailscale operator; it reads its OAuth client from the Secret tailscale/operator-oauth (client_id, client_secret), created by apply.".to_owned(),
        });
        Ok(manifests)
    }
}
