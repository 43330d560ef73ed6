//! The simulated cluster's state and the API semantics on it: the resource types it serves,
//! objects stored as JSON, resource versions and UIDs, `Status` bodies in kube-apiserver's shape,
//! field and label selectors, JSON merge patch, evictions refused by disruption-budget rules, and
//! pods that take a while to go away after eviction or deletion.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// A resource type the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResourceType {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// Version.
    pub version: &'static str,
    /// Plural resource name (the URL segment).
    pub plural: &'static str,
    /// Singular name.
    pub singular: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names for discovery.
    pub short_names: &'static [&'static str],
}

impl ResourceType {
    /// `apiVersion` of its objects.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The group-qualified resource, as used in messages (`pods`, `helmcharts.helm.cattle.io`).
    pub(crate) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Custom resources are served by the apiextensions server: list items carry their type
    /// metadata and strategic merge patch is refused.
    pub(crate) fn custom(&self) -> bool {
        self.group.contains('.')
    }
}

const fn resource(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
) -> ResourceType {
    ResourceType {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        short_names,
    }
}

/// Every resource type served, in discovery order.
pub(crate) const RESOURCES: &[ResourceType] = &[
    resource(
        "",
        "v1",
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        &["cm"],
    ),
    resource(
        "",
        "v1",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
    ),
    resource("", "v1", "nodes", "node", "Node", false, &["no"]),
    resource("", "v1", "pods", "pod", "Pod", true, &["po"]),
    resource("", "v1", "secrets", "secret", "Secret", true, &[]),
    resource("", "v1", "services", "service", "Service", true, &["svc"]),
    resource(
        "apps",
        "v1",
        "daemonsets",
        "daemonset",
        "DaemonSet",
        true,
        &["ds"],
    ),
    resource(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        true,
        &["pdb"],
    ),
    resource(
        "helm.cattle.io",
        "v1",
        "helmchartconfigs",
        "helmchartconfig",
        "HelmChartConfig",
        true,
        &[],
    ),
    resource(
        "helm.cattle.io",
        "v1",
        "helmcharts",
        "helmchart",
        "HelmChart",
        true,
        &[],
    ),
    resource("k3s.cattle.io", "v1", "addons", "addon", "Addon", true, &[]),
];

/// The groups served under `/apis`, in discovery order.
pub(crate) const GROUPS: &[&str] = &["apps", "policy", "helm.cattle.io", "k3s.cattle.io"];

/// The resource type of `group`/`version`/`plural`.
pub(crate) fn find_resource(group: &str, version: &str, plural: &str) -> Option<ResourceType> {
    RESOURCES
        .iter()
        .find(|resource| {
            resource.group == group && resource.version == version && resource.plural == plural
        })
        .copied()
}

/// The resource type of `apiVersion` and `kind`.
pub(crate) fn resource_of_kind(api_version: &str, kind: &str) -> Option<ResourceType> {
    RESOURCES
        .iter()
        .find(|resource| resource.api_version() == api_version && resource.kind == kind)
        .copied()
}

/// An HTTP answer: status code and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    /// HTTP status.
    pub code: u16,
    /// Body.
    pub body: Value,
}

impl Answer {
    pub(crate) fn ok(body: Value) -> Self {
        Self { code: 200, body }
    }
}

/// A `Status` failure body as kube-apiserver writes it (`k8s.io/apimachinery/pkg/api/errors`).
pub(crate) fn status_failure(
    code: u16,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> Answer {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(details) = details {
        body["details"] = details;
    }
    Answer { code, body }
}

/// `NewNotFound`: `pods "web" not found`.
pub(crate) fn not_found(resource: &ResourceType, name: &str) -> Answer {
    let mut details = json!({"name": name, "kind": resource.plural});
    if !resource.group.is_empty() {
        details["group"] = json!(resource.group);
    }
    status_failure(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", resource.qualified()),
        Some(details),
    )
}

/// `NewBadRequest`.
pub(crate) fn bad_request(message: &str) -> Answer {
    status_failure(400, "BadRequest", message, None)
}

/// RFC 3339 UTC time with seconds, as Kubernetes writes `metav1.Time`.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |duration| duration.as_secs());
    jiff::Timestamp::from_second(i64::try_from(seconds).unwrap_or(0))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// RFC 7386 JSON merge patch.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// One requirement of a field or label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requirement {
    key: String,
    value: String,
    equal: bool,
}

/// Parses `a=b,c!=d` (also `==`); other operators (`in`, existence) are not modelled.
pub(crate) fn parse_selector(text: &str) -> Result<Vec<Requirement>, String> {
    text.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let part = part.trim();
            let (key, value, equal) = if let Some((key, value)) = part.split_once("!=") {
                (key, value, false)
            } else if let Some((key, value)) = part.split_once("==") {
                (key, value, true)
            } else if let Some((key, value)) = part.split_once('=') {
                (key, value, true)
            } else {
                return Err(format!(
                    "the simulator models only =, == and != selectors, not `{part}`"
                ));
            };
            Ok(Requirement {
                key: key.trim().to_owned(),
                value: value.trim().to_owned(),
                equal,
            })
        })
        .collect()
}

/// The field paths kube-apiserver accepts in field selectors, per resource.
fn selectable_field(resource: &ResourceType, key: &str) -> Option<&'static [&'static str]> {
    match key {
        "metadata.name" => Some(&["metadata", "name"]),
        "metadata.namespace" if resource.namespaced => Some(&["metadata", "namespace"]),
        "spec.nodeName" if resource.plural == "pods" => Some(&["spec", "nodeName"]),
        "status.phase" if resource.plural == "pods" => Some(&["status", "phase"]),
        "spec.unschedulable" if resource.plural == "nodes" => Some(&["spec", "unschedulable"]),
        _ => None,
    }
}

fn field_value(object: &Value, path: &[&str]) -> String {
    let mut current = object;
    for segment in path {
        current = &current[*segment];
    }
    match current {
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Checks a field selector against the fields the resource supports; the error is
/// kube-apiserver's message.
pub(crate) fn check_field_selector(
    resource: &ResourceType,
    requirements: &[Requirement],
) -> Result<(), String> {
    for requirement in requirements {
        if selectable_field(resource, &requirement.key).is_none() {
            return Err(format!("field label not supported: {}", requirement.key));
        }
    }
    Ok(())
}

fn matches_fields(resource: &ResourceType, object: &Value, requirements: &[Requirement]) -> bool {
    requirements.iter().all(|requirement| {
        let path = selectable_field(resource, &requirement.key).unwrap_or(&[]);
        let value = if resource.plural == "nodes" && requirement.key == "spec.unschedulable" {
            object["spec"]["unschedulable"]
                .as_bool()
                .unwrap_or(false)
                .to_string()
        } else {
            field_value(object, path)
        };
        (value == requirement.value) == requirement.equal
    })
}

fn matches_labels(object: &Value, requirements: &[Requirement]) -> bool {
    requirements.iter().all(|requirement| {
        let value = object["metadata"]["labels"][&requirement.key].as_str();
        match value {
            Some(value) => (value == requirement.value) == requirement.equal,
            None => !requirement.equal,
        }
    })
}

/// Key of a stored object: resource plural name, namespace (empty when cluster-scoped), name.
type ObjectKey = (&'static str, String, String);

/// How a node's `Ready` condition reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReadiness {
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason (`KubeletReady`, `KubeletNotReady`, `NodeStatusUnknown`).
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

impl NodeReadiness {
    /// What a healthy kubelet posts.
    pub fn ready() -> Self {
        Self {
            status: "True".to_owned(),
            reason: "KubeletReady".to_owned(),
            message: "kubelet is posting ready status".to_owned(),
        }
    }

    /// A kubelet that runs but is not ready, with `message` (for example the CNI not being
    /// initialised yet).
    pub fn not_ready(message: &str) -> Self {
        Self {
            status: "False".to_owned(),
            reason: "KubeletNotReady".to_owned(),
            message: message.to_owned(),
        }
    }

    /// What the node lifecycle controller writes when the kubelet stops posting status.
    pub fn unknown() -> Self {
        Self {
            status: "Unknown".to_owned(),
            reason: "NodeStatusUnknown".to_owned(),
            message: "Kubelet stopped posting node status.".to_owned(),
        }
    }
}

/// Who owns a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodOwner {
    /// No owner (a bare pod).
    None,
    /// A ReplicaSet (a Deployment's pod).
    ReplicaSet(String),
    /// A DaemonSet.
    DaemonSet(String),
    /// A StatefulSet.
    StatefulSet(String),
}

/// A pod the test puts on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSpec {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The node it runs on.
    pub node: String,
    /// Its controller.
    pub owner: PodOwner,
    /// A mirror pod: the API server's copy of a static pod the kubelet runs from a file; it
    /// carries the `kubernetes.io/config.mirror` annotation.
    pub mirror: bool,
}

impl PodSpec {
    /// A Deployment's pod `name` in `namespace` on `node`.
    pub fn new(namespace: &str, name: &str, node: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            node: node.to_owned(),
            owner: PodOwner::ReplicaSet(format!("{name}-rs")),
            mirror: false,
        }
    }

    /// Owned by the DaemonSet `daemon_set`.
    pub fn daemon_set(mut self, daemon_set: &str) -> Self {
        self.owner = PodOwner::DaemonSet(daemon_set.to_owned());
        self
    }

    /// A mirror pod (no owner, mirror annotation).
    pub fn mirror(mut self) -> Self {
        self.owner = PodOwner::None;
        self.mirror = true;
        self
    }

    /// With `owner`.
    pub fn owned_by(mut self, owner: PodOwner) -> Self {
        self.owner = owner;
        self
    }
}

/// A disruption-budget rule refusing a pod's evictions.
#[derive(Debug, Clone)]
struct EvictionBlock {
    /// Refusals left; `None` refuses forever.
    remaining: Option<u32>,
    /// Name of the budget named in the refusal.
    budget: String,
}

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

    /// Adds a node with a Ready kubelet of `kubelet_version`.
    pub(crate) fn add_node(&mut self, name: &str, kubelet_version: &str, index: usize) {
        let now = rfc3339(SystemTime::now());
        self.put_object(json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
                "annotations": {"k3s.io/node-args": "[\"server\"]"},
            },
            "spec": {
                "podCIDR": format!("10.42.{index}.0/24"),
                "podCIDRs": [format!("10.42.{index}.0/24")],
                "providerID": format!("k3s://{name}"),
            },
            "status": {
                "conditions": [{
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }],
                "nodeInfo": {
                    "machineID": format!("{index:032x}"),
                    "systemUUID": format!("00000000-0000-4000-8000-{index:012x}"),
                    "bootID": format!("b0000000-0000-4000-8000-{index:012x}"),
                    "kernelVersion": "6.8.0-49-generic",
                    "osImage": "Ubuntu 24.04.1 LTS",
                    "containerRuntimeVersion": "containerd://1.7.23-k3s2",
                    "kubeletVersion": kubelet_version,
                    "kubeProxyVersion": kubelet_version,
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            },
        }));
    }

    /// Sets a node's `Ready` condition; `false` when there is no such node.
    pub(crate) fn set_node_ready(&mut self, name: &str, readiness: &NodeReadiness) -> bool {
        let version = self.next_resource_version();
        let now = rfc3339(SystemTime::now());
        let nodes = find_resource("", "v1", "nodes").expect("nodes are modelled");
        let Some(node) = self.object_mut(&nodes, "", name) else {
            return false;
        };
        node["metadata"]["resourceVersion"] = json!(version);
        let conditions = node["status"]["conditions"]
            .as_array_mut()
            .expect("nodes are stored with conditions");
        conditions.retain(|condition| condition["type"] != "Ready");
        conditions.push(json!({
            "type": "Ready",
            "status": readiness.status,
            "reason": readiness.reason,
            "message": readiness.message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }));
        true
    }

    /// Sets a node's kubelet version.
    pub(crate) fn set_kubelet_version(&mut self, name: &str, kubelet_version: &str) -> bool {
        let nodes = find_resource("", "v1", "nodes").expect("nodes are modelled");
        let Some(node) = self.object_mut(&nodes, "", name) else {
            return false;
        };
        node["status"]["nodeInfo"]["kubeletVersion"] = json!(kubelet_version);
        node["status"]["nodeInfo"]["kubeProxyVersion"] = json!(kubelet_version);
        true
    }

    /// Puts a running pod on a node.
    pub(crate) fn add_pod(&mut self, spec: &PodSpec) {
        let mut metadata = json!({
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": {"app": spec.name},
        });
        let owner = match &spec.owner {
            PodOwner::None => None,
            PodOwner::ReplicaSet(name) => Some(("apps/v1", "ReplicaSet", name)),
            PodOwner::DaemonSet(name) => Some(("apps/v1", "DaemonSet", name)),
            PodOwner::StatefulSet(name) => Some(("apps/v1", "StatefulSet", name)),
        };
        if let Some((api_version, kind, name)) = owner {
            let uid = self.next_uid();
            metadata["ownerReferences"] = json!([{
                "apiVersion": api_version,
                "kind": kind,
                "name": name,
                "uid": uid,
                "controller": true,
                "blockOwnerDeletion": true,
            }]);
        }
        if spec.mirror {
            metadata["annotations"] = json!({
                "kubernetes.io/config.hash": "6f0c2bd9d6d8e6f4b0d5c9f3e4a1b2c3",
                "kubernetes.io/config.mirror": "6f0c2bd9d6d8e6f4b0d5c9f3e4a1b2c3",
                "kubernetes.io/config.source": "file",
            });
        }
        self.put_object(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": {
                "nodeName": spec.node,
                "containers": [{"name": "main", "image": "registry.invalid/app:1"}],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
            },
            "status": {"phase": "Running"},
        }));
    }

    /// Refuses evictions of a pod `times` times (`None`: always), naming `budget`.
    pub(crate) fn block_evictions(
        &mut self,
        namespace: &str,
        name: &str,
        times: Option<u32>,
        budget: &str,
    ) {
        self.eviction_blocks.insert(
            (namespace.to_owned(), name.to_owned()),
            EvictionBlock {
                remaining: times,
                budget: budget.to_owned(),
            },
        );
    }

    /// Marks an object as terminating; it goes away after the termination delay (pods) or at
    /// once (everything else, as none of the modelled kinds carries finalizers here).
    fn terminate(&mut self, resource: &ResourceType, namespace: &str, name: &str) -> Option<Value> {
        let delay = self.termination_delay;
        let version = self.next_resource_version();
        let namespace = if resource.namespaced { namespace } else { "" };
        let key = (resource.plural, namespace.to_owned(), name.to_owned());
        if resource.plural == "pods" && !delay.is_zero() {
            let object = self.objects.get_mut(&key)?;
            if object["metadata"]["deletionTimestamp"].is_null() {
                object["metadata"]["deletionTimestamp"] = json!(rfc3339(SystemTime::now() + delay));
                object["metadata"]["deletionGracePeriodSeconds"] = json!(delay.as_secs());
                object["metadata"]["resourceVersion"] = json!(version);
                self.vanishing.insert(key.clone(), Instant::now() + delay);
            }
            return self.objects.get(&key).cloned();
        }
        let object = self.objects.remove(&key)?;
        self.vanishing.remove(&key);
        if resource.plural == "namespaces" {
            // The namespace controller deletes what is in a deleted namespace.
            self.objects
                .retain(|(_, object_namespace, _), _| object_namespace != name);
        }
        Some(object)
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

    /// `POST .../pods/{name}/eviction`.
    pub(crate) fn evict(&mut self, namespace: &str, name: &str, body: &Value) -> Answer {
        let pods = find_resource("", "v1", "pods").expect("pods are modelled");
        // Type metadata may be left out: the endpoint's type (policy/v1 Eviction) is the default.
        if let Some(kind) = body["kind"].as_str()
            && kind != "Eviction"
        {
            return bad_request(&format!(
                "no kind \"{kind}\" is registered for the eviction subresource"
            ));
        }
        if let Some(api_version) = body["apiVersion"].as_str()
            && !matches!(api_version, "policy/v1" | "policy/v1beta1")
        {
            return bad_request(&format!(
                "no kind \"Eviction\" is registered for version \"{api_version}\""
            ));
        }
        if body["metadata"]["name"].as_str() != Some(name) {
            return bad_request("name in URL does not match name in Eviction object");
        }
        let Some(pod) = self.object(&pods, namespace, name) else {
            return not_found(&pods, name);
        };
        let terminating = !pod["metadata"]["deletionTimestamp"].is_null();
        let finished = matches!(
            pod["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed")
        );
        if !terminating && !finished {
            let key = (namespace.to_owned(), name.to_owned());
            if let Some(block) = self.eviction_blocks.get_mut(&key) {
                let refuse = match &mut block.remaining {
                    None => true,
                    Some(0) => false,
                    Some(remaining) => {
                        *remaining -= 1;
                        true
                    }
                };
                if refuse {
                    let budget = block.budget.clone();
                    return status_failure(
                        429,
                        "TooManyRequests",
                        "Cannot evict pod as it would violate the pod's disruption budget.",
                        Some(json!({"causes": [{
                            "reason": "DisruptionBudget",
                            "message": format!("The disruption budget {budget} needs 1 healthy pods and has 1 currently"),
                        }]})),
                    );
                }
            }
        }
        self.terminate(&pods, namespace, name);
        Answer {
            code: 201,
            body: json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "code": 201,
            }),
        }
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
