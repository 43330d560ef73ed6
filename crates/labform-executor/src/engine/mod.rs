//! Apply: carrying out a reconciled plan through the Proxmox API.
//!
//! Every VM is one job ([`jobs`]); jobs run concurrently up to a limit. Work a job depends on is
//! started by the first job that needs it and awaited by the others ([`images`]): an image is
//! downloaded once per storage, a template is made once per image and storage. Clones take a
//! per-storage permit, because parallel clones on one storage are what makes Proxmox time out on
//! its storage lock; errors that Proxmox raises before doing anything (lock timeouts, 595/596) are
//! retried with backoff and jitter, whether they come back from the call or as the task's exit
//! status ([`steps`], whose failures are a typed [`StepError`]).
//!
//! A VM's life cycle (create or clone, configure, grow disks, record the spec, power, delete) is
//! [`vms`]; its NoCloud seed image is [`seeds`]; tenants' pools, users, tokens and ACL entries
//! are [`tenants`]; the lab's vzdump backup jobs, made once the VMs are, are [`backups`].
//!
//! Every Proxmox call a run makes goes through a [`Metered`], and the run's calls and errors by
//! endpoint and method are recorded with it in the journal when it ends.
//!
//! Crash safety comes from Proxmox itself: a VM is created with its ownership block (spec
//! `pending`) in the same call, and gets its final spec hash only once configured. An apply
//! killed at any point leaves VMs the next discovery finds, owns and finishes.

mod backups;
mod images;
mod jobs;
mod seeds;
mod steps;
mod tenants;
mod vms;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use labform_cloudinit::{SeedFiles, SeedSource};
use labform_ids::VmId;
use labform_planner::plan::Plan;
use labform_planner::reconcile::{Reconciliation, VmAction};
use labform_proxmox::ProxmoxApi;
use labform_proxmox::task::WaitOptions;
use labform_secrets::SecretStore;
use tokio::sync::{OnceCell, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::error::ExecuteError;
use crate::events::{Event, EventSink};
use crate::journal::Journal;
use crate::metered::Metered;

use jobs::{Job, Outcome, run_jobs};
pub use seeds::NoSeeds;
use seeds::render_seeds;
pub use steps::StepError;

/// The ownership spec of a VM that exists but is not configured yet.
pub const PENDING_SPEC: &str = "pending";

/// What to do when a change only takes effect at the next boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebootPolicy {
    /// Leave the VM running; report the pending change.
    Never,
    /// Reboot the VM (Proxmox applies pending changes and regenerates the cloud-init drive).
    IfNeeded,
}

/// How to retry errors Proxmox raises before doing anything.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all (1 means no retry).
    pub attempts: u32,
    /// First backoff.
    pub initial: Duration,
    /// Longest backoff.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 8,
            initial: Duration::from_millis(500),
            max: Duration::from_secs(15),
        }
    }
}

/// Knobs of an apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// VM jobs in flight at once.
    pub concurrency: usize,
    /// Clones at once on one storage.
    pub clones_per_storage: usize,
    /// Reboots for changes that wait for the next boot.
    pub reboot: RebootPolicy,
    /// How long to wait for the guest agent to report each new VM's planned address (`None`: do not
    /// wait).
    pub agent_timeout: Option<Duration>,
    /// Task polling.
    pub task_wait: WaitOptions,
    /// Retries.
    pub retry: RetryPolicy,
    /// Cancelled by Ctrl-C: no new job or step starts; running Proxmox tasks are waited for.
    pub cancel: CancellationToken,
    /// Where tenants' token secrets are kept; `None` opens labform's default secret store
    /// ([`SecretStore::open_default`]) when a tenant step needs it.
    pub secrets: Option<Arc<SecretStore>>,
    /// The revision of the lab being applied (a Git commit), recorded with the run.
    pub revision: Option<String>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            concurrency: 16,
            clones_per_storage: 4,
            reboot: RebootPolicy::Never,
            agent_timeout: Some(Duration::from_secs(600)),
            task_wait: WaitOptions::default(),
            retry: RetryPolicy::default(),
            cancel: CancellationToken::new(),
            secrets: None,
            revision: None,
        }
    }
}

/// A Proxmox endpoint of the lab and the API to reach it.
#[derive(Clone)]
pub struct Endpoint {
    /// The lab's name for it.
    pub name: String,
    /// Where it is, as people read it in messages: its API address, or the built-in simulator.
    pub address: String,
    /// The API.
    pub api: Arc<dyn ProxmoxApi>,
}

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// VMs and templates created.
    pub created: Vec<String>,
    /// VMs changed in place.
    pub updated: Vec<String>,
    /// VMs replaced.
    pub replaced: Vec<String>,
    /// VMs and templates deleted.
    pub deleted: Vec<String>,
    /// VMs started because they were stopped.
    pub started: Vec<String>,
    /// Backup job changes made, as `<kind> <id>` (`create-backup-job labform-lab-cluster-home`).
    pub backup_jobs: Vec<String>,
    /// Jobs that failed, with the reason.
    pub failed: Vec<String>,
    /// VMs whose changes wait for a reboot.
    pub pending_reboot: Vec<String>,
    /// Whether Ctrl-C stopped the run early.
    pub interrupted: bool,
}

/// The shared state of one run.
struct Run {
    plan: Plan,
    endpoints: HashMap<String, Arc<dyn ProxmoxApi>>,
    options: ApplyOptions,
    journal: Arc<Journal>,
    events: Arc<dyn EventSink>,
    run: i64,
    sequence: AtomicI64,
    images: Vec<OnceCell<Result<(), StepError>>>,
    templates: Vec<OnceCell<Result<(), StepError>>>,
    /// Templates that exist but were never converted (a run stopped in between).
    unconverted: Vec<bool>,
    storage_permits: Mutex<HashMap<String, Arc<Semaphore>>>,
    pending_reboot: Mutex<Vec<String>>,
    jitter: AtomicUsize,
    /// Seed files of the VMs whose seed image this run may upload, by plan index, rendered before
    /// any job starts (an error is the job's failure).
    seeds: HashMap<usize, Result<SeedFiles, StepError>>,
}

/// Carries out `reconciliation` of `plan` on `endpoints`; the seed images of cloud-init VMs it
/// creates or whose seed changes are made from `seeds`.
pub async fn apply(
    plan: &Plan,
    reconciliation: &Reconciliation,
    endpoints: &[Endpoint],
    seeds: &dyn SeedSource,
    options: ApplyOptions,
    journal: Arc<Journal>,
    events: Arc<dyn EventSink>,
) -> Result<ApplyReport, ExecuteError> {
    let unread = reconciliation
        .changes
        .iter()
        .filter(|change| matches!(change.action, VmAction::Outdated { .. }))
        .count();
    if unread > 0 {
        return Err(ExecuteError::NotRead { count: unread });
    }
    if !reconciliation.conflicts.is_empty() {
        let details: Vec<String> = reconciliation
            .conflicts
            .iter()
            .map(|conflict| {
                format!(
                    "  VM ID {} on {} (planned for `{}`) is held by {}",
                    conflict.vm_id, conflict.endpoint, conflict.planned, conflict.holder
                )
            })
            .collect();
        return Err(ExecuteError::Conflicts {
            count: details.len(),
            details: details.join("\n"),
        });
    }
    let started = Instant::now();
    let run_id =
        journal.begin_from(&plan.lab, &plan.scope, "apply", options.revision.as_deref())?;
    // Every call the run makes is counted, and recorded with the run when it ends.
    let meters: Vec<(String, Arc<Metered>)> = endpoints
        .iter()
        .map(|endpoint| {
            let meter = Arc::new(Metered::new(Arc::clone(&endpoint.api)));
            (endpoint.name.clone(), meter)
        })
        .collect();
    let record_calls = |journal: &Journal| {
        for (endpoint, meter) in &meters {
            journal.record_calls(run_id, endpoint, &meter.by_call())?;
        }
        Ok::<(), ExecuteError>(())
    };
    let run = Arc::new(Run {
        plan: plan.clone(),
        endpoints: meters
            .iter()
            .map(|(name, meter)| (name.clone(), Arc::clone(meter) as Arc<dyn ProxmoxApi>))
            .collect(),
        images: plan.images.iter().map(|_| OnceCell::new()).collect(),
        templates: plan.templates.iter().map(|_| OnceCell::new()).collect(),
        unconverted: plan
            .templates
            .iter()
            .map(|template| {
                reconciliation.changes.iter().any(|change| {
                    change.template
                        && change.name == template.name
                        && matches!(change.action, VmAction::Update { .. })
                })
            })
            .collect(),
        options,
        journal,
        events,
        run: run_id,
        sequence: AtomicI64::new(0),
        storage_permits: Mutex::new(HashMap::new()),
        pending_reboot: Mutex::new(Vec::new()),
        jitter: AtomicUsize::new(0x9e37_79b9),
        seeds: render_seeds(plan, reconciliation, seeds),
    });
    // Templates that exist as planned are ready; missing ones are made on demand.
    let mut template_deletions = Vec::new();
    for change in reconciliation
        .changes
        .iter()
        .filter(|change| change.template)
    {
        match &change.action {
            VmAction::Unchanged => {
                if let Some(index) = run.template_index(&change.endpoint, change.vm_id) {
                    let _ = run.templates[index].set(Ok(()));
                }
            }
            VmAction::Replace { reason } => {
                if let Some(index) = run.template_index(&change.endpoint, change.vm_id) {
                    let _ = run.templates[index].set(Err(StepError::Refused(format!(
                        "template `{}` must be replaced ({reason}); delete the VMs cloned from it first",
                        change.name
                    ))));
                }
            }
            VmAction::Delete { protected } => {
                template_deletions.push(Job::Delete(change.clone(), *protected))
            }
            VmAction::Create
            | VmAction::Update { .. }
            | VmAction::Start
            | VmAction::Outdated { .. } => {}
        }
    }
    let mut jobs = Vec::new();
    for change in reconciliation
        .changes
        .iter()
        .filter(|change| !change.template)
    {
        let index = run
            .plan
            .vms
            .iter()
            .position(|vm| vm.name == change.name && vm.endpoint == change.endpoint);
        let job = match (&change.action, index) {
            (VmAction::Create, Some(index)) => Job::Create(index),
            (VmAction::Update { changes }, Some(index)) => Job::Update(index, changes.clone()),
            (VmAction::Replace { .. }, Some(index)) => Job::Replace(index),
            (VmAction::Start, Some(index)) => Job::Start(index),
            (VmAction::Delete { protected }, _) => Job::Delete(change.clone(), *protected),
            _ => continue,
        };
        jobs.push(job);
    }
    let deletes = jobs
        .iter()
        .chain(&template_deletions)
        .any(|job| matches!(job, Job::Delete(..) | Job::Replace(_)));
    // Resource pools (the endpoint's, and each tenant's) must exist before VMs are put in them.
    if let Err(reason) = run.create_pools(reconciliation).await {
        record_calls(&run.journal)?;
        run.journal.end(run_id, "failed")?;
        return Err(ExecuteError::Failed(vec![reason.to_string()]));
    }
    // Tenants' users, tokens and ACL entries (a failure there does not stop the VMs).
    let tenant_failures = run.converge_tenants(reconciliation).await;
    let total = jobs.len() + template_deletions.len();
    run.events.emit(Event::RunStarted {
        run: run_id,
        jobs: total,
    });
    let mut report = ApplyReport {
        failed: tenant_failures,
        ..ApplyReport::default()
    };
    let done = Arc::new(AtomicUsize::new(0));
    let outcomes = run_jobs(&run, jobs, total, &done).await;
    // Templates go last: their linked clones must be gone first.
    let template_outcomes = run_jobs(&run, template_deletions, total, &done).await;
    for (job, outcome) in outcomes.into_iter().chain(template_outcomes) {
        let name = run.job_name(&job);
        match outcome {
            Outcome::Done => match job {
                Job::Create(_) => report.created.push(name),
                Job::Update(..) => report.updated.push(name),
                Job::Replace(_) => report.replaced.push(name),
                Job::Start(_) => report.started.push(name),
                Job::Delete(..) => report.deleted.push(name),
            },
            Outcome::Failed(reason) => report.failed.push(format!("{name}: {reason}")),
            Outcome::Skipped => report.interrupted = true,
        }
    }
    // Backup jobs list VM IDs: after the VMs (a VM that failed is listed all the same).
    if !run.options.cancel.is_cancelled() {
        let (done, failures) = run.converge_backup_jobs(reconciliation).await;
        report.backup_jobs = done
            .into_iter()
            .map(|change| format!("{} {}", change.step.kind(), change.id))
            .collect();
        report.failed.extend(failures);
    }
    for (index, cell) in run.templates.iter().enumerate() {
        if let Some(Ok(())) = cell.get()
            && reconciliation.changes.iter().any(|change| {
                change.template
                    && change.action == VmAction::Create
                    && change.name == run.plan.templates[index].name
            })
        {
            report.created.push(run.plan.templates[index].name.clone());
        }
    }
    if deletes && !run.options.cancel.is_cancelled() {
        // Seeds whose VM is gone (a run stopped between deleting a VM and its seeds).
        let mut names: Vec<&String> = run.endpoints.keys().collect();
        names.sort();
        for name in names {
            if let Err(reason) = run.sweep_seeds(name).await {
                report
                    .failed
                    .push(format!("seed images on `{name}`: {reason}"));
            }
        }
    }
    report.pending_reboot = run
        .pending_reboot
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    let outcome = if report.interrupted {
        "interrupted"
    } else if report.failed.is_empty() {
        "ok"
    } else {
        "failed"
    };
    record_calls(&run.journal)?;
    run.journal.end(run_id, outcome)?;
    run.events.emit(Event::RunFinished {
        outcome: outcome.to_owned(),
        seconds: started.elapsed().as_secs_f64(),
        created: report.created.len(),
        updated: report.updated.len(),
        replaced: report.replaced.len(),
        deleted: report.deleted.len(),
        failed: report.failed.len(),
        pending_reboot: report.pending_reboot.clone(),
    });
    Ok(report)
}

impl Run {
    /// The API of the lab's endpoint `endpoint`.
    fn api(&self, endpoint: &str) -> Arc<dyn ProxmoxApi> {
        Arc::clone(
            self.endpoints
                .get(endpoint)
                .expect("every planned endpoint has an API"),
        )
    }

    /// The plan's template with VM ID `vm_id` on `endpoint`.
    fn template_index(&self, endpoint: &str, vm_id: VmId) -> Option<usize> {
        self.plan
            .templates
            .iter()
            .position(|template| template.endpoint == endpoint && template.vm_id == vm_id)
    }
}
