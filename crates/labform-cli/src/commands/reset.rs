//! `labform reset FILE CLUSTER`: takes the cluster off every node of one cluster through its
//! distribution (K3s over SSH: services, containers, mounts, network interfaces, state,
//! labform's files; Talos through its API: each node wiped back to maintenance mode, workers
//! first) and forgets its kubeconfig. The VMs stay; the next `labform apply` makes a fresh
//! cluster on them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use labform_kubernetes::distribution::ClusterContext;
use labform_secrets::SecretStore;

use crate::acting::{Question, confirm};
use crate::clusters::{ProgressLines, cluster_options, labform_ssh_client, secret_resolver};
use crate::lab_input::offline_plan;

/// Arguments of `labform reset`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// The lock file (read and checked; this command never writes it).
    #[command(flatten)]
    pub lock: crate::lab_input::LockArgs,
    /// The cluster instance to reset (`home`, `main-dev`).
    pub cluster: String,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = match offline_plan(&args.file, &args.lock)? {
        Ok(planned) => planned,
        Err(code) => return Ok(code),
    };
    let Some(cluster) = plan.clusters.iter().find(|c| c.name == args.cluster) else {
        let names: Vec<&str> = plan.clusters.iter().map(|c| c.name.as_str()).collect();
        bail!(
            "the lab has no cluster `{}`; its clusters: {}",
            args.cluster,
            names.join(", ")
        );
    };
    if !cluster.bootstrap_supported {
        bail!(
            "cluster `{}` uses {}, which labform does not install, so there is nothing of labform's to reset",
            cluster.name,
            cluster.distribution
        );
    }
    let nodes: Vec<&str> = cluster
        .servers
        .iter()
        .chain(&cluster.agents)
        .map(String::as_str)
        .collect();
    eprintln!(
        "The cluster and all its data (etcd, workloads, volumes on the nodes' own storage) will be removed from: {}",
        nodes.join(", ")
    );
    let question = Question {
        acts: "reset destroys the cluster",
        prompt: &format!("Type the cluster's name ({}) to reset it: ", cluster.name),
        typed: Some(&cluster.name),
        declined: "Nothing changed.",
    };
    if let Some(code) = confirm(args.yes, &question)? {
        return Ok(code);
    }
    let store = SecretStore::open_default().context("cannot open labform's secret store")?;
    let ssh = labform_ssh_client(&store, &plan.scope)?;
    let resolve = secret_resolver(&args.file, &store);
    let progress = ProgressLines::new(false);
    let context = ClusterContext {
        plan: &plan,
        store: &store,
        ssh: &ssh,
        resolve_secret: &resolve,
        options: cluster_options(),
        progress: &progress,
    };
    let table = crate::clusters::distributions(None, None)?;
    let Some(distribution) = table.for_cluster(cluster) else {
        bail!(
            "cluster `{}` uses {}, which this labform does not act on",
            cluster.name,
            cluster.distribution
        );
    };
    let cluster = cluster.clone();
    match crate::runtime().block_on(distribution.reset(&context, &cluster)) {
        Ok(()) => {
            eprintln!(
                "Cluster {} reset; `labform apply` installs it again.",
                cluster.name
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {}", crate::error_chain(&*error));
            Ok(ExitCode::from(3))
        }
    }
}
