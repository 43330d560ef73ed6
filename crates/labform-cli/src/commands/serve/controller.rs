//! Controller mode of `labform serve` (`--git URL`): every `--interval`, the lab's repository is
//! fetched ([`labform_controller::git`]); a new commit is checked out into a directory of its own
//! and checked like `labform validate` does. A commit whose lab has errors is refused: the
//! located errors go to the dashboard (`/controller`) and the journal, and the lab stays at the
//! last good commit. The accepted lab is planned against the target and applied by policy:
//! `--apply automatic` at once, `--apply approval` only once someone approves the pending plan
//! (`POST /controller/approve` with the commit, the dashboard's button; token-protected like every
//! page), and only while the plan is still the one approved. Each apply is recorded in the journal
//! with the commit it came from. Changes made by hand while the commit stays the same are drift
//! between commits: each new drift is reported on `/controller` (what drifted, at which commit,
//! since when) and recorded in the journal as a `drift` run with that commit, and automatically
//! put back (or, by approval, offered with the pending changes). With `--lease`, only the replica
//! holding the Kubernetes Lease applies and writes the journal ([`labform_controller::lease`]);
//! the others fetch, check and show, and their pages say they follow and name the leader, whose
//! dashboard and journal have the runs.
//!
//! The Proxmox calls of the controller's plans and applies are counted for `/metrics` under
//! `caller="controller"`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use labform_controller::git::{Repository, Revision};
use labform_controller::lease::Leadership;
use labform_executor::engine::ApplyOptions;
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::drift_report::{DriftReport, DriftReporter};
use super::metrics::{Caller, Settle};
use super::{Dashboard, Shared};
use crate::commands::apply::{Carried, Carry, carry_out, clusters_apply};
use crate::reality::Preflight;

/// When the controller applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApplyPolicy {
    /// As soon as the plan has changes.
    Automatic,
    /// Once the pending plan is approved in the dashboard.
    Approval,
}

/// A commit, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Commit {
    /// The full hash.
    pub commit: String,
    /// The first line of its message.
    pub subject: String,
}

impl From<&Revision> for Commit {
    fn from(revision: &Revision) -> Self {
        Commit {
            commit: revision.commit.clone(),
            subject: revision.subject.clone(),
        }
    }
}

/// A commit refused because its lab has errors.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// The commit.
    #[serde(flatten)]
    pub commit: Commit,
    /// The errors, located in the repository's files (`lab.yaml:12:5`).
    pub errors: String,
}

/// Changes waiting for approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    /// The commit they come from.
    #[serde(flatten)]
    pub commit: Commit,
    /// The changes, as `labform plan` shows them.
    pub changes: String,
    /// How many of them put back changes made by hand.
    pub drift: usize,
}

/// What the controller knows, for `/controller`, its JSON and `/metrics`.
#[derive(Debug, Clone, Serialize)]
pub struct ControllerStatus {
    /// The repository's URL (never with a password: those are refused).
    pub repository: String,
    /// The branch followed.
    pub branch: String,
    /// The lab file's path in the repository.
    pub path: String,
    /// Seconds between fetches.
    pub interval_seconds: u64,
    /// When to apply.
    pub policy: ApplyPolicy,
    /// This replica's identity in leader election, with `--lease`.
    pub identity: Option<String>,
    /// The Lease, `NAMESPACE/NAME`, with `--lease`.
    pub lease: Option<String>,
    /// Whether this replica may apply (always without `--lease`).
    pub leader: bool,
    /// The replica holding the Lease as last read (with `--lease`): the one whose journal
    /// records the runs.
    pub holder: Option<String>,
    /// The last leader election error.
    pub lease_error: Option<String>,
    /// The branch's commit at the last fetch.
    pub fetched: Option<Commit>,
    /// Why the last fetch failed.
    pub fetch_error: Option<String>,
    /// The commit whose lab is in use (the latest without errors).
    pub current: Option<Commit>,
    /// The latest commit refused, while no later commit was accepted.
    pub refused: Option<Refusal>,
    /// Changes waiting for approval.
    pub pending: Option<Pending>,
    /// Changes made by hand on Proxmox seen at the last plan (fields, tenants' access, backup
    /// jobs), while the commit stayed the same.
    pub drift: usize,
    /// The latest drift found between commits (the lab changed by hand while its commit did
    /// not change); it stays after the drift is put back.
    pub drift_report: Option<DriftReport>,
    /// Why the last plan against the target failed.
    pub plan_error: Option<String>,
    /// The last apply: its commit and outcome.
    pub last_apply: Option<LastApply>,
    /// Syncs (fetch, check, plan) that worked and that failed.
    pub syncs: (u64, u64),
    /// Commits refused so far.
    pub refusals: u64,
    /// Drifts between commits reported so far.
    pub drift_reports: u64,
}

/// The last apply the controller made.
#[derive(Debug, Clone, Serialize)]
pub struct LastApply {
    /// The commit applied.
    #[serde(flatten)]
    pub commit: Commit,
    /// `ok`, `failed: ...`, `interrupted`, `clusters failed`.
    pub outcome: String,
}

/// What the dashboard's handlers and the loop share.
pub struct Controller {
    status: Mutex<ControllerStatus>,
    /// The pending changes someone approved.
    approved: Mutex<Option<Pending>>,
    /// Wakes the loop (an approval).
    wake: Notify,
    /// Stops the loop and leader election.
    stop: CancellationToken,
}

/// Why an approval was not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApprovalRefused {
    /// Nothing waits for approval, or something else than the commit named.
    #[error("no changes of commit {0} wait for approval (see /controller)")]
    NotPending(String),
    /// This replica does not hold the Lease: the leader's dashboard takes approvals.
    #[error(
        "this replica is not the leader: approve on the dashboard of the leader ({leader}), which plans and applies"
    )]
    NotLeader {
        /// The leader's identity, as last read.
        leader: String,
    },
}

impl Controller {
    /// What the controller knows now.
    pub fn status(&self) -> ControllerStatus {
        self.status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn update(&self, change: impl FnOnce(&mut ControllerStatus)) {
        change(
            &mut self
                .status
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
    }

    /// Approves the pending changes of `commit`: the loop applies them at once if the plan is
    /// still the same.
    pub fn approve(&self, commit: &str) -> Result<(), ApprovalRefused> {
        let status = self.status();
        if !status.leader {
            return Err(ApprovalRefused::NotLeader {
                leader: status
                    .holder
                    .unwrap_or_else(|| "none at the moment".to_owned()),
            });
        }
        match status.pending {
            Some(pending) if pending.commit.commit == commit && !commit.is_empty() => {
                *self
                    .approved
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(pending);
                self.wake.notify_one();
                Ok(())
            }
            _ => Err(ApprovalRefused::NotPending(commit.to_owned())),
        }
    }

    /// Stops the loop and, with `--lease`, gives the Lease up.
    pub fn stop(&self) {
        self.stop.cancel();
        self.wake.notify_one();
    }
}

/// The controller's settings, from `labform serve`'s arguments.
pub struct Settings {
    /// The repository.
    pub repository: Repository,
    /// The lab file's path in the repository.
    pub path: PathBuf,
    /// Between fetches.
    pub interval: Duration,
    /// When to apply.
    pub policy: ApplyPolicy,
    /// Where checkouts go.
    pub directory: PathBuf,
    /// Leader election, with `--lease`.
    pub elector: Option<labform_controller::lease::Elector>,
}

/// Starts the controller: leader election (with `--lease`) on the runtime, and the loop on a
/// thread of its own (planning is not `Send`). Returns what the handlers share with it, and
/// the thread, which ends once [`Controller::stop`] was called and the Lease released.
pub fn start(
    settings: Settings,
    dashboard: &Shared,
) -> (Arc<Controller>, std::thread::JoinHandle<()>) {
    let git = settings.repository.settings();
    let controller = Arc::new(Controller {
        status: Mutex::new(ControllerStatus {
            repository: git.url.clone(),
            branch: git.branch.clone(),
            path: settings.path.display().to_string(),
            interval_seconds: settings.interval.as_secs(),
            policy: settings.policy,
            identity: settings
                .elector
                .as_ref()
                .map(|elector| elector.settings().identity.clone()),
            lease: settings.elector.as_ref().map(|elector| {
                format!(
                    "{}/{}",
                    elector.settings().namespace,
                    elector.settings().name
                )
            }),
            leader: settings.elector.is_none(),
            holder: None,
            lease_error: None,
            fetched: None,
            fetch_error: None,
            current: None,
            refused: None,
            pending: None,
            drift: 0,
            drift_report: None,
            plan_error: None,
            last_apply: None,
            syncs: (0, 0),
            refusals: 0,
            drift_reports: 0,
        }),
        approved: Mutex::new(None),
        wake: Notify::new(),
        stop: CancellationToken::new(),
    });
    let runtime = tokio::runtime::Handle::current();
    let (leading_sender, leading) = watch::channel(Leadership {
        leader: settings.elector.is_none(),
        error: None,
        holder: None,
    });
    let election = settings.elector.map(|elector| {
        let stop = controller.stop.clone();
        runtime.spawn(async move {
            labform_controller::lease::lead(&elector, leading_sender, stop).await;
        })
    });
    let dashboard = dashboard.clone();
    let shared = controller.clone();
    let thread = std::thread::spawn(move || {
        let mut state = Loop {
            repository: settings.repository,
            path: settings.path,
            interval: settings.interval,
            directory: settings.directory,
            checked: None,
            current: None,
            applied: None,
            drift: DriftReporter::default(),
            leading,
        };
        runtime.block_on(async {
            while !shared.stop.is_cancelled() {
                state.tick(&shared, &dashboard).await;
                tokio::select! {
                    () = shared.wake.notified() => {}
                    () = tokio::time::sleep(state.interval) => {}
                    () = state.leadership_changed() => {}
                }
            }
            if let Some(election) = election {
                let _ = election.await;
            }
        });
    });
    (controller, thread)
}

/// The loop's own state.
struct Loop {
    repository: Repository,
    path: PathBuf,
    interval: Duration,
    directory: PathBuf,
    /// The latest commit checked (accepted or refused).
    checked: Option<String>,
    /// The accepted commit and its checkout.
    current: Option<(Revision, PathBuf)>,
    /// The latest commit applied without failure.
    applied: Option<String>,
    /// Drift between commits, reported once each.
    drift: DriftReporter,
    leading: watch::Receiver<Leadership>,
}

impl Loop {
    async fn leadership_changed(&mut self) {
        if self.leading.changed().await.is_err() {
            // Without --lease nothing changes it: wait for the other branches.
            std::future::pending::<()>().await;
        }
    }

    async fn tick(&mut self, controller: &Controller, dashboard: &Dashboard) {
        let leadership = self.leading.borrow().clone();
        controller.update(|status| {
            status.leader = leadership.leader;
            status.holder = leadership.holder.clone();
            status.lease_error = leadership.error.clone();
        });
        let revision = match self.repository.fetch().await {
            Ok(revision) => revision,
            Err(error) => {
                controller.update(|status| {
                    status.fetch_error = Some(crate::error_chain(&error));
                    status.syncs.1 += 1;
                });
                return;
            }
        };
        controller.update(|status| {
            status.fetched = Some(Commit::from(&revision));
            status.fetch_error = None;
        });
        if self.checked.as_deref() != Some(revision.commit.as_str())
            && self
                .check(&revision, controller, dashboard, leadership.leader)
                .await
        {
            self.checked = Some(revision.commit.clone());
        }
        let Some((current, checkout)) = self.current.clone() else {
            controller.update(|status| status.syncs.1 += 1);
            return;
        };
        let file = checkout.join(&self.path);
        let ok = self
            .converge(&current, &file, controller, dashboard, leadership.leader)
            .await;
        controller.update(|status| {
            if ok {
                status.syncs.0 += 1;
            } else {
                status.syncs.1 += 1;
            }
        });
    }

    /// Checks out `revision` and checks its lab; accepts it, or refuses it with the located
    /// errors (the current lab stays). Whether it was decided (not when the checkout failed:
    /// the next round tries again).
    async fn check(
        &mut self,
        revision: &Revision,
        controller: &Controller,
        dashboard: &Dashboard,
        leader: bool,
    ) -> bool {
        let checkout = self.directory.join("revisions").join(revision.short());
        if let Err(error) = self.repository.check_out(&revision.commit, &checkout).await {
            controller.update(|status| status.fetch_error = Some(crate::error_chain(&error)));
            return false;
        }
        let file = checkout.join(&self.path);
        let errors = match crate::lab_input::plan_offline(&file, &dashboard.lock) {
            Ok(outcome) if !outcome.failed() => None,
            Ok(outcome) => Some((
                outcome.render_diagnostics(),
                outcome
                    .inputs
                    .lab
                    .as_ref()
                    .map(|lab| lab.scope().to_owned()),
                outcome.inputs.lab.as_ref().map(|lab| lab.name().to_owned()),
            )),
            Err(error) => Some((format!("{error:#}\n"), None, None)),
        };
        let Some((text, scope, lab)) = errors else {
            if let Some((_, previous)) = self.current.replace((revision.clone(), checkout)) {
                let _ = self.repository.remove(&previous).await;
            }
            dashboard.set_file(file);
            controller.update(|status| {
                status.current = Some(Commit::from(revision));
                status.refused = None;
                status.pending = None;
            });
            return true;
        };
        // Paths inside the checkout are shown as the repository names them.
        let errors = text.replace(&format!("{}/", checkout.display()), "");
        eprintln!(
            "labform controller: commit {} refused, the lab stays at {}:\n{errors}",
            revision.short(),
            self.current
                .as_ref()
                .map(|(current, _)| current.short().to_owned())
                .unwrap_or_else(|| "nothing (no commit accepted yet)".to_owned())
        );
        if leader {
            let current_lab = self
                .current
                .as_ref()
                .and_then(|(_, checkout)| scope_of(&checkout.join(&self.path)));
            let named = scope.zip(lab).or(current_lab);
            if let Some((scope, lab)) = named {
                let recorded =
                    crate::open_journal(dashboard.journal.as_deref(), &scope, dashboard.target.sim)
                        .and_then(|journal| {
                            let run = journal.begin_from(
                                &lab,
                                &scope,
                                "controller",
                                Some(&revision.commit),
                            )?;
                            journal.end(run, "refused: the lab has errors (see /controller)")?;
                            Ok(())
                        });
                if let Err(error) = recorded {
                    eprintln!("labform controller: cannot record the refusal: {error:#}");
                }
            }
        }
        let _ = self.repository.remove(&checkout).await;
        controller.update(|status| {
            status.refused = Some(Refusal {
                commit: Commit::from(revision),
                errors,
            });
            status.refusals += 1;
        });
        true
    }

    /// Plans the current lab against the target and applies by policy. Whether planning worked.
    async fn converge(
        &mut self,
        revision: &Revision,
        file: &Path,
        controller: &Controller,
        dashboard: &Dashboard,
        leader: bool,
    ) -> bool {
        let mut meters = Vec::new();
        let planned = crate::reality::plan_against_target_through(
            file,
            &dashboard.target,
            &dashboard.lock,
            Preflight::Check,
            labform_executor::Refresh::ReadConfigs,
            |connected| meters = super::metrics::Counters::meter(connected),
        )
        .await;
        // Whichever way this ends, the calls of the plan and the apply are counted.
        let _settle = Settle {
            counters: &dashboard.counters,
            caller: Caller::Controller,
            meters,
        };
        let mut against = match planned {
            Ok(Ok(against)) => against,
            Ok(Err(_)) => {
                controller.update(|status| {
                    status.plan_error = Some(
                        "the lab cannot be planned against its target (the server's output has the located problems)".to_owned(),
                    )
                });
                return false;
            }
            Err(error) => {
                dashboard.counters.failed(&error);
                controller.update(|status| status.plan_error = Some(format!("{error:#}")));
                return false;
            }
        };
        let drift = crate::commands::drift::ProxmoxDrift::of(&against);
        let drifted = drift
            .drifted
            .iter()
            .map(|(_, fields)| fields.len())
            .sum::<usize>()
            + drift.tenants.len()
            + drift.backup_jobs.len();
        let applied = self.applied.as_deref();
        if let Some(report) = self
            .drift
            .report(revision, applied, &drift, &against, dashboard, leader)
        {
            controller.update(|status| {
                status.drift_report = Some(report);
                status.drift_reports += 1;
            });
        }
        let clusters = clusters_apply(&against.plan, &dashboard.clusters, dashboard.target.sim);
        let changes =
            labform_planner::render::render_changes(&against.plan, &against.reconciliation);
        controller.update(|status| {
            status.plan_error = None;
            status.drift = drifted;
        });
        if against.reconciliation.is_empty() && !clusters {
            controller.update(|status| status.pending = None);
            return true;
        }
        if !leader {
            return true;
        }
        let pending = Pending {
            commit: Commit::from(revision),
            changes,
            drift: drifted,
        };
        let approval = controller.status().policy == ApplyPolicy::Approval;
        if approval
            && against.reconciliation.is_empty()
            && self.applied.as_deref() == Some(revision.commit.as_str())
        {
            // Approved once for this commit: the cluster phase alone does not ask again.
            controller.update(|status| status.pending = None);
            return true;
        }
        if approval {
            let approved = controller
                .approved
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            if approved.as_ref() != Some(&pending) {
                controller.update(|status| status.pending = Some(pending));
                return true;
            }
        }
        controller.update(|status| status.pending = None);
        if !against.reconciliation.conflicts.is_empty() {
            controller.update(|status| {
                status.last_apply = Some(LastApply {
                    commit: Commit::from(revision),
                    outcome: "refused: planned VM IDs are held by VMs this lab does not own"
                        .to_owned(),
                })
            });
            return true;
        }
        // Leadership is asked again right before acting: it may have been lost while planning.
        if !self.leading.borrow().leader {
            return true;
        }
        eprintln!(
            "labform controller: applying commit {} ({})",
            revision.short(),
            revision.subject
        );
        eprint!("{}", pending.changes);
        let recorded = against.lock.record(file, &against.allocations);
        let outcome = match recorded {
            Err(error) => format!("refused: {error}"),
            Ok(_) => {
                let options = ApplyOptions {
                    revision: Some(revision.commit.clone()),
                    cancel: controller.stop.child_token(),
                    ..ApplyOptions::default()
                };
                let carried = carry_out(
                    &against,
                    Carry {
                        file,
                        journal: dashboard.journal.as_deref(),
                        sim: dashboard.target.sim,
                        options,
                        clusters: &dashboard.clusters,
                        json: false,
                    },
                )
                .await;
                match carried {
                    Ok(Carried::Done) => "ok".to_owned(),
                    Ok(Carried::Interrupted) => "interrupted".to_owned(),
                    Ok(Carried::Failed(failures)) => format!("failed: {}", failures.join("; ")),
                    Ok(Carried::ClustersFailed) => "failed: a cluster did not converge".to_owned(),
                    Err(error) => format!("failed: {error:#}"),
                }
            }
        };
        eprintln!("labform controller: commit {}: {outcome}", revision.short());
        if outcome == "ok" {
            self.applied = Some(revision.commit.clone());
        }
        controller.update(|status| {
            status.last_apply = Some(LastApply {
                commit: Commit::from(revision),
                outcome,
            })
        });
        true
    }
}

/// The scope and name of the lab at `file`, when it loads.
fn scope_of(file: &Path) -> Option<(String, String)> {
    let loaded = labform_model::load(&labform_model::RealFileSystem, file);
    loaded
        .lab
        .map(|lab| (lab.scope().to_owned(), lab.name().to_owned()))
}

/// This replica's identity: `POD_NAME` (the Deployment sets it from the pod's name), else the
/// host name and the process ID.
pub fn default_identity() -> String {
    if let Ok(name) = std::env::var("POD_NAME")
        && !name.is_empty()
    {
        return name;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "labform".to_owned());
    format!("{host}-{}", std::process::id())
}

/// A duration as people write it: `90s`, `5m`, `1h`, `500ms`, or seconds alone.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (like 30s, 5m or 1h)"))?;
    let duration = match unit {
        "" | "s" => Duration::from_secs(number),
        "ms" => Duration::from_millis(number),
        "m" => Duration::from_secs(number * 60),
        "h" => Duration::from_secs(number * 3600),
        _ => return Err(format!("`{text}` is not a duration (like 30s, 5m or 1h)")),
    };
    if duration.is_zero() {
        return Err("a duration of zero is not allowed".to_owned());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 weeks").is_err());
    }
}
