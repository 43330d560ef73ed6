//! kubeadm in the plan: bootstrapped by labform (`labform-kubeadm`) from prepared nodes:
//! `kubeadm init` on the first control plane with labform's CA, kube-vip's static pod for an API
//! VIP, the Helm controller and the CNI through the API, then `kubeadm join` of the other
//! control planes one at a time and of the workers, verified by the CA's hash. Its etcd
//! snapshots run from a systemd timer labform keeps on each control plane.

use super::{ClusterShape, DistributionPlan, GuestBoot, step};
use crate::plan::{ClusterStep, Distribution, DistributionSettings};

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
        DistributionSettings::Kubeadm
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
        let mut steps = vec![step(
            format!(
                "prepare the nodes: kernel modules and sysctls, swap off, containerd with the systemd cgroup driver and kubeadm's sandbox image, kubeadm, kubelet and kubectl {version} (pkgs.k8s.io {minor}, key pinned, or --kubernetes-artifacts)"
            ),
            Some(all.join(", ")),
        )];
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
}
