//! Connecting: targets with their pinned host keys, the client key, options, and the client that
//! bounds how many sessions are open at once.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::Semaphore;

use crate::error::SshError;
use crate::session::Session;

/// The name of a node (VM) as the lab calls it; every error carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeName(String);

impl NodeName {
    /// Wraps a node name.
    pub fn new(name: impl Into<String>) -> Self {
        NodeName(name.into())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// A host public key a node must present.
#[derive(Clone, PartialEq, Eq)]
pub struct HostPublicKey(PublicKey);

impl HostPublicKey {
    /// Reads a key in OpenSSH format (`ssh-ed25519 AAAA... [comment]`).
    pub fn from_openssh(text: &str) -> Result<Self, SshError> {
        PublicKey::from_openssh(text.trim())
            .map(HostPublicKey)
            .map_err(|source| SshError::HostKey {
                text: text.to_owned(),
                source,
            })
    }

    /// The SHA-256 fingerprint (`SHA256:...`).
    pub fn fingerprint(&self) -> String {
        self.0.fingerprint(HashAlg::Sha256).to_string()
    }

    fn matches(&self, presented: &PublicKey) -> bool {
        self.0.key_data() == presented.key_data()
    }
}

impl fmt::Debug for HostPublicKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "HostPublicKey({})", self.fingerprint())
    }
}

/// The private key labform authenticates with. `Debug` shows its fingerprint only.
#[derive(Clone)]
pub struct ClientKey(Arc<PrivateKey>);

impl ClientKey {
    /// Reads an unencrypted private key in OpenSSH or PEM format.
    pub fn from_openssh(text: &SecretString) -> Result<Self, SshError> {
        russh::keys::decode_secret_key(text.expose_secret(), None)
            .map(|key| ClientKey(Arc::new(key)))
            .map_err(|source| SshError::ClientKey { source })
    }

    /// The public half in OpenSSH format, for `authorized_keys`.
    pub fn public_openssh(&self) -> String {
        self.0
            .public_key()
            .to_openssh()
            .unwrap_or_else(|_| String::from("(unencodable key)"))
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "ClientKey({})",
            self.0.public_key().fingerprint(HashAlg::Sha256)
        )
    }
}

/// Where and as whom to connect, and which host keys to accept.
#[derive(Debug, Clone)]
pub struct Target {
    /// The node, for errors.
    pub node: NodeName,
    /// Host name or address.
    pub host: String,
    /// Port (22).
    pub port: u16,
    /// Login user.
    pub user: String,
    /// The keys the node may present (at least one; with none, every connection is refused).
    pub host_keys: Vec<HostPublicKey>,
}

impl Target {
    fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Limits and timeouts.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// Most sessions open at once across the client.
    pub max_sessions: usize,
    /// Limit for TCP connect, handshake and authentication together.
    pub connect_timeout: Duration,
    /// Default limit for one command (changeable per session).
    pub command_timeout: Duration,
    /// Interval of keepalive requests; after three unanswered ones the connection counts as lost.
    pub keepalive_interval: Duration,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            max_sessions: 16,
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(600),
            keepalive_interval: Duration::from_secs(10),
        }
    }
}

/// Opens sessions to nodes, at most [`SshOptions::max_sessions`] at a time.
#[derive(Debug, Clone)]
pub struct SshClient {
    key: ClientKey,
    options: SshOptions,
    sessions: Arc<Semaphore>,
}

/// The russh handler: accepts exactly the pinned keys and records what was presented otherwise.
pub(crate) struct PinnedHostKeys {
    accepted: Vec<HostPublicKey>,
    refused: Arc<Mutex<Option<String>>>,
}

impl russh::client::Handler for PinnedHostKeys {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        presented: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let verdict = match presented {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                if self.accepted.iter().any(|accepted| accepted.matches(key)) {
                    None
                } else {
                    Some(key.fingerprint(HashAlg::Sha256).to_string())
                }
            }
            // labform pins plain keys; a certificate is never accepted in their place.
            PublicKeyOrCertificate::Certificate(_) => Some("a certificate".to_owned()),
        };
        let accepted = verdict.is_none();
        *self.refused.lock().expect("host-key record lock") = verdict;
        Ok(accepted)
    }
}

impl SshClient {
    /// A client authenticating with `key`.
    pub fn new(key: ClientKey, options: SshOptions) -> Self {
        let sessions = Arc::new(Semaphore::new(options.max_sessions.max(1)));
        SshClient {
            key,
            options,
            sessions,
        }
    }

    /// The options.
    pub fn options(&self) -> &SshOptions {
        &self.options
    }

    /// Opens a session to `target`, a VM that may still be booting: while it does not answer
    /// yet, or its sshd still presents the image's host keys or refuses labform's key (before
    /// cloud-init has installed them), tries again every two seconds until `patience` has
    /// passed; then, or on any other error, gives the error.
    pub async fn connect_while_booting(
        &self,
        target: &Target,
        patience: Duration,
    ) -> Result<Session, SshError> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match self.connect(target).await {
                Err(
                    SshError::Connect { .. }
                    | SshError::ConnectTimeout { .. }
                    | SshError::HostKeyMismatch { .. }
                    | SshError::AuthenticationRefused { .. },
                ) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                done => return done,
            }
        }
    }

    /// Opens a session to `target`, waiting for a free session slot first. The slot is held until
    /// the session is dropped or closed.
    pub async fn connect(&self, target: &Target) -> Result<Session, SshError> {
        let permit = Arc::clone(&self.sessions)
            .acquire_owned()
            .await
            .expect("the session semaphore is never closed");
        let address = target.address();
        let refused = Arc::new(Mutex::new(None));
        let handler = PinnedHostKeys {
            accepted: target.host_keys.clone(),
            refused: Arc::clone(&refused),
        };
        let config = Arc::new(russh::client::Config {
            keepalive_interval: Some(self.options.keepalive_interval),
            keepalive_max: 3,
            inactivity_timeout: None,
            ..Default::default()
        });
        let attempt = async {
            let mut handle =
                russh::client::connect(config, (target.host.as_str(), target.port), handler)
                    .await
                    .map_err(|source| {
                        match refused.lock().expect("host-key record lock").take() {
                            Some(presented) => SshError::HostKeyMismatch {
                                node: target.node.clone(),
                                address: address.clone(),
                                presented,
                                expected: target
                                    .host_keys
                                    .iter()
                                    .map(HostPublicKey::fingerprint)
                                    .collect(),
                            },
                            None => SshError::Connect {
                                node: target.node.clone(),
                                address: address.clone(),
                                source: Box::new(source),
                            },
                        }
                    })?;
            let session_error = |source| SshError::Session {
                node: target.node.clone(),
                doing: "authenticating".to_owned(),
                source: Box::new(source),
            };
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .map_err(session_error)?
                .flatten();
            let result = handle
                .authenticate_publickey(
                    target.user.clone(),
                    PrivateKeyWithHashAlg::new(Arc::clone(&self.key.0), hash),
                )
                .await
                .map_err(session_error)?;
            if !result.success() {
                return Err(SshError::AuthenticationRefused {
                    node: target.node.clone(),
                    address: address.clone(),
                    user: target.user.clone(),
                });
            }
            Ok(handle)
        };
        let handle = tokio::time::timeout(self.options.connect_timeout, attempt)
            .await
            .map_err(|_| SshError::ConnectTimeout {
                node: target.node.clone(),
                address: address.clone(),
                after: self.options.connect_timeout,
            })??;
        Ok(Session::new(
            target.node.clone(),
            handle,
            permit,
            self.options.command_timeout,
        ))
    }
}
