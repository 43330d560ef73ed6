//! Nodes and pods: adding them, node readiness and kubelet versions, pods
//! that take a while to terminate, and evictions refused by disruption-budget
//! rules.

use super::*;

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
pub(super) struct EvictionBlock {
    /// Refusals left; `None` refuses forever.
    remaining: Option<u32>,
    /// Name of the budget named in the refusal.
    budget: String,
}

impl State {
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
    pub(super) fn terminate(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
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
