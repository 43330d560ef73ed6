//! labform as a controller (`labform serve --git URL`): the pieces that reach beyond Proxmox.
//!
//! - [`git`]: the lab's repository, fetched with the `git` program (as Argo CD does) over HTTPS
//!   (system roots or a given CA) or SSH (a known_hosts file pins the server's host key), each
//!   commit checked out into a directory of its own. Plain `http://` and `git://` are refused:
//!   there is no switch that turns verification off.
//! - [`lease`]: leader election through a `coordination.k8s.io/v1` Lease, so several replicas of
//!   the controller can run and only the one holding the Lease applies; when it stops (releasing
//!   the Lease) or its Lease expires, another takes over.
//!
//! The loop that plans, applies by policy and records each run with its commit is the CLI's
//! (`labform-cli`'s `commands/serve/controller.rs`), since it drives the same plan and apply as
//! `labform apply`.

pub mod git;
pub mod lease;
