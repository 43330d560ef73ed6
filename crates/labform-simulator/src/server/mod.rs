//! The simulator's HTTP(S) server: the real `/api2/json/...` layout, the
//! `{"data": ...}` envelope, Proxmox's status codes, reason phrases and
//! error bodies, ticket (+ CSRF) and API-token authentication, parameter
//! validation, and 501 for everything not implemented.
//!
//! Here: the request pipeline (`handle`, `process`). Beside it: `listen`
//! (TLS and listeners), `launch` (`labform sim serve`), `authentication`,
//! `params` (decoding and schema checks), `response` and `dispatch` (one arm
//! per endpoint).
//!
//! Two extra endpoints live outside Proxmox's namespace, for `root@pam` only:
//! `GET`/`PUT /simulator/faults` reads or replaces the fault configuration
//! (JSON, see [`crate::faults`]), and `GET /simulator/requests` reads what
//! the server answered, per endpoint: calls and bytes ([`requests`]).

mod authentication;
mod dispatch;
mod dispatch_cluster;
mod launch;
mod listen;
mod params;
mod requests;
mod response;

pub use launch::{Launched, NodeOutage, ServeOptions, launch, serve};
pub use listen::{RunningServer, ServerOptions, start};
pub use params::decode_form;
pub use requests::RequestCount;

use authentication::{Caller, authenticate, login};
use dispatch::dispatch;
use params::{
    decode_form_pairs, json_params, merge_repeated, parse_multipart, percent_decode,
    unimplemented_param, validate,
};
use response::{Outcome, base_response, not_implemented};

use crate::auth::TicketAuthority;
use crate::backend::BackendError;
use crate::backend::qemu::{QemuBackend, QemuOptions};
use crate::config::{SimConfig, Timing};
use crate::faults::FaultConfig;
use crate::perms::Identity;
use crate::sim::{SimClient, Simulator, unix_now};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use labform_ids::{NodeName, StorageName, VmId};
use labform_proxmox::api::ProxmoxApi;
use labform_proxmox::endpoint::{self, ARRAY_SEPARATOR, Endpoint, Extra, Method as ApiMethod, Ty};
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
    requests: Arc<requests::RequestCounter>,
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
    /// A file kept in the state directory (certificate, ticket key) cannot be used.
    #[error("cannot use the simulator's file {path}")]
    Kept {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The state directory cannot be used.
    #[error("the simulator's state cannot be kept")]
    State(#[source] crate::persist::PersistError),
    /// The certificate could not be written.
    #[error("could not write the certificate to {path}")]
    CertificateOut {
        /// Path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for Ctrl-C failed.
    #[error("signal handling failed")]
    Signal(#[source] std::io::Error),
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
    if uri.path() == "/simulator/requests" {
        let o = admin_requests(&app, &method, &headers);
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
    let response = base_response(outcome.status, &outcome.reason, outcome.body);
    let request_bytes = uri.path_and_query().map_or(0, |path| path.as_str().len()) + body.len();
    let response_bytes = axum::body::HttpBody::size_hint(response.body())
        .exact()
        .unwrap_or(0);
    app.requests.count(
        method.as_str(),
        template.unwrap_or("(no route)"),
        request_bytes as u64,
        response_bytes,
    );
    response
}

/// Who may read the simulator's own endpoints: `root@pam` (ticket with CSRF token, or a token
/// without privilege separation); the refusal otherwise.
fn simulator_admin(app: &App, method: &Method, headers: &HeaderMap) -> Result<(), Outcome> {
    let who = match authenticate(app, headers, method) {
        Ok(Caller::Ticket(user)) => Identity { user, token: None },
        Ok(Caller::Token(id)) => id,
        Err(o) => return Err(o),
    };
    if !app.sim.with_state(|st| st.access.is_root(&who)) {
        return Err(Outcome::err(&ApiError::new(
            403,
            "Permission check failed (/, Sys.Modify)",
        )));
    }
    Ok(())
}

/// `GET /simulator/requests`: every endpoint answered so far with its calls and bytes.
fn admin_requests(app: &App, method: &Method, headers: &HeaderMap) -> Outcome {
    if let Err(refused) = simulator_admin(app, method, headers) {
        return refused;
    }
    match *method {
        Method::GET => Outcome::ok(app.requests.json()),
        _ => not_implemented(method, "/simulator/requests"),
    }
}

/// `GET`/`PUT /simulator/faults` (outside Proxmox's `/api2` namespace):
/// read or replace the fault configuration at run time. Only `root@pam`
/// (ticket with CSRF token, or a token without privilege separation).
fn admin_faults(app: &App, method: &Method, headers: &HeaderMap, body: &Bytes) -> Outcome {
    if let Err(refused) = simulator_admin(app, method, headers) {
        return refused;
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
    let found = ApiMethod::from_name(method.as_str())
        .and_then(|api_method| endpoint::find(api_method, &segments));
    let Some((route, vars)) = found else {
        return not_implemented(method, rel_disp);
    };
    *template = Some(route.path);
    // Parameters: body, then query (query wins), then path.
    let is_upload = route == &endpoint::storage::UPLOAD;
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
            params = decode_form_pairs(&String::from_utf8_lossy(body));
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
        let query = decode_form_pairs(q);
        params.retain(|(k, _)| !query.iter().any(|(qk, _)| qk == k));
        params.extend(query);
    }
    let separator = |k: &str| match route.params.iter().find(|p| p.name == k) {
        Some(p) if p.ty == Ty::Array => ARRAY_SEPARATOR,
        _ => ',',
    };
    let mut map: BTreeMap<String, String> = merge_repeated(params, separator).into_iter().collect();
    for (k, v) in vars {
        if let Some(existing) = map.get(k)
            && *existing != v
        {
            return Outcome::err(&ApiError::param(
                k,
                "duplicate parameter (already defined in URI) with conflicting values!",
            ));
        }
        map.insert(k.to_owned(), v.to_owned());
    }
    if let Some((name, _)) = &upload
        && !map.contains_key("filename")
    {
        map.insert("filename".into(), name.clone());
    }
    *log_params = map.clone();
    if route == &endpoint::access::TICKET {
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
                        route.path
                    ),
                ));
            }
            id
        }
    };
    if let Err(e) = validate(route, &map) {
        return Outcome::err(&e);
    }
    if let Some(p) = unimplemented_param(route, &map) {
        return Outcome::err(&ApiError::new(
            501,
            format!(
                "parameter '{p}' of {} {} is not implemented by the simulator",
                route.method, route.path
            ),
        ));
    }
    let client = app.sim.client(who);
    let outcome = dispatch(&client, route, &map, upload).await;
    // Endpoints answered outside `SimClient::run` are saved here (crate::persist).
    if !route.is_read()
        && let Err(error) = app.sim.commit().await
    {
        return Outcome::err(&ApiError::new(
            500,
            format!("unable to save the simulator's state: {error}"),
        ));
    }
    outcome
}
