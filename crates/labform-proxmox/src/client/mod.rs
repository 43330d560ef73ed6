//! The HTTPS implementation of [`ProxmoxApi`]: reqwest over rustls
//! (ring), API-token or ticket authentication (with CSRF token and
//! renewal), safe retries with jittered backoff, and a per-endpoint
//! concurrency limit.
//!
//! Here: the options, the transport (calls, retries, limits, decoding);
//! beside it `authentication` (tickets) and `endpoints` (the
//! [`ProxmoxApi`] methods, each a declared [`crate::endpoint`] with its
//! arguments and parameters).

mod authentication;
mod endpoints;

use crate::api::ProxmoxApi;
use crate::endpoint::{self, Endpoint};
use crate::error::{ApiError, Error, Result};
use crate::secret::Secret;
use crate::tls::{TlsTrust, pinned_client_config};
use crate::types::*;
use crate::upid::Upid;
use authentication::TicketState;
use labform_ids::{NodeName, StorageName, VmId};
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

/// How to authenticate.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// An API token: `user@realm!tokenid` and its secret. Stateless, no CSRF.
    Token {
        /// `user@realm!tokenid`.
        token_id: String,
        /// The token secret (a UUID).
        secret: Secret,
    },
    /// User name and password: the client logs in for a ticket, sends the
    /// CSRF token on writes, and renews the ticket before it expires.
    Password {
        /// `user@realm`.
        username: String,
        /// Password.
        password: Secret,
    },
}

/// When and how often to retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts, including the first.
    pub max_attempts: u32,
    /// Backoff before the second attempt (doubled each time, full jitter).
    pub base_delay: Duration,
    /// Longest backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `https://host:8006` (a path is ignored; `/api2/json` is appended).
    pub base_url: String,
    /// Credentials.
    pub auth: Auth,
    /// Certificate trust.
    pub tls: TlsTrust,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// At most this many requests in flight per endpoint (method + path
    /// template, e.g. `POST /nodes/{node}/qemu/{vmid}/clone`).
    pub max_concurrent_per_endpoint: usize,
    /// Renew tickets older than this (Proxmox tickets live 2 hours).
    pub ticket_renew_after: Duration,
}

impl ClientOptions {
    /// Options with defaults: 30 s timeout, 4 attempts, 4 concurrent
    /// requests per endpoint, ticket renewal after 90 minutes.
    pub fn new(base_url: impl Into<String>, auth: Auth, tls: TlsTrust) -> Self {
        Self {
            base_url: base_url.into(),
            auth,
            tls,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            max_concurrent_per_endpoint: 4,
            ticket_renew_after: Duration::from_secs(90 * 60),
        }
    }
}

/// The Proxmox HTTPS client.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    opts: ClientOptions,
    ticket: Mutex<Option<TicketState>>,
    limits: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
    jitter_seed: std::collections::hash_map::RandomState,
    jitter_counter: AtomicU64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("auth", &self.opts.auth)
            .finish()
    }
}

/// No parameters.
const NONE: Option<()> = None;

/// A decoded success envelope.
struct Envelope {
    data: serde_json::Value,
    total: Option<u64>,
}

/// Whether a request may be retried after a given failure.
fn retryable(method: &Method, err: &ApiError) -> bool {
    if err.is_safe_to_retry_write() {
        return true;
    }
    // Proxmox answers 500 for nearly every handler error ("does not
    // exist", "VM is locked", ...): retrying those only delays the answer.
    method == Method::GET && matches!(err.status, 502..=504)
}

impl Client {
    /// Builds a client. No request is made until the first call.
    pub fn new(opts: ClientOptions) -> Result<Self> {
        let mut base = Url::parse(&opts.base_url)
            .map_err(|e| Error::Config(format!("invalid base URL '{}': {e}", opts.base_url)))?;
        if base.scheme() != "https" && base.scheme() != "http" {
            return Err(Error::Config(format!(
                "unsupported URL scheme in '{}'",
                opts.base_url
            )));
        }
        base.set_path("/api2/json");
        base.set_query(None);
        crate::tls::install_default_provider();
        let mut builder = reqwest::Client::builder().timeout(opts.timeout).no_proxy();
        if let TlsTrust::Fingerprint(pin) = &opts.tls {
            builder = builder.tls_backend_preconfigured(pinned_client_config(*pin)?);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("building the HTTP client: {e}")))?;
        if opts.max_concurrent_per_endpoint == 0 {
            return Err(Error::Config(
                "max_concurrent_per_endpoint must be at least 1".into(),
            ));
        }
        Ok(Self {
            http,
            base,
            opts,
            ticket: Mutex::new(None),
            limits: std::sync::Mutex::new(HashMap::new()),
            jitter_seed: std::collections::hash_map::RandomState::new(),
            jitter_counter: AtomicU64::new(0),
        })
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.extend(segments);
        }
        url
    }

    fn limit(&self, endpoint: &str) -> Arc<Semaphore> {
        let mut map = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(endpoint.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.opts.max_concurrent_per_endpoint)))
            .clone()
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .opts
            .retry
            .base_delay
            .saturating_mul(1u32 << attempt.min(16));
        let cap = exp.min(self.opts.retry.max_delay);
        let mut h = self.jitter_seed.build_hasher();
        h.write_u64(self.jitter_counter.fetch_add(1, Ordering::Relaxed));
        let r = h.finish();
        // Full jitter: uniform in [cap/2, cap].
        let nanos = cap.as_nanos() as u64;
        Duration::from_nanos(nanos / 2 + if nanos > 1 { r % (nanos / 2 + 1) } else { 0 })
    }

    /// Performs one call of `endpoint` (its path parameters' values `arguments`) with auth,
    /// limits and retries; returns the `data` (and `total`) of the success envelope.
    /// `parameters` go on the wire as the endpoint declares them ([`endpoint::form::encode`]).
    async fn call(
        &self,
        endpoint: &'static Endpoint,
        arguments: &[&str],
        parameters: &(impl Serialize + Sync),
    ) -> Result<Envelope> {
        self.call_with(endpoint, arguments, parameters, None).await
    }

    /// [`Client::call`], sending `upload` as the multipart form's file part, which the
    /// parameters name (`filename`).
    async fn call_with(
        &self,
        endpoint: &'static Endpoint,
        arguments: &[&str],
        parameters: &(impl Serialize + Sync),
        upload: Option<&Upload>,
    ) -> Result<Envelope> {
        let params = endpoint::form::encode(endpoint, parameters)?;
        let method = http_method(endpoint.method);
        let segments = endpoint.segments(arguments);
        let path = format!("/{}", segments.join("/"));
        let sem = self.limit(&endpoint.key());
        let _permit = sem
            .acquire_owned()
            .await
            .map_err(|_| Error::Config("client closed".into()))?;
        let mut attempt = 0u32;
        let mut relogged = false;
        loop {
            attempt += 1;
            let ticket = self.ticket(false).await?;
            let mut req = self.http.request(method.clone(), self.url(&segments));
            req = if let Some(file) = upload {
                let mut form = reqwest::multipart::Form::new();
                for (k, v) in params.iter().filter(|(k, _)| k != "filename") {
                    form = form.text(k.clone(), v.clone());
                }
                let part = reqwest::multipart::Part::bytes(file.data.clone())
                    .file_name(file.filename.clone())
                    .mime_str("application/octet-stream")
                    .map_err(|e| Error::Config(format!("multipart: {e}")))?;
                req.multipart(form.part("filename", part))
            } else if method == Method::GET || method == Method::DELETE {
                req.query(&params)
            } else {
                req.form(&params)
            };
            match (&self.opts.auth, &ticket) {
                (Auth::Token { token_id, secret }, _) => {
                    req = req.header(
                        "Authorization",
                        format!("PVEAPIToken={token_id}={}", secret.expose()),
                    );
                }
                (_, Some((t, csrf))) => {
                    req = req.header("Cookie", format!("PVEAuthCookie={}", t.expose()));
                    if method != Method::GET {
                        req = req.header("CSRFPreventionToken", csrf.expose());
                    }
                }
                _ => {}
            }
            let result = match req.send().await {
                Ok(resp) => decode_response(resp, method.as_str(), &path).await,
                Err(source) => {
                    // A connection that was never established sent nothing;
                    // other transport errors are only retried for reads.
                    let safe = source.is_connect() || method == Method::GET;
                    if safe && attempt < self.opts.retry.max_attempts {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        continue;
                    }
                    return Err(Error::Transport {
                        method: method.to_string(),
                        path,
                        source,
                    });
                }
            };
            match result {
                Ok(env) => return Ok(env),
                Err(Error::Api { source, .. })
                    if source.status == 401 && ticket.is_some() && !relogged =>
                {
                    relogged = true;
                    attempt -= 1;
                    self.ticket(true).await?;
                }
                Err(Error::Api { source, .. })
                    if retryable(&method, &source) && attempt < self.opts.retry.max_attempts =>
                {
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Calls an endpoint that starts a task and returns its UPID.
    async fn task(
        &self,
        endpoint: &'static Endpoint,
        arguments: &[&str],
        params: &(impl Serialize + Sync),
    ) -> Result<Upid> {
        let envelope = self.call(endpoint, arguments, params).await?;
        upid_from(envelope.data, endpoint)
    }

    /// Calls an endpoint and decodes its `data` as `T`.
    async fn typed<T: DeserializeOwned>(
        &self,
        endpoint: &'static Endpoint,
        arguments: &[&str],
        params: &(impl Serialize + Sync),
    ) -> Result<T> {
        let env = self.call(endpoint, arguments, params).await?;
        decode_data(env.data, endpoint, arguments)
    }
}

/// The HTTP method of an endpoint's.
fn http_method(method: endpoint::Method) -> Method {
    match method {
        endpoint::Method::Get => Method::GET,
        endpoint::Method::Post => Method::POST,
        endpoint::Method::Put => Method::PUT,
        endpoint::Method::Delete => Method::DELETE,
    }
}

/// `data` of an answer of `endpoint` decoded as `T`.
fn decode_data<T: DeserializeOwned>(
    data: serde_json::Value,
    endpoint: &'static Endpoint,
    arguments: &[&str],
) -> Result<T> {
    serde_json::from_value(data).map_err(|source| Error::Decode {
        method: endpoint.method.to_string(),
        path: endpoint.path_with(arguments),
        source,
    })
}

async fn decode_response(resp: reqwest::Response, method: &str, path: &str) -> Result<Envelope> {
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|source| Error::Transport {
        method: method.into(),
        path: path.into(),
        source,
    })?;
    if status.is_success() {
        #[derive(serde::Deserialize)]
        struct Raw {
            #[serde(default)]
            data: serde_json::Value,
            #[serde(default, deserialize_with = "crate::lenient::opt_u64")]
            total: Option<u64>,
        }
        let raw: Raw = serde_json::from_slice(&bytes).map_err(|source| Error::Decode {
            method: method.into(),
            path: path.into(),
            source,
        })?;
        return Ok(Envelope {
            data: raw.data,
            total: raw.total,
        });
    }
    #[derive(serde::Deserialize, Default)]
    struct RawErr {
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        errors: Option<std::collections::BTreeMap<String, serde_json::Value>>,
    }
    let raw: RawErr = serde_json::from_slice(&bytes).unwrap_or_default();
    let message = raw.message.unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("unknown error")
            .to_owned()
    });
    let mut err = ApiError::new(status.as_u16(), message);
    if let Some(errors) = raw.errors {
        for (k, v) in errors {
            let text = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            err.errors.insert(k, text.trim_end().to_owned());
        }
    }
    Err(Error::from_api(method, path, err))
}

/// The UPID a task-starting endpoint answers with.
fn upid_from(data: serde_json::Value, endpoint: &'static Endpoint) -> Result<Upid> {
    let s: String = serde_json::from_value(data).map_err(|source| Error::Decode {
        method: endpoint.method.to_string(),
        path: endpoint.path.into(),
        source,
    })?;
    Ok(s.parse()?)
}
