//! What differs on the nodes of a kubeadm cluster from what [`super::converge`] would put
//! there: files, the kubelet's state, and on the first control plane the add-on manifests kept
//! there. Nothing is written.

use labform_kubernetes::AddonManifests;
use labform_kubernetes::distribution::{ClusterContext, NodeDrift};
use labform_planner::plan::{NodeRole, PlannedCluster};

use super::{Installation, Work, addons};
use crate::error::ClusterError;
use crate::node::{self, MANIFESTS_DIRECTORY};

/// Compares every node of `cluster` with what [`converge`] would put there, writing nothing.
pub async fn drift(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
    addons: &AddonManifests,
    installation: &Installation,
) -> Result<Vec<NodeDrift>, ClusterError> {
    let work = Work::new(context, cluster)?;
    let nodes = work.nodes(installation)?;
    let manifests = addons::manifest_files(cluster, addons)?;
    let mut report = Vec::new();
    for node in &nodes {
        let mut drift = NodeDrift::new(node.name.clone());
        let session = match context.ssh.connect(&node.target).await {
            Ok(session) => session,
            Err(error) => {
                drift.unreachable = Some(error.to_string());
                report.push(drift);
                continue;
            }
        };
        let facts = work.facts(node, &session).await?;
        drift.files = node::differing(&node.files, &facts)
            .iter()
            .map(|file| file.path.clone())
            .collect();
        if facts.kubelet != "active" {
            drift.service = Some(if facts.joined {
                facts.kubelet.clone()
            } else {
                "not in the cluster".to_owned()
            });
        }
        if node.role == NodeRole::FirstServer {
            for (name, text) in &manifests {
                let path = format!("{MANIFESTS_DIRECTORY}/{name}");
                if facts.digests.get(&path) != Some(&node::sha256_hex(text.as_bytes())) {
                    drift.manifests.push(name.clone());
                }
            }
            drift.extra_manifests = facts
                .manifests
                .iter()
                .filter(|name| !manifests.iter().any(|(wanted, _)| wanted == *name))
                .cloned()
                .collect();
        }
        let _ = session.close().await;
        report.push(drift);
    }
    Ok(report)
}
