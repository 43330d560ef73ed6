//! What exists of the lab, as the diagrams colour it: each VM's status from a reconciliation
//! (`labform plan --live`'s changes), and the status of a group of things as its worst member's.

use std::collections::BTreeMap;

use labform_planner::plan::{EndpointName, Plan, VmId};
use labform_planner::reconcile::{Reconciliation, VmAction};

/// What exists of one thing, from best to worst (the order a group's status is taken by).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Exists as planned.
    Exists,
    /// Exists as planned but is not running.
    Stopped,
    /// Exists; the lab changed it (an update or a replacement is pending).
    Changed,
    /// Does not exist yet.
    Missing,
    /// Exists; someone changed it by hand.
    Drifted,
    /// Owned by the lab but no longer in it (apply deletes it).
    Extra,
    /// Its VM ID is held by a VM the lab does not own.
    Conflict,
}

impl Status {
    /// Every status, in order.
    pub const ALL: [Status; 7] = [
        Status::Exists,
        Status::Stopped,
        Status::Changed,
        Status::Missing,
        Status::Drifted,
        Status::Extra,
        Status::Conflict,
    ];

    /// Its name (a CSS class, a legend entry).
    pub fn name(self) -> &'static str {
        match self {
            Status::Exists => "exists",
            Status::Stopped => "stopped",
            Status::Changed => "changed",
            Status::Missing => "missing",
            Status::Drifted => "drifted",
            Status::Extra => "extra",
            Status::Conflict => "conflict",
        }
    }

    /// Its fill colour.
    pub fn fill(self) -> &'static str {
        match self {
            Status::Exists => "#c8e6c9",
            Status::Stopped => "#bbdefb",
            Status::Changed => "#fff9c4",
            Status::Missing => "#eeeeee",
            Status::Drifted => "#ffcc80",
            Status::Extra => "#e1bee7",
            Status::Conflict => "#ef9a9a",
        }
    }

    /// Its border colour.
    pub fn stroke(self) -> &'static str {
        match self {
            Status::Exists => "#2e7d32",
            Status::Stopped => "#1565c0",
            Status::Changed => "#f9a825",
            Status::Missing => "#757575",
            Status::Drifted => "#e65100",
            Status::Extra => "#6a1b9a",
            Status::Conflict => "#c62828",
        }
    }
}

/// How many things of a group are in each status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCounts(BTreeMap<Status, usize>);

impl StatusCounts {
    /// Counts one more thing in `status`.
    pub fn add(&mut self, status: Status) {
        *self.0.entry(status).or_default() += 1;
    }

    /// How many things were counted in `status`.
    pub fn count(&self, status: Status) -> usize {
        self.0.get(&status).copied().unwrap_or(0)
    }

    /// The worst status counted, if any.
    pub fn worst(&self) -> Option<Status> {
        self.0.keys().next_back().copied()
    }

    /// `3 exists, 1 drifted`, in status order; empty when nothing was counted.
    pub fn summary(&self) -> String {
        self.0
            .iter()
            .map(|(status, count)| format!("{count} {}", status.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// An owned VM that exists but is no longer in the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraVm {
    /// Its name.
    pub name: String,
    /// Its VM ID.
    pub vm_id: VmId,
    /// Its endpoint.
    pub endpoint: EndpointName,
    /// Its node.
    pub node: String,
}

/// What exists of a planned lab: each VM's status, owned VMs no longer in it, and the tenants
/// with pending or drifted access changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Live {
    vms: BTreeMap<(EndpointName, VmId), Status>,
    extra: Vec<ExtraVm>,
    tenants: BTreeMap<String, Status>,
}

impl Live {
    /// The live state from `reconciliation` (the plan's changes against what exists).
    pub fn from_reconciliation(plan: &Plan, reconciliation: &Reconciliation) -> Self {
        let mut live = Live::default();
        for change in &reconciliation.changes {
            let key = (change.endpoint.clone(), change.vm_id);
            let status = match &change.action {
                VmAction::Create => Status::Missing,
                VmAction::Unchanged => Status::Exists,
                VmAction::Start => Status::Stopped,
                VmAction::Update { changes } if changes.iter().any(|field| field.drift) => {
                    Status::Drifted
                }
                VmAction::Update { .. } | VmAction::Replace { .. } | VmAction::Outdated { .. } => {
                    Status::Changed
                }
                VmAction::Delete { .. } => {
                    live.extra.push(ExtraVm {
                        name: change.name.clone(),
                        vm_id: change.vm_id,
                        endpoint: change.endpoint.clone(),
                        node: change.node.to_string(),
                    });
                    continue;
                }
            };
            live.vms.insert(key, status);
        }
        for conflict in &reconciliation.conflicts {
            live.vms.insert(
                (conflict.endpoint.clone(), conflict.vm_id),
                Status::Conflict,
            );
        }
        for tenant in &plan.tenants {
            let user = tenant
                .api_token
                .split('!')
                .next()
                .unwrap_or(&tenant.api_token)
                .to_string();
            let mut status = Status::Exists;
            for change in &reconciliation.tenants {
                let target = change.step.target();
                if target.contains(&user) || target == tenant.pool.to_string() {
                    let this = if change.drift {
                        Status::Drifted
                    } else if change.step.kind() == "create-tenant-user" {
                        Status::Missing
                    } else {
                        Status::Changed
                    };
                    status = status.max(this);
                }
            }
            if reconciliation
                .tenant_conflicts
                .iter()
                .any(|conflict| conflict.tenant == tenant.name)
            {
                status = Status::Conflict;
            }
            live.tenants.insert(tenant.name.clone(), status);
        }
        live
    }

    /// The status of the planned VM or template `vm_id` on `endpoint`.
    pub fn vm(&self, endpoint: &EndpointName, vm_id: VmId) -> Status {
        self.vms
            .get(&(endpoint.clone(), vm_id))
            .copied()
            .unwrap_or(Status::Missing)
    }

    /// How many of the lab's VMs and templates, and of the owned VMs no longer in it, are in
    /// each status (the dashboard's metrics).
    pub fn vm_counts(&self, plan: &Plan) -> StatusCounts {
        let mut counts = StatusCounts::default();
        for vm in &plan.vms {
            counts.add(self.vm(&vm.endpoint, vm.vm_id));
        }
        for template in &plan.templates {
            counts.add(self.vm(&template.endpoint, template.vm_id));
        }
        for _ in &self.extra {
            counts.add(Status::Extra);
        }
        counts
    }

    /// Owned VMs that are no longer in the lab.
    pub fn extra(&self) -> &[ExtraVm] {
        &self.extra
    }

    /// The status of the tenant `name`'s Proxmox access.
    pub fn tenant(&self, name: &str) -> Status {
        self.tenants.get(name).copied().unwrap_or(Status::Missing)
    }
}
