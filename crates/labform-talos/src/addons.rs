//! The add-ons of a Talos cluster, through its Kubernetes API alone: Talos has no auto-deploy
//! directory and no SSH, so labform applies the same numbered manifests as on kubeadm (the Helm
//! controller first, then the add-ons' `HelmChart`s and objects) by server-side apply with the
//! admin kubeconfig Talos gives, after the Secrets they read.
//!
//! What was applied is recorded in the cluster itself, in the ConfigMap
//! `kube-system/labform-addons` (`NAME.yaml` → manifest text; manifests name Secrets, never hold
//! them), so any machine running `labform apply` sees the same: a manifest is applied again when
//! its text changed or one of its objects is missing, a manifest the lab dropped has its objects
//! deleted, and [`drift`] compares the record and the objects with the plan without writing.
//! A manifest naming custom resources waits until the cluster serves their kinds (the chart
//! before it brings the CRDs, Talos the `ServiceAccount` kind of the etcd snapshots'
//! manifest); `HelmChart`s wait for the Helm controller's CRDs. The etcd snapshots' CronJobs
//! ([`crate::etcd_snapshots`]) are delivered and recorded last, as one more manifest.

use std::collections::BTreeMap;

use labform_kubernetes::cluster_api::{ClusterApi, ClusterApiError, SecretChanges};
use labform_kubernetes::distribution::{ClusterContext, NodeDrift};
use labform_kubernetes::{AddonManifests, HELM_CRDS};
use labform_planner::plan::PlannedCluster;
use labform_secrets::SecretString;

use crate::error::TalosError;

/// Where labform records the manifests it applied.
pub const RECORD_NAMESPACE: &str = "kube-system";

/// The ConfigMap of the record.
pub const RECORD_NAME: &str = "labform-addons";

/// The label the Helm controller's bootstrap jobs select, with K3s's value (Talos labels its
/// control planes with an empty value).
const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";

/// What delivering the add-ons did.
#[derive(Debug, Default)]
pub struct Delivered {
    /// Manifests applied.
    pub written: Vec<String>,
    /// Manifests whose objects were deleted (the lab dropped them).
    pub removed: Vec<String>,
    /// What changed of the Secrets the add-ons read.
    pub secrets: SecretChanges,
}

fn api_failed(
    cluster: &PlannedCluster,
    action: String,
) -> impl FnOnce(ClusterApiError) -> TalosError {
    let cluster = cluster.name.clone();
    move |source| TalosError::KubernetesApi {
        cluster,
        action,
        source,
    }
}

/// The client of the cluster's API, from the admin kubeconfig Talos gave.
async fn connect(
    cluster: &PlannedCluster,
    kubeconfig: &SecretString,
) -> Result<ClusterApi, TalosError> {
    ClusterApi::from_kubeconfig(kubeconfig)
        .await
        .map_err(api_failed(
            cluster,
            "connecting to the Kubernetes API".to_owned(),
        ))
}

/// The manifests in apply order, each under its add-on's file name (`argocd.yaml`): the record
/// is keyed by it, so an add-on dropped before it does not rename the manifests after it.
fn files(
    cluster: &PlannedCluster,
    addons: &AddonManifests,
) -> Result<Vec<(String, String)>, TalosError> {
    let numbered = addons
        .numbered_files(&cluster.name)
        .map_err(|error| TalosError::Addons {
            cluster: cluster.name.clone(),
            detail: error.to_string(),
        })?;
    let mut files: Vec<(String, String)> = addons
        .files
        .iter()
        .zip(numbered)
        .map(|(file, (_, text))| (format!("{}.yaml", file.name), text))
        .collect();
    // The etcd snapshots' CronJobs go with them: recorded the same way, so a schedule the lab
    // drops has its objects deleted.
    let snapshots =
        crate::etcd_snapshots::manifest(cluster).map_err(|error| TalosError::Addons {
            cluster: cluster.name.clone(),
            detail: error.to_string(),
        })?;
    if let Some(text) = snapshots {
        files.push((
            format!("{}.yaml", crate::etcd_snapshots::MANIFEST_NAME),
            text,
        ));
    }
    Ok(files)
}

/// Gives the nodes of `cluster` the labels of their group's `api_labels` (those a node may not
/// give itself) through the Kubernetes API of `kubeconfig`, as on K3s and kubeadm; reports each
/// node written. Nothing is asked of the API when no group has any.
pub async fn set_api_labels(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
    kubeconfig: &SecretString,
) -> Result<(), TalosError> {
    if cluster.nodes.iter().all(|node| node.api_labels.is_empty()) {
        return Ok(());
    }
    let api = connect(cluster, kubeconfig).await?;
    for line in api.set_api_labels(cluster).await.map_err(api_failed(
        cluster,
        "labelling the nodes (api_labels)".to_owned(),
    ))? {
        context.progress.report(&cluster.name, &cluster.name, &line);
    }
    Ok(())
}

/// Brings the add-ons of `cluster` to the plan through the Kubernetes API of `kubeconfig`.
pub async fn deliver(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
    kubeconfig: &SecretString,
    addons: &AddonManifests,
) -> Result<Delivered, TalosError> {
    let manifests = files(cluster, addons)?;
    let api = connect(cluster, kubeconfig).await?;
    let record = api
        .read_config_map(RECORD_NAMESPACE, RECORD_NAME)
        .await
        .map_err(api_failed(
            cluster,
            "reading labform's record of the add-ons".to_owned(),
        ))?
        .unwrap_or_default();
    if manifests.is_empty() && record.is_empty() {
        return Ok(Delivered::default());
    }
    let report = |step: &str| context.progress.report(&cluster.name, &cluster.name, step);

    // The Helm controller's bootstrap jobs (the CNI) run on nodes labelled as K3s labels its
    // servers.
    let nodes = api
        .node_versions()
        .await
        .map_err(api_failed(cluster, "listing the nodes".to_owned()))?;
    for node in cluster.nodes.iter().filter(|node| node.role.is_server()) {
        if nodes.contains_key(&node.vm) {
            api.label_node(&node.vm, CONTROL_PLANE_LABEL, "true")
                .await
                .map_err(api_failed(cluster, format!("labelling node {}", node.vm)))?;
        }
    }

    let secrets = addons
        .wanted_secrets(context.resolve_secret)
        .map_err(|detail| TalosError::Addons {
            cluster: cluster.name.clone(),
            detail,
        })?;
    let secret_changes = api.converge_secrets(&secrets).await.map_err(api_failed(
        cluster,
        "making the Secrets the add-ons read".to_owned(),
    ))?;

    let mut delivered = Delivered {
        secrets: secret_changes,
        ..Delivered::default()
    };
    let mut kept: BTreeMap<String, String> = record.clone();
    for (name, text) in &manifests {
        let missing = api.missing_objects(name, text).await.map_err(api_failed(
            cluster,
            format!("reading the objects of {name}"),
        ))?;
        if record.get(name) == Some(text) && missing.is_empty() {
            continue;
        }
        report(&format!("apply add-on manifest {name}"));
        if text.contains("kind: HelmChart") {
            api.wait_crds_established(
                &HELM_CRDS,
                context.options.ready_timeout,
                context.options.poll,
            )
            .await
            .map_err(api_failed(
                cluster,
                "waiting for the Helm controller's CRDs".to_owned(),
            ))?;
        }
        api.wait_kinds_served(
            name,
            text,
            context.options.ready_timeout,
            context.options.poll,
        )
        .await
        .map_err(api_failed(
            cluster,
            format!("waiting for the kinds of {name}"),
        ))?;
        api.apply_manifest(name, text)
            .await
            .map_err(api_failed(cluster, format!("applying {name}")))?;
        kept.insert(name.clone(), text.clone());
        api.put_config_map(RECORD_NAMESPACE, RECORD_NAME, &kept)
            .await
            .map_err(api_failed(
                cluster,
                "recording the add-ons applied".to_owned(),
            ))?;
        delivered.written.push(name.clone());
    }
    for (stale, text) in record.iter().rev() {
        if manifests.iter().any(|(name, _)| name == stale) {
            continue;
        }
        report(&format!("remove add-on {stale}"));
        api.delete_objects(text).await.map_err(api_failed(
            cluster,
            format!("removing the objects of {stale}"),
        ))?;
        kept.remove(stale);
        api.put_config_map(RECORD_NAMESPACE, RECORD_NAME, &kept)
            .await
            .map_err(api_failed(
                cluster,
                "recording the add-ons applied".to_owned(),
            ))?;
        delivered.removed.push(stale.clone());
    }
    Ok(delivered)
}

/// Compares the add-ons of `cluster` with the plan, writing nothing: the manifests whose
/// recorded text differs or is missing, or one of whose objects is missing, go to `drift`'s
/// `manifests`; recorded manifests the lab no longer has to its `extra_manifests`.
pub async fn drift(
    cluster: &PlannedCluster,
    kubeconfig: &SecretString,
    addons: &AddonManifests,
    drift: &mut NodeDrift,
) -> Result<(), TalosError> {
    let manifests = files(cluster, addons)?;
    let api = connect(cluster, kubeconfig).await?;
    let record = api
        .read_config_map(RECORD_NAMESPACE, RECORD_NAME)
        .await
        .map_err(api_failed(
            cluster,
            "reading labform's record of the add-ons".to_owned(),
        ))?
        .unwrap_or_default();
    for (name, text) in &manifests {
        if record.get(name) != Some(text) {
            drift.manifests.push(name.clone());
            continue;
        }
        let missing = api.missing_objects(name, text).await.map_err(api_failed(
            cluster,
            format!("reading the objects of {name}"),
        ))?;
        if let Some(first) = missing.first() {
            drift.manifests.push(format!(
                "{name} ({first} missing{})",
                if missing.len() > 1 {
                    format!(", and {} more", missing.len() - 1)
                } else {
                    String::new()
                }
            ));
        }
    }
    drift.extra_manifests = record
        .keys()
        .filter(|name| !manifests.iter().any(|(wanted, _)| wanted == *name))
        .cloned()
        .collect();
    Ok(())
}
