//! kubeadm in the plan: planned, not bootstrapped by labform yet; its steps say what a person
//! (or a later labform) does.

use super::{ClusterShape, DistributionPlan, GuestBoot, step};
use crate::plan::{ClusterStep, Distribution, DistributionSettings};

/// Upstream Kubernetes with kubeadm.
pub(super) struct Kubeadm;

impl DistributionPlan for Kubeadm {
    fn kind(&self) -> Distribution {
        Distribution::Kubeadm
    }

    fn bootstrap_automated(&self) -> bool {
        false
    }

    fn guest_boot(&self) -> GuestBoot {
        GuestBoot::CloudInit
    }

    fn settings(&self, _shape: &ClusterShape<'_>) -> DistributionSettings {
        DistributionSettings::Kubeadm
    }

    fn bring_up_steps(&self, shape: &ClusterShape<'_>) -> Vec<ClusterStep> {
        let (api, pod, service) = (shape.api, shape.pod, shape.service);
        let first = shape.servers.first().cloned();
        let mut steps = vec![
            step(
                format!(
                    "cloud-init installs containerd and kubeadm {} (not automated by labform yet)",
                    shape.version
                ),
                None,
            ),
            step(
                format!(
                    "kubeadm init with control-plane endpoint {api}:6443, pod network {pod}, service network {service}"
                ),
                first.clone(),
            ),
            step(
                format!(
                    "install {} for pod network {pod}",
                    shape.declared.cni.as_str()
                ),
                first,
            ),
        ];
        if shape.servers.len() > 1 {
            steps.push(step(
                "kubeadm join --control-plane".to_owned(),
                Some(shape.servers[1..].join(", ")),
            ));
        }
        if !shape.agents.is_empty() {
            steps.push(step(
                "kubeadm join".to_owned(),
                Some(shape.agents.join(", ")),
            ));
        }
        steps
    }
}
