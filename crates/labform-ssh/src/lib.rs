//! labform's SSH client, built on russh: run commands on the lab's VMs with their exit status and
//! streamed output, upload files, and nothing else.
//!
//! Only pinned host keys are accepted: a [`Target`] carries the host keys labform generated for
//! the VM (see `labform-cloudinit`), and a server presenting any other key is refused with
//! [`SshError::HostKeyMismatch`]. There is no trust on first use and no switch to turn checking
//! off. Sessions are bounded by a semaphore ([`SshOptions::max_sessions`]); connecting and every
//! command have timeouts; keepalives detect a dropped connection. Every error names the node.
//!
//! Commands appear in error messages, so they must never carry secrets: send secrets with
//! [`Session::upload`], whose errors name only the destination path.

mod client;
mod error;
mod session;

pub use client::{ClientKey, HostPublicKey, NodeName, SshClient, SshOptions, Target};
pub use error::SshError;
pub use session::{CommandOutput, ExitStatus, OutputStream, Session, shell_quote};
