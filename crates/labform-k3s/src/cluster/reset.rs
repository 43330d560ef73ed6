//! Taking K3s off a cluster's nodes: agents first, then servers, with the reset script; the
//! cluster's kubeconfig is forgotten. The VMs stay.

use labform_kubernetes::AddonManifests;
use labform_planner::plan::PlannedCluster;

use crate::artifacts::K3sArtifacts;
use crate::error::ClusterError;

use super::work::Work;
use super::{ClusterContext, kubeconfig_store_key};

/// Takes K3s off every node of `cluster` (agents first, then servers) and forgets its
/// kubeconfig. The VMs stay; the next apply installs a new cluster on them.
pub async fn reset(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
) -> Result<(), ClusterError> {
    let no_addons = AddonManifests {
        files: Vec::new(),
        secrets: Vec::new(),
    };
    let work = Work {
        context,
        cluster,
        addons: &no_addons,
    };
    let placeholder = K3sArtifacts {
        version: cluster.version.clone(),
        binary: crate::artifacts::VerifiedFile {
            name: crate::artifacts::BINARY.to_owned(),
            contents: std::sync::Arc::new(Vec::new()),
            sha256: String::new(),
        },
        images: None,
    };
    // Only the targets are used; no file is uploaded by a reset.
    let mut nodes = work.nodes(&placeholder)?;
    nodes.reverse();
    let script = crate::units::reset_script();
    for node in &nodes {
        let session = work.connect(node).await?;
        work.report(&node.name, "reset: stop K3s and remove its state");
        session
            .exec_checked(&format!(
                "sudo -n sh -c {}",
                labform_ssh::shell_quote(&script)
            ))
            .await
            .map_err(|error| work.node_error(format!("resetting {}", node.name))(error.into()))?;
        let _ = session.close().await;
    }
    let key = kubeconfig_store_key(&context.plan.scope, &cluster.name)
        .map_err(|detail| work.unsupported(detail))?;
    context
        .store
        .remove(&key)
        .map_err(|error| work.store_error(error))?;
    Ok(())
}
