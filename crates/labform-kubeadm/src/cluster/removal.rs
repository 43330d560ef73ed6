//! Taking kubeadm off nodes: one node leaving its cluster before its VM is replaced
//! (`labform replace`; its Node object is deleted after, as for every distribution), and the
//! whole cluster reset with its kubeconfigs forgotten.

use labform_kubernetes::distribution::{
    ClusterContext, kubeconfig_store_key, tenant_kubeconfig_store_key,
};
use labform_planner::plan::{PlannedCluster, PlannedClusterNode};

use super::{Installation, Work};
use crate::error::{ClusterError, KubeadmError};
use crate::node;

/// Takes kubeadm off `planned` before its VM is deleted (`labform replace`), ahead of the
/// deletion of its Node object (`ClusterDistribution::leave`): `kubeadm reset` on it over SSH
/// (on a control plane, the reset removes its etcd member through the cluster). A worker that
/// does not answer SSH is left to the Node object's deletion all the same; a control plane that
/// does not answer is an error, since its etcd member would stay.
pub async fn leave_node(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
    planned: &PlannedClusterNode,
    installation: &Installation,
) -> Result<(), ClusterError> {
    let work = Work::new(context, cluster)?;
    let nodes = work.nodes(installation)?;
    let Some(node) = nodes.iter().find(|node| node.name == planned.vm) else {
        return Err(work.failed(format!("`{}` is not a node of the cluster", planned.vm)));
    };
    work.report(&node.name, "kubeadm reset (leaving the cluster)");
    match context.ssh.connect(&node.target).await {
        Ok(session) => {
            work.run(node, &session, "resetting kubeadm", &node::reset_script())
                .await?;
            let _ = session.close().await;
        }
        Err(error) if !planned.role.is_server() => work.report(
            &node.name,
            &format!("not reachable over SSH ({error}); its Node object is deleted all the same"),
        ),
        Err(error) => {
            return Err(work
                .node_error(&node.name, "connecting to run kubeadm reset")(
                error
            ));
        }
    }
    Ok(())
}

/// Takes kubeadm off every node of `cluster` (workers first, the first control plane last)
/// and forgets the cluster's kubeconfigs. The cluster's CA, token and certificate key stay in
/// the store, so the next apply forms the cluster again with the same discovery hash.
pub async fn reset(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
    installation: &Installation,
) -> Result<(), ClusterError> {
    let work = Work::new(context, cluster)?;
    let nodes = work.nodes(installation)?;
    let script = node::reset_script();
    for node in nodes.iter().rev() {
        work.report(&node.name, "kubeadm reset and cleanup");
        let session = context
            .ssh
            .connect(&node.target)
            .await
            .map_err(work.node_error(&node.name, "connecting"))?;
        work.run(node, &session, "resetting kubeadm", &script)
            .await?;
        let _ = session.close().await;
    }
    let store_failed = |error: String| {
        ClusterError::Kubeadm(KubeadmError::Store {
            cluster: cluster.name.clone(),
            detail: error,
        })
    };
    let key = kubeconfig_store_key(&context.plan.scope, &cluster.name).map_err(store_failed)?;
    context
        .store
        .remove(&key)
        .map_err(|error| store_failed(error.to_string()))?;
    for access in &cluster.tenant_access {
        let key = tenant_kubeconfig_store_key(&context.plan.scope, &cluster.name, &access.tenant)
            .map_err(store_failed)?;
        context
            .store
            .remove(&key)
            .map_err(|error| store_failed(error.to_string()))?;
    }
    Ok(())
}
