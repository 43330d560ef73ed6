//! The pure side of the distribution seam: what the planner asks of a Kubernetes distribution.
//!
//! Each distribution has one module here implementing [`DistributionPlan`]: whether labform
//! bootstraps it, how its guests are configured at first boot, the settings only it reads
//! ([`DistributionSettings`]) and the steps that bring a cluster of it up, as the plan shows
//! them. [`distribution_plan`] is the table keyed by [`Distribution`].
//!
//! The side that acts (install, join, upgrade, reset, readiness, kubeconfig, drift over SSH and
//! the Kubernetes API) is `labform_kubernetes::distribution::ClusterDistribution`, implemented
//! outside the planner (K3s by `labform-k3s`); this crate stays pure.

mod k3s;
mod kubeadm;
mod talos;

pub use talos::schematic as talos_schematic;

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use labform_addons::NodeSoftware;
use labform_model::lab::Cluster;

use crate::plan::{ClusterStep, Distribution, DistributionSettings};

/// How the VMs of a distribution's clusters are configured at first boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestBoot {
    /// By cloud-init from a cloud image, with labform's NoCloud seed (K3s, kubeadm).
    CloudInit,
    /// By the distribution's own machine configuration (Talos); the plan's `boot` says which.
    OwnConfiguration(&'static str),
}

/// A step every distribution's plan has around its own bring-up steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedStep {
    /// Installing an add-on.
    Addon,
    /// Scheduling etcd snapshots.
    EtcdSnapshots,
    /// Setting the groups' `api_labels` through the API once the nodes are Ready.
    ApiLabels,
}

/// What the planner knows of one cluster instance when it asks the distribution.
#[derive(Debug, Clone, Copy)]
pub struct ClusterShape<'a> {
    /// The lab's declaration of the cluster (CNI, datastore, add-ons, backups).
    pub declared: &'a Cluster,
    /// The instance's version.
    pub version: &'a str,
    /// The network the nodes live on.
    pub network: &'a str,
    /// The API address: the VIP, or the first server's address.
    pub api: Ipv4Addr,
    /// The API VIP, when there is one.
    pub vip: Option<Ipv4Addr>,
    /// Pod network.
    pub pod: Ipv4Net,
    /// Service network.
    pub service: Ipv4Net,
    /// Server VMs, the first one first.
    pub servers: &'a [String],
    /// Agent VMs.
    pub agents: &'a [String],
}

/// The pure part of a Kubernetes distribution: the planner's questions to it.
pub trait DistributionPlan: Sync {
    /// Which distribution this is.
    fn kind(&self) -> Distribution;

    /// Whether labform bootstraps clusters of this distribution (the others are planned, and
    /// their steps marked as not automated).
    fn bootstrap_automated(&self) -> bool;

    /// Whether labform carries out `step` on this distribution's clusters (when it does not,
    /// the plan marks the step as not automated).
    fn shared_step_automated(&self, step: SharedStep) -> bool {
        let _ = step;
        self.bootstrap_automated()
    }

    /// Whether labform runs this distribution's etcd snapshots from a systemd timer on its
    /// control planes (the distribution has no scheduler of its own); the plan then carries
    /// the schedule as one (`EtcdSnapshots::systemd_timer`).
    fn etcd_snapshots_by_systemd_timer(&self) -> bool {
        false
    }

    /// Whether this distribution's etcd snapshots are taken by a Kubernetes CronJob on the
    /// cluster (the distribution has no scheduler, shell or SSH of its own); the plan then
    /// carries the schedule as one (`EtcdSnapshots::cron_job`).
    fn etcd_snapshots_by_cron_job(&self) -> bool {
        false
    }

    /// How the distribution takes etcd snapshots, for the plan line, when it is its own.
    fn etcd_snapshots_how(&self) -> Option<&'static str> {
        None
    }

    /// How the cluster's VMs are configured at first boot.
    fn guest_boot(&self) -> GuestBoot;

    /// How the nodes get the host software add-ons need: packages cloud-init installs, unless
    /// the distribution's image has no package manager.
    fn node_software(&self) -> NodeSoftware {
        NodeSoftware::CloudInitPackages
    }

    /// The settings only this distribution reads.
    fn settings(&self, shape: &ClusterShape<'_>) -> DistributionSettings;

    /// The distribution's own steps, from installing the first server to joining the agents;
    /// readiness, add-ons, backups and the kubeconfig are the same for every distribution and
    /// planned around these.
    fn bring_up_steps(&self, shape: &ClusterShape<'_>) -> Vec<ClusterStep>;

    /// Whether a first server recreated empty (`labform replace`) joins the running cluster
    /// through the other control planes. When it does not (it would initialise a new cluster,
    /// as K3s's `cluster-init` and `kubeadm init` do), the planner refuses to replace it.
    fn recreated_first_server_joins(&self) -> bool {
        false
    }

    /// What the distribution does on a node that leaves a running cluster before its VM is
    /// deleted, ahead of the Node object's deletion (`None`: nothing; the deletion does it all);
    /// `server` when the node runs the control plane.
    fn leave_on_node(&self, node: &str, server: bool) -> Option<String>;

    /// What the distribution does by itself once the leaving node's Node object is deleted,
    /// when it says anything.
    fn leave_after_deletion(&self, _server: bool) -> Option<&'static str> {
        None
    }

    /// What taking one node out of a running cluster before its VM is deleted does (its etcd
    /// membership, its Node object), as the replacement's plan shows it: the distribution's
    /// own part on the node, then the Node object deleted (every distribution's end, as
    /// `ClusterDistribution::leave` carries it out), then what the distribution does after.
    fn leave_step(&self, node: &str, server: bool) -> String {
        let mut step = match self.leave_on_node(node, server) {
            Some(on_node) => format!("{on_node}, then delete the Node object {node}"),
            None => format!("delete the Node object {node}"),
        };
        if let Some(after) = self.leave_after_deletion(server) {
            step.push_str("; ");
            step.push_str(after);
        }
        step
    }

    /// The distribution's own steps once every node is Ready (before the shared ones: labels
    /// through the API, add-ons, etcd snapshots, the kubeconfig).
    fn after_ready_steps(&self, shape: &ClusterShape<'_>) -> Vec<ClusterStep> {
        let _ = shape;
        Vec::new()
    }

    /// The step that waits for the cluster's nodes once they are brought up.
    fn readiness_step(&self, shape: &ClusterShape<'_>) -> String {
        format!(
            "wait until the API answers and all {} nodes are Ready",
            shape.servers.len() + shape.agents.len()
        )
    }
}

/// The planner's side of `kind`.
pub fn distribution_plan(kind: Distribution) -> &'static dyn DistributionPlan {
    match kind {
        Distribution::K3s => &k3s::K3s,
        Distribution::Kubeadm => &kubeadm::Kubeadm,
        Distribution::Talos => &talos::Talos,
    }
}

/// A step on `target`.
fn step(action: String, target: Option<String>) -> ClusterStep {
    ClusterStep { action, target }
}
