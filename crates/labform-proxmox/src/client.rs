//! The HTTPS implementation of [`ProxmoxApi`]: reqwest over rustls
//! (ring), API-token or ticket authentication (with CSRF token and
//! renewal), safe retries with jittered backoff, and a per-endpoint
//! concurrency limit.

use crate::api::ProxmoxApi;
use crate::error::{ApiError, Error, Result};
use crate::secret::Secret;
use crate::tls::{TlsTrust, pinned_client_config};
use crate::types::*;
use crate::upid::Upid;
use labform_ids::{NodeName, StorageName, VmId};
use reqwest::{Method, Url};
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

struct TicketState {
    ticket: Secret,
    csrf: Secret,
    obtained: Instant,
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

    async fn login(&self, username: &str, password: &Secret) -> Result<TicketState> {
        let url = self.url(&["access", "ticket"]);
        let form = [("username", username), ("password", password.expose())];
        let resp = self
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(|source| Error::Transport {
                method: "POST".into(),
                path: "/access/ticket".into(),
                source,
            })?;
        let env = decode_response(resp, "POST", "/access/ticket").await?;
        let t: Ticket = serde_json::from_value(env.data).map_err(|source| Error::Decode {
            method: "POST".into(),
            path: "/access/ticket".into(),
            source,
        })?;
        Ok(TicketState {
            ticket: t.ticket,
            csrf: t.csrf_token,
            obtained: Instant::now(),
        })
    }

    /// Ensures a valid ticket (log in or renew). Returns (ticket, csrf).
    async fn ticket(&self, force_login: bool) -> Result<Option<(Secret, Secret)>> {
        let Auth::Password { username, password } = &self.opts.auth else {
            return Ok(None);
        };
        let mut guard = self.ticket.lock().await;
        let state = match guard.take() {
            Some(s) if !force_login && s.obtained.elapsed() < self.opts.ticket_renew_after => s,
            Some(s) if !force_login => match self.login(username, &s.ticket).await {
                Ok(renewed) => renewed,
                Err(_) => self.login(username, password).await?,
            },
            _ => self.login(username, password).await?,
        };
        let out = (state.ticket.clone(), state.csrf.clone());
        *guard = Some(state);
        Ok(Some(out))
    }

    /// Performs one API call with auth, limits and retries; returns the
    /// `data` (and `total`) of the success envelope.
    async fn call(
        &self,
        method: Method,
        template: &str,
        segments: &[&str],
        params: &Params,
    ) -> Result<Envelope> {
        self.call_with(method, template, segments, params, None)
            .await
    }

    async fn call_with(
        &self,
        method: Method,
        template: &str,
        segments: &[&str],
        params: &Params,
        upload: Option<&Upload>,
    ) -> Result<Envelope> {
        let endpoint = format!("{method} {template}");
        let path = format!("/{}", segments.join("/"));
        let sem = self.limit(&endpoint);
        let _permit = sem
            .acquire_owned()
            .await
            .map_err(|_| Error::Config("client closed".into()))?;
        let mut attempt = 0u32;
        let mut relogged = false;
        loop {
            attempt += 1;
            let ticket = self.ticket(false).await?;
            let mut req = self.http.request(method.clone(), self.url(segments));
            req = if let Some(file) = upload {
                let mut form = reqwest::multipart::Form::new();
                for (k, v) in params {
                    form = form.text(k.clone(), v.clone());
                }
                let part = reqwest::multipart::Part::bytes(file.data.clone())
                    .file_name(file.filename.clone())
                    .mime_str("application/octet-stream")
                    .map_err(|e| Error::Config(format!("multipart: {e}")))?;
                req.multipart(form.part("filename", part))
            } else if method == Method::GET || method == Method::DELETE {
                req.query(params)
            } else {
                req.form(params)
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
        method: Method,
        template: &str,
        segments: &[&str],
        params: &Params,
    ) -> Result<Upid> {
        let method_name = method.as_str().to_owned();
        let envelope = self.call(method, template, segments, params).await?;
        upid_from(envelope.data, &method_name, template)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        template: &str,
        segments: &[&str],
        params: &Params,
    ) -> Result<T> {
        self.typed(Method::GET, template, segments, params).await
    }

    async fn typed<T: DeserializeOwned>(
        &self,
        method: Method,
        template: &str,
        segments: &[&str],
        params: &Params,
    ) -> Result<T> {
        let env = self
            .call(method.clone(), template, segments, params)
            .await?;
        serde_json::from_value(env.data).map_err(|source| Error::Decode {
            method: method.to_string(),
            path: format!("/{}", segments.join("/")),
            source,
        })
    }
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

fn upid_from(data: serde_json::Value, method: &str, path: &str) -> Result<Upid> {
    let s: String = serde_json::from_value(data).map_err(|source| Error::Decode {
        method: method.into(),
        path: path.into(),
        source,
    })?;
    Ok(s.parse()?)
}

#[async_trait::async_trait]
impl ProxmoxApi for Client {
    async fn version(&self) -> Result<Version> {
        self.get("/version", &["version"], &vec![]).await
    }

    async fn nodes(&self) -> Result<Vec<NodeEntry>> {
        self.get("/nodes", &["nodes"], &vec![]).await
    }

    async fn cluster_resources(&self, kind: Option<ResourceType>) -> Result<Vec<ClusterResource>> {
        let params = kind
            .map(|k| vec![("type".to_owned(), k.as_str().to_owned())])
            .unwrap_or_default();
        self.get("/cluster/resources", &["cluster", "resources"], &params)
            .await
    }

    async fn next_vmid(&self, check: Option<VmId>) -> Result<VmId> {
        let params = check
            .map(|v| vec![("vmid".to_owned(), v.to_string())])
            .unwrap_or_default();
        let env = self
            .call(
                Method::GET,
                "/cluster/nextid",
                &["cluster", "nextid"],
                &params,
            )
            .await?;
        let n = match &env.data {
            serde_json::Value::String(s) => s.parse::<u32>().ok(),
            serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        };
        n.and_then(|n| VmId::new(n).ok())
            .ok_or_else(|| Error::Decode {
                method: "GET".into(),
                path: "/cluster/nextid".into(),
                source: serde::de::Error::custom(format!("not a VMID: {}", env.data)),
            })
    }

    async fn create_vm(&self, node: &NodeName, req: &CreateVm) -> Result<Upid> {
        let segs = ["nodes", node.as_str(), "qemu"];
        self.task(Method::POST, "/nodes/{node}/qemu", &segs, &req.to_params())
            .await
    }

    async fn vm_config(&self, node: &NodeName, vmid: VmId, current: bool) -> Result<VmConfig> {
        let id = vmid.to_string();
        let params = if current {
            vec![("current".to_owned(), "1".to_owned())]
        } else {
            vec![]
        };
        self.get(
            "/nodes/{node}/qemu/{vmid}/config",
            &["nodes", node.as_str(), "qemu", &id, "config"],
            &params,
        )
        .await
    }

    async fn update_vm_config(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "config"];
        self.task(
            Method::POST,
            "/nodes/{node}/qemu/{vmid}/config",
            &segs,
            &update.to_params(),
        )
        .await
    }

    async fn update_vm_config_sync(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<()> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "config"];
        self.call(
            Method::PUT,
            "/nodes/{node}/qemu/{vmid}/config",
            &segs,
            &update.to_params(),
        )
        .await?;
        Ok(())
    }

    async fn vm_pending(&self, node: &NodeName, vmid: VmId) -> Result<Vec<PendingEntry>> {
        let id = vmid.to_string();
        self.get(
            "/nodes/{node}/qemu/{vmid}/pending",
            &["nodes", node.as_str(), "qemu", &id, "pending"],
            &vec![],
        )
        .await
    }

    async fn resize_disk(&self, node: &NodeName, vmid: VmId, req: &ResizeDisk) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "resize"];
        self.task(
            Method::PUT,
            "/nodes/{node}/qemu/{vmid}/resize",
            &segs,
            &req.to_params(),
        )
        .await
    }

    async fn convert_to_template(&self, node: &NodeName, vmid: VmId) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "template"];
        self.task(
            Method::POST,
            "/nodes/{node}/qemu/{vmid}/template",
            &segs,
            &vec![],
        )
        .await
    }

    async fn clone_vm(&self, node: &NodeName, vmid: VmId, req: &CloneVm) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "clone"];
        self.task(
            Method::POST,
            "/nodes/{node}/qemu/{vmid}/clone",
            &segs,
            &req.to_params(),
        )
        .await
    }

    async fn vm_status(&self, node: &NodeName, vmid: VmId) -> Result<VmStatus> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "status", "current"];
        self.get("/nodes/{node}/qemu/{vmid}/status/current", &segs, &vec![])
            .await
    }

    async fn vm_action(&self, node: &NodeName, vmid: VmId, action: VmAction) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = [
            "nodes",
            node.as_str(),
            "qemu",
            &id,
            "status",
            action.as_str(),
        ];
        let template = format!("/nodes/{{node}}/qemu/{{vmid}}/status/{}", action.as_str());
        self.task(Method::POST, &template, &segs, &vec![]).await
    }

    async fn delete_vm(&self, node: &NodeName, vmid: VmId, opts: DeleteVm) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id];
        self.task(
            Method::DELETE,
            "/nodes/{node}/qemu/{vmid}",
            &segs,
            &opts.to_params(),
        )
        .await
    }

    async fn migrate_vm(
        &self,
        node: &NodeName,
        vmid: VmId,
        target: &NodeName,
        online: bool,
    ) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "migrate"];
        let mut params = vec![("target".to_owned(), target.as_str().to_owned())];
        if online {
            params.push(("online".into(), "1".into()));
        }
        self.task(
            Method::POST,
            "/nodes/{node}/qemu/{vmid}/migrate",
            &segs,
            &params,
        )
        .await
    }

    async fn list_snapshots(&self, node: &NodeName, vmid: VmId) -> Result<Vec<SnapshotEntry>> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "snapshot"];
        self.get("/nodes/{node}/qemu/{vmid}/snapshot", &segs, &vec![])
            .await
    }

    async fn create_snapshot(
        &self,
        node: &NodeName,
        vmid: VmId,
        name: &str,
        description: Option<&str>,
    ) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "snapshot"];
        let mut params = vec![("snapname".to_owned(), name.to_owned())];
        if let Some(d) = description {
            params.push(("description".into(), d.to_owned()));
        }
        let t = "/nodes/{node}/qemu/{vmid}/snapshot";
        self.task(Method::POST, t, &segs, &params).await
    }

    async fn delete_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "snapshot", name];
        let t = "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}";
        self.task(Method::DELETE, t, &segs, &vec![]).await
    }

    async fn rollback_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid> {
        let id = vmid.to_string();
        let segs = [
            "nodes",
            node.as_str(),
            "qemu",
            &id,
            "snapshot",
            name,
            "rollback",
        ];
        let t = "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback";
        self.task(Method::POST, t, &segs, &vec![]).await
    }

    async fn upload(&self, node: &NodeName, storage: &StorageName, file: &Upload) -> Result<Upid> {
        let segs = [
            "nodes",
            node.as_str(),
            "storage",
            storage.as_str(),
            "upload",
        ];
        let t = "/nodes/{node}/storage/{storage}/upload";
        let params = vec![("content".to_owned(), file.content.clone())];
        let env = self
            .call_with(Method::POST, t, &segs, &params, Some(file))
            .await?;
        upid_from(env.data, "POST", t)
    }

    async fn task_status(&self, upid: &Upid) -> Result<TaskStatus> {
        let segs = [
            "nodes",
            upid.node.as_str(),
            "tasks",
            upid.as_str(),
            "status",
        ];
        self.get("/nodes/{node}/tasks/{upid}/status", &segs, &vec![])
            .await
    }

    async fn task_log(&self, upid: &Upid, start: u64, limit: u64) -> Result<TaskLog> {
        let segs = ["nodes", upid.node.as_str(), "tasks", upid.as_str(), "log"];
        let params = vec![
            ("start".to_owned(), start.to_string()),
            ("limit".to_owned(), limit.to_string()),
        ];
        let env = self
            .call(
                Method::GET,
                "/nodes/{node}/tasks/{upid}/log",
                &segs,
                &params,
            )
            .await?;
        let lines: Vec<TaskLogLine> =
            serde_json::from_value(env.data).map_err(|source| Error::Decode {
                method: "GET".into(),
                path: "/nodes/{node}/tasks/{upid}/log".into(),
                source,
            })?;
        let total = env.total.unwrap_or(lines.len() as u64);
        Ok(TaskLog { lines, total })
    }

    async fn node_storages(&self, node: &NodeName) -> Result<Vec<NodeStorage>> {
        self.get(
            "/nodes/{node}/storage",
            &["nodes", node.as_str(), "storage"],
            &vec![],
        )
        .await
    }

    async fn storage_content(
        &self,
        node: &NodeName,
        storage: &StorageName,
        content: Option<&str>,
    ) -> Result<Vec<StorageVolume>> {
        let segs = [
            "nodes",
            node.as_str(),
            "storage",
            storage.as_str(),
            "content",
        ];
        let params = content
            .map(|c| vec![("content".to_owned(), c.to_owned())])
            .unwrap_or_default();
        self.get("/nodes/{node}/storage/{storage}/content", &segs, &params)
            .await
    }

    async fn download_url(
        &self,
        node: &NodeName,
        storage: &StorageName,
        req: &DownloadUrl,
    ) -> Result<Upid> {
        let segs = [
            "nodes",
            node.as_str(),
            "storage",
            storage.as_str(),
            "download-url",
        ];
        let t = "/nodes/{node}/storage/{storage}/download-url";
        self.task(Method::POST, t, &segs, &req.to_params()).await
    }

    async fn agent_network_interfaces(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<Vec<GuestInterface>> {
        #[derive(serde::Deserialize)]
        struct R {
            result: Vec<GuestInterface>,
        }
        let id = vmid.to_string();
        let segs = [
            "nodes",
            node.as_str(),
            "qemu",
            &id,
            "agent",
            "network-get-interfaces",
        ];
        let r: R = self
            .get(
                "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
                &segs,
                &vec![],
            )
            .await?;
        Ok(r.result)
    }

    async fn agent_ping(&self, node: &NodeName, vmid: VmId) -> Result<()> {
        let id = vmid.to_string();
        let segs = ["nodes", node.as_str(), "qemu", &id, "agent", "ping"];
        self.call(
            Method::POST,
            "/nodes/{node}/qemu/{vmid}/agent/ping",
            &segs,
            &vec![],
        )
        .await?;
        Ok(())
    }

    async fn delete_volume(
        &self,
        node: &NodeName,
        storage: &StorageName,
        volume: &str,
    ) -> Result<Upid> {
        let segs = [
            "nodes",
            node.as_str(),
            "storage",
            storage.as_str(),
            "content",
            volume,
        ];
        let t = "/nodes/{node}/storage/{storage}/content/{volume}";
        self.task(Method::DELETE, t, &segs, &vec![]).await
    }

    async fn pools(&self) -> Result<Vec<PoolInfo>> {
        self.get("/pools", &["pools"], &vec![]).await
    }

    async fn create_pool(&self, poolid: &str, comment: Option<&str>) -> Result<()> {
        let mut params = vec![("poolid".to_owned(), poolid.to_owned())];
        if let Some(c) = comment {
            params.push(("comment".into(), c.to_owned()));
        }
        self.call(Method::POST, "/pools", &["pools"], &params)
            .await?;
        Ok(())
    }

    async fn create_user(&self, req: &CreateUser) -> Result<()> {
        let mut params = vec![("userid".to_owned(), req.userid.clone())];
        if let Some(p) = &req.password {
            params.push(("password".into(), p.expose().to_owned()));
        }
        if let Some(c) = &req.comment {
            params.push(("comment".into(), c.clone()));
        }
        self.call(Method::POST, "/access/users", &["access", "users"], &params)
            .await?;
        Ok(())
    }

    async fn create_token(
        &self,
        userid: &str,
        tokenid: &str,
        req: &CreateToken,
    ) -> Result<TokenCreated> {
        let mut params = Params::new();
        if let Some(p) = req.privsep {
            params.push(("privsep".into(), if p { "1" } else { "0" }.into()));
        }
        if let Some(e) = req.expire {
            params.push(("expire".into(), e.to_string()));
        }
        if let Some(c) = &req.comment {
            params.push(("comment".into(), c.clone()));
        }
        let segs = ["access", "users", userid, "token", tokenid];
        self.typed(
            Method::POST,
            "/access/users/{userid}/token/{tokenid}",
            &segs,
            &params,
        )
        .await
    }

    async fn users(&self) -> Result<Vec<UserEntry>> {
        let params = vec![("full".to_owned(), "1".to_owned())];
        self.get("/access/users", &["access", "users"], &params)
            .await
    }

    async fn delete_user(&self, userid: &str) -> Result<()> {
        self.call(
            Method::DELETE,
            "/access/users/{userid}",
            &["access", "users", userid],
            &vec![],
        )
        .await?;
        Ok(())
    }

    async fn user_tokens(&self, userid: &str) -> Result<Vec<TokenEntry>> {
        self.get(
            "/access/users/{userid}/token",
            &["access", "users", userid, "token"],
            &vec![],
        )
        .await
    }

    async fn delete_token(&self, userid: &str, tokenid: &str) -> Result<()> {
        self.call(
            Method::DELETE,
            "/access/users/{userid}/token/{tokenid}",
            &["access", "users", userid, "token", tokenid],
            &vec![],
        )
        .await?;
        Ok(())
    }

    async fn acl(&self) -> Result<Vec<AclEntry>> {
        self.get("/access/acl", &["access", "acl"], &vec![]).await
    }

    async fn update_acl(&self, req: &AclUpdate) -> Result<()> {
        self.call(
            Method::PUT,
            "/access/acl",
            &["access", "acl"],
            &req.to_params(),
        )
        .await?;
        Ok(())
    }
}
