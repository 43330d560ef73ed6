//! Nodes already in the cluster whose kubeadm configuration changed with the lab
//! ([`crate::reconfigure`] says which part of the configuration each field is, the plan's
//! `KubeadmSettings` what a change of it does): the node's file is read over SSH and compared
//! with the one labform renders now, before any node is touched; a change kubeadm cannot make
//! refuses the apply there, naming each field with both values and what to do; the others are
//! said in progress lines, and once every node is Ready changed node labels are set and dropped
//! ones removed through the API, and the taints labform gave are set, changed and removed
//! there (others' taints kept).

use labform_kubernetes::cluster_api::ClusterApi;
use labform_planner::plan::DistributionSettings;
use labform_secrets::ExposeSecret as _;
use labform_ssh::Session;

use super::{ClusterNode, Work};
use crate::config::CONFIG_PATH;
use crate::error::ClusterError;
use crate::node::{FileContents, NodeFacts};
use crate::reconfigure::{self, LabelChange, TaintChange};

/// The node labels and taints to change on each node, through the API.
#[derive(Default)]
pub(super) struct Relabelling {
    labels: Vec<(String, LabelChange)>,
    taints: Vec<(String, TaintChange)>,
}

impl Work<'_> {
    /// What changed in the configuration of each node already in the cluster whose
    /// `kubeadm.yaml` differs from labform's, each with what the plan says a change of its
    /// part does. Every change is reported; the node labels and taints are returned for
    /// [`Work::relabel`].
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
        let DistributionSettings::Kubeadm(settings) = &self.cluster.settings else {
            return Err(self.failed("the plan has no kubeadm settings for this cluster"));
        };
        let mut by_node = Vec::new();
        let mut relabelling = Relabelling::default();
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
            let changes = reconfigure::changes(&held, &wanted, settings)
                .map_err(|detail| self.failed(format!("{}: {CONFIG_PATH}: {detail}", node.name)))?;
            let labels = reconfigure::label_changes(&changes);
            if !labels.is_empty() {
                relabelling.labels.push((node.name.clone(), labels));
            }
            if let Some(taints) = reconfigure::taint_change(&changes) {
                relabelling.taints.push((node.name.clone(), taints));
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
        Ok(relabelling)
    }

    /// Sets the changed node labels and removes the dropped ones, and brings the taints labform
    /// gives to the lab's, through the API.
    pub(super) async fn relabel(
        &self,
        api: &ClusterApi,
        relabelling: &Relabelling,
    ) -> Result<(), ClusterError> {
        for (node, labels) in &relabelling.labels {
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
        for (node, taints) in &relabelling.taints {
            if api
                .set_node_taints(node, &taints.previous, &taints.wanted)
                .await
                .map_err(self.api_error(format!("tainting {node}")))?
            {
                let wanted = if taints.wanted.is_empty() {
                    "none".to_owned()
                } else {
                    taints.wanted.join(", ")
                };
                self.report(node, &format!("labform's taints now: {wanted}"));
            }
        }
        Ok(())
    }
}
