//! A simulator of Proxmox VE ("LocalStack for Proxmox").
//!
//! - [`Simulator`]: the simulated cluster; [`Simulator::client`] gives an
//!   in-process [`labform_proxmox::ProxmoxApi`] acting as one identity.
//! - [`server`]: the HTTPS (and optional plain HTTP) server with the real
//!   `/api2/json` layout, envelope, authentication and errors.
//! - [`faults`]: fault injection.
//! - [`backend`]: what backs VMs: state only (the default), or QEMU
//!   processes and real disk files.

pub mod auth;
pub mod backend;
pub mod config;
pub mod datacenter;
pub mod faults;
pub mod lab;
pub mod locks;
pub mod perms;
pub mod persist;
pub mod server;
pub mod sim;
pub mod state;

pub use config::{NetworkBridge, NodeSpec, SimConfig, StorageKind, StorageSpec, Timing};
pub use faults::{Fault, FaultConfig, FaultRule, TaskFailureRule};
pub use perms::Identity;
pub use server::{
    Launched, RunningServer, ServeError, ServeOptions, ServerOptions, launch, serve, start,
};
pub use sim::{SimClient, Simulator};

/// `error` and its causes, joined with `: ` (for task logs and error bodies).
pub(crate) fn error_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
