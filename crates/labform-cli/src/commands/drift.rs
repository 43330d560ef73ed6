//! `labform drift FILE`: changes made on Proxmox by hand to VMs this lab owns, field by field, and
//! to its tenants' users, API tokens and ACL entries (and pools) and to its backup jobs; then, over SSH, every cluster node's files, service and add-on manifests that differ from what
//! apply would put there (nothing is changed). Exit 0 without drift, 2 with drift (the lab's
//! own pending VM changes are listed, not counted).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use labform_planner::backups::BackupJobChange;
use labform_planner::reconcile::{FieldChange, VmAction, VmChange};
use labform_planner::tenancy::TenantChange;

use crate::reality::{Preflight, plan_against_target};
use crate::target::TargetArgs;

/// Arguments of `labform drift`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// The lock file (read and checked; this command never writes it).
    #[command(flatten)]
    pub lock: crate::lab_input::LockArgs,
    /// Where to look.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
    /// K3s release files to compare node binaries with (as for apply); only the release's
    /// checksum list is read.
    #[arg(long, env = "LABFORM_K3S_ARTIFACTS", value_name = "DIR|URL")]
    pub k3s_artifacts: Option<String>,
    /// kubeadm's air-gap directory to compare nodes with (as for apply).
    #[arg(long, env = "LABFORM_KUBERNETES_ARTIFACTS", value_name = "DIR")]
    pub kubernetes_artifacts: Option<std::path::PathBuf>,
    /// Look at the VMs only, not at the K3s nodes.
    #[arg(long)]
    pub skip_clusters: bool,
}

/// What was changed by hand on Proxmox, and how many of the lab's own changes wait.
pub struct ProxmoxDrift<'a> {
    /// Each drifted VM and its drifted fields.
    pub drifted: Vec<(&'a VmChange, Vec<&'a FieldChange>)>,
    /// Tenants' pools, users, tokens and ACL entries changed outside labform.
    pub tenants: Vec<&'a TenantChange>,
    /// Backup jobs changed outside labform.
    pub backup_jobs: Vec<&'a BackupJobChange>,
    /// The lab's own changes waiting for apply.
    pub pending: usize,
}

impl<'a> ProxmoxDrift<'a> {
    /// The drift in `against`'s reconciliation.
    pub fn of(against: &'a crate::reality::Against) -> Self {
        let mut drifted = Vec::new();
        let mut pending = 0;
        for change in &against.reconciliation.changes {
            if let VmAction::Update { changes } = &change.action {
                let fields: Vec<_> = changes.iter().filter(|field| field.drift).collect();
                if fields.is_empty() {
                    pending += 1;
                } else {
                    drifted.push((change, fields));
                }
            } else if change.action != VmAction::Unchanged {
                pending += 1;
            }
        }
        let tenants: Vec<_> = against
            .reconciliation
            .tenants
            .iter()
            .filter(|change| change.drift)
            .collect();
        pending += against.reconciliation.tenants.len() - tenants.len();
        let backup_jobs: Vec<_> = against
            .reconciliation
            .backup_jobs
            .iter()
            .filter(|change| change.drift)
            .collect();
        pending += against.reconciliation.backup_jobs.len() - backup_jobs.len();
        ProxmoxDrift {
            drifted,
            tenants,
            backup_jobs,
            pending,
        }
    }

    /// `drift --json` without the clusters' nodes (`labform serve`'s `/drift` answers the same).
    pub fn json(&self, against: &crate::reality::Against) -> serde_json::Value {
        serde_json::json!({
            "drift": self.drifted.iter().map(|(change, fields)| serde_json::json!({
                "name": change.name, "vm_id": change.vm_id, "node": change.node, "fields": fields,
            })).collect::<Vec<_>>(),
            "tenants": self.tenants,
            "tenant_conflicts": against.reconciliation.tenant_conflicts,
            "backup_jobs": self.backup_jobs,
            "backup_job_conflicts": against.reconciliation.backup_job_conflicts,
            "lab_changes_pending": self.pending,
        })
    }
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::runtime().block_on(async {
        let against = match plan_against_target(&args.file, &args.target, &args.lock, Preflight::Skip).await? {
            Ok(against) => against,
            Err(code) => return Ok(code),
        };
        let found = ProxmoxDrift::of(&against);
        let mut value = found.json(&against);
        let ProxmoxDrift {
            drifted,
            tenants: tenants_drifted,
            backup_jobs: backup_jobs_drifted,
            pending,
        } = found;
        if !args.json {
            for (change, fields) in &drifted {
                println!("{} ({}) on {}:", change.name, change.vm_id, change.node);
                for field in fields {
                    println!(
                        "  {}: lab {} / Proxmox {}",
                        field.field,
                        field.desired.as_deref().unwrap_or("(unset)"),
                        field.observed.as_deref().unwrap_or("(unset)")
                    );
                }
            }
            for change in &tenants_drifted {
                println!(
                    "{} {} on {}: changed outside labform",
                    change.step.kind(),
                    change.step.target(),
                    change.endpoint
                );
            }
            for conflict in &against.reconciliation.tenant_conflicts {
                println!("tenant `{}` on {}: {conflict}", conflict.tenant, conflict.endpoint);
            }
            for change in &backup_jobs_drifted {
                println!("{change}: changed outside labform");
            }
            for conflict in &against.reconciliation.backup_job_conflicts {
                println!("{conflict}");
            }
            if !backup_jobs_drifted.is_empty() {
                println!(
                    "{} backup job(s) drifted; `labform apply` puts them back.",
                    backup_jobs_drifted.len()
                );
            }
            if !tenants_drifted.is_empty() {
                println!(
                    "{} pool, user, token or ACL change(s) put back what was changed outside labform; `labform apply` makes them.",
                    tenants_drifted.len()
                );
            }
            if drifted.is_empty() && tenants_drifted.is_empty() && backup_jobs_drifted.is_empty() {
                println!("No drift on {}.", against.connected.description);
            } else if !drifted.is_empty() {
                println!(
                    "{} VM(s) drifted; `labform apply` puts them back.",
                    drifted.len()
                );
            }
            if pending > 0 {
                println!(
                    "{pending} change(s) from the lab itself are waiting for `labform apply`."
                );
            }
        }
        let nodes_drifted = if args.skip_clusters || args.target.sim {
            0
        } else {
            let (count, clusters) = clusters_drift(&args, &against.plan).await?;
            value["clusters"] = clusters;
            count
        };
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).expect("serialisable")
            );
        }
        Ok(if drifted.is_empty()
            && tenants_drifted.is_empty()
            && backup_jobs_drifted.is_empty()
            && nodes_drifted == 0
        {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        })
    })
}

/// Prints how the K3s nodes differ from what apply would put there (unless `--json`); returns
/// how many do, and the same as JSON.
async fn clusters_drift(
    args: &Args,
    plan: &labform_planner::Plan,
) -> anyhow::Result<(usize, serde_json::Value)> {
    use labform_kubernetes::distribution::ClusterContext;

    let clusters: Vec<_> = plan
        .clusters
        .iter()
        .filter(|cluster| cluster.bootstrap_supported)
        .collect();
    if clusters.is_empty() {
        return Ok((0, serde_json::json!([])));
    }
    let store = labform_secrets::SecretStore::open_default()
        .context("cannot open labform's secret store")?;
    let table = crate::clusters::distributions(
        args.k3s_artifacts.as_deref(),
        args.kubernetes_artifacts.as_deref(),
    )?;
    let ssh = crate::clusters::labform_ssh_client(&store, &plan.scope)?;
    let resolve = crate::clusters::secret_resolver(&args.file, &store);
    let progress = crate::clusters::ProgressLines::new(false);
    let mut options = crate::clusters::cluster_options();
    // Looking, not waiting for nodes to boot.
    options.ssh_ready_timeout = options.ssh_ready_timeout.min(Duration::from_secs(30));
    let context = ClusterContext {
        plan,
        store: &store,
        ssh: &ssh,
        resolve_secret: &resolve,
        options,
        progress: &progress,
    };
    let mut drifted = 0;
    let mut report = Vec::new();
    for cluster in clusters {
        let Some(distribution) = table.for_cluster(cluster) else {
            continue;
        };
        let addons = labform_kubernetes::addon_manifests(plan, cluster)
            .map_err(|error| anyhow::anyhow!(crate::error_chain(&error)))?;
        let nodes = distribution
            .drift(&context, cluster, &addons)
            .await
            .map_err(|error| anyhow::anyhow!(crate::error_chain(&*error)))?;
        for node in nodes.iter().filter(|node| node.drifted()) {
            drifted += 1;
            if args.json {
                continue;
            }
            println!("cluster {}, node {}:", cluster.name, node.node);
            if let Some(reason) = &node.unreachable {
                println!("  not reachable: {reason}");
            }
            if !node.files.is_empty() {
                println!("  files differ or are missing: {}", node.files.join(", "));
            }
            if let Some(state) = &node.service {
                println!(
                    "  {} service is {state}, not running",
                    distribution_name(cluster.distribution)
                );
            }
            if let Some(version) = &node.version {
                println!(
                    "  runs {} {version}, the plan says {}",
                    distribution_name(cluster.distribution),
                    cluster.version
                );
            }
            if !node.manifests.is_empty() {
                println!(
                    "  add-on manifests differ or are missing: {}",
                    node.manifests.join(", ")
                );
            }
            if !node.extra_manifests.is_empty() {
                println!(
                    "  add-on manifests the lab no longer has: {}",
                    node.extra_manifests.join(", ")
                );
            }
        }
        report.push(serde_json::json!({
            "cluster": cluster.name,
            "nodes": nodes.iter().filter(|node| node.drifted()).map(|node| serde_json::json!({
                "node": node.node,
                "files": node.files,
                "service": node.service,
                "version": node.version,
                "manifests": node.manifests,
                "extra_manifests": node.extra_manifests,
                "unreachable": node.unreachable,
            })).collect::<Vec<_>>(),
        }));
    }
    if !args.json {
        if drifted == 0 {
            println!("The cluster nodes are as labform would make them.");
        } else {
            println!("{drifted} cluster node(s) differ; `labform apply` puts them back.");
        }
    }
    Ok((drifted, serde_json::Value::Array(report)))
}

/// How the distribution is named in sentences (`K3s`).
fn distribution_name(distribution: labform_planner::plan::Distribution) -> &'static str {
    use labform_planner::plan::Distribution;
    match distribution {
        Distribution::K3s => "K3s",
        Distribution::Kubeadm => "kubelet",
        Distribution::Talos => "Talos",
    }
}
