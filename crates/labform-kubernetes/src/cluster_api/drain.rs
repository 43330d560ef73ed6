//! Draining a node before it is upgraded or removed, as `kubectl drain --ignore-daemonsets`
//! does: cordon it, then evict (Eviction API) every pod on it except DaemonSet
//! pods (their controller would put them back at once and they tolerate unschedulable nodes)
//! and mirror pods (the API's copies of static pods, which only the kubelet can remove).
//! Evictions refused with 429 (a PodDisruptionBudget, or API throttling) are retried until the
//! timeout; then labform waits until every evicted pod is gone (or replaced by a new pod of the
//! same name, as a StatefulSet does).
//!
//! The Eviction's `apiVersion` is the one the server lists for the `pods/eviction`
//! subresource in its discovery of core `v1`, read once per client: `policy/v1` from
//! Kubernetes 1.22, `policy/v1beta1` before (a v1.20 server refuses a `policy/v1` Eviction).
//!
//! Unlike `kubectl drain` without `--force`, pods without a controller are evicted too: labform
//! drains nodes it is about to change, and such a pod would be lost either way.

use std::fmt;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::json;

use crate::cluster_api::readiness::human_duration;
use crate::cluster_api::{ClusterApi, ClusterApiError, describe_kube_error};

/// A pod, by namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodReference {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for PodReference {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.namespace, self.name)
    }
}

/// What a drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Pods evicted and gone.
    pub evicted: Vec<PodReference>,
    /// DaemonSet pods left on the node.
    pub daemon_set_pods: Vec<PodReference>,
    /// Mirror (static) pods left on the node.
    pub mirror_pods: Vec<PodReference>,
}

/// Why a pod is still on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhyLeft {
    /// Every eviction was refused; the last refusal.
    EvictionRefused {
        /// Attempts made.
        attempts: u32,
        /// The refusal: message and causes (the disruption budget and its numbers).
        refusal: String,
    },
    /// Evicted, but still terminating.
    StillTerminating,
}

/// A pod still on the node when the drain timed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodLeft {
    /// The pod.
    pub pod: PodReference,
    /// Why.
    pub why: WhyLeft,
}

/// A node was not drained within the timeout. The node stays cordoned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DrainFailed {
    /// Node name.
    pub node: String,
    /// The timeout.
    pub timeout: Duration,
    /// The pods still there.
    pub left: Vec<PodLeft>,
}

impl fmt::Display for DrainFailed {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.left.len();
        let noun = if count == 1 { "pod is" } else { "pods are" };
        write!(
            formatter,
            "node {} was not drained within {}; {count} {noun} still on it:",
            self.node,
            human_duration(self.timeout)
        )?;
        for left in &self.left {
            write!(formatter, "\n  - {}: ", left.pod)?;
            match &left.why {
                WhyLeft::EvictionRefused { attempts, refusal } => {
                    if *attempts == 1 {
                        write!(formatter, "eviction refused: {refusal}")?;
                    } else {
                        write!(formatter, "eviction refused {attempts} times: {refusal}")?;
                    }
                }
                WhyLeft::StillTerminating => {
                    formatter.write_str("evicted, but still terminating")?;
                }
            }
        }
        write!(formatter, "\nthe node stays cordoned")
    }
}

fn reference(pod: &Pod) -> PodReference {
    PodReference {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
    }
}

fn is_daemon_set_pod(pod: &Pod) -> bool {
    pod.metadata
        .owner_references
        .as_ref()
        .is_some_and(|owners| {
            owners
                .iter()
                .any(|owner| owner.controller == Some(true) && owner.kind == "DaemonSet")
        })
}

fn is_mirror_pod(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .is_some_and(|annotations| annotations.contains_key("kubernetes.io/config.mirror"))
}

/// A 429's message and causes in one line.
fn refusal_text(status: &kube::core::Status) -> String {
    let mut text = status.message.trim().to_owned();
    if let Some(details) = &status.details {
        for cause in &details.causes {
            let message = cause.message.trim();
            if message.is_empty() {
                continue;
            }
            if !text.is_empty() && !text.ends_with('.') {
                text.push('.');
            }
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(message);
        }
    }
    if text.is_empty() {
        "HTTP 429 TooManyRequests".to_owned()
    } else {
        text
    }
}

/// A pod waiting to be evicted.
struct Pending {
    pod: PodReference,
    attempts: u32,
    refusal: String,
}

/// An evicted pod, waiting to be gone.
struct Evicted {
    pod: PodReference,
    uid: Option<String>,
}

impl ClusterApi {
    /// The `apiVersion` of the `Eviction` this server reads (`policy/v1` or
    /// `policy/v1beta1`), from its discovery of core `v1`; asked once per client.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] when discovery fails or lists no `pods/eviction`.
    pub async fn eviction_api_version(&self) -> Result<String, ClusterApiError> {
        self.eviction_version
            .get_or_try_init(|| async {
                let resources =
                    self.client
                        .list_core_api_resources("v1")
                        .await
                        .map_err(|error| ClusterApiError::Request {
                            action: "cannot discover the Eviction API".to_owned(),
                            detail: describe_kube_error(&error),
                        })?;
                resources
                    .resources
                    .iter()
                    .find(|resource| resource.name == "pods/eviction")
                    .map(|resource| {
                        let group = resource.group.as_deref().unwrap_or("policy");
                        let version = resource.version.as_deref().unwrap_or("v1");
                        format!("{group}/{version}")
                    })
                    .ok_or_else(|| ClusterApiError::Request {
                        action: "cannot discover the Eviction API".to_owned(),
                        detail: "the API server lists no pods/eviction subresource in v1"
                            .to_owned(),
                    })
            })
            .await
            .cloned()
    }

    /// Asks the Eviction API to evict `pod`.
    async fn evict(&self, api_version: &str, pod: &PodReference) -> Result<(), kube::Error> {
        let body = json!({
            "apiVersion": api_version,
            "kind": "Eviction",
            "metadata": {"name": pod.name, "namespace": pod.namespace},
        });
        let request = http::Request::post(format!(
            "/api/v1/namespaces/{}/pods/{}/eviction",
            pod.namespace, pod.name
        ))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&body).map_err(kube::Error::SerdeError)?)
        .map_err(kube::Error::HttpError)?;
        self.client
            .request::<serde_json::Value>(request)
            .await
            .map(|_| ())
    }

    /// Cordons `node` and evicts its pods, as described in the module documentation.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Drain`] when pods are still on the node after `timeout` (refused
    /// evictions, or pods still terminating); [`ClusterApiError::Request`] when the node cannot
    /// be cordoned, its pods cannot be listed, or an eviction fails other than by a 429.
    pub async fn drain(
        &self,
        node: &str,
        timeout: Duration,
    ) -> Result<DrainReport, ClusterApiError> {
        let deadline = Instant::now() + timeout;
        self.cordon(node).await?;
        let eviction_version = self.eviction_api_version().await?;
        let all_pods: Api<Pod> = Api::all(self.client.clone());
        let on_node = all_pods
            .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
            .await
            .map_err(|error| ClusterApiError::Request {
                action: format!("cannot list the pods on node {node}"),
                detail: describe_kube_error(&error),
            })?;
        let mut report = DrainReport::default();
        let mut pending = Vec::new();
        let mut uids = std::collections::BTreeMap::new();
        for pod in &on_node.items {
            let reference = reference(pod);
            if is_mirror_pod(pod) {
                report.mirror_pods.push(reference);
            } else if is_daemon_set_pod(pod) {
                report.daemon_set_pods.push(reference);
            } else {
                uids.insert(reference.clone(), pod.metadata.uid.clone());
                pending.push(Pending {
                    pod: reference,
                    attempts: 0,
                    refusal: String::new(),
                });
            }
        }
        let mut evicted: Vec<Evicted> = Vec::new();
        loop {
            let mut still_pending = Vec::new();
            for mut waiting in pending {
                waiting.attempts += 1;
                match self.evict(&eviction_version, &waiting.pod).await {
                    Ok(_) => evicted.push(Evicted {
                        uid: uids.get(&waiting.pod).cloned().flatten(),
                        pod: waiting.pod,
                    }),
                    Err(kube::Error::Api(status)) if status.code == 404 => {
                        report.evicted.push(waiting.pod);
                    }
                    Err(kube::Error::Api(status)) if status.code == 429 => {
                        waiting.refusal = refusal_text(&status);
                        still_pending.push(waiting);
                    }
                    Err(error) => {
                        return Err(ClusterApiError::Request {
                            action: format!("cannot evict pod {} from node {node}", waiting.pod),
                            detail: describe_kube_error(&error),
                        });
                    }
                }
            }
            pending = still_pending;

            let mut still_there = Vec::new();
            for pod in evicted {
                let pods: Api<Pod> = Api::namespaced(self.client.clone(), &pod.pod.namespace);
                match pods.get_opt(&pod.pod.name).await {
                    Ok(Some(current)) if current.metadata.uid == pod.uid => still_there.push(pod),
                    Ok(_) => report.evicted.push(pod.pod),
                    Err(error) => {
                        return Err(ClusterApiError::Request {
                            action: format!("cannot check whether pod {} is gone", pod.pod),
                            detail: describe_kube_error(&error),
                        });
                    }
                }
            }
            evicted = still_there;

            if pending.is_empty() && evicted.is_empty() {
                report.evicted.sort();
                return Ok(report);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                let mut left: Vec<PodLeft> = pending
                    .into_iter()
                    .map(|waiting| PodLeft {
                        pod: waiting.pod,
                        why: WhyLeft::EvictionRefused {
                            attempts: waiting.attempts,
                            refusal: waiting.refusal,
                        },
                    })
                    .chain(evicted.into_iter().map(|pod| PodLeft {
                        pod: pod.pod,
                        why: WhyLeft::StillTerminating,
                    }))
                    .collect();
                left.sort_by(|first, second| first.pod.cmp(&second.pod));
                return Err(DrainFailed {
                    node: node.to_owned(),
                    timeout,
                    left,
                }
                .into());
            }
            tokio::time::sleep(self.retry_interval.min(remaining)).await;
        }
    }
}
