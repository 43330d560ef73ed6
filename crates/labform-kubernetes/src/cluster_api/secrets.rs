//! The Kubernetes Secrets apply makes from the lab's secret references before the add-ons that
//! read them ([`crate::RequiredSecret`]): created when missing, updated when a value or label
//! differs, left alone when equal, and deleted when the lab no longer needs them. They carry the
//! labels `app.kubernetes.io/managed-by: labform` and `labform.dev/secret: from-lab-reference`;
//! only Secrets with the second are ever deleted here. Namespaces they need are created (with the same label) when missing.
//!
//! Values are [`SecretString`]s until they are encoded into the request body; nothing here
//! prints, logs or puts them into an error.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;

use crate::cluster_api::{ClusterApi, ClusterApiError, request_error};

/// The label that marks what labform made.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "labform");

/// The label that marks the Secrets made here (other objects labform declares in manifests,
/// such as a tenant's ServiceAccount token Secret, are not this code's to delete).
pub const FROM_REFERENCE: (&str, &str) = ("labform.dev/secret", "from-lab-reference");

/// A Secret as the lab wants it.
pub struct WantedSecret {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Keys and values.
    pub data: BTreeMap<String, SecretString>,
    /// Labels besides [`MANAGED_BY`].
    pub labels: BTreeMap<String, String>,
}

impl std::fmt::Debug for WantedSecret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("WantedSecret")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .field("labels", &self.labels)
            .finish()
    }
}

/// What [`ClusterApi::converge_secrets`] did, as `namespace/name`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretChanges {
    /// Created.
    pub created: Vec<String>,
    /// Updated (a value, a key or a label differed).
    pub updated: Vec<String>,
    /// Already as wanted.
    pub unchanged: Vec<String>,
    /// labform's Secrets the lab no longer has, deleted.
    pub deleted: Vec<String>,
}

impl SecretChanges {
    /// Whether anything was written.
    pub fn changed(&self) -> bool {
        !(self.created.is_empty() && self.updated.is_empty() && self.deleted.is_empty())
    }
}

fn labels_of(wanted: &WantedSecret) -> BTreeMap<String, String> {
    let mut labels = wanted.labels.clone();
    labels.insert(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned());
    labels.insert(FROM_REFERENCE.0.to_owned(), FROM_REFERENCE.1.to_owned());
    labels
}

fn data_of(wanted: &WantedSecret) -> BTreeMap<String, ByteString> {
    wanted
        .data
        .iter()
        .map(|(key, value)| {
            (
                key.clone(),
                ByteString(value.expose_secret().as_bytes().to_vec()),
            )
        })
        .collect()
}

impl ClusterApi {
    /// Makes the cluster's labform Secrets exactly `wanted`.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] naming the Secret or namespace when a request fails.
    pub async fn converge_secrets(
        &self,
        wanted: &[WantedSecret],
    ) -> Result<SecretChanges, ClusterApiError> {
        let mut changes = SecretChanges::default();
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let mut present_namespaces = BTreeSet::new();
        for secret in wanted {
            let label = format!("{}/{}", secret.namespace, secret.name);
            if present_namespaces.insert(secret.namespace.clone())
                && namespaces
                    .get_opt(&secret.namespace)
                    .await
                    .map_err(|error| {
                        request_error(
                            &format!("cannot read namespace {}", secret.namespace),
                            &error,
                        )
                    })?
                    .is_none()
            {
                let namespace: Namespace = serde_json::from_value(json!({
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": secret.namespace, "labels": {MANAGED_BY.0: MANAGED_BY.1}},
                }))
                .expect("a valid Namespace");
                namespaces
                    .create(&PostParams::default(), &namespace)
                    .await
                    .map_err(|error| {
                        request_error(
                            &format!("cannot create namespace {}", secret.namespace),
                            &error,
                        )
                    })?;
            }
            let api: Api<Secret> = Api::namespaced(self.client.clone(), &secret.namespace);
            let data = data_of(secret);
            let labels = labels_of(secret);
            let existing = api
                .get_opt(&secret.name)
                .await
                .map_err(|error| request_error(&format!("cannot read Secret {label}"), &error))?;
            match existing {
                None => {
                    let mut object = Secret::default();
                    object.metadata.name = Some(secret.name.clone());
                    object.metadata.namespace = Some(secret.namespace.clone());
                    object.metadata.labels = Some(labels);
                    object.type_ = Some("Opaque".to_owned());
                    object.data = Some(data);
                    api.create(&PostParams::default(), &object)
                        .await
                        .map_err(|error| {
                            request_error(&format!("cannot create Secret {label}"), &error)
                        })?;
                    changes.created.push(label);
                }
                Some(existing) => {
                    let current_data = existing.data.clone().unwrap_or_default();
                    let current_labels = existing.metadata.labels.clone().unwrap_or_default();
                    let labels_match = labels
                        .iter()
                        .all(|(key, value)| current_labels.get(key) == Some(value));
                    if current_data == data && labels_match {
                        changes.unchanged.push(label);
                        continue;
                    }
                    // A JSON merge patch: every wanted key, and null for keys no longer wanted.
                    let mut patch_data = serde_json::Map::new();
                    for key in current_data.keys() {
                        if !data.contains_key(key) {
                            patch_data.insert(key.clone(), serde_json::Value::Null);
                        }
                    }
                    for (key, value) in &data {
                        patch_data.insert(
                            key.clone(),
                            serde_json::to_value(value).expect("bytes serialise"),
                        );
                    }
                    let patch = json!({"metadata": {"labels": labels}, "data": patch_data});
                    api.patch(&secret.name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .map_err(|error| {
                            request_error(&format!("cannot update Secret {label}"), &error)
                        })?;
                    changes.updated.push(label);
                }
            }
        }
        let wanted_names: BTreeSet<(String, String)> = wanted
            .iter()
            .map(|secret| (secret.namespace.clone(), secret.name.clone()))
            .collect();
        let all: Api<Secret> = Api::all(self.client.clone());
        let selector = format!("{}={}", FROM_REFERENCE.0, FROM_REFERENCE.1);
        let managed = all
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|error| request_error("cannot list labform's Secrets", &error))?;
        for item in managed.items {
            let (Some(namespace), Some(name)) = (item.metadata.namespace, item.metadata.name)
            else {
                continue;
            };
            if wanted_names.contains(&(namespace.clone(), name.clone())) {
                continue;
            }
            let api: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => changes.deleted.push(format!("{namespace}/{name}")),
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => {
                    return Err(request_error(
                        &format!("cannot delete Secret {namespace}/{name}"),
                        &error,
                    ));
                }
            }
        }
        Ok(changes)
    }
}

impl ClusterApi {
    /// The keys and values of Secret `namespace/name`, or `None` when it does not exist.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] when it cannot be read.
    pub async fn read_secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, SecretString>>, ClusterApiError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = api.get_opt(name).await.map_err(|error| {
            request_error(&format!("cannot read Secret {namespace}/{name}"), &error)
        })?;
        Ok(secret.map(|secret| {
            secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(key, value)| {
                    (
                        key,
                        SecretString::from(String::from_utf8_lossy(&value.0).into_owned()),
                    )
                })
                .collect()
        }))
    }
}
