//! kube-vip's static pod on a kubeadm control plane, which announces the cluster's API VIP
//! before the API runs (a DaemonSet could not: it needs the API). The first control plane of
//! Kubernetes 1.29 and later reads `super-admin.conf`, the others `admin.conf`.

use labform_kubernetes::kube_vip_static_pod;
use labform_planner::plan::{NodeRole, PlannedCluster};

use crate::error::{ClusterError, KubeadmError};
use crate::node::{ADMIN_KUBECONFIG, SUPER_ADMIN_KUBECONFIG};
use crate::version::KubernetesVersion;

/// kube-vip's static pod for a control plane of `role`: the first control plane of Kubernetes
/// 1.29 and later reads `super-admin.conf` (during `kubeadm init`, `admin.conf` gets its rights
/// only once the API runs, which needs the VIP), the others `admin.conf`.
pub fn kube_vip_manifest(
    cluster: &PlannedCluster,
    version: KubernetesVersion,
    role: NodeRole,
) -> Result<String, ClusterError> {
    let kubeconfig = if role == NodeRole::FirstServer && version.minor >= 29 {
        SUPER_ADMIN_KUBECONFIG
    } else {
        ADMIN_KUBECONFIG
    };
    let pod = kube_vip_static_pod(
        cluster.api_address,
        labform_cloudinit::INTERFACE_NAME,
        kubeconfig,
    );
    let body = labform_kubernetes::documents_to_yaml(&[pod]).map_err(|detail| {
        ClusterError::Kubeadm(KubeadmError::Yaml {
            cluster: cluster.name.clone(),
            document: "kube-vip's static pod".to_owned(),
            detail,
        })
    })?;
    Ok(format!(
        "# labform: kube-vip announces the API VIP {} of cluster {} (static pod, reads {kubeconfig}).\n{}",
        cluster.api_address,
        cluster.name,
        body.strip_prefix("---\n").unwrap_or(&body)
    ))
}
