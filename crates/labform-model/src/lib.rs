//! The labform lab file: its types, reading it (with includes), and checking it.
//!
//! A lab file describes a whole homelab: Proxmox endpoints and their capacity, images, networks
//! with address pools, Kubernetes clusters with add-ons, plain VMs, environments and tenants. This
//! crate turns files into a merged [`LabFile`] and reports every problem as a [`Diagnostic`] that
//! names the file, line, column and field and suggests a fix. It does no planning: allocation of
//! addresses, VM IDs and nodes lives in `labform-planner`.

pub mod addons;
pub mod diagnostic;
pub mod lab;
pub mod labels;
pub mod load;
/// Secret references (defined in `labform-ids` so layers below the lab file can name them).
pub use labform_ids::secret;
pub mod schedule;
pub mod source;
pub mod units;
pub mod validate;

pub use addons::{AddonKind, Addons};
pub use diagnostic::{Diagnostic, ResolvedDiagnostic, Severity};
pub use lab::*;
pub use load::{FileSystem, Loaded, MemoryFileSystem, RealFileSystem, load};
pub use secret::SecretRef;
pub use source::{FieldPath, FileId, Source, SourceMap};
pub use units::{AddressRange, ByteSize, IdRange};

/// The JSON Schema of the lab file, generated from the Rust types.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(LabFile);
    serde_json::to_value(schema).expect("a JSON Schema always serialises")
}
