//! Talos in the plan: its VMs boot Talos and take their machine configuration from their NoCloud
//! seed instead of cloud-init; labform brings the cluster up through the Talos API
//! (`labform-talos`). Its readiness is Talos's own service health; its add-ons go through the
//! Kubernetes API (the Helm controller first); its etcd snapshots are taken by a Kubernetes
//! CronJob per control plane calling the Talos API through Kubernetes Talos API access (role
//! `os:etcd:backup`), so the plan carries the schedule as a CronJob's.

pub mod schematic;

use labform_addons::NodeSoftware;

use self::schematic::Schematic;
use super::{ClusterShape, DistributionPlan, GuestBoot, step};
use crate::plan::{ClusterStep, Distribution, DistributionSettings, TalosSettings};

/// Talos Linux.
pub(super) struct Talos;

impl DistributionPlan for Talos {
    fn kind(&self) -> Distribution {
        Distribution::Talos
    }

    fn bootstrap_automated(&self) -> bool {
        true
    }

    fn etcd_snapshots_by_cron_job(&self) -> bool {
        true
    }

    fn etcd_snapshots_how(&self) -> Option<&'static str> {
        Some(
            "a CronJob per control plane runs `talosctl etcd snapshot` against its node through Kubernetes Talos API access with the role os:etcd:backup, keeping them in the node's /var/lib/etcd-snapshots",
        )
    }

    fn guest_boot(&self) -> GuestBoot {
        GuestBoot::OwnConfiguration("talos")
    }

    fn node_software(&self) -> NodeSoftware {
        // No package manager: what add-ons need on the host are system extensions of the
        // cluster's Image Factory schematic (`labform-talos`).
        NodeSoftware::ImageExtensions
    }

    fn recreated_first_server_joins(&self) -> bool {
        // etcd is bootstrapped only where it runs nowhere; a new first control plane joins it.
        true
    }

    fn leave_on_node(&self, node: &str, server: bool) -> Option<String> {
        Some(if server {
            format!("reset {node} through the Talos API, leaving etcd first")
        } else {
            format!("reset {node} through the Talos API")
        })
    }

    fn settings(&self, shape: &ClusterShape<'_>) -> DistributionSettings {
        let schematic = Schematic::of_cluster(shape.declared);
        DistributionSettings::Talos(TalosSettings {
            kubernetes_version: shape.declared.kubernetes_version.clone(),
            schematic: schematic.id(),
            system_extensions: schematic.extensions().to_vec(),
            installer_image: schematic.installer_image(shape.version),
            kubelet_host_directories: shape
                .declared
                .addons
                .kubelet_host_directories()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        })
    }

    fn bring_up_steps(&self, shape: &ClusterShape<'_>) -> Vec<ClusterStep> {
        let (api, pod, service) = (shape.api, shape.pod, shape.service);
        let first = shape.servers.first().cloned();
        let schematic = Schematic::of_cluster(shape.declared);
        let mut steps = vec![
            step(
                format!(
                    "Talos {} machine configs ({}) from the cluster's secrets bundle (endpoint https://{api}:6443, pods {pod}, services {service}), in each node's seed; the nodes' image and the installer the configs name are of Image Factory schematic {} ({})",
                    shape.version,
                    match &shape.declared.kubernetes_version {
                        Some(kubernetes) => format!("kubelet and control-plane images of Kubernetes {kubernetes}"),
                        None => "Kubernetes of the Talos release's default".to_owned(),
                    },
                    schematic.id(),
                    schematic.extensions().join(", "),
                ),
                None,
            ),
            step(
                "apply control-plane configs through the Talos API where a node runs another (or none); on a running cluster one node at a time, each only while etcd keeps its quorum without it, waiting for its health (a Kubernetes upgrade, the Talos way)".to_owned(),
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
