//! labform's Kubernetes API layer: what apply and upgrade ask of a running cluster.
//!
//! [`ClusterApi::from_kubeconfig`] makes a client from a K3s-style kubeconfig (the cluster's CA
//! in `certificate-authority-data`, a client certificate and key in `client-certificate-data`
//! and `client-key-data`). The server is always verified against that CA: a kubeconfig that
//! asks to skip verification or has no CA is refused, and so are kubeconfigs that would run a
//! command (`exec`, `auth-provider`). Key material never appears in an error or in `Debug`
//! output.
//!
//! On top of it:
//!
//! - [`ClusterApi::wait_ready`]: the API answers `/readyz` and every expected node is Ready;
//!   on timeout a [`ClusterNotReady`] says, per node, what is missing.
//! - [`ClusterApi::node_versions`]: the kubelet version of each node, for upgrade decisions.
//! - [`ClusterApi::not_ready`]: which of some nodes are not Ready now (etcd's quorum before a
//!   control plane is replaced); [`ClusterApi::delete_node`]: a node leaving its cluster.
//! - [`ClusterApi::cordon`], [`ClusterApi::uncordon`] and [`ClusterApi::drain`] (Eviction API
//!   at the version the server serves, `policy/v1` or, before Kubernetes 1.22, `policy/v1beta1`;
//!   retrying evictions a PodDisruptionBudget refuses; DaemonSet and mirror pods stay).
//! - [`ClusterApi::set_api_labels`], [`ClusterApi::set_node_labels`] and
//!   [`ClusterApi::remove_node_labels`]: node labels a node may not give itself, set once it has
//!   joined, and labels the lab no longer gives a node, removed.
//! - [`ClusterApi::set_node_taints`]: the taints labform gives a node, set, changed and removed
//!   (`spec.taints`), every other taint kept.
//! - [`ClusterApi::delete_objects`] and [`ClusterApi::remove_addon`]: deleting a manifest's
//!   objects, which is how an add-on leaves a cluster, because K3s does not delete the resources
//!   of an auto-deploy manifest whose file is removed.
//! - [`ClusterApi::converge_secrets`]: the Secrets add-ons read, made from the lab's secret
//!   references, and only labform's.
//!
//! Everything goes through the `kube` crate with rustls on ring.

mod apply;
mod drain;
mod error;
mod readiness;
mod record;
mod removal;
mod secrets;
mod taints;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;

pub use apply::FIELD_MANAGER;
pub use drain::{DrainFailed, DrainReport, PodLeft, PodReference, WhyLeft};
pub use error::ClusterApiError;
pub use readiness::{ApiState, ClusterNotReady, NodeNotReady, NodeProblem};
pub use removal::{DeletionOutcome, DeletionReport, ObjectReference, addon_name};
pub use secrets::{MANAGED_BY, SecretChanges, WantedSecret};
pub use taints::NodeTaint;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one answer may take.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Default pause between eviction retries and checks for evicted pods; kubectl waits 5 s after
/// a refused eviction.
const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(2);

/// A client of one cluster's Kubernetes API.
#[derive(Clone)]
pub struct ClusterApi {
    client: kube::Client,
    server: String,
    retry_interval: Duration,
    /// The `apiVersion` of the `Eviction` the server reads, discovered on the first drain.
    eviction_version: std::sync::Arc<tokio::sync::OnceCell<String>>,
}

impl std::fmt::Debug for ClusterApi {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ClusterApi")
            .field("server", &self.server)
            .field("retry_interval", &self.retry_interval)
            .finish_non_exhaustive()
    }
}

fn kubeconfig_problem(problem: impl Into<String>) -> ClusterApiError {
    ClusterApiError::Kubeconfig {
        problem: problem.into(),
    }
}

/// Checks that base64 `data` decodes to PEM with at least one block of `wanted` kind, without
/// ever quoting the data.
fn check_pem(field: &str, data: &str, wanted: &[&str]) -> Result<(), ClusterApiError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| kubeconfig_problem(format!("{field} is not valid base64")))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| kubeconfig_problem(format!("{field} is not PEM text")))?;
    let found = text.lines().any(|line| {
        wanted
            .iter()
            .any(|label| line.trim() == format!("-----BEGIN {label}-----"))
    });
    if found {
        Ok(())
    } else {
        Err(kubeconfig_problem(format!(
            "{field} holds no {} PEM block",
            wanted.join(" or ")
        )))
    }
}

/// kube's kubeconfig errors, told without their sources (which may quote the file).
fn describe_kubeconfig_error(error: &KubeconfigError) -> String {
    match error {
        KubeconfigError::CurrentContextNotSet => "it sets no current-context".to_owned(),
        KubeconfigError::LoadContext(name) => format!("it has no context named `{name}`"),
        KubeconfigError::LoadClusterOfContext(name) => {
            format!("it has no cluster named `{name}`")
        }
        KubeconfigError::MissingClusterUrl => "its cluster has no server URL".to_owned(),
        KubeconfigError::ParseClusterUrl(_) => "its server URL is not a valid URL".to_owned(),
        KubeconfigError::LoadCertificateAuthority(_) | KubeconfigError::ParseCertificates(_) => {
            "certificate-authority-data is not a PEM certificate".to_owned()
        }
        KubeconfigError::LoadClientCertificate(_) => {
            "client-certificate-data cannot be read".to_owned()
        }
        KubeconfigError::LoadClientKey(_) => "client-key-data cannot be read".to_owned(),
        _ => "it cannot be loaded".to_owned(),
    }
}

impl ClusterApi {
    /// A client from a K3s-style kubeconfig (its current context).
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Kubeconfig`] when the text is not a kubeconfig, its context, cluster or
    /// user is missing, it has no CA, client certificate or key, it asks to skip TLS
    /// verification, or it names a command to run for credentials;
    /// [`ClusterApiError::Client`] when the TLS client cannot be set up. No error quotes the
    /// kubeconfig.
    pub async fn from_kubeconfig(yaml: &SecretString) -> Result<Self, ClusterApiError> {
        let kubeconfig = Kubeconfig::from_yaml(yaml.expose_secret()).map_err(|_| {
            kubeconfig_problem("it is not a kubeconfig (invalid YAML or unexpected fields)")
        })?;
        let context_name = kubeconfig
            .current_context
            .clone()
            .ok_or_else(|| kubeconfig_problem("it sets no current-context"))?;
        let context = kubeconfig
            .contexts
            .iter()
            .find(|context| context.name == context_name)
            .and_then(|context| context.context.as_ref())
            .ok_or_else(|| {
                kubeconfig_problem(format!("it has no context named `{context_name}`"))
            })?;
        let cluster = kubeconfig
            .clusters
            .iter()
            .find(|cluster| cluster.name == context.cluster)
            .and_then(|cluster| cluster.cluster.as_ref())
            .ok_or_else(|| {
                kubeconfig_problem(format!("it has no cluster named `{}`", context.cluster))
            })?;
        if cluster.insecure_skip_tls_verify == Some(true) {
            return Err(kubeconfig_problem(
                "it sets insecure-skip-tls-verify; labform always verifies the API server's certificate",
            ));
        }
        let certificate_authority = cluster.certificate_authority_data.as_deref().ok_or_else(
            || {
                kubeconfig_problem(
                    "its cluster has no certificate-authority-data to verify the API server with",
                )
            },
        )?;
        check_pem(
            "certificate-authority-data",
            certificate_authority,
            &["CERTIFICATE"],
        )?;
        let user_name = context
            .user
            .clone()
            .ok_or_else(|| kubeconfig_problem("its context names no user"))?;
        let user = kubeconfig
            .auth_infos
            .iter()
            .find(|user| user.name == user_name)
            .and_then(|user| user.auth_info.as_ref())
            .ok_or_else(|| kubeconfig_problem(format!("it has no user named `{user_name}`")))?;
        if user.exec.is_some() || user.auth_provider.is_some() {
            return Err(kubeconfig_problem(
                "its user runs a command for credentials (exec or auth-provider); labform uses client certificates only",
            ));
        }
        let certificate = user
            .client_certificate_data
            .as_deref()
            .ok_or_else(|| kubeconfig_problem("its user has no client-certificate-data"))?;
        check_pem("client-certificate-data", certificate, &["CERTIFICATE"])?;
        let key = user
            .client_key_data
            .as_ref()
            .ok_or_else(|| kubeconfig_problem("its user has no client-key-data"))?;
        check_pem(
            "client-key-data",
            key.expose_secret(),
            &["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"],
        )?;
        let server = cluster
            .server
            .clone()
            .ok_or_else(|| kubeconfig_problem("its cluster has no server URL"))?;

        let options = KubeConfigOptions {
            context: Some(context_name),
            ..KubeConfigOptions::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|error| kubeconfig_problem(describe_kubeconfig_error(&error)))?;
        config.accept_invalid_certs = false;
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(READ_TIMEOUT);
        // kube retries 429, 503 and 504 itself, with backoff up to minutes; labform's loops
        // retry instead, within their own timeouts, and see every refusal.
        config.default_retry = false;
        let client = kube::Client::try_from(config).map_err(|error| ClusterApiError::Client {
            server: server.clone(),
            detail: describe_client_setup_error(&error),
        })?;
        Ok(Self {
            client,
            server,
            retry_interval: DEFAULT_RETRY_INTERVAL,
            eviction_version: std::sync::Arc::default(),
        })
    }

    /// The verified client underneath, for callers with requests of their own (the
    /// controller's leader election, `labform_controller::lease`).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The API server's URL, as the kubeconfig names it.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Sets the pause between retries of refused evictions and checks for evicted pods
    /// (default 2 s).
    #[must_use]
    pub fn with_retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval;
        self
    }

    /// The kubelet version of every node, by node name.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] when the nodes cannot be listed.
    pub async fn node_versions(&self) -> Result<BTreeMap<String, String>, ClusterApiError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let list = nodes
            .list(&ListParams::default())
            .await
            .map_err(|error| request_error("cannot list the nodes", &error))?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|node| {
                let name = node.metadata.name?;
                let version = node
                    .status
                    .and_then(|status| status.node_info)
                    .map(|info| info.kubelet_version)
                    .unwrap_or_default();
                Some((name, version))
            })
            .collect())
    }

    /// Marks a node unschedulable (`spec.unschedulable: true`), as `kubectl cordon` does.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] when the patch fails (for example, no such node).
    pub async fn cordon(&self, node: &str) -> Result<(), ClusterApiError> {
        self.set_unschedulable(node, true).await
    }

    /// Makes a node schedulable again, as `kubectl uncordon` does (removes
    /// `spec.unschedulable`).
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] when the patch fails (for example, no such node).
    pub async fn uncordon(&self, node: &str) -> Result<(), ClusterApiError> {
        self.set_unschedulable(node, false).await
    }

    /// Sets `labels` (`key=value`) on `node` through the API, for labels a node may not give
    /// itself at registration. Labels it already has with those values are left alone, so
    /// nothing is written when every label is there; other labels are never touched. Returns
    /// whether anything was written.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] when the node cannot be read or patched.
    pub async fn set_node_labels(
        &self,
        node: &str,
        labels: &[String],
    ) -> Result<bool, ClusterApiError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let current = nodes
            .get(node)
            .await
            .map_err(|error| request_error(&format!("cannot read node {node}"), &error))?;
        let existing = current.metadata.labels.unwrap_or_default();
        let mut wanted = serde_json::Map::new();
        for label in labels {
            let (key, value) = label.split_once('=').unwrap_or((label.as_str(), ""));
            if existing.get(key).map(String::as_str) != Some(value) {
                wanted.insert(key.to_owned(), json!(value));
            }
        }
        if wanted.is_empty() {
            return Ok(false);
        }
        let patch = json!({"metadata": {"labels": wanted}});
        nodes
            .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| true)
            .map_err(|error| request_error(&format!("cannot label node {node}"), &error))
    }

    /// Sets each planned node's `api_labels` (labels a node may not give itself at
    /// registration) through the API once it has joined, as [`ClusterApi::set_node_labels`]
    /// does: every distribution calls this after its nodes are Ready. Returns a progress line
    /// for each node that was written (`labelled VM: LABELS`).
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] when a node cannot be read or patched.
    pub async fn set_api_labels(
        &self,
        cluster: &labform_planner::plan::PlannedCluster,
    ) -> Result<Vec<String>, ClusterApiError> {
        let mut written = Vec::new();
        for node in &cluster.nodes {
            if !node.api_labels.is_empty()
                && self.set_node_labels(&node.vm, &node.api_labels).await?
            {
                written.push(format!(
                    "labelled {}: {}",
                    node.vm,
                    node.api_labels.join(", ")
                ));
            }
        }
        Ok(written)
    }

    /// Removes the labels `keys` from `node` through the API (labels the lab no longer gives
    /// it); keys it does not have are left alone, as are all other labels. Returns whether
    /// anything was written.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] when the node cannot be read or patched.
    pub async fn remove_node_labels(
        &self,
        node: &str,
        keys: &[String],
    ) -> Result<bool, ClusterApiError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let current = nodes
            .get(node)
            .await
            .map_err(|error| request_error(&format!("cannot read node {node}"), &error))?;
        let existing = current.metadata.labels.unwrap_or_default();
        let removed: serde_json::Map<String, serde_json::Value> = keys
            .iter()
            .filter(|key| existing.contains_key(*key))
            .map(|key| (key.clone(), serde_json::Value::Null))
            .collect();
        if removed.is_empty() {
            return Ok(false);
        }
        let patch = json!({"metadata": {"labels": removed}});
        nodes
            .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| true)
            .map_err(|error| {
                request_error(&format!("cannot remove labels from node {node}"), &error)
            })
    }

    /// Deletes the Node object `node` (not forced: the distribution's finalizers run, K3s's
    /// removing its etcd member and node password) and waits until it is gone, checking every
    /// `poll`. A node that is already gone is not an error.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] when the delete is refused or the node still exists after
    /// `timeout`.
    pub async fn delete_node(
        &self,
        node: &str,
        timeout: Duration,
        poll: Duration,
    ) -> Result<(), ClusterApiError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        match nodes
            .delete(node, &kube::api::DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
            Err(error) => {
                return Err(request_error(&format!("cannot delete node {node}"), &error));
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match nodes.get_opt(node).await {
                Ok(None) => return Ok(()),
                Ok(Some(_)) => {}
                Err(error) => {
                    return Err(request_error(&format!("cannot read node {node}"), &error));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClusterApiError::Request {
                    action: format!("node {node} was deleted but is still there"),
                    detail: format!(
                        "its finalizers did not finish within {} s",
                        timeout.as_secs()
                    ),
                });
            }
            tokio::time::sleep(poll).await;
        }
    }

    async fn set_unschedulable(
        &self,
        node: &str,
        unschedulable: bool,
    ) -> Result<(), ClusterApiError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let value = if unschedulable {
            json!(true)
        } else {
            json!(null)
        };
        let patch = json!({"spec": {"unschedulable": value}});
        let verb = if unschedulable { "cordon" } else { "uncordon" };
        nodes
            .patch(node, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .map(|_| ())
            .map_err(|error| request_error(&format!("cannot {verb} node {node}"), &error))
    }
}

/// A [`ClusterApiError::Request`] for a failed call.
fn request_error(action: &str, error: &kube::Error) -> ClusterApiError {
    ClusterApiError::Request {
        action: action.to_owned(),
        detail: describe_kube_error(error),
    }
}

/// A kube error for people: an API refusal as `HTTP 404 NotFound: nodes "x" not found`, any
/// other error as its cause chain, each cause once.
pub(crate) fn describe_kube_error(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => describe_status(status),
        other => cause_chain(other),
    }
}

/// An API refusal: `HTTP 404 NotFound: nodes "x" not found`.
pub(crate) fn describe_status(status: &kube::core::Status) -> String {
    let detail = status_detail(status);
    if detail.is_empty() {
        format!("HTTP {}", status.code)
    } else if detail.starts_with(&status.reason) {
        format!("HTTP {} {detail}", status.code)
    } else {
        format!("HTTP {}: {detail}", status.code)
    }
}

/// A refusal's reason and message (`NotFound: nodes "x" not found`), or the message alone when
/// the body was not a `Status`.
pub(crate) fn status_detail(status: &kube::core::Status) -> String {
    let message = status.message.trim();
    let reason = status.reason.trim();
    if reason.is_empty() || reason == "Failed to parse error data" {
        message.to_owned()
    } else if message.is_empty() {
        reason.to_owned()
    } else {
        format!("{reason}: {message}")
    }
}

/// `error` and its sources, joined by `: `, dropping kube's type prefixes and causes already
/// contained in the text before them.
pub(crate) fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(cause) = current {
        let mut text = cause.to_string();
        for prefix in ["ServiceError: ", "HyperError: ", "HttpError: "] {
            if let Some(rest) = text.strip_prefix(prefix) {
                text = rest.to_owned();
            }
        }
        let already = parts.iter().any(|part| part.contains(&text));
        if !already && !text.is_empty() {
            // A later cause may repeat an earlier one in full; keep the more specific text.
            parts.retain(|part| !text.contains(part.as_str()));
            parts.push(text);
        }
        current = cause.source();
    }
    parts.join(": ")
}

fn describe_client_setup_error(error: &kube::Error) -> String {
    match error {
        kube::Error::RustlsTls(_) => {
            "the TLS client cannot be set up from the kubeconfig's CA, certificate and key"
                .to_owned()
        }
        other => cause_chain(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1
                .as_deref()
                .map(|layer| layer as &(dyn std::error::Error + 'static))
        }
    }

    #[test]
    fn cause_chain_drops_repeats_and_prefixes() {
        let error = Layer(
            "ServiceError: client error (Connect)",
            Some(Box::new(Layer(
                "client error (Connect)",
                Some(Box::new(Layer(
                    "tcp connect error: Connection refused (os error 111)",
                    Some(Box::new(Layer("Connection refused (os error 111)", None))),
                ))),
            ))),
        );
        assert_eq!(
            cause_chain(&error),
            "client error (Connect): tcp connect error: Connection refused (os error 111)"
        );
    }

    #[test]
    fn status_is_described_with_code_reason_and_message() {
        let status =
            kube::core::Status::failure("nodes \"x\" not found", "NotFound").with_code(404);
        assert_eq!(
            describe_status(&status),
            "HTTP 404 NotFound: nodes \"x\" not found"
        );
        let unparsed =
            kube::core::Status::failure("404 page not found", "Failed to parse error data")
                .with_code(404);
        assert_eq!(describe_status(&unparsed), "HTTP 404: 404 page not found");
    }
}
