//! Talos in the plan: its VMs boot Talos and take their machine configuration from their NoCloud
//! seed instead of cloud-init; labform brings the cluster up through the Talos API
//! (`labform-talos`). Its readiness is Talos's own service health; delivering the add-ons and
//! scheduling etcd snapshots on Talos clusters are not automated yet, and the plan says so.

use super::{ClusterShape, DistributionPlan, GuestBoot, SharedStep, step};
use crate::plan::{ClusterStep, Distribution, DistributionSettings};

/// Talos Linux.
pub(super) struct Talos;

impl DistributionPlan for Talos {
    fn kind(&self) -> Distribution {
        Distribution::Talos
    }

    fn bootstrap_automated(&self) -> bool {
        true
    }

    fn shared_step_automated(&self, step: SharedStep) -> bool {
        match step {
            SharedStep::Addon | SharedStep::EtcdSnapshots => false,
        }
    }

    fn guest_boot(&self) -> GuestBoot {
        GuestBoot::OwnConfiguration("talos")
    }

    fn settings(&self, _shape: &ClusterShape<'_>) -> DistributionSettings {
        DistributionSettings::Talos
    }

    fn bring_up_steps(&self, shape: &ClusterShape<'_>) -> Vec<ClusterStep> {
        let (api, pod, service) = (shape.api, shape.pod, shape.service);
        let first = shape.servers.first().cloned();
        let mut steps = vec![
            step(
                format!(
                    "Talos {} machine configs from the cluster's secrets bundle (endpoint https://{api}:6443, pods {pod}, services {service}), in each node's seed",
                    shape.version
                ),
                None,
            ),
            step(
                "apply control-plane configs through the Talos API where a node runs another (or none)".to_owned(),
                Some(shape.servers.join(", ")),
            ),
        ];
        if !shape.agents.is_empty() {
            steps.push(step(
                "apply worker configs the same way".to_owned(),
                Some(shape.agents.join(", ")),
            ));
        }
        steps.push(step(
            "bootstrap etcd once, unless it runs already".to_owned(),
            first,
        ));
        steps
    }

    fn readiness_step(&self, shape: &ClusterShape<'_>) -> String {
        format!(
            "wait until all {} nodes' apid and kubelet (and the control planes' etcd) are running and healthy (Talos API); then upgrade nodes running another Talos to {} one at a time, control planes first, each only while etcd keeps its quorum",
            shape.servers.len() + shape.agents.len(),
            shape.version
        )
    }
}
