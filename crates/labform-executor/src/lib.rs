//! labform's executor: the side of apply that talks to Proxmox.
//!
//! [`discover`] reads what exists into the planner's `Inventory`; [`engine::apply`] carries out a
//! reconciled plan as a graph of Proxmox calls with bounded concurrency, per-storage clone limits
//! and retries of the errors Proxmox rejects before doing anything; the [`journal`] records every
//! run; [`events`] report progress; [`tenants`] decides the tenants' Proxmox users, API tokens
//! and ACL entries.

pub mod discover;
pub mod engine;
pub mod error;
pub mod events;
pub mod journal;
pub mod metered;
pub mod tenants;

pub use discover::discover;
pub use error::ExecuteError;
pub use journal::Journal;
