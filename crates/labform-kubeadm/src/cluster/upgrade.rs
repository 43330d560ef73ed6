//! A node of a kubeadm cluster upgraded to the planned version: kubeadm first, then `kubeadm
//! upgrade apply` (the first control plane) or `kubeadm upgrade node`, the node cordoned and
//! drained, kubelet and kubectl upgraded, Ready at the new version, uncordoned.

use labform_kubernetes::cluster_api::ClusterApi;
use labform_planner::plan::NodeRole;
use labform_ssh::Session;

use super::{ClusterNode, Work};
use crate::error::ClusterError;
use crate::node::PrepareStage;

impl Work<'_> {
    /// Upgrades `node` to the planned version: kubeadm, then `kubeadm upgrade apply` (the
    /// first control plane) or `kubeadm upgrade node`, then cordon, drain, kubelet and kubectl,
    /// Ready at the new version, uncordon.
    pub(super) async fn upgrade(
        &self,
        api: &ClusterApi,
        node: &ClusterNode,
        session: &Session,
    ) -> Result<(), ClusterError> {
        self.prepare(node, session, PrepareStage::Kubeadm).await?;
        let command = if node.role == NodeRole::FirstServer {
            format!("kubeadm upgrade apply --yes {}", self.version)
        } else {
            "kubeadm upgrade node".to_owned()
        };
        self.report(&node.name, &command);
        let kubeadm = self.kubeadm_command(&command);
        self.run(node, session, &format!("running {command}"), &kubeadm)
            .await?;
        self.report(&node.name, "cordon and drain");
        api.drain(&node.name, self.context.options.drain_timeout)
            .await
            .map_err(self.api_error(format!("draining {}", node.name)))?;
        self.prepare(node, session, PrepareStage::Kubelet).await?;
        self.wait_ready(api, std::slice::from_ref(&node.name))
            .await?;
        let deadline = tokio::time::Instant::now() + self.context.options.ready_timeout;
        loop {
            let versions = api
                .node_versions()
                .await
                .map_err(self.api_error(format!("reading the version of {}", node.name)))?;
            if versions.get(&node.name).map(String::as_str) == Some(&self.version.to_string()) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(self.failed(format!(
                    "{} is Ready but its kubelet does not report {} after the upgrade; it stays cordoned",
                    node.name, self.version
                )));
            }
            tokio::time::sleep(self.context.options.poll).await;
        }
        api.uncordon(&node.name)
            .await
            .map_err(self.api_error(format!("uncordoning {}", node.name)))?;
        self.report(&node.name, "upgraded and uncordoned");
        Ok(())
    }
}
