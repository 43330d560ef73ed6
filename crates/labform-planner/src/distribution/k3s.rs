//! K3s in the plan: `servicelb` and `traefik` disabled where add-ons replace them, flannel off
//! with another CNI, and the steps from `cluster-init` on the first server to the agents.

use labform_model::lab::Datastore;

use super::{ClusterShape, DistributionPlan, GuestBoot, step};
use crate::plan::{ClusterStep, Cni, Distribution, DistributionSettings, K3sSettings};

/// K3s, which labform bootstraps.
pub(super) struct K3s;

impl K3s {
    fn settings_of(shape: &ClusterShape<'_>) -> K3sSettings {
        let declared = shape.declared;
        let mut disable = Vec::new();
        if declared.addons.metallb.is_some() {
            disable.push("servicelb".to_owned());
        }
        if declared.addons.traefik.is_none() {
            disable.push("traefik".to_owned());
        }
        let (flannel_backend, disable_network_policy) = match declared.cni {
            Cni::Flannel => ("vxlan", false),
            Cni::Calico | Cni::Cilium => ("none", true),
        };
        K3sSettings {
            disable,
            flannel_backend: flannel_backend.to_owned(),
            disable_network_policy,
        }
    }
}

impl DistributionPlan for K3s {
    fn kind(&self) -> Distribution {
        Distribution::K3s
    }

    fn bootstrap_automated(&self) -> bool {
        true
    }

    fn guest_boot(&self) -> GuestBoot {
        GuestBoot::CloudInit
    }

    fn leave_on_node(&self, _node: &str, _server: bool) -> Option<String> {
        None
    }

    fn leave_after_deletion(&self, server: bool) -> Option<&'static str> {
        Some(if server {
            "K3s's finalizers then remove its etcd member and its node password"
        } else {
            "K3s then removes its node password, so the new VM may register under the name"
        })
    }

    fn settings(&self, shape: &ClusterShape<'_>) -> DistributionSettings {
        DistributionSettings::K3s(Self::settings_of(shape))
    }

    fn bring_up_steps(&self, shape: &ClusterShape<'_>) -> Vec<ClusterStep> {
        let declared = shape.declared;
        let settings = Self::settings_of(shape);
        let (api, pod, service) = (shape.api, shape.pod, shape.service);
        let first = shape.servers.first().cloned();
        let cni = match declared.cni {
            Cni::Flannel => "flannel (vxlan)".to_owned(),
            other => format!("no flannel; {} installed after", other.as_str()),
        };
        let store = match &declared.datastore {
            Datastore::EmbeddedEtcd => "cluster-init (embedded etcd)",
            Datastore::Sqlite => "SQLite",
            Datastore::External(_) => "external datastore",
        };
        let mut steps = vec![step(
            format!(
                "install K3s {} with {store}; tls-san {api}; cluster-cidr {pod}, service-cidr {service}; CNI {cni}{}",
                shape.version,
                if settings.disable.is_empty() {
                    String::new()
                } else {
                    format!("; disable {}", settings.disable.join(", "))
                }
            ),
            first.clone(),
        )];
        if let Some(vip) = shape.vip {
            steps.push(step(
                format!(
                    "deploy kube-vip announcing API VIP {vip} by ARP on network `{}`",
                    shape.network
                ),
                first.clone(),
            ));
        }
        if declared.cni != Cni::Flannel {
            steps.push(step(
                format!("install {} for pod network {pod}", declared.cni.as_str()),
                first.clone(),
            ));
        }
        if shape.servers.len() > 1 {
            steps.push(step(
                format!("join servers through https://{api}:6443, one at a time"),
                Some(shape.servers[1..].join(", ")),
            ));
        }
        if !shape.agents.is_empty() {
            steps.push(step(
                format!("join agents through https://{api}:6443"),
                Some(shape.agents.join(", ")),
            ));
        }
        steps
    }
}
