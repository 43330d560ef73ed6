//! What can go wrong on the way from VMs to a Ready K3s cluster, each naming the cluster or node
//! and what labform was doing, with a hint where one helps. Secrets never appear here.

use std::path::PathBuf;

use labform_ssh::SshError;

/// Getting or checking the K3s release files.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written to the download cache.
    #[error("cannot write {path} to the artifact cache")]
    Cache {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The checksum list does not name a file labform needs.
    #[error(
        "{list} does not list `{file}`; labform installs nothing it cannot verify\n  hint: use the sha256sum file of the same K3s release as the binary"
    )]
    NotListed {
        /// Where the list came from.
        list: String,
        /// The file.
        file: String,
    },
    /// A file's SHA-256 is not the listed one.
    #[error(
        "checksum mismatch for {file}: the release lists sha256 {expected}, the file has {actual}\n  hint: the download was corrupted or the file is from another release; remove it and try again"
    )]
    Mismatch {
        /// Where the file came from.
        file: String,
        /// Listed digest.
        expected: String,
        /// Actual digest.
        actual: String,
    },
    /// A download failed.
    #[error("cannot download {url}")]
    Download {
        /// The address.
        url: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A download answered with an HTTP error.
    #[error("cannot download {url}: the server answered {status}")]
    Status {
        /// The address.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The source is not acceptable.
    #[error("{detail}")]
    Source {
        /// What is wrong and how to fix it.
        detail: String,
    },
}

/// Working on one node over SSH.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// SSH failed (connection, command, upload); the SSH error names the node.
    #[error(transparent)]
    Ssh(#[from] SshError),
    /// The node reported something labform did not expect.
    #[error("node {node}: {detail}")]
    Unexpected {
        /// The node.
        node: String,
        /// What.
        detail: String,
    },
}

/// Bringing one cluster to its planned state.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A node step failed.
    #[error("cluster {cluster}: {doing}")]
    Node {
        /// The cluster instance.
        cluster: String,
        /// What labform was doing.
        doing: String,
        /// Why it failed.
        #[source]
        source: Box<NodeError>,
    },
    /// The artifacts could not be had.
    #[error("cluster {cluster}: cannot get K3s {version}")]
    Artifacts {
        /// The cluster instance.
        cluster: String,
        /// The K3s version.
        version: String,
        /// Why.
        #[source]
        source: ArtifactError,
    },
    /// The release's checksum list could not be read (drift compares the nodes with it).
    #[error("cannot read the checksums of K3s {version}")]
    Checksums {
        /// The K3s version.
        version: String,
        /// Why.
        #[source]
        source: ArtifactError,
    },
    /// The Kubernetes API refused or timed out.
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
    /// The lab or plan cannot be carried out as it is.
    #[error("cluster {cluster}: {detail}")]
    Unsupported {
        /// The cluster instance.
        cluster: String,
        /// What and why, with the fix.
        detail: String,
    },
    /// labform's secret store failed.
    #[error("cluster {cluster}: labform's secret store")]
    Store {
        /// The cluster instance.
        cluster: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
