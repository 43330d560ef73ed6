//! Removing an add-on from a cluster: deleting every object of its manifest.
//!
//! K3s applies the files in its auto-deploy directory (`/var/lib/rancher/k3s/server/manifests`)
//! but, as its documentation says, deleting a file there does not delete the corresponding
//! resources. So labform removes the file first (otherwise K3s would apply it again) and then
//! deletes the manifest's objects through the API, plus the `Addon` object
//! (`k3s.cattle.io/v1`, namespace `kube-system`) K3s keeps per manifest file, named after the
//! file without its extension. Deleting a `HelmChart` makes K3s's helm controller uninstall
//! the chart's release.
//!
//! Objects are deleted in reverse manifest order (dependents before what they depend on, the
//! namespaces last), with background propagation as `kubectl delete` does. Kinds are resolved
//! through discovery; an object that does not exist is fine, and a kind the cluster does not
//! serve is reported (no object of it can exist, for example because the CRD defining it is
//! already gone).

use std::collections::BTreeMap;
use std::fmt;

use kube::api::{Api, DeleteParams, DynamicObject, GroupVersionKind};
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde_json::Value;

use crate::cluster_api::{ClusterApi, ClusterApiError, describe_kube_error};

/// An object named by a manifest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectReference {
    /// `apiVersion` (`v1`, `helm.cattle.io/v1`).
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace, when the manifest names one.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl fmt::Display for ObjectReference {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} ", self.kind)?;
        if let Some(namespace) = &self.namespace {
            write!(formatter, "{namespace}/")?;
        }
        write!(formatter, "{} ({})", self.name, self.api_version)
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeletionOutcome {
    /// Deleted (it may take a while to go, for example while finalizers run).
    Deleted,
    /// It did not exist.
    Absent,
    /// The cluster does not serve its kind, so no such object exists.
    UnknownKind {
        /// Why discovery did not resolve it.
        detail: String,
    },
}

/// What [`ClusterApi::delete_objects`] did, object by object, in the order it went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletionReport {
    /// Each object and its outcome.
    pub objects: Vec<(ObjectReference, DeletionOutcome)>,
}

impl DeletionReport {
    fn with(&self, wanted: fn(&DeletionOutcome) -> bool) -> Vec<&ObjectReference> {
        self.objects
            .iter()
            .filter(|(_, outcome)| wanted(outcome))
            .map(|(object, _)| object)
            .collect()
    }

    /// The objects deleted.
    pub fn deleted(&self) -> Vec<&ObjectReference> {
        self.with(|outcome| *outcome == DeletionOutcome::Deleted)
    }

    /// The objects that did not exist.
    pub fn absent(&self) -> Vec<&ObjectReference> {
        self.with(|outcome| *outcome == DeletionOutcome::Absent)
    }

    /// The objects whose kind the cluster does not serve.
    pub fn unknown_kinds(&self) -> Vec<&ObjectReference> {
        self.with(|outcome| matches!(outcome, DeletionOutcome::UnknownKind { .. }))
    }
}

impl fmt::Display for DeletionReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (object, outcome) in &self.objects {
            if !first {
                formatter.write_str("\n")?;
            }
            first = false;
            match outcome {
                DeletionOutcome::Deleted => write!(formatter, "deleted {object}")?,
                DeletionOutcome::Absent => write!(formatter, "already absent: {object}")?,
                DeletionOutcome::UnknownKind { detail } => {
                    write!(formatter, "not deleted: {object}: {detail}")?;
                }
            }
        }
        Ok(())
    }
}

/// The name K3s gives the `Addon` object of an auto-deploy manifest file: the file name without
/// its directory and its `.yaml`, `.yml` or `.json` extension.
pub fn addon_name(manifest_file: &str) -> &str {
    let base = manifest_file
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(manifest_file);
    [".yaml", ".yml", ".json"]
        .iter()
        .find_map(|extension| base.strip_suffix(extension))
        .unwrap_or(base)
}

fn manifest_error(manifest: &str, document: usize, problem: impl Into<String>) -> ClusterApiError {
    ClusterApiError::Manifest {
        manifest: manifest.to_owned(),
        document,
        problem: problem.into(),
    }
}

/// The objects of a multi-document manifest, in order; `List` documents contribute their
/// items.
pub(super) fn objects_of(
    manifest: &str,
    yaml: &str,
) -> Result<Vec<ObjectReference>, ClusterApiError> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(yaml)
        .map_err(|error| manifest_error(manifest, 1, format!("not valid YAML: {error}")))?;
    let mut objects = Vec::new();
    for (index, document) in documents.iter().enumerate() {
        let number = index + 1;
        if document.is_null() {
            continue;
        }
        let items: Vec<&Value> = if document["kind"]
            .as_str()
            .is_some_and(|kind| kind.ends_with("List"))
            && document["items"].is_array()
        {
            document["items"].as_array().into_iter().flatten().collect()
        } else {
            vec![document]
        };
        for item in items {
            let field = |path: &[&str]| {
                let mut current = item;
                for segment in path {
                    current = &current[*segment];
                }
                current.as_str().map(str::to_owned)
            };
            let api_version = field(&["apiVersion"])
                .ok_or_else(|| manifest_error(manifest, number, "an object has no apiVersion"))?;
            let kind = field(&["kind"])
                .ok_or_else(|| manifest_error(manifest, number, "an object has no kind"))?;
            let name = field(&["metadata", "name"]).ok_or_else(|| {
                manifest_error(
                    manifest,
                    number,
                    format!(
                        "a {kind} has no metadata.name (generateName cannot be deleted by name)"
                    ),
                )
            })?;
            objects.push(ObjectReference {
                api_version,
                kind,
                namespace: field(&["metadata", "namespace"]),
                name,
            });
        }
    }
    Ok(objects)
}

fn group_version_kind(object: &ObjectReference) -> GroupVersionKind {
    let (group, version) = object
        .api_version
        .split_once('/')
        .unwrap_or(("", object.api_version.as_str()));
    GroupVersionKind::gvk(group, version, &object.kind)
}

pub(super) type Resolved = Result<(ApiResource, ApiCapabilities), String>;

impl ClusterApi {
    /// Resolves a kind through discovery: `Err(detail)` when the cluster does not serve it.
    pub(super) async fn resolve(
        &self,
        object: &ObjectReference,
    ) -> Result<Resolved, ClusterApiError> {
        let gvk = group_version_kind(object);
        match kube::discovery::pinned_kind(&self.client, &gvk).await {
            Ok(found) => Ok(Ok(found)),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(Err(format!(
                "the cluster does not serve API version {}",
                object.api_version
            ))),
            Err(kube::Error::Discovery(_)) => Ok(Err(format!(
                "the cluster serves API version {} but no kind {} in it",
                object.api_version, object.kind
            ))),
            Err(error) => Err(ClusterApiError::Request {
                action: format!("cannot look up {} {}", object.api_version, object.kind),
                detail: describe_kube_error(&error),
            }),
        }
    }

    async fn delete_each(
        &self,
        objects: Vec<ObjectReference>,
    ) -> Result<DeletionReport, ClusterApiError> {
        let mut kinds: BTreeMap<(String, String), Resolved> = BTreeMap::new();
        let mut report = DeletionReport::default();
        for object in objects {
            let key = (object.api_version.clone(), object.kind.clone());
            if !kinds.contains_key(&key) {
                let resolved = self.resolve(&object).await?;
                kinds.insert(key.clone(), resolved);
            }
            let (resource, capabilities) = match &kinds[&key] {
                Ok(found) => found,
                Err(detail) => {
                    report.objects.push((
                        object,
                        DeletionOutcome::UnknownKind {
                            detail: detail.clone(),
                        },
                    ));
                    continue;
                }
            };
            let api: Api<DynamicObject> = match capabilities.scope {
                Scope::Namespaced => Api::namespaced_with(
                    self.client.clone(),
                    object.namespace.as_deref().unwrap_or("default"),
                    resource,
                ),
                Scope::Cluster => Api::all_with(self.client.clone(), resource),
            };
            let outcome = match api.delete(&object.name, &DeleteParams::background()).await {
                Ok(_) => DeletionOutcome::Deleted,
                Err(kube::Error::Api(status)) if status.code == 404 => DeletionOutcome::Absent,
                Err(error) => {
                    return Err(ClusterApiError::Request {
                        action: format!("cannot delete {object}"),
                        detail: describe_kube_error(&error),
                    });
                }
            };
            report.objects.push((object, outcome));
        }
        Ok(report)
    }

    /// Deletes every object of a multi-document manifest (`apiVersion`, `kind`,
    /// `metadata.name`, `metadata.namespace`; namespaced objects without a namespace are in
    /// `default`), last document first.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Manifest`] when the manifest cannot be read (nothing is deleted then);
    /// [`ClusterApiError::Request`] when discovery or a deletion fails other than by a 404.
    pub async fn delete_objects(
        &self,
        manifest_yaml: &str,
    ) -> Result<DeletionReport, ClusterApiError> {
        let mut objects = objects_of("manifest", manifest_yaml)?;
        objects.reverse();
        self.delete_each(objects).await
    }

    /// Removes an add-on installed by the K3s auto-deploy manifest `manifest_file` (a file name
    /// or path): deletes the manifest's objects as [`Self::delete_objects`] does, then K3s's
    /// `Addon` object for that file. Remove the file from the servers first, or K3s applies it
    /// again.
    ///
    /// # Errors
    ///
    /// As [`Self::delete_objects`].
    pub async fn remove_addon(
        &self,
        manifest_file: &str,
        manifest_yaml: &str,
    ) -> Result<DeletionReport, ClusterApiError> {
        let mut objects = objects_of(manifest_file, manifest_yaml)?;
        objects.reverse();
        objects.push(ObjectReference {
            api_version: "k3s.cattle.io/v1".to_owned(),
            kind: "Addon".to_owned(),
            namespace: Some("kube-system".to_owned()),
            name: addon_name(manifest_file).to_owned(),
        });
        self.delete_each(objects).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addon_names_follow_the_file() {
        assert_eq!(addon_name("03-metallb.yaml"), "03-metallb");
        assert_eq!(
            addon_name("/var/lib/rancher/k3s/server/manifests/labform-traefik.yml"),
            "labform-traefik"
        );
        assert_eq!(addon_name("coredns.json"), "coredns");
        assert_eq!(addon_name("plain"), "plain");
    }

    #[test]
    fn manifests_are_read_in_order_with_lists_and_empty_documents() {
        let yaml = "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n---\n\
                    apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: b\n    namespace: a\n";
        let objects = objects_of("m.yaml", yaml).unwrap();
        let names: Vec<String> = objects.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["Namespace a (v1)", "ConfigMap a/b (v1)"]);
    }

    #[test]
    fn objects_without_a_name_are_refused() {
        let error = objects_of(
            "m.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: x-\n",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "manifest m.yaml, document 1: a ConfigMap has no metadata.name (generateName cannot be deleted by name)"
        );
    }
}
