//! The simulator core: cluster state behind a mutex, and [`SimClient`], an
//! in-process [`ProxmoxApi`] that acts as one identity with Proxmox's
//! permission checks, locks, digests, pending changes and asynchronous tasks.
//!
//! Here: the state, the [`Simulator`] handle and the client's checks and
//! fault-injecting `run`. Beside it: `node_call` and `vm_call` (the openings
//! node and VM endpoints share: node, privilege, lock, task), `tasks` (spawning workers), `volumes`, `config_keys` and
//! `config_update` (what a VM config accepts and how changes apply), and
//! one module per resource that `api` hands the endpoints to.

mod access;
mod agent;
mod api;
mod backup;
mod cluster;
mod config_keys;
mod config_update;
mod configuration;
mod figures;
mod guest_exec;
mod ha;
mod node_call;
mod outage;
mod pools;
mod power;
mod reads;
mod snapshots;
mod storage;
mod task_list;
mod tasks;
mod vm_call;
mod vm_config;
mod vm_lifecycle;
mod volumes;
mod workers;

pub use access::random_uuid;
pub use agent::guest_interfaces;
pub use backup::Restore;
use config_keys::{
    agent_enabled, config_privilege, dns_name_ok, is_fast_plug, is_hotplug, normalize_config,
};
pub use config_keys::{is_config_key, normalize_config_value};
use node_call::NodeTask;
pub use tasks::TaskLog;
use vm_call::{VmCall, VmTask};

use crate::backend::{Backend, BackendError, DiskSource, VolumeFile};
use crate::config::{SimConfig, StorageKind, StorageSpec};
use crate::faults::{Fault, FaultConfig, Faults, Rng};
use crate::locks::{LockGuard, LockTable, vm_lock_path};
use crate::perms::{Access, AclEntry, Identity, Token, User};
use crate::state::{Snapshot, TaskRecord, Vm, Volume, typed_json};
use labform_ids::{NodeName, StorageName, VmId};
use labform_proxmox::api::ProxmoxApi;
use labform_proxmox::endpoint::Endpoint;
use labform_proxmox::error::{ApiError, Error, Result};
use labform_proxmox::propstring::{
    ByteSize, Drive, DriveVolume, IpConfig, Ipv4Setting, Ipv6Setting, MacAddr, NetDevice, indexed,
    is_drive_key,
};
use labform_proxmox::types::*;
use labform_proxmox::upid::Upid;
use labform_proxmox::{Secret, types};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A pool.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pool {
    /// Comment.
    pub comment: Option<String>,
    /// Member VMs.
    pub vms: BTreeSet<u32>,
    /// Member storages.
    #[serde(default)]
    pub storage: BTreeSet<String>,
}

/// The size of a volume an offline `download-url` makes (2 GiB).
pub const OFFLINE_DOWNLOAD_SIZE: u64 = 2 << 30;

/// A `download-url` an offline simulator recorded instead of fetching.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecordedDownload {
    /// The node asked.
    pub node: String,
    /// The volume made (`local:import/debian-12.qcow2`).
    pub volume: String,
    /// The address that was not fetched.
    pub url: String,
    /// The checksum given (`sha256:...`), not verified.
    pub checksum: Option<String>,
    /// Unix time.
    pub time: u64,
}

/// Mutable cluster state: everything here is saved by [`crate::persist`] (a field added here is
/// persisted with it; mark it `#[serde(default)]` so older state directories still load).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct State {
    /// VMs by id.
    pub vms: BTreeMap<u32, Vm>,
    /// Volumes by store key (`storage` if shared, `storage@node` otherwise), then name.
    pub volumes: BTreeMap<String, BTreeMap<String, Volume>>,
    /// Tasks by UPID, and their order.
    pub tasks: BTreeMap<String, TaskRecord>,
    /// Users, tokens, roles, ACLs.
    pub access: Access,
    /// Pools.
    pub pools: BTreeMap<String, Pool>,
    /// Node online flags.
    pub online: BTreeMap<String, bool>,
    /// Backup jobs, HA and SDN configuration.
    #[serde(default)]
    pub datacenter: crate::datacenter::Datacenter,
    /// Files `download-url` recorded instead of fetching (offline downloads).
    #[serde(default)]
    pub recorded_downloads: Vec<RecordedDownload>,
    rng: Rng,
    next_pid: u32,
}

impl State {
    /// The pool of the object at ACL path `path`: a VM's `/vms/<id>` when the VM is in a pool.
    fn pool_of(&self, path: &str) -> Option<&str> {
        let vmid: u32 = path.strip_prefix("/vms/")?.parse().ok()?;
        self.vms.get(&vmid)?.pool.as_deref()
    }

    /// Whether `who` has `privilege` on `path`, counting the roles of the object's pool.
    pub fn has(&self, who: &Identity, path: &str, privilege: &str) -> bool {
        self.access
            .has_in_pool(who, path, self.pool_of(path), privilege)
    }

    /// The privileges of `who` on `path`, counting the roles of the object's pool.
    pub fn privs(&self, who: &Identity, path: &str) -> BTreeSet<String> {
        self.access.privs_in_pool(who, path, self.pool_of(path))
    }
}

pub(crate) struct Inner {
    pub(crate) config: SimConfig,
    pub(crate) state: Mutex<State>,
    pub(crate) locks: LockTable,
    pub(crate) faults: Faults,
    /// Task logs, separate from the state so workers can log while holding it.
    pub(crate) logs: Mutex<std::collections::HashMap<String, Vec<String>>>,
    /// How many times the state (or a task log) was taken to be changed: what
    /// [`Simulator::commit`] waits to see saved.
    pub(crate) changes: std::sync::atomic::AtomicU64,
    /// The workers of running tasks, by UPID, so a node's outage can end them.
    pub(crate) workers: Mutex<std::collections::HashMap<String, tokio::task::AbortHandle>>,
    /// Where the state is saved, if it lasts ([`crate::persist`]).
    pub(crate) persistence: std::sync::OnceLock<crate::persist::Persistence>,
}

/// The simulated cluster. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Simulator {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("nodes", &self.inner.config.nodes.len())
            .finish()
    }
}

/// Unix time now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn e500(msg: impl Into<String>) -> ApiError {
    ApiError::new(500, msg)
}

fn e403(path: &str, privilege: &str) -> ApiError {
    ApiError::new(
        403,
        format!("Permission check failed ({path}, {privilege})"),
    )
}

fn not_exist(node: &str, vmid: u32) -> ApiError {
    e500(format!(
        "Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist"
    ))
}

impl Simulator {
    /// A simulator of `config`'s cluster.
    pub fn new(config: SimConfig) -> Self {
        Self::with_faults(config, FaultConfig::default())
    }

    /// A simulator with fault injection.
    pub fn with_faults(config: SimConfig, faults: FaultConfig) -> Self {
        let online = config
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.online))
            .collect();
        let state = State {
            vms: BTreeMap::new(),
            volumes: BTreeMap::new(),
            tasks: BTreeMap::new(),
            access: Access::new(config.root_password.clone()),
            pools: BTreeMap::new(),
            online,
            datacenter: crate::datacenter::Datacenter::default(),
            recorded_downloads: Vec::new(),
            rng: Rng::new(config.seed),
            next_pid: 0x1000,
        };
        let faults = Faults::new(faults, config.seed);
        Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(state),
                locks: LockTable::default(),
                faults,
                logs: Mutex::new(std::collections::HashMap::new()),
                changes: std::sync::atomic::AtomicU64::new(0),
                workers: Mutex::new(std::collections::HashMap::new()),
                persistence: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// Replaces the fault configuration at run time.
    pub fn set_faults(&self, faults: FaultConfig) {
        self.inner.faults.set(faults);
    }

    /// The current fault configuration.
    pub fn faults(&self) -> FaultConfig {
        self.inner.faults.get()
    }

    /// Marks a node online or offline (offline nodes answer 595).
    pub fn set_node_online(&self, node: &str, online: bool) {
        self.lock().online.insert(node.to_owned(), online);
    }

    /// The state, to read or change (counted as a change: see [`crate::persist`]).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .changes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the state (for tests and inspection).
    pub fn with_state<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.lock())
    }

    /// An in-process API client acting as `who`.
    pub fn client(&self, who: Identity) -> SimClient {
        SimClient {
            sim: self.clone(),
            who,
        }
    }

    /// An in-process API client acting as `root@pam`.
    pub fn root(&self) -> SimClient {
        self.client(Identity::root())
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.config.backend
    }

    /// Marks `vmid` stopped if the backend runs VMs and its process is gone
    /// (the guest powered itself off, or QEMU died).
    pub(crate) fn reap(&self, st: &mut State, vmid: u32) {
        if let Some(vm) = st.vms.get_mut(&vmid)
            && vm.running
            && self.backend().is_running(vmid) == Some(false)
        {
            vm.running = false;
            vm.started_at = None;
        }
    }

    /// Runs backend work from a task worker: on a blocking thread when the
    /// backend runs real VMs, inline for the state-only backend.
    pub(crate) async fn on_backend<T, F>(&self, work: F) -> std::result::Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Backend) -> std::result::Result<T, BackendError> + Send + 'static,
    {
        let backend = Arc::clone(self.backend());
        if !backend.runs_vms() {
            return work(backend.as_ref()).map_err(|e| e.to_string());
        }
        tokio::task::spawn_blocking(move || work(backend.as_ref()))
            .await
            .map_err(|e| format!("backend worker failed: {e}"))?
            .map_err(|e| e.to_string())
    }

    fn dur(&self, secs: f64) -> Duration {
        self.inner.config.timing.dur(secs)
    }

    /// Checks a password login (for `/access/ticket`).
    pub fn check_password(&self, user: &str, password: &str) -> bool {
        let st = self.lock();
        st.access.users.get(user).is_some_and(|u| {
            u.enable && u.password.as_ref().is_some_and(|p| p.expose() == password)
        })
    }

    /// Checks an API token; returns the identity.
    pub fn check_token(&self, full_id: &str, secret: &str) -> Option<Identity> {
        let st = self.lock();
        let (user, token) = full_id.split_once('!')?;
        let t = st.access.tokens.get(full_id)?;
        let u = st.access.users.get(user)?;
        let now = unix_now();
        (u.enable && t.secret.expose() == secret && (t.expire == 0 || t.expire > now)).then(|| {
            Identity {
                user: user.to_owned(),
                token: Some(token.to_owned()),
            }
        })
    }

    fn gen_mac(st: &mut State) -> MacAddr {
        let r = st.rng.next_u64();
        MacAddr([0xBC, 0x24, 0x11, (r >> 16) as u8, (r >> 8) as u8, r as u8])
    }

    fn gen_uuid(st: &mut State) -> String {
        let a = st.rng.next_u64();
        let b = st.rng.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }
}

/// An in-process [`ProxmoxApi`] acting as one identity.
#[derive(Clone)]
pub struct SimClient {
    sim: Simulator,
    who: Identity,
}

impl std::fmt::Debug for SimClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimClient")
            .field("who", &self.who.full())
            .finish()
    }
}

/// VM config JSON as `GET .../config` answers it.
pub type ConfigJson = serde_json::Map<String, serde_json::Value>;

impl SimClient {
    /// The identity.
    pub fn identity(&self) -> &Identity {
        &self.who
    }

    /// The simulator.
    pub fn simulator(&self) -> &Simulator {
        &self.sim
    }

    fn check(&self, st: &State, path: &str, privilege: &str) -> std::result::Result<(), ApiError> {
        if st.has(&self.who, path, privilege) {
            Ok(())
        } else {
            Err(e403(path, privilege))
        }
    }

    fn check_any(
        &self,
        st: &State,
        path: &str,
        privs: &[&str],
    ) -> std::result::Result<(), ApiError> {
        if privs.iter().any(|p| st.has(&self.who, path, p)) {
            Ok(())
        } else {
            Err(e403(path, &privs.join("|")))
        }
    }

    fn check_node(&self, st: &State, node: &str) -> std::result::Result<(), ApiError> {
        match st.online.get(node) {
            Some(true) => Ok(()),
            Some(false) => Err(ApiError::new(
                595,
                "Errors during connection establishment, proxy handshake: No route to host",
            )),
            None => Err(e500(format!(
                "hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"
            ))),
        }
    }

    /// Runs one endpoint, its path parameters' values `arguments`: applies injected faults, maps
    /// errors (naming the path).
    async fn run<T>(
        &self,
        endpoint: &'static Endpoint,
        arguments: &[&(dyn std::fmt::Display + Sync)],
        f: impl Future<Output = std::result::Result<T, ApiError>>,
    ) -> Result<T> {
        let arguments: Vec<String> = arguments.iter().map(ToString::to_string).collect();
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        let path = endpoint.path_with(&arguments);
        let method = endpoint.method.as_str();
        match self.sim.inner.faults.for_request(&endpoint.key()) {
            Some(Fault::Latency { ms }) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Some(Fault::Status { status, message }) => {
                return Err(Error::from_api(
                    method,
                    &path,
                    ApiError::new(status, message),
                ));
            }
            Some(Fault::Proxy595) => {
                return Err(Error::from_api(
                    method,
                    &path,
                    ApiError::new(
                        595,
                        "Errors during connection establishment, proxy handshake: No route to host",
                    ),
                ));
            }
            Some(Fault::LockTimeout) => {
                let vmid = path
                    .split('/')
                    .nth(4)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                return Err(Error::from_api(
                    method,
                    &path,
                    e500(crate::locks::flock_timeout_text(&vm_lock_path(vmid))),
                ));
            }
            None => {}
        }
        let result = f.await;
        // What a client is told has happened must survive a kill (crate::persist).
        if !endpoint.is_read()
            && let Err(error) = self.sim.commit().await
        {
            return Err(Error::from_api(
                method,
                &path,
                e500(format!("unable to save the simulator's state: {error}")),
            ));
        }
        result.map_err(|e| Error::from_api(method, &path, e))
    }

    fn vm<'a>(st: &'a State, node: &str, vmid: u32) -> std::result::Result<&'a Vm, ApiError> {
        st.vms
            .get(&vmid)
            .filter(|v| v.node == node)
            .ok_or_else(|| not_exist(node, vmid))
    }

    fn vm_mut<'a>(
        st: &'a mut State,
        node: &str,
        vmid: u32,
    ) -> std::result::Result<&'a mut Vm, ApiError> {
        st.vms
            .get_mut(&vmid)
            .filter(|v| v.node == node)
            .ok_or_else(|| not_exist(node, vmid))
    }

    fn check_lock(vm: &Vm) -> std::result::Result<(), ApiError> {
        match vm.lock() {
            Some(l) => Err(e500(format!("VM is locked ({l})"))),
            None => Ok(()),
        }
    }
}

fn vmid_u32(v: VmId) -> u32 {
    v.get()
}
