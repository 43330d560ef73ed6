//! What a distribution without an auto-deploy directory or SSH (Talos) needs to deliver add-ons
//! through the API alone: a record of the manifests labform applied, kept in the cluster as a
//! ConfigMap (the manifests name Secrets, never hold them), which objects of a manifest are
//! missing, and waiting until the kinds a manifest names are served (the CRDs a chart's Job
//! installs).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::Scope;
use serde_json::json;
use tokio::time::Instant;

use crate::cluster_api::apply::FIELD_MANAGER;
use crate::cluster_api::removal::{ObjectReference, objects_of};
use crate::cluster_api::secrets::MANAGED_BY;
use crate::cluster_api::{ClusterApi, ClusterApiError, describe_kube_error};

impl ClusterApi {
    /// The data of ConfigMap `namespace/name`, or `None` when it does not exist.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] when it cannot be read.
    pub async fn read_config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, ClusterApiError> {
        let maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let found = maps
            .get_opt(name)
            .await
            .map_err(|error| ClusterApiError::Request {
                action: format!("cannot read ConfigMap {namespace}/{name}"),
                detail: describe_kube_error(&error),
            })?;
        Ok(found.map(|map| map.data.unwrap_or_default()))
    }

    /// Makes ConfigMap `namespace/name` hold exactly `data` (server-side apply, labelled as
    /// labform's).
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] when it cannot be written.
    pub async fn put_config_map(
        &self,
        namespace: &str,
        name: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<(), ClusterApiError> {
        let maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let (label, value) = MANAGED_BY;
        let body = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": {label: value}},
            "data": data,
        });
        maps.patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|error| ClusterApiError::Request {
            action: format!("cannot write ConfigMap {namespace}/{name}"),
            detail: describe_kube_error(&error),
        })?;
        Ok(())
    }

    /// The objects of manifest `manifest_yaml` (named `manifest` in errors) that do not exist,
    /// in order; an object whose kind the cluster does not serve is missing too.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Manifest`] when the manifest cannot be read;
    /// [`ClusterApiError::Request`] when discovery or a read fails.
    pub async fn missing_objects(
        &self,
        manifest: &str,
        manifest_yaml: &str,
    ) -> Result<Vec<ObjectReference>, ClusterApiError> {
        let mut missing = Vec::new();
        for object in objects_of(manifest, manifest_yaml)? {
            let (resource, capabilities) = match self.resolve(&object).await? {
                Ok(found) => found,
                Err(_) => {
                    missing.push(object);
                    continue;
                }
            };
            let api: Api<DynamicObject> = match capabilities.scope {
                Scope::Namespaced => Api::namespaced_with(
                    self.client.clone(),
                    object.namespace.as_deref().unwrap_or("default"),
                    &resource,
                ),
                Scope::Cluster => Api::all_with(self.client.clone(), &resource),
            };
            let found =
                api.get_opt(&object.name)
                    .await
                    .map_err(|error| ClusterApiError::Request {
                        action: format!("cannot read {object}"),
                        detail: describe_kube_error(&error),
                    })?;
            if found.is_none() {
                missing.push(object);
            }
        }
        Ok(missing)
    }

    /// Waits until the cluster serves the kind of every object of `manifest_yaml` (named
    /// `manifest` in errors): a chart's custom resources can only be applied once the Job
    /// installing the chart has made its CRDs. Checks every `poll`.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Manifest`] when the manifest cannot be read;
    /// [`ClusterApiError::Request`] after `timeout`, naming the kinds still not served.
    pub async fn wait_kinds_served(
        &self,
        manifest: &str,
        manifest_yaml: &str,
        timeout: Duration,
        poll: Duration,
    ) -> Result<(), ClusterApiError> {
        let mut kinds: Vec<ObjectReference> = Vec::new();
        for object in objects_of(manifest, manifest_yaml)? {
            if !kinds
                .iter()
                .any(|kind| kind.api_version == object.api_version && kind.kind == object.kind)
            {
                kinds.push(object);
            }
        }
        let deadline = Instant::now() + timeout;
        loop {
            let mut waiting = Vec::new();
            for object in &kinds {
                if let Err(detail) = self.resolve(object).await? {
                    waiting.push(format!("{} {} ({detail})", object.api_version, object.kind));
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ClusterApiError::Request {
                    action: format!("waiting for the kinds {manifest} names"),
                    detail: format!(
                        "{} not served within {}s (the chart that brings their CRDs has not installed them)",
                        waiting.join(", "),
                        timeout.as_secs()
                    ),
                });
            }
            tokio::time::sleep(poll).await;
        }
    }
}
