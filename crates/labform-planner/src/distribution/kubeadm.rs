//! kubeadm in the plan: bootstrapped by labform (`labform-kubeadm`) from prepared nodes:
//! `kubeadm init` on the first control plane with labform's CA, kube-vip's static pod for an API
//! VIP, the Helm controller and the CNI through the API, then `kubeadm join` of the other
//! control planes one at a time and of the workers, verified by the CA's hash. Its etcd
//! snapshots run from a systemd timer labform keeps on each control plane.
//!
//! On nodes already in the cluster, a changed kubeadm configuration is compared with the node's
//! before any node is touched; [`KubeadmSettings::planned`] decides what each changed part does (the
//! plan carries it in [`KubeadmSettings`], the executor looks it up there).

use super::{ClusterShape, DistributionPlan, GuestBoot, step};
use crate::plan::{
    ClusterStep, ConfigurationPart, Distribution, DistributionSettings, KubeadmSettings,
    Reconfiguration, ReconfigurationEffect,
};

impl KubeadmSettings {
    /// What a change of each part of a node's kubeadm configuration does under a formed
    /// cluster, as the planner gives every kubeadm cluster: labels and labform's taints through
    /// the API, the version by the upgrade, the control plane's wait at the next kubeadm run;
    /// kubeadm's own control-plane taint and the cluster's shape are refused (kubeadm cannot
    /// change them on a formed cluster).
    pub fn planned() -> Self {
        KubeadmSettings {
            reconfiguration: ConfigurationPart::ALL
                .into_iter()
                .map(|part| Reconfiguration {
                    part,
                    effect: match part {
                        ConfigurationPart::NodeLabels | ConfigurationPart::NodeTaints => {
                            ReconfigurationEffect::ThroughApi
                        }
                        ConfigurationPart::KubernetesVersion => ReconfigurationEffect::Upgrade,
                        ConfigurationPart::ControlPlaneWait => {
                            ReconfigurationEffect::NextKubeadmRun
                        }
                        ConfigurationPart::ControlPlaneDefaultTaint
                        | ConfigurationPart::ClusterShape => ReconfigurationEffect::Refused,
                    },
                })
                .collect(),
        }
    }
}

/// The parts of `settings` whose change does `effect`, as the plan names them.
fn parts(settings: &KubeadmSettings, effect: ReconfigurationEffect) -> String {
    settings
        .reconfiguration
        .iter()
        .filter(|rule| rule.effect == effect)
        .map(|rule| rule.part.describe())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Upstream Kubernetes with kubeadm.
pub(super) struct Kubeadm;

impl DistributionPlan for Kubeadm {
    fn kind(&self) -> Distribution {
        Distribution::Kubeadm
    }

    fn bootstrap_automated(&self) -> bool {
        true
    }

    fn etcd_snapshots_by_systemd_timer(&self) -> bool {
        // kubeadm has no etcd snapshot schedule of its own: labform keeps a systemd timer on
        // each control plane (`labform-kubeadm`'s `etcd_snapshots`).
        true
    }

    fn guest_boot(&self) -> GuestBoot {
        GuestBoot::CloudInit
    }

    fn leave_on_node(&self, node: &str, server: bool) -> Option<String> {
        Some(if server {
            format!(
                "run `kubeadm reset` on {node} over SSH (it removes its etcd member through the cluster)"
            )
        } else {
            format!("run `kubeadm reset` on {node} over SSH")
        })
    }

    fn settings(&self, _shape: &ClusterShape<'_>) -> DistributionSettings {
        DistributionSettings::Kubeadm(KubeadmSettings::planned())
    }

    fn bring_up_steps(&self, shape: &ClusterShape<'_>) -> Vec<ClusterStep> {
        let (api, pod, service) = (shape.api, shape.pod, shape.service);
        let version = shape.version;
        let minor = version.rsplit_once('.').map_or(version, |(minor, _)| minor);
        let first = shape.servers.first().cloned();
        let all: Vec<String> = shape
            .servers
            .iter()
            .chain(shape.agents.iter())
            .cloned()
            .collect();
        let settings = KubeadmSettings::planned();
        let mut steps = vec![step(
            format!(
                "nodes already in the cluster: read each one's kubeadm configuration over SSH and compare it with the lab's before any node is touched; refuse, as kubeadm cannot change them on a formed cluster, a change of: {}; keep a change of {} for the next kubeadm init or join",
                parts(&settings, ReconfigurationEffect::Refused),
                parts(&settings, ReconfigurationEffect::NextKubeadmRun),
            ),
            Some(all.join(", ")),
        )];
        steps.push(step(
            format!(
                "prepare the nodes: kernel modules and sysctls, swap off, containerd with the systemd cgroup driver and kubeadm's sandbox image, kubeadm, kubelet and kubectl {version} (pkgs.k8s.io {minor}, key pinned, or --kubernetes-artifacts)"
            ),
            Some(all.join(", ")),
        ));
        if let Some(vip) = shape.vip {
            steps.push(step(
                format!(
                    "kube-vip static pod announcing API VIP {vip} by ARP on network `{}`",
                    shape.network
                ),
                Some(shape.servers.join(", ")),
            ));
        }
        steps.push(step(
            format!(
                "kubeadm init with labform's cluster CA: control-plane endpoint {api}:6443, pod network {pod}, service network {service}"
            ),
            first.clone(),
        ));
        steps.push(step(
            format!(
                "upgrade ({}): nodes whose kubelet reports another version than {version}, one minor version at a time (a jump of two refused before any node is touched): kubeadm upgrade apply on the first control plane, kubeadm upgrade node on the others, each cordoned, drained and uncordoned, kubelet and kubectl upgraded",
                parts(&settings, ReconfigurationEffect::Upgrade),
            ),
            Some(all.join(", ")),
        ));
        steps.push(step(
            format!(
                "apply the Helm controller, then {} for pod network {pod}, through the API",
                shape.declared.cni.as_str()
            ),
            first,
        ));
        if shape.servers.len() > 1 {
            steps.push(step(
                format!(
                    "kubeadm join --control-plane through https://{api}:6443 (CA hash pinned), one at a time"
                ),
                Some(shape.servers[1..].join(", ")),
            ));
        }
        if !shape.agents.is_empty() {
            steps.push(step(
                format!("kubeadm join through https://{api}:6443 (CA hash pinned)"),
                Some(shape.agents.join(", ")),
            ));
        }
        steps
    }

    fn after_ready_steps(&self, shape: &ClusterShape<'_>) -> Vec<ClusterStep> {
        let all: Vec<String> = shape
            .servers
            .iter()
            .chain(shape.agents.iter())
            .cloned()
            .collect();
        vec![step(
            format!(
                "nodes already in the cluster: set, change and remove through the Kubernetes API what changed in their kubeadm configuration of: {}",
                parts(
                    &KubeadmSettings::planned(),
                    ReconfigurationEffect::ThroughApi
                )
            ),
            Some(all.join(", ")),
        )]
    }
}
