//! Applying manifests through the API, for distributions without K3s's auto-deploy directory
//! (kubeadm): every object of a manifest by server-side apply with labform's field manager, in
//! the manifest's order, each kind resolved through discovery; waiting until CRDs are
//! Established (the Helm controller creates its own at start); and node labels.

use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::Scope;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::cluster_api::removal::ObjectReference;
use crate::cluster_api::{ClusterApi, ClusterApiError, describe_kube_error};

/// The field manager of labform's server-side applies.
pub const FIELD_MANAGER: &str = "labform";

impl ClusterApi {
    /// Applies every object of the multi-document manifest `manifest_yaml` (named `manifest`
    /// in errors) by server-side apply, forcing labform's ownership of the fields it sets, in
    /// order. Returns how many objects were applied.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Manifest`] when the manifest cannot be read or names a kind the
    /// cluster does not serve (nothing after it is applied); [`ClusterApiError::Request`] when
    /// an apply fails.
    pub async fn apply_manifest(
        &self,
        manifest: &str,
        manifest_yaml: &str,
    ) -> Result<usize, ClusterApiError> {
        let documents: Vec<Value> =
            serde_saphyr::from_multiple(manifest_yaml).map_err(|error| {
                ClusterApiError::Manifest {
                    manifest: manifest.to_owned(),
                    document: 1,
                    problem: format!("not valid YAML: {error}"),
                }
            })?;
        let mut applied = 0;
        for (index, document) in documents.into_iter().enumerate() {
            if document.is_null() {
                continue;
            }
            let field = |path: &[&str]| {
                let mut current = &document;
                for segment in path {
                    current = &current[*segment];
                }
                current.as_str().map(str::to_owned)
            };
            let problem = |problem: &str| ClusterApiError::Manifest {
                manifest: manifest.to_owned(),
                document: index + 1,
                problem: problem.to_owned(),
            };
            let object = ObjectReference {
                api_version: field(&["apiVersion"]).ok_or_else(|| problem("no apiVersion"))?,
                kind: field(&["kind"]).ok_or_else(|| problem("no kind"))?,
                namespace: field(&["metadata", "namespace"]),
                name: field(&["metadata", "name"]).ok_or_else(|| problem("no metadata.name"))?,
            };
            let (resource, capabilities) = match self.resolve(&object).await? {
                Ok(found) => found,
                Err(detail) => return Err(problem(&format!("{object}: {detail}"))),
            };
            let api: Api<DynamicObject> = match capabilities.scope {
                Scope::Namespaced => Api::namespaced_with(
                    self.client.clone(),
                    object.namespace.as_deref().unwrap_or("default"),
                    &resource,
                ),
                Scope::Cluster => Api::all_with(self.client.clone(), &resource),
            };
            api.patch(
                &object.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&document),
            )
            .await
            .map_err(|error| ClusterApiError::Request {
                action: format!("cannot apply {object} of {manifest}"),
                detail: describe_kube_error(&error),
            })?;
            applied += 1;
        }
        Ok(applied)
    }

    /// Waits until every CRD of `names` exists and is Established, checking every `poll`.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] after `timeout`, naming what is missing.
    pub async fn wait_crds_established(
        &self,
        names: &[&str],
        timeout: Duration,
        poll: Duration,
    ) -> Result<(), ClusterApiError> {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let deadline = Instant::now() + timeout;
        loop {
            let mut waiting = Vec::new();
            for name in names {
                let established = match crds.get_opt(name).await {
                    Ok(Some(crd)) => crd
                        .status
                        .and_then(|status| status.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|condition| {
                            condition.type_ == "Established" && condition.status == "True"
                        }),
                    Ok(None) => false,
                    Err(error) => {
                        return Err(ClusterApiError::Request {
                            action: format!("cannot read CustomResourceDefinition {name}"),
                            detail: describe_kube_error(&error),
                        });
                    }
                };
                if !established {
                    waiting.push(*name);
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ClusterApiError::Request {
                    action: "waiting for CustomResourceDefinitions".to_owned(),
                    detail: format!(
                        "{} not Established within {}s",
                        waiting.join(", "),
                        timeout.as_secs()
                    ),
                });
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Sets label `key` to `value` on node `node` (a merge patch; other labels stay).
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] when the patch fails (for example, no such node).
    pub async fn label_node(
        &self,
        node: &str,
        key: &str,
        value: &str,
    ) -> Result<(), ClusterApiError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        nodes
            .patch(
                node,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {key: value}}})),
            )
            .await
            .map_err(|error| ClusterApiError::Request {
                action: format!("cannot label node {node}"),
                detail: describe_kube_error(&error),
            })?;
        Ok(())
    }
}
