//! K3s as a [`ClusterDistribution`]: each node's `config.yaml` and the join token (by
//! reference) for `labform render`; converge, drift and reset through [`crate::cluster`], with
//! the release files got once per version from the artifact source and verified.

use std::path::PathBuf;
use std::sync::Mutex;

use labform_kubernetes::distribution::{
    ClusterContext, ClusterDistribution, ClusterOutcome, DistributionFuture, DistributionSecret,
    NodeDrift, NodeFile, NodeFiles,
};
use labform_kubernetes::{
    AddonManifests, DATASTORE_DROP_IN, RenderError, TOKEN_FILE, k3s_node_configs, token_store_key,
};
use labform_planner::Plan;
use labform_planner::plan::{Distribution, PlannedCluster, PlannedDatastore};

use crate::artifacts::{self, ArtifactSource, K3sArtifacts};
use crate::cluster;
use crate::error::ClusterError;

/// K3s, with the source of its release files.
#[derive(Debug)]
pub struct K3s {
    source: ArtifactSource,
    cache: PathBuf,
    /// Releases already got (and verified) in this run, by version.
    releases: Mutex<Vec<K3sArtifacts>>,
}

impl K3s {
    /// K3s with release files from `source`; downloads are cached under `cache` (per version).
    pub fn new(source: ArtifactSource, cache: PathBuf) -> Self {
        K3s {
            source,
            cache,
            releases: Mutex::new(Vec::new()),
        }
    }

    /// The release `version`, got once per run and verified.
    async fn release(
        &self,
        context: &ClusterContext<'_>,
        cluster: &PlannedCluster,
    ) -> Result<K3sArtifacts, ClusterError> {
        let known = self
            .releases
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .find(|release| release.version == cluster.version)
            .cloned();
        if let Some(release) = known {
            return Ok(release);
        }
        context.progress.report(
            &cluster.name,
            &cluster.name,
            &format!("get K3s {} from {}", cluster.version, self.source),
        );
        let release = artifacts::fetch(&self.source, &cluster.version, &self.cache)
            .await
            .map_err(|source| ClusterError::Artifacts {
                cluster: cluster.name.clone(),
                version: cluster.version.clone(),
                source,
            })?;
        self.releases
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(release.clone());
        Ok(release)
    }
}

impl ClusterDistribution for K3s {
    fn kind(&self) -> Distribution {
        Distribution::K3s
    }

    fn node_files(&self, plan: &Plan, cluster: &PlannedCluster) -> Result<NodeFiles, RenderError> {
        let files = k3s_node_configs(cluster)?
            .into_iter()
            .map(|config| NodeFile {
                vm: config.vm,
                name: "config.yaml".to_owned(),
                contents: config.config_yaml,
            })
            .collect();
        let mut secrets = vec![DistributionSecret {
            what: "K3s join token".to_owned(),
            generated_by: Some("labform".to_owned()),
            store_key: Some(
                token_store_key(&plan.scope, &cluster.name)?
                    .as_str()
                    .to_owned(),
            ),
            from: None,
            node_path: TOKEN_FILE.to_owned(),
        }];
        if let PlannedDatastore::External { endpoint } = &cluster.state {
            secrets.push(DistributionSecret {
                what: "K3s datastore endpoint".to_owned(),
                generated_by: None,
                store_key: None,
                from: Some(endpoint.to_string()),
                node_path: DATASTORE_DROP_IN.to_owned(),
            });
        }
        Ok(NodeFiles { files, secrets })
    }

    fn converge<'a>(
        &'a self,
        context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
        addons: &'a AddonManifests,
    ) -> DistributionFuture<'a, ClusterOutcome> {
        Box::pin(async move {
            let release = self.release(context, cluster).await?;
            Ok(cluster::converge(context, cluster, addons, &release).await?)
        })
    }

    fn drift<'a>(
        &'a self,
        context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
        addons: &'a AddonManifests,
    ) -> DistributionFuture<'a, Vec<NodeDrift>> {
        Box::pin(async move {
            let digests = artifacts::digests_only(&self.source, &cluster.version)
                .await
                .map_err(|source| ClusterError::Checksums {
                    version: cluster.version.clone(),
                    source,
                })?;
            Ok(cluster::drift(context, cluster, addons, &digests).await?)
        })
    }

    // Leaving is the Node object's deletion alone (the trait's default): deleting it (not
    // forced) runs K3s's finalizers, which remove a server's etcd member and the node password
    // the new VM would otherwise be refused by.

    fn reset<'a>(
        &'a self,
        context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
    ) -> DistributionFuture<'a, ()> {
        Box::pin(async move { Ok(cluster::reset(context, cluster).await?) })
    }
}
