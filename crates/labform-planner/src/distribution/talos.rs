//! Talos in the plan: its VMs boot Talos and take a machine configuration instead of cloud-init;
//! planned, not bootstrapped by labform yet.

use super::{ClusterShape, DistributionPlan, GuestBoot, step};
use crate::plan::{ClusterStep, Distribution, DistributionSettings};

/// Talos Linux.
pub(super) struct Talos;

impl DistributionPlan for Talos {
    fn kind(&self) -> Distribution {
        Distribution::Talos
    }

    fn bootstrap_automated(&self) -> bool {
        false
    }

    fn guest_boot(&self) -> GuestBoot {
        GuestBoot::OwnConfiguration("talos")
    }

    fn settings(&self, _shape: &ClusterShape<'_>) -> DistributionSettings {
        DistributionSettings::Talos
    }

    fn bring_up_steps(&self, shape: &ClusterShape<'_>) -> Vec<ClusterStep> {
        let (api, pod, service) = (shape.api, shape.pod, shape.service);
        let mut steps = vec![
            step(
                format!(
                    "generate Talos {} machine configs (endpoint https://{api}:6443, pods {pod}, services {service})",
                    shape.version
                ),
                None,
            ),
            step(
                "apply control-plane configs; talosctl bootstrap on the first".to_owned(),
                Some(shape.servers.join(", ")),
            ),
        ];
        if !shape.agents.is_empty() {
            steps.push(step(
                "apply worker configs".to_owned(),
                Some(shape.agents.join(", ")),
            ));
        }
        steps
    }
}
