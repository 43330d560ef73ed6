//! `labform replace FILE VM`: throws one VM away and brings it back with the same identity (VM
//! ID, MAC, address, SSH host keys). A Kubernetes node is cordoned, drained (evictions honour
//! PodDisruptionBudgets), taken out of its cluster by its distribution, deleted, created again,
//! rejoined through the distribution seam, waited for until Ready and uncordoned; a control
//! plane only while the others keep etcd's quorum. The steps are the planner's
//! (`labform_planner::replacement`); this module carries them out in order and records each one
//! done in the journal, so a killed replacement is finished by the next `replace` or `apply`
//! ([`finish_unfinished`]). `--dry-run` prints the steps and stops.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use labform_cloudinit::StoredHostKeys;
use labform_executor::Journal;
use labform_executor::engine::{ApplyOptions, apply};
use labform_executor::journal::ReplacementRecord;
use labform_kubernetes::cluster_api::ClusterApi;
use labform_kubernetes::distribution::{ClusterContext, stored_cluster_api};
use labform_planner::Plan;
use labform_planner::plan::{PlannedCluster, PlannedDatastore};
use labform_planner::reconcile::{Reconciliation, VmAction, VmChange};
use labform_planner::replacement::{
    Replacement, ReplacementFacts, ReplacementStepKind, cluster_of, find_vm, plan_replacement,
};
use labform_secrets::SecretStore;

use crate::acting::{JournalArgs, Question, confirm};
use crate::clusters::{
    ClusterArgs, ProgressLines, cluster_options, distributions, labform_ssh_client, secret_resolver,
};
use crate::lab_input::LockArgs;
use crate::progress::Printer;
use crate::reality::{Against, Preflight, plan_against_target};
use crate::target::TargetArgs;

/// Arguments of `labform replace`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// The VM to replace, by name (`home-agent-0`).
    pub vm: String,
    /// Where to act.
    #[command(flatten)]
    pub target: TargetArgs,
    /// The lock file: it keeps the VM's ID and address while the VM is gone.
    #[command(flatten)]
    pub lock: LockArgs,
    /// Print the replacement's steps and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// The journal the run is recorded in.
    #[command(flatten)]
    pub journal: JournalArgs,
    /// The cluster steps (`--skip-clusters` recreates the VM only).
    #[command(flatten)]
    pub clusters: ClusterArgs,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::runtime().block_on(run_async(args))
}

async fn run_async(args: Args) -> anyhow::Result<ExitCode> {
    if args.lock.no_lock {
        eprintln!(
            "error: replace keeps the VM's ID and address in the lock file while the VM is gone; drop --no-lock"
        );
        return Ok(ExitCode::from(2));
    }
    let mut against =
        match plan_against_target(&args.file, &args.target, &args.lock, Preflight::Check).await? {
            Ok(against) => against,
            Err(code) => return Ok(code),
        };
    eprintln!("Target: {}", against.connected.description);
    let scope = against.plan.scope.clone();
    let journal = Arc::new(args.journal.open(&scope, args.target.sim)?);
    let unfinished = journal.unfinished_replacement(&scope)?;
    if let Some(record) = &unfinished
        && record.vm != args.vm
    {
        eprintln!(
            "error: the replacement of {} was stopped before it finished; finish it first with `labform replace {} {}` (or `labform apply`)",
            record.vm,
            args.file.display(),
            record.vm
        );
        return Ok(ExitCode::from(1));
    }
    if let Err(refusal) = find_vm(&against.plan, &args.vm) {
        return Ok(refused(&refusal));
    }
    let store = SecretStore::open_default().context("cannot open labform's secret store")?;
    let cluster_steps = match &unfinished {
        Some(record) => record.cluster_steps,
        None => !args.clusters.skip_clusters && !args.target.sim,
    };
    if args.target.sim && !args.clusters.skip_clusters {
        eprintln!(
            "note: the built-in simulator's VMs do not boot, so there is no cluster to take the node out of"
        );
    }
    let done = done_steps(unfinished.as_ref());
    let replacement = match plan(&against.plan, &args.vm, cluster_steps, &done, &store).await? {
        Ok(replacement) => replacement,
        Err(code) => return Ok(code),
    };
    eprint!("{}", replacement.render(&done));
    if args.dry_run {
        eprintln!("Dry run: nothing was changed.");
        return Ok(ExitCode::SUCCESS);
    }
    // The VM's ID and address must outlive the VM: record them before acting.
    if let Err(error) = against.lock.record(&args.file, &against.allocations) {
        return Ok(crate::lab_input::refused(&error));
    }
    let question = Question {
        acts: "replace deletes a VM",
        prompt: &format!("Replace {}? [y/N] ", replacement.vm),
        typed: None,
        declined: "Nothing changed.",
    };
    if let Some(code) = confirm(args.yes, &question)? {
        return Ok(code);
    }
    let record = match unfinished {
        Some(record) => record,
        None => journal.begin_replacement(&scope, &replacement.vm, cluster_steps)?,
    };
    let work = Work {
        file: &args.file,
        against: &against,
        clusters: &args.clusters,
        journal,
        store: &store,
    };
    Ok(if work.carry_out(&replacement, &done, record.id).await {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// Prints a refusal with its hint; exit code 1.
fn refused(refusal: &labform_planner::replacement::ReplacementRefusal) -> ExitCode {
    eprintln!("error: {refusal}");
    eprintln!("  hint: {}", refusal.hint());
    ExitCode::from(1)
}

/// The steps `record` says are done.
fn done_steps(record: Option<&ReplacementRecord>) -> Vec<ReplacementStepKind> {
    record
        .map(|record| {
            record
                .done
                .iter()
                .filter_map(|name| ReplacementStepKind::parse(name))
                .collect()
        })
        .unwrap_or_default()
}

/// Plans the replacement of `vm`: with its cluster steps, the control planes' readiness is
/// asked first so that etcd's quorum is judged on what runs (not when finishing a replacement
/// whose node has already left). `Err(code)` when refused or the cluster cannot be asked
/// (printed).
async fn plan(
    plan: &Plan,
    vm: &str,
    cluster_steps: bool,
    done: &[ReplacementStepKind],
    store: &SecretStore,
) -> anyhow::Result<Result<Replacement, ExitCode>> {
    let check_quorum = !done.contains(&ReplacementStepKind::LeaveCluster);
    let mut facts = ReplacementFacts {
        cluster_steps,
        not_ready: None,
        check_quorum,
    };
    if let Some((cluster, role)) = cluster_of(plan, vm)
        && cluster_steps
        && check_quorum
        && cluster.bootstrap_supported
        && role.is_server()
        && cluster.state == PlannedDatastore::EmbeddedEtcd
    {
        let servers: Vec<String> = cluster
            .nodes
            .iter()
            .filter(|node| node.role.is_server())
            .map(|node| node.vm.clone())
            .collect();
        let asked = async {
            let api = stored_cluster_api(store, &plan.scope, cluster).await?;
            api.not_ready(&servers).await.map_err(|source| {
                labform_kubernetes::distribution::StoredApiError::Api {
                    cluster: cluster.name.clone(),
                    doing: "asking which control planes are Ready".to_owned(),
                    source,
                }
            })
        };
        match asked.await {
            Ok(not_ready) => {
                facts.not_ready = Some(not_ready.into_iter().map(|node| node.name).collect());
            }
            Err(error) => {
                eprintln!("error: {}", crate::error_chain(&error));
                eprintln!(
                    "  hint: etcd's quorum cannot be checked without the cluster's API; `--skip-clusters` recreates the VM only"
                );
                return Ok(Err(ExitCode::from(3)));
            }
        }
    }
    Ok(match plan_replacement(plan, vm, &facts) {
        Ok(replacement) => Ok(replacement),
        Err(refusal) => Err(refused(&refusal)),
    })
}

/// What carrying out a replacement needs.
struct Work<'a> {
    file: &'a Path,
    against: &'a Against,
    clusters: &'a ClusterArgs,
    journal: Arc<Journal>,
    store: &'a SecretStore,
}

impl Work<'_> {
    /// Carries out the steps of `replacement` not in `done`, recording each one done in
    /// replacement `record` of the journal, and the replacement finished after the last.
    /// Returns whether every step succeeded (failures are printed).
    async fn carry_out(
        &self,
        replacement: &Replacement,
        done: &[ReplacementStepKind],
        record: i64,
    ) -> bool {
        let total = replacement.steps.len();
        // The VM exists as discovery found it until this run deletes it.
        let mut deleted_here = false;
        for (number, step) in replacement.steps.iter().enumerate() {
            if done.contains(&step.kind) {
                continue;
            }
            eprintln!("[{}/{total}] {}", number + 1, step.action);
            let outcome = self.step(replacement, step.kind, &mut deleted_here).await;
            if let Err(error) = outcome {
                eprintln!("error: {}", crate::error_chain(error.as_ref()));
                eprintln!(
                    "Stopped at step {} of {total}; run `labform replace {} {}` again (or `labform apply`) to finish.",
                    number + 1,
                    self.file.display(),
                    replacement.vm
                );
                return false;
            }
            if let Err(error) = self.journal.replacement_step_done(record, step.kind.name()) {
                eprintln!("error: {}", crate::error_chain(&error));
                return false;
            }
        }
        if let Err(error) = self.journal.finish_replacement(record) {
            eprintln!("error: {}", crate::error_chain(&error));
            return false;
        }
        let address = replacement
            .address
            .map(|address| format!(", address {address}"))
            .unwrap_or_default();
        eprintln!(
            "Replaced {}: VM ID {}, MAC {}{address}.",
            replacement.vm, replacement.vm_id, replacement.mac
        );
        true
    }

    /// Carries out one step.
    async fn step(
        &self,
        replacement: &Replacement,
        kind: ReplacementStepKind,
        deleted_here: &mut bool,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let plan = &self.against.plan;
        let node = replacement.vm.as_str();
        match kind {
            ReplacementStepKind::DeleteVm => {
                let change = self.vm_change(node)?;
                if change.action != VmAction::Create {
                    let delete = VmChange {
                        action: VmAction::Delete { protected: false },
                        ..change
                    };
                    self.apply_one(delete).await?;
                }
                *deleted_here = true;
                Ok(())
            }
            ReplacementStepKind::CreateVm => {
                let mut change = self.vm_change(node)?;
                if *deleted_here {
                    change.action = VmAction::Create;
                    let planned = plan
                        .vms
                        .iter()
                        .find(|vm| vm.name == node)
                        .ok_or("the VM left the plan")?;
                    change.node = planned.node.clone();
                }
                if change.action != VmAction::Unchanged {
                    self.apply_one(change).await?;
                }
                Ok(())
            }
            ReplacementStepKind::Cordon => Ok(self.api(node).await?.cordon(node).await?),
            ReplacementStepKind::Drain => {
                let report = self
                    .api(node)
                    .await?
                    .drain(node, cluster_options().drain_timeout)
                    .await?;
                eprintln!("      {} pod(s) evicted", report.evicted.len());
                Ok(())
            }
            ReplacementStepKind::WaitReady => {
                let options = cluster_options();
                Ok(self
                    .api(node)
                    .await?
                    .wait_ready(&[node.to_owned()], options.ready_timeout, options.poll)
                    .await?)
            }
            ReplacementStepKind::Uncordon => Ok(self.api(node).await?.uncordon(node).await?),
            ReplacementStepKind::LeaveCluster | ReplacementStepKind::Rejoin => {
                self.distribution_step(node, kind).await
            }
        }
    }

    /// The reconciliation's change for VM `name` (`create` when it does not exist).
    fn vm_change(&self, name: &str) -> Result<VmChange, String> {
        self.against
            .reconciliation
            .changes
            .iter()
            .find(|change| !change.template && change.name == name)
            .cloned()
            .ok_or_else(|| format!("the reconciliation has no change for {name}"))
    }

    /// Applies `change` alone (with the templates as they are, so a missing one is made).
    async fn apply_one(
        &self,
        change: VmChange,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mut changes: Vec<VmChange> = self
            .against
            .reconciliation
            .changes
            .iter()
            .filter(|other| other.template && !matches!(other.action, VmAction::Delete { .. }))
            .cloned()
            .collect();
        changes.push(change);
        let reconciliation = Reconciliation {
            changes,
            ..Reconciliation::default()
        };
        let plan = &self.against.plan;
        let host_keys = StoredHostKeys::new(self.store, plan.scope.clone());
        let seeds = crate::commands::apply::lab_seeds(plan, &host_keys, self.store);
        let options = ApplyOptions {
            agent_timeout: Some(Duration::from_secs(900)),
            ..ApplyOptions::default()
        };
        let report = apply(
            plan,
            &reconciliation,
            &self.against.connected.endpoints,
            &seeds,
            options,
            Arc::clone(&self.journal),
            Arc::new(Printer::new(false)),
        )
        .await?;
        if report.failed.is_empty() && !report.interrupted {
            Ok(())
        } else {
            Err(report.failed.join("; ").into())
        }
    }

    /// The cluster `node` is in.
    fn cluster(&self, node: &str) -> Result<&PlannedCluster, String> {
        cluster_of(&self.against.plan, node)
            .map(|(cluster, _)| cluster)
            .ok_or_else(|| format!("{node} is in no cluster of the plan"))
    }

    /// The Kubernetes API of `node`'s cluster, from the kubeconfig labform keeps.
    async fn api(
        &self,
        node: &str,
    ) -> Result<ClusterApi, Box<dyn std::error::Error + Send + Sync>> {
        let cluster = self.cluster(node)?;
        Ok(stored_cluster_api(self.store, &self.against.plan.scope, cluster).await?)
    }

    /// A step the distribution carries out: taking the node out of its cluster, or converging
    /// the cluster (which joins the new node).
    async fn distribution_step(
        &self,
        node: &str,
        kind: ReplacementStepKind,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let plan = &self.against.plan;
        let cluster = self.cluster(node)?;
        let table = distributions(
            self.clusters.k3s_artifacts.as_deref(),
            self.clusters.kubernetes_artifacts.as_deref(),
        )?;
        let distribution = table.for_cluster(cluster).ok_or_else(|| {
            format!(
                "cluster {} uses {}: this labform has no implementation of it",
                cluster.name, cluster.distribution
            )
        })?;
        let ssh = labform_ssh_client(self.store, &plan.scope)?;
        let resolve = secret_resolver(self.file, self.store);
        let progress = ProgressLines::new(false);
        let context = ClusterContext {
            plan,
            store: self.store,
            ssh: &ssh,
            resolve_secret: &resolve,
            options: cluster_options(),
            progress: &progress,
        };
        if kind == ReplacementStepKind::LeaveCluster {
            let planned = cluster
                .nodes
                .iter()
                .find(|planned| planned.vm == node)
                .ok_or("the node left its cluster in the plan")?;
            return distribution.leave(&context, cluster, planned).await;
        }
        let addons = labform_kubernetes::addon_manifests(plan, cluster)?;
        distribution.converge(&context, cluster, &addons).await?;
        Ok(())
    }
}

/// Finishes replacement `record`, which a killed `labform replace` left (called by `apply`
/// before its own work): prints the remaining steps and carries them out. Returns `Ok(None)`
/// when its VM left the lab (the record is closed), `Ok(Some(true))` when it was finished,
/// `Ok(Some(false))` when it failed or was refused (printed).
pub async fn finish_unfinished(
    file: &Path,
    against: &Against,
    clusters: &ClusterArgs,
    journal: &Arc<Journal>,
    record: ReplacementRecord,
) -> anyhow::Result<Option<bool>> {
    if find_vm(&against.plan, &record.vm).is_err() {
        eprintln!(
            "note: the replacement of {} was stopped before it finished, and the lab no longer has that VM; it is dropped",
            record.vm
        );
        journal.finish_replacement(record.id)?;
        return Ok(None);
    }
    let store = SecretStore::open_default().context("cannot open labform's secret store")?;
    let done = done_steps(Some(&record));
    let replacement = match plan(
        &against.plan,
        &record.vm,
        record.cluster_steps,
        &done,
        &store,
    )
    .await?
    {
        Ok(replacement) => replacement,
        Err(_) => return Ok(Some(false)),
    };
    eprint!("{}", replacement.render(&done));
    let work = Work {
        file,
        against,
        clusters,
        journal: Arc::clone(journal),
        store: &store,
    };
    Ok(Some(work.carry_out(&replacement, &done, record.id).await))
}
