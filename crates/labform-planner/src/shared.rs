//! Lab files that share a Proxmox: one repository per cluster, each lab with its own scope.
//!
//! Applied to one Proxmox, a later lab avoids the VM IDs the earlier ones' VMs hold (they are
//! foreign IDs to it) and the addresses they hold (their VMs' addresses, and their clusters'
//! API VIPs and load-balancer blocks, which cluster nodes record in their ownership blocks):
//! its pools hand out neither. [`ids_of_others`] gives a lab the IDs and addresses of the labs
//! planned before it, as applying them in that order would; [`clashes`] reports what two labs
//! of the set would still both claim (a scope, an address written in both files, a pool too
//! small for both), anchored in the later lab's file.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use labform_ids::EndpointName;
use labform_model::lab::LabFile;
use labform_model::{Diagnostic, Source};

use crate::build::ObservedIds;
use crate::plan::{Plan, PlannedVm};

/// One lab of a set and its plan.
#[derive(Debug, Clone, Copy)]
pub struct SharedLab<'a> {
    /// The lab file.
    pub lab: &'a LabFile,
    /// Its plan.
    pub plan: &'a Plan,
}

/// The endpoint URL (normalised) of endpoint `name` of `lab`.
fn endpoint_url(lab: &LabFile, name: &str) -> Option<String> {
    lab.proxmox
        .iter()
        .find(|endpoint| endpoint.name == name)
        .map(|endpoint| endpoint.endpoint.trim_end_matches('/').to_ascii_lowercase())
}

/// The VM IDs `others`' VMs and templates hold on the endpoints `lab` shares with them, keyed
/// by `lab`'s names of those endpoints: IDs `lab` must not hand out.
pub fn ids_of_others(lab: &LabFile, others: &[SharedLab<'_>]) -> ObservedIds {
    let mut observed = ObservedIds::default();
    for endpoint in &lab.proxmox {
        let url = endpoint.endpoint.trim_end_matches('/').to_ascii_lowercase();
        let ids: BTreeSet<u32> = others
            .iter()
            .flat_map(|other| {
                let vms = other
                    .plan
                    .vms
                    .iter()
                    .map(|vm| (vm.endpoint.to_string(), vm.vm_id.get()));
                let templates = other
                    .plan
                    .templates
                    .iter()
                    .map(|template| (template.endpoint.to_string(), template.vm_id.get()));
                vms.chain(templates)
                    .filter(|(name, _)| endpoint_url(other.lab, name).as_deref() == Some(&url))
                    .map(|(_, id)| id)
                    .collect::<Vec<_>>()
            })
            .collect();
        if !ids.is_empty() {
            observed
                .foreign
                .insert(EndpointName::from(endpoint.name.clone()), ids);
        }
    }
    for other in others {
        if shares_endpoint(lab, other.lab) {
            for claim in claims(other) {
                observed
                    .foreign_addresses
                    .extend((u32::from(claim.first)..=u32::from(claim.last)).map(Ipv4Addr::from));
            }
        }
    }
    observed
}

/// Where a planned VM comes from in its lab file: its node group, or its plain VM entry.
fn vm_source(shared: &SharedLab<'_>, vm: &PlannedVm) -> Source {
    if let Some(instance) = &vm.cluster
        && let Some(planned) = shared
            .plan
            .clusters
            .iter()
            .find(|cluster| &cluster.name == instance)
        && let Some(cluster) = shared
            .lab
            .clusters
            .iter()
            .find(|cluster| cluster.name == planned.cluster.as_str())
    {
        return cluster.source.at(if vm.role.starts_with("server") {
            "servers"
        } else {
            "agents"
        });
    }
    shared
        .lab
        .vms
        .iter()
        .find(|plain| {
            plain.name == vm.name
                || vm
                    .name
                    .strip_prefix(&plain.name)
                    .is_some_and(|rest| rest.starts_with('-'))
        })
        .map(|plain| plain.source.clone())
        .unwrap_or_else(|| shared.lab.source.clone())
}

/// A lab's cluster instance's entry in its file.
fn cluster_source(shared: &SharedLab<'_>, instance: &str) -> Source {
    shared
        .plan
        .clusters
        .iter()
        .find(|cluster| cluster.name == instance)
        .and_then(|planned| {
            shared
                .lab
                .clusters
                .iter()
                .find(|cluster| cluster.name == planned.cluster.as_str())
        })
        .map(|cluster| cluster.source.clone())
        .unwrap_or_else(|| shared.lab.source.clone())
}

/// An address a lab claims, and what claims it (for messages).
struct Claim {
    first: Ipv4Addr,
    last: Ipv4Addr,
    what: String,
}

fn claims(shared: &SharedLab<'_>) -> Vec<Claim> {
    let mut claims = Vec::new();
    for vm in &shared.plan.vms {
        if let Some(address) = vm.nic.address {
            claims.push(Claim {
                first: address,
                last: address,
                what: format!("VM {}", vm.name),
            });
        }
    }
    for cluster in &shared.plan.clusters {
        if cluster.api_vip {
            claims.push(Claim {
                first: cluster.api_address,
                last: cluster.api_address,
                what: format!("the API VIP of cluster {}", cluster.name),
            });
        }
        if let Some(block) = cluster.load_balancer_addresses() {
            claims.push(Claim {
                first: block.first,
                last: block.last,
                what: format!("the load-balancer block of cluster {}", cluster.name),
            });
        }
    }
    claims
}

fn overlaps(left: &Claim, right: &Claim) -> bool {
    left.first <= right.last && right.first <= left.last
}

fn shares_endpoint(left: &LabFile, right: &LabFile) -> bool {
    left.proxmox.iter().any(|endpoint| {
        let url = endpoint.endpoint.trim_end_matches('/').to_ascii_lowercase();
        right
            .proxmox
            .iter()
            .any(|other| other.endpoint.trim_end_matches('/').to_ascii_lowercase() == url)
    })
}

/// What the labs of `labs` would both claim: a scope, a VM ID on one endpoint, a node address,
/// an API VIP or load-balancer addresses. Each clash is reported once, at the later lab's entry
/// (with that lab's index in `labs`), naming the earlier lab's claim.
pub fn clashes(labs: &[SharedLab<'_>]) -> Vec<(usize, Diagnostic)> {
    let mut out = Vec::new();
    for (index, later) in labs.iter().enumerate() {
        let later_claims = claims(later);
        for earlier in &labs[..index] {
            let shared_endpoint = shares_endpoint(earlier.lab, later.lab);
            if shared_endpoint && earlier.lab.scope() == later.lab.scope() {
                let field = if later.lab.scope.is_some() {
                    "scope"
                } else {
                    "lab"
                };
                out.push((
                    index,
                    Diagnostic::error(
                        "shared-scope",
                        &later.lab.source.at(field),
                        format!(
                            "lab `{}` has the scope `{}` of lab `{}`, on the same Proxmox",
                            later.lab.name(),
                            later.lab.scope(),
                            earlier.lab.name()
                        ),
                    )
                    .hint("give each lab file its own `scope:`: labform changes and deletes every VM of its scope"),
                ));
            }
            if shared_endpoint {
                for vm in &later.plan.vms {
                    let Some(url) = endpoint_url(later.lab, vm.endpoint.as_str()) else {
                        continue;
                    };
                    if let Some(other) = earlier.plan.vms.iter().find(|other| {
                        other.vm_id == vm.vm_id
                            && endpoint_url(earlier.lab, other.endpoint.as_str()).as_deref()
                                == Some(url.as_str())
                    }) {
                        out.push((
                            index,
                            Diagnostic::error(
                                "shared-vm-id",
                                &vm_source(later, vm),
                                format!(
                                    "VM {} gets VM ID {}, which VM {} of lab `{}` has",
                                    vm.name,
                                    vm.vm_id,
                                    other.name,
                                    earlier.lab.name()
                                ),
                            )
                            .hint("plan the labs together (`labform validate` with every lab file) or against Proxmox, where IDs in use are avoided"),
                        ));
                    }
                }
            }
            let earlier_claims = claims(earlier);
            for claim in &later_claims {
                let Some(other) = earlier_claims.iter().find(|other| overlaps(claim, other)) else {
                    continue;
                };
                let (code, source) = if let Some(vm) = claim
                    .what
                    .strip_prefix("VM ")
                    .and_then(|name| later.plan.vms.iter().find(|vm| vm.name == name))
                {
                    ("shared-address", vm_source(later, vm))
                } else if let Some(instance) = claim.what.strip_prefix("the API VIP of cluster ") {
                    (
                        "shared-address",
                        cluster_source(later, instance).at("api_vip"),
                    )
                } else {
                    let instance = claim.what.rsplit(' ').next().unwrap_or_default();
                    (
                        "shared-load-balancer-block",
                        cluster_source(later, instance).at("addons.metallb"),
                    )
                };
                let range = |claim: &Claim| {
                    if claim.first == claim.last {
                        claim.first.to_string()
                    } else {
                        format!("{}-{}", claim.first, claim.last)
                    }
                };
                out.push((
                    index,
                    Diagnostic::error(
                        code,
                        &source,
                        format!(
                            "{} ({}) overlaps {} ({}) of lab `{}`",
                            claim.what,
                            range(claim),
                            other.what,
                            range(other),
                            earlier.lab.name()
                        ),
                    )
                    .hint("give each lab its own address pools (`address_pool:`, the add-on's `pool:`) in the networks they share"),
                ));
            }
        }
    }
    out
}
