//! `labform serve FILE`: a web dashboard of the lab, served by labform with its pages built into
//! the binary. Every page plans the lab against its target afresh (the lab's endpoints,
//! `--proxmox URL` or `--sim`, as `labform status` does) and shows it: `/` what exists per
//! cluster, VM and tenant, `/plan` the plan and its changes, `/drift` what was changed by hand on
//! Proxmox (not yet the clusters' nodes), `/history` the journal's runs and
//! each action with its Proxmox task, `/diagram` the live diagrams; each answers JSON instead
//! (`Accept: application/json` or `?format=json`), the same document as the CLI's `--json`
//! (`drift --json --skip-clusters` for `/drift`, `diagram --sim --format json` for `/diagram`).
//! `/metrics` is in Prometheus's text format ([`metrics`]).
//!
//! With `--git URL` it is also a controller ([`controller`]): it follows the lab's repository,
//! applies each commit by policy (at once, or once approved on `/controller`), refuses commits
//! whose lab has errors, records every run with its commit, and with `--lease` lets only the
//! replica holding a Kubernetes Lease apply.
//!
//! Loopback only by default: any other address needs TLS (`--tls-certificate`, `--tls-key`) and
//! a bearer token (`LABFORM_SERVE_TOKEN`), and is refused otherwise. With a token every request
//! must carry it, or the session cookie a browser gets by signing in with it on `/login`
//! ([`session`]). Nothing secret reaches a page, an answer or a metric: the plan and the

mod access;
mod controller;
mod drift_report;
mod listen;
mod metrics;
mod pages;
mod routes;
mod session;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use axum::http::StatusCode;

use crate::clusters::ClusterArgs;
use crate::lab_input::LockArgs;
use crate::target::TargetArgs;
use listen::{check_listen, serve_tls, stopping, tls_acceptor};
use routes::{Failure, failure, router};

/// The environment variable holding the bearer token.
pub const TOKEN_VARIABLE: &str = "LABFORM_SERVE_TOKEN";

/// Arguments of `labform serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file (not with --git, which takes it from the repository).
    #[arg(required_unless_present = "git", conflicts_with = "git")]
    pub file: Option<PathBuf>,
    /// The lock file (read and checked, never written).
    #[command(flatten)]
    pub lock: LockArgs,
    /// What to show: the lab's own endpoints, or `--sim`, or `--proxmox URL`.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Where to listen (port 0 picks a free port; the address is printed). Only a loopback
    /// address without --tls-certificate, --tls-key and a bearer token in LABFORM_SERVE_TOKEN.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8480")]
    pub listen: SocketAddr,
    /// The server's certificate chain (PEM): serve HTTPS.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_certificate: Option<PathBuf>,
    /// The server certificate's private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_certificate")]
    pub tls_key: Option<PathBuf>,
    /// The journal whose runs `/history` and `/metrics` show (default: the scope's, or its
    /// `--sim` journal).
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Controller mode.
    #[command(flatten)]
    pub controller: ControllerArgs,
}

/// The options of controller mode (`--git`).
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Controller mode")]
pub struct ControllerArgs {
    /// Follow this Git repository (https://, ssh:// or user@host:path, or a local path; never
    /// http:// or git://) and apply the lab in it. Runs the `git` program.
    #[arg(long, value_name = "URL")]
    pub git: Option<String>,
    /// The branch to follow.
    #[arg(long, value_name = "BRANCH", default_value = "main", requires = "git")]
    pub branch: String,
    /// The lab file's path in the repository.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "lab.yaml",
        requires = "git"
    )]
    pub path: PathBuf,
    /// How often to fetch, plan and apply (30s, 5m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = controller::parse_duration, requires = "git")]
    pub interval: Duration,
    /// When to apply: at once, or once the pending plan is approved on /controller.
    #[arg(
        long,
        value_enum,
        value_name = "POLICY",
        default_value = "approval",
        requires = "git"
    )]
    pub apply: controller::ApplyPolicy,
    /// HTTPS: verify the Git server against this CA (PEM) instead of the system's roots.
    #[arg(long, value_name = "PEM", requires = "git")]
    pub git_ca: Option<PathBuf>,
    /// SSH: the known_hosts file holding the Git server's host key (required for SSH).
    #[arg(long, value_name = "FILE", requires = "git")]
    pub git_known_hosts: Option<PathBuf>,
    /// SSH: the private key to log in to the Git server with. (HTTPS: the password or token
    /// comes from LABFORM_GIT_PASSWORD, the user from LABFORM_GIT_USERNAME.)
    #[arg(long, value_name = "FILE", requires = "git")]
    pub git_ssh_key: Option<PathBuf>,
    /// Where the repository and its checkouts are kept (default: labform's state directory,
    /// `controller/`).
    #[arg(long, value_name = "DIR", requires = "git")]
    pub controller_directory: Option<PathBuf>,
    /// Leader election: only the replica holding this coordination.k8s.io/v1 Lease applies.
    #[arg(long, value_name = "NAMESPACE/NAME", requires = "git")]
    pub lease: Option<String>,
    /// The kubeconfig to reach the Lease's API with (default: the pod's ServiceAccount).
    #[arg(long, value_name = "PATH", requires = "lease")]
    pub lease_kubeconfig: Option<PathBuf>,
    /// How long the Lease holds without renewal (renewed every third of it).
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = controller::parse_duration, requires = "lease")]
    pub lease_duration: Duration,
    /// This replica's identity in the Lease (default: POD_NAME, else the host name and process
    /// ID).
    #[arg(long, value_name = "NAME", requires = "lease")]
    pub identity: Option<String>,
    /// The cluster phase of the controller's applies.
    #[command(flatten)]
    pub clusters: ClusterArgs,
}

/// What every request shares.
struct Dashboard {
    /// The lab file; with `--git`, the accepted commit's (none until one is).
    file: RwLock<Option<PathBuf>>,
    lock: LockArgs,
    target: TargetArgs,
    journal: Option<PathBuf>,
    token: Option<String>,
    /// Whether the dashboard is served over TLS (its session cookie is then `Secure`).
    tls: bool,
    counters: metrics::Counters,
    clusters: ClusterArgs,
    controller: OnceLock<Arc<controller::Controller>>,
}

impl Dashboard {
    /// The lab file the pages show, or why there is none yet.
    fn file(&self) -> Result<PathBuf, Failure> {
        self.file
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .ok_or_else(|| {
                failure(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The controller has not accepted a commit of the lab yet: /controller says why.",
                )
            })
    }

    /// Shows the lab at `file` from now on (the controller accepted a commit).
    fn set_file(&self, file: PathBuf) {
        *self
            .file
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(file);
    }
}

type Shared = Arc<Dashboard>;

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let token = std::env::var(TOKEN_VARIABLE)
        .ok()
        .filter(|token| !token.is_empty());
    let tls = args.tls_certificate.is_some() && args.tls_key.is_some();
    if let Err(refused) = check_listen(args.listen, tls, token.is_some()) {
        eprintln!("error: {refused}");
        return Ok(ExitCode::from(2));
    }
    let tls_config = match (&args.tls_certificate, &args.tls_key) {
        (Some(certificate), Some(key)) => Some(tls_acceptor(certificate, key)?),
        _ => None,
    };
    let settings = match controller_settings(&args.controller) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {}", crate::error_chain(error.as_ref()));
            return Ok(ExitCode::from(2));
        }
    };
    let dashboard = Arc::new(Dashboard {
        file: RwLock::new(args.file),
        lock: args.lock,
        target: args.target,
        journal: args.journal,
        token,
        tls: tls_config.is_some(),
        counters: metrics::Counters::default(),
        clusters: args.controller.clusters,
        controller: OnceLock::new(),
    });
    let (lease, lease_kubeconfig) = (args.controller.lease, args.controller.lease_kubeconfig);
    let runtime = crate::runtime();
    let _entered = runtime.enter();
    let controller = match settings {
        Some(mut settings) => {
            if let Some(lease) = lease.as_deref() {
                let elector = runtime.block_on(elector(
                    lease,
                    lease_kubeconfig.as_deref(),
                    args.controller.lease_duration,
                    args.controller.identity.clone(),
                ));
                match elector {
                    Ok(elector) => settings.elector = Some(elector),
                    Err(error) => {
                        eprintln!("error: {}", crate::error_chain(error.as_ref()));
                        return Ok(ExitCode::from(3));
                    }
                }
            }
            let (controller, thread) = controller::start(settings, &dashboard);
            let _ = dashboard.controller.set(controller.clone());
            Some((controller, thread))
        }
        None => None,
    };
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        let scheme = if tls_config.is_some() {
            "https"
        } else {
            "http"
        };
        println!("labform dashboard listening on {scheme}://{address}");
        let router = router(dashboard);
        match tls_config {
            None => axum::serve(listener, router)
                .with_graceful_shutdown(stopping())
                .await
                .context("the dashboard stopped")?,
            Some(acceptor) => serve_tls(listener, acceptor, router).await,
        }
        Ok(ExitCode::SUCCESS)
    });
    if let Some((controller, thread)) = controller {
        // The loop ends after its current step, and a leader gives its Lease up.
        controller.stop();
        let _ = thread.join();
    }
    served
}

/// The controller's settings from the arguments (`None` without `--git`).
fn controller_settings(
    args: &ControllerArgs,
) -> Result<Option<controller::Settings>, Box<dyn std::error::Error>> {
    let Some(url) = &args.git else {
        return Ok(None);
    };
    let directory = args
        .controller_directory
        .clone()
        .unwrap_or_else(|| crate::state_home().join("controller"));
    let repository = labform_controller::git::Repository::open(
        labform_controller::git::GitSettings {
            url: url.clone(),
            branch: args.branch.clone(),
            ca: args.git_ca.clone(),
            known_hosts: args.git_known_hosts.clone(),
            ssh_key: args.git_ssh_key.clone(),
        },
        &directory,
    )?;
    Ok(Some(controller::Settings {
        repository,
        path: args.path.clone(),
        interval: args.interval,
        policy: args.apply,
        directory,
        elector: None,
    }))
}

/// The leader elector of `--lease NAMESPACE/NAME`.
async fn elector(
    lease: &str,
    kubeconfig: Option<&std::path::Path>,
    duration: Duration,
    identity: Option<String>,
) -> Result<labform_controller::lease::Elector, Box<dyn std::error::Error>> {
    use labform_controller::lease::{Elector, LeaseSettings};
    let Some((namespace, name)) = lease
        .split_once('/')
        .filter(|(namespace, name)| !namespace.is_empty() && !name.is_empty())
    else {
        return Err(format!("--lease {lease}: give it as NAMESPACE/NAME").into());
    };
    let settings = LeaseSettings {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        identity: identity.unwrap_or_else(controller::default_identity),
        duration,
    };
    match kubeconfig {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?;
            Ok(Elector::from_kubeconfig(&text.into(), settings).await?)
        }
        None => Ok(Elector::in_cluster(settings)?),
    }
}
