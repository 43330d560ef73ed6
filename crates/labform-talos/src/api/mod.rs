//! The Talos API: gRPC over mutual TLS on port 50000, with labform's own `.proto` subset of
//! Talos's machine API (`proto/`, compiled by protox at build time).
//!
//! [`tls`] makes the TLS configurations (the node's API certificate checked against the
//! cluster's OS CA, labform's `os:admin` client certificate; or, for a node in maintenance mode
//! only, no check at all, as `talosctl --insecure`), [`client`] the calls labform makes, and
//! [`kubeconfig`] reads the kubeconfig Talos streams as a tar.gz.

pub mod client;
pub mod kubeconfig;
pub mod tls;

/// The port of Talos's API (apid).
pub const API_PORT: u16 = 50_000;

/// The generated messages, clients and servers.
#[allow(missing_docs, clippy::all, clippy::pedantic, reason = "generated code")]
pub mod proto {
    /// Talos's `common` package (subset).
    pub mod common {
        tonic::include_proto!("common");
    }
    /// Talos's `machine` package (subset).
    pub mod machine {
        tonic::include_proto!("machine");
    }
}
