//! The cluster phase of `labform apply` (each cluster brought to its plan by its distribution,
//! K3s over SSH and Talos through its API; add-ons delivered, kubeconfigs stored and merged),
//! and what `labform reset` shares with it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context as _;
use labform_k3s::artifacts::ArtifactSource;
use labform_kubernetes::Distributions;
use labform_kubernetes::distribution::{
    ClusterContext, ClusterOptions, ClusterProgress, login_client,
};
use labform_kubernetes::kubeconfig::{ClusterKubeconfig, default_path, merge_into_file};
use labform_planner::Plan;
use labform_secrets::{SecretStore, SecretString};
use labform_talos::cluster::EndpointOverrides;

/// Options of the cluster phase.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Where K3s comes from: a directory with the release's `k3s`, `sha256sum-amd64.txt` and
    /// optionally the air-gap image archive, or a release address (default: K3s's GitHub
    /// releases). Every file is checked against the release's checksums before use.
    #[arg(long, env = "LABFORM_K3S_ARTIFACTS", value_name = "DIR|URL")]
    pub k3s_artifacts: Option<String>,
    /// kubeadm clusters air-gapped: a directory with kubeadm, kubelet and kubectl of the
    /// cluster's version and the image archives kubeadm needs, all listed in its `SHA256SUMS`
    /// (default: the packages of pkgs.k8s.io, key pinned). Every file is checked before use.
    #[arg(long, env = "LABFORM_KUBERNETES_ARTIFACTS", value_name = "DIR")]
    pub kubernetes_artifacts: Option<PathBuf>,
    /// Create and change the VMs only: do not install or change the clusters' distributions
    /// and add-ons.
    #[arg(long)]
    pub skip_clusters: bool,
    /// Kubeconfig file to merge the clusters' contexts into (default: the first file of
    /// KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Do not write any kubeconfig file (the kubeconfigs stay in labform's secret store; see
    /// `labform kubeconfig`).
    #[arg(long)]
    pub no_kubeconfig: bool,
}

/// Progress lines on stderr, or JSON lines on stdout.
pub struct ProgressLines {
    json: bool,
    started: Instant,
    lock: Mutex<()>,
}

impl ProgressLines {
    /// Progress printed for people, or as JSON with `json`.
    pub fn new(json: bool) -> Self {
        ProgressLines {
            json,
            started: Instant::now(),
            lock: Mutex::new(()),
        }
    }
}

impl ClusterProgress for ProgressLines {
    fn report(&self, cluster: &str, subject: &str, step: &str) {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.json {
            println!(
                "{}",
                serde_json::json!({"event": "cluster-step", "cluster": cluster, "subject": subject, "step": step})
            );
        } else {
            eprintln!(
                "[{:6.1}s] cluster {cluster}: {subject}: {step}",
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}

/// labform's cache directory for downloads (`XDG_CACHE_HOME/labform`, `~/.cache/labform`).
fn cache_directory() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("labform")
}

/// The distributions labform acts on, keyed by distribution: K3s with its release files from
/// `k3s_artifacts` (a directory or release address; default: K3s's GitHub releases), kubeadm
/// with its binaries and images from the air-gap directory `kubernetes_artifacts` (default:
/// pkgs.k8s.io), and Talos, reaching each node's API at its planned address unless
/// `LABFORM_TALOS_ENDPOINTS` (`ADDRESS=HOST:PORT,...`) says otherwise. A distribution is added
/// here, beside the others.
pub fn distributions(
    k3s_artifacts: Option<&str>,
    kubernetes_artifacts: Option<&Path>,
) -> anyhow::Result<Distributions> {
    let k3s_source = match k3s_artifacts {
        Some(text) => ArtifactSource::parse(text)?,
        None => ArtifactSource::official(),
    };
    let talos_endpoints = match std::env::var(TALOS_ENDPOINTS_VARIABLE) {
        Ok(text) => EndpointOverrides::parse(&text).map_err(|problem| {
            anyhow::anyhow!("{TALOS_ENDPOINTS_VARIABLE}: {problem} (write ADDRESS=HOST:PORT,...)")
        })?,
        Err(_) => EndpointOverrides::none(),
    };
    Ok(Distributions::new()
        .with(labform_k3s::K3s::new(
            k3s_source,
            cache_directory().join("k3s"),
        ))
        .with(
            labform_kubeadm::Kubeadm::new(kubernetes_artifacts.map(Path::to_path_buf), None)
                .with_control_plane_timeout(cluster_options().ready_timeout),
        )
        .with(labform_talos::Talos::new(talos_endpoints)))
}

/// Where to reach Talos nodes' APIs instead of their planned addresses (a tunnel, or the API
/// double in tests).
pub const TALOS_ENDPOINTS_VARIABLE: &str = "LABFORM_TALOS_ENDPOINTS";

/// The options of the cluster work, with `LABFORM_CLUSTER_TIMEOUT` (seconds) overriding the
/// readiness limits (slow machines, software emulation).
pub fn cluster_options() -> ClusterOptions {
    let mut options = ClusterOptions::default();
    if let Some(seconds) = std::env::var("LABFORM_CLUSTER_TIMEOUT")
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
    {
        options.ready_timeout = std::time::Duration::from_secs(seconds);
        options.ssh_ready_timeout = std::time::Duration::from_secs(seconds);
    }
    options
}

/// The SSH client that logs in with labform's login key of `scope`.
pub fn labform_ssh_client(
    store: &SecretStore,
    scope: &str,
) -> anyhow::Result<labform_ssh::SshClient> {
    login_client(store, scope, labform_ssh::SshOptions::default())
        .map_err(|error| anyhow::anyhow!(error))
        .context("cannot make labform's SSH client")
}

/// Resolves the secret references of the lab at `lab_path` (relative files from its folder);
/// `store:` references read labform's secret store, where `generated/...` keys are made (32
/// random bytes, hexadecimal) on first use.
pub fn secret_resolver<'a>(
    lab_path: &Path,
    store: &'a SecretStore,
) -> impl Fn(&labform_model::SecretRef) -> Result<SecretString, String> + Sync + 'a {
    let base = lab_path.parent().map(Path::to_path_buf).unwrap_or_default();
    move |reference| {
        if let labform_model::SecretRef::Store(key) = reference {
            let store_key =
                labform_secrets::SecretKey::new(key.clone()).map_err(|error| error.to_string())?;
            let failed = |error: labform_secrets::SecretStoreError| {
                format!("labform's secret store: {error}")
            };
            if key.starts_with("generated/") {
                return store
                    .get_or_create(&store_key, || labform_secrets::generate_token(32))
                    .map_err(failed);
            }
            return store.get(&store_key).map_err(failed)?.ok_or_else(|| {
                format!("`store:{key}` is not in labform's secret store on this machine")
            });
        }
        crate::target::resolve_secret(reference, &base)
            .map(|secret| SecretString::from(secret.expose().to_owned()))
            .map_err(|error| format!("{error:#}"))
    }
}

/// Converges every cluster of `plan` whose distribution labform acts on. Returns whether all
/// succeeded (errors are printed).
pub async fn converge_clusters(
    lab_path: &Path,
    plan: &Plan,
    store: &SecretStore,
    args: &ClusterArgs,
    json: bool,
) -> anyhow::Result<bool> {
    let supported: Vec<_> = plan
        .clusters
        .iter()
        .filter(|cluster| {
            if cluster.bootstrap_supported {
                return true;
            }
            eprintln!(
                "note: cluster {} uses {}: labform does not bootstrap it yet; its VMs exist, nothing was installed",
                cluster.name, cluster.distribution
            );
            false
        })
        .collect();
    if supported.is_empty() {
        return Ok(true);
    }
    let table = distributions(
        args.k3s_artifacts.as_deref(),
        args.kubernetes_artifacts.as_deref(),
    )?;
    let clusters: Vec<_> = supported
        .into_iter()
        .filter_map(|cluster| {
            let distribution = table.for_cluster(cluster);
            if distribution.is_none() {
                eprintln!(
                    "note: cluster {} uses {}: this labform has no implementation of it; its VMs exist, nothing was installed",
                    cluster.name, cluster.distribution
                );
            }
            distribution.map(|distribution| (cluster, distribution))
        })
        .collect();
    let ssh = labform_ssh_client(store, &plan.scope)?;
    let resolve = secret_resolver(lab_path, store);
    let progress = ProgressLines::new(json);
    let context = ClusterContext {
        plan,
        store,
        ssh: &ssh,
        resolve_secret: &resolve,
        options: cluster_options(),
        progress: &progress,
    };
    let mut kubeconfigs: Vec<ClusterKubeconfig> = Vec::new();
    let mut ok = true;
    for (cluster, distribution) in clusters {
        let addons = match labform_kubernetes::addon_manifests(plan, cluster) {
            Ok(addons) => addons,
            Err(error) => {
                eprintln!("error: {}", crate::error_chain(&error));
                ok = false;
                continue;
            }
        };
        match distribution.converge(&context, cluster, &addons).await {
            Ok(outcome) => {
                let summary = if outcome.changed() {
                    format!(
                        "converged ({} node(s) changed, {} upgraded, {} manifest(s) written, {} removed)",
                        outcome.changed_nodes.len(),
                        outcome.upgraded_nodes.len(),
                        outcome.manifests_written.len(),
                        outcome.manifests_removed.len()
                    )
                } else {
                    "already as planned".to_owned()
                };
                progress.report(&cluster.name, &cluster.name, &summary);
                kubeconfigs.push(outcome.kubeconfig);
            }
            Err(error) => {
                eprintln!("error: {}", crate::error_chain(&*error));
                ok = false;
            }
        }
    }
    if !args.no_kubeconfig && !kubeconfigs.is_empty() {
        let path = args
            .kubeconfig
            .clone()
            .or_else(default_path)
            .context("no kubeconfig file: HOME is not set; give --kubeconfig PATH")?;
        merge_into_file(&path, &kubeconfigs)?;
        let names: Vec<&str> = kubeconfigs
            .iter()
            .map(|config| config.name.as_str())
            .collect();
        eprintln!(
            "Kubeconfig: context(s) {} merged into {}",
            names.join(", "),
            path.display()
        );
    }
    Ok(ok)
}
