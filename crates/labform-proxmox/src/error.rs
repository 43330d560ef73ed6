//! Errors of the Proxmox client: API errors with status, message and
//! per-parameter errors, transport and TLS failures, task failures.
//!
//! [`Error::kind`] is the one place where an error is classified by what it means (the object
//! is missing, the VM already runs, Proxmox gave up on a lock before acting, ...), from the HTTP
//! status and Proxmox's message or a task's exit status. Callers decide on the kind, never on
//! the text.

use std::collections::BTreeMap;
use std::fmt;

/// An error answer from the Proxmox API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (400, 401, 403, 500, 501, 595, ...).
    pub status: u16,
    /// The message (body `message`, or the reason phrase on old servers),
    /// without the trailing newline.
    pub message: String,
    /// Per-parameter errors of a 400 `Parameter verification failed.`.
    pub errors: BTreeMap<String, String>,
}

impl ApiError {
    /// A new error.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into().trim_end_matches('\n').to_owned(),
            errors: BTreeMap::new(),
        }
    }

    /// A 400 parameter-verification error with one parameter error.
    pub fn param(param: &str, text: impl Into<String>) -> Self {
        let mut errors = BTreeMap::new();
        errors.insert(param.to_owned(), text.into());
        Self {
            status: 400,
            message: "Parameter verification failed.".into(),
            errors,
        }
    }

    /// A 400 parameter-verification error with several parameter errors.
    pub fn params(errors: BTreeMap<String, String>) -> Self {
        Self {
            status: 400,
            message: "Parameter verification failed.".into(),
            errors,
        }
    }

    /// Whether this is a lock timeout (`can't lock file ... got timeout`,
    /// `cfs-lock ... got lock request timeout`): Proxmox gave up before
    /// changing anything, so the request may be retried.
    pub fn is_lock_timeout(&self) -> bool {
        is_lock_timeout_text(&self.message)
    }

    /// Whether a write that got this error may be retried: Proxmox rejected
    /// it before doing anything (lock timeouts, 595/596 proxy failures).
    pub fn is_safe_to_retry_write(&self) -> bool {
        self.status == 595 || self.status == 596 || self.is_lock_timeout()
    }
}

/// Whether an error text is a lock timeout.
pub fn is_lock_timeout_text(text: &str) -> bool {
    (text.contains("can't lock file") && text.contains("got timeout"))
        || (text.contains("cfs-lock") && text.contains("got lock request timeout"))
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)?;
        for (k, v) in &self.errors {
            write!(f, "; {k}: {}", v.trim_end())?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Everything that can go wrong talking to Proxmox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API answered with an error status.
    #[error("Proxmox API error on {method} {path}: {source}")]
    Api {
        /// HTTP method.
        method: String,
        /// API path (below `/api2/json`).
        path: String,
        /// The error.
        #[source]
        source: ApiError,
    },
    /// The request did not complete (connection, TLS, timeout).
    #[error("request {method} {path} failed")]
    Transport {
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The answer did not decode into the expected type.
    #[error("could not decode the answer of {method} {path}")]
    Decode {
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A task ended with an error exit status.
    #[error("task {upid} failed: {exitstatus}")]
    TaskFailed {
        /// The task.
        upid: String,
        /// Its exit status (the error text).
        exitstatus: String,
        /// The last lines of the task log.
        log: Vec<String>,
    },
    /// A task did not finish before the deadline.
    #[error("task {upid} still running after {waited:?}")]
    TaskTimeout {
        /// The task.
        upid: String,
        /// How long we waited.
        waited: std::time::Duration,
    },
    /// An invalid UPID.
    #[error(transparent)]
    Upid(#[from] crate::upid::InvalidUpid),
    /// A property string that does not parse.
    #[error("invalid property string for '{key}'")]
    Property {
        /// The config key.
        key: String,
        /// The cause.
        #[source]
        source: crate::propstring::PropertyError,
    },
    /// Client configuration is invalid (bad URL, bad fingerprint, TLS setup).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// A request that does not fit its endpoint's declaration (a bug in the caller: nothing
    /// was sent).
    #[error("request not sent")]
    Request(#[from] crate::endpoint::form::FormError),
    /// TLS setup failed.
    #[error("TLS setup failed")]
    Tls(#[source] rustls::Error),
    /// Could not fetch a server certificate.
    #[error("could not fetch the certificate of {host}")]
    Fetch {
        /// host:port
        host: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The API error, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }

    /// Builds an API error for a method and path.
    pub fn from_api(method: &str, path: &str, source: ApiError) -> Self {
        Error::Api {
            method: method.to_owned(),
            path: path.to_owned(),
            source,
        }
    }
}

/// What an error means, whatever call or task raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The object acted on does not exist (`no such user`, `no such token`, `volume ... does
    /// not exist`, a VM's `Configuration file ... does not exist`).
    NotFound,
    /// The node named in the path is not in the cluster: the node Proxmox proxies the request
    /// to cannot be resolved (`hostname lookup 'pve' failed - failed to get address info`).
    NoSuchNode,
    /// The object to create exists already (`already exists`).
    AlreadyExists,
    /// The VM to start runs already (`VM 100 already running`).
    AlreadyRunning,
    /// Proxmox gave up waiting for a lock before changing anything (`can't lock file ... got
    /// timeout`, `cfs-lock ... got lock request timeout`).
    LockTimeout,
    /// The proxy between nodes failed (HTTP 595/596): the request was not carried out.
    ProxyFailure,
    /// Authentication failed (HTTP 401).
    Unauthenticated,
    /// A permission check failed (HTTP 403).
    PermissionDenied,
    /// The request did not complete (connection, TLS, timeout).
    Transport,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The kind of an error with HTTP status `status` (if it came from an API answer) and text
    /// `text` (Proxmox's message or a task's exit status).
    pub fn classify(status: Option<u16>, text: &str) -> Self {
        let lower = text.to_ascii_lowercase();
        match status {
            Some(595 | 596) => return Self::ProxyFailure,
            Some(401) => return Self::Unauthenticated,
            Some(403) => return Self::PermissionDenied,
            _ => {}
        }
        if is_lock_timeout_text(text) {
            Self::LockTimeout
        } else if lower.contains("already running") {
            Self::AlreadyRunning
        } else if lower.contains("hostname lookup") {
            Self::NoSuchNode
        } else if lower.contains("no such ") || lower.contains("does not exist") {
            Self::NotFound
        } else if lower.contains("already exists") {
            Self::AlreadyExists
        } else {
            Self::Other
        }
    }
}

impl Error {
    /// What this error means (see [`ErrorKind::classify`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api { source, .. } => {
                let mut text = source.message.clone();
                for value in source.errors.values() {
                    text.push(' ');
                    text.push_str(value);
                }
                ErrorKind::classify(Some(source.status), &text)
            }
            Error::TaskFailed { exitstatus, .. } => ErrorKind::classify(None, exitstatus),
            Error::Transport { .. } => ErrorKind::Transport,
            _ => ErrorKind::Other,
        }
    }

    /// Whether a write that failed so may be tried again: Proxmox refused it before doing
    /// anything (a lock timeout, as the answer or as the task's exit status; a proxy failure).
    pub fn is_retryable_write(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::LockTimeout | ErrorKind::ProxyFailure
        )
    }

    /// Whether a read that failed so may be tried again: the request did not complete, or the
    /// server failed (5xx) in a way that may pass. Reads change nothing, but an answer that
    /// will not change is never tried again: what does not exist (Proxmox answers 500 both for
    /// `no such user` and for a node it cannot resolve, `hostname lookup 'pve' failed`).
    pub fn is_retryable_read(&self) -> bool {
        match self {
            Error::Transport { .. } => true,
            other => {
                other.status().is_some_and(|status| status >= 500)
                    && !matches!(other.kind(), ErrorKind::NotFound | ErrorKind::NoSuchNode)
            }
        }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_status_and_text() {
        let api = |status: u16, message: &str| {
            Error::from_api("DELETE", "/x", ApiError::new(status, message))
        };
        assert_eq!(
            api(500, "no such token 'labform' for user 'a@pve'").kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            api(500, "no such user ('a@pve')").kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            api(500, "volume 'local:iso/x.iso' does not exist").kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            api(500, "create user failed: user 'a@pve' already exists").kind(),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            api(
                500,
                "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"
            )
            .kind(),
            ErrorKind::LockTimeout
        );
        assert_eq!(
            api(596, "Connection timed out").kind(),
            ErrorKind::ProxyFailure
        );
        assert_eq!(
            api(403, "Permission check failed").kind(),
            ErrorKind::PermissionDenied
        );
        assert_eq!(api(401, "no ticket").kind(), ErrorKind::Unauthenticated);
        assert_eq!(api(500, "something else").kind(), ErrorKind::Other);
        let task = |exitstatus: &str| Error::TaskFailed {
            upid: "UPID:pve1:0:0:0:qmstart:100:root@pam:".into(),
            exitstatus: exitstatus.into(),
            log: Vec::new(),
        };
        assert_eq!(
            task("VM 100 already running").kind(),
            ErrorKind::AlreadyRunning
        );
        assert!(
            task("cfs-lock 'storage-local' error: got lock request timeout").is_retryable_write()
        );
        assert!(!task("VM 100 already running").is_retryable_write());
        assert!(api(595, "no route").is_retryable_write());
        assert!(!api(500, "no such user ('a@pve')").is_retryable_read());
        assert!(
            !api(
                500,
                "hostname lookup 'pve' failed - failed to get address info for: pve: Name or service not known"
            )
            .is_retryable_read()
        );
        assert!(api(503, "Service Unavailable").is_retryable_read());
        assert!(api(500, "internal error").is_retryable_read());
        assert!(api(596, "Broken pipe").is_retryable_read());
        assert!(
            api(
                500,
                "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"
            )
            .is_retryable_read()
        );
        assert!(!api(400, "Parameter verification failed.").is_retryable_read());
    }
}
