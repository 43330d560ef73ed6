//! GitLab (community edition) behind the cluster's ingress, its certificates from the first
//! cert-manager issuer; the initial root password from a Secret apply makes. Tenants' groups are
//! named in the plan; their accounts are not made by labform (GitLab's API needs its root token).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::{CheckContext, ClusterFacts};
use crate::output::{AddonError, Chart, Manifests, RequiredSecret};
use crate::problem::{Problem, ProblemPath};
use crate::registry::{Addon, AddonRendering, Addons};
use labform_ids::secret::SecretRef;

/// The chart version when the lab names none.
pub const DEFAULT_VERSION: &str = "8.7.2";

/// GitLab options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gitlab {
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The domain GitLab is served under (`gitlab.lab.example`).
    pub domain: String,
    /// Root password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_password: Option<SecretRef>,
}

impl Addon for Gitlab {
    fn namespace(&self) -> Option<&'static str> {
        Some("gitlab")
    }

    fn publishes_load_balancer(&self) -> bool {
        true
    }

    fn check(&self, at: &ProblemPath, context: &CheckContext<'_>) -> Vec<Problem> {
        if context.packaged_ingress || context.addons.provide_ingress() {
            return Vec::new();
        }
        vec![
            Problem::new("addon-dependency", at.clone(), "GitLab needs an ingress")
                .hint("add `traefik: {}` or `envoy_gateway: {}`"),
        ]
    }
}

impl AddonRendering for Gitlab {
    fn plan_line(&self, facts: &ClusterFacts) -> String {
        let tenants: Vec<&str> = facts
            .tenants
            .iter()
            .map(|tenant| tenant.tenant.as_str())
            .collect();
        format!(
            "at {}{}",
            self.domain,
            if tenants.is_empty() {
                String::new()
            } else {
                format!("; groups for tenants {}", tenants.join(", "))
            }
        )
    }

    fn manifests(&self, _: &ClusterFacts, addons: &Addons) -> Result<Manifests, AddonError> {
        let mut manifests = Manifests::default();
        let parent = self
            .domain
            .split_once('.')
            .map_or(self.domain.as_str(), |(_, parent)| parent);
        let mut ingress = json!({"configureCertmanager": false});
        if addons.traefik.is_some() {
            ingress["class"] = json!("traefik");
        }
        if let Some(issuer) = addons
            .cert_manager
            .as_ref()
            .and_then(|cert_manager| cert_manager.issuers.first())
        {
            ingress["annotations"] = json!({"cert-manager.io/cluster-issuer": issuer.name});
        }
        let mut global = json!({
            "edition": "ce",
            "hosts": {"domain": parent, "gitlab": {"name": self.domain}},
            "ingress": ingress,
        });
        if let Some(password) = &self.root_password {
            let secret = manifests.secret(RequiredSecret {
                namespace: "gitlab".to_owned(),
                name: "gitlab-initial-root-password".to_owned(),
                key: "password".to_owned(),
                from: password.clone(),
                literals: Vec::new(),
                labels: Vec::new(),
                purpose: "GitLab initial root password".to_owned(),
            });
            global["initialRootPassword"] = json!({"secret": secret, "key": "password"});
        }
        manifests.chart(Chart {
            name: "gitlab".to_owned(),
            chart: "gitlab".to_owned(),
            repo: Some("https://charts.gitlab.io/".to_owned()),
            version: self
                .version
                .as_deref()
                .unwrap_or(DEFAULT_VERSION)
                .to_owned(),
            namespace: "gitlab".to_owned(),
            values: json!({
                "global": global,
                "installCertmanager": false,
                "nginx-ingress": {"enabled": false},
                "gitlab-runner": {"install": false},
            }),
            bootstrap: false,
            comment: format!("GitLab at {}, behind the cluster's ingress.", self.domain),
        });
        Ok(manifests)
    }
}
