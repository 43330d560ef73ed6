//! Proxmox VE's vocabulary, without I/O: what the API's values mean, shared by the HTTPS client,
//! the simulator, the planner and discovery.
//!
//! - [`endpoint`]: every endpoint declared once (method, path, parameters, privileges), and a
//!   request's parameters to and from their wire form by its declaration ([`endpoint::form`]).
//! - [`propstring`]: property strings (`net0`, `scsi0`, `ipconfig0`) that round-trip byte for
//!   byte, built in Proxmox's order, and a lenient reading of their options.
//! - [`upid`]: task identifiers.
//! - [`lenient`]: serde decoders for the API's loosely typed numbers and booleans.
//!
//! `labform-proxmox` re-exports these modules under the same names.

pub mod endpoint;
pub mod lenient;
pub mod propstring;
pub mod upid;

pub use upid::Upid;
