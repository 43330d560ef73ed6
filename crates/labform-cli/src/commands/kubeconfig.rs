//! `labform kubeconfig FILE`: merges the kubeconfigs of the lab's clusters (K3s, Talos; kept in labform's
//! secret store by apply) into a kubeconfig file, one context per cluster and environment,
//! leaving every other context as it was. `--tenant` takes only a tenant's clusters and its own
//! contexts on the clusters whose central services it uses, for handing a tenant its kubeconfig.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use labform_kubernetes::distribution::{kubeconfig_store_key, tenant_kubeconfig_store_key};
use labform_kubernetes::kubeconfig::{ClusterKubeconfig, default_path, merge, merge_into_file};
use labform_secrets::{ExposeSecret as _, SecretStore, SecretString};

use crate::lab_input::offline_plan;

/// Arguments of `labform kubeconfig`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// The lock file (read and checked; this command never writes it).
    #[command(flatten)]
    pub lock: crate::lab_input::LockArgs,
    /// Only these cluster instances (`home`, `main-dev`); default: every cluster of the lab labform bootstraps.
    #[arg(long = "cluster", value_name = "NAME")]
    pub clusters: Vec<String>,
    /// Only the clusters of this tenant.
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// The kubeconfig file to merge into (default: the first file of KUBECONFIG, else
    /// ~/.kube/config). Written with mode 0600.
    #[arg(long, short = 'o', value_name = "PATH", conflicts_with = "stdout")]
    pub output: Option<PathBuf>,
    /// Print the clusters' kubeconfig on standard output instead (it holds client keys).
    #[arg(long)]
    pub stdout: bool,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = match offline_plan(&args.file, &args.lock)? {
        Ok(planned) => planned,
        Err(code) => return Ok(code),
    };
    let bootstrapped: Vec<&str> = plan
        .clusters
        .iter()
        .filter(|cluster| cluster.bootstrap_supported)
        .map(|cluster| cluster.name.as_str())
        .collect();
    for name in &args.clusters {
        if !bootstrapped.contains(&name.as_str()) {
            bail!(
                "the lab has no cluster `{name}` labform bootstraps; those it bootstraps: {}",
                bootstrapped.join(", ")
            );
        }
    }
    if let Some(tenant) = &args.tenant
        && !plan.tenants.iter().any(|planned| &planned.name == tenant)
    {
        let names: Vec<&str> = plan.tenants.iter().map(|t| t.name.as_str()).collect();
        bail!(
            "the lab has no tenant `{tenant}`; its tenants: {}",
            names.join(", ")
        );
    }
    let selected: Vec<_> = plan
        .clusters
        .iter()
        .filter(|cluster| cluster.bootstrap_supported)
        .filter(|cluster| args.clusters.is_empty() || args.clusters.contains(&cluster.name))
        .filter(|cluster| {
            args.tenant
                .as_ref()
                .is_none_or(|tenant| cluster.tenant.as_ref() == Some(tenant))
        })
        .collect();
    // A tenant also gets its own contexts on the clusters whose services it uses.
    let mut keys = Vec::new();
    for cluster in &selected {
        keys.push((
            cluster.name.clone(),
            kubeconfig_store_key(&plan.scope, &cluster.name).map_err(anyhow::Error::msg)?,
        ));
    }
    if let Some(tenant) = &args.tenant {
        for cluster in plan.clusters.iter().filter(|cluster| {
            cluster.bootstrap_supported
                && (args.clusters.is_empty() || args.clusters.contains(&cluster.name))
        }) {
            if cluster
                .tenant_access
                .iter()
                .any(|access| &access.tenant == tenant)
            {
                keys.push((
                    format!("{} (as {tenant})", cluster.name),
                    tenant_kubeconfig_store_key(&plan.scope, &cluster.name, tenant)
                        .map_err(anyhow::Error::msg)?,
                ));
            }
        }
    }
    if keys.is_empty() {
        bail!("no cluster of the lab that labform bootstraps matches");
    }
    let store = SecretStore::open_default().context("cannot open labform's secret store")?;
    let mut configs = Vec::new();
    let mut missing = Vec::new();
    for (cluster, key) in keys {
        match store
            .get(&key)
            .context("cannot read labform's secret store")?
        {
            Some(text) => configs.push(ClusterKubeconfig::from_text(
                &format!("labform's secret store ({})", key.as_str()),
                &text,
            )?),
            None => missing.push(cluster),
        }
    }
    if !missing.is_empty() {
        bail!(
            "labform has no kubeconfig for {}: the cluster was not applied from this machine's store (run `labform apply` first)",
            missing.join(", ")
        );
    }
    if args.stdout {
        let merged = merge("(new)", &SecretString::from(""), &configs)?;
        print!("{}", merged.expose_secret());
        return Ok(ExitCode::SUCCESS);
    }
    let path = args
        .output
        .or_else(default_path)
        .context("no kubeconfig file: HOME is not set; give --output PATH")?;
    merge_into_file(&path, &configs)?;
    for config in &configs {
        eprintln!(
            "context {} ({}) merged into {}",
            config.name,
            config.server,
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
