//! `labform talosconfig FILE`: merges the talosconfigs of the lab's Talos clusters (kept in
//! labform's secret store by apply) into a talosconfig file, one context per cluster named like
//! its kubeconfig context (`LAB-CLUSTER`), leaving every other context and the current one as
//! they were, so `talosctl` reaches the nodes with labform's `os:admin` certificate.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use labform_planner::plan::Distribution;
use labform_secrets::{ExposeSecret as _, SecretStore, SecretString};
use labform_talos::talosconfig::{Talosconfig, merge_talosconfig, talosconfig_store_key};

use crate::lab_input::offline_plan;

/// Arguments of `labform talosconfig`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// The lock file (read and checked; this command never writes it).
    #[command(flatten)]
    pub lock: crate::lab_input::LockArgs,
    /// Only these cluster instances; default: every Talos cluster of the lab.
    #[arg(long = "cluster", value_name = "NAME")]
    pub clusters: Vec<String>,
    /// The talosconfig file to merge into (default: TALOSCONFIG, else ~/.talos/config, as
    /// talosctl reads it). Written with mode 0600.
    #[arg(long, short = 'o', value_name = "PATH", conflicts_with = "stdout")]
    pub output: Option<PathBuf>,
    /// Print the clusters' talosconfig on standard output instead (it holds a client key).
    #[arg(long)]
    pub stdout: bool,
}

/// talosctl's own default: `TALOSCONFIG`, else `~/.talos/config`.
fn default_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TALOSCONFIG").filter(|path| !path.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| PathBuf::from(home).join(".talos").join("config"))
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = match offline_plan(&args.file, &args.lock)? {
        Ok(planned) => planned,
        Err(code) => return Ok(code),
    };
    let talos: Vec<_> = plan
        .clusters
        .iter()
        .filter(|cluster| cluster.distribution == Distribution::Talos)
        .collect();
    let names: Vec<&str> = talos.iter().map(|cluster| cluster.name.as_str()).collect();
    for name in &args.clusters {
        if !names.contains(&name.as_str()) {
            bail!(
                "the lab has no Talos cluster `{name}`; its Talos clusters: {}",
                names.join(", ")
            );
        }
    }
    let selected: Vec<_> = talos
        .into_iter()
        .filter(|cluster| args.clusters.is_empty() || args.clusters.contains(&cluster.name))
        .collect();
    if selected.is_empty() {
        bail!("the lab has no Talos cluster");
    }
    let store = SecretStore::open_default().context("cannot open labform's secret store")?;
    let mut configs = Vec::new();
    let mut missing = Vec::new();
    for cluster in &selected {
        let key = talosconfig_store_key(&plan.scope, &cluster.name)?;
        match store
            .get(&key)
            .context("cannot read labform's secret store")?
        {
            Some(text) => {
                let mut config = Talosconfig::from_yaml(text.expose_secret(), &cluster.name)?;
                config.context = cluster.kubeconfig_context.clone();
                configs.push(config);
            }
            None => missing.push(cluster.name.as_str()),
        }
    }
    if !missing.is_empty() {
        bail!(
            "labform has no talosconfig for {}: the cluster was not applied from this machine's store (run `labform apply` first)",
            missing.join(", ")
        );
    }
    if args.stdout {
        let mut merged: Option<SecretString> = None;
        for config in &configs {
            merged = Some(merge_talosconfig(
                merged.as_ref().map(|text| text.expose_secret()),
                config,
            )?);
        }
        if let Some(merged) = merged {
            print!("{}", merged.expose_secret());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let path = args
        .output
        .or_else(default_path)
        .context("no talosconfig file: neither TALOSCONFIG nor HOME is set; give --output PATH")?;
    let mut text = match std::fs::read_to_string(&path) {
        Ok(text) => Some(SecretString::from(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", path.display()));
        }
    };
    for config in &configs {
        text = Some(
            merge_talosconfig(text.as_ref().map(|text| text.expose_secret()), config)
                .with_context(|| format!("cannot merge into {}", path.display()))?,
        );
    }
    if let Some(text) = text {
        write_private(&path, text.expose_secret())?;
    }
    for config in &configs {
        eprintln!(
            "context {} (endpoints {}) merged into {}",
            config.context,
            config.endpoints.join(", "),
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to `path` with mode 0600 through a file beside it, renamed into place.
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;

    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(directory)
        .with_context(|| format!("cannot create {}", directory.display()))?;
    let temporary = directory.join(format!(
        ".{}.labform-{}",
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
