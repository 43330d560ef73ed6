//! HashiCorp Vault with raft storage: standalone with one replica, HA with more. Initialising
//! and unsealing it is left to people (labform never holds its unseal keys).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::ClusterFacts;
use crate::output::{AddonError, Chart, Manifests, kubernetes_quantity};
use crate::registry::{Addon, AddonRendering, Addons};
use labform_ids::size::ByteSize;

/// The chart version when the lab names none.
pub const DEFAULT_VERSION: &str = "0.29.1";

/// Vault's address inside the cluster, for an External Secrets store on the same cluster.
pub const IN_CLUSTER_ADDRESS: &str = "http://vault.vault.svc:8200";

/// Vault options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vault {
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Raft storage size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<ByteSize>,
    /// HA replicas (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

impl Addon for Vault {
    fn namespace(&self) -> Option<&'static str> {
        Some("vault")
    }
}

impl AddonRendering for Vault {
    fn plan_line(&self, _: &ClusterFacts) -> String {
        format!(
            "{} replica(s), raft storage{}",
            self.replicas.unwrap_or(1),
            self.storage
                .map(|size| format!(" {size}"))
                .unwrap_or_default()
        )
    }

    fn manifests(&self, _: &ClusterFacts, _: &Addons) -> Result<Manifests, AddonError> {
        let replicas = self.replicas.unwrap_or(1);
        let mut server = json!({
            "dataStorage": {"enabled": true, "size": self.storage.map_or("10Gi".to_owned(), |size| kubernetes_quantity(size.bytes()))},
        });
        if replicas > 1 {
            server["ha"] =
                json!({"enabled": true, "replicas": replicas, "raft": {"enabled": true}});
        } else {
            server["standalone"] = json!({"enabled": true});
        }
        let mut manifests = Manifests::default();
        manifests.chart(Chart {
            name: "vault".to_owned(),
            chart: "vault".to_owned(),
            repo: Some("https://helm.releases.hashicorp.com".to_owned()),
            version: self.version.as_deref().unwrap_or(DEFAULT_VERSION).to_owned(),
            namespace: "vault".to_owned(),
            values: json!({"server": server}),
            bootstrap: false,
            comment: format!(
                "HashiCorp Vault, {replicas} replica(s); initialising and unsealing it is a later step."
            ),
        });
        Ok(manifests)
    }
}
