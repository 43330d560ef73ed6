//! Traefik, the ingress controller K3s ships: the add-on sets the shipped chart's values (its
//! service type, the dashboard, and a dedicated MetalLB address when one is reserved for
//! `kube-system/traefik`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::ClusterFacts;
use crate::output::{AddonError, ChartValues, ManifestPart, Manifests};
use crate::registry::{Addon, AddonRendering, Addons};

/// How the add-on is published outside the cluster.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum ServiceType {
    /// A LoadBalancer service (MetalLB or K3s servicelb gives it an address).
    #[default]
    LoadBalancer,
    /// A NodePort service.
    NodePort,
    /// Only inside the cluster.
    ClusterIP,
}

/// Traefik options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Traefik {
    /// Service type (default LoadBalancer).
    #[serde(default)]
    pub service_type: ServiceType,
    /// Expose the dashboard.
    #[serde(default)]
    pub dashboard: bool,
}

/// The service whose MetalLB reservation Traefik's service takes.
const SERVICE: &str = "kube-system/traefik";

impl Addon for Traefik {
    fn namespace(&self) -> Option<&'static str> {
        None
    }

    fn publishes_load_balancer(&self) -> bool {
        self.service_type == ServiceType::LoadBalancer
    }

    fn provides_ingress(&self) -> bool {
        true
    }
}

impl AddonRendering for Traefik {
    fn plan_line(&self, _: &ClusterFacts) -> String {
        format!(
            "{:?} service{}",
            self.service_type,
            if self.dashboard { ", dashboard" } else { "" }
        )
    }

    fn manifests(&self, _: &ClusterFacts, addons: &Addons) -> Result<Manifests, AddonError> {
        let mut service = json!({"type": match self.service_type {
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::NodePort => "NodePort",
            ServiceType::ClusterIP => "ClusterIP",
        }});
        if let Some(address) = addons
            .metallb
            .as_ref()
            .and_then(|metallb| metallb.reserved_for(SERVICE))
        {
            service["annotations"] = json!({"metallb.io/loadBalancerIPs": address.to_string()});
        }
        Ok(Manifests {
            parts: vec![ManifestPart::ChartValues(ChartValues {
                name: "traefik".to_owned(),
                values: json!({
                    "service": service,
                    "ingressRoute": {"dashboard": {"enabled": self.dashboard}},
                }),
                comment: "K3s ships Traefik; this HelmChartConfig sets its values.".to_owned(),
            })],
            secrets: Vec::new(),
        })
    }
}
