//! kubeadm as a [`ClusterDistribution`]: each node's `kubeadm.yaml` for review (the bootstrap
//! token, certificate key and CA hash as markers), the control planes' etcd snapshot timer,
//! service and script, and the secrets listed by where labform keeps them; converge, drift and reset through [`crate::cluster`], with kubeadm, kubelet and kubectl
//! from pkgs.k8s.io or an air-gap directory (read and verified once per run).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use labform_kubernetes::distribution::{
    ClusterContext, ClusterDistribution, ClusterOutcome, DistributionFuture, DistributionSecret,
    NodeDrift, NodeFile, NodeFiles,
};
use labform_kubernetes::{AddonManifests, RenderError};
use labform_planner::Plan;
use labform_planner::plan::{Distribution, PlannedCluster, PlannedClusterNode};

use crate::artifacts::{self, AirGapFiles};
use crate::cluster::{self, Installation};
use crate::config::{CONFIG_PATH, InstallOptions, JoinSecrets, node_configs};
use crate::error::ClusterError;
use crate::etcd_snapshots;
use crate::node::PackageSource;
use crate::secrets::secret_keys;

/// The file name of a node's kubeadm configuration in `labform render`'s `vms/VM/`.
pub const RENDERED_NAME: &str = "kubeadm.yaml";

/// kubeadm, with where its packages come from.
#[derive(Debug, Default)]
pub struct Kubeadm {
    /// The air-gap directory (`--kubernetes-artifacts`), or pkgs.k8s.io when absent.
    air_gap_directory: Option<PathBuf>,
    /// The registry the control-plane images are named in when air-gapped.
    image_repository: Option<String>,
    /// How long kubeadm waits for the control plane ([`InstallOptions::control_plane_timeout`]).
    control_plane_timeout: Option<Duration>,
    /// The air-gap files, read and verified once per run.
    air_gap: Mutex<Option<AirGapFiles>>,
}

impl Kubeadm {
    /// kubeadm from pkgs.k8s.io, or from the air-gap directory `air_gap_directory` whose
    /// image archives name their images in `image_repository` (kubeadm's default registry when
    /// absent).
    pub fn new(air_gap_directory: Option<PathBuf>, image_repository: Option<String>) -> Self {
        Kubeadm {
            air_gap_directory,
            image_repository,
            control_plane_timeout: None,
            air_gap: Mutex::new(None),
        }
    }

    /// The same, with kubeadm waiting `timeout` for the control plane to answer (instead of
    /// its own 4 minutes) in the configurations it renders.
    #[must_use]
    pub fn with_control_plane_timeout(mut self, timeout: Duration) -> Self {
        self.control_plane_timeout = Some(timeout);
        self
    }

    fn options(&self) -> InstallOptions {
        InstallOptions {
            image_repository: self.image_repository.clone(),
            control_plane_timeout: self.control_plane_timeout,
        }
    }

    /// How the nodes get Kubernetes, reading and verifying the air-gap files once.
    fn installation(&self) -> Result<Installation, ClusterError> {
        let Some(directory) = &self.air_gap_directory else {
            return Ok(Installation {
                source: PackageSource::Repository,
                air_gap: None,
                options: self.options(),
            });
        };
        let mut cached = self
            .air_gap
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cached.is_none() {
            *cached = Some(artifacts::read(directory)?);
        }
        Ok(Installation {
            source: PackageSource::AirGap,
            air_gap: cached.clone(),
            options: self.options(),
        })
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
            &self.options(),
        )
        .map_err(|error| RenderError::Unsupported {
            cluster: cluster.name.clone(),
            detail: error.to_string(),
        })?;
        let mut files: Vec<NodeFile> = configs
            .into_iter()
            .map(|config| NodeFile {
                vm: config.vm,
                name: RENDERED_NAME.to_owned(),
                contents: config.text,
            })
            .collect();
        // The etcd snapshot timer, its service and script, on each control plane.
        for node in &cluster.nodes {
            for (path, contents, _) in etcd_snapshots::files(cluster, node) {
                files.push(NodeFile {
                    vm: node.vm.clone(),
                    name: path.rsplit('/').next().unwrap_or(path).to_owned(),
                    contents,
                });
            }
        }
        let keys = secret_keys(&plan.scope, &cluster.name);
        let generated = |what: &str, key: &str, node_path: &str| DistributionSecret {
            what: what.to_owned(),
            generated_by: Some("labform".to_owned()),
            store_key: Some(key.to_owned()),
            from: None,
            node_path: node_path.to_owned(),
        };
        let secrets = vec![
            generated("kubeadm cluster CA key", &keys.ca_key, crate::node::CA_KEY),
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
        context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
        addons: &'a AddonManifests,
    ) -> DistributionFuture<'a, ClusterOutcome> {
        Box::pin(async move {
            let installation = self.installation()?;
            Ok(cluster::converge(context, cluster, addons, &installation).await?)
        })
    }

    fn drift<'a>(
        &'a self,
        context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
        addons: &'a AddonManifests,
    ) -> DistributionFuture<'a, Vec<NodeDrift>> {
        Box::pin(async move {
            let installation = self.installation()?;
            Ok(cluster::drift(context, cluster, addons, &installation).await?)
        })
    }

    fn leave_node<'a>(
        &'a self,
        context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
        node: &'a PlannedClusterNode,
    ) -> DistributionFuture<'a, ()> {
        Box::pin(async move {
            let installation = self.installation()?;
            Ok(cluster::leave_node(context, cluster, node, &installation).await?)
        })
    }

    fn reset<'a>(
        &'a self,
        context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
    ) -> DistributionFuture<'a, ()> {
        Box::pin(async move {
            let installation = self.installation()?;
            Ok(cluster::reset(context, cluster, &installation).await?)
        })
    }
}
