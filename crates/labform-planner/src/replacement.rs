//! Node replacement (`labform replace FILE VM`), decided without I/O: which steps throw one VM
//! away and bring it back with the same identity, and whether it may be replaced at all.
//!
//! A VM of a cluster is cordoned, drained (evictions honour PodDisruptionBudgets), taken out
//! of its cluster by its distribution (etcd membership, Node object), deleted, created again
//! from the plan (same VM ID, MAC, address and host keys: the plan and labform's secret store
//! hold them, never the old VM), rejoined by its distribution, waited for until Ready and
//! uncordoned. A VM in no cluster (or with the cluster steps skipped) is deleted and created
//! again. The executor carries out exactly these steps, recording each one done, so a killed
//! replacement is finished by the next `replace` or `apply` ([`Replacement::remaining`]).
//!
//! Refusals come before any step: a VM the lab does not have (with the closest name), a
//! protected VM, a control plane whose removal would leave etcd without its quorum, the
//! SQLite datastore's only server, and a first server that the distribution would initialise
//! a new cluster on ([`DistributionPlan::recreated_first_server_joins`]).
//!
//! [`DistributionPlan::recreated_first_server_joins`]: crate::distribution::DistributionPlan::recreated_first_server_joins

use std::fmt;
use std::net::Ipv4Addr;

use labform_ids::{EndpointName, NodeName, VmId};
use labform_model::diagnostic::did_you_mean;
use serde::Serialize;

use crate::distribution::distribution_plan;
use crate::plan::{Distribution, NodeRole, Plan, PlannedCluster, PlannedDatastore, PlannedVm};

/// What a step of a replacement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplacementStepKind {
    /// Mark the node unschedulable.
    Cordon,
    /// Evict its pods.
    Drain,
    /// Take it out of its cluster (etcd membership, Node object).
    LeaveCluster,
    /// Delete the VM and its seed image.
    DeleteVm,
    /// Create the VM again from the plan and wait for its guest agent.
    CreateVm,
    /// Let the distribution converge the cluster, which joins the new node.
    Rejoin,
    /// Wait until the node is Ready.
    WaitReady,
    /// Make the node schedulable.
    Uncordon,
}

impl ReplacementStepKind {
    /// Every kind, in the order a replacement carries them out.
    pub const ALL: [ReplacementStepKind; 8] = [
        ReplacementStepKind::Cordon,
        ReplacementStepKind::Drain,
        ReplacementStepKind::LeaveCluster,
        ReplacementStepKind::DeleteVm,
        ReplacementStepKind::CreateVm,
        ReplacementStepKind::Rejoin,
        ReplacementStepKind::WaitReady,
        ReplacementStepKind::Uncordon,
    ];

    /// The kind's name, as the journal records it (`leave-cluster`).
    pub fn name(self) -> &'static str {
        match self {
            ReplacementStepKind::Cordon => "cordon",
            ReplacementStepKind::Drain => "drain",
            ReplacementStepKind::LeaveCluster => "leave-cluster",
            ReplacementStepKind::DeleteVm => "delete-vm",
            ReplacementStepKind::CreateVm => "create-vm",
            ReplacementStepKind::Rejoin => "rejoin",
            ReplacementStepKind::WaitReady => "wait-ready",
            ReplacementStepKind::Uncordon => "uncordon",
        }
    }

    /// The kind named `name` ([`ReplacementStepKind::name`]).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// One step of a replacement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplacementStep {
    /// What it does.
    pub kind: ReplacementStepKind,
    /// What it does, as the plan shows it.
    pub action: String,
}

/// The cluster a replaced VM is a node of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplacedNode {
    /// The cluster instance.
    pub cluster: String,
    /// Its distribution.
    pub distribution: Distribution,
    /// The node's role.
    pub role: NodeRole,
}

/// The replacement of one VM, step by step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replacement {
    /// The VM (and Kubernetes node) name.
    pub vm: String,
    /// Its VM ID, kept.
    pub vm_id: VmId,
    /// Its endpoint.
    pub endpoint: EndpointName,
    /// The Proxmox node it is planned on.
    pub node: NodeName,
    /// Its MAC address, kept.
    pub mac: String,
    /// Its address, kept (absent with DHCP).
    pub address: Option<Ipv4Addr>,
    /// The cluster it is a node of, when the cluster steps are carried out.
    pub cluster: Option<ReplacedNode>,
    /// The steps, in order.
    pub steps: Vec<ReplacementStep>,
    /// What the plan wants the user to know (steps skipped, health not checked).
    pub notes: Vec<String>,
}

impl Replacement {
    /// The steps not yet done: those whose kind is not in `done`, in order.
    pub fn remaining(&self, done: &[ReplacementStepKind]) -> Vec<&ReplacementStep> {
        self.steps
            .iter()
            .filter(|step| !done.contains(&step.kind))
            .collect()
    }

    /// The replacement as text: a heading, then the steps not in `done`, numbered as in the
    /// whole replacement, then the notes.
    pub fn render(&self, done: &[ReplacementStepKind]) -> String {
        let mut text = String::new();
        let what = match &self.cluster {
            Some(node) => format!(
                ", {} of {} cluster `{}`",
                role_words(node.role),
                distribution_words(node.distribution),
                node.cluster
            ),
            None => String::new(),
        };
        if done.is_empty() {
            text.push_str(&format!(
                "Replace {} (VM {} on {}){what}:\n",
                self.vm, self.vm_id, self.endpoint
            ));
        } else {
            text.push_str(&format!(
                "Finish replacing {} (VM {} on {}){what}: {} of {} steps were done before it stopped:\n",
                self.vm,
                self.vm_id,
                self.endpoint,
                self.steps.len() - self.remaining(done).len(),
                self.steps.len()
            ));
        }
        for (number, step) in self.steps.iter().enumerate() {
            if done.contains(&step.kind) {
                continue;
            }
            text.push_str(&format!("  {:>2}. {}\n", number + 1, step.action));
        }
        for note in &self.notes {
            text.push_str(&format!("  note: {note}\n"));
        }
        text
    }
}

/// What the executor found out before planning a replacement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplacementFacts {
    /// Whether the cluster steps (cordon, drain, leave, rejoin, Ready, uncordon) are carried
    /// out; without them the VM is only deleted and created again.
    pub cluster_steps: bool,
    /// The cluster's nodes the Kubernetes API reports not Ready (or missing), when it was
    /// asked; `None` when it was not (then every other control plane counts as healthy).
    pub not_ready: Option<Vec<String>>,
    /// Whether etcd's quorum is checked: not when finishing a replacement whose node has
    /// already left its cluster (going on can only bring the member back).
    pub check_quorum: bool,
}

/// Why a VM is not replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplacementRefusal {
    /// The lab has no VM of that name.
    UnknownVm {
        /// The name asked for.
        vm: String,
        /// The closest name the lab has.
        suggestion: Option<String>,
        /// The lab's VMs.
        vms: Vec<String>,
    },
    /// The lab marks the VM protected.
    Protected {
        /// The VM.
        vm: String,
    },
    /// Removing the node would leave etcd without its quorum.
    Quorum {
        /// The VM.
        vm: String,
        /// Its cluster.
        cluster: String,
        /// etcd members (the cluster's control planes).
        members: usize,
        /// Healthy members left while it is replaced.
        left: usize,
        /// Members a quorum needs.
        needed: usize,
        /// The other control planes that are not Ready.
        not_ready: Vec<String>,
    },
    /// The VM is the only server and holds the cluster's SQLite datastore.
    SqliteServer {
        /// The VM.
        vm: String,
        /// Its cluster.
        cluster: String,
    },
    /// The VM is the first server, and a new one would initialise a new cluster.
    FirstServer {
        /// The VM.
        vm: String,
        /// Its cluster.
        cluster: String,
        /// The cluster's distribution.
        distribution: Distribution,
    },
}

impl ReplacementRefusal {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            ReplacementRefusal::UnknownVm {
                suggestion: Some(suggestion),
                ..
            } => format!("did you mean `{suggestion}`?"),
            ReplacementRefusal::UnknownVm { vms, .. } => {
                format!("the lab's VMs: {}", vms.join(", "))
            }
            ReplacementRefusal::Protected { .. } => {
                "remove `protected: true` from the VM in the lab file to replace it".to_owned()
            }
            ReplacementRefusal::Quorum { .. } => {
                "bring the other control planes back to Ready first, or add control planes to the cluster".to_owned()
            }
            ReplacementRefusal::SqliteServer { .. } => {
                "move the cluster to embedded etcd or an external datastore before replacing its server".to_owned()
            }
            ReplacementRefusal::FirstServer { .. } => {
                "replace the other servers and the agents; the first server keeps the cluster's initialisation".to_owned()
            }
        }
    }
}

impl fmt::Display for ReplacementRefusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplacementRefusal::UnknownVm { vm, .. } => {
                write!(formatter, "the lab has no VM `{vm}`")
            }
            ReplacementRefusal::Protected { vm } => write!(
                formatter,
                "{vm} is protected (`protected: true` in the lab); it is never deleted, so it is not replaced"
            ),
            ReplacementRefusal::Quorum {
                vm,
                cluster,
                members,
                left,
                needed,
                not_ready,
            } => {
                write!(
                    formatter,
                    "replacing {vm} would leave {left} of {members} etcd members of cluster `{cluster}`; quorum needs {needed}"
                )?;
                if !not_ready.is_empty() {
                    write!(formatter, " (not Ready: {})", not_ready.join(", "))?;
                }
                Ok(())
            }
            ReplacementRefusal::SqliteServer { vm, cluster } => write!(
                formatter,
                "{vm} holds the SQLite datastore of cluster `{cluster}`; replacing it would lose the cluster's state"
            ),
            ReplacementRefusal::FirstServer {
                vm,
                cluster,
                distribution,
            } => write!(
                formatter,
                "{vm} is the first server of cluster `{cluster}`: a recreated first server would initialise a new {} cluster instead of joining this one, so replacing it is not automated yet",
                distribution_words(*distribution)
            ),
        }
    }
}

impl std::error::Error for ReplacementRefusal {}

/// The VM named `name` in `plan`, or the refusal naming the closest one.
pub fn find_vm<'a>(plan: &'a Plan, name: &str) -> Result<&'a PlannedVm, ReplacementRefusal> {
    plan.vms.iter().find(|vm| vm.name == name).ok_or_else(|| {
        let names: Vec<&str> = plan.vms.iter().map(|vm| vm.name.as_str()).collect();
        ReplacementRefusal::UnknownVm {
            vm: name.to_owned(),
            suggestion: did_you_mean(name, names.iter().copied()).map(str::to_owned),
            vms: names.iter().map(|name| (*name).to_owned()).collect(),
        }
    })
}

/// The cluster `vm` is a node of, with its role, when the plan bootstraps that cluster.
pub fn cluster_of<'a>(plan: &'a Plan, vm: &str) -> Option<(&'a PlannedCluster, NodeRole)> {
    plan.clusters.iter().find_map(|cluster| {
        cluster
            .nodes
            .iter()
            .find(|node| node.vm == vm)
            .map(|node| (cluster, node.role))
    })
}

/// Plans the replacement of VM `name` of `plan`, or says why it is refused.
pub fn plan_replacement(
    plan: &Plan,
    name: &str,
    facts: &ReplacementFacts,
) -> Result<Replacement, ReplacementRefusal> {
    let vm = find_vm(plan, name)?;
    if vm.protected {
        return Err(ReplacementRefusal::Protected {
            vm: vm.name.clone(),
        });
    }
    let membership = cluster_of(plan, &vm.name);
    if let Some((cluster, role)) = membership {
        check_cluster(cluster, &vm.name, role, facts)?;
    }
    let mut notes = Vec::new();
    let mut steps = Vec::new();
    let mut step = |kind: ReplacementStepKind, action: String| {
        steps.push(ReplacementStep { kind, action });
    };
    let automated = membership.filter(|(cluster, _)| cluster.bootstrap_supported);
    let cluster_steps = automated.filter(|_| facts.cluster_steps);
    if let Some((cluster, role)) = membership {
        if !cluster.bootstrap_supported {
            notes.push(format!(
                "labform does not bootstrap {} clusters yet: the node is not cordoned, drained or rejoined",
                distribution_words(cluster.distribution)
            ));
        } else if !facts.cluster_steps {
            notes.push(
                "cluster steps skipped (`--skip-clusters`, or a target whose VMs do not boot): the node is not cordoned, drained, taken out of its cluster or rejoined; the next `labform apply` converges the cluster".to_owned(),
            );
        } else if facts.not_ready.is_none() && role.is_server() {
            notes.push(
                "etcd's quorum was judged from the plan: the other control planes' readiness was not asked".to_owned(),
            );
        }
    }
    if let Some((cluster, role)) = cluster_steps {
        let node = &vm.name;
        step(
            ReplacementStepKind::Cordon,
            format!("cordon node {node}: no new pods are scheduled on it"),
        );
        step(
            ReplacementStepKind::Drain,
            format!(
                "drain {node}: evict its pods through the Eviction API, honouring PodDisruptionBudgets (DaemonSet and mirror pods stay)"
            ),
        );
        step(
            ReplacementStepKind::LeaveCluster,
            distribution_plan(cluster.distribution).leave_step(node, role.is_server()),
        );
    }
    step(
        ReplacementStepKind::DeleteVm,
        format!(
            "delete VM {} ({}) on {} with its seed image",
            vm.name, vm.vm_id, vm.endpoint
        ),
    );
    let address = match vm.nic.address {
        Some(address) => format!("address {address}/{}", vm.nic.prefix),
        None => "its address by DHCP".to_owned(),
    };
    let keys = if vm.cloud_init.is_some() {
        ", the same SSH host keys (labform's secret store)"
    } else {
        ""
    };
    let wait = match vm.nic.address {
        Some(address) => format!("; wait until its guest agent reports {address}"),
        None => String::new(),
    };
    step(
        ReplacementStepKind::CreateVm,
        format!(
            "create VM {} again on {}/{}: VM ID {}, MAC {}, {address}{keys}; start it{wait}",
            vm.name, vm.endpoint, vm.node, vm.vm_id, vm.nic.mac
        ),
    );
    if let Some((cluster, role)) = cluster_steps {
        let node = &vm.name;
        step(
            ReplacementStepKind::Rejoin,
            format!(
                "converge cluster `{}` with {}: {node} is installed and joins as {}",
                cluster.name,
                distribution_words(cluster.distribution),
                role_words(role)
            ),
        );
        step(
            ReplacementStepKind::WaitReady,
            format!("wait until node {node} is Ready"),
        );
        step(
            ReplacementStepKind::Uncordon,
            format!("uncordon {node}: pods may be scheduled on it again"),
        );
    }
    Ok(Replacement {
        vm: vm.name.clone(),
        vm_id: vm.vm_id,
        endpoint: vm.endpoint.clone(),
        node: vm.node.clone(),
        mac: vm.nic.mac.clone(),
        address: vm.nic.address,
        cluster: cluster_steps.map(|(cluster, role)| ReplacedNode {
            cluster: cluster.name.clone(),
            distribution: cluster.distribution,
            role,
        }),
        steps,
        notes,
    })
}

/// The refusals that depend on the node's cluster: etcd's quorum, the SQLite server, a first
/// server that would not rejoin.
fn check_cluster(
    cluster: &PlannedCluster,
    vm: &str,
    role: NodeRole,
    facts: &ReplacementFacts,
) -> Result<(), ReplacementRefusal> {
    if !role.is_server() {
        return Ok(());
    }
    match cluster.state {
        PlannedDatastore::Sqlite => {
            return Err(ReplacementRefusal::SqliteServer {
                vm: vm.to_owned(),
                cluster: cluster.name.clone(),
            });
        }
        PlannedDatastore::External { .. } => return Ok(()),
        PlannedDatastore::EmbeddedEtcd => {}
    }
    if facts.check_quorum {
        let members: Vec<&str> = cluster
            .nodes
            .iter()
            .filter(|node| node.role.is_server())
            .map(|node| node.vm.as_str())
            .collect();
        let not_ready: Vec<String> = members
            .iter()
            .filter(|member| **member != vm)
            .filter(|member| {
                facts
                    .not_ready
                    .as_ref()
                    .is_some_and(|not_ready| not_ready.iter().any(|name| name == *member))
            })
            .map(|member| (*member).to_owned())
            .collect();
        let left = members.len() - 1 - not_ready.len();
        let needed = members.len() / 2 + 1;
        if left < needed {
            return Err(ReplacementRefusal::Quorum {
                vm: vm.to_owned(),
                cluster: cluster.name.clone(),
                members: members.len(),
                left,
                needed,
                not_ready,
            });
        }
    }
    if role == NodeRole::FirstServer
        && !distribution_plan(cluster.distribution).recreated_first_server_joins()
    {
        return Err(ReplacementRefusal::FirstServer {
            vm: vm.to_owned(),
            cluster: cluster.name.clone(),
            distribution: cluster.distribution,
        });
    }
    Ok(())
}

/// A distribution as people write it.
fn distribution_words(distribution: Distribution) -> &'static str {
    match distribution {
        Distribution::K3s => "K3s",
        Distribution::Kubeadm => "kubeadm",
        Distribution::Talos => "Talos",
    }
}

/// A node's role as people say it.
fn role_words(role: NodeRole) -> &'static str {
    match role {
        NodeRole::FirstServer => "the first server",
        NodeRole::JoiningServer => "a server",
        NodeRole::Agent => "an agent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(name: &str) -> Plan {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(name);
        let files = labform_model::RealFileSystem;
        let loaded = labform_model::load(&files, &path);
        let lab = loaded.lab.expect("the example loads");
        crate::plan(&lab, &crate::Allocations::empty())
            .plan
            .expect("the example plans")
    }

    fn facts(not_ready: Option<&[&str]>) -> ReplacementFacts {
        ReplacementFacts {
            cluster_steps: true,
            not_ready: not_ready.map(|names| names.iter().map(|name| (*name).to_owned()).collect()),
            check_quorum: true,
        }
    }

    #[test]
    fn an_agent_is_cordoned_drained_left_recreated_rejoined_and_uncordoned() {
        let plan = seed("seed-001.yaml");
        let agent = &plan.clusters[0].agents[0];
        let replacement = plan_replacement(&plan, agent, &facts(Some(&[]))).unwrap();
        let kinds: Vec<ReplacementStepKind> =
            replacement.steps.iter().map(|step| step.kind).collect();
        assert_eq!(kinds, ReplacementStepKind::ALL);
        let vm = plan.vms.iter().find(|vm| &vm.name == agent).unwrap();
        let create = &replacement.steps[4].action;
        assert!(create.contains(&vm.nic.mac), "{create}");
        assert!(create.contains(&vm.vm_id.to_string()), "{create}");
        // Resuming after the VM was deleted leaves the rest.
        let done = [
            ReplacementStepKind::Cordon,
            ReplacementStepKind::Drain,
            ReplacementStepKind::LeaveCluster,
            ReplacementStepKind::DeleteVm,
        ];
        let rest: Vec<ReplacementStepKind> = replacement
            .remaining(&done)
            .iter()
            .map(|step| step.kind)
            .collect();
        assert_eq!(rest, &ReplacementStepKind::ALL[4..]);
    }

    #[test]
    fn a_joining_server_keeps_quorum_unless_another_is_down() {
        let plan = seed("seed-001.yaml");
        let servers = &plan.clusters[0].servers;
        assert_eq!(servers.len(), 3);
        plan_replacement(&plan, &servers[1], &facts(Some(&[]))).unwrap();
        plan_replacement(&plan, &servers[1], &facts(None)).unwrap();
        let refusal =
            plan_replacement(&plan, &servers[1], &facts(Some(&[servers[2].as_str()]))).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            format!(
                "replacing {} would leave 1 of 3 etcd members of cluster `{}`; quorum needs 2 (not Ready: {})",
                servers[1], plan.clusters[0].name, servers[2]
            )
        );
        // Finishing a replacement whose node already left is never refused for quorum.
        let finishing = ReplacementFacts {
            check_quorum: false,
            ..facts(Some(&[servers[2].as_str()]))
        };
        plan_replacement(&plan, &servers[1], &finishing).unwrap();
    }

    #[test]
    fn the_first_server_of_k3s_is_refused_and_a_vm_in_no_cluster_is_recreated() {
        let plan = seed("seed-001.yaml");
        let first = &plan.clusters[0].servers[0];
        let refusal = plan_replacement(&plan, first, &facts(Some(&[]))).unwrap_err();
        assert!(
            matches!(refusal, ReplacementRefusal::FirstServer { .. }),
            "{refusal}"
        );
        // seed 002's arbiter VMs are protected; seed 003's DNS VM is in no cluster.
        let plan = seed("seed-002.yaml");
        let protected = plan
            .vms
            .iter()
            .find(|vm| cluster_of(&plan, &vm.name).is_none() && vm.protected)
            .expect("seed 002 has a protected VM in no cluster");
        let refusal = plan_replacement(&plan, &protected.name, &facts(None)).unwrap_err();
        assert!(
            matches!(refusal, ReplacementRefusal::Protected { .. }),
            "{refusal}"
        );
        let plan = seed("seed-003.yaml");
        let plain = plan
            .vms
            .iter()
            .find(|vm| cluster_of(&plan, &vm.name).is_none() && !vm.protected)
            .expect("seed 003 has a VM in no cluster");
        let replacement = plan_replacement(&plan, &plain.name, &facts(None)).unwrap();
        let kinds: Vec<ReplacementStepKind> =
            replacement.steps.iter().map(|step| step.kind).collect();
        assert_eq!(
            kinds,
            [ReplacementStepKind::DeleteVm, ReplacementStepKind::CreateVm]
        );
        assert_eq!(replacement.cluster, None);
    }

    #[test]
    fn unknown_vms_get_the_closest_name() {
        let plan = seed("seed-001.yaml");
        let agent = plan.clusters[0].agents[0].clone();
        let typo = format!("{agent}x");
        let refusal = plan_replacement(&plan, &typo, &facts(None)).unwrap_err();
        assert_eq!(refusal.hint(), format!("did you mean `{agent}`?"));
    }

    #[test]
    fn step_names_round_trip() {
        for kind in ReplacementStepKind::ALL {
            assert_eq!(ReplacementStepKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(ReplacementStepKind::parse("reboot"), None);
    }
}
