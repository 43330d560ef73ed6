//! The simulator's HTTP(S) server: the real `/api2/json/...` layout, the
//! `{"data": ...}` envelope, Proxmox's status codes, reason phrases and
//! error bodies, ticket (+ CSRF) and API-token authentication, parameter
//! validation, and 501 for everything not implemented.
//!
//! One extra endpoint lives outside Proxmox's namespace:
//! `GET`/`PUT /simulator/faults` reads or replaces the fault configuration
//! (JSON, see [`crate::faults`]); only `root@pam` may use it.

use crate::auth::TicketAuthority;
use crate::backend::BackendError;
use crate::backend::qemu::{QemuBackend, QemuOptions};
use crate::config::{SimConfig, Timing};
use crate::faults::FaultConfig;
use crate::perms::Identity;
use crate::routes::{self, Extra, Route, Ty};
use crate::sim::{SimClient, Simulator, unix_now};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use labform_ids::{NodeName, StorageName, VmId};
use labform_proxmox::api::ProxmoxApi;
use labform_proxmox::error::{ApiError, Error};
use labform_proxmox::types::*;
use labform_proxmox::{Secret, Upid};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// One request/response pair, for contract checks and logging. Secrets
/// (`password`) are removed from `params`.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// HTTP method.
    pub method: String,
    /// Matched route template, if any.
    pub template: Option<String>,
    /// Parameters (path, query and body merged).
    pub params: BTreeMap<String, String>,
    /// HTTP status.
    pub status: u16,
    /// Response body (JSON, `Null` for empty bodies).
    pub body: serde_json::Value,
}

/// Called for every exchange.
pub type Observer = Arc<dyn Fn(&Exchange) + Send + Sync>;

#[derive(Clone)]
struct App {
    sim: Simulator,
    tickets: Arc<TicketAuthority>,
    observer: Option<Observer>,
}

/// Errors of the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The QEMU backend cannot run here.
    #[error("the QEMU backend cannot start")]
    Backend(#[source] BackendError),
    /// Could not bind.
    #[error("could not listen on {addr}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Certificate generation failed.
    #[error("could not generate the self-signed certificate")]
    Cert(#[source] rcgen::Error),
    /// TLS setup failed.
    #[error("TLS setup failed")]
    Tls(#[source] rustls::Error),
    /// Reading the fault file failed.
    #[error("could not read the fault file {path}")]
    FaultFile {
        /// Path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The fault file is invalid.
    #[error("invalid fault file {path}")]
    FaultParse {
        /// Path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// Waiting for Ctrl-C failed.
    #[error("signal handling failed")]
    Signal(#[source] std::io::Error),
}

/// Options of the `labform sim serve` command.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// HTTPS listen address (`127.0.0.1:8006`).
    pub listen: SocketAddr,
    /// Optional plain-HTTP listen address.
    pub http_listen: Option<SocketAddr>,
    /// Password of root@pam; generated (and printed) if `None`.
    pub root_password: Option<Secret>,
    /// Number of nodes.
    pub nodes: usize,
    /// JSON fault file.
    pub faults: Option<PathBuf>,
    /// Timing (defaults to Proxmox-like real time).
    pub timing: Timing,
    /// Seed for MACs, UPID pids and fault decisions (random if `None`);
    /// fix it for reproducible runs.
    pub seed: Option<u64>,
    /// Run VMs as QEMU processes with real disk files (state only if `None`).
    pub qemu: Option<QemuOptions>,
}

impl ServeOptions {
    /// Defaults: 3 nodes, real timing, no plain HTTP, generated password.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            http_listen: None,
            root_password: None,
            nodes: 3,
            faults: None,
            timing: Timing::default(),
            seed: None,
            qemu: None,
        }
    }
}

/// A running server.
pub struct RunningServer {
    /// Bound HTTPS address.
    pub https_addr: SocketAddr,
    /// Bound plain-HTTP address.
    pub http_addr: Option<SocketAddr>,
    /// SHA-256 fingerprint of the certificate, `AB:CD:...`.
    pub fingerprint: String,
    /// The simulator behind it.
    pub simulator: Simulator,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("https_addr", &self.https_addr)
            .field("http_addr", &self.http_addr)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl RunningServer {
    /// The HTTPS base URL.
    pub fn https_url(&self) -> String {
        format!("https://{}", self.https_addr)
    }
    /// Stops accepting connections.
    pub fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Server settings for [`start`].
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// HTTPS address (port 0 for any).
    pub https: Option<SocketAddr>,
    /// Plain HTTP address.
    pub http: Option<SocketAddr>,
    /// Exchange observer.
    pub observer: Option<Observer>,
}

/// Starts serving `sim` in the background.
pub async fn start(sim: Simulator, opts: ServerOptions) -> Result<RunningServer, ServeError> {
    let app = App {
        sim: sim.clone(),
        tickets: Arc::new(TicketAuthority::new()),
        observer: opts.observer.clone(),
    };
    // Non-upload bodies are limited to 512 KiB in `process`, like
    // pve-http-server; uploads (seed ISOs, images) may be larger.
    let router = axum::Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(1 << 30))
        .with_state(app);
    let https = opts
        .https
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let cert = rcgen::generate_simple_self_signed(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
        https.ip().to_string(),
    ])
    .map_err(ServeError::Cert)?;
    let der = cert.cert.der().clone();
    let fingerprint = labform_proxmox::tls::Fingerprint::of_der(der.as_ref()).to_string();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let mut tls = rustls::ServerConfig::builder_with_provider(labform_proxmox::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(ServeError::Tls)?
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .map_err(ServeError::Tls)?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind(https)
        .await
        .map_err(|source| ServeError::Bind {
            addr: https,
            source,
        })?;
    let https_addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: https,
        source,
    })?;
    let mut tasks = Vec::new();
    let r = router.clone();
    tasks.push(tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let r = r.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    serve_conn(tls, r).await;
                }
            });
        }
    }));
    let mut http_addr = None;
    if let Some(addr) = opts.http {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        http_addr = Some(
            listener
                .local_addr()
                .map_err(|source| ServeError::Bind { addr, source })?,
        );
        let r = router.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let r = r.clone();
                tokio::spawn(serve_conn(tcp, r));
            }
        }));
    }
    Ok(RunningServer {
        https_addr,
        http_addr,
        fingerprint,
        simulator: sim,
        tasks,
    })
}

async fn serve_conn<I>(io: I, router: axum::Router)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(io);
    let svc = hyper_util::service::TowerToHyperService::new(router);
    let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
        .serve_connection(io, svc)
        .await;
}

/// A server started by [`launch`], with its root password.
#[derive(Debug)]
pub struct Launched {
    /// The server.
    pub server: RunningServer,
    /// root@pam's password.
    pub root_password: Secret,
    /// Whether the password was generated (and should be shown once).
    pub password_generated: bool,
    /// The simulated cluster.
    pub simulator: Simulator,
}

/// Builds the cluster of `options` and starts serving it in the background.
pub async fn launch(options: ServeOptions) -> Result<Launched, ServeError> {
    let (password, generated) = match options.root_password.clone() {
        Some(p) => (p, false),
        None => (Secret::new(crate::sim::random_uuid()), true),
    };
    let mut config = SimConfig::cluster(options.nodes, password.clone());
    config.timing = options.timing;
    config.seed = options.seed.unwrap_or_else(|| {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b)
            .map(|()| u64::from_le_bytes(b))
            .unwrap_or(1)
    });
    let faults = match &options.faults {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ServeError::FaultFile {
                path: path.clone(),
                source,
            })?;
            FaultConfig::from_json(&text).map_err(|source| ServeError::FaultParse {
                path: path.clone(),
                source,
            })?
        }
        None => FaultConfig::default(),
    };
    if let Some(qemu) = &options.qemu {
        config.backend = Arc::new(QemuBackend::new(qemu.clone()).map_err(ServeError::Backend)?);
    }
    let sim = Simulator::with_faults(config, faults);
    let server = start(
        sim.clone(),
        ServerOptions {
            https: Some(options.listen),
            http: options.http_listen,
            observer: None,
        },
    )
    .await?;
    Ok(Launched {
        server,
        root_password: password,
        password_generated: generated,
        simulator: sim,
    })
}

/// Runs `labform sim serve`: [`launch`]es, prints the URL, the certificate
/// fingerprint and (if generated) the root password to stdout, and serves
/// until Ctrl-C.
pub async fn serve(options: ServeOptions) -> Result<(), ServeError> {
    let launched = launch(options).await?;
    let server = &launched.server;
    println!(
        "Proxmox VE simulator listening on https://{}/api2/json",
        server.https_addr
    );
    if let Some(a) = server.http_addr {
        println!("plain HTTP on http://{a}/api2/json");
    }
    println!("certificate SHA-256 fingerprint: {}", server.fingerprint);
    if launched.password_generated {
        // Printed once, on purpose: the operator needs it to log in.
        println!("root@pam password: {}", launched.root_password.expose());
    }
    wait_for_termination().await?;
    launched.server.shutdown();
    // QEMU processes end with the simulator.
    let backend = Arc::clone(launched.simulator.backend());
    tokio::task::spawn_blocking(move || backend.stop_all())
        .await
        .map_err(|e| ServeError::Signal(std::io::Error::other(e)))?;
    Ok(())
}

/// Ctrl-C (SIGINT) or SIGTERM.
async fn wait_for_termination() -> Result<(), ServeError> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(ServeError::Signal)?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.map_err(ServeError::Signal),
        _ = terminate.recv() => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// request handling

fn percent_decode(s: &str, plus_as_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes a form body or query string the way pve-http-server does
/// (`&` and `;` separators, `+` as space, repeated keys joined with `,`).
pub fn decode_form(s: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in s.split(['&', ';']).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let k = percent_decode(k, true);
        let v = percent_decode(v, true);
        if k == "_dc" {
            continue;
        }
        match out.iter_mut().find(|(ek, _)| *ek == k) {
            Some((_, ev)) => {
                ev.push(',');
                ev.push_str(&v);
            }
            None => out.push((k, v)),
        }
    }
    out
}

fn json_params(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, format!("unable to parse JSON body - {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::new(400, "JSON body is not an object"))?;
    let mut out = Vec::new();
    for (k, v) in obj {
        let s = match v {
            serde_json::Value::Null => continue,
            serde_json::Value::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => a
                .iter()
                .map(|x| match x {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            serde_json::Value::Object(_) => {
                return Err(ApiError::param(k, "type check failed - got an object"));
            }
        };
        out.push((k.clone(), s));
    }
    Ok(out)
}

fn reason_line(msg: &str) -> String {
    msg.lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

fn base_response(status: u16, reason: &str, body: Option<serde_json::Value>) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match &body {
        Some(b) => Response::new(Body::from(b.to_string())),
        None => Response::new(Body::empty()),
    };
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert("server", HeaderValue::from_static("pve-api-daemon/3.0"));
    h.insert("cache-control", HeaderValue::from_static("max-age=0"));
    h.insert("pragma", HeaderValue::from_static("no-cache"));
    if body.is_some() {
        h.insert(
            "content-type",
            HeaderValue::from_static("application/json;charset=UTF-8"),
        );
    }
    if let Ok(r) = hyper::ext::ReasonPhrase::try_from(reason_line(reason)) {
        resp.extensions_mut().insert(r);
    }
    resp
}

struct Outcome {
    status: u16,
    reason: String,
    body: Option<serde_json::Value>,
    delay: bool,
}

impl Outcome {
    fn ok(data: serde_json::Value) -> Self {
        Self {
            status: 200,
            reason: "OK".into(),
            body: Some(serde_json::json!({ "data": data })),
            delay: false,
        }
    }
    fn ok_total(data: serde_json::Value, total: u64) -> Self {
        Self {
            status: 200,
            reason: "OK".into(),
            body: Some(serde_json::json!({ "data": data, "total": total })),
            delay: false,
        }
    }
    fn err(e: &ApiError) -> Self {
        let mut body = serde_json::Map::new();
        body.insert("data".into(), serde_json::Value::Null);
        body.insert("message".into(), format!("{}\n", e.message).into());
        if !e.errors.is_empty() {
            let errs: serde_json::Map<String, serde_json::Value> = e
                .errors
                .iter()
                .map(|(k, v)| (k.clone(), format!("{v}\n").into()))
                .collect();
            body.insert("errors".into(), errs.into());
        }
        Self {
            status: e.status,
            reason: e.message.clone(),
            body: Some(body.into()),
            delay: false,
        }
    }
    fn unauthorized(reason: &str) -> Self {
        Self {
            status: 401,
            reason: reason.into(),
            body: None,
            delay: true,
        }
    }
}

fn api_err(e: Error) -> Outcome {
    match e {
        Error::Api { source, .. } => Outcome::err(&source),
        other => Outcome::err(&ApiError::new(500, other.to_string())),
    }
}

async fn handle(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    if uri.path() == "/simulator/faults" {
        let o = admin_faults(&app, &method, &headers, &body);
        return base_response(o.status, &o.reason, o.body);
    }
    let mut params_for_log = BTreeMap::new();
    let mut template = None;
    let outcome = process(
        &app,
        &method,
        &uri,
        &headers,
        &body,
        &mut params_for_log,
        &mut template,
    )
    .await;
    if outcome.delay {
        let t = app.sim.config().timing;
        tokio::time::sleep(t.dur(t.auth_failure_delay_secs)).await;
    }
    if let Some(obs) = &app.observer {
        params_for_log.remove("password");
        params_for_log.remove("cipassword");
        obs(&Exchange {
            method: method.to_string(),
            template: template.map(str::to_owned),
            params: params_for_log,
            status: outcome.status,
            body: outcome.body.clone().unwrap_or(serde_json::Value::Null),
        });
    }
    base_response(outcome.status, &outcome.reason, outcome.body)
}

/// `GET`/`PUT /simulator/faults` (outside Proxmox's `/api2` namespace):
/// read or replace the fault configuration at run time. Only `root@pam`
/// (ticket with CSRF token, or a token without privilege separation).
fn admin_faults(app: &App, method: &Method, headers: &HeaderMap, body: &Bytes) -> Outcome {
    let who = match authenticate(app, headers, method) {
        Ok(Caller::Ticket(user)) => Identity { user, token: None },
        Ok(Caller::Token(id)) => id,
        Err(o) => return o,
    };
    if !app.sim.with_state(|st| st.access.is_root(&who)) {
        return Outcome::err(&ApiError::new(
            403,
            "Permission check failed (/, Sys.Modify)",
        ));
    }
    match *method {
        Method::GET => Outcome::ok(serde_json::to_value(app.sim.faults()).unwrap_or_default()),
        Method::PUT => match serde_json::from_slice::<FaultConfig>(body) {
            Ok(cfg) => {
                app.sim.set_faults(cfg);
                Outcome::ok(serde_json::Value::Null)
            }
            Err(e) => Outcome::err(&ApiError::new(
                400,
                format!("invalid fault configuration: {e}"),
            )),
        },
        _ => not_implemented(method, "/simulator/faults"),
    }
}

fn not_implemented(method: &Method, rel: &str) -> Outcome {
    Outcome::err(&ApiError::new(
        501,
        format!("Method '{method} {rel}' not implemented"),
    ))
}

enum Caller {
    Ticket(String),
    Token(Identity),
}

fn authenticate(app: &App, headers: &HeaderMap, method: &Method) -> Result<Caller, Outcome> {
    let now = unix_now();
    let mut ticket = None;
    for v in headers.get_all("cookie") {
        for c in v.to_str().unwrap_or("").split(';') {
            if let Some(t) = c.trim().strip_prefix("PVEAuthCookie=") {
                ticket = Some(percent_decode(t, false));
            }
        }
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|s| percent_decode(s, false));
    if ticket.is_none()
        && let Some(t) = auth
            .as_deref()
            .and_then(|a| a.strip_prefix("PVEAuthCookie="))
    {
        ticket = Some(t.to_owned());
    }
    if let Some(t) = ticket {
        let user = app
            .tickets
            .verify_ticket(&t, now)
            .ok_or_else(|| Outcome::unauthorized("permission denied - invalid PVE ticket"))?;
        if method != Method::GET {
            let csrf = headers
                .get("csrfpreventiontoken")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !app.tickets.verify_csrf(csrf, &user, now) {
                return Err(Outcome::unauthorized(
                    "Permission denied - invalid csrf token",
                ));
            }
        }
        return Ok(Caller::Ticket(user));
    }
    if let Some(a) = auth.as_deref()
        && let Some(rest) = a
            .strip_prefix("PVEAPIToken=")
            .or_else(|| a.strip_prefix("PVEAPIToken "))
    {
        let (id, secret) = rest
            .rsplit_once('=')
            .ok_or_else(|| Outcome::unauthorized("Authentication failed!"))?;
        return app
            .sim
            .check_token(id, secret)
            .map(Caller::Token)
            .ok_or_else(|| Outcome::unauthorized("Authentication failed!"));
    }
    Err(Outcome::unauthorized("No ticket"))
}

fn validate(route: &Route, params: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let mut errors = BTreeMap::new();
    for (k, v) in params {
        match route.params.iter().find(|p| p.name == k) {
            Some(p) => match p.ty {
                Ty::Int(min) => {
                    let t = v.strip_prefix(['+', '-']).unwrap_or(v);
                    if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit()) {
                        errors.insert(
                            k.clone(),
                            format!("type check ('integer') failed - got '{v}'"),
                        );
                    } else if let (Some(min), Ok(n)) = (min, v.parse::<i64>())
                        && n < min
                    {
                        errors.insert(
                            k.clone(),
                            format!("value must have a minimum value of {min}"),
                        );
                    }
                }
                Ty::Bool => {
                    if v != "0" && v != "1" {
                        errors.insert(
                            k.clone(),
                            format!("type check ('boolean') failed - got '{v}'"),
                        );
                    }
                }
                Ty::Enum(vals) => {
                    if !vals.contains(&v.as_str()) {
                        errors.insert(
                            k.clone(),
                            format!(
                                "value '{v}' does not have a value in the enumeration '{}'",
                                vals.join(", ")
                            ),
                        );
                    }
                }
                Ty::Str => {}
            },
            None if route.extra == Extra::VmConfig && crate::sim::is_config_key(k) => {
                if let Err(e) = crate::sim::normalize_config_value(k, v) {
                    errors.insert(k.clone(), e);
                }
            }
            None => {
                errors.insert(
                    k.clone(),
                    "property is not defined in schema and the schema does not allow additional properties".into(),
                );
            }
        }
    }
    for p in route.params.iter().filter(|p| p.required) {
        if !params.contains_key(p.name) {
            errors.insert(
                p.name.into(),
                "property is missing and it is not optional".into(),
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::params(errors))
    }
}

#[allow(clippy::too_many_arguments)]
async fn process(
    app: &App,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    log_params: &mut BTreeMap<String, String>,
    template: &mut Option<&'static str>,
) -> Outcome {
    let path = uri.path();
    let Some(rel) = path.strip_prefix("/api2/json") else {
        return not_implemented(method, path);
    };
    let rel_disp = if rel.is_empty() { "/" } else { rel };
    let segments: Vec<String> = rel
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s, false))
        .collect();
    let Some((route, vars)) = routes::find(method.as_str(), &segments) else {
        return not_implemented(method, rel_disp);
    };
    *template = Some(route.template);
    // Parameters: body, then query (query wins), then path.
    let is_upload = route.template.ends_with("/upload");
    let mut params: Vec<(String, String)> = Vec::new();
    let mut upload: Option<(String, Vec<u8>)> = None;
    if !body.is_empty() && !is_upload {
        if *method == Method::GET || *method == Method::DELETE {
            return Outcome::err(&ApiError::new(
                501,
                format!("Unexpected content for method '{method}'"),
            ));
        }
        if body.len() > 512 * 1024 {
            return Outcome::err(&ApiError::new(501, "for data too large"));
        }
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if ct.starts_with("application/json") {
            match json_params(body) {
                Ok(p) => params = p,
                Err(e) => return Outcome::err(&e),
            }
        } else if ct.starts_with("application/x-www-form-urlencoded") || ct.is_empty() {
            params = decode_form(&String::from_utf8_lossy(body));
        } else {
            return Outcome::err(&ApiError::new(
                506,
                format!("upload 'Content-Type '{ct}'' not implemented"),
            ));
        }
    }
    if is_upload {
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match parse_multipart(ct, body) {
            Ok((fields, file)) => {
                params = fields;
                upload = file;
            }
            Err(e) => return Outcome::err(&e),
        }
    }
    if let Some(q) = uri.query() {
        for (k, v) in decode_form(q) {
            params.retain(|(ek, _)| *ek != k);
            params.push((k, v));
        }
    }
    let mut map: BTreeMap<String, String> = params.into_iter().collect();
    for (k, v) in vars {
        if let Some(existing) = map.get(k)
            && *existing != v
        {
            return Outcome::err(&ApiError::param(
                k,
                "duplicate parameter (already defined in URI) with conflicting values!",
            ));
        }
        map.insert(k.to_owned(), v);
    }
    if let Some((name, _)) = &upload
        && !map.contains_key("filename")
    {
        map.insert("filename".into(), name.clone());
    }
    *log_params = map.clone();
    if route.template == "/access/ticket" {
        if let Err(e) = validate(route, &map) {
            return Outcome::err(&e);
        }
        return login(app, &map);
    }
    let caller = match authenticate(app, headers, method) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let who = match caller {
        Caller::Ticket(user) => Identity { user, token: None },
        Caller::Token(id) => {
            if !route.allow_token {
                return Outcome::err(&ApiError::new(
                    403,
                    format!(
                        "Permission check failed (URI '{}' not available with API token, need proper ticket.",
                        route.template
                    ),
                ));
            }
            id
        }
    };
    if let Err(e) = validate(route, &map) {
        return Outcome::err(&e);
    }
    if let Some(p) = unimplemented_param(route.template, &map) {
        return Outcome::err(&ApiError::new(
            501,
            format!(
                "parameter '{p}' of {} {} is not implemented by the simulator",
                route.method, route.template
            ),
        ));
    }
    let client = app.sim.client(who);
    dispatch(&client, route.method, route.template, &map, upload).await
}

fn login(app: &App, map: &BTreeMap<String, String>) -> Outcome {
    let mut user = map.get("username").cloned().unwrap_or_default();
    if !user.contains('@')
        && let Some(realm) = map.get("realm")
    {
        user = format!("{user}@{realm}");
    }
    let password = map.get("password").cloned().unwrap_or_default();
    let now = unix_now();
    let renewed = app
        .tickets
        .verify_ticket(&password, now)
        .is_some_and(|u| u == user);
    if !renewed && !app.sim.check_password(&user, &password) {
        let mut o = Outcome::err(&ApiError::new(401, "authentication failure"));
        o.delay = true;
        return o;
    }
    let ticket = app.tickets.ticket(&user, now);
    let csrf = app.tickets.csrf(&user, now);
    Outcome::ok(serde_json::json!({
        "username": user,
        "ticket": ticket.expose(),
        "CSRFPreventionToken": csrf.expose(),
        "cap": {"vms": {}, "storage": {}, "access": {}, "nodes": {}, "dc": {}, "sdn": {}, "mapping": {}},
        "clustername": app.sim.config().cluster_name,
    }))
}

/// Form fields and the uploaded file's (name, contents) of a multipart body.
type Multipart = (Vec<(String, String)>, Option<(String, Vec<u8>)>);

fn parse_multipart(ct: &str, body: &[u8]) -> Result<Multipart, ApiError> {
    let boundary = ct
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
        .ok_or_else(|| ApiError::new(501, "upload without multipart/form-data boundary"))?;
    let delim = format!("--{boundary}");
    let mut fields = Vec::new();
    let mut file = None;
    let mut rest = body;
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    while let Some(start) = find(rest, delim.as_bytes()) {
        rest = &rest[start + delim.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let Some(hend) = find(rest, b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&rest[..hend]).to_string();
        let content = &rest[hend + 4..];
        let end = find(content, format!("\r\n{delim}").as_bytes()).unwrap_or(content.len());
        let data = &content[..end];
        let disp = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .unwrap_or("");
        let attr = |name: &str| {
            disp.split(';').find_map(|p| {
                p.trim()
                    .strip_prefix(&format!("{name}="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        match (attr("name"), attr("filename")) {
            (Some(_), Some(fname)) => file = Some((fname, data.to_vec())),
            (Some(n), None) => fields.push((n, String::from_utf8_lossy(data).into_owned())),
            _ => {}
        }
        rest = &content[end..];
    }
    Ok((fields, file))
}

fn get<'a>(map: &'a BTreeMap<String, String>, k: &str) -> Option<&'a str> {
    map.get(k).map(String::as_str)
}

fn flag(map: &BTreeMap<String, String>, k: &str) -> bool {
    get(map, k) == Some("1")
}

fn vmid(map: &BTreeMap<String, String>, k: &str) -> Result<VmId, Outcome> {
    get(map, k)
        .and_then(|v| v.parse::<u32>().ok())
        .and_then(|v| VmId::new(v).ok())
        .ok_or_else(|| Outcome::err(&ApiError::param(k, "invalid VMID")))
}

fn to_json<T: serde::Serialize>(r: Result<T, Error>) -> Outcome {
    match r {
        Ok(v) => Outcome::ok(serde_json::to_value(v).unwrap_or(serde_json::Value::Null)),
        Err(e) => api_err(e),
    }
}

fn list(v: Option<&str>) -> Vec<String> {
    v.map(|s| {
        s.split([',', ';', ' '])
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

const NON_CONFIG: &[&str] = &[
    "node",
    "vmid",
    "pool",
    "start",
    "delete",
    "revert",
    "digest",
    "skiplock",
    "force",
    "background_delay",
    "archive",
    "ha-managed",
    "bwlimit",
    "import-working-storage",
    "live-restore",
    "storage",
    "unique",
];

fn config_of(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .filter(|(k, _)| !NON_CONFIG.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

async fn dispatch(
    c: &SimClient,
    method: &str,
    template: &str,
    map: &BTreeMap<String, String>,
    upload: Option<(String, Vec<u8>)>,
) -> Outcome {
    let node = NodeName::new(get(map, "node").unwrap_or(""));
    let res: Result<Outcome, Outcome> = async {
        Ok(match (method, template) {
            ("GET", "/version") => to_json(c.version().await),
            ("GET", "/nodes") => to_json(c.nodes().await),
            ("GET", "/cluster/status") => to_json(c.cluster_status().await),
            ("GET", "/nodes/{node}/status") => to_json(c.node_status(node.as_str()).await),
            ("GET", "/cluster/tasks") => to_json(c.list_tasks(None).await),
            ("GET", "/nodes/{node}/tasks") => {
                let mut tasks = match c.list_tasks(Some(node.as_str())).await {
                    Ok(t) => t,
                    Err(e) => return Ok(api_err(e)),
                };
                if let Some(v) = get(map, "vmid") {
                    tasks.retain(|t| t["id"] == v);
                }
                if let Some(ty) = get(map, "typefilter") {
                    tasks.retain(|t| t["type"] == ty);
                }
                if flag(map, "errors") {
                    tasks.retain(|t| t.get("status").is_some_and(|s| s != "OK"));
                }
                let total = tasks.len() as u64;
                let start = get(map, "start").and_then(|v| v.parse().ok()).unwrap_or(0);
                let limit = get(map, "limit").and_then(|v| v.parse().ok()).unwrap_or(50);
                let page: Vec<_> = tasks.into_iter().skip(start).take(limit).collect();
                Outcome::ok_total(page.into(), total)
            }
            ("GET", "/nodes/{node}/storage/{storage}/status") => {
                to_json(c.storage_status(node.as_str(), get(map, "storage").unwrap_or("")).await)
            }
            ("GET", "/access/acl") => to_json(c.acl_list().await),
            ("GET", "/access/roles") => to_json(c.roles_list().await),
            ("GET", "/access/permissions") => {
                if let Some(u) = get(map, "userid")
                    && u != c.identity().full()
                {
                    return Ok(Outcome::err(&ApiError::new(501, "userid parameter is not implemented by the simulator")));
                }
                to_json(c.permissions(get(map, "path")).await)
            }
            ("GET", "/access/users") => to_json(c.users_list(flag(map, "full")).await),
            ("GET", "/access/users/{userid}/token") => to_json(c.tokens_list(get(map, "userid").unwrap_or("")).await),
            ("GET", "/nodes/{node}/qemu/{vmid}/cloudinit") => {
                to_json(c.cloudinit_pending(node.as_str(), vmid(map, "vmid")?.get()).await)
            }
            ("PUT", "/nodes/{node}/qemu/{vmid}/cloudinit") => {
                to_json(c.cloudinit_regenerate(node.as_str(), vmid(map, "vmid")?.get()).await)
            }
            ("GET", "/nodes/{node}/qemu/{vmid}/cloudinit/dump") => to_json(
                c.cloudinit_dump(node.as_str(), vmid(map, "vmid")?.get(), get(map, "type").unwrap_or("user")).await,
            ),
            ("GET", "/cluster/resources") => {
                let kind = match get(map, "type") {
                    Some("vm") => Some(ResourceType::Vm),
                    Some("storage") => Some(ResourceType::Storage),
                    Some("node") => Some(ResourceType::Node),
                    Some(_) => return Ok(Outcome::ok(serde_json::json!([]))),
                    None => None,
                };
                to_json(c.cluster_resources(kind).await)
            }
            ("GET", "/cluster/nextid") => {
                let check = match get(map, "vmid") {
                    Some(_) => Some(vmid(map, "vmid")?),
                    None => None,
                };
                match c.next_vmid(check).await {
                    Ok(v) => Outcome::ok(v.get().into()),
                    Err(e) => api_err(e),
                }
            }
            ("POST", "/access/users") => to_json(
                c.create_user(&CreateUser {
                    userid: get(map, "userid").unwrap_or("").to_owned(),
                    password: get(map, "password").map(Secret::new),
                    comment: get(map, "comment").map(str::to_owned),
                })
                .await,
            ),
            ("POST", "/access/users/{userid}/token/{tokenid}") => {
                let req = CreateToken {
                    privsep: get(map, "privsep").map(|v| v == "1"),
                    expire: get(map, "expire").and_then(|v| v.parse().ok()),
                    comment: get(map, "comment").map(str::to_owned),
                };
                match c.create_token(get(map, "userid").unwrap_or(""), get(map, "tokenid").unwrap_or(""), &req).await {
                    Ok(t) => Outcome::ok(serde_json::json!({
                        "full-tokenid": t.full_tokenid,
                        "info": {"privsep": u8::from(req.privsep.unwrap_or(true)), "expire": req.expire.unwrap_or(0)},
                        "value": t.value.expose(),
                    })),
                    Err(e) => api_err(e),
                }
            }
            ("DELETE", "/access/users/{userid}") => to_json(c.delete_user(get(map, "userid").unwrap_or("")).await),
            ("DELETE", "/access/users/{userid}/token/{tokenid}") => to_json(
                c.delete_token(get(map, "userid").unwrap_or(""), get(map, "tokenid").unwrap_or("")).await,
            ),
            ("PUT", "/access/acl") => to_json(
                c.update_acl(&AclUpdate {
                    path: get(map, "path").unwrap_or("").to_owned(),
                    roles: list(get(map, "roles")),
                    users: list(get(map, "users")),
                    tokens: list(get(map, "tokens")),
                    propagate: get(map, "propagate") != Some("0"),
                    delete: flag(map, "delete"),
                })
                .await,
            ),
            ("GET", "/pools") => to_json(c.pools().await.map(|mut v| {
                if let Some(id) = get(map, "poolid") {
                    v.retain(|p| p.poolid == id);
                }
                v
            })),
            ("POST", "/nodes/{node}/qemu/{vmid}/agent/ping") => match c.agent_ping(&node, vmid(map, "vmid")?).await {
                Ok(()) => Outcome::ok(serde_json::json!({ "result": {} })),
                Err(e) => api_err(e),
            },
            ("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}") => {
                let storage = match (get(map, "storage"), get(map, "volume").and_then(|v| v.split_once(':'))) {
                    (Some(s), _) => s.to_owned(),
                    (None, Some((s, _))) => s.to_owned(),
                    (None, None) => return Ok(Outcome::err(&ApiError::param("storage", "property is missing and it is not optional"))),
                };
                match c.delete_volume(&node, &StorageName::new(storage), get(map, "volume").unwrap_or("")).await {
                    Ok(upid) => match get(map, "delay").and_then(|d| d.parse::<u64>().ok()) {
                        Some(d) => background_wait(c, upid, d).await,
                        None => Outcome::ok(upid.to_string().into()),
                    },
                    Err(e) => api_err(e),
                }
            }
            ("POST", "/pools") => match c.create_pool(get(map, "poolid").unwrap_or(""), get(map, "comment")).await {
                Ok(()) => Outcome::ok(serde_json::Value::Null),
                Err(e) => api_err(e),
            },
            ("GET", "/nodes/{node}/qemu") => match c.list_vms(node.as_str()).await {
                Ok(v) => Outcome::ok(v.into()),
                Err(e) => api_err(e),
            },
            ("POST", "/nodes/{node}/qemu") => {
                let req = CreateVm {
                    vmid: vmid(map, "vmid")?,
                    config: config_of(map),
                    pool: get(map, "pool").map(str::to_owned),
                    start: flag(map, "start"),
                };
                to_json(c.create_vm(&node, &req).await)
            }
            ("GET", "/nodes/{node}/qemu/{vmid}/config") => {
                match c.config_json(node.as_str(), vmid(map, "vmid")?.get(), flag(map, "current"), get(map, "snapshot")).await {
                    Ok(j) => Outcome::ok(j.into()),
                    Err(e) => api_err(e),
                }
            }
            (m @ ("POST" | "PUT"), "/nodes/{node}/qemu/{vmid}/config") => {
                let update = ConfigUpdate {
                    set: config_of(map),
                    delete: list(get(map, "delete")),
                    revert: list(get(map, "revert")),
                    digest: get(map, "digest").map(str::to_owned),
                };
                let id = vmid(map, "vmid")?;
                if m == "PUT" {
                    match c.update_vm_config_sync(&node, id, &update).await {
                        Ok(()) => Outcome::ok(serde_json::Value::Null),
                        Err(e) => api_err(e),
                    }
                } else {
                    match c.update_vm_config(&node, id, &update).await {
                        Ok(upid) => match get(map, "background_delay").and_then(|d| d.parse::<u64>().ok()) {
                            Some(d) => background_wait(c, upid, d).await,
                            None => Outcome::ok(upid.to_string().into()),
                        },
                        Err(e) => api_err(e),
                    }
                }
            }
            ("GET", "/nodes/{node}/qemu/{vmid}/pending") => match c.pending_json(node.as_str(), vmid(map, "vmid")?.get()).await {
                Ok(j) => Outcome::ok(j.into()),
                Err(e) => api_err(e),
            },
            ("PUT", "/nodes/{node}/qemu/{vmid}/resize") => to_json(
                c.resize_disk(
                    &node,
                    vmid(map, "vmid")?,
                    &ResizeDisk {
                        disk: get(map, "disk").unwrap_or("").to_owned(),
                        size: get(map, "size").unwrap_or("").to_owned(),
                        digest: get(map, "digest").map(str::to_owned),
                    },
                )
                .await,
            ),
            ("POST", "/nodes/{node}/qemu/{vmid}/template") => to_json(c.convert_to_template(&node, vmid(map, "vmid")?).await),
            ("POST", "/nodes/{node}/qemu/{vmid}/clone") => {
                let req = CloneVm {
                    newid: vmid(map, "newid")?,
                    name: get(map, "name").map(str::to_owned),
                    full: get(map, "full").map(|f| f == "1"),
                    storage: get(map, "storage").map(str::to_owned),
                    format: get(map, "format").map(str::to_owned),
                    target: get(map, "target").map(str::to_owned),
                    pool: get(map, "pool").map(str::to_owned),
                    description: get(map, "description").map(str::to_owned),
                };
                to_json(c.clone_vm(&node, vmid(map, "vmid")?, &req).await)
            }
            ("GET", "/nodes/{node}/qemu/{vmid}/status/current") => to_json(c.vm_status(&node, vmid(map, "vmid")?).await),
            ("POST", t) if t.starts_with("/nodes/{node}/qemu/{vmid}/status/") => {
                let action = match t.rsplit('/').next() {
                    Some("start") => VmAction::Start,
                    Some("stop") => VmAction::Stop,
                    Some("shutdown") => VmAction::Shutdown,
                    _ => VmAction::Reboot,
                };
                to_json(c.vm_action(&node, vmid(map, "vmid")?, action).await)
            }
            ("DELETE", "/nodes/{node}/qemu/{vmid}") => to_json(
                c.delete_vm(
                    &node,
                    vmid(map, "vmid")?,
                    DeleteVm { purge: flag(map, "purge"), destroy_unreferenced_disks: flag(map, "destroy-unreferenced-disks") },
                )
                .await,
            ),
            ("POST", "/nodes/{node}/qemu/{vmid}/migrate") => to_json(
                c.migrate_vm(&node, vmid(map, "vmid")?, &NodeName::new(get(map, "target").unwrap_or("")), flag(map, "online"))
                    .await,
            ),
            ("GET", "/nodes/{node}/qemu/{vmid}/snapshot") => {
                to_json(c.list_snapshots(&node, vmid(map, "vmid")?).await)
            }
            ("POST", "/nodes/{node}/qemu/{vmid}/snapshot") => to_json(
                c.create_snapshot(&node, vmid(map, "vmid")?, get(map, "snapname").unwrap_or(""), get(map, "description"))
                    .await,
            ),
            ("DELETE", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}") => {
                to_json(c.delete_snapshot(&node, vmid(map, "vmid")?, get(map, "snapname").unwrap_or("")).await)
            }
            ("POST", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback") => {
                let id = vmid(map, "vmid")?;
                let snap = get(map, "snapname").unwrap_or("");
                to_json(c.rollback_snapshot(&node, id, snap).await)
            }
            ("GET", "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces") => {
                match c.agent_network_interfaces(&node, vmid(map, "vmid")?).await {
                    Ok(ifs) => Outcome::ok(serde_json::json!({ "result": ifs })),
                    Err(e) => api_err(e),
                }
            }
            ("GET", "/nodes/{node}/tasks/{upid}/status") => match parse_upid(map) {
                Ok(u) => to_json(c.task_status(&u).await),
                Err(o) => o,
            },
            ("GET", "/nodes/{node}/tasks/{upid}/log") => match parse_upid(map) {
                Ok(u) => {
                    let start = get(map, "start").and_then(|v| v.parse().ok()).unwrap_or(0);
                    let limit = get(map, "limit").and_then(|v| v.parse().ok()).unwrap_or(50);
                    match c.task_log(&u, start, limit).await {
                        Ok(l) => Outcome::ok_total(serde_json::to_value(l.lines).unwrap_or_default(), l.total),
                        Err(e) => api_err(e),
                    }
                }
                Err(o) => o,
            },
            ("GET", "/nodes/{node}/storage") => {
                match c.node_storages(&node).await {
                    Ok(mut v) => {
                        if let Some(ct) = get(map, "content") {
                            v.retain(|s| s.content.split(',').any(|x| ct.split(',').any(|w| w == x)));
                        }
                        if let Some(s) = get(map, "storage") {
                            v.retain(|x| x.storage == s);
                        }
                        to_json::<Vec<NodeStorage>>(Ok(v))
                    }
                    Err(e) => api_err(e),
                }
            }
            ("GET", "/nodes/{node}/storage/{storage}/content") => {
                let storage = StorageName::new(get(map, "storage").unwrap_or(""));
                match c.storage_content(&node, &storage, get(map, "content")).await {
                    Ok(mut v) => {
                        if let Some(id) = get(map, "vmid").and_then(|x| x.parse::<u64>().ok()) {
                            v.retain(|x| x.vmid == Some(id));
                        }
                        to_json::<Vec<StorageVolume>>(Ok(v))
                    }
                    Err(e) => api_err(e),
                }
            }
            ("POST", "/nodes/{node}/storage/{storage}/download-url") => {
                let storage = StorageName::new(get(map, "storage").unwrap_or(""));
                let checksum = match (get(map, "checksum-algorithm"), get(map, "checksum")) {
                    (Some(a), Some(s)) => Some((a.to_owned(), s.to_owned())),
                    (None, None) => None,
                    _ => {
                        return Ok(Outcome::err(&ApiError::param(
                            "checksum",
                            "'checksum' and 'checksum-algorithm' must be given together",
                        )));
                    }
                };
                let req = DownloadUrl {
                    url: get(map, "url").unwrap_or("").to_owned(),
                    content: get(map, "content").unwrap_or("").to_owned(),
                    filename: get(map, "filename").unwrap_or("").to_owned(),
                    checksum,
                };
                to_json(c.download_url(&node, &storage, &req).await)
            }
            ("POST", "/nodes/{node}/storage/{storage}/upload") => {
                let Some((_, data)) = upload else {
                    return Ok(Outcome::err(&ApiError::param("filename", "missing file upload")));
                };
                match c
                    .upload_data(
                        node.as_str(),
                        get(map, "storage").unwrap_or(""),
                        get(map, "content").unwrap_or(""),
                        get(map, "filename").unwrap_or(""),
                        data,
                    )
                    .await
                {
                    Ok(u) => Outcome::ok(u.to_string().into()),
                    Err(e) => api_err(e),
                }
            }
            _ => Outcome::err(&ApiError::new(501, format!("Method '{method} {template}' not implemented"))),
        })
    }
    .await;
    res.unwrap_or_else(|o| o)
}

/// Parameters the schema allows but the simulator does not model: refused
/// with 501 rather than silently ignored.
fn unimplemented_param(template: &str, map: &BTreeMap<String, String>) -> Option<&'static str> {
    let set = |k: &str| map.get(k).is_some_and(|v| v != "0");
    let candidates: &[&'static str] = match template {
        "/nodes/{node}/qemu" => &[
            "archive",
            "live-restore",
            "ha-managed",
            "import-working-storage",
            "unique",
        ],
        "/nodes/{node}/qemu/{vmid}/config" => &["import-working-storage"],
        "/nodes/{node}/qemu/{vmid}/clone" => &["snapname"],
        "/nodes/{node}/qemu/{vmid}/status/start" => &["stateuri", "migratedfrom", "targetstorage"],
        "/nodes/{node}/qemu/{vmid}/snapshot" => &["vmstate"],
        "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback" => &["start"],
        "/nodes/{node}/storage/{storage}/download-url" => &["compression"],
        "/access/acl" => &["groups"],
        "/access/users" => &["groups", "expire", "keys"],
        _ => &[],
    };
    if template == "/access/users" && map.get("enable").is_some_and(|v| v == "0") {
        return Some("enable");
    }
    candidates.iter().copied().find(|k| set(k))
}

fn parse_upid(map: &BTreeMap<String, String>) -> Result<Upid, Outcome> {
    get(map, "upid")
        .and_then(|u| u.parse::<Upid>().ok())
        .ok_or_else(|| Outcome::err(&ApiError::param("upid", "unable to parse worker upid")))
}

async fn background_wait(c: &SimClient, upid: Upid, delay: u64) -> Outcome {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(delay.min(30));
    loop {
        match c.task_status(&upid).await {
            Ok(s) if s.status == TaskState::Stopped && s.is_ok() => {
                return Outcome::ok(serde_json::Value::Null);
            }
            Ok(s) if s.status == TaskState::Stopped => {
                return Outcome::err(&ApiError::new(500, s.exitstatus.unwrap_or_default()));
            }
            _ if tokio::time::Instant::now() >= deadline => {
                return Outcome::ok(upid.to_string().into());
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}
