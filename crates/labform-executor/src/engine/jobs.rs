//! Jobs: one per VM of the reconciliation (create, update, replace, start, delete), run
//! concurrently up to the apply's limit; Ctrl-C skips the jobs that have not started.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use labform_planner::plan::PlannedVm;
use labform_planner::reconcile::{FieldChange, VmChange};
use labform_proxmox::types::{ResourceType, VmAction as Power};
use tokio::sync::Semaphore;

use super::{Run, StepError};
use crate::events::Event;

/// The work of one job; VMs by their index in the plan.
#[derive(Debug, Clone)]
pub(super) enum Job {
    /// Create (or clone) the VM.
    Create(usize),
    /// Change these fields in place.
    Update(usize, Vec<FieldChange>),
    /// Delete and create again.
    Replace(usize),
    /// Start it.
    Start(usize),
    /// Delete it (refused when protected).
    Delete(VmChange, bool),
}

/// How a job ended.
#[derive(Debug)]
pub(super) enum Outcome {
    /// It did its work.
    Done,
    /// It failed, and why.
    Failed(String),
    /// Ctrl-C came before it started.
    Skipped,
}

/// Runs `jobs` with at most the apply's concurrency at once, counting finished jobs in `done`
/// (of `total`); the outcomes in the order of `jobs`.
pub(super) async fn run_jobs(
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
                Err(StepError::Cancelled) if run.options.cancel.is_cancelled() => Outcome::Skipped,
                Err(reason) => Outcome::Failed(reason.to_string()),
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

impl Run {
    /// The VM a job works on.
    pub(super) fn job_name(&self, job: &Job) -> String {
        match job {
            Job::Create(index)
            | Job::Update(index, _)
            | Job::Replace(index)
            | Job::Start(index) => self.plan.vms[*index].name.clone(),
            Job::Delete(change, _) => change.name.clone(),
        }
    }

    /// Carries out one job.
    async fn job(&self, job: &Job) -> Result<(), StepError> {
        match job {
            Job::Create(index) => self.create(&self.plan.vms[*index]).await,
            Job::Update(index, changes) => self.update(&self.plan.vms[*index], changes).await,
            Job::Replace(index) => {
                let vm = &self.plan.vms[*index];
                if vm.protected {
                    return Err(StepError::Refused(format!(
                        "VM `{}` is protected; replacement refused",
                        vm.name
                    )));
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
                    return Err(StepError::Refused(format!(
                        "VM `{}` ({}) is protected; turn protection off in Proxmox to delete it",
                        change.name, change.vm_id
                    )));
                }
                self.delete(&change.endpoint, &change.node, change.vm_id, &change.name)
                    .await
            }
        }
    }

    /// The node a VM is on now (it may have migrated since discovery).
    pub(super) async fn current_node(&self, vm: &PlannedVm) -> Result<String, StepError> {
        let api = self.api(&vm.endpoint);
        let resources = self
            .retry_call("find the VM's node", || {
                api.cluster_resources(Some(ResourceType::Vm))
            })
            .await?;
        Ok(resources
            .into_iter()
            .find(|resource| resource.vmid == Some(u64::from(vm.vm_id.get())))
            .and_then(|resource| resource.node)
            .unwrap_or_else(|| vm.node.to_string()))
    }
}
