//! Errors of the SSH layer. Each names the node; none carries a secret (commands never hold
//! secrets, and uploads are named by their path only).

use std::time::Duration;

use crate::client::NodeName;

/// An SSH failure on one node.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The TCP connection or the SSH handshake failed.
    #[error("node {node} ({address}): cannot connect over SSH")]
    Connect {
        /// The node.
        node: NodeName,
        /// `host:port`.
        address: String,
        /// The cause.
        #[source]
        source: Box<russh::Error>,
    },
    /// Connecting and authenticating took longer than the connect timeout.
    #[error("node {node} ({address}): no SSH session within {after:?}")]
    ConnectTimeout {
        /// The node.
        node: NodeName,
        /// `host:port`.
        address: String,
        /// The timeout.
        after: Duration,
    },
    /// The server presented a host key labform did not make for this node.
    #[error(
        "node {node} ({address}): host key {presented} is not the one labform made for this node (expected {}); refusing to connect: the VM was replaced or someone is intercepting the connection",
        expected.join(" or ")
    )]
    HostKeyMismatch {
        /// The node.
        node: NodeName,
        /// `host:port`.
        address: String,
        /// Fingerprint of the presented key (`SHA256:...`), or `a certificate`.
        presented: String,
        /// Fingerprints of the pinned keys.
        expected: Vec<String>,
    },
    /// The server refused the client key.
    #[error("node {node} ({address}): the server refused public-key authentication as `{user}`")]
    AuthenticationRefused {
        /// The node.
        node: NodeName,
        /// `host:port`.
        address: String,
        /// The user.
        user: String,
    },
    /// The session failed after it was established.
    #[error("node {node}: SSH session failed while {doing}")]
    Session {
        /// The node.
        node: NodeName,
        /// What was being done.
        doing: String,
        /// The cause.
        #[source]
        source: Box<russh::Error>,
    },
    /// The connection ended before the command reported its exit status.
    #[error(
        "node {node}: the connection was lost while running `{command}` (no exit status received)"
    )]
    ConnectionLost {
        /// The node.
        node: NodeName,
        /// The command.
        command: String,
    },
    /// The command ran longer than its timeout; its channel was closed.
    #[error("node {node}: `{command}` did not finish within {after:?}")]
    CommandTimeout {
        /// The node.
        node: NodeName,
        /// The command.
        command: String,
        /// The timeout.
        after: Duration,
    },
    /// The command ended unsuccessfully.
    #[error("node {node}: `{command}` failed with {status}{}", if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    CommandFailed {
        /// The node.
        node: NodeName,
        /// The command.
        command: String,
        /// How it ended.
        status: crate::session::ExitStatus,
        /// The end of its standard error (at most 2,000 bytes).
        stderr: String,
    },
    /// An upload did not complete.
    #[error("node {node}: cannot upload {path}: {reason}")]
    Upload {
        /// The node.
        node: NodeName,
        /// The destination path.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The client key could not be read.
    #[error("cannot read the SSH client key")]
    ClientKey {
        /// The cause.
        #[source]
        source: russh::keys::Error,
    },
    /// A host key could not be read.
    #[error("`{text}` is not an SSH public key")]
    HostKey {
        /// The refused text (public keys are not secret).
        text: String,
        /// The cause.
        #[source]
        source: russh::keys::ssh_key::Error,
    },
}
