//! Errors of Kubernetes rendering. They name the cluster and never carry a secret.

/// What went wrong while rendering a cluster.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The lab asks for something labform cannot render yet.
    #[error("cluster {cluster}: {detail}")]
    Unsupported {
        /// The cluster instance.
        cluster: String,
        /// What is missing.
        detail: String,
    },
    /// A document could not be written as YAML.
    #[error("cluster {cluster}: cannot write {document} as YAML: {message}")]
    Yaml {
        /// The cluster instance.
        cluster: String,
        /// Which document.
        document: String,
        /// The serialiser's message.
        message: String,
    },
    /// A secret-store key made from the plan's names is not a valid key.
    #[error("cannot name a secret of the cluster")]
    StoreKey(#[from] labform_secrets::InvalidSecretKey),
    /// Cloud-init of a VM could not be rendered.
    #[error("cannot render cloud-init")]
    CloudInit(#[from] labform_cloudinit::CloudInitError),
    /// The render directory could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The path.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Reading or writing a kubeconfig file.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// The text is not a kubeconfig labform understands.
    #[error("{origin} is not a valid kubeconfig: {detail}")]
    Invalid {
        /// Which file or node it came from.
        origin: String,
        /// What is wrong (never the key material).
        detail: String,
    },
    /// The file could not be read or written.
    #[error("cannot {doing} {path}")]
    File {
        /// `read`, `write`.
        doing: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
