//! How a cluster's nodes differ from what labform would put there: files, service state and
//! add-on manifests, read over SSH with nothing written.

use labform_kubernetes::{AddonManifests, NodeRole};
use labform_planner::plan::PlannedCluster;

use crate::artifacts::K3sArtifacts;
use crate::delivery::{self};
use crate::error::ClusterError;
use crate::node::{self};

use super::work::Work;
use super::{ClusterContext, NodeDrift};

/// Compares every node of `cluster` with what labform would put there (its files and the add-on
/// manifests `addons`), changing nothing. Nodes that do not answer SSH within the options' SSH
/// limit are reported as unreachable. `artifacts` may be [`crate::artifacts::digests_only`]:
/// only the digests are compared.
pub async fn drift(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
    addons: &AddonManifests,
    artifacts: &K3sArtifacts,
) -> Result<Vec<NodeDrift>, ClusterError> {
    let work = Work {
        context,
        cluster,
        addons,
    };
    if !cluster.bootstrap_supported {
        return Ok(Vec::new());
    }
    let nodes = work.nodes(artifacts)?;
    let (wanted, _) = work.manifests()?;
    let mut report = Vec::new();
    for node in &nodes {
        let mut drift = NodeDrift::new(node.name.clone());
        let session = match work.connect(node).await {
            Ok(session) => session,
            Err(error) => {
                let mut text = error.to_string();
                let mut source = std::error::Error::source(&error);
                while let Some(cause) = source {
                    text = format!("{text}: {cause}");
                    source = cause.source();
                }
                drift.unreachable = Some(text);
                report.push(drift);
                continue;
            }
        };
        let facts = node::read_facts(&session, &node.install)
            .await
            .map_err(work.node_error(format!("reading the K3s files of {}", node.name)))?;
        let changes = node::changes(&node.install, &facts);
        drift.files = changes.uploads;
        if !facts.running() {
            drift.service = Some(if facts.active.is_empty() {
                "unknown".to_owned()
            } else {
                facts.active.clone()
            });
        }
        if node.role != NodeRole::Agent {
            let present = delivery::present(&session).await.map_err(
                work.node_error(format!("listing the add-on manifests on {}", node.name)),
            )?;
            let delivery = delivery::changes(&wanted, &present);
            drift.manifests = delivery.write;
            drift.extra_manifests = delivery.remove;
        }
        let _ = session.close().await;
        report.push(drift);
    }
    Ok(report)
}
