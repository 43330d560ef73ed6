//! Typed Proxmox VE API for labform.
//!
//! - [`ProxmoxApi`]: one trait for every endpoint labform uses, implemented
//!   by the HTTPS [`Client`] and in-process by `labform-simulator`.
//! - [`types`]: typed requests and leniently decoded responses.
//! - [`propstring`]: property strings (`net0`, `scsi0`, `ipconfig0`) that
//!   round-trip byte for byte; with [`upid`] (task ids) and [`lenient`]
//!   (decoding), re-exported from `labform-proxmox-vocabulary`, which has no I/O.
//! - [`endpoint`]: every endpoint declared once (from the vocabulary crate).
//! - [`task`]: waiting for tasks.

pub mod api;
pub mod client;
pub mod error;
pub mod secret;
pub mod task;
pub mod tls;
pub mod types;

pub use labform_proxmox_vocabulary::{endpoint, lenient, propstring, upid};

pub use api::ProxmoxApi;
pub use client::{Auth, Client, ClientOptions};
pub use error::{ApiError, Error, ErrorKind, Result};
pub use secret::Secret;
pub use tls::{TlsTrust, fetch_fingerprint};
pub use upid::Upid;
