//! Nodes already in the cluster whose kubeadm configuration changed with the lab
//! ([`crate::reconfigure`] says field by field what labform does): the node's file is read
//! over SSH and compared with the one labform renders now, before any node is touched; a
//! change kubeadm cannot make refuses the apply there, naming each field with both values and
//! what to do; the others are said in progress lines, and changed node labels are set and
//! dropped ones removed through the API once every node is Ready.

use labform_kubernetes::cluster_api::ClusterApi;
use labform_secrets::ExposeSecret as _;
use labform_ssh::Session;

use super::{ClusterNode, Work};
use crate::config::CONFIG_PATH;
use crate::error::ClusterError;
use crate::node::{FileContents, NodeFacts};
use crate::reconfigure::{self, LabelChange};

/// The node labels to change on each node, through the API.
pub(super) struct Relabelling(Vec<(String, LabelChange)>);

impl Work<'_> {
    /// What changed in the configuration of each node already in the cluster whose
    /// `kubeadm.yaml` differs from labform's. Every change is reported; the node labels are
    /// returned for [`Work::relabel`].
    ///
    /// # Errors
    ///
    /// [`crate::KubeadmError::Reconfiguration`] naming every change kubeadm cannot make, of
    /// every node, before anything is written.
    pub(super) async fn configuration_changes(
        &self,
        nodes: &[ClusterNode],
        sessions: &[Session],
        facts: &[NodeFacts],
    ) -> Result<Relabelling, ClusterError> {
        let mut by_node = Vec::new();
        let mut relabelling = Vec::new();
        for ((node, session), node_facts) in nodes.iter().zip(sessions).zip(facts) {
            let Some(file) = node.files.iter().find(|file| file.path == CONFIG_PATH) else {
                continue;
            };
            let Some(digest) = node_facts.digests.get(CONFIG_PATH) else {
                continue;
            };
            if !node_facts.joined || *digest == file.sha256 {
                continue;
            }
            let held = session
                .exec_checked(&format!("sudo -n cat {CONFIG_PATH}"))
                .await
                .map_err(self.node_error(&node.name, "reading its kubeadm configuration"))?;
            let held = String::from_utf8_lossy(&held.stdout);
            let wanted = match &file.contents {
                FileContents::Secret(text) => text.expose_secret().to_owned(),
                FileContents::Public(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            };
            let changes = reconfigure::changes(&held, &wanted)
                .map_err(|detail| self.failed(format!("{}: {CONFIG_PATH}: {detail}", node.name)))?;
            let labels = reconfigure::label_changes(&changes);
            if !labels.is_empty() {
                relabelling.push((node.name.clone(), labels));
            }
            by_node.push((node.name.clone(), changes));
        }
        if let Some(refusal) = reconfigure::refusal(&self.cluster.name, &by_node) {
            return Err(ClusterError::Kubeadm(refusal));
        }
        for (node, changes) in &by_node {
            for change in changes {
                self.report(node, &format!("configuration changed: {change}"));
            }
        }
        Ok(Relabelling(relabelling))
    }

    /// Sets the changed node labels and removes the dropped ones, through the API.
    pub(super) async fn relabel(
        &self,
        api: &ClusterApi,
        relabelling: &Relabelling,
    ) -> Result<(), ClusterError> {
        for (node, labels) in &relabelling.0 {
            if api
                .set_node_labels(node, &labels.set)
                .await
                .map_err(self.api_error(format!("labelling {node}")))?
            {
                self.report(node, &format!("labels set: {}", labels.set.join(", ")));
            }
            if api
                .remove_node_labels(node, &labels.removed)
                .await
                .map_err(self.api_error(format!("removing labels from {node}")))?
            {
                self.report(
                    node,
                    &format!("labels removed: {}", labels.removed.join(", ")),
                );
            }
        }
        Ok(())
    }
}
