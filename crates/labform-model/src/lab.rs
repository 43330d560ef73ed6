//! The lab file's types: what a person writes in YAML, one Rust type per section.
//!
//! These types are the single source of truth for the file format: serde reads them, schemars
//! derives the published JSON Schema from them, and the planner consumes them. Every struct
//! refuses unknown keys so a typo is an error with a suggestion, never a silently ignored line.
//!
//! Items of top-level lists carry a [`Source`] (not part of the file format) recording which file
//! and which position they came from, so diagnostics can point at them after includes are merged.
//!
//! This file holds the root ([`LabFile`]) and the defaults; each section's types live in a
//! module of their own below `lab/`, re-exported here.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

pub use labform_ids::cluster::{CentralService, Cni, Distribution};

use crate::addons::Addons;
use crate::secret::SecretRef;
use crate::source::Source;
use crate::units::{AddressRange, ByteSize, IdRange};

mod clusters;
mod environments;
mod images;
mod machines;
mod networks;
mod plain_vms;
mod proxmox;
mod tenants;

pub use clusters::*;
pub use environments::*;
pub use images::*;
pub use machines::*;
pub use networks::*;
pub use plain_vms::*;
pub use proxmox::*;
pub use tenants::*;

/// One lab file (or an included fragment of one). Every section is optional in a fragment; the
/// root file must name the lab.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "labform lab file")]
pub struct LabFile {
    /// Editors' schema hint (`$schema: ./lab.schema.json`); ignored by labform.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The lab's name: a DNS label. It is written on every VM labform creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab: Option<String>,
    /// Ownership scope (default: the lab name). Two lab files that share a Proxmox must use different
    /// scopes; labform only ever changes or deletes VMs tagged with its own scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Fragments to include, relative to this file. Their lists are merged before this file's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<PathBuf>,
    /// Proxmox VE clusters (endpoints) the lab runs on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxmox: Vec<ProxmoxEndpoint>,
    /// Cloud images and ISOs the lab's VMs boot from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    /// Layer-2 networks (Proxmox bridges, optionally VLAN-tagged) with their IPv4 subnets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Network>,
    /// Kubernetes clusters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<Cluster>,
    /// Plain VMs that are not Kubernetes nodes (NAS, DNS/DHCP servers, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vms: Vec<PlainVm>,
    /// Environments (dev, staging, prod): every cluster exists once per environment, changed by
    /// the environment's overlay.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<Environment>,
    /// Tenants: who owns which clusters and which central services they reach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<Tenant>,
    /// Node defaults applied to every VM labform creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<Defaults>,
    /// Where this fragment was read from (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}

impl LabFile {
    /// The lab's name (empty when the file has none, which validation reports).
    pub fn name(&self) -> &str {
        self.lab.as_deref().unwrap_or_default()
    }

    /// The ownership scope: `scope:` when given, otherwise the lab's name. Every layer that marks,
    /// finds or journals what the lab owns uses this one value.
    pub fn scope(&self) -> &str {
        self.scope.as_deref().unwrap_or_else(|| self.name())
    }
}

/// Settings shared by every VM unless a group says otherwise.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// The login user cloud-init creates (default `labform`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Public SSH keys allowed to log in as that user (public keys are not secrets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_keys: Vec<String>,
    /// The image VMs boot from when a group names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Timezone written by cloud-init.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Extra packages cloud-init installs on every VM.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// Source of this section (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}
