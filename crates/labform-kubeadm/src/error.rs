//! What can go wrong with a kubeadm cluster, naming the cluster and what labform was doing.
//! Secrets never appear here.

/// A kubeadm cluster's configuration or secrets could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KubeadmError {
    /// The cluster's version is not one kubeadm configurations can be written for.
    #[error("cluster {cluster}: version `{version}`: {detail}")]
    Version {
        /// The cluster instance.
        cluster: String,
        /// The version as planned.
        version: String,
        /// What is wrong, with the fix.
        detail: String,
    },
    /// An upgrade labform refuses.
    #[error(
        "cluster {cluster}: cannot upgrade from {from} to {to}: kubeadm upgrades one minor version at a time\n  hint: set the cluster's version to {next} first, apply, then go on to {to}"
    )]
    UpgradeJump {
        /// The cluster instance.
        cluster: String,
        /// The version the cluster runs.
        from: String,
        /// The version planned.
        to: String,
        /// The next minor version to go through.
        next: String,
    },
    /// The lab asks for something labform does not do with kubeadm.
    #[error("cluster {cluster}: {detail}")]
    Unsupported {
        /// The cluster instance.
        cluster: String,
        /// What and why.
        detail: String,
    },
    /// The lab changes what kubeadm cannot change on a formed cluster.
    #[error(
        "cluster {cluster}: the lab changes what kubeadm cannot change on a formed cluster, so no node was changed:\n{}\n  hint: put these values back in the lab, or form the cluster anew with them: `labform reset FILE {cluster}` (the cluster's workloads and data are lost), then `labform apply FILE`",
        changes.iter().map(|change| format!("  - {change}")).collect::<Vec<_>>().join("\n")
    )]
    Reconfiguration {
        /// The cluster instance.
        cluster: String,
        /// `NODE: Kind field: before -> after (why)`, one for each field (never a secret).
        changes: Vec<String>,
    },
    /// labform's secret store failed or holds a value that is not what labform put there.
    #[error("cluster {cluster}: labform's secret store: {detail}")]
    Store {
        /// The cluster instance.
        cluster: String,
        /// What went wrong (never a value).
        detail: String,
    },
    /// The cluster CA could not be made.
    #[error("cluster {cluster}: cannot make the cluster CA: {detail}")]
    Certificate {
        /// The cluster instance.
        cluster: String,
        /// Why.
        detail: String,
    },
    /// A configuration could not be written as YAML.
    #[error("cluster {cluster}: cannot write {document} as YAML: {detail}")]
    Yaml {
        /// The cluster instance.
        cluster: String,
        /// Which document.
        document: String,
        /// The serialiser's message.
        detail: String,
    },
}

/// Bringing a kubeadm cluster to its planned state failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The cluster's configuration, version, secrets or an upgrade labform refuses.
    #[error(transparent)]
    Kubeadm(#[from] KubeadmError),
    /// SSH to a node failed (connection, command, upload).
    #[error("cluster {cluster}: {node}: {doing}")]
    Node {
        /// The cluster instance.
        cluster: String,
        /// The node.
        node: String,
        /// What labform was doing.
        doing: String,
        /// The SSH error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A command on a node (the preparation script, kubeadm) failed.
    #[error(
        "cluster {cluster}: {node}: {doing} failed ({status}); the end of its output (secrets removed):\n{output}"
    )]
    Command {
        /// The cluster instance.
        cluster: String,
        /// The node.
        node: String,
        /// What labform was doing.
        doing: String,
        /// How the command ended.
        status: String,
        /// The end of its output, scrubbed of the cluster's secrets.
        output: String,
    },
    /// The Kubernetes API failed or the cluster did not become what was asked in time.
    #[error("cluster {cluster}: {doing}")]
    Api {
        /// The cluster instance.
        cluster: String,
        /// What labform was doing.
        doing: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The air-gap directory cannot be used.
    #[error(transparent)]
    Artifacts(#[from] crate::artifacts::ArtifactError),
}
