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
//! must carry it. Nothing secret reaches a page, an answer or a metric: the plan and the
//! reconciliation hold none, and error texts never do.

mod controller;
mod metrics;
mod pages;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use labform_diagram::{Format, View};

use crate::clusters::ClusterArgs;
use crate::lab_input::LockArgs;
use crate::reality::Against;
use crate::target::TargetArgs;

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

/// Why `labform serve` refuses an address.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListenRefused {
    /// Not loopback, and TLS or the token is missing.
    #[error(
        "labform serve refuses to listen on {address}: an address other than loopback needs TLS \
         (--tls-certificate and --tls-key) and a bearer token (in {TOKEN_VARIABLE}); missing: {missing}"
    )]
    Unprotected {
        /// The address asked for.
        address: SocketAddr,
        /// What is missing.
        missing: String,
    },
}

/// Checks the listening policy: loopback, or TLS and a token.
pub fn check_listen(address: SocketAddr, tls: bool, token: bool) -> Result<(), ListenRefused> {
    if address.ip().is_loopback() || (tls && token) {
        return Ok(());
    }
    let mut missing = Vec::new();
    if !tls {
        missing.push("TLS");
    }
    if !token {
        missing.push("the bearer token");
    }
    Err(ListenRefused::Unprotected {
        address,
        missing: missing.join(" and "),
    })
}

/// What every request shares.
struct Dashboard {
    /// The lab file; with `--git`, the accepted commit's (none until one is).
    file: RwLock<Option<PathBuf>>,
    lock: LockArgs,
    target: TargetArgs,
    journal: Option<PathBuf>,
    token: Option<String>,
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

/// Ctrl-C, or SIGTERM (how Kubernetes stops a pod).
async fn stopping() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        Some(()) = async {
            match terminate.as_mut() {
                Some(terminate) => terminate.recv().await,
                None => std::future::pending().await,
            }
        } => {}
    }
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

fn router(dashboard: Shared) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route("/", planned_page(&STATUS))
        .route("/plan", planned_page(&PLAN))
        .route("/history", get(history_page))
        .route("/drift", planned_page(&DRIFT))
        .route("/diagram", planned_page(&DIAGRAM))
        .route("/diagram/{view}", get(diagram_svg))
        .route("/metrics", get(metrics_page))
        .route("/controller", get(controller_page))
        .route("/controller/approve", axum::routing::post(approve))
        .layer(axum::middleware::from_fn_with_state(
            dashboard.clone(),
            authorise,
        ))
        .with_state(dashboard)
}

/// With a token, every request must carry `Authorization: Bearer <token>`.
async fn authorise(
    State(dashboard): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(token) = &dashboard.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if given.is_some_and(|given| same(given.as_bytes(), token.as_bytes())) {
        return next.run(request).await;
    }
    let mut response = (StatusCode::UNAUTHORIZED, "a bearer token is needed\n").into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"labform\""),
    );
    response
}

/// Compares in time that depends on the lengths only.
fn same(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    given
        .iter()
        .zip(expected)
        .fold(0u8, |difference, (a, b)| difference | (a ^ b))
        == 0
}

/// The query of every page.
#[derive(Debug, Default, serde::Deserialize)]
struct PageQuery {
    /// `json` for the JSON answer.
    format: Option<String>,
    /// `/history`: the run whose actions to show.
    run: Option<i64>,
}

fn wants_json(headers: &HeaderMap, query: &PageQuery) -> bool {
    query.format.as_deref() == Some("json")
        || headers
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|accept| accept.contains("application/json"))
}

fn json(value: &serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string_pretty(value).expect("serialisable") + "\n",
    )
        .into_response()
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// The lab planned against its target now, or the page saying why not. The planning runs on a
/// blocking thread of its own (its future is not `Send`, so no handler can hold it), on this
/// runtime.
async fn against(dashboard: &Shared) -> Result<Against, Failure> {
    let dashboard = dashboard.clone();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(plan_now(&dashboard)))
        .await
        .unwrap_or_else(|error| {
            Err(failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("planning stopped: {error}"),
            ))
        })
}

async fn plan_now(dashboard: &Dashboard) -> Result<Against, Failure> {
    let counters = &dashboard.counters;
    let file = dashboard.file()?;
    let mut meters = Vec::new();
    let outcome = crate::reality::plan_against_target_through(
        &file,
        &dashboard.target,
        &dashboard.lock,
        crate::reality::Preflight::Skip,
        labform_executor::Refresh::ReadConfigs,
        |connected| meters = metrics::Counters::meter(connected),
    )
    .await;
    counters.settle(metrics::Caller::Dashboard, meters);
    match outcome {
        Ok(Ok(against)) => {
            counters.refreshed(true);
            Ok(against)
        }
        Ok(Err(_)) => {
            counters.refreshed(false);
            Err(failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The lab file has errors: `labform validate` shows them (the server's output has them too).",
            ))
        }
        Err(error) => {
            counters.failed(&error);
            counters.refreshed(false);
            let mut text = error.to_string();
            for cause in error.chain().skip(1) {
                text.push_str("\n  caused by: ");
                text.push_str(&cause.to_string());
            }
            Err(failure(StatusCode::BAD_GATEWAY, &text))
        }
    }
}

/// Why a page cannot be shown: its status and text.
struct Failure {
    status: StatusCode,
    text: String,
}

fn failure(status: StatusCode, text: &str) -> Failure {
    Failure {
        status,
        text: text.to_owned(),
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, html(pages::failure(&self.text))).into_response()
    }
}

/// A page made from the lab planned against its target: its JSON answer and its HTML, from
/// the same planning.
struct PlannedPage {
    json: fn(&Against) -> Response,
    html: fn(&Against) -> String,
}

/// `/`: what exists, as `labform status --json` says it.
const STATUS: PlannedPage = PlannedPage {
    json: |against| json(&crate::commands::status::status_json(against)),
    html: pages::status,
};

/// `/plan`: the changes, as `labform plan --json` says them.
const PLAN: PlannedPage = PlannedPage {
    json: |against| json(&crate::commands::plan::changes_json(against)),
    html: pages::plan,
};

/// `/drift`: what was changed by hand, as `labform drift --json --skip-clusters` says it.
const DRIFT: PlannedPage = PlannedPage {
    json: |against| json(&crate::commands::drift::ProxmoxDrift::of(against).json(against)),
    html: |against| pages::drift(against, &crate::commands::drift::ProxmoxDrift::of(against)),
};

/// `/diagram`: the live diagrams, as `labform diagram --format json` draws them.
const DIAGRAM: PlannedPage = PlannedPage {
    json: |against| {
        let text = labform_diagram::render(
            &against.plan,
            Some(&against.reconciliation),
            View::All,
            Format::Json,
        );
        ([(header::CONTENT_TYPE, "application/json")], text).into_response()
    },
    html: pages::diagram,
};

/// The route of a planned page: the lab planned now, then the page's JSON or HTML.
fn planned_page(page: &'static PlannedPage) -> axum::routing::MethodRouter<Shared> {
    axum::routing::get(
        move |State(dashboard): State<Shared>,
              Query(query): Query<PageQuery>,
              headers: HeaderMap| async move {
            match against(&dashboard).await {
                Ok(against) if wants_json(&headers, &query) => (page.json)(&against),
                Ok(against) => html((page.html)(&against)),
                Err(failure) => failure.into_response(),
            }
        },
    )
}

/// The scope's journal, as `labform history` (with `--sim` when the target is the simulator)
/// opens it.
fn journal(dashboard: &Dashboard) -> anyhow::Result<(String, labform_executor::Journal)> {
    let file = dashboard
        .file()
        .map_err(|failure| anyhow::anyhow!("{}", failure.text))?;
    let loaded = labform_model::load(&labform_model::RealFileSystem, &file);
    let lab = loaded
        .lab
        .with_context(|| format!("cannot load {}", file.display()))?;
    let scope = lab.scope().to_owned();
    let journal = crate::open_journal(dashboard.journal.as_deref(), &scope, dashboard.target.sim)?;
    Ok((scope, journal))
}

async fn history_page(
    State(dashboard): State<Shared>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let read = journal(&dashboard).and_then(|(scope, journal)| {
        crate::commands::history::History::read(&journal, &scope, query.run, 10)
    });
    let history = match read {
        Ok(history) => history,
        Err(error) => {
            return failure(StatusCode::INTERNAL_SERVER_ERROR, &format!("{error:#}"))
                .into_response();
        }
    };
    if wants_json(&headers, &query) {
        return json(&history.json());
    }
    html(pages::history(&history))
}

async fn diagram_svg(State(dashboard): State<Shared>, UrlPath(view): UrlPath<String>) -> Response {
    let view = match view.as_str() {
        "clusters" => View::Clusters,
        "infrastructure" => View::Infrastructure,
        "all" => View::All,
        _ => return (StatusCode::NOT_FOUND, "no such view\n").into_response(),
    };
    let against = match against(&dashboard).await {
        Ok(against) => against,
        Err(failure) => return failure.into_response(),
    };
    let svg = labform_diagram::render(
        &against.plan,
        Some(&against.reconciliation),
        view,
        Format::Svg,
    );
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
}

async fn metrics_page(State(dashboard): State<Shared>) -> Response {
    let against = against(&dashboard).await.ok();
    let runs = journal(&dashboard)
        .and_then(|(scope, journal)| Ok(journal.runs(&scope, 1000)?))
        .unwrap_or_default();
    let controller = dashboard
        .controller
        .get()
        .map(|controller| controller.status());
    let text = metrics::render(
        against.as_ref(),
        &runs,
        &dashboard.counters,
        controller.as_ref(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `/controller`: what the controller did and waits for (404 without `--git`).
async fn controller_page(
    State(dashboard): State<Shared>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(controller) = dashboard.controller.get() else {
        return failure(
            StatusCode::NOT_FOUND,
            "labform serve runs without --git: there is no controller.",
        )
        .into_response();
    };
    let status = controller.status();
    let runs = journal(&dashboard)
        .and_then(|(scope, journal)| Ok(journal.runs(&scope, 20)?))
        .unwrap_or_default();
    if wants_json(&headers, &query) {
        return json(&serde_json::json!({ "controller": status, "runs": runs }));
    }
    html(pages::controller(&status, &runs))
}

/// The approval's query: the commit whose pending changes are approved.
#[derive(Debug, serde::Deserialize)]
struct Approval {
    commit: String,
}

/// `POST /controller/approve?commit=HASH`: approves the pending changes of that commit. Refused
/// from another site's page (its `Origin` or `Sec-Fetch-Site`), like every request without the
/// token when one is set.
async fn approve(
    State(dashboard): State<Shared>,
    Query(approval): Query<Approval>,
    headers: HeaderMap,
) -> Response {
    let Some(controller) = dashboard.controller.get() else {
        return (StatusCode::NOT_FOUND, "there is no controller (no --git)\n").into_response();
    };
    if !same_origin(&headers) {
        return (
            StatusCode::FORBIDDEN,
            "approvals come from the dashboard's own page or a client without an Origin\n",
        )
            .into_response();
    }
    match controller.approve(&approval.commit) {
        Ok(()) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, "/controller")],
            "approved\n",
        )
            .into_response(),
        Err(refused) => (StatusCode::CONFLICT, format!("{refused}\n")).into_response(),
    }
}

/// Whether a state-changing request comes from the dashboard's own pages (or from a client that
/// sends no `Origin`, like curl).
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    if text("sec-fetch-site").is_some_and(|site| site == "cross-site" || site == "same-site") {
        return false;
    }
    match (text("origin"), text("host")) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host),
        (Some(_), None) => false,
    }
}

/// A TLS acceptor from the PEM files.
fn tls_acceptor(
    certificate: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(certificate)
        .with_context(|| format!("cannot read the certificate {}", certificate.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read the certificate {}", certificate.display()))?;
    if chain.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", certificate.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read the private key {}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(labform_proxmox::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate and the key do not go together")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Serves every connection through TLS, until Ctrl-C or SIGTERM.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    router: axum::Router,
) {
    let accepting = async {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let router = router.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let io = hyper_util::rt::TokioIo::new(stream);
                let service = hyper_util::service::TowerToHyperService::new(router);
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(io, service)
                .await;
            });
        }
    };
    tokio::select! {
        () = accepting => {}
        () = stopping() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_nothing_and_other_addresses_need_tls_and_a_token() {
        let loopback: SocketAddr = "127.0.0.1:8480".parse().unwrap();
        let loopback6: SocketAddr = "[::1]:8480".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8480".parse().unwrap();
        assert_eq!(check_listen(loopback, false, false), Ok(()));
        assert_eq!(check_listen(loopback6, false, false), Ok(()));
        assert_eq!(check_listen(any, true, true), Ok(()));
        let refused = check_listen(any, false, false).unwrap_err().to_string();
        assert!(
            refused.contains("missing: TLS and the bearer token"),
            "{refused}"
        );
        let refused = check_listen(any, true, false).unwrap_err().to_string();
        assert!(refused.ends_with("missing: the bearer token"), "{refused}");
        let refused = check_listen(any, false, true).unwrap_err().to_string();
        assert!(refused.ends_with("missing: TLS"), "{refused}");
    }

    #[test]
    fn approvals_from_another_site_are_refused() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            headers
        };
        assert!(same_origin(&headers(&[])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8480"),
            ("origin", "http://127.0.0.1:8480")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8480"),
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"secret-token", b"secret-token"));
        assert!(!same(b"secret-tokem", b"secret-token"));
        assert!(!same(b"secret", b"secret-token"));
        assert!(!same(b"", b"secret-token"));
    }
}
