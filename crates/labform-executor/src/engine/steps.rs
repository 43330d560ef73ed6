//! Steps: one Proxmox call (and the task it starts) as a journaled action with progress events,
//! retried while Proxmox refuses it before doing anything; reads retried on transient errors;
//! per-storage clone permits. A failed step is a [`StepError`], classified by the kind of the
//! Proxmox error ([`labform_proxmox::ErrorKind`]), never by its text.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use labform_proxmox::task::wait_for_task;
use labform_proxmox::{ErrorKind, ProxmoxApi, Upid};
use tokio::sync::Semaphore;

use super::Run;
use crate::error::chain;
use crate::events::Event;

/// Why a step (or a job made of steps) failed. The text is what the journal, the progress line
/// and the apply report say; it never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// Ctrl-C came before the step started.
    #[error("cancelled before it started")]
    Cancelled,
    /// Proxmox answered with an error, or its task failed.
    #[error("{detail}")]
    Proxmox {
        /// What the error means.
        kind: ErrorKind,
        /// The error and its causes on one line.
        detail: String,
    },
    /// The step will not act: the VM is protected, or a template must be replaced first.
    #[error("{0}")]
    Refused(String),
    /// A VM's seed image could not be made or placed.
    #[error("{0}")]
    Seed(String),
    /// labform's secret store could not be read or written.
    #[error("{0}")]
    SecretStore(String),
    /// The plan lacks what the step needs (a plan from the planner always has it).
    #[error("{0}")]
    Plan(String),
    /// A tenant cannot be brought to the plan (a user labform did not make holds its name).
    #[error("{0}")]
    Tenant(String),
}

impl From<labform_proxmox::Error> for StepError {
    fn from(error: labform_proxmox::Error) -> Self {
        StepError::Proxmox {
            kind: error.kind(),
            detail: chain(&error),
        }
    }
}

impl Run {
    /// Runs one journaled step: `work` returns the task it started, if any, and is retried while
    /// Proxmox rejects it before doing anything.
    pub(super) async fn step<F, Fut>(
        &self,
        kind: &str,
        target: &str,
        api: &dyn ProxmoxApi,
        work: F,
    ) -> Result<(), StepError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = labform_proxmox::Result<Option<Upid>>>,
    {
        self.step_tolerating(kind, target, api, None, work).await
    }

    /// [`Run::step`], counting an error of kind `done_when` as success: the work was already
    /// done (a stopped run's start or delete that finished meanwhile).
    pub(super) async fn step_tolerating<F, Fut>(
        &self,
        kind: &str,
        target: &str,
        api: &dyn ProxmoxApi,
        done_when: Option<ErrorKind>,
        mut work: F,
    ) -> Result<(), StepError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = labform_proxmox::Result<Option<Upid>>>,
    {
        if self.options.cancel.is_cancelled() {
            return Err(StepError::Cancelled);
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
                Err(error) if done_when.is_some_and(|kind| error.kind() == kind) => break Ok(()),
                Err(error)
                    if attempt < self.options.retry.attempts && error.is_retryable_write() =>
                {
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                Err(error) => break Err(StepError::from(error)),
            }
        };
        let (status, detail) = match &result {
            Ok(()) => (
                "ok",
                (attempt > 1).then(|| format!("after {attempt} attempts")),
            ),
            Err(reason) => ("failed", Some(reason.to_string())),
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
    pub(super) async fn retry_call<T, F, Fut>(
        &self,
        _what: &str,
        mut call: F,
    ) -> Result<T, StepError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = labform_proxmox::Result<T>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match call().await {
                Err(error)
                    if attempt < self.options.retry.attempts && error.is_retryable_read() =>
                {
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                other => return other.map_err(StepError::from),
            }
        }
    }

    /// How long to wait before attempt `attempt + 1`: exponential, capped, with jitter.
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

    /// A clone permit of the storage `key` (endpoint, node and storage).
    pub(super) async fn storage_permit(&self, key: String) -> tokio::sync::OwnedSemaphorePermit {
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
}
