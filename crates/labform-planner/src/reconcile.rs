//! Reconciliation: the plan against what exists, as the list of changes to make.
//!
//! Only VMs whose ownership block names the lab's scope are ever changed or deleted. A VM is
//! matched to its planned counterpart by VM ID and allocation key; the node it runs on is
//! placement, not identity (an HA migration is not a change). Each differing field says whether
//! it is drift (the lab is unchanged since labform last wrote the VM, so someone changed Proxmox)
//! and whether it applies live or at the next boot. A VM whose config was not read (a plan that
//! trusts the spec hash its tags record, `plan --no-refresh`) is compared by that hash only:
//! unchanged, or [`VmAction::Outdated`].
//!
//! Pools, tenants' users, API tokens and ACL entries are changes too ([`crate::tenancy`]), shown
//! and applied like the VMs' (deletions included), with the token secrets labform's store holds
//! as an input ([`TokenSecrets`]). So are the lab's vzdump backup jobs ([`crate::backups`]).

use labform_ids::{EndpointName, NodeName};
use std::collections::{BTreeMap, BTreeSet};

use labform_ids::VmId;
use serde::Serialize;

use crate::allocate::AllocationKey;
use crate::backups::{BackupJobChange, BackupJobConflict, backup_job_changes, backup_job_teardown};
use crate::desired::{CREATE_KEYS, MANAGED_KEYS, desired_config};
use crate::inventory::{Inventory, ObservedVm};
use crate::ownership::is_spec_tag;
use crate::plan::{Plan, PlannedTemplate, PlannedVm};
use crate::tenancy::{TenantChange, TenantConflict, TokenSecrets, tenant_changes, tenant_teardown};
use labform_proxmox_vocabulary::propstring::lenient_options;

/// When a changed field takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// At once, on a running VM.
    Live,
    /// At the next boot (Proxmox keeps it pending, or cloud-init applies it on boot).
    NextBoot,
}

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// The Proxmox config key (`memory`, `net0`, `scsi1`...).
    pub field: String,
    /// What Proxmox has.
    pub observed: Option<String>,
    /// What the lab wants.
    pub desired: Option<String>,
    /// Changed on Proxmox by someone else since labform last wrote this VM.
    pub drift: bool,
    /// When it takes effect.
    pub effect: Effect,
}

/// What happens to one VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum VmAction {
    /// Does not exist: create it.
    Create,
    /// Exists as planned.
    Unchanged,
    /// Exists; change these fields in place.
    Update {
        /// The fields.
        changes: Vec<FieldChange>,
    },
    /// Exists but cannot become what the lab wants in place.
    Replace {
        /// Why.
        reason: String,
    },
    /// Exists as planned but is not running: start it.
    Start,
    /// Exists, and the lab's spec hash for it differs from the one its tags record; its config
    /// was not read (`plan --no-refresh`), so which fields change, or whether it must be
    /// replaced, is decided by a plan that reads it. Never carried out: apply plans with every
    /// config read.
    Outdated {
        /// The spec hash the VM records.
        recorded_spec: String,
        /// The spec hash the lab wants.
        planned_spec: String,
    },
    /// Owned but no longer in the lab.
    Delete {
        /// Proxmox protection is on: deletion is refused until it is turned off.
        protected: bool,
    },
}

/// A change to one VM or template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VmChange {
    /// Name.
    pub name: String,
    /// VM ID.
    pub vm_id: VmId,
    /// Endpoint.
    pub endpoint: EndpointName,
    /// Node: where it is now, or where it will be created.
    pub node: NodeName,
    /// Whether it is a template.
    pub template: bool,
    /// What happens.
    pub action: VmAction,
}

/// A VM ID the plan wants that a VM not owned by this lab holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// Endpoint.
    pub endpoint: EndpointName,
    /// The VM ID.
    pub vm_id: VmId,
    /// The planned VM.
    pub planned: String,
    /// The VM that holds the ID, and who owns it.
    pub holder: String,
}

/// The outcome of reconciliation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// Templates, then VMs in plan order, then deletions.
    pub changes: Vec<VmChange>,
    /// VM IDs held by others: apply must stop before creating anything.
    pub conflicts: Vec<Conflict>,
    /// Pools, tenants' users, tokens and ACL entries, in the order apply carries them out.
    pub tenants: Vec<TenantChange>,
    /// Tenants that cannot be brought to the plan (apply leaves them alone and fails).
    pub tenant_conflicts: Vec<TenantConflict>,
    /// Backup jobs to create, update or delete, endpoint by endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backup_jobs: Vec<BackupJobChange>,
    /// Planned backup jobs whose ID a job labform did not make holds (apply leaves it alone and
    /// fails).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backup_job_conflicts: Vec<BackupJobConflict>,
}

impl Reconciliation {
    /// Whether nothing needs doing.
    pub fn is_empty(&self) -> bool {
        self.conflicts.is_empty()
            && self.tenants.is_empty()
            && self.tenant_conflicts.is_empty()
            && self.backup_jobs.is_empty()
            && self.backup_job_conflicts.is_empty()
            && self
                .changes
                .iter()
                .all(|change| change.action == VmAction::Unchanged)
    }

    /// Whether any change is drift.
    pub fn has_drift(&self) -> bool {
        self.changes.iter().any(|change| match &change.action {
            VmAction::Update { changes } => changes.iter().any(|field| field.drift),
            _ => false,
        }) || self.tenants.iter().any(|change| change.drift)
            || self.backup_jobs.iter().any(|change| change.drift)
    }
}

/// Compares `plan` with `inventory` for the plan's scope; `secrets` says which tenants' token
/// secrets labform's store holds (a token without one is made anew).
pub fn reconcile(plan: &Plan, inventory: &Inventory, secrets: &TokenSecrets) -> Reconciliation {
    let scope = plan.scope.as_str();
    let by_id: BTreeMap<(&str, u32), &ObservedVm> = inventory
        .vms
        .iter()
        .map(|vm| ((vm.endpoint.as_str(), vm.vm_id.get()), vm))
        .collect();
    let mut result = Reconciliation::default();
    let mut matched: BTreeSet<(EndpointName, u32)> = BTreeSet::new();

    for template in &plan.templates {
        let observed = by_id
            .get(&(template.endpoint.as_str(), template.vm_id.get()))
            .copied();
        let action = match observed {
            None => VmAction::Create,
            Some(vm) if !is_same(vm, scope, &template.key) => {
                result.conflicts.push(conflict(
                    &template.endpoint,
                    template.vm_id,
                    &template.name,
                    vm,
                ));
                continue;
            }
            Some(vm) => {
                matched.insert((vm.endpoint.clone(), vm.vm_id.get()));
                template_action(template, vm)
            }
        };
        result.changes.push(VmChange {
            name: template.name.clone(),
            vm_id: template.vm_id,
            endpoint: template.endpoint.clone(),
            node: observed
                .map(|vm| vm.node.clone())
                .unwrap_or_else(|| template.node.clone()),
            template: true,
            action,
        });
    }

    for vm in &plan.vms {
        let key = AllocationKey::vm(&vm.name);
        let observed = by_id.get(&(vm.endpoint.as_str(), vm.vm_id.get())).copied();
        let action = match observed {
            None => VmAction::Create,
            Some(found) if !is_same(found, scope, &key) => {
                result
                    .conflicts
                    .push(conflict(&vm.endpoint, vm.vm_id, &vm.name, found));
                continue;
            }
            Some(found) => {
                matched.insert((found.endpoint.clone(), found.vm_id.get()));
                match vm_action(vm, found) {
                    VmAction::Unchanged if !found.running => VmAction::Start,
                    action => action,
                }
            }
        };
        result.changes.push(VmChange {
            name: vm.name.clone(),
            vm_id: vm.vm_id,
            endpoint: vm.endpoint.clone(),
            node: observed
                .map(|found| found.node.clone())
                .unwrap_or_else(|| vm.node.clone()),
            template: false,
            action,
        });
    }

    // Owned, not planned: delete. VMs before the templates they may be cloned from.
    let mut deletions: Vec<&ObservedVm> = inventory
        .owned(scope)
        .filter(|vm| !matched.contains(&(vm.endpoint.clone(), vm.vm_id.get())))
        .collect();
    deletions.sort_by_key(|vm| (vm.template, vm.vm_id));
    result.changes.extend(deletions.into_iter().map(deletion));
    let (tenants, tenant_conflicts) = tenant_changes(plan, inventory, secrets);
    result.tenants = tenants;
    result.tenant_conflicts = tenant_conflicts;
    let (backup_jobs, backup_job_conflicts) = backup_job_changes(plan, inventory);
    result.backup_jobs = backup_jobs;
    result.backup_job_conflicts = backup_job_conflicts;
    result
}

/// Deleting `vm`, marked protected when Proxmox protection is on.
fn deletion(vm: &ObservedVm) -> VmChange {
    VmChange {
        name: vm.name.clone(),
        vm_id: vm.vm_id,
        endpoint: vm.endpoint.clone(),
        node: vm.node.clone(),
        template: vm.template,
        action: VmAction::Delete {
            protected: vm.protected(),
        },
    }
}

fn is_same(observed: &ObservedVm, scope: &str, key: &AllocationKey) -> bool {
    observed
        .owner
        .as_ref()
        .is_some_and(|owner| owner.scope == scope && &owner.key == key)
}

fn conflict(endpoint: &str, vm_id: VmId, planned: &str, holder: &ObservedVm) -> Conflict {
    let owner = match &holder.owner {
        Some(owner) => format!("owned by scope `{}` as `{}`", owner.scope, owner.key),
        None => "not owned by labform".to_owned(),
    };
    Conflict {
        endpoint: endpoint.to_owned().into(),
        vm_id,
        planned: planned.to_owned(),
        holder: format!("`{}` on {} ({owner})", holder.name, holder.node),
    }
}

fn template_action(template: &PlannedTemplate, observed: &ObservedVm) -> VmAction {
    let recorded = observed
        .owner
        .as_ref()
        .map(|owner| owner.spec.as_str())
        .unwrap_or("");
    if !observed.template && recorded == template.spec {
        // Created, but the run that created it stopped before converting it: finish the job.
        return VmAction::Update {
            changes: vec![FieldChange {
                field: "template".to_owned(),
                observed: Some("0".to_owned()),
                desired: Some("1".to_owned()),
                drift: false,
                effect: Effect::Live,
            }],
        };
    }
    if !observed.template {
        return VmAction::Replace {
            reason: "the VM is no longer a template".to_owned(),
        };
    }
    if recorded != template.spec {
        return VmAction::Replace {
            reason: format!(
                "the image of `{}` changed (URL or checksum)",
                template.image
            ),
        };
    }
    VmAction::Unchanged
}

fn vm_action(vm: &PlannedVm, observed: &ObservedVm) -> VmAction {
    let owner = observed.owner.as_ref().expect("matched VMs are owned");
    if !observed.config_read {
        // Trusting the recorded spec: the hash covers every managed key, the disks and the image.
        return if owner.spec == vm.spec {
            VmAction::Unchanged
        } else {
            VmAction::Outdated {
                recorded_spec: owner.spec.clone(),
                planned_spec: vm.spec.clone(),
            }
        };
    }
    if owner.image.as_deref() != vm.image.as_deref() {
        return VmAction::Replace {
            reason: format!(
                "its image changes from {} to {}",
                owner.image.as_deref().unwrap_or("none"),
                vm.image.as_deref().unwrap_or("none")
            ),
        };
    }
    // Lab unchanged since labform last wrote this VM: every difference is someone else's.
    let drift = owner.spec == vm.spec;
    let mut changes = Vec::new();
    let desired = desired_config(vm);
    for key in MANAGED_KEYS {
        if *key == "ide2" && vm.cloud_init.is_none() {
            // The CD-ROM of other VMs (an installer ISO) is set at creation and left alone.
            continue;
        }
        if CREATE_KEYS.contains(key) && !desired.contains_key(key) {
            // Set at creation where the plan says; left alone where it says nothing.
            continue;
        }
        let want = desired.get(key).cloned().or_else(|| default_for(key));
        let have = observed
            .pending
            .get(*key)
            .or_else(|| observed.config.get(*key))
            .cloned();
        if !same_value(key, want.as_deref(), have.as_deref()) {
            changes.push(FieldChange {
                field: (*key).to_owned(),
                observed: have,
                desired: want,
                drift,
                effect: effect_of(key),
            });
        }
    }
    for disk in &vm.disks {
        match observed
            .disks
            .iter()
            .find(|candidate| candidate.slot == disk.slot)
        {
            None => changes.push(FieldChange {
                field: disk.slot.clone(),
                observed: None,
                desired: Some(format!("{}:{}G", disk.storage, disk.size_gib)),
                drift,
                effect: Effect::Live,
            }),
            Some(found) if found.storage != disk.storage => {
                return VmAction::Replace {
                    reason: format!(
                        "disk {} moves from storage {} to {}",
                        disk.slot, found.storage, disk.storage
                    ),
                };
            }
            Some(found) if found.size_gib > disk.size_gib => {
                return VmAction::Replace {
                    reason: format!(
                        "disk {} would shrink from {}G to {}G, which Proxmox cannot do",
                        disk.slot, found.size_gib, disk.size_gib
                    ),
                };
            }
            Some(found) if found.size_gib < disk.size_gib => changes.push(FieldChange {
                field: disk.slot.clone(),
                observed: Some(format!("{}:{}G", found.storage, found.size_gib)),
                desired: Some(format!("{}:{}G", disk.storage, disk.size_gib)),
                drift,
                effect: Effect::Live,
            }),
            Some(_) => {}
        }
    }
    if let Some(extra) = observed
        .disks
        .iter()
        .find(|found| !vm.disks.iter().any(|disk| disk.slot == found.slot))
    {
        // labform never deletes a disk in place: data on it would be lost without a word.
        return VmAction::Replace {
            reason: format!("disk {} is no longer in the lab", extra.slot),
        };
    }
    if changes.is_empty() && !drift {
        // Everything matches but the recorded spec: an apply stopped before recording it (or the
        // lab changed only in ways that need no config change). Record it.
        changes.push(FieldChange {
            field: "spec".to_owned(),
            observed: Some(owner.spec.clone()),
            desired: Some(vm.spec.clone()),
            drift: false,
            effect: Effect::Live,
        });
    }
    if changes.is_empty() {
        VmAction::Unchanged
    } else {
        VmAction::Update { changes }
    }
}

fn default_for(key: &str) -> Option<String> {
    match key {
        "protection" => Some("0".to_owned()),
        _ => None,
    }
}

fn effect_of(key: &str) -> Effect {
    match key {
        "cores" | "memory" | "ipconfig0" | "nameserver" | "searchdomain" | "ciuser" | "sshkeys"
        | "ide2" | "agent" | "ostype" | "scsihw" | "boot" | "ciupgrade" => Effect::NextBoot,
        _ => Effect::Live,
    }
}

/// Compares two values of `key` the way Proxmox means them.
fn same_value(key: &str, desired: Option<&str>, observed: Option<&str>) -> bool {
    let observed = match (key, observed) {
        ("protection", None) => Some("0"),
        _ => observed,
    };
    let (Some(desired), Some(observed)) = (desired, observed) else {
        return desired.is_none() && observed.is_none();
    };
    match key {
        "net0" => {
            // The model option (`virtio=MAC`), bridge, tag and mtu are labform's; others are Proxmox defaults.
            let managed = ["virtio", "bridge", "tag", "mtu"];
            let want = lenient_options(desired);
            let have = lenient_options(observed);
            managed.iter().all(|option| {
                want.get(*option).map(|value| value.to_ascii_uppercase())
                    == have.get(*option).map(|value| value.to_ascii_uppercase())
            })
        }
        "ipconfig0" => lenient_options(desired) == lenient_options(observed),
        "tags" => {
            // The spec tag is labform's record of the spec hash, written with the ownership
            // block when apply seals the VM: never a difference of its own.
            let split = |text: &str| -> BTreeSet<String> {
                text.split([';', ',', ' '])
                    .filter(|tag| !tag.is_empty() && !is_spec_tag(tag))
                    .map(str::to_ascii_lowercase)
                    .collect()
            };
            split(desired) == split(observed)
        }
        "sshkeys" => {
            let lines = |text: &str| -> BTreeSet<String> {
                text.lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .map(str::to_owned)
                    .collect()
            };
            lines(desired) == lines(observed)
        }
        "nameserver" => desired.split_whitespace().eq(observed.split_whitespace()),
        // The volume is labform's; Proxmox may add options such as `size`.
        "ide2" => {
            desired.split(',').next() == observed.split(',').next()
                && lenient_options(observed).contains_key("media")
        }
        _ => desired.trim() == observed.trim(),
    }
}

/// Deleting everything `scope` owns in `inventory`: VMs first, then the templates they were
/// cloned from, the scope's tenant users with their tokens and ACL entries, and its backup jobs. Protected VMs are
/// marked (the executor refuses them), and templates of the same image on the same endpoint are
/// kept, because those VMs may be linked clones of them.
pub fn teardown(inventory: &Inventory, scope: &str) -> Reconciliation {
    let kept_images: BTreeSet<(EndpointName, Option<String>)> = inventory
        .owned(scope)
        .filter(|vm| !vm.template && vm.protected())
        .map(|vm| {
            (
                vm.endpoint.clone(),
                vm.owner.as_ref().and_then(|owner| owner.image.clone()),
            )
        })
        .collect();
    let mut changes: Vec<VmChange> = inventory
        .owned(scope)
        .filter(|vm| {
            !(vm.template
                && kept_images.contains(&(
                    vm.endpoint.clone(),
                    vm.owner.as_ref().and_then(|owner| owner.image.clone()),
                )))
        })
        .map(deletion)
        .collect();
    changes.sort_by_key(|change| (change.template, change.vm_id));
    Reconciliation {
        changes,
        conflicts: Vec::new(),
        tenants: tenant_teardown(inventory, scope),
        tenant_conflicts: Vec::new(),
        backup_jobs: backup_job_teardown(inventory, scope, &BTreeSet::new()),
        backup_job_conflicts: Vec::new(),
    }
}
