//! kubeadm as a [`ClusterDistribution`]: each node's `kubeadm.yaml` for review, with the
//! bootstrap token, certificate key and CA hash as markers, and the secrets listed by where
//! labform keeps them.
//!
//! Bringing a kubeadm cluster up over SSH (node preparation, `kubeadm init` and `join`, the CNI,
//! upgrades, reset) is not part of this labform yet: the planner marks kubeadm's steps as not
//! automated (`bootstrap_supported` is false), so apply, drift and reset never reach the acting
//! methods, which refuse with that explanation if called.

use labform_kubernetes::distribution::{
    ClusterContext, ClusterDistribution, ClusterOutcome, DistributionFuture, DistributionSecret,
    NodeDrift, NodeFile, NodeFiles,
};
use labform_kubernetes::{AddonManifests, RenderError};
use labform_planner::Plan;
use labform_planner::plan::{Distribution, PlannedCluster};

use crate::config::{CONFIG_PATH, InstallOptions, JoinSecrets, node_configs};
use crate::error::KubeadmError;
use crate::secrets::secret_keys;

/// The file name of a node's kubeadm configuration in `labform render`'s `vms/VM/`.
pub const RENDERED_NAME: &str = "kubeadm.yaml";

/// kubeadm.
#[derive(Debug, Default)]
pub struct Kubeadm {
    options: InstallOptions,
}

impl Kubeadm {
    /// kubeadm installed with `options`.
    pub fn new(options: InstallOptions) -> Self {
        Kubeadm { options }
    }

    fn not_automated(cluster: &PlannedCluster) -> KubeadmError {
        KubeadmError::Unsupported {
            cluster: cluster.name.clone(),
            detail: "labform renders kubeadm's configurations but does not bring kubeadm clusters up over SSH yet; bootstrap it by hand with the rendered files (`labform render`)".to_owned(),
        }
    }
}

impl ClusterDistribution for Kubeadm {
    fn kind(&self) -> Distribution {
        Distribution::Kubeadm
    }

    fn node_files(&self, plan: &Plan, cluster: &PlannedCluster) -> Result<NodeFiles, RenderError> {
        let configs = node_configs(
            cluster,
            &JoinSecrets::Redacted { scope: &plan.scope },
            &self.options,
        )
        .map_err(|error| RenderError::Unsupported {
            cluster: cluster.name.clone(),
            detail: error.to_string(),
        })?;
        let files = configs
            .into_iter()
            .map(|config| NodeFile {
                vm: config.vm,
                name: RENDERED_NAME.to_owned(),
                contents: config.text,
            })
            .collect();
        let keys = secret_keys(&plan.scope, &cluster.name);
        let generated = |what: &str, key: &str, node_path: &str| DistributionSecret {
            what: what.to_owned(),
            generated_by: Some("labform".to_owned()),
            store_key: Some(key.to_owned()),
            from: None,
            node_path: node_path.to_owned(),
        };
        let secrets = vec![
            generated(
                "kubeadm cluster CA key",
                &keys.ca_key,
                "/etc/kubernetes/pki/ca.key",
            ),
            generated(
                "kubeadm bootstrap token",
                &keys.bootstrap_token,
                CONFIG_PATH,
            ),
            generated(
                "kubeadm certificate key",
                &keys.certificate_key,
                CONFIG_PATH,
            ),
        ];
        Ok(NodeFiles { files, secrets })
    }

    fn converge<'a>(
        &'a self,
        _context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
        _addons: &'a AddonManifests,
    ) -> DistributionFuture<'a, ClusterOutcome> {
        Box::pin(async move { Err(Self::not_automated(cluster).into()) })
    }

    fn drift<'a>(
        &'a self,
        _context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
        _addons: &'a AddonManifests,
    ) -> DistributionFuture<'a, Vec<NodeDrift>> {
        Box::pin(async move { Err(Self::not_automated(cluster).into()) })
    }

    fn reset<'a>(
        &'a self,
        _context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
    ) -> DistributionFuture<'a, ()> {
        Box::pin(async move { Err(Self::not_automated(cluster).into()) })
    }
}
