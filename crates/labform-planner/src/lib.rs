//! labform's planner: from a validated lab to a complete plan, with no I/O.
//!
//! Architecture invariant: this crate reads no files, opens no sockets, spawns no tasks and reads
//! no clock or random source. Given the same lab and the same previous [`Allocations`], it returns
//! the same plan, byte for byte. Stability of addresses, VM IDs and placement comes from
//! [`Allocations`]: decisions are kept once made (see [`allocate`]).

pub mod allocate;
pub mod backups;
pub mod build;
pub mod desired;
pub mod distribution;
pub mod expand;
pub mod inventory;
pub mod ownership;
pub mod placement;
pub mod plan;
pub mod preflight;
pub mod reconcile;
pub mod render;
pub mod replacement;
pub mod shared;
pub mod tenancy;

pub use allocate::{AllocationKey, Allocations};
pub use build::{ObservedIds, Planned, plan, plan_against};
pub use plan::Plan;
pub use render::render;

/// Loads `bytes` as a lab file (from memory, without includes on disk), validates and plans it,
/// and renders its diagnostics; returns the number of errors. Used by the fuzzer and by the test
/// that replays its corpus: whatever the input, this must return, never panic.
pub fn check_bytes(bytes: &[u8]) -> usize {
    let mut files = labform_model::MemoryFileSystem::new();
    files.insert("lab.yaml", bytes.to_vec());
    let loaded = labform_model::load(&files, std::path::Path::new("lab.yaml"));
    let mut diagnostics = loaded.diagnostics;
    if let Some(lab) = &loaded.lab {
        let planned = plan(lab, &Allocations::empty());
        if let Some(plan) = &planned.plan {
            let _ = render(plan, true);
        }
        diagnostics.extend(planned.diagnostics);
    }
    let _ = labform_model::diagnostic::render_all(&diagnostics, &loaded.sources);
    diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.is_error())
        .count()
}
