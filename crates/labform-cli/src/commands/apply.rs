//! `labform apply FILE`: plan against what exists, show the changes, ask, and carry them out.
//! Ctrl-C stops starting new work and lets running Proxmox tasks finish; the next apply converges.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use labform_cloudinit::{PlanSeeds, StoredHostKeys};
use labform_executor::engine::{ApplyOptions, RebootPolicy, apply};
use labform_planner::render::render_changes;
use labform_secrets::SecretStore;

use crate::acting::{JournalArgs, Question, confirm};
use crate::clusters::{ClusterArgs, converge_clusters};
use crate::lab_input::LockArgs;
use crate::progress::Printer;
use crate::reality::{Against, Preflight, plan_against_target};
use crate::target::TargetArgs;

/// Arguments of `labform apply`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// Where to act.
    #[command(flatten)]
    pub target: TargetArgs,
    /// The lock file: the allocations this apply decides are recorded in it before acting.
    #[command(flatten)]
    pub lock: LockArgs,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print progress as JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// Reboot VMs whose changes only take effect at the next boot.
    #[arg(long)]
    pub reboot: bool,
    /// VMs worked on at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Clones at once per storage.
    #[arg(long, default_value_t = 4)]
    pub clones_per_storage: usize,
    /// Do not wait for new VMs' guest agents to report their planned addresses.
    #[arg(long)]
    pub no_wait: bool,
    /// The journal the run is recorded in.
    #[command(flatten)]
    pub journal: JournalArgs,
    /// The cluster phase.
    #[command(flatten)]
    pub clusters: ClusterArgs,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::runtime().block_on(run_async(args))
}

async fn run_async(args: Args) -> anyhow::Result<ExitCode> {
    let mut against =
        match plan_against_target(&args.file, &args.target, &args.lock, Preflight::Check).await? {
            Ok(against) => against,
            Err(code) => return Ok(code),
        };
    eprintln!("Target: {}", against.connected.description);
    let journal = Arc::new(args.journal.open(&against.plan.scope, args.target.sim)?);
    eprint!("{}", render_changes(&against.plan, &against.reconciliation));
    // The allocations are decided: record them before acting, so a crash cannot lose them.
    if let Err(error) = against.lock.record(&args.file, &against.allocations) {
        return Ok(crate::lab_input::refused(&error));
    }
    // The simulator's own VMs are state only: nothing boots, so no cluster can be installed.
    let clusters_apply = clusters_apply(&against.plan, &args.clusters, args.target.sim);
    if against.plan.clusters.iter().any(|c| c.bootstrap_supported) && args.target.sim {
        eprintln!(
            "note: the built-in simulator's VMs do not boot, so no cluster is made on them (try `labform sim serve --qemu` for VMs that boot)"
        );
    }
    // A replacement a killed `labform replace` left is finished first (one that needs its
    // cluster steps only when this apply has a cluster phase).
    let unfinished = journal
        .unfinished_replacement(&against.plan.scope)?
        .filter(|record| {
            let resumable = !record.cluster_steps || clusters_apply;
            if !resumable {
                eprintln!(
                    "note: the replacement of {} was stopped before it finished and needs its cluster steps; run `labform replace {} {}` to finish it",
                    record.vm,
                    args.file.display(),
                    record.vm
                );
            }
            resumable
        });
    if against.reconciliation.is_empty() && !clusters_apply && unfinished.is_none() {
        eprintln!("Nothing to do.");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(record) = &unfinished {
        eprintln!(
            "First, the replacement of {} that was stopped before it finished ({} step(s) were done).",
            record.vm,
            record.done.len()
        );
    }
    if clusters_apply {
        eprintln!("{}", cluster_phase_summary(&against.plan));
    }
    if !against.reconciliation.conflicts.is_empty() {
        eprintln!(
            "error: planned VM IDs are held by VMs this lab does not own (listed above with `!`); nothing was changed"
        );
        return Ok(ExitCode::from(1));
    }
    let question = Question {
        acts: "apply changes Proxmox",
        prompt: &format!(
            "Apply these changes to {}? [y/N] ",
            against.connected.description
        ),
        typed: None,
        declined: "Nothing changed.",
    };
    if let Some(code) = confirm(args.yes, &question)? {
        return Ok(code);
    }
    let options = ApplyOptions {
        concurrency: args.concurrency,
        clones_per_storage: args.clones_per_storage,
        reboot: if args.reboot {
            RebootPolicy::IfNeeded
        } else {
            RebootPolicy::Never
        },
        agent_timeout: (!args.no_wait).then_some(Duration::from_secs(900)),
        ..ApplyOptions::default()
    };
    let cancel = options.cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\nInterrupted: no new work starts; waiting for running Proxmox tasks to finish (Ctrl-C again to quit at once)."
            );
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    // The unfinished replacement first; then what it changed is discovered again.
    let mut replacement_failed = false;
    if let Some(record) = unfinished {
        match crate::commands::replace::finish_unfinished(
            &args.file,
            &against,
            &args.clusters,
            &journal,
            record,
        )
        .await?
        {
            Some(true) => {
                against = match plan_against_target(
                    &args.file,
                    &args.target,
                    &args.lock,
                    Preflight::Skip,
                )
                .await?
                {
                    Ok(against) => against,
                    Err(code) => return Ok(code),
                };
                eprint!("{}", render_changes(&against.plan, &against.reconciliation));
            }
            Some(false) => replacement_failed = true,
            None => {}
        }
    }
    let carried = carry_out(
        &against,
        Carry {
            file: &args.file,
            journal: args.journal.path.as_deref(),
            sim: args.target.sim,
            options,
            clusters: &args.clusters,
            json: args.json,
        },
    )
    .await?;
    if replacement_failed && carried == Carried::Done {
        eprintln!(
            "The replacement above was not finished; run `labform apply` or `labform replace` again."
        );
        return Ok(ExitCode::from(3));
    }
    Ok(carried.exit_code())
}

/// Whether apply goes on to the clusters: not skipped, not on the built-in simulator (its VMs
/// do not boot), and a cluster labform bootstraps.
pub fn clusters_apply(plan: &labform_planner::Plan, clusters: &ClusterArgs, sim: bool) -> bool {
    !clusters.skip_clusters
        && !sim
        && plan
            .clusters
            .iter()
            .any(|cluster| cluster.bootstrap_supported)
}

/// How a decided apply is carried out: `labform apply`'s options, or the controller's.
pub struct Carry<'a> {
    /// The lab file (the cluster phase reads its directory).
    pub file: &'a Path,
    /// The journal file, when not the scope's default.
    pub journal: Option<&'a Path>,
    /// Whether the target is the built-in simulator (its own journal; no cluster phase).
    pub sim: bool,
    /// The apply's knobs (the revision recorded with the run among them).
    pub options: ApplyOptions,
    /// The cluster phase's options.
    pub clusters: &'a ClusterArgs,
    /// Progress as JSON lines.
    pub json: bool,
}

/// How a carried-out apply ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carried {
    /// Everything was done.
    Done,
    /// Ctrl-C (or the controller stopping) ended it early.
    Interrupted,
    /// These VM jobs failed; the clusters were not touched.
    Failed(Vec<String>),
    /// The VMs were done; a cluster did not converge.
    ClustersFailed,
}

impl Carried {
    /// `labform apply`'s exit code for it.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Carried::Done => ExitCode::SUCCESS,
            Carried::Interrupted => ExitCode::from(130),
            Carried::Failed(_) | Carried::ClustersFailed => ExitCode::from(3),
        }
    }
}

/// Carries out the apply `against` decided: the VMs through the executor (journaled, seed
/// images with labform's host keys), then the cluster phase when [`clusters_apply`] says so.
pub async fn carry_out(against: &Against, carry: Carry<'_>) -> anyhow::Result<Carried> {
    let clusters_apply = clusters_apply(&against.plan, carry.clusters, carry.sim);
    let scope = against.plan.scope.clone();
    let journal = Arc::new(crate::open_journal(carry.journal, &scope, carry.sim)?);
    // Seed images carry the VMs' host keys, kept in labform's secret store.
    let store = SecretStore::open_default().context("cannot open labform's secret store")?;
    let host_keys = StoredHostKeys::new(&store, scope.clone());
    let seeds = lab_seeds(&against.plan, &host_keys, &store);
    let printer = Arc::new(Printer::new(carry.json));
    if against.reconciliation.is_empty() {
        eprintln!("The VMs are as planned.");
    } else {
        let report = apply(
            &against.plan,
            &against.reconciliation,
            &against.connected.endpoints,
            &seeds,
            carry.options,
            journal,
            printer,
        )
        .await?;
        for failure in &report.failed {
            eprintln!("error: {failure}");
        }
        if report.interrupted {
            eprintln!("Stopped early; run `labform apply` again to converge.");
            return Ok(Carried::Interrupted);
        }
        if !report.failed.is_empty() {
            if clusters_apply {
                eprintln!(
                    "The clusters were not touched because VMs failed; run `labform apply` again."
                );
            }
            return Ok(Carried::Failed(report.failed));
        }
    }
    if clusters_apply {
        let converged = converge_clusters(
            carry.file,
            &against.plan,
            &store,
            carry.clusters,
            carry.json,
        )
        .await?;
        if !converged {
            return Ok(Carried::ClustersFailed);
        }
    }
    Ok(Carried::Done)
}

/// What the cluster phase will do, by distribution.
pub fn cluster_phase_summary(plan: &labform_planner::Plan) -> String {
    use labform_planner::plan::Distribution;
    let mut lines = Vec::new();
    for distribution in [
        Distribution::K3s,
        Distribution::Kubeadm,
        Distribution::Talos,
    ] {
        if !plan
            .clusters
            .iter()
            .any(|cluster| cluster.bootstrap_supported && cluster.distribution == distribution)
        {
            continue;
        }
        lines.push(match distribution {
            Distribution::K3s => "Then K3s on the cluster VMs over SSH: installed, upgraded or reconfigured where their files differ, add-ons delivered.",
            Distribution::Talos => "Then Talos through its API: machine configurations applied where they differ, etcd bootstrapped once, nodes upgraded one at a time; add-ons are not delivered to Talos clusters yet.",
            Distribution::Kubeadm => "Then kubeadm on the cluster VMs over SSH: nodes prepared, kubeadm init and joins where a node is not in the cluster, upgrades one minor at a time, add-ons delivered. On nodes in the cluster a changed kubeadm configuration is compared with the node's first, as the plan says: node labels and the taints labform gave are set through the API (others' taints kept), and what kubeadm cannot change on a formed cluster (networks, endpoint, certificate names, etcd, a node's address, a control plane's taints to or from kubeadm's default) is refused before any node is touched.",
        });
    }
    lines.join("\n")
}

/// The seeds of `plan`'s VMs, cloud-init's with the host keys of `host_keys` and Talos nodes'
/// from `store`.
pub(crate) fn lab_seeds<'a>(
    plan: &'a labform_planner::Plan,
    host_keys: &'a StoredHostKeys,
    store: &'a SecretStore,
) -> LabSeeds<'a> {
    LabSeeds {
        cloud_init: PlanSeeds::new(plan, host_keys),
        talos: labform_talos::seed::TalosSeeds::new(plan, store),
    }
}

/// The seeds of the lab's VMs: cloud-init's (with labform's host keys) and Talos nodes' (their
/// machine configurations, from each cluster's secrets bundle). Made by [`lab_seeds`] only, for
/// apply, replace and restore alike.
pub(crate) struct LabSeeds<'a> {
    cloud_init: PlanSeeds<'a>,
    talos: labform_talos::seed::TalosSeeds<'a>,
}

impl labform_cloudinit::SeedSource for LabSeeds<'_> {
    fn seed_files(
        &self,
        vm: &labform_planner::plan::PlannedVm,
    ) -> Result<labform_cloudinit::SeedFiles, labform_cloudinit::CloudInitError> {
        if vm.boot == "talos" {
            self.talos.seed_files(vm)
        } else {
            self.cloud_init.seed_files(vm)
        }
    }
}
