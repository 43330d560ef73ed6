//! Talos as a [`ClusterDistribution`]: each node's machine configuration for review (every
//! secret a placeholder) and the cluster's own secrets by reference for `labform render`;
//! converge, drift and reset through the Talos API ([`crate::cluster`]), with the admin
//! kubeconfig renamed after the cluster's context, pointed at the API address and kept in the
//! secret store under the key every distribution uses.
//!
//! Readiness is Talos's own (every node's `apid` and `kubelet`, the control planes' `etcd`,
//! running and healthy), as the plan says. Add-ons reach Talos clusters through the Helm
//! controller applied over the Kubernetes API (ARCHITECTURE.md, "How add-ons reach a cluster"),
//! with the admin kubeconfig Talos gives ([`crate::addons`]), and so do the etcd snapshots'
//! CronJobs ([`crate::etcd_snapshots`]; `render` shows them with the first control plane).

use labform_kubernetes::distribution::{
    ClusterContext, ClusterDistribution, ClusterOutcome, DistributionError, DistributionFuture,
    DistributionSecret, NodeDrift, NodeFile, NodeFiles, kubeconfig_store_key,
};
use labform_kubernetes::kubeconfig::ClusterKubeconfig;
use labform_kubernetes::{AddonManifests, RenderError};
use labform_planner::Plan;
use labform_planner::plan::{Distribution, PlannedCluster, PlannedClusterNode};

use crate::cluster::{self, EndpointOverrides, TalosContext, TalosOptions};
use crate::machine_config::{KUBERNETES_API_PORT, SecretsSource, cluster_configurations};
use crate::secrets::bundle_store_key;
use crate::talosconfig::talosconfig_store_key;

/// The name of a node's machine configuration in `labform render`'s output.
pub const MACHINE_CONFIGURATION_FILE: &str = "talos-machine-config.yaml";

/// What failed on a Talos cluster, with the cause.
#[derive(Debug, thiserror::Error)]
#[error("Talos cluster `{cluster}`: {doing}")]
pub struct TalosClusterError {
    /// The cluster instance.
    pub cluster: String,
    /// What was being done.
    pub doing: &'static str,
    /// Why it failed.
    #[source]
    pub source: DistributionError,
}

/// Talos, with where to reach its nodes' APIs.
#[derive(Debug, Default)]
pub struct Talos {
    overrides: EndpointOverrides,
}

impl Talos {
    /// Talos reaching each node at its planned address, port 50000, unless `overrides` says
    /// otherwise.
    pub fn new(overrides: EndpointOverrides) -> Self {
        Talos { overrides }
    }

    fn context<'a>(
        &self,
        context: &'a ClusterContext<'a>,
        progress: &'a (dyn Fn(&str, &str) + Sync),
    ) -> TalosContext<'a> {
        TalosContext {
            plan: context.plan,
            store: context.store,
            options: TalosOptions {
                ready_timeout: context.options.ready_timeout,
                poll: context.options.poll,
                ..TalosOptions::default()
            },
            overrides: self.overrides.clone(),
            progress,
        }
    }
}

/// A closure turning an error into [`TalosClusterError`] for `cluster` while `doing`.
fn failed<'a, E>(
    cluster: &'a PlannedCluster,
    doing: &'static str,
) -> impl FnOnce(E) -> DistributionError + 'a
where
    E: Into<DistributionError>,
{
    move |error| {
        Box::new(TalosClusterError {
            cluster: cluster.name.clone(),
            doing,
            source: error.into(),
        })
    }
}

impl ClusterDistribution for Talos {
    fn kind(&self) -> Distribution {
        Distribution::Talos
    }

    fn node_files(&self, plan: &Plan, cluster: &PlannedCluster) -> Result<NodeFiles, RenderError> {
        let unsupported = |detail: String| RenderError::Unsupported {
            cluster: cluster.name.clone(),
            detail,
        };
        let mut files: Vec<NodeFile> =
            cluster_configurations(plan, cluster, SecretsSource::Placeholders)
                .map_err(|error| unsupported(error.to_string()))?
                .into_iter()
                .map(|configuration| NodeFile {
                    vm: configuration.vm.clone(),
                    name: MACHINE_CONFIGURATION_FILE.to_owned(),
                    contents: configuration.for_review(),
                })
                .collect();
        // The etcd snapshots' CronJobs are the cluster's: shown with the first control plane,
        // as the add-ons' drift is reported.
        if let (Some(contents), Some(first)) = (
            crate::etcd_snapshots::manifest(cluster)?,
            cluster.nodes.iter().find(|node| node.role.is_server()),
        ) {
            files.push(NodeFile {
                vm: first.vm.clone(),
                name: format!("{}.yaml", crate::etcd_snapshots::MANIFEST_NAME),
                contents,
            });
        }
        let bundle_key = bundle_store_key(&plan.scope, &cluster.name)
            .map_err(|error| unsupported(error.to_string()))?;
        let talosconfig_key = talosconfig_store_key(&plan.scope, &cluster.name)
            .map_err(|error| unsupported(error.to_string()))?;
        let secrets = vec![
            DistributionSecret {
                what: "Talos secrets bundle (cluster ID and secret, bootstrap token, secretbox key, CAs and their keys, service-account key)".to_owned(),
                generated_by: Some("labform".to_owned()),
                store_key: Some(bundle_key.as_str().to_owned()),
                from: None,
                node_path: "the machine configuration, in the node's seed image (user-data)"
                    .to_owned(),
            },
            DistributionSecret {
                what: "talosconfig (os:admin client certificate signed by the OS CA)".to_owned(),
                generated_by: Some("labform".to_owned()),
                store_key: Some(talosconfig_key.as_str().to_owned()),
                from: None,
                node_path: "none: labform's own, for the Talos API".to_owned(),
            },
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
            let progress = |subject: &str, step: &str| {
                context.progress.report(&cluster.name, subject, step);
            };
            let talos = self.context(context, &progress);
            let outcome = cluster::converge(&talos, cluster)
                .await
                .map_err(failed(cluster, "bringing it to its plan"))?;
            let server = format!("https://{}:{KUBERNETES_API_PORT}", cluster.api_address);
            let kubeconfig = ClusterKubeconfig::from_admin_kubeconfig(
                &format!(
                    "the admin kubeconfig Talos gave for cluster {}",
                    cluster.name
                ),
                &outcome.kubeconfig,
                &cluster.kubeconfig_context,
                &server,
                None,
            )
            .map_err(failed(cluster, "reading its kubeconfig"))?;
            let key = kubeconfig_store_key(&context.plan.scope, &cluster.name)
                .map_err(failed(cluster, "keeping its kubeconfig"))?;
            context
                .store
                .put(&key, &kubeconfig.to_text())
                .map_err(failed(cluster, "keeping its kubeconfig"))?;
            let delivered = crate::addons::deliver(context, cluster, &outcome.kubeconfig, addons)
                .await
                .map_err(failed(cluster, "delivering its add-ons"))?;
            crate::addons::set_api_labels(context, cluster, &outcome.kubeconfig)
                .await
                .map_err(failed(cluster, "labelling its nodes"))?;
            let mut changed_nodes = outcome.applied;
            for node in &outcome.upgraded {
                if !changed_nodes.contains(node) {
                    changed_nodes.push(node.clone());
                }
            }
            Ok(ClusterOutcome {
                cluster: cluster.name.clone(),
                changed_nodes,
                upgraded_nodes: outcome.upgraded,
                manifests_written: delivered.written,
                manifests_removed: delivered.removed,
                secrets: delivered.secrets,
                kubeconfig,
                tenant_kubeconfigs: Vec::new(),
            })
        })
    }

    fn drift<'a>(
        &'a self,
        context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
        addons: &'a AddonManifests,
    ) -> DistributionFuture<'a, Vec<NodeDrift>> {
        Box::pin(async move {
            let progress = |subject: &str, step: &str| {
                context.progress.report(&cluster.name, subject, step);
            };
            let talos = self.context(context, &progress);
            let (report, kubeconfig) = cluster::drift(&talos, cluster)
                .await
                .map_err(failed(cluster, "comparing its nodes with the plan"))?;
            let mut nodes: Vec<NodeDrift> = report
                .into_iter()
                .map(|node| {
                    let mut drift = NodeDrift::new(node.node);
                    drift.files = node
                        .documents
                        .into_iter()
                        .map(|document| format!("machine configuration document {document}"))
                        .collect();
                    drift.version = node.version;
                    drift.unreachable = node.unreachable;
                    drift
                })
                .collect();
            // The add-ons are the cluster's: reported with the first control plane, as kubeadm
            // reports the copies it keeps there.
            if let (Some(kubeconfig), Some(first)) = (kubeconfig, nodes.first_mut()) {
                crate::addons::drift(cluster, &kubeconfig, addons, first)
                    .await
                    .map_err(failed(cluster, "comparing its add-ons with the plan"))?;
            }
            Ok(nodes)
        })
    }

    fn leave_node<'a>(
        &'a self,
        context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
        node: &'a PlannedClusterNode,
    ) -> DistributionFuture<'a, ()> {
        Box::pin(async move {
            let progress = |subject: &str, step: &str| {
                context.progress.report(&cluster.name, subject, step);
            };
            let talos = self.context(context, &progress);
            cluster::leave(&talos, cluster, &node.vm)
                .await
                .map_err(failed(cluster, "resetting the node that leaves"))?;
            Ok(())
        })
    }

    fn reset<'a>(
        &'a self,
        context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
    ) -> DistributionFuture<'a, ()> {
        Box::pin(async move {
            let progress = |subject: &str, step: &str| {
                context.progress.report(&cluster.name, subject, step);
            };
            let talos = self.context(context, &progress);
            cluster::reset(&talos, cluster)
                .await
                .map_err(failed(cluster, "resetting its nodes"))?;
            Ok(())
        })
    }
}
