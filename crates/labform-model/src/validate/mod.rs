//! Structural checks of a merged lab: names, references, networks and pools, cluster shape,
//! add-on dependencies, tenants and environments.
//!
//! These checks need no allocation. Checks that do (pool exhaustion, node capacity, VM ID ranges,
//! generated names) run in `labform-planner`, which reports through the same [`Diagnostic`] type.
//!
//! One module per section of the lab file (`lab`, `endpoints`, `images`, `networks`, `clusters`,
//! `vms`, `environments`, `tenants`), plus `placement` (what node groups and plain VMs share) and
//! `addons` (the lab's side of the add-ons' own checks, which live in `labform-addons`). Each
//! adds methods to the one [`Checker`] walking the lab; this module holds the walk and the
//! helpers every section uses (names, references).

mod addons;
mod cloud_init;
mod clusters;
mod endpoints;
mod environments;
mod images;
mod lab;
mod networks;
mod placement;
mod tenants;
mod vms;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use labform_ids::is_dns_label;

use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::lab::*;
use crate::source::Source;
use crate::units::IdRange;

/// Default pod network of a cluster.
pub const DEFAULT_POD_CIDR: &str = "10.42.0.0/16";
pub use cloud_init::{LABFORM_USER_DATA_KEYS, LIST_USER_DATA_KEYS};

/// Default service network of a cluster.
pub const DEFAULT_SERVICE_CIDR: &str = "10.43.0.0/16";

/// Runs every structural check and returns what it found (errors and warnings).
pub fn validate(lab: &LabFile) -> Vec<Diagnostic> {
    let mut checker = Checker {
        lab,
        out: Vec::new(),
    };
    checker.run();
    checker.out
}

/// Walks the lab section by section and collects what it finds.
struct Checker<'a> {
    /// The lab being checked.
    lab: &'a LabFile,
    /// Findings, in the order found.
    out: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    fn run(&mut self) {
        self.lab_identity();
        self.unique_names();
        self.defaults();
        for endpoint in &self.lab.proxmox {
            self.endpoint(endpoint);
        }
        for image in &self.lab.images {
            self.image(image);
        }
        self.networks();
        for cluster in &self.lab.clusters {
            self.cluster(cluster);
        }
        for vm in &self.lab.vms {
            self.plain_vm(vm);
        }
        self.environments();
        self.tenants();
    }

    fn push(&mut self, diagnostic: Diagnostic) {
        self.out.push(diagnostic);
    }

    fn dns_name(&mut self, at: &Source, what: &str, name: &str) {
        if !is_dns_label(name) {
            let suggestion: String = name
                .to_ascii_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect::<String>()
                .trim_matches('-')
                .chars()
                .take(63)
                .collect();
            let mut diagnostic = Diagnostic::error(
                "invalid-name",
                at,
                format!("{what} name `{name}` is not DNS-safe"),
            );
            diagnostic = if suggestion.is_empty() {
                diagnostic.hint("use 1 to 63 lowercase letters, digits and `-`, not starting or ending with `-`")
            } else {
                diagnostic.hint(format!(
                    "use 1 to 63 lowercase letters, digits and `-`, not starting or ending with `-`, e.g. `{suggestion}`"
                ))
            };
            self.push(diagnostic);
        }
    }

    /// Reports `name` unless it is among `known`; returns whether it was found.
    fn reference<'n>(
        &mut self,
        at: &Source,
        what: &str,
        name: &str,
        known: impl IntoIterator<Item = &'n str> + Clone,
    ) -> bool {
        if known.clone().into_iter().any(|candidate| candidate == name) {
            return true;
        }
        let known: Vec<&str> = known.into_iter().collect();
        let hint = match did_you_mean(name, known.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None if known.is_empty() => format!("declare a {what} named `{name}` first"),
            None => format!("known {what}s: {}", known.join(", ")),
        };
        self.push(
            Diagnostic::error("unknown-reference", at, format!("unknown {what} `{name}`"))
                .hint(hint),
        );
        false
    }
}

fn overlaps(left: &Ipv4Net, right: &Ipv4Net) -> bool {
    left.contains(&right.network()) || right.contains(&left.network())
}

fn first_host(subnet: &Ipv4Net) -> Ipv4Addr {
    if subnet.prefix_len() >= 31 {
        subnet.network()
    } else {
        Ipv4Addr::from(u32::from(subnet.network()) + 1)
    }
}

fn last_host(subnet: &Ipv4Net) -> Ipv4Addr {
    if subnet.prefix_len() >= 31 {
        subnet.broadcast()
    } else {
        Ipv4Addr::from(u32::from(subnet.broadcast()) - 1)
    }
}
