//! Typed Proxmox VE API for labform.
//!
//! - [`ProxmoxApi`]: one trait for every endpoint labform uses, implemented
//!   by the HTTPS [`Client`] and in-process by `labform-simulator`.
//! - [`types`]: typed requests and leniently decoded responses.
//! - [`propstring`]: property strings (`net0`, `scsi0`, `ipconfig0`) that
//!   round-trip byte for byte.
//! - [`upid`] and [`task`]: task ids and waiting for tasks.

pub mod api;
pub mod client;
pub mod error;
pub mod lenient;
pub mod propstring;
pub mod secret;
pub mod task;
pub mod tls;
pub mod types;
pub mod upid;

pub use api::ProxmoxApi;
pub use client::{Auth, Client, ClientOptions};
pub use error::{ApiError, Error, ErrorKind, Result};
pub use secret::Secret;
pub use tls::{TlsTrust, fetch_fingerprint};
pub use upid::Upid;
