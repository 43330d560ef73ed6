//! The errors of labform's Talos work. None carries a secret: certificates and keys are named by
//! what they are, never shown.

use labform_secrets::SecretStoreError;

/// What went wrong with a Talos cluster's secrets, configurations or API.
#[derive(Debug, thiserror::Error)]
pub enum TalosError {
    /// A version that is not `vMAJOR.MINOR.PATCH`.
    #[error("`{version}` is not a Talos version (write a release tag such as `v1.13.9`)")]
    InvalidVersion {
        /// The refused text.
        version: String,
    },
    /// Key or certificate generation failed.
    #[error("cannot generate the {what}: {message}")]
    Generate {
        /// Which key or certificate.
        what: &'static str,
        /// The library's message (it never holds key material).
        message: String,
    },
    /// A stored secrets bundle cannot be read.
    #[error(
        "the Talos secrets bundle of cluster `{cluster}` in labform's store is damaged: {reason}"
    )]
    DamagedBundle {
        /// The cluster instance.
        cluster: String,
        /// What is wrong (never a value).
        reason: String,
    },
    /// The secret store failed.
    #[error(transparent)]
    Store(#[from] SecretStoreError),
    /// A node of the cluster has no VM in the plan.
    #[error("node `{node}` of cluster `{cluster}` has no VM in the plan")]
    MissingVm {
        /// The cluster instance.
        cluster: String,
        /// The node.
        node: String,
    },
    /// A cluster node has no static address.
    #[error("VM `{vm}` has no static address; Talos nodes need one")]
    NoAddress {
        /// The VM.
        vm: String,
    },
    /// A label or taint that Talos cannot take.
    #[error("`{value}` of node `{node}` is not a {what} (`key=value`{suffix})")]
    InvalidNodeSetting {
        /// The node.
        node: String,
        /// `label` or `taint`.
        what: &'static str,
        /// Expected form's suffix, for the message.
        suffix: &'static str,
        /// The refused text.
        value: String,
    },
    /// YAML serialisation failed (the message never holds values).
    #[error("cannot write the {document} of `{node}` as YAML")]
    Yaml {
        /// The node.
        node: String,
        /// Which document.
        document: &'static str,
    },
    /// TLS could not be set up (a damaged certificate or key).
    #[error("cannot set up TLS for the Talos API: {message}")]
    Tls {
        /// What is wrong (never key material).
        message: String,
    },
    /// The kubeconfig Talos sent cannot be read.
    #[error("the kubeconfig the Talos API sent cannot be read: {reason}")]
    Kubeconfig {
        /// What is wrong.
        reason: String,
    },
    /// A Talos API call failed.
    #[error("Talos API of `{node}` ({address}): {call} failed: {message}")]
    Api {
        /// The node.
        node: String,
        /// The address called.
        address: String,
        /// The call (`ApplyConfiguration`, ...).
        call: &'static str,
        /// gRPC's status and Talos's message.
        message: String,
    },
    /// Waiting for a node timed out.
    #[error(
        "cluster `{cluster}`: node `{node}` did not reach {waiting_for} in time (last: {last})"
    )]
    Timeout {
        /// The cluster instance.
        cluster: String,
        /// The node.
        node: String,
        /// What was waited for.
        waiting_for: String,
        /// The last error seen.
        last: String,
    },
    /// A node is not healthy.
    #[error("node `{node}` is not healthy: {reason}")]
    Unhealthy {
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
    /// Taking a control plane down would cost etcd its quorum.
    #[error(
        "not upgrading `{node}`: etcd would lose its quorum ({healthy} healthy members would remain of {members})"
    )]
    Quorum {
        /// The control plane.
        node: String,
        /// Healthy members besides it.
        healthy: usize,
        /// Members in all.
        members: usize,
    },
    /// The cluster's Kubernetes API failed while labform delivered or compared its add-ons.
    #[error("{action} on Talos cluster `{cluster}`")]
    KubernetesApi {
        /// The cluster instance.
        cluster: String,
        /// What labform was doing.
        action: String,
        /// Why it failed.
        #[source]
        source: labform_kubernetes::ClusterApiError,
    },
    /// The add-ons cannot be made ready to deliver (a manifest, a secret reference).
    #[error("the add-ons of Talos cluster `{cluster}`: {detail}")]
    Addons {
        /// The cluster instance.
        cluster: String,
        /// What is wrong (never a secret's value).
        detail: String,
    },
    /// A Kubernetes change Talos does not make in one step.
    #[error(
        "not changing `{node}` from Kubernetes {running} to {planned}: Kubernetes is upgraded one minor version at a time and never downgraded\n  hint: set `kubernetes_version` to the next minor version first, apply, then go on"
    )]
    KubernetesStep {
        /// The node.
        node: String,
        /// The minor version it runs.
        running: String,
        /// The minor version planned.
        planned: String,
    },
}
