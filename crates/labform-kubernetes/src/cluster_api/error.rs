//! Errors of the Kubernetes API layer. None carries key material or quotes a kubeconfig; API
//! refusals and transport failures are kept as text (code, reason, message, cause chain) so
//! they read well when the CLI prints them.

use crate::cluster_api::drain::DrainFailed;
use crate::cluster_api::readiness::ClusterNotReady;

/// What went wrong talking to a cluster's API.
#[derive(Debug, thiserror::Error)]
pub enum ClusterApiError {
    /// The kubeconfig cannot be used.
    #[error("the kubeconfig cannot be used: {problem}")]
    Kubeconfig {
        /// What is wrong, without quoting the file.
        problem: String,
    },
    /// The client could not be set up.
    #[error("cannot set up a Kubernetes client for {server}: {detail}")]
    Client {
        /// The API server's URL.
        server: String,
        /// Why.
        detail: String,
    },
    /// A request failed.
    #[error("{action}: {detail}")]
    Request {
        /// What labform was doing (`cannot cordon node k3s-1`).
        action: String,
        /// The API's refusal (`HTTP 404 NotFound: nodes "k3s-1" not found`) or the transport's
        /// cause chain.
        detail: String,
    },
    /// The cluster did not become ready in time.
    #[error(transparent)]
    NotReady(Box<ClusterNotReady>),
    /// A node was not drained in time.
    #[error(transparent)]
    Drain(Box<DrainFailed>),
    /// A manifest cannot be read.
    #[error("manifest {manifest}, document {document}: {problem}")]
    Manifest {
        /// Which manifest (file name, or `manifest` when none is known).
        manifest: String,
        /// Document number, from 1.
        document: usize,
        /// What is wrong.
        problem: String,
    },
}

impl From<ClusterNotReady> for ClusterApiError {
    fn from(error: ClusterNotReady) -> Self {
        Self::NotReady(Box::new(error))
    }
}

impl From<DrainFailed> for ClusterApiError {
    fn from(error: DrainFailed) -> Self {
        Self::Drain(Box::new(error))
    }
}
