//! labform's executor: the side of apply that talks to Proxmox.
//!
//! [`inputs`] is the one way in: the lab, its lock file and discovery, planned once and
//! reconciled.
//! [`discover`] and [`discover_access`] read what exists into the planner's `Inventory`;
//! [`tenants::token_secrets`] says which tenants' token secrets labform's store holds (the other
//! input of reconciliation); [`engine::apply`] carries out a reconciled plan as a graph of
//! Proxmox calls with bounded concurrency, per-storage clone limits and retries of the errors
//! Proxmox rejects before doing anything; the [`journal`] records every run; [`events`] report
//! progress.

pub mod discover;
pub mod engine;
pub mod error;
pub mod events;
pub mod inputs;
pub mod journal;
pub mod metered;
pub mod preflight;
pub mod tenants;

pub use discover::{Refresh, discover, discover_access, discover_with};
pub use error::ExecuteError;
pub use journal::Journal;
