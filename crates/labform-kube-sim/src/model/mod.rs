//! The simulated cluster's state and the API semantics on it: the resource types it serves,
//! objects stored as JSON, resource versions and UIDs, `Status` bodies in kube-apiserver's shape,
//! field and label selectors, JSON merge patch, evictions refused by disruption-budget rules, and
//! pods that take a while to go away after eviction or deletion.
//!
//! Here: the object store (create, get, list, patch, delete). Beside it:
//! `resources`, `answers`, `selectors` and `workloads` (nodes, pods, evictions).

mod answers;
mod resources;
mod selectors;
mod workloads;

pub(crate) use answers::*;
pub(crate) use resources::*;
pub(crate) use selectors::*;
use workloads::EvictionBlock;
pub use workloads::{NodeReadiness, PodOwner, PodSpec};

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// Key of a stored object: resource plural name, namespace (empty when cluster-scoped), name.
type ObjectKey = (&'static str, String, String);

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// HTTP status of the answer.
    pub status: u16,
}

/// The whole simulated cluster.
#[derive(Debug)]
pub(crate) struct State {
    objects: BTreeMap<ObjectKey, Value>,
    /// Objects being deleted, and when they go away.
    vanishing: BTreeMap<ObjectKey, Instant>,
    eviction_blocks: BTreeMap<(String, String), EvictionBlock>,
    /// How long an evicted or deleted pod stays, terminating.
    pub termination_delay: Duration,
    resource_version: u64,
    uid_counter: u64,
    /// `gitVersion` of `/version`.
    pub git_version: String,
    /// Answer 503 to every request until then.
    pub unavailable_until: Option<Instant>,
    /// `/readyz` fails (etcd check) while set.
    pub readyz_failing: bool,
    /// Requests answered.
    pub requests: Vec<RecordedRequest>,
}

impl State {
    pub(crate) fn new(git_version: &str) -> Self {
        let mut state = Self {
            objects: BTreeMap::new(),
            vanishing: BTreeMap::new(),
            eviction_blocks: BTreeMap::new(),
            termination_delay: Duration::ZERO,
            resource_version: 1000,
            uid_counter: 0,
            git_version: git_version.to_owned(),
            unavailable_until: None,
            readyz_failing: false,
            requests: Vec::new(),
        };
        for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            state.put_object(json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": namespace},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }));
        }
        state
    }

    fn next_resource_version(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    fn next_uid(&mut self) -> String {
        self.uid_counter += 1;
        format!("5e1a0000-0000-4000-8000-{:012x}", self.uid_counter)
    }

    /// Removes the objects whose termination is over.
    pub(crate) fn settle(&mut self) {
        let now = Instant::now();
        let done: Vec<ObjectKey> = self
            .vanishing
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in done {
            self.vanishing.remove(&key);
            self.objects.remove(&key);
        }
    }

    /// Stores `object` (any modelled kind), filling in uid, resourceVersion, creationTimestamp
    /// and the namespace of namespaced objects; replaces an object of the same name.
    pub(crate) fn put_object(&mut self, mut object: Value) -> Option<Value> {
        let resource = resource_of_kind(object["apiVersion"].as_str()?, object["kind"].as_str()?)?;
        let name = object["metadata"]["name"].as_str()?.to_owned();
        let namespace = if resource.namespaced {
            let namespace = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_owned();
            object["metadata"]["namespace"] = json!(namespace);
            namespace
        } else {
            String::new()
        };
        let uid = self.next_uid();
        let version = self.next_resource_version();
        let metadata = &mut object["metadata"];
        if metadata["uid"].is_null() {
            metadata["uid"] = json!(uid);
        }
        metadata["resourceVersion"] = json!(version);
        if metadata["creationTimestamp"].is_null() {
            metadata["creationTimestamp"] = json!(rfc3339(SystemTime::now()));
        }
        let key = (resource.plural, namespace, name);
        self.vanishing.remove(&key);
        self.objects.insert(key, object.clone());
        Some(object)
    }

    /// The stored object, if any.
    pub(crate) fn object(
        &self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Option<&Value> {
        let namespace = if resource.namespaced { namespace } else { "" };
        self.objects
            .get(&(resource.plural, namespace.to_owned(), name.to_owned()))
    }

    fn object_mut(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Option<&mut Value> {
        let namespace = if resource.namespaced { namespace } else { "" };
        self.objects
            .get_mut(&(resource.plural, namespace.to_owned(), name.to_owned()))
    }

    /// Removes an object at once (a test control, no termination).
    pub(crate) fn remove_object(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> bool {
        let namespace = if resource.namespaced { namespace } else { "" };
        let key = (resource.plural, namespace.to_owned(), name.to_owned());
        self.vanishing.remove(&key);
        self.objects.remove(&key).is_some()
    }

    /// `GET` of a collection.
    pub(crate) fn list(
        &self,
        resource: &ResourceType,
        namespace: Option<&str>,
        fields: &[Requirement],
        labels: &[Requirement],
    ) -> Answer {
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|((plural, object_namespace, _), _)| {
                *plural == resource.plural
                    && namespace.is_none_or(|namespace| namespace == object_namespace)
            })
            .map(|(_, object)| object)
            .filter(|object| {
                matches_fields(resource, object, fields) && matches_labels(object, labels)
            })
            .map(|object| {
                let mut item = object.clone();
                if !resource.custom()
                    && let Value::Object(map) = &mut item
                {
                    // Built-in list items carry no type metadata.
                    map.remove("apiVersion");
                    map.remove("kind");
                }
                item
            })
            .collect();
        Answer::ok(json!({
            "kind": format!("{}List", resource.kind),
            "apiVersion": resource.api_version(),
            "metadata": {"resourceVersion": self.resource_version.to_string()},
            "items": items,
        }))
    }

    /// `GET` of one object.
    pub(crate) fn get(&self, resource: &ResourceType, namespace: &str, name: &str) -> Answer {
        match self.object(resource, namespace, name) {
            Some(object) => Answer::ok(object.clone()),
            None => not_found(resource, name),
        }
    }

    /// `DELETE` of one object: 200 with the object (terminating, or as it was).
    pub(crate) fn delete(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Answer {
        match self.terminate(resource, namespace, name) {
            Some(object) => Answer::ok(object),
            None => not_found(resource, name),
        }
    }

    /// `POST` of a collection: creates the object; 409 if it exists.
    pub(crate) fn create(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        mut body: Value,
    ) -> Answer {
        if body["kind"] != resource.kind || body["apiVersion"] != resource.api_version() {
            return bad_request(&format!(
                "the API version in the data ({}) does not match the expected API version ({}) or kind ({})",
                body["apiVersion"],
                resource.api_version(),
                resource.kind
            ));
        }
        let Some(name) = body["metadata"]["name"].as_str().map(str::to_owned) else {
            return status_failure(
                422,
                "Invalid",
                &format!(
                    "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    resource.kind
                ),
                None,
            );
        };
        if self.object(resource, namespace, &name).is_some() {
            let mut details = json!({"name": name, "kind": resource.plural});
            if !resource.group.is_empty() {
                details["group"] = json!(resource.group);
            }
            return status_failure(
                409,
                "AlreadyExists",
                &format!("{} \"{name}\" already exists", resource.qualified()),
                Some(details),
            );
        }
        if resource.namespaced {
            body["metadata"]["namespace"] = json!(namespace);
        }
        let stored = self.put_object(body).unwrap_or(Value::Null);
        Answer {
            code: 201,
            body: stored,
        }
    }

    /// `PATCH` with a JSON merge patch (also used for strategic merge patch of the fields the
    /// simulator models, which are scalars and maps, where both agree).
    pub(crate) fn patch(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> Answer {
        let version = self.next_resource_version();
        let Some(object) = self.object_mut(resource, namespace, name) else {
            return not_found(resource, name);
        };
        let before_name = object["metadata"]["name"].clone();
        let before_namespace = object["metadata"]["namespace"].clone();
        let before_uid = object["metadata"]["uid"].clone();
        let mut patched = object.clone();
        merge_patch(&mut patched, patch);
        if patched["metadata"]["name"] != before_name
            || patched["metadata"]["namespace"] != before_namespace
        {
            return bad_request("the name of the object and the name in the patch do not match");
        }
        patched["metadata"]["uid"] = before_uid;
        patched["metadata"]["resourceVersion"] = json!(version);
        *object = patched.clone();
        Answer::ok(patched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_709_251_199)),
            "2024-02-29T23:59:59Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn merge_patch_removes_nulls_and_merges_maps() {
        let mut target = json!({"spec": {"unschedulable": true, "podCIDR": "x"}});
        merge_patch(&mut target, &json!({"spec": {"unschedulable": null}}));
        assert_eq!(target, json!({"spec": {"podCIDR": "x"}}));
        merge_patch(
            &mut target,
            &json!({"spec": {"unschedulable": true}, "a": [1]}),
        );
        assert_eq!(
            target,
            json!({"spec": {"podCIDR": "x", "unschedulable": true}, "a": [1]})
        );
    }

    #[test]
    fn selectors() {
        let requirements = parse_selector("spec.nodeName=a,metadata.namespace!=b").unwrap();
        let pods = find_resource("", "v1", "pods").unwrap();
        assert!(check_field_selector(&pods, &requirements).is_ok());
        let pod = json!({"metadata": {"namespace": "c"}, "spec": {"nodeName": "a"}});
        assert!(matches_fields(&pods, &pod, &requirements));
        let other = json!({"metadata": {"namespace": "b"}, "spec": {"nodeName": "a"}});
        assert!(!matches_fields(&pods, &other, &requirements));
        let unsupported = parse_selector("spec.foo=a").unwrap();
        assert_eq!(
            check_field_selector(&pods, &unsupported),
            Err("field label not supported: spec.foo".to_owned())
        );
        assert!(parse_selector("a in (b)").is_err());
    }
}
