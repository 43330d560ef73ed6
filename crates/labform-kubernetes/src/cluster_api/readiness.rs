//! Waiting for a cluster: the API server answers `/readyz` and every expected node exists with
//! condition `Ready=True`. When time runs out, [`ClusterNotReady`] tells a person what was last
//! seen: the API's answer or why it did not answer, and for each node that is not Ready whether
//! it is missing or what its Ready condition says.

use std::fmt;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

use crate::cluster_api::{ClusterApi, ClusterApiError, cause_chain, status_detail};

/// How the API server answered the last check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiState {
    /// It answered `/readyz` with `ok` and listed the nodes.
    Answering,
    /// It answered, but with an error status.
    Refused {
        /// What was asked (`/readyz`, `the node list`).
        request: String,
        /// HTTP status code.
        code: u16,
        /// The answer: the failing checks of `/readyz`, or the `Status` reason and message.
        detail: String,
    },
    /// No answer: connection refused, TLS failure, timeout.
    Unreachable {
        /// The cause chain.
        cause: String,
    },
}

/// Why an expected node is not Ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeProblem {
    /// No Node of that name is registered.
    Missing,
    /// The Node has no Ready condition yet (its kubelet has not posted status).
    NoReadyCondition,
    /// The Ready condition is not `True`.
    Condition {
        /// `False` or `Unknown`.
        status: String,
        /// Machine-readable reason (`KubeletNotReady`, `NodeStatusUnknown`).
        reason: Option<String>,
        /// Human-readable message.
        message: Option<String>,
    },
}

/// An expected node that is not Ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeNotReady {
    /// Node name.
    pub name: String,
    /// Why.
    pub problem: NodeProblem,
}

impl fmt::Display for NodeNotReady {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: ", self.name)?;
        match &self.problem {
            NodeProblem::Missing => formatter.write_str(
                "not registered: the API has no Node of this name (its kubelet has not joined the cluster)",
            ),
            NodeProblem::NoReadyCondition => {
                formatter.write_str("registered, but its kubelet has not reported a Ready condition yet")
            }
            NodeProblem::Condition {
                status,
                reason,
                message,
            } => {
                write!(formatter, "Ready is {status}")?;
                if let Some(reason) = reason {
                    write!(formatter, " ({reason})")?;
                }
                if let Some(message) = message {
                    write!(formatter, ": {message}")?;
                }
                Ok(())
            }
        }
    }
}

/// The cluster was not ready in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ClusterNotReady {
    /// The API server's URL.
    pub server: String,
    /// How long labform waited.
    pub waited: Duration,
    /// How the API answered the last check.
    pub api: ApiState,
    /// How many nodes were expected.
    pub expected: usize,
    /// The expected nodes not Ready when the API last listed them, in the order expected;
    /// `None` if it never did.
    pub nodes: Option<Vec<NodeNotReady>>,
}

/// `1m30s`, `2s`, `250ms`.
pub(crate) fn human_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let seconds = duration.as_secs();
    let rest_millis = duration.subsec_millis();
    let (minutes, seconds) = (seconds / 60, seconds % 60);
    let mut text = String::new();
    if minutes > 0 {
        text.push_str(&format!("{minutes}m"));
    }
    if seconds > 0 || rest_millis > 0 || minutes == 0 {
        if rest_millis > 0 {
            let fraction = format!("{rest_millis:03}");
            text.push_str(&format!("{seconds}.{}s", fraction.trim_end_matches('0')));
        } else {
            text.push_str(&format!("{seconds}s"));
        }
    }
    text
}

fn nodes_phrase(count: usize, expected: usize) -> String {
    let verb = if count == 1 { "is" } else { "are" };
    format!("{count} of {expected} nodes {verb} not Ready")
}

impl fmt::Display for ClusterNotReady {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "the cluster at {} was not ready within {}: ",
            self.server,
            human_duration(self.waited)
        )?;
        let list = |formatter: &mut fmt::Formatter<'_>, nodes: &[NodeNotReady]| -> fmt::Result {
            for node in nodes {
                write!(formatter, "\n  - {node}")?;
            }
            Ok(())
        };
        match &self.api {
            ApiState::Answering => {
                let nodes = self.nodes.as_deref().unwrap_or(&[]);
                formatter.write_str(&nodes_phrase(nodes.len(), self.expected))?;
                list(formatter, nodes)
            }
            ApiState::Refused {
                request,
                code,
                detail,
            } => {
                write!(
                    formatter,
                    "the API server answered {request} with HTTP {code}"
                )?;
                if !detail.is_empty() {
                    write!(formatter, ": {detail}")?;
                }
                self.last_seen(formatter, list)
            }
            ApiState::Unreachable { cause } => {
                write!(formatter, "the API server did not answer: {cause}")?;
                self.last_seen(formatter, list)
            }
        }
    }
}

impl ClusterNotReady {
    fn last_seen(
        &self,
        formatter: &mut fmt::Formatter<'_>,
        list: impl Fn(&mut fmt::Formatter<'_>, &[NodeNotReady]) -> fmt::Result,
    ) -> fmt::Result {
        match &self.nodes {
            None => Ok(()),
            Some(nodes) if nodes.is_empty() => {
                write!(
                    formatter,
                    "\nwhen it last listed the nodes, all {} were Ready",
                    self.expected
                )
            }
            Some(nodes) => {
                write!(
                    formatter,
                    "\nwhen it last listed the nodes, {}:",
                    nodes_phrase(nodes.len(), self.expected)
                )?;
                list(formatter, nodes)
            }
        }
    }
}

/// The lines of a failing `/readyz` answer that name failed checks, or the whole answer.
fn readyz_detail(status: &kube::core::Status) -> String {
    let failed: Vec<&str> = status
        .message
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("[-]"))
        .collect();
    if failed.is_empty() {
        status_detail(status)
    } else {
        failed.join("; ")
    }
}

fn api_state(request: &str, error: &kube::Error) -> ApiState {
    match error {
        kube::Error::Api(status) => ApiState::Refused {
            request: request.to_owned(),
            code: status.code,
            detail: if request == "/readyz" {
                readyz_detail(status)
            } else {
                status_detail(status)
            },
        },
        other => ApiState::Unreachable {
            cause: cause_chain(other),
        },
    }
}

/// The expected nodes that are not Ready among `nodes`.
fn not_ready(expected: &[String], nodes: &[Node]) -> Vec<NodeNotReady> {
    expected
        .iter()
        .filter_map(|name| {
            let node = nodes
                .iter()
                .find(|node| node.metadata.name.as_deref() == Some(name.as_str()));
            let problem = match node {
                None => NodeProblem::Missing,
                Some(node) => {
                    let condition = node
                        .status
                        .as_ref()
                        .and_then(|status| status.conditions.as_ref())
                        .and_then(|conditions| {
                            conditions
                                .iter()
                                .find(|condition| condition.type_ == "Ready")
                        });
                    match condition {
                        None => NodeProblem::NoReadyCondition,
                        Some(condition) if condition.status == "True" => return None,
                        Some(condition) => NodeProblem::Condition {
                            status: condition.status.clone(),
                            reason: condition.reason.clone().filter(|text| !text.is_empty()),
                            message: condition.message.clone().filter(|text| !text.is_empty()),
                        },
                    }
                }
            };
            Some(NodeNotReady {
                name: name.clone(),
                problem,
            })
        })
        .collect()
}

impl ClusterApi {
    /// One check: `/readyz`, then the node list.
    async fn observe(&self, expected: &[String]) -> Result<Vec<NodeNotReady>, ApiState> {
        let request = http::Request::get("/readyz")
            .body(Vec::new())
            .map_err(|error| ApiState::Unreachable {
                cause: error.to_string(),
            })?;
        self.client
            .request_text(request)
            .await
            .map_err(|error| api_state("/readyz", &error))?;
        let nodes: Api<Node> = Api::all(self.client.clone());
        let list = nodes
            .list(&ListParams::default())
            .await
            .map_err(|error| api_state("the node list", &error))?;
        Ok(not_ready(expected, &list.items))
    }

    /// Which of `nodes` are not Ready now (missing, no Ready condition, or not `True`), asked
    /// once.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] when the nodes cannot be listed.
    pub async fn not_ready(&self, nodes: &[String]) -> Result<Vec<NodeNotReady>, ClusterApiError> {
        let api: Api<Node> = Api::all(self.client.clone());
        let list =
            api.list(&ListParams::default())
                .await
                .map_err(|error| ClusterApiError::Request {
                    action: "cannot list the nodes".to_owned(),
                    detail: crate::cluster_api::describe_kube_error(&error),
                })?;
        Ok(not_ready(nodes, &list.items))
    }

    /// Waits until the API server answers `/readyz` and every node in `expected_nodes` exists
    /// with condition `Ready=True`, checking every `poll`.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::NotReady`] after `timeout`, with what the last check saw.
    pub async fn wait_ready(
        &self,
        expected_nodes: &[String],
        timeout: Duration,
        poll: Duration,
    ) -> Result<(), ClusterApiError> {
        let deadline = Instant::now() + timeout;
        let mut last_nodes = None;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let limit = remaining.max(poll).max(Duration::from_millis(100));
            let api = match tokio::time::timeout(limit, self.observe(expected_nodes)).await {
                Ok(Ok(nodes)) if nodes.is_empty() => return Ok(()),
                Ok(Ok(nodes)) => {
                    last_nodes = Some(nodes);
                    ApiState::Answering
                }
                Ok(Err(state)) => state,
                Err(_) => ApiState::Unreachable {
                    cause: format!("no answer within {}", human_duration(limit)),
                },
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ClusterNotReady {
                    server: self.server.clone(),
                    waited: timeout,
                    api,
                    expected: expected_nodes.len(),
                    nodes: last_nodes,
                }
                .into());
            }
            tokio::time::sleep(poll.min(remaining)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(human_duration(Duration::from_secs(2)), "2s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(human_duration(Duration::from_secs(300)), "5m");
    }
}
