//! Backup jobs on Proxmox: which vzdump jobs the lab's backup policies make, how they are named
//! and marked, and what must change so that they exist as planned.
//!
//! A cluster's `backups` (vzdump schedule and storage) give one job per cluster instance and
//! endpoint over that instance's VMs; a plain VM's `backups` one job over the VMs of its entry.
//! Each job is a datacenter backup job (`/cluster/backup`) with the ID
//! `labform-<scope>-<cluster|vm>-<name>`, the VM IDs listed (`vmid`), the storage, schedule and
//! mode, and its retention as `prune-backups: keep-last=N`. Its comment starts with the scope's
//! marker `labform:<scope>` (as tenant users' do) followed by `spec:<hash>`, the hash of what
//! labform wrote: a job whose fields differ while its recorded hash is the plan's was changed by
//! hand (drift); a different hash means the lab changed.
//!
//! [`backup_job_changes`] (pure, part of [`crate::reconcile::reconcile`]) compares the plan with
//! the jobs discovery found; jobs of the scope that left the lab are deleted; jobs labform did
//! not make (no marker) are never touched, and one holding a planned ID is a conflict.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use labform_ids::EndpointName;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::inventory::{Inventory, ObservedBackupJob};
use crate::plan::{Plan, PlannedBackupJob};

/// The ID prefix of scope `scope`'s backup jobs.
pub fn backup_job_prefix(scope: &str) -> String {
    format!("labform-{scope}-")
}

/// The ID of scope `scope`'s backup job of cluster instance `instance`.
pub fn cluster_backup_job_id(scope: &str, instance: &str) -> String {
    format!("{}cluster-{instance}", backup_job_prefix(scope))
}

/// The ID of scope `scope`'s backup job of the lab's VM entry `vm`.
pub fn vm_backup_job_id(scope: &str, vm: &str) -> String {
    format!("{}vm-{vm}", backup_job_prefix(scope))
}

/// The first word of the comment of every backup job scope `scope` made.
pub fn backup_job_marker(scope: &str) -> String {
    format!("labform:{scope}")
}

/// The options labform sends for `job` (every one it manages but the comment), as Proxmox
/// stores them.
pub fn managed_options(job: &PlannedBackupJob) -> BTreeMap<String, String> {
    let vm_ids: Vec<String> = job.vm_ids.iter().map(ToString::to_string).collect();
    BTreeMap::from([
        ("schedule".to_owned(), job.schedule.clone()),
        ("storage".to_owned(), job.storage.to_string()),
        ("mode".to_owned(), job.mode.clone()),
        ("vmid".to_owned(), vm_ids.join(",")),
        (
            "prune-backups".to_owned(),
            format!("keep-last={}", job.keep),
        ),
        ("enabled".to_owned(), "1".to_owned()),
    ])
}

/// A short hash of what labform writes for `job`.
pub fn backup_job_spec(job: &PlannedBackupJob) -> String {
    let mut hasher = Sha256::new();
    for (key, value) in managed_options(job) {
        hasher.update(key.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The comment labform gives `job`: the scope's marker, the spec hash, and what it backs up.
pub fn backup_job_comment(scope: &str, job: &PlannedBackupJob) -> String {
    format!(
        "{} spec:{} backups of {}",
        backup_job_marker(scope),
        backup_job_spec(job),
        job.of
    )
}

/// Everything labform sends when it creates `job`.
pub fn create_options(scope: &str, job: &PlannedBackupJob) -> BTreeMap<String, String> {
    let mut options = managed_options(job);
    options.insert("comment".to_owned(), backup_job_comment(scope, job));
    options
}

/// Whether scope `scope` made the observed job: its ID has the scope's prefix and its comment
/// starts with the scope's marker.
pub fn is_ours(scope: &str, job: &ObservedBackupJob) -> bool {
    job.id.starts_with(&backup_job_prefix(scope))
        && job
            .options
            .get("comment")
            .and_then(|comment| comment.split_whitespace().next())
            .is_some_and(|first| first == backup_job_marker(scope))
}

/// The spec hash recorded in an observed job's comment.
fn recorded_spec(job: &ObservedBackupJob) -> Option<&str> {
    job.options
        .get("comment")?
        .split_whitespace()
        .find_map(|word| word.strip_prefix("spec:"))
}

/// One option of a job that differs from the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupJobField {
    /// The option (`schedule`, `vmid`, ...).
    pub field: String,
    /// What the plan wants.
    pub desired: String,
    /// What Proxmox has (`None`: unset).
    pub observed: Option<String>,
}

/// What changes about one backup job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum BackupJobStep {
    /// Create the job with these options (the comment included).
    Create {
        /// Every option sent.
        options: BTreeMap<String, String>,
    },
    /// Set these options (the comment with the new spec hash included).
    Update {
        /// The options sent.
        options: BTreeMap<String, String>,
        /// The managed options that differ.
        fields: Vec<BackupJobField>,
    },
    /// Delete the job (its policy left the lab).
    Delete,
}

impl BackupJobStep {
    /// The journal's kind of this step.
    pub fn kind(&self) -> &'static str {
        match self {
            BackupJobStep::Create { .. } => "create-backup-job",
            BackupJobStep::Update { .. } => "update-backup-job",
            BackupJobStep::Delete => "delete-backup-job",
        }
    }
}

/// A change to one backup job on one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupJobChange {
    /// The lab's endpoint.
    pub endpoint: EndpointName,
    /// The job's ID.
    pub id: String,
    /// Puts back what someone changed on Proxmox (the lab is unchanged since labform wrote the
    /// job); a new, changed or dropped policy is the lab's own change.
    pub drift: bool,
    /// What changes.
    #[serde(flatten)]
    pub step: BackupJobStep,
}

impl fmt::Display for BackupJobChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} on {}", self.step.kind(), self.id, self.endpoint)?;
        if let BackupJobStep::Update { fields, .. } = &self.step {
            let fields: Vec<String> = fields
                .iter()
                .map(|field| {
                    format!(
                        "{}: {} -> {}",
                        field.field,
                        field.observed.as_deref().unwrap_or("(unset)"),
                        field.desired
                    )
                })
                .collect();
            write!(f, " ({})", fields.join("; "))?;
        }
        if self.drift {
            write!(f, " [drift]")?;
        }
        Ok(())
    }
}

/// A planned backup job whose ID a job labform did not make holds: apply leaves it alone and
/// fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupJobConflict {
    /// The lab's endpoint.
    pub endpoint: EndpointName,
    /// The job's ID.
    pub id: String,
    /// The marker of the scope's jobs.
    pub marker: String,
}

impl fmt::Display for BackupJobConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "backup job `{}` on {} exists but was not made by labform (its comment does not start with `{}`); labform will not take it over: delete or rename it",
            self.id, self.endpoint, self.marker
        )
    }
}

/// An option's value normalised for comparison: VM ID lists as sorted sets, property strings
/// (`prune-backups`) with their keys sorted, booleans and numbers as Proxmox's text.
fn normalised(key: &str, value: &str) -> String {
    match key {
        "vmid" => {
            let ids: BTreeSet<u32> = value
                .split([',', ' ', ';'])
                .filter_map(|id| id.trim().parse().ok())
                .collect();
            ids.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }
        "prune-backups" => {
            let parts: BTreeSet<&str> = value.split(',').map(str::trim).collect();
            parts.into_iter().collect::<Vec<_>>().join(",")
        }
        _ => value.trim().to_owned(),
    }
}

/// The observed value of `key`, with Proxmox's default where it leaves one out.
fn observed_value<'a>(job: &'a ObservedBackupJob, key: &str) -> Option<&'a str> {
    job.options.get(key).map(String::as_str).or(match key {
        "mode" => Some("snapshot"),
        "enabled" => Some("1"),
        _ => None,
    })
}

/// Compares the plan's backup jobs with the jobs `inventory` holds for the plan's scope.
pub fn backup_job_changes(
    plan: &Plan,
    inventory: &Inventory,
) -> (Vec<BackupJobChange>, Vec<BackupJobConflict>) {
    let scope = plan.scope.as_str();
    let observed: BTreeMap<(&str, &str), &ObservedBackupJob> = inventory
        .access
        .iter()
        .flat_map(|access| access.backup_jobs.iter())
        .map(|job| ((job.endpoint.as_str(), job.id.as_str()), job))
        .collect();
    let mut changes = Vec::new();
    let mut conflicts = Vec::new();
    let mut planned: BTreeSet<(&str, &str)> = BTreeSet::new();
    for job in &plan.backup_jobs {
        planned.insert((job.endpoint.as_str(), job.id.as_str()));
        let Some(found) = observed.get(&(job.endpoint.as_str(), job.id.as_str())) else {
            changes.push(BackupJobChange {
                endpoint: job.endpoint.clone(),
                id: job.id.clone(),
                drift: false,
                step: BackupJobStep::Create {
                    options: create_options(scope, job),
                },
            });
            continue;
        };
        if !is_ours(scope, found) {
            conflicts.push(BackupJobConflict {
                endpoint: job.endpoint.clone(),
                id: job.id.clone(),
                marker: backup_job_marker(scope),
            });
            continue;
        }
        let wanted = managed_options(job);
        let fields: Vec<BackupJobField> = wanted
            .iter()
            .filter(|(key, value)| {
                observed_value(found, key).map(|observed| normalised(key, observed))
                    != Some(normalised(key, value))
            })
            .map(|(key, value)| BackupJobField {
                field: key.clone(),
                desired: value.clone(),
                observed: observed_value(found, key).map(str::to_owned),
            })
            .collect();
        let spec = backup_job_spec(job);
        let recorded = recorded_spec(found);
        if fields.is_empty() && recorded == Some(spec.as_str()) {
            continue;
        }
        let mut options: BTreeMap<String, String> = fields
            .iter()
            .map(|field| (field.field.clone(), field.desired.clone()))
            .collect();
        options.insert("comment".to_owned(), backup_job_comment(scope, job));
        changes.push(BackupJobChange {
            endpoint: job.endpoint.clone(),
            id: job.id.clone(),
            drift: recorded == Some(spec.as_str()),
            step: BackupJobStep::Update { options, fields },
        });
    }
    changes.extend(backup_job_teardown(inventory, scope, &planned));
    (changes, conflicts)
}

/// Deleting the scope's backup jobs that are not in `planned` (endpoint, ID).
pub fn backup_job_teardown(
    inventory: &Inventory,
    scope: &str,
    planned: &BTreeSet<(&str, &str)>,
) -> Vec<BackupJobChange> {
    inventory
        .access
        .iter()
        .flat_map(|access| access.backup_jobs.iter())
        .filter(|job| is_ours(scope, job))
        .filter(|job| !planned.contains(&(job.endpoint.as_str(), job.id.as_str())))
        .map(|job| BackupJobChange {
            endpoint: job.endpoint.clone(),
            id: job.id.clone(),
            drift: false,
            step: BackupJobStep::Delete,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::ObservedAccess;
    use labform_ids::VmId;

    fn job() -> PlannedBackupJob {
        PlannedBackupJob {
            id: cluster_backup_job_id("lab", "home"),
            endpoint: "pve".into(),
            of: "cluster home".to_owned(),
            schedule: "sat 02:00".to_owned(),
            storage: "local".into(),
            keep: 4,
            mode: "snapshot".to_owned(),
            vm_ids: vec![
                VmId::new(101).unwrap(),
                VmId::new(102).unwrap(),
                VmId::new(103).unwrap(),
            ],
        }
    }

    fn plan(backup_jobs: Vec<PlannedBackupJob>) -> Plan {
        Plan {
            lab: "lab".to_owned(),
            scope: "lab".to_owned(),
            endpoints: vec![],
            images: vec![],
            templates: vec![],
            vms: vec![],
            clusters: vec![],
            tenants: vec![],
            backup_jobs,
            actions: vec![],
            summary: crate::plan::Summary {
                vms: 0,
                clusters: 0,
                templates: 0,
                images: 0,
                cpu: 0,
                memory_mib: 0,
                disk_gib: 0,
            },
        }
    }

    fn observed(id: &str, options: BTreeMap<String, String>) -> Inventory {
        Inventory {
            access: vec![ObservedAccess {
                endpoint: "pve".into(),
                backup_jobs: vec![ObservedBackupJob {
                    endpoint: "pve".into(),
                    id: id.to_owned(),
                    options,
                }],
                ..ObservedAccess::default()
            }],
            ..Inventory::default()
        }
    }

    /// The job as Proxmox lists it after labform made it (numbers and booleans as text, VM IDs
    /// in another order, `prune-backups` as given).
    fn as_made(job: &PlannedBackupJob) -> BTreeMap<String, String> {
        let mut options = create_options("lab", job);
        options.insert("vmid".to_owned(), "103,101,102".to_owned());
        options
    }

    #[test]
    fn a_new_policy_creates_its_job_with_the_scopes_marker() {
        let (changes, conflicts) = backup_job_changes(&plan(vec![job()]), &Inventory::default());
        assert!(conflicts.is_empty());
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].id, "labform-lab-cluster-home");
        let BackupJobStep::Create { options } = &changes[0].step else {
            panic!("{:?}", changes[0]);
        };
        assert_eq!(options["vmid"], "101,102,103");
        assert_eq!(options["prune-backups"], "keep-last=4");
        assert_eq!(options["schedule"], "sat 02:00");
        assert!(options["comment"].starts_with("labform:lab spec:"));
        assert!(!changes[0].drift);
    }

    #[test]
    fn a_job_as_planned_is_left_alone() {
        let job = job();
        let (changes, conflicts) =
            backup_job_changes(&plan(vec![job.clone()]), &observed(&job.id, as_made(&job)));
        assert_eq!((changes, conflicts), (vec![], vec![]));
    }

    #[test]
    fn a_schedule_changed_by_hand_is_drift_and_a_changed_lab_is_not() {
        let job = job();
        let mut options = as_made(&job);
        options.insert("schedule".to_owned(), "daily".to_owned());
        let (changes, _) =
            backup_job_changes(&plan(vec![job.clone()]), &observed(&job.id, options));
        assert_eq!(
            changes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "update-backup-job labform-lab-cluster-home on pve (schedule: daily -> sat 02:00) [drift]"
            ]
        );
        let mut changed = job.clone();
        changed.keep = 7;
        let (changes, _) = backup_job_changes(
            &plan(vec![changed.clone()]),
            &observed(&job.id, as_made(&job)),
        );
        assert_eq!(
            changes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "update-backup-job labform-lab-cluster-home on pve (prune-backups: keep-last=4 -> keep-last=7)"
            ]
        );
        let BackupJobStep::Update { options, .. } = &changes[0].step else {
            panic!()
        };
        assert_eq!(options["comment"], backup_job_comment("lab", &changed));
    }

    #[test]
    fn a_dropped_policy_deletes_the_job_and_others_jobs_are_never_touched() {
        let job = job();
        let (changes, _) = backup_job_changes(&plan(vec![]), &observed(&job.id, as_made(&job)));
        assert_eq!(
            changes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["delete-backup-job labform-lab-cluster-home on pve"]
        );
        // Made by hand under labform's name: a conflict, never changed or deleted.
        let mut by_hand = as_made(&job);
        by_hand.insert("comment".to_owned(), "nightly".to_owned());
        let (changes, conflicts) = backup_job_changes(
            &plan(vec![job.clone()]),
            &observed(&job.id, by_hand.clone()),
        );
        assert!(changes.is_empty());
        assert_eq!(conflicts.len(), 1);
        let (changes, conflicts) = backup_job_changes(&plan(vec![]), &observed(&job.id, by_hand));
        assert_eq!((changes, conflicts), (vec![], vec![]));
        // Another scope's job, even with a prefix this scope's IDs share.
        let mut other = create_options("lab-x", &job);
        other.insert("vmid".to_owned(), "101".to_owned());
        let (changes, _) = backup_job_changes(
            &plan(vec![]),
            &observed("labform-lab-x-cluster-home", other),
        );
        assert!(changes.is_empty());
    }
}
