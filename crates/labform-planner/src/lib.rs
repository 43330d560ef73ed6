//! labform's planner: from a validated lab to a complete plan, with no I/O.
//!
//! Architecture invariant: this crate reads no files, opens no sockets, spawns no tasks and reads
//! no clock or random source. Given the same lab and the same previous [`Allocations`], it returns
//! the same plan, byte for byte. Stability of addresses, VM IDs and placement comes from
//! [`Allocations`]: decisions are kept once made (see [`allocate`]).

pub mod allocate;
pub mod build;
pub mod expand;
pub mod placement;
pub mod plan;
pub mod render;

pub use allocate::Allocations;
pub use build::{Planned, plan};
pub use plan::Plan;
pub use render::render;
