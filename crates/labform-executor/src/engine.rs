//! Apply: carrying out a reconciled plan through the Proxmox API.
//!
//! Every VM is one job; jobs run concurrently up to a limit. Work a job depends on is started by
//! the first job that needs it and awaited by the others: an image is downloaded once per storage,
//! a template is made once per image and storage. Clones take a per-storage permit, because
//! parallel clones on one storage are what makes Proxmox time out on its storage lock; errors that
//! Proxmox raises before doing anything (lock timeouts, 595/596) are retried with backoff and
//! jitter, whether they come back from the call or as the task's exit status.
//!
//! Cloud-init VMs boot from a NoCloud seed image labform writes ([`labform_cloudinit::seed_iso`]):
//! it is uploaded to the planned `iso` storage before the VM is configured, attached as `ide2`, and
//! when the seed changes the new one is uploaded, attached, and the old one deleted. Seeds are
//! found by name (`labform-<scope>-<vmid>-<hash>.iso`), so deleting a VM deletes its seeds, and a
//! run that deleted VMs also deletes seeds whose VM is gone. The images hold the VMs' private host
//! keys: they are rendered in memory, never logged, and zeroed after the upload.
//!
//! Crash safety comes from Proxmox itself: a VM is created with its ownership block (spec
//! `pending`) in the same call, and gets its final spec hash only once configured. An apply
//! killed at any point leaves VMs the next discovery finds, owns and finishes.

use std::collections::HashMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use labform_cloudinit::{SeedFiles, SeedSource, seed_iso};
use labform_ids::{NodeName, StorageName, VmId};
use labform_planner::desired::{desired_config, seed_drive, seed_file_prefix};
use labform_planner::ownership::Owner;
use labform_planner::plan::{Plan, PlannedImage, PlannedTemplate, PlannedVm};
use labform_planner::reconcile::{Effect, Reconciliation, VmAction, VmChange};
use labform_planner::tenancy::{TENANT_TOKEN_NAME, tenant_marker, tenant_of_user};
use labform_proxmox::error::is_lock_timeout_text;
use labform_proxmox::task::{WaitOptions, wait_for_task};
use labform_proxmox::types::{
    AclUpdate, CloneVm, ConfigUpdate, CreateToken, CreateUser, CreateVm, DeleteVm, DownloadUrl,
    ResizeDisk, Upload, VmAction as Power, encode_sshkeys,
};
use labform_proxmox::{ProxmoxApi, Upid};
use labform_secrets::{SecretStore, SecretString};
use tokio::sync::{OnceCell, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::discover::size_in_gib;
use crate::error::{ExecuteError, chain};
use crate::events::{Event, EventSink};
use crate::journal::Journal;
use crate::tenants::{TenantStep, WantedTenant, tenant_steps, token_store_key, wanted_tenants};

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

/// What apply does with tenants' Proxmox users, API tokens and ACL entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TenantPolicy {
    /// Every tenant of the plan gets its user, token and pool ACL entries; the scope's tenant
    /// users that are not in the plan lose theirs.
    #[default]
    Converge,
    /// Every tenant user of the scope loses its ACL entries, tokens and user (destroy).
    RemoveAll,
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
    /// Tenants' users, tokens and ACL entries.
    pub tenants: TenantPolicy,
    /// Where tenants' token secrets are kept; `None` opens labform's default secret store
    /// ([`SecretStore::open_default`]) when a tenant step needs it.
    pub secrets: Option<Arc<SecretStore>>,
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
            tenants: TenantPolicy::Converge,
            secrets: None,
        }
    }
}

/// A Proxmox endpoint of the lab and the API to reach it.
#[derive(Clone)]
pub struct Endpoint {
    /// The lab's name for it.
    pub name: String,
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
    images: Vec<OnceCell<Result<(), String>>>,
    templates: Vec<OnceCell<Result<(), String>>>,
    /// Templates that exist but were never converted (a run stopped in between).
    unconverted: Vec<bool>,
    storage_permits: Mutex<HashMap<String, Arc<Semaphore>>>,
    pending_reboot: Mutex<Vec<String>>,
    jitter: AtomicUsize,
    /// Seed files of the VMs whose seed image this run may upload, by plan index, rendered before
    /// any job starts (an error is the job's failure).
    seeds: HashMap<usize, Result<SeedFiles, String>>,
}

/// The work of one job.
#[derive(Debug, Clone)]
enum Job {
    Create(usize),
    Update(usize, Vec<labform_planner::reconcile::FieldChange>),
    Replace(usize),
    Start(usize),
    Delete(VmChange, bool),
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
    let run_id = journal.begin(&plan.lab, &plan.scope, "apply")?;
    let run = Arc::new(Run {
        plan: plan.clone(),
        endpoints: endpoints
            .iter()
            .map(|endpoint| (endpoint.name.clone(), Arc::clone(&endpoint.api)))
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
                    let _ = run.templates[index].set(Err(format!(
                        "template `{}` must be replaced ({reason}); delete the VMs cloned from it first",
                        change.name
                    )));
                }
            }
            VmAction::Delete { protected } => {
                template_deletions.push(Job::Delete(change.clone(), *protected))
            }
            VmAction::Create | VmAction::Update { .. } | VmAction::Start => {}
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
    let mut pools: Vec<(String, String)> = jobs
        .iter()
        .filter_map(|job| match job {
            Job::Create(index) | Job::Replace(index) => {
                let vm = &run.plan.vms[*index];
                vm.pool.clone().map(|pool| (vm.endpoint.clone(), pool))
            }
            _ => None,
        })
        .collect();
    pools.sort();
    pools.dedup();
    if let Err(reason) = run.ensure_pools(&pools).await {
        run.journal.end(run_id, "failed")?;
        return Err(ExecuteError::Failed(vec![reason]));
    }
    // Tenants' users, tokens and ACL entries (a failure there does not stop the VMs).
    let tenant_failures = run.ensure_tenants().await;
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

/// Renders the seed files of every VM that gets a new seed image: created, replaced, or updated
/// with a changed `ide2`. Errors keep only the message, which carries no secret.
fn render_seeds(
    plan: &Plan,
    reconciliation: &Reconciliation,
    seeds: &dyn SeedSource,
) -> HashMap<usize, Result<SeedFiles, String>> {
    let mut rendered = HashMap::new();
    for change in reconciliation
        .changes
        .iter()
        .filter(|change| !change.template)
    {
        let needs_seed = match &change.action {
            VmAction::Create | VmAction::Replace { .. } => true,
            VmAction::Update { changes } => changes.iter().any(|field| field.field == "ide2"),
            VmAction::Unchanged | VmAction::Start | VmAction::Delete { .. } => false,
        };
        let Some(index) = plan
            .vms
            .iter()
            .position(|vm| vm.name == change.name && vm.endpoint == change.endpoint)
        else {
            continue;
        };
        let vm = &plan.vms[index];
        if needs_seed && vm.seed.is_some() {
            let files = seeds
                .seed_files(vm)
                .map_err(|error| format!("cannot render the seed image: {}", chain(&error)));
            rendered.insert(index, files);
        }
    }
    rendered
}

#[derive(Debug)]
enum Outcome {
    Done,
    Failed(String),
    Skipped,
}

async fn run_jobs(
    run: &Arc<Run>,
    jobs: Vec<Job>,
    total: usize,
    done: &Arc<AtomicUsize>,
) -> Vec<(Job, Outcome)> {
    let limit = Arc::new(Semaphore::new(run.options.concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (position, job) in jobs.into_iter().enumerate() {
        let run = Arc::clone(run);
        let limit = Arc::clone(&limit);
        let done = Arc::clone(done);
        set.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("never closed");
            if run.options.cancel.is_cancelled() {
                return (position, job, Outcome::Skipped);
            }
            let outcome = match run.job(&job).await {
                Ok(()) => Outcome::Done,
                Err(reason) if run.options.cancel.is_cancelled() && reason == CANCELLED => {
                    Outcome::Skipped
                }
                Err(reason) => Outcome::Failed(reason),
            };
            let finished = done.fetch_add(1, Ordering::SeqCst) + 1;
            run.events.emit(Event::JobFinished {
                name: run.job_name(&job),
                done: finished,
                total,
            });
            (position, job, outcome)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = set.join_next().await {
        results.push(joined.expect("jobs do not panic"));
    }
    results.sort_by_key(|(position, ..)| *position);
    results
        .into_iter()
        .map(|(_, job, outcome)| (job, outcome))
        .collect()
}

const CANCELLED: &str = "cancelled before it started";

impl Run {
    fn api(&self, endpoint: &str) -> Arc<dyn ProxmoxApi> {
        Arc::clone(
            self.endpoints
                .get(endpoint)
                .expect("every planned endpoint has an API"),
        )
    }

    fn template_index(&self, endpoint: &str, vm_id: VmId) -> Option<usize> {
        self.plan
            .templates
            .iter()
            .position(|template| template.endpoint == endpoint && template.vm_id == vm_id)
    }

    /// Creates the pools in `pools` (endpoint, pool) that do not exist yet.
    async fn ensure_pools(&self, pools: &[(String, String)]) -> Result<(), String> {
        for endpoint in pools
            .iter()
            .map(|(endpoint, _)| endpoint)
            .collect::<std::collections::BTreeSet<_>>()
        {
            let api = self.api(endpoint);
            let existing: Vec<String> = self
                .retry_call("list pools", || api.pools())
                .await
                .map_err(|error| chain(&error))?
                .into_iter()
                .map(|pool| pool.poolid)
                .collect();
            for (_, pool) in pools
                .iter()
                .filter(|(owner, pool)| owner == endpoint && !existing.contains(pool))
            {
                let comment = format!("labform: lab {}, scope {}", self.plan.lab, self.plan.scope);
                self.step("create-pool", pool, api.as_ref(), || async {
                    api.create_pool(pool, Some(&comment)).await.map(|()| None)
                })
                .await?;
            }
        }
        Ok(())
    }

    /// Brings every endpoint's tenant users, API tokens and ACL entries to the plan (or removes
    /// them all, for destroy); the failures, one per endpoint.
    async fn ensure_tenants(&self) -> Vec<String> {
        let wanted = match self.options.tenants {
            TenantPolicy::Converge => wanted_tenants(&self.plan),
            TenantPolicy::RemoveAll => Vec::new(),
        };
        let mut names: Vec<&String> = self.endpoints.keys().collect();
        names.sort();
        let mut failures = Vec::new();
        for endpoint in names {
            let here: Vec<WantedTenant> = wanted
                .iter()
                .filter(|want| &want.endpoint == endpoint)
                .cloned()
                .collect();
            if let Err(reason) = self.ensure_tenants_on(endpoint, &here).await {
                failures.push(format!("tenants on `{endpoint}`: {reason}"));
            }
        }
        failures
    }

    /// [`Run::ensure_tenants`] on one endpoint: reads its users (with their tokens) and its ACL,
    /// then carries out [`tenant_steps`]. Nothing is read from the secret store, and nothing
    /// written, unless the endpoint has tenants to keep or remove.
    async fn ensure_tenants_on(
        &self,
        endpoint: &str,
        wanted: &[WantedTenant],
    ) -> Result<(), String> {
        let api = self.api(endpoint);
        let scope = &self.plan.scope;
        let users = self
            .retry_call("list users", || api.users())
            .await
            .map_err(|error| chain(&error))?;
        let ours = users
            .iter()
            .any(|user| tenant_of_user(scope, &user.userid, user.comment.as_deref()).is_some());
        if wanted.is_empty() && !ours {
            return Ok(());
        }
        let acl = self
            .retry_call("list ACL entries", || api.acl())
            .await
            .map_err(|error| chain(&error))?;
        let store = match &self.options.secrets {
            Some(store) => Arc::clone(store),
            None => Arc::new(SecretStore::open_default().map_err(|error| {
                format!("cannot open labform's secret store: {}", chain(&error))
            })?),
        };
        let mut stored = std::collections::BTreeSet::new();
        for want in wanted {
            let key = token_store_key(scope, endpoint, &want.tenant)
                .map_err(|error| error.to_string())?;
            if store
                .get(&key)
                .map_err(|error| format!("cannot read the secret store: {}", chain(&error)))?
                .is_some()
            {
                stored.insert(want.tenant.clone());
            }
        }
        let (steps, errors) = tenant_steps(scope, wanted, &users, &acl, &|tenant| {
            stored.contains(tenant)
        });
        for step in &steps {
            self.tenant_step(endpoint, api.as_ref(), &store, step)
                .await?;
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "))
        }
    }

    /// Carries out one [`TenantStep`] as a journaled step. A new token's secret goes straight to
    /// the secret store; it is never put in an event, the journal or an error.
    async fn tenant_step(
        &self,
        endpoint: &str,
        api: &dyn ProxmoxApi,
        store: &SecretStore,
        step: &TenantStep,
    ) -> Result<(), String> {
        let kind = step.kind();
        let target = step.target();
        let scope = &self.plan.scope;
        match step {
            TenantStep::CreateUser { userid, comment } => {
                let request = CreateUser {
                    userid: userid.clone(),
                    password: None,
                    comment: Some(comment.clone()),
                };
                self.step(kind, &target, api, || async {
                    api.create_user(&request).await.map(|()| None)
                })
                .await
            }
            TenantStep::CreateToken { tenant, userid } => {
                let key =
                    token_store_key(scope, endpoint, tenant).map_err(|error| error.to_string())?;
                let request = CreateToken {
                    privsep: Some(true),
                    expire: None,
                    comment: Some(format!("{} tenant {tenant}", tenant_marker(scope))),
                };
                let created = Mutex::new(None);
                self.step(kind, &target, api, || async {
                    let token = api
                        .create_token(userid, TENANT_TOKEN_NAME, &request)
                        .await?;
                    *created
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(token.value);
                    Ok(None)
                })
                .await?;
                let secret = created
                    .into_inner()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .ok_or_else(|| format!("Proxmox returned no secret for `{target}`"))?;
                store
                    .put(&key, &SecretString::from(secret.expose().to_owned()))
                    .map_err(|error| {
                        format!(
                            "`{target}` was made but its secret could not be kept in labform's secret store ({}); the next apply makes the token anew",
                            chain(&error)
                        )
                    })
            }
            TenantStep::DeleteToken {
                userid, tokenid, ..
            } => {
                self.step_tolerating(
                    kind,
                    &target,
                    api,
                    |error| error.contains("no such token"),
                    || async { api.delete_token(userid, tokenid).await.map(|()| None) },
                )
                .await
            }
            TenantStep::Acl {
                grant,
                path,
                role,
                subject,
                token,
            } => {
                let request = AclUpdate {
                    path: path.clone(),
                    roles: vec![role.clone()],
                    users: if *token {
                        vec![]
                    } else {
                        vec![subject.clone()]
                    },
                    tokens: if *token {
                        vec![subject.clone()]
                    } else {
                        vec![]
                    },
                    propagate: true,
                    delete: !grant,
                };
                self.step(kind, &target, api, || async {
                    api.update_acl(&request).await.map(|()| None)
                })
                .await
            }
            TenantStep::DeleteUser { tenant, userid } => {
                self.step_tolerating(
                    kind,
                    &target,
                    api,
                    |error| error.contains("no such user"),
                    || async { api.delete_user(userid).await.map(|()| None) },
                )
                .await?;
                let key =
                    token_store_key(scope, endpoint, tenant).map_err(|error| error.to_string())?;
                store.remove(&key).map(|_| ()).map_err(|error| {
                    format!(
                        "cannot remove the secret of `{userid}` from labform's secret store: {}",
                        chain(&error)
                    )
                })
            }
        }
    }

    fn job_name(&self, job: &Job) -> String {
        match job {
            Job::Create(index)
            | Job::Update(index, _)
            | Job::Replace(index)
            | Job::Start(index) => self.plan.vms[*index].name.clone(),
            Job::Delete(change, _) => change.name.clone(),
        }
    }

    async fn job(&self, job: &Job) -> Result<(), String> {
        match job {
            Job::Create(index) => self.create(&self.plan.vms[*index]).await,
            Job::Update(index, changes) => self.update(&self.plan.vms[*index], changes).await,
            Job::Replace(index) => {
                let vm = &self.plan.vms[*index];
                if vm.protected {
                    return Err(format!(
                        "VM `{}` is protected; replacement refused",
                        vm.name
                    ));
                }
                let current = self.current_node(vm).await?;
                self.delete(&vm.endpoint, &current, vm.vm_id, &vm.name)
                    .await?;
                self.create(vm).await
            }
            Job::Start(index) => {
                let vm = &self.plan.vms[*index];
                let node = self.current_node(vm).await?;
                self.power(vm, &node, Power::Start).await?;
                self.wait_for_agent(vm, &node).await
            }
            Job::Delete(change, protected) => {
                if *protected {
                    return Err(format!(
                        "VM `{}` ({}) is protected; turn protection off in Proxmox to delete it",
                        change.name, change.vm_id
                    ));
                }
                self.delete(&change.endpoint, &change.node, change.vm_id, &change.name)
                    .await
            }
        }
    }

    /// The node a VM is on now (it may have migrated since discovery).
    async fn current_node(&self, vm: &PlannedVm) -> Result<String, String> {
        let api = self.api(&vm.endpoint);
        let resources = self
            .retry_call("find the VM's node", || {
                api.cluster_resources(Some(labform_proxmox::types::ResourceType::Vm))
            })
            .await
            .map_err(|error| chain(&error))?;
        Ok(resources
            .into_iter()
            .find(|resource| resource.vmid == Some(u64::from(vm.vm_id.get())))
            .and_then(|resource| resource.node)
            .unwrap_or_else(|| vm.node.clone()))
    }

    // ---- steps -------------------------------------------------------------------------------

    /// Runs one journaled step: `work` returns the task it started, if any, and is retried while
    /// Proxmox rejects it before doing anything.
    async fn step<F, Fut>(
        &self,
        kind: &str,
        target: &str,
        api: &dyn ProxmoxApi,
        work: F,
    ) -> Result<(), String>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = labform_proxmox::Result<Option<Upid>>>,
    {
        self.step_tolerating(kind, target, api, |_| false, work)
            .await
    }

    /// [`Run::step`], counting an error `tolerate` accepts as success (the work was already done).
    async fn step_tolerating<F, Fut>(
        &self,
        kind: &str,
        target: &str,
        api: &dyn ProxmoxApi,
        tolerate: impl Fn(&str) -> bool,
        mut work: F,
    ) -> Result<(), String>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = labform_proxmox::Result<Option<Upid>>>,
    {
        if self.options.cancel.is_cancelled() {
            return Err(CANCELLED.to_owned());
        }
        let sequence = self.sequence.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let _ = self.journal.started(self.run, sequence, kind, target);
        self.events.emit(Event::ActionStarted {
            sequence,
            kind: kind.to_owned(),
            target: target.to_owned(),
        });
        let mut attempt = 0;
        let mut last_upid: Option<String> = None;
        let result = loop {
            attempt += 1;
            let outcome = match work().await {
                Ok(None) => Ok(()),
                Ok(Some(upid)) => {
                    last_upid = Some(upid.to_string());
                    let _ = self.journal.task(self.run, sequence, &upid.to_string());
                    wait_for_task(api, &upid, self.options.task_wait)
                        .await
                        .map(|_| ())
                }
                Err(error) => Err(error),
            };
            match outcome {
                Ok(()) => break Ok(()),
                Err(error) if tolerate(&chain(&error)) => break Ok(()),
                Err(error) if attempt < self.options.retry.attempts && retryable(&error) => {
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                Err(error) => break Err(chain(&error)),
            }
        };
        let (status, detail) = match &result {
            Ok(()) => (
                "ok",
                (attempt > 1).then(|| format!("after {attempt} attempts")),
            ),
            Err(reason) => ("failed", Some(reason.clone())),
        };
        let _ = self
            .journal
            .finished(self.run, sequence, status, detail.as_deref());
        self.events.emit(Event::ActionFinished {
            sequence,
            kind: kind.to_owned(),
            target: target.to_owned(),
            outcome: status.to_owned(),
            seconds: started.elapsed().as_secs_f64(),
            upid: last_upid,
            detail,
        });
        result
    }

    /// A read, retried on transient errors.
    async fn retry_call<T, F, Fut>(&self, _what: &str, mut call: F) -> labform_proxmox::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = labform_proxmox::Result<T>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match call().await {
                Err(error) if attempt < self.options.retry.attempts && retryable_read(&error) => {
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                other => return other,
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .options
            .retry
            .initial
            .saturating_mul(1 << attempt.min(10));
        let capped = base.min(self.options.retry.max);
        // xorshift jitter: up to half of the delay again, so retries of parallel jobs spread out.
        let mut state = self.jitter.load(Ordering::Relaxed) as u64 | 1;
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        self.jitter.store(state as usize, Ordering::Relaxed);
        let extra = capped.as_millis() as u64 / 2;
        capped + Duration::from_millis(if extra == 0 { 0 } else { state % extra })
    }

    async fn storage_permit(&self, key: String) -> tokio::sync::OwnedSemaphorePermit {
        let semaphore = {
            let mut permits = self
                .storage_permits
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            Arc::clone(permits.entry(key).or_insert_with(|| {
                Arc::new(Semaphore::new(self.options.clones_per_storage.max(1)))
            }))
        };
        semaphore.acquire_owned().await.expect("never closed")
    }

    // ---- images and templates ------------------------------------------------------------------

    fn image_for(&self, endpoint: &str, name: &str, node: &str) -> Option<usize> {
        let candidates = || {
            self.plan
                .images
                .iter()
                .enumerate()
                .filter(|(_, image)| image.endpoint == endpoint && image.name == name)
        };
        candidates()
            .find(|(_, image)| image.node == node)
            .or_else(|| candidates().next())
            .map(|(index, _)| index)
    }

    async fn ensure_image(&self, index: usize) -> Result<(), String> {
        self.images[index]
            .get_or_init(|| self.download(&self.plan.images[index]))
            .await
            .clone()
    }

    async fn download(&self, image: &PlannedImage) -> Result<(), String> {
        let api = self.api(&image.endpoint);
        let node = NodeName::new(&image.node);
        let storage = StorageName::new(&image.storage);
        let content = if image.file_name.ends_with(".iso") {
            "iso"
        } else {
            "import"
        };
        let present = self
            .retry_call("list storage content", || {
                api.storage_content(&node, &storage, Some(content))
            })
            .await
            .map_err(|error| chain(&error))?
            .iter()
            .any(|volume| {
                volume
                    .volid
                    .ends_with(&format!("{content}/{}", image.file_name))
            });
        if present {
            return Ok(());
        }
        let checksum = image
            .checksum
            .split_once(':')
            .map(|(algorithm, hex)| (algorithm.to_owned(), hex.to_owned()));
        let request = DownloadUrl {
            url: image.url.clone(),
            content: content.to_owned(),
            filename: image.file_name.clone(),
            checksum,
        };
        let target = format!(
            "{} -> {}:{}/{}",
            image.name, image.node, image.storage, image.file_name
        );
        self.step("download-image", &target, api.as_ref(), || async {
            api.download_url(&node, &storage, &request).await.map(Some)
        })
        .await
    }

    async fn ensure_template(&self, index: usize) -> Result<(), String> {
        self.templates[index]
            .get_or_init(|| self.make_template(index))
            .await
            .clone()
    }

    async fn make_template(&self, index: usize) -> Result<(), String> {
        let template = &self.plan.templates[index];
        let api = self.api(&template.endpoint);
        let node = NodeName::new(&template.node);
        let target = format!(
            "{} ({}) on {}/{}",
            template.name, template.vm_id, template.node, template.storage
        );
        if !self.unconverted[index] {
            self.create_template_vm(template, &target).await?;
        }
        self.step("convert-to-template", &target, api.as_ref(), || async {
            api.convert_to_template(&node, template.vm_id)
                .await
                .map(Some)
        })
        .await
    }

    async fn create_template_vm(
        &self,
        template: &PlannedTemplate,
        target: &str,
    ) -> Result<(), String> {
        let image_index = self
            .image_for(&template.endpoint, &template.image, &template.node)
            .ok_or_else(|| format!("no download planned for image `{}`", template.image))?;
        self.ensure_image(image_index).await?;
        let image = &self.plan.images[image_index];
        let api = self.api(&template.endpoint);
        let node = NodeName::new(&template.node);
        let owner = Owner {
            lab: self.plan.lab.clone(),
            scope: self.plan.scope.clone(),
            cluster: None,
            role: "template".to_owned(),
            key: template.key.clone(),
            image: Some(template.image.clone()),
            spec: template.spec.clone(),
        };
        let request = CreateVm::new(template.vm_id)
            .with("name", &template.name)
            .with("description", owner.block())
            .with(
                "tags",
                format!(
                    "labform;lab-{};scope-{};role-template",
                    self.plan.lab, self.plan.scope
                ),
            )
            .with("ostype", "l26")
            .with("cores", 1)
            .with("memory", 1024)
            .with("agent", 1)
            .with("scsihw", "virtio-scsi-pci")
            .with(
                "scsi0",
                format!(
                    "{}:0,import-from={}:import/{},discard=on",
                    template.storage, image.storage, image.file_name
                ),
            )
            .with("boot", "order=scsi0")
            .with("serial0", "socket")
            .with("vga", "serial0");
        self.step("create-template", target, api.as_ref(), || async {
            api.create_vm(&node, &request).await.map(Some)
        })
        .await
    }

    // ---- VMs -------------------------------------------------------------------------------------

    fn owner(&self, vm: &PlannedVm, spec: &str) -> Owner {
        Owner {
            lab: self.plan.lab.clone(),
            scope: self.plan.scope.clone(),
            cluster: vm.cluster.clone(),
            role: vm.role.clone(),
            key: format!("vm:{}", vm.name),
            image: vm.image.clone(),
            spec: spec.to_owned(),
        }
    }

    fn target(vm: &PlannedVm) -> String {
        format!("{} ({}) on {}", vm.name, vm.vm_id, vm.node)
    }

    async fn create(&self, vm: &PlannedVm) -> Result<(), String> {
        let api = self.api(&vm.endpoint);
        let node = NodeName::new(&vm.node);
        let target = Self::target(vm);
        let pending_owner = self.owner(vm, PENDING_SPEC).block();
        // A seed that cannot be rendered fails the job before anything is made.
        if let Some(Err(reason)) = self.rendered_seed(vm) {
            return Err(reason.clone());
        }
        match vm.template {
            Some(template_id) => {
                let index = self
                    .template_index(&vm.endpoint, template_id)
                    .ok_or_else(|| format!("template {template_id} is not in the plan"))?;
                self.ensure_template(index).await?;
                let template = &self.plan.templates[index];
                let template_node = NodeName::new(&template.node);
                let mut request = CloneVm::new(vm.vm_id);
                request.name = Some(vm.name.clone());
                request.full = Some(false);
                request.description = Some(pending_owner);
                request.pool = vm.pool.clone();
                if template.node != vm.node {
                    request.target = Some(vm.node.clone());
                }
                let _permit = self
                    .storage_permit(format!(
                        "{}/{}/{}",
                        template.endpoint, template.node, template.storage
                    ))
                    .await;
                self.step("clone-vm", &target, api.as_ref(), || async {
                    api.clone_vm(&template_node, template.vm_id, &request)
                        .await
                        .map(Some)
                })
                .await?;
            }
            None => {
                let mut request = CreateVm::new(vm.vm_id)
                    .with("name", &vm.name)
                    .with("description", pending_owner)
                    .with("ostype", "l26")
                    .with("scsihw", "virtio-scsi-pci");
                request.pool = vm.pool.clone();
                for disk in &vm.disks {
                    request = request.with(
                        disk.slot.clone(),
                        format!("{}:{}", disk.storage, disk.size_gib),
                    );
                }
                if let Some(image) = &vm.image
                    && let Some(index) = self.image_for(&vm.endpoint, image, &vm.node)
                {
                    self.ensure_image(index).await?;
                    let downloaded = &self.plan.images[index];
                    request = request
                        .with(
                            "ide2",
                            format!(
                                "{}:iso/{},media=cdrom",
                                downloaded.storage, downloaded.file_name
                            ),
                        )
                        .with("boot", "order=scsi0;ide2");
                }
                self.step("create-vm", &target, api.as_ref(), || async {
                    api.create_vm(&node, &request).await.map(Some)
                })
                .await?;
            }
        }
        self.upload_seed(vm, &node).await?;
        self.configure(vm, &node, None).await?;
        self.remove_stale_seeds(vm, &node, None).await?;
        self.grow_disks(vm, &node).await?;
        self.seal(vm, &node).await?;
        self.power(vm, node.as_ref(), Power::Start).await?;
        self.wait_for_agent(vm, node.as_ref()).await
    }

    /// Writes the managed config (all of it, or only `fields`) and allocates missing disks. The
    /// ownership block keeps its spec until [`Run::seal`] runs, last, so an apply killed in
    /// between is finished by the next one, never mistaken for drift.
    async fn configure(
        &self,
        vm: &PlannedVm,
        node: &NodeName,
        fields: Option<&[String]>,
    ) -> Result<(), String> {
        let api = self.api(&vm.endpoint);
        let desired = desired_config(vm);
        let mut update = ConfigUpdate::new();
        let wanted =
            |key: &str| fields.is_none_or(|fields| fields.iter().any(|field| field == key));
        for (key, value) in &desired {
            if !wanted(key) {
                continue;
            }
            if *key == "sshkeys" {
                update = update.set("sshkeys", encode_sshkeys(value));
            } else {
                update = update.set(*key, value);
            }
        }
        if let Some(fields) = fields {
            for field in fields {
                if !desired.contains_key(field.as_str())
                    && labform_planner::desired::MANAGED_KEYS.contains(&field.as_str())
                {
                    update = update.delete(field.clone());
                }
            }
        } else if vm.cloud_init.is_some() {
            // Package upgrades on first boot belong to the lab's own packages list, not to Proxmox.
            update = update.set("ciupgrade", 0);
        }
        let api_ref = api.as_ref();
        let current = self
            .retry_call("read the config", || api.vm_config(node, vm.vm_id, false))
            .await
            .map_err(|error| chain(&error))?;
        for disk in &vm.disks {
            if !current.values.contains_key(&disk.slot) {
                update = update.set(
                    disk.slot.clone(),
                    format!("{}:{}", disk.storage, disk.size_gib),
                );
            }
        }
        if update.set.is_empty() && update.delete.is_empty() {
            return Ok(());
        }
        self.step("configure-vm", &Self::target(vm), api_ref, || async {
            api.update_vm_config(node, vm.vm_id, &update)
                .await
                .map(Some)
        })
        .await
    }

    /// Writes the final ownership block (the spec hash of what was just applied): the VM is done.
    async fn seal(&self, vm: &PlannedVm, node: &NodeName) -> Result<(), String> {
        let api = self.api(&vm.endpoint);
        let description = self
            .owner(vm, &vm.spec)
            .write_into(&self.current_description(vm, node).await?);
        let update = ConfigUpdate::new().set("description", description);
        self.step("record-spec", &Self::target(vm), api.as_ref(), || async {
            api.update_vm_config_sync(node, vm.vm_id, &update)
                .await
                .map(|()| None)
        })
        .await
    }

    async fn current_description(&self, vm: &PlannedVm, node: &NodeName) -> Result<String, String> {
        let api = self.api(&vm.endpoint);
        let config = self
            .retry_call("read the config", || api.vm_config(node, vm.vm_id, false))
            .await
            .map_err(|error| chain(&error))?;
        Ok(config
            .values
            .get("description")
            .cloned()
            .unwrap_or_default())
    }

    /// Grows disks to their planned size and adds missing ones.
    async fn grow_disks(&self, vm: &PlannedVm, node: &NodeName) -> Result<(), String> {
        let api = self.api(&vm.endpoint);
        let config = self
            .retry_call("read the config", || api.vm_config(node, vm.vm_id, true))
            .await
            .map_err(|error| chain(&error))?;
        for disk in &vm.disks {
            match config.values.get(&disk.slot) {
                Some(value) => {
                    let current = value
                        .split(',')
                        .find_map(|option| option.strip_prefix("size="))
                        .and_then(size_in_gib)
                        .unwrap_or(0);
                    if current < disk.size_gib {
                        let request = ResizeDisk {
                            disk: disk.slot.clone(),
                            size: format!("{}G", disk.size_gib),
                            digest: None,
                        };
                        self.step(
                            "resize-disk",
                            &format!("{} {} to {}G", vm.name, disk.slot, disk.size_gib),
                            api.as_ref(),
                            || async { api.resize_disk(node, vm.vm_id, &request).await.map(Some) },
                        )
                        .await?;
                    }
                }
                None => {
                    let update = ConfigUpdate::new().set(
                        disk.slot.clone(),
                        format!("{}:{}", disk.storage, disk.size_gib),
                    );
                    self.step(
                        "add-disk",
                        &format!(
                            "{} {} ({}G on {})",
                            vm.name, disk.slot, disk.size_gib, disk.storage
                        ),
                        api.as_ref(),
                        || async {
                            api.update_vm_config(node, vm.vm_id, &update)
                                .await
                                .map(Some)
                        },
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn power(&self, vm: &PlannedVm, node: &str, action: Power) -> Result<(), String> {
        let api = self.api(&vm.endpoint);
        let node = NodeName::new(node);
        let kind = match action {
            Power::Start => "start-vm",
            Power::Stop => "stop-vm",
            Power::Shutdown => "shutdown-vm",
            Power::Reboot => "reboot-vm",
        };
        // Starting what already runs (a killed run's start that finished meanwhile) is done.
        let tolerate = |error: &str| action == Power::Start && error.contains("already running");
        self.step_tolerating(kind, &vm.name, api.as_ref(), tolerate, || async {
            api.vm_action(&node, vm.vm_id, action).await.map(Some)
        })
        .await
    }

    async fn wait_for_agent(&self, vm: &PlannedVm, node: &str) -> Result<(), String> {
        let (Some(timeout), Some(address), Some(_)) = (
            self.options.agent_timeout,
            vm.nic.address,
            vm.cloud_init.as_ref(),
        ) else {
            return Ok(());
        };
        let api = self.api(&vm.endpoint);
        let node = NodeName::new(node);
        let deadline = Instant::now() + timeout;
        let mut interval = Duration::from_millis(250);
        self.step(
            "wait-for-agent",
            &format!("{} at {address}", vm.name),
            api.as_ref(),
            || {
                let api = Arc::clone(&api);
                let node = node.clone();
                async move {
                    loop {
                        if let Ok(interfaces) = api.agent_network_interfaces(&node, vm.vm_id).await
                            && reports(&interfaces, address)
                        {
                            return Ok(None);
                        }
                        if Instant::now() >= deadline {
                            return Err(labform_proxmox::Error::Config(format!(
                                "the guest agent of `{}` did not report {address} within {} s",
                                vm.name,
                                timeout.as_secs()
                            )));
                        }
                        tokio::time::sleep(interval).await;
                        interval = (interval * 2).min(Duration::from_secs(5));
                    }
                }
            },
        )
        .await
    }

    async fn update(
        &self,
        vm: &PlannedVm,
        changes: &[labform_planner::reconcile::FieldChange],
    ) -> Result<(), String> {
        let node_name = self.current_node(vm).await?;
        let node = NodeName::new(&node_name);
        let fields: Vec<String> = changes
            .iter()
            .filter(|change| {
                labform_planner::desired::MANAGED_KEYS.contains(&change.field.as_str())
            })
            .map(|change| change.field.clone())
            .collect();
        let seed_change = changes.iter().find(|change| change.field == "ide2");
        if seed_change.is_some() {
            self.upload_seed(vm, &node).await?;
        }
        self.configure(vm, &node, Some(&fields)).await?;
        if vm.seed.is_some() {
            // After the switch: the old seed image (and any a stopped run left) goes.
            self.remove_stale_seeds(
                vm,
                &node,
                seed_change.and_then(|change| change.observed.as_deref()),
            )
            .await?;
        }
        if changes
            .iter()
            .any(|change| change.field.starts_with("scsi"))
        {
            self.grow_disks(vm, &node).await?;
        }
        self.seal(vm, &node).await?;
        let api = self.api(&vm.endpoint);
        let status = self
            .retry_call("read the VM's status", || api.vm_status(&node, vm.vm_id))
            .await
            .map_err(|error| chain(&error))?;
        let running = status.status == "running";
        let needs_boot = changes
            .iter()
            .any(|change| change.effect == Effect::NextBoot);
        if !running {
            self.power(vm, &node_name, Power::Start).await?;
        } else if needs_boot {
            match self.options.reboot {
                RebootPolicy::IfNeeded => self.power(vm, &node_name, Power::Reboot).await?,
                RebootPolicy::Never => self
                    .pending_reboot
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(vm.name.clone()),
            }
        }
        Ok(())
    }

    async fn delete(
        &self,
        endpoint: &str,
        node: &str,
        vm_id: VmId,
        name: &str,
    ) -> Result<(), String> {
        let api = self.api(endpoint);
        let node = NodeName::new(node);
        let status = self
            .retry_call("read the VM's status", || api.vm_status(&node, vm_id))
            .await
            .map_err(|error| chain(&error))?;
        if status.status == "running" {
            self.step("stop-vm", name, api.as_ref(), || async {
                api.vm_action(&node, vm_id, Power::Stop).await.map(Some)
            })
            .await?;
        }
        let options = DeleteVm {
            purge: true,
            destroy_unreferenced_disks: true,
        };
        self.step(
            "delete-vm",
            &format!("{name} ({vm_id})"),
            api.as_ref(),
            || async { api.delete_vm(&node, vm_id, options).await.map(Some) },
        )
        .await?;
        self.delete_seeds(api.as_ref(), &node, vm_id, None).await
    }

    // ---- seed images -----------------------------------------------------------------------------

    /// Uploads the planned seed image of `vm` to its storage on `node`, unless it is there already
    /// (a stopped run uploaded it). Nothing to do for VMs without cloud-init.
    async fn upload_seed(&self, vm: &PlannedVm, node: &NodeName) -> Result<(), String> {
        let Some(seed) = &vm.seed else {
            return match vm.cloud_init {
                Some(_) => Err(format!(
                    "no storage with `iso` content on node {node} of endpoint `{}` holds the seed image of `{}`",
                    vm.endpoint, vm.name
                )),
                None => Ok(()),
            };
        };
        let api = self.api(&vm.endpoint);
        let storage = StorageName::new(&seed.storage);
        let volume = format!("iso/{}", seed.file_name);
        let present = self
            .retry_call("list the seed images", || {
                api.storage_content(node, &storage, Some("iso"))
            })
            .await
            .map_err(|error| chain(&error))?
            .iter()
            .any(|found| found.volid == format!("{}:{volume}", seed.storage));
        if present {
            return Ok(());
        }
        let files = match self.rendered_seed(vm) {
            Some(Ok(files)) => files,
            Some(Err(reason)) => return Err(reason.clone()),
            None => {
                return Err(format!(
                    "the seed image of `{}` was not rendered for this run",
                    vm.name
                ));
            }
        };
        let mut upload = Upload {
            content: "iso".to_owned(),
            filename: seed.file_name.clone(),
            data: seed_iso(files),
        };
        let target = format!("{} -> {node}:{}:{volume}", vm.name, seed.storage);
        let result = self
            .step("upload-seed", &target, api.as_ref(), || async {
                api.upload(node, &storage, &upload).await.map(Some)
            })
            .await;
        // The image holds the private host key.
        zeroize::Zeroize::zeroize(&mut upload.data);
        result
    }

    /// The seed files rendered for `vm` before the run started, if it needed any.
    fn rendered_seed(&self, vm: &PlannedVm) -> Option<&Result<SeedFiles, String>> {
        let index = self
            .plan
            .vms
            .iter()
            .position(|planned| planned.name == vm.name && planned.endpoint == vm.endpoint)?;
        self.seeds.get(&index)
    }

    /// Deletes the seed images of `vm` on `node` other than its planned one: the one `previous`
    /// (the `ide2` it had) names, and any other with its prefix on the planned seed storage.
    async fn remove_stale_seeds(
        &self,
        vm: &PlannedVm,
        node: &NodeName,
        previous: Option<&str>,
    ) -> Result<(), String> {
        let Some(seed) = &vm.seed else {
            return Ok(());
        };
        let api = self.api(&vm.endpoint);
        let keep = seed_drive(&seed.storage, &seed.file_name);
        let keep = keep.split(',').next().unwrap_or_default();
        let mut storages = vec![seed.storage.clone()];
        // Only an ISO volume can be an earlier seed (not Proxmox's own cloud-init drive).
        if let Some((storage, _)) = previous
            .and_then(|drive| drive.split(',').next())
            .and_then(|volume| volume.split_once(':'))
            .filter(|(_, name)| name.starts_with("iso/"))
            && !storages.iter().any(|known| known == storage)
        {
            storages.push(storage.to_owned());
        }
        for storage in storages {
            self.delete_seeds_in(api.as_ref(), node, &storage, vm.vm_id, Some(keep))
                .await?;
        }
        Ok(())
    }

    /// Deletes the seed images of this scope on `endpoint` whose VM ID no guest holds.
    async fn sweep_seeds(&self, endpoint: &str) -> Result<(), String> {
        let api = self.api(endpoint);
        let held: std::collections::HashSet<u64> = self
            .retry_call("list the cluster's VMs", || {
                api.cluster_resources(Some(labform_proxmox::types::ResourceType::Vm))
            })
            .await
            .map_err(|error| chain(&error))?
            .into_iter()
            .filter_map(|resource| resource.vmid)
            .collect();
        let nodes = self
            .retry_call("list the nodes", || api.nodes())
            .await
            .map_err(|error| chain(&error))?;
        let mut seen = std::collections::HashSet::new();
        for node in nodes.iter().filter(|node| node.status == "online") {
            let node = NodeName::new(&node.node);
            let storages = self
                .retry_call("list the node's storages", || api.node_storages(&node))
                .await
                .map_err(|error| chain(&error))?;
            for storage in storages.iter().filter(|storage| {
                storage
                    .content
                    .split(',')
                    .any(|content| content.trim() == "iso")
            }) {
                let storage_name = StorageName::new(&storage.storage);
                let volumes = self
                    .retry_call("list the seed images", || {
                        api.storage_content(&node, &storage_name, Some("iso"))
                    })
                    .await
                    .map_err(|error| chain(&error))?;
                let prefix = format!("{}:iso/labform-{}-", storage.storage, self.plan.scope);
                for volume in volumes {
                    let Some(vm_id) = seed_vm_id(&volume.volid, &prefix) else {
                        continue;
                    };
                    // Shared storage shows the same volume on every node.
                    let key = if storage.shared == Some(true) {
                        (String::new(), volume.volid.clone())
                    } else {
                        (node.to_string(), volume.volid.clone())
                    };
                    if held.contains(&u64::from(vm_id)) || !seen.insert(key) {
                        continue;
                    }
                    let tolerate = |error: &str| error.contains("does not exist");
                    self.step_tolerating(
                        "delete-seed",
                        &format!("{node}:{}", volume.volid),
                        api.as_ref(),
                        tolerate,
                        || async {
                            api.delete_volume(&node, &storage_name, &volume.volid)
                                .await
                                .map(Some)
                        },
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Deletes every seed image of VM `vm_id` (but `keep`) on the storages of `node` that hold ISO
    /// images.
    async fn delete_seeds(
        &self,
        api: &dyn ProxmoxApi,
        node: &NodeName,
        vm_id: VmId,
        keep: Option<&str>,
    ) -> Result<(), String> {
        let storages = self
            .retry_call("list the node's storages", || api.node_storages(node))
            .await
            .map_err(|error| chain(&error))?;
        for storage in storages.iter().filter(|storage| {
            storage
                .content
                .split(',')
                .any(|content| content.trim() == "iso")
        }) {
            self.delete_seeds_in(api, node, &storage.storage, vm_id, keep)
                .await?;
        }
        Ok(())
    }

    async fn delete_seeds_in(
        &self,
        api: &dyn ProxmoxApi,
        node: &NodeName,
        storage: &str,
        vm_id: VmId,
        keep: Option<&str>,
    ) -> Result<(), String> {
        let storage_name = StorageName::new(storage);
        let prefix = format!(
            "{storage}:iso/{}",
            seed_file_prefix(&self.plan.scope, vm_id)
        );
        let volumes = self
            .retry_call("list the seed images", || {
                api.storage_content(node, &storage_name, Some("iso"))
            })
            .await
            .map_err(|error| chain(&error))?;
        for volume in volumes
            .iter()
            .filter(|volume| is_seed(&volume.volid, &prefix) && Some(volume.volid.as_str()) != keep)
        {
            // Deleting what is already gone (a stopped run's delete that finished) is done.
            let tolerate = |error: &str| error.contains("does not exist");
            self.step_tolerating(
                "delete-seed",
                &format!("{node}:{}", volume.volid),
                api,
                tolerate,
                || async {
                    api.delete_volume(node, &storage_name, &volume.volid)
                        .await
                        .map(Some)
                },
            )
            .await?;
        }
        Ok(())
    }
}

/// Whether `volid` is a seed image named `prefix` + eight hex digits + `.iso` (the prefix alone
/// could also begin the seed of a VM in a longer scope: `labform-a-1-` and `labform-a-1-5-...`).
fn is_seed(volid: &str, prefix: &str) -> bool {
    volid
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(".iso"))
        .is_some_and(|hash| hash.len() == 8 && hash.bytes().all(|byte| byte.is_ascii_hexdigit()))
}

/// The VM ID in a seed image volume `<prefix><vmid>-<8 hex digits>.iso`, where `prefix` ends in
/// the scope and a dash.
fn seed_vm_id(volid: &str, prefix: &str) -> Option<u32> {
    let rest = volid.strip_prefix(prefix)?;
    let (digits, _) = rest.split_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let vm_id: u32 = digits.parse().ok()?;
    is_seed(volid, &format!("{prefix}{digits}-")).then_some(vm_id)
}

/// The seed source of runs that create nothing (destroy): asked for a seed, it fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSeeds;

impl SeedSource for NoSeeds {
    fn seed_files(&self, vm: &PlannedVm) -> Result<SeedFiles, labform_cloudinit::CloudInitError> {
        Err(labform_cloudinit::CloudInitError::Inconsistent {
            vm: vm.name.clone(),
            detail: "this run has no source of seed images".to_owned(),
        })
    }
}

fn reports(interfaces: &[labform_proxmox::types::GuestInterface], address: Ipv4Addr) -> bool {
    let wanted = address.to_string();
    interfaces.iter().any(|interface| {
        interface
            .ip_addresses
            .iter()
            .flatten()
            .any(|ip| ip.address == wanted)
    })
}

/// Whether a failed write may be tried again: Proxmox refused it before doing anything.
fn retryable(error: &labform_proxmox::Error) -> bool {
    match error {
        labform_proxmox::Error::TaskFailed { exitstatus, .. } => is_lock_timeout_text(exitstatus),
        other => other.api().is_some_and(|api| api.is_safe_to_retry_write()),
    }
}

/// Whether a failed read may be tried again.
fn retryable_read(error: &labform_proxmox::Error) -> bool {
    match error {
        labform_proxmox::Error::Transport { .. } => true,
        other => other.status().is_some_and(|status| status >= 500),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_names_match_only_their_own_vm() {
        let prefix = "local:iso/labform-a-1-";
        assert!(is_seed("local:iso/labform-a-1-0123abcd.iso", prefix));
        // VM 5 of scope `a-1` begins like VM 1 of scope `a`.
        assert!(!is_seed("local:iso/labform-a-1-5-0123abcd.iso", prefix));
        assert!(!is_seed("local:iso/labform-a-1-0123abcd.img", prefix));
        assert!(!is_seed("local:iso/labform-a-1-0123abc.iso", prefix));
        assert!(!is_seed("local:iso/debian-12.iso", prefix));
    }

    #[test]
    fn the_vm_id_of_a_seed() {
        let prefix = "local:iso/labform-a-";
        assert_eq!(
            seed_vm_id("local:iso/labform-a-1000-0123abcd.iso", prefix),
            Some(1000)
        );
        // Scope `a-1`, VM 5: not a seed of scope `a`.
        assert_eq!(
            seed_vm_id("local:iso/labform-a-1-5-0123abcd.iso", prefix),
            None
        );
        assert_eq!(
            seed_vm_id("local:iso/labform-a-x-0123abcd.iso", prefix),
            None
        );
        assert_eq!(
            seed_vm_id("local:iso/labform-a-1000-0123abcd.img", prefix),
            None
        );
        assert_eq!(
            seed_vm_id("local:iso/labform-b-1000-0123abcd.iso", prefix),
            None
        );
    }
}
