//! A test double of the Talos machine API subset labform uses, one gRPC server per node over
//! TLS on loopback, enforcing the rules of Talos that labform's flow depends on:
//!
//! - A node without a configuration is in maintenance mode: it shows a self-signed certificate,
//!   asks for no client certificate, and answers only `ApplyConfiguration` and `Version`.
//! - A configured node shows a certificate signed by the cluster's OS CA (taken from the
//!   configuration, as Talos does) for its address, and requires a client certificate signed by
//!   that CA; calls that change the node need the role `os:admin` (the certificate's
//!   organisation). An unauthenticated `ApplyConfiguration` to a configured node fails.
//! - `Bootstrap` works once per cluster, on a control plane; it is refused while etcd runs
//!   anywhere. Control planes configured after the bootstrap join etcd.
//! - `Upgrade` of a control plane is refused when the node leaving would cost etcd its quorum;
//!   a graceful `Reset` of the last etcd member is refused.
//! - `Kubeconfig` streams a tar.gz holding one file, `kubeconfig`; `Read` of
//!   `/system/state/config.yaml` gives the applied configuration.
//!
//! Tests drive it through [`TalosSim`]: start it with the nodes' names and planned addresses,
//! read each node's state and the calls it answered, and make etcd members unhealthy.

mod server;
mod state;

pub use server::TalosSim;
pub use state::{Call, NodeSnapshot};
