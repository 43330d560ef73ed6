//! The simulator core: cluster state behind a mutex, and [`SimClient`], an
//! in-process [`ProxmoxApi`] that acts as one identity with Proxmox's
//! permission checks, locks, digests, pending changes and asynchronous tasks.

use crate::config::{SimConfig, StorageKind, StorageSpec};
use crate::faults::{Fault, FaultConfig, Faults, Rng};
use crate::locks::{LockGuard, LockTable, vm_lock_path};
use crate::perms::{Access, AclEntry, Identity, Token, User};
use crate::state::{Snapshot, TaskRecord, Vm, Volume, typed_json};
use labform_ids::{NodeName, StorageName, VmId};
use labform_proxmox::api::ProxmoxApi;
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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pool {
    /// Comment.
    pub comment: Option<String>,
    /// Member VMs.
    pub vms: BTreeSet<u32>,
}

/// Mutable cluster state.
#[derive(Debug)]
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
    rng: Rng,
    next_pid: u32,
}

pub(crate) struct Inner {
    pub(crate) config: SimConfig,
    pub(crate) state: Mutex<State>,
    pub(crate) locks: LockTable,
    pub(crate) faults: Faults,
    /// Task logs, separate from the state so workers can log while holding it.
    pub(crate) logs: Mutex<std::collections::HashMap<String, Vec<String>>>,
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

/// Keys applied at once even on running VMs (qemu-server's fast-plug set).
fn is_fast_plug(key: &str) -> bool {
    matches!(
        key,
        "name"
            | "tags"
            | "description"
            | "onboot"
            | "protection"
            | "startup"
            | "lock"
            | "ciuser"
            | "cipassword"
            | "sshkeys"
            | "nameserver"
            | "searchdomain"
            | "cicustom"
            | "citype"
            | "ciupgrade"
    ) || indexed(key, "ipconfig", 31)
}

/// Keys hot-plugged on running VMs with the default `hotplug=network,disk,usb`.
fn is_hotplug(key: &str) -> bool {
    indexed(key, "net", 31) || (is_drive_key(key) && key != "efidisk0" && key != "tpmstate0")
}

const PLAIN_KEYS: &[&str] = &[
    "acpi",
    "amd-sev",
    "intel-tdx",
    "ivshmem",
    "affinity",
    "agent",
    "allow-ksm",
    "arch",
    "args",
    "audio0",
    "autostart",
    "balloon",
    "bios",
    "boot",
    "bootdisk",
    "cdrom",
    "cicustom",
    "cipassword",
    "citype",
    "ciupgrade",
    "ciuser",
    "cores",
    "cpu",
    "cpulimit",
    "cpuunits",
    "description",
    "freeze",
    "hookscript",
    "hotplug",
    "hugepages",
    "keephugepages",
    "keyboard",
    "kvm",
    "localtime",
    "lock",
    "machine",
    "memory",
    "meta",
    "migrate_downtime",
    "migrate_speed",
    "name",
    "nameserver",
    "numa",
    "onboot",
    "ostype",
    "protection",
    "reboot",
    "rng0",
    "scsihw",
    "searchdomain",
    "shares",
    "smbios1",
    "smp",
    "sockets",
    "spice_enhancements",
    "sshkeys",
    "startdate",
    "startup",
    "tablet",
    "tags",
    "tdf",
    "template",
    "vcpus",
    "vga",
    "vmgenid",
    "vmstatestorage",
    "watchdog",
];

/// Whether `key` is a VM config key qemu-server accepts.
pub fn is_config_key(key: &str) -> bool {
    PLAIN_KEYS.contains(&key)
        || is_drive_key(key)
        || indexed(key, "net", 31)
        || indexed(key, "ipconfig", 31)
        || indexed(key, "unused", 255)
        || indexed(key, "serial", 3)
        || indexed(key, "usb", 13)
        || indexed(key, "hostpci", 15)
        || indexed(key, "numa", 7)
        || indexed(key, "parallel", 2)
        || indexed(key, "virtiofs", 9)
}

/// The privilege a config key needs.
fn config_privilege(key: &str) -> &'static str {
    if is_drive_key(key) || indexed(key, "unused", 255) {
        "VM.Config.Disk"
    } else if indexed(key, "net", 31) {
        "VM.Config.Network"
    } else if matches!(
        key,
        "cores" | "sockets" | "cpu" | "cpulimit" | "cpuunits" | "vcpus" | "affinity" | "numa"
    ) {
        "VM.Config.CPU"
    } else if matches!(key, "memory" | "balloon" | "shares") {
        "VM.Config.Memory"
    } else if key.starts_with("ci")
        || indexed(key, "ipconfig", 31)
        || matches!(key, "sshkeys" | "nameserver" | "searchdomain")
    {
        "VM.Config.Cloudinit"
    } else if matches!(
        key,
        "scsihw" | "bios" | "machine" | "vga" | "ostype" | "arch" | "kvm" | "tablet" | "localtime"
    ) {
        "VM.Config.HWType"
    } else {
        "VM.Config.Options"
    }
}

fn tag_ok(t: &str) -> bool {
    let mut c = t.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphanumeric() || f == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || "_-+.".contains(ch))
}

fn dns_name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Validates and normalizes one config value as qemu-server would, returning
/// the stored form. Errors are per-parameter texts.
pub fn normalize_config_value(key: &str, value: &str) -> std::result::Result<String, String> {
    if !is_config_key(key) {
        return Err(
            "property is not defined in schema and the schema does not allow additional properties"
                .into(),
        );
    }
    if crate::state::INT_KEYS.contains(&key) {
        let t = value.strip_prefix('+').unwrap_or(value);
        if t.is_empty()
            || !t
                .trim_start_matches('-')
                .chars()
                .all(|c| c.is_ascii_digit())
        {
            return Err(format!("type check ('integer') failed - got '{value}'"));
        }
        return Ok(t
            .parse::<i64>()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| t.to_owned()));
    }
    if crate::state::BOOL_KEYS.contains(&key) {
        return match value {
            "1" | "0" => Ok(value.to_owned()),
            _ => Err(format!("type check ('boolean') failed - got '{value}'")),
        };
    }
    if indexed(key, "net", 31) {
        return NetDevice::parse(value)
            .map(|n| n.canonical())
            .map_err(|e| format!("invalid format - {e}"));
    }
    if is_drive_key(key) {
        // Stored in the canonical order Proxmox prints.
        return Drive::parse(value)
            .map(|d| d.canonical())
            .map_err(|e| format!("invalid format - {e}"));
    }
    if indexed(key, "ipconfig", 31) {
        return IpConfig::parse(value)
            .map(|_| value.to_owned())
            .map_err(|e| format!("invalid format - {e}"));
    }
    match key {
        "name" if !dns_name_ok(value) => {
            Err("invalid format - value does not look like a valid DNS name\n".to_string())
        }
        "tags" => {
            let mut tags: Vec<String> = value
                .split([';', ',', ' '])
                .filter(|t| !t.is_empty())
                .map(|t| t.to_ascii_lowercase())
                .collect();
            if let Some(bad) = tags.iter().find(|t| !tag_ok(t)) {
                return Err(format!("invalid format - invalid tag '{bad}'"));
            }
            tags.sort();
            tags.dedup();
            Ok(tags.join(";"))
        }
        "sshkeys" => {
            let ok = value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-%_.!~*'()".contains(c));
            if !ok {
                return Err(format!(
                    "invalid format - invalid urlencoded string: {value}"
                ));
            }
            match types::decode_percent(value) {
                Some(decoded)
                    if decoded.lines().all(|l| {
                        l.trim().is_empty()
                            || l.starts_with("ssh-")
                            || l.starts_with("ecdsa-")
                            || l.starts_with("sk-")
                    }) =>
                {
                    Ok(value.to_owned())
                }
                Some(_) => Err("SSH public key validation error".into()),
                None => Err(format!(
                    "invalid format - invalid urlencoded string: {value}"
                )),
            }
        }
        "cipassword" => {
            if ["$1$", "$5$", "$6$", "$2a$", "$2y$"]
                .iter()
                .any(|p| value.starts_with(p))
            {
                Ok(value.to_owned())
            } else {
                // Stored hashed, never in clear text (the hash is simulated).
                use sha2::Digest;
                let h = sha2::Sha256::digest(value.as_bytes());
                Ok(format!(
                    "$5$sim${}",
                    h.iter().map(|b| format!("{b:02x}")).collect::<String>()
                ))
            }
        }
        "agent" => {
            let first = value.split(',').next().unwrap_or("");
            let first = first.strip_prefix("enabled=").unwrap_or(first);
            labform_proxmox::propstring::parse_bool(first)
                .map(|_| value.to_owned())
                .ok_or_else(|| {
                    format!("invalid format - type check ('boolean') failed - got '{first}'")
                })
        }
        "memory" => {
            let v = value.strip_prefix("current=").unwrap_or(value);
            match v.parse::<u64>() {
                Ok(m) if m >= 16 => Ok(value.to_owned()),
                _ => Err(format!(
                    "invalid format - value '{value}' is not a valid memory size"
                )),
            }
        }
        _ => Ok(value.to_owned()),
    }
}

fn agent_enabled(conf: &BTreeMap<String, String>) -> bool {
    conf.get("agent").is_some_and(|v| {
        let first = v.split(',').next().unwrap_or("");
        labform_proxmox::propstring::parse_bool(first.strip_prefix("enabled=").unwrap_or(first))
            .unwrap_or(false)
    })
}

/// Handle given to a task worker to write its log.
#[derive(Clone)]
pub struct TaskLog {
    sim: Simulator,
    upid: String,
}

impl TaskLog {
    /// Appends a line to the task log.
    pub fn log(&self, line: impl Into<String>) {
        let mut logs = self
            .sim
            .inner
            .logs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(l) = logs.get_mut(&self.upid) {
            l.push(line.into());
        }
    }
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

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
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

    fn storage(&self, id: &str) -> Option<&StorageSpec> {
        self.inner.config.storages.iter().find(|s| s.id == id)
    }

    fn storage_on(&self, id: &str, node: &str) -> std::result::Result<&StorageSpec, ApiError> {
        match self.storage(id) {
            Some(s) if s.nodes.is_empty() || s.nodes.iter().any(|n| n == node) => Ok(s),
            _ => Err(e500(format!("storage '{id}' does not exist"))),
        }
    }

    fn store_key(spec: &StorageSpec, node: &str) -> String {
        if spec.shared {
            spec.id.clone()
        } else {
            format!("{}@{node}", spec.id)
        }
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

    /// Starts a task worker. The worker's error becomes `TASK ERROR: ...`.
    pub(crate) fn spawn_task<F, Fut>(
        &self,
        node: &str,
        task_type: &str,
        id: &str,
        who: &Identity,
        work: F,
    ) -> Upid
    where
        F: FnOnce(TaskLog) -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<(), String>> + Send + 'static,
    {
        let upid = {
            let mut st = self.lock();
            st.next_pid += 1 + (st.rng.next_u64() % 64) as u32;
            let pid = st.next_pid;
            let pstart = 0x0100_0000 + (st.rng.next_u64() % 0x00FF_FFFF);
            let upid = Upid::new(node, pid, pstart, unix_now(), task_type, id, &who.full());
            st.tasks.insert(
                upid.to_string(),
                TaskRecord {
                    upid: upid.clone(),
                    exitstatus: None,
                    endtime: None,
                },
            );
            upid
        };
        self.inner
            .logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(upid.to_string(), Vec::new());
        let injected = self.inner.faults.for_task(task_type);
        let log = TaskLog {
            sim: self.clone(),
            upid: upid.to_string(),
        };
        let sim = self.clone();
        let key = upid.to_string();
        tokio::spawn(async move {
            let result = match injected {
                Some(msg) => Err(msg),
                None => work(log).await,
            };
            let (status, last) = match result {
                Ok(()) => ("OK".to_owned(), "TASK OK".to_owned()),
                Err(e) => {
                    let e = e.trim_end().replace('\n', " ");
                    let line = format!("TASK ERROR: {e}");
                    (e, line)
                }
            };
            if let Some(l) = sim
                .inner
                .logs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&key)
            {
                l.push(last);
            }
            let mut st = sim.lock();
            if let Some(t) = st.tasks.get_mut(&key) {
                t.endtime = Some(unix_now());
                t.exitstatus = Some(status);
            }
        });
        upid
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

    fn next_disk_name(st: &State, key: &str, spec: &StorageSpec, vmid: u32, base: bool) -> String {
        let prefix = if base { "base" } else { "vm" };
        let vols = st.volumes.get(key);
        (0..)
            .map(|n| {
                let stem = format!("{prefix}-{vmid}-disk-{n}");
                if spec.kind.is_file_based() {
                    format!("{vmid}/{stem}.qcow2")
                } else {
                    stem
                }
            })
            .find(|name| {
                let other_prefix = if base { "vm" } else { "base" };
                let twin = name.replacen(prefix, other_prefix, 1);
                vols.is_none_or(|v| !v.contains_key(name) && !v.contains_key(&twin))
            })
            .unwrap_or_default()
    }

    fn used_bytes(st: &State, key: &str) -> u64 {
        st.volumes
            .get(key)
            .map(|v| {
                v.values()
                    .filter(|v| v.base.is_none())
                    .map(|v| v.size)
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Allocates a volume, under the storage lock, taking `secs` simulated seconds.
    async fn alloc_volume(
        &self,
        node: &str,
        storage: &str,
        vmid: u32,
        size: u64,
        secs: f64,
        log: &TaskLog,
    ) -> std::result::Result<String, String> {
        let spec = self
            .storage_on(storage, node)
            .map_err(|e| e.message)?
            .clone();
        if !spec.content.iter().any(|c| c == "images") {
            return Err(format!(
                "storage '{storage}' does not support content-type 'images'"
            ));
        }
        let t = self.inner.config.timing;
        let _g = self
            .inner
            .locks
            .storage(&spec.id, spec.shared, t.dur(t.storage_lock_timeout_secs))
            .await?;
        tokio::time::sleep(self.dur(secs)).await;
        let key = Self::store_key(&spec, node);
        let mut st = self.lock();
        if Self::used_bytes(&st, &key) + size > spec.capacity {
            return Err(format!(
                "unable to allocate {} on storage '{storage}': not enough free space",
                ByteSize(size)
            ));
        }
        let name = Self::next_disk_name(&st, &key, &spec, vmid, false);
        let format = if spec.kind.is_file_based() {
            "qcow2"
        } else {
            "raw"
        };
        st.volumes.entry(key).or_default().insert(
            name.clone(),
            Volume {
                size,
                format: format.into(),
                content: "images".into(),
                vmid: Some(vmid),
                base: None,
                ctime: unix_now(),
            },
        );
        drop(st);
        let volid = format!("{storage}:{name}");
        log.log(format!("  Logical volume \"{name}\" created."));
        Ok(volid)
    }

    fn free_volume(st: &mut State, node: &str, volid: &str, spec: &StorageSpec) {
        if let Some((_, name)) = volid.split_once(':') {
            let key = Self::store_key(spec, node);
            if let Some(v) = st.volumes.get_mut(&key) {
                v.remove(name);
            }
        }
    }

    fn volume_in_use_as_base(st: &State, volid: &str) -> bool {
        st.volumes
            .values()
            .flat_map(|v| v.values())
            .any(|v| v.base.as_deref() == Some(volid))
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
        if st.access.has(&self.who, path, privilege) {
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
        if privs.iter().any(|p| st.access.has(&self.who, path, p)) {
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

    /// Runs one endpoint: applies injected faults, maps errors.
    async fn run<T>(
        &self,
        method: &str,
        template: &str,
        path: String,
        f: impl Future<Output = std::result::Result<T, ApiError>>,
    ) -> Result<T> {
        match self
            .sim
            .inner
            .faults
            .for_request(&format!("{method} {template}"))
        {
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
        f.await.map_err(|e| Error::from_api(method, &path, e))
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

    /// `GET .../config` as JSON (pending merged unless `current`).
    pub async fn config_json(
        &self,
        node: &str,
        vmid: u32,
        current: bool,
        snapshot: Option<&str>,
    ) -> Result<ConfigJson> {
        let path = format!("/nodes/{node}/qemu/{vmid}/config");
        self.run("GET", "/nodes/{node}/qemu/{vmid}/config", path, async {
            let st = self.sim.lock();
            self.check_node(&st, node)?;
            self.check(&st, &format!("/vms/{vmid}"), "VM.Audit")?;
            let vm = Self::vm(&st, node, vmid)?;
            let conf = match snapshot {
                Some(s) => vm
                    .snapshots
                    .get(s)
                    .map(|s| s.conf.clone())
                    .ok_or_else(|| e500(format!("snapshot '{s}' does not exist")))?,
                None if vm.clone_temp => BTreeMap::from([("lock".to_owned(), "clone".to_owned())]),
                None if current => vm.conf.clone(),
                None => vm.merged(),
            };
            let mut j = typed_json(&conf);
            j.insert("digest".into(), vm.digest().into());
            Ok(j)
        })
        .await
    }

    /// `GET .../pending` as JSON.
    pub async fn pending_json(&self, node: &str, vmid: u32) -> Result<Vec<serde_json::Value>> {
        let path = format!("/nodes/{node}/qemu/{vmid}/pending");
        self.run("GET", "/nodes/{node}/qemu/{vmid}/pending", path, async {
            let st = self.sim.lock();
            self.check_node(&st, node)?;
            self.check(&st, &format!("/vms/{vmid}"), "VM.Audit")?;
            let vm = Self::vm(&st, node, vmid)?;
            // The pending API returns the raw config-file strings.
            let raw = |m: &BTreeMap<String, String>| -> ConfigJson {
                m.iter()
                    .map(|(k, v)| {
                        let v = if k == "cipassword" {
                            "**********".to_owned()
                        } else {
                            v.clone()
                        };
                        (k.clone(), serde_json::Value::String(v))
                    })
                    .collect()
            };
            let cur = raw(&vm.conf);
            let pend = raw(&vm.pending);
            let keys: BTreeSet<&String> = cur
                .keys()
                .chain(pend.keys())
                .chain(vm.pending_delete.iter())
                .collect();
            Ok(keys
                .into_iter()
                .map(|k| {
                    let mut e = serde_json::Map::new();
                    e.insert("key".into(), k.clone().into());
                    if let Some(v) = cur.get(k) {
                        e.insert("value".into(), v.clone());
                    }
                    if let Some(v) = pend.get(k) {
                        e.insert("pending".into(), v.clone());
                    }
                    if vm.pending_delete.contains(k) {
                        e.insert("delete".into(), 1.into());
                    }
                    serde_json::Value::Object(e)
                })
                .collect())
        })
        .await
    }

    /// Validates a config update and returns normalized (set, delete) lists
    /// plus the privileges it needs.
    fn prepare_update(
        &self,
        st: &State,
        vmid: u32,
        update: &ConfigUpdate,
    ) -> std::result::Result<(BTreeMap<String, String>, Vec<String>), ApiError> {
        let mut errors = BTreeMap::new();
        let mut set = BTreeMap::new();
        for (k, v) in &update.set {
            match normalize_config_value(k, v) {
                Ok(v) => {
                    set.insert(k.clone(), v);
                }
                Err(e) => {
                    errors.insert(k.clone(), e);
                }
            }
        }
        let mut delete = Vec::new();
        for k in update.delete.iter().chain(update.revert.iter()) {
            if !is_config_key(k) && k != "digest" {
                errors.insert(
                    "delete".into(),
                    format!("invalid format - invalid configuration ID '{k}'"),
                );
            }
        }
        for k in &update.delete {
            if set.contains_key(k) {
                errors.insert(
                    k.clone(),
                    "unable to delete parameter that is also being set".into(),
                );
            }
            delete.push(k.clone());
        }
        if let Some(d) = &update.digest
            && d.len() > 40
        {
            errors.insert(
                "digest".into(),
                "value may only be 40 characters long".into(),
            );
        }
        if !errors.is_empty() {
            return Err(ApiError::params(errors));
        }
        if set.contains_key("lock") && !st.access.is_root(&self.who) {
            return Err(ApiError::param("lock", "Only root may use this option."));
        }
        let path = format!("/vms/{vmid}");
        for k in set.keys().chain(delete.iter()).chain(update.revert.iter()) {
            self.check(st, &path, config_privilege(k))?;
            if indexed(k, "net", 31)
                && !st.access.is_root(&self.who)
                && let Some(b) = set
                    .get(k)
                    .and_then(|v| NetDevice::parse(v).ok())
                    .and_then(|n| n.bridge)
            {
                self.check(st, &format!("/sdn/zones/localnetwork/{b}"), "SDN.Use")?;
            }
        }
        Ok((set, delete))
    }

    /// Applies a validated update to a VM (pending for non-hotpluggable keys
    /// on running VMs); allocates new disks synchronously in state.
    fn apply_update(
        st: &mut State,
        vm_key: u32,
        set: BTreeMap<String, String>,
        delete: Vec<String>,
        revert: &[String],
    ) {
        let mut macs = Vec::new();
        for (k, v) in &set {
            if indexed(k, "net", 31)
                && let Ok(mut n) = NetDevice::parse(v)
                && n.macaddr.is_none()
            {
                let mac = Simulator::gen_mac(st);
                n.set_macaddr(mac);
                macs.push((k.clone(), n.canonical()));
            }
        }
        let Some(vm) = st.vms.get_mut(&vm_key) else {
            return;
        };
        for k in revert {
            vm.pending.remove(k);
            vm.pending_delete.remove(k);
        }
        for (k, mut v) in set {
            if let Some((_, m)) = macs.iter().find(|(mk, _)| *mk == k) {
                v = m.clone();
            }
            if !vm.running || is_fast_plug(&k) || is_hotplug(&k) {
                vm.conf.insert(k.clone(), v);
                vm.pending.remove(&k);
                vm.pending_delete.remove(&k);
            } else {
                vm.pending.insert(k, v);
            }
        }
        for k in delete {
            if !vm.running || is_fast_plug(&k) {
                vm.conf.remove(&k);
                vm.pending.remove(&k);
                vm.pending_delete.remove(&k);
            } else {
                vm.pending.remove(&k);
                vm.pending_delete.insert(k);
            }
        }
    }

    /// Drive keys in `set` that allocate or import new volumes.
    fn new_disks(set: &BTreeMap<String, String>) -> Vec<(String, Drive)> {
        set.iter()
            .filter(|(k, _)| is_drive_key(k))
            .filter_map(|(k, v)| Drive::parse(v).ok().map(|d| (k.clone(), d)))
            .filter(|(_, d)| {
                matches!(
                    d.volume,
                    DriveVolume::Allocate { .. } | DriveVolume::CloudInit { .. }
                )
            })
            .collect()
    }

    /// Materializes new disks of a VM config in a worker: allocation, import, cloud-init drive.
    async fn materialize_disks(
        sim: &Simulator,
        node: &str,
        vmid: u32,
        disks: Vec<(String, Drive)>,
        log: &TaskLog,
    ) -> std::result::Result<Vec<(String, String)>, String> {
        let t = sim.inner.config.timing;
        let mut out = Vec::new();
        for (key, mut drive) in disks {
            match drive.volume.clone() {
                DriveVolume::Allocate { storage, size_gib } => {
                    let (size, secs) = if let Some(src) = drive.import_from.clone() {
                        let size = sim.import_source_size(node, &src)?;
                        log.log(format!("importing disk '{src}' to VM {vmid} ..."));
                        (
                            size,
                            t.storage_op_secs
                                + t.clone_secs_per_gib * size as f64 / ByteSize::GIB as f64,
                        )
                    } else {
                        let gib: f64 = size_gib
                            .parse()
                            .map_err(|_| format!("invalid size '{size_gib}'"))?;
                        ((gib * ByteSize::GIB as f64) as u64, t.storage_op_secs)
                    };
                    let volid = sim
                        .alloc_volume(node, &storage, vmid, size, secs, log)
                        .await?;
                    let (st_id, name) = volid.split_once(':').unwrap_or_default();
                    drive.set_volume(DriveVolume::Volume {
                        storage: st_id.into(),
                        name: name.into(),
                    });
                    drive.remove("import-from");
                    drive
                        .set("size", &ByteSize(size).to_string())
                        .map_err(|e| e.to_string())?;
                    log.log(format!(
                        "{key}: successfully created disk '{volid},size={}'",
                        ByteSize(size)
                    ));
                    out.push((key, drive.canonical()));
                }
                DriveVolume::CloudInit { storage } => {
                    let spec = sim
                        .storage_on(&storage, node)
                        .map_err(|e| e.message)?
                        .clone();
                    let name = if spec.kind.is_file_based() {
                        format!("{vmid}/vm-{vmid}-cloudinit.qcow2")
                    } else {
                        format!("vm-{vmid}-cloudinit")
                    };
                    let g = sim
                        .inner
                        .locks
                        .storage(&spec.id, spec.shared, t.dur(t.storage_lock_timeout_secs))
                        .await?;
                    tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                    drop(g);
                    let key_s = Simulator::store_key(&spec, node);
                    sim.lock().volumes.entry(key_s).or_default().insert(
                        name.clone(),
                        Volume {
                            size: 4 << 20,
                            format: if spec.kind.is_file_based() {
                                "qcow2".into()
                            } else {
                                "raw".into()
                            },
                            content: "images".into(),
                            vmid: Some(vmid),
                            base: None,
                            ctime: unix_now(),
                        },
                    );
                    drive.set_volume(DriveVolume::Volume {
                        storage: storage.clone(),
                        name,
                    });
                    drive.set("media", "cdrom").map_err(|e| e.to_string())?;
                    log.log(format!(
                        "{key}: successfully created disk '{storage}:vm-{vmid}-cloudinit'"
                    ));
                    out.push((key, drive.canonical()));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn check_disk_sources(
        &self,
        st: &State,
        node: &str,
        set: &BTreeMap<String, String>,
    ) -> std::result::Result<(), ApiError> {
        let mut cloudinit = 0;
        for (k, d) in Self::new_disks(set) {
            if let Some(s) = d.volume.storage() {
                self.sim.storage_on(s, node)?;
                self.check(st, &format!("/storage/{s}"), "Datastore.AllocateSpace")?;
            }
            if matches!(d.volume, DriveVolume::CloudInit { .. }) {
                cloudinit += 1;
            }
            if let Some(src) = &d.import_from {
                if src.starts_with('/') {
                    if !st.access.is_root(&self.who) {
                        return Err(ApiError::param(
                            &k,
                            "absolute path import-from is only allowed for root@pam",
                        ));
                    }
                } else {
                    let (s, name) = src.split_once(':').ok_or_else(|| {
                        ApiError::param(&k, format!("invalid import source '{src}'"))
                    })?;
                    self.check(st, &format!("/storage/{s}"), "Datastore.Audit")?;
                    let spec = self.sim.storage_on(s, node)?;
                    let vol = st
                        .volumes
                        .get(&Simulator::store_key(spec, node))
                        .and_then(|v| v.get(name))
                        .ok_or_else(|| e500(format!("volume '{src}' does not exist")))?;
                    if vol.content != "images" && vol.content != "import" {
                        return Err(ApiError::param(
                            &k,
                            format!(
                                "{src} has wrong type '{}' - needs to be 'images' or 'import'",
                                vol.content
                            ),
                        ));
                    }
                }
            }
        }
        if cloudinit > 1 {
            return Err(e500("only one cloud-init drive is allowed"));
        }
        Ok(())
    }
}

impl Simulator {
    fn import_source_size(&self, node: &str, src: &str) -> std::result::Result<u64, String> {
        if src.starts_with('/') {
            return Ok(ByteSize::GIB);
        }
        let (s, name) = src
            .split_once(':')
            .ok_or_else(|| format!("invalid import source '{src}'"))?;
        let spec = self.storage_on(s, node).map_err(|e| e.message)?;
        let st = self.lock();
        st.volumes
            .get(&Self::store_key(spec, node))
            .and_then(|v| v.get(name))
            .map(|v| v.size)
            .ok_or_else(|| format!("volume '{src}' does not exist"))
    }
}

fn vmid_u32(v: VmId) -> u32 {
    v.get()
}

fn wp(path: &str) -> String {
    path.to_owned()
}

#[async_trait::async_trait]
impl ProxmoxApi for SimClient {
    async fn version(&self) -> Result<Version> {
        self.run("GET", "/version", wp("/version"), async {
            Ok(Version {
                version: "9.1.9".into(),
                release: "9.1".into(),
                repoid: "5b2c9d0e2a7c4f31".into(),
            })
        })
        .await
    }

    async fn nodes(&self) -> Result<Vec<NodeEntry>> {
        self.run("GET", "/nodes", wp("/nodes"), async {
            let st = self.sim.lock();
            Ok(self
                .sim
                .inner
                .config
                .nodes
                .iter()
                .map(|n| {
                    let online = st.online.get(&n.name).copied().unwrap_or(false);
                    let audit =
                        st.access
                            .has(&self.who, &format!("/nodes/{}", n.name), "Sys.Audit");
                    let mem: u64 = st
                        .vms
                        .values()
                        .filter(|v| v.node == n.name && v.running)
                        .map(|v| v.memory_mib() << 20)
                        .sum();
                    NodeEntry {
                        node: n.name.clone(),
                        status: if online { "online" } else { "offline" }.into(),
                        cpu: (audit && online).then_some(0.02),
                        maxcpu: audit.then_some(u64::from(n.cpus)),
                        mem: (audit && online).then_some(mem),
                        maxmem: audit.then_some(n.memory),
                        uptime: (audit && online).then_some(86_400),
                    }
                })
                .collect())
        })
        .await
    }

    async fn cluster_resources(&self, kind: Option<ResourceType>) -> Result<Vec<ClusterResource>> {
        self.run(
            "GET",
            "/cluster/resources",
            wp("/cluster/resources"),
            async {
                let st = self.sim.lock();
                let mut out = Vec::new();
                if kind.is_none() || kind == Some(ResourceType::Vm) {
                    for vm in st.vms.values() {
                        if !st
                            .access
                            .has(&self.who, &format!("/vms/{}", vm.vmid), "VM.Audit")
                        {
                            continue;
                        }
                        // Freshly created or cloned VMs are in the vmlist before
                        // pvestatd has reported their stats.
                        let fresh = matches!(vm.lock(), Some("clone") | Some("create"));
                        let disk: u64 = vm
                            .conf
                            .iter()
                            .filter(|(k, _)| is_drive_key(k))
                            .filter_map(|(_, v)| Drive::parse(v).ok())
                            .filter(|d| !d.is_cdrom())
                            .filter_map(|d| d.size.map(|s| s.0))
                            .sum();
                        out.push(ClusterResource {
                            id: format!("qemu/{}", vm.vmid),
                            kind: "qemu".into(),
                            node: Some(vm.node.clone()),
                            vmid: Some(u64::from(vm.vmid)),
                            name: if fresh {
                                None
                            } else {
                                vm.conf
                                    .get("name")
                                    .cloned()
                                    .or(Some(format!("VM {}", vm.vmid)))
                            },
                            status: Some(
                                if fresh {
                                    "unknown"
                                } else if vm.running {
                                    "running"
                                } else {
                                    "stopped"
                                }
                                .into(),
                            ),
                            template: (!fresh).then_some(vm.is_template()),
                            maxcpu: (!fresh).then_some(vm.cpus() as f64),
                            cpu: (!fresh).then_some(if vm.running { 0.01 } else { 0.0 }),
                            maxmem: (!fresh).then_some(vm.memory_mib() << 20),
                            mem: (!fresh).then_some(if vm.running {
                                (vm.memory_mib() << 20) / 2
                            } else {
                                0
                            }),
                            maxdisk: (!fresh).then_some(disk),
                            disk: (!fresh).then_some(0),
                            uptime: (!fresh).then_some(if vm.running { 1 } else { 0 }),
                            pool: vm.pool.clone().filter(|p| {
                                st.access
                                    .has(&self.who, &format!("/pool/{p}"), "Pool.Audit")
                            }),
                            tags: vm.conf.get("tags").cloned(),
                            lock: vm.lock().map(str::to_owned),
                            ..Default::default()
                        });
                    }
                }
                if kind.is_none() || kind == Some(ResourceType::Node) {
                    for n in &self.sim.inner.config.nodes {
                        let audit =
                            st.access
                                .has(&self.who, &format!("/nodes/{}", n.name), "Sys.Audit");
                        let online = st.online.get(&n.name).copied().unwrap_or(false);
                        out.push(ClusterResource {
                            id: format!("node/{}", n.name),
                            kind: "node".into(),
                            node: Some(n.name.clone()),
                            status: Some(if online { "online" } else { "offline" }.into()),
                            maxcpu: audit.then_some(f64::from(n.cpus)),
                            maxmem: audit.then_some(n.memory),
                            ..Default::default()
                        });
                    }
                }
                if kind.is_none() || kind == Some(ResourceType::Storage) {
                    for n in &self.sim.inner.config.nodes {
                        for s in &self.sim.inner.config.storages {
                            if !(s.nodes.is_empty() || s.nodes.contains(&n.name))
                                || !st.access.has(
                                    &self.who,
                                    &format!("/storage/{}", s.id),
                                    "Datastore.Audit",
                                )
                            {
                                continue;
                            }
                            let key = Simulator::store_key(s, &n.name);
                            out.push(ClusterResource {
                                id: format!("storage/{}/{}", n.name, s.id),
                                kind: "storage".into(),
                                node: Some(n.name.clone()),
                                storage: Some(s.id.clone()),
                                plugintype: Some(s.kind.as_str().into()),
                                status: Some("available".into()),
                                shared: Some(s.shared),
                                content: Some(s.content.join(",")),
                                maxdisk: Some(s.capacity),
                                disk: Some(Simulator::used_bytes(&st, &key)),
                                ..Default::default()
                            });
                        }
                    }
                }
                Ok(out)
            },
        )
        .await
    }

    async fn next_vmid(&self, check: Option<VmId>) -> Result<VmId> {
        self.run("GET", "/cluster/nextid", wp("/cluster/nextid"), async {
            let st = self.sim.lock();
            if let Some(v) = check {
                if st.vms.contains_key(&v.get()) {
                    return Err(ApiError::param("vmid", format!("VM {v} already exists")));
                }
                return Ok(v);
            }
            (100..1_000_000u32)
                .find(|id| !st.vms.contains_key(id))
                .and_then(|id| VmId::new(id).ok())
                .ok_or_else(|| e500("unable to get any free VMID in range [100, 999999]"))
        })
        .await
    }

    async fn create_vm(&self, node: &NodeName, req: &CreateVm) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid_u32(req.vmid);
        self.run(
            "POST",
            "/nodes/{node}/qemu",
            format!("/nodes/{node}/qemu"),
            async {
                let (set, disks) = {
                    let mut st = self.sim.lock();
                    self.check_node(&st, node)?;
                    let mut errors = BTreeMap::new();
                    let mut set = BTreeMap::new();
                    for (k, v) in &req.config {
                        match normalize_config_value(k, v) {
                            Ok(v) => {
                                set.insert(k.clone(), v);
                            }
                            Err(e) => {
                                errors.insert(k.clone(), e);
                            }
                        }
                    }
                    if !errors.is_empty() {
                        return Err(ApiError::params(errors));
                    }
                    let path = match &req.pool {
                        Some(p) => format!("/pool/{p}"),
                        None => format!("/vms/{vmid}"),
                    };
                    if !st
                        .access
                        .has(&self.who, &format!("/vms/{vmid}"), "VM.Allocate")
                    {
                        self.check(&st, &path, "VM.Allocate")?;
                    }
                    if let Some(p) = &req.pool
                        && !st.pools.contains_key(p)
                    {
                        return Err(e500(format!("pool '{p}' does not exist")));
                    }
                    self.check_disk_sources(&st, node, &set)?;
                    if let Some(other) = st.vms.get(&vmid) {
                        return Err(e500(format!(
                            "unable to create VM {vmid} - VM {vmid} already exists on node '{}'",
                            other.node
                        )));
                    }
                    let disks = Self::new_disks(&set);
                    let mut vm = Vm::new(vmid, node);
                    vm.conf.insert("lock".into(), "create".into());
                    vm.pool = req.pool.clone();
                    st.vms.insert(vmid, vm);
                    if let Some(p) = &req.pool {
                        st.pools.entry(p.clone()).or_default().vms.insert(vmid);
                    }
                    (set, disks)
                };
                let sim = self.sim.clone();
                let start = req.start;
                let node_s = node.to_owned();
                let who = self.who.clone();
                Ok(self.sim.spawn_task(
                    node,
                    "qmcreate",
                    &vmid.to_string(),
                    &self.who,
                    move |log| async move {
                        let made =
                            match SimClient::materialize_disks(&sim, &node_s, vmid, disks, &log)
                                .await
                            {
                                Ok(m) => m,
                                Err(e) => {
                                    sim.lock().vms.remove(&vmid);
                                    return Err(format!("unable to create VM {vmid} - {e}"));
                                }
                            };
                        {
                            let mut st = sim.lock();
                            let mut set = set;
                            set.extend(made);
                            let uuid = Simulator::gen_uuid(&mut st);
                            set.entry("smbios1".into())
                                .or_insert(format!("uuid={uuid}"));
                            let vmgen = Simulator::gen_uuid(&mut st);
                            set.entry("vmgenid".into()).or_insert(vmgen);
                            set.entry("meta".into())
                                .or_insert(format!("creation-qemu=9.2.0,ctime={}", unix_now()));
                            SimClient::apply_update(&mut st, vmid, set, vec![], &[]);
                            if let Some(vm) = st.vms.get_mut(&vmid) {
                                vm.conf.remove("lock");
                            }
                        }
                        if start {
                            let c = sim.client(who);
                            c.do_start(&node_s, vmid, &log).await?;
                        }
                        Ok(())
                    },
                ))
            },
        )
        .await
    }

    async fn vm_config(&self, node: &NodeName, vmid: VmId, current: bool) -> Result<VmConfig> {
        let j = self
            .config_json(node.as_str(), vmid.get(), current, None)
            .await?;
        serde_json::from_value(serde_json::Value::Object(j)).map_err(|source| Error::Decode {
            method: "GET".into(),
            path: "/nodes/{node}/qemu/{vmid}/config".into(),
            source,
        })
    }

    async fn update_vm_config(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid.get();
        self.run(
            "POST",
            "/nodes/{node}/qemu/{vmid}/config",
            format!("/nodes/{node}/qemu/{vmid}/config"),
            async {
                let (set, delete) = {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    let vm = Self::vm(&st, node, vmid)?;
                    let prepared = self.prepare_update(&st, vmid, update)?;
                    self.check_disk_sources(&st, node, &prepared.0)?;
                    if let Some(d) = &update.digest
                        && *d != vm.digest()
                    {
                        return Err(e500("checksum mismatch (file change by other user?)"));
                    }
                    Self::check_lock(vm)?;
                    prepared
                };
                let sim = self.sim.clone();
                let digest = update.digest.clone();
                let revert = update.revert.clone();
                let node_s = node.to_owned();
                Ok(self.sim.spawn_task(
                    node,
                    "qmconfig",
                    &vmid.to_string(),
                    &self.who,
                    move |log| async move {
                        let t = sim.inner.config.timing;
                        let _g = sim
                            .inner
                            .locks
                            .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                            .await?;
                        {
                            let st = sim.lock();
                            let vm = SimClient::vm(&st, &node_s, vmid).map_err(|e| e.message)?;
                            if let Some(d) = &digest
                                && *d != vm.digest()
                            {
                                return Err("checksum mismatch (file change by other user?)".into());
                            }
                            SimClient::check_lock(vm).map_err(|e| e.message)?;
                        }
                        let disks = SimClient::new_disks(&set);
                        let made =
                            SimClient::materialize_disks(&sim, &node_s, vmid, disks, &log).await?;
                        let mut set = set;
                        set.extend(made);
                        for (k, v) in &set {
                            log.log(format!("update VM {vmid}: -{k} {v}"));
                        }
                        SimClient::apply_update(&mut sim.lock(), vmid, set, delete, &revert);
                        Ok(())
                    },
                ))
            },
        )
        .await
    }

    async fn update_vm_config_sync(
        &self,
        node: &NodeName,
        vmid: VmId,
        update: &ConfigUpdate,
    ) -> Result<()> {
        let node = node.as_str();
        let vmid = vmid.get();
        self.run(
            "PUT",
            "/nodes/{node}/qemu/{vmid}/config",
            format!("/nodes/{node}/qemu/{vmid}/config"),
            async {
                let (set, delete) = {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    let vm = Self::vm(&st, node, vmid)?;
                    Self::check_lock(vm)?;
                    let p = self.prepare_update(&st, vmid, update)?;
                    if !Self::new_disks(&p.0).is_empty() {
                        // Allowed by Proxmox, but it blocks; we require POST for allocation.
                        self.check_disk_sources(&st, node, &p.0)?;
                    }
                    p
                };
                let t = self.sim.inner.config.timing;
                let _g = self
                    .sim
                    .inner
                    .locks
                    .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                    .await
                    .map_err(e500)?;
                let disks = Self::new_disks(&set);
                let mut set = set;
                if !disks.is_empty() {
                    let log = TaskLog {
                        sim: self.sim.clone(),
                        upid: String::new(),
                    };
                    set.extend(
                        Self::materialize_disks(&self.sim, node, vmid, disks, &log)
                            .await
                            .map_err(e500)?,
                    );
                }
                let mut st = self.sim.lock();
                let vm = Self::vm(&st, node, vmid)?;
                if let Some(d) = &update.digest
                    && *d != vm.digest()
                {
                    return Err(e500("checksum mismatch (file change by other user?)"));
                }
                Self::check_lock(vm)?;
                Self::apply_update(&mut st, vmid, set, delete, &update.revert);
                Ok(())
            },
        )
        .await
    }

    async fn vm_pending(&self, node: &NodeName, vmid: VmId) -> Result<Vec<PendingEntry>> {
        let j = self.pending_json(node.as_str(), vmid.get()).await?;
        serde_json::from_value(serde_json::Value::Array(j)).map_err(|source| Error::Decode {
            method: "GET".into(),
            path: "/nodes/{node}/qemu/{vmid}/pending".into(),
            source,
        })
    }

    async fn resize_disk(&self, node: &NodeName, vmid: VmId, req: &ResizeDisk) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid.get();
        self.run(
            "PUT",
            "/nodes/{node}/qemu/{vmid}/resize",
            format!("/nodes/{node}/qemu/{vmid}/resize"),
            async {
                let (add, absolute) = match req.size.strip_prefix('+') {
                    Some(s) => (true, s),
                    None => (false, req.size.as_str()),
                };
                let size = ByteSize::parse(absolute).ok_or_else(|| {
                    ApiError::param("size", "value does not match the regex pattern".to_string())
                })?;
                {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    self.check(&st, &format!("/vms/{vmid}"), "VM.Config.Disk")?;
                    let vm = Self::vm(&st, node, vmid)?;
                    if !is_drive_key(&req.disk) {
                        return Err(ApiError::param(
                            "disk",
                            format!(
                                "value '{}' does not have a value in the enumeration",
                                req.disk
                            ),
                        ));
                    }
                    if !vm.conf.contains_key(&req.disk) {
                        return Err(e500(format!("disk '{}' does not exist", req.disk)));
                    }
                    if let Some(d) = &req.digest
                        && *d != vm.digest()
                    {
                        return Err(e500("checksum mismatch (file change by other user?)"));
                    }
                    Self::check_lock(vm)?;
                }
                let sim = self.sim.clone();
                let disk = req.disk.clone();
                let node_s = node.to_owned();
                Ok(self.sim.spawn_task(
                    node,
                    "resize",
                    &vmid.to_string(),
                    &self.who,
                    move |log| async move {
                        let t = sim.inner.config.timing;
                        let _g = sim
                            .inner
                            .locks
                            .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                            .await?;
                        tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                        let mut st = sim.lock();
                        let vm =
                            SimClient::vm_mut(&mut st, &node_s, vmid).map_err(|e| e.message)?;
                        let mut drive =
                            Drive::parse(vm.conf.get(&disk).map(String::as_str).unwrap_or(""))
                                .map_err(|e| e.to_string())?;
                        let old = drive.size.map(|s| s.0).unwrap_or(0);
                        let new = if add { old + size.0 } else { size.0 };
                        if new < old {
                            return Err("shrinking disks is not supported".into());
                        }
                        drive
                            .set("size", &ByteSize(new).to_string())
                            .map_err(|e| e.to_string())?;
                        vm.conf.insert(disk.clone(), drive.canonical());
                        if let DriveVolume::Volume { storage, name } = &drive.volume
                            && let Some(spec) = sim.storage(storage).cloned()
                            && let Some(v) = st
                                .volumes
                                .get_mut(&Simulator::store_key(&spec, &node_s))
                                .and_then(|m| m.get_mut(name))
                        {
                            v.size = new;
                        }
                        log.log(format!("resized {disk} to {}", ByteSize(new)));
                        Ok(())
                    },
                ))
            },
        )
        .await
    }

    async fn convert_to_template(&self, node: &NodeName, vmid: VmId) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid.get();
        self.run("POST", "/nodes/{node}/qemu/{vmid}/template", format!("/nodes/{node}/qemu/{vmid}/template"), async {
            {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                self.check(&st, &format!("/vms/{vmid}"), "VM.Allocate")?;
                let vm = Self::vm(&st, node, vmid)?;
                Self::check_lock(vm)?;
                if vm.is_template() {
                    return Err(e500("VM is already a template"));
                }
                if vm.running {
                    return Err(e500("you can't convert a VM to template if VM is running"));
                }
                if !vm.snapshots.is_empty() {
                    return Err(e500("unable to create template, because VM contains snapshots"));
                }
            }
            let sim = self.sim.clone();
            let node_s = node.to_owned();
            Ok(self.sim.spawn_task(node, "qmtemplate", &vmid.to_string(), &self.who, move |log| async move {
                let t = sim.inner.config.timing;
                let _g = sim.inner.locks.exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs)).await?;
                let drives: Vec<(String, Drive)> = {
                    let st = sim.lock();
                    let vm = SimClient::vm(&st, &node_s, vmid).map_err(|e| e.message)?;
                    vm.conf
                        .iter()
                        .filter(|(k, _)| is_drive_key(k))
                        .filter_map(|(k, v)| Drive::parse(v).ok().map(|d| (k.clone(), d)))
                        .filter(|(_, d)| !d.is_cdrom())
                        .collect()
                };
                let mut renamed = Vec::new();
                for (key, mut drive) in drives {
                    let DriveVolume::Volume { storage, name } = drive.volume.clone() else { continue };
                    let spec = sim.storage_on(&storage, &node_s).map_err(|e| e.message)?.clone();
                    if spec.kind == StorageKind::Lvm {
                        return Err(format!("unable to create base volume - storage '{storage}' does not support templates"));
                    }
                    let _sg = sim.inner.locks.storage(&spec.id, spec.shared, t.dur(t.storage_lock_timeout_secs)).await?;
                    tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                    let new_name = name.replacen("vm-", "base-", 1);
                    let mut st = sim.lock();
                    if let Some(vols) = st.volumes.get_mut(&Simulator::store_key(&spec, &node_s))
                        && let Some(v) = vols.remove(&name)
                    {
                        vols.insert(new_name.clone(), v);
                    }
                    drive.set_volume(DriveVolume::Volume { storage: storage.clone(), name: new_name.clone() });
                    log.log(format!("{key}: converted '{storage}:{name}' to base volume '{storage}:{new_name}'"));
                    renamed.push((key, drive.canonical()));
                }
                let mut st = sim.lock();
                let vm = SimClient::vm_mut(&mut st, &node_s, vmid).map_err(|e| e.message)?;
                vm.conf.extend(renamed);
                vm.conf.insert("template".into(), "1".into());
                Ok(())
            }))
        })
        .await
    }

    async fn clone_vm(&self, node: &NodeName, vmid: VmId, req: &CloneVm) -> Result<Upid> {
        let node = node.as_str();
        let src = vmid.get();
        let newid = req.newid.get();
        self.run(
            "POST",
            "/nodes/{node}/qemu/{vmid}/clone",
            format!("/nodes/{node}/qemu/{src}/clone"),
            async {
                let (full, target) = {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    let vm = Self::vm(&st, node, src)?;
                    self.check(&st, &format!("/vms/{src}"), "VM.Clone")?;
                    let pool_ok = req.pool.as_ref().is_some_and(|p| {
                        st.access
                            .has(&self.who, &format!("/pool/{p}"), "VM.Allocate")
                    });
                    if !pool_ok {
                        self.check(&st, &format!("/vms/{newid}"), "VM.Allocate")?;
                    }
                    if let Some(s) = &req.storage {
                        self.check(&st, &format!("/storage/{s}"), "Datastore.AllocateSpace")?;
                    }
                    let full = req.full.unwrap_or(!vm.is_template());
                    if !full {
                        if req.storage.is_some() {
                            return Err(ApiError::param(
                                "storage",
                                "parameter 'storage' not allowed for linked clones",
                            ));
                        }
                        if req.format.is_some() {
                            return Err(ApiError::param(
                                "format",
                                "parameter 'format' not allowed for linked clones",
                            ));
                        }
                    }
                    if let Some(n) = &req.name
                        && !dns_name_ok(n)
                    {
                        return Err(ApiError::param(
                            "name",
                            "invalid format - value does not look like a valid DNS name",
                        ));
                    }
                    let target = req.target.clone().unwrap_or_else(|| node.to_owned());
                    if target != node {
                        self.check_node(&st, &target)?;
                        let local = vm
                            .conf
                            .iter()
                            .filter(|(k, _)| is_drive_key(k))
                            .filter_map(|(_, v)| Drive::parse(v).ok())
                            .any(|d| {
                                d.volume
                                    .storage()
                                    .and_then(|s| self.sim.storage(s))
                                    .is_some_and(|s| !s.shared)
                            });
                        if local {
                            return Err(e500(format!(
                                "can't clone VM to node '{target}' (VM uses local storage)"
                            )));
                        }
                    }
                    if st.vms.contains_key(&newid) {
                        return Err(e500(format!(
                            "unable to create VM {newid}: config file already exists"
                        )));
                    }
                    if let Some(p) = &req.pool
                        && !st.pools.contains_key(p)
                    {
                        return Err(e500(format!("pool '{p}' does not exist")));
                    }
                    (full, target)
                };
                let sim = self.sim.clone();
                let req = req.clone();
                let node_s = node.to_owned();
                Ok(self.sim.spawn_task(
                    node,
                    "qmclone",
                    &src.to_string(),
                    &self.who,
                    move |log| async move {
                        sim.clone_worker(&node_s, src, newid, full, &target, &req, &log)
                            .await
                    },
                ))
            },
        )
        .await
    }

    async fn vm_status(&self, node: &NodeName, vmid: VmId) -> Result<VmStatus> {
        let node = node.as_str();
        let vmid = vmid.get();
        self.run(
            "GET",
            "/nodes/{node}/qemu/{vmid}/status/current",
            format!("/nodes/{node}/qemu/{vmid}/status/current"),
            async {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                self.check(&st, &format!("/vms/{vmid}"), "VM.Audit")?;
                let vm = Self::vm(&st, node, vmid)?;
                Ok(VmStatus {
                    vmid: u64::from(vmid),
                    status: if vm.running { "running" } else { "stopped" }.into(),
                    name: vm.conf.get("name").cloned(),
                    lock: vm.lock().map(str::to_owned),
                    qmpstatus: Some(if vm.running { "running" } else { "stopped" }.into()),
                    uptime: Some(vm.started_at.map(|s| s.elapsed().as_secs()).unwrap_or(0)),
                    template: vm.is_template().then_some(true),
                    agent: agent_enabled(&vm.conf).then_some(true),
                    cpus: Some(vm.cpus() as f64),
                    maxmem: Some(vm.memory_mib() << 20),
                    maxdisk: Some(0),
                    ha: Some(serde_json::json!({ "managed": 0 })),
                })
            },
        )
        .await
    }

    async fn vm_action(&self, node: &NodeName, vmid: VmId, action: VmAction) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid.get();
        let template = format!("/nodes/{{node}}/qemu/{{vmid}}/status/{}", action.as_str());
        let path = format!("/nodes/{node}/qemu/{vmid}/status/{}", action.as_str());
        self.run("POST", &template, path, async {
            {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                self.check(&st, &format!("/vms/{vmid}"), "VM.PowerMgmt")?;
                let vm = Self::vm(&st, node, vmid)?;
                if action == VmAction::Start && vm.is_template() {
                    return Err(e500("you can't start a vm if it's a template"));
                }
                if action != VmAction::Stop {
                    Self::check_lock(vm)?;
                }
                if action == VmAction::Reboot && !vm.running {
                    return Err(e500(format!("VM {vmid} not running")));
                }
            }
            let c = self.clone();
            let node_s = node.to_owned();
            Ok(self.sim.spawn_task(
                node,
                action.task_type(),
                &vmid.to_string(),
                &self.who,
                move |log| async move {
                    let t = c.sim.inner.config.timing;
                    match action {
                        VmAction::Start => c.do_start(&node_s, vmid, &log).await,
                        VmAction::Stop | VmAction::Shutdown => {
                            let running = c.sim.lock().vms.get(&vmid).is_some_and(|v| v.running);
                            if running {
                                let secs = if action == VmAction::Stop {
                                    t.storage_op_secs
                                } else {
                                    t.shutdown_secs
                                };
                                tokio::time::sleep(t.dur(secs)).await;
                            }
                            let mut st = c.sim.lock();
                            let vm =
                                SimClient::vm_mut(&mut st, &node_s, vmid).map_err(|e| e.message)?;
                            vm.running = false;
                            vm.started_at = None;
                            Ok(())
                        }
                        VmAction::Reboot => {
                            tokio::time::sleep(t.dur(t.shutdown_secs)).await;
                            {
                                let mut st = c.sim.lock();
                                let vm = SimClient::vm_mut(&mut st, &node_s, vmid)
                                    .map_err(|e| e.message)?;
                                vm.running = false;
                                vm.started_at = None;
                            }
                            c.do_start(&node_s, vmid, &log).await
                        }
                    }
                },
            ))
        })
        .await
    }

    async fn delete_vm(&self, node: &NodeName, vmid: VmId, opts: DeleteVm) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid.get();
        self.run(
            "DELETE",
            "/nodes/{node}/qemu/{vmid}",
            format!("/nodes/{node}/qemu/{vmid}"),
            async {
                {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    self.check(&st, &format!("/vms/{vmid}"), "VM.Allocate")?;
                    let vm = Self::vm(&st, node, vmid)?;
                    Self::check_lock(vm)?;
                    if vm.running {
                        return Err(e500(format!("VM {vmid} is running - destroy failed")));
                    }
                    if vm.conf.get("protection").is_some_and(|p| p == "1") {
                        return Err(e500(format!(
                            "can't remove VM {vmid} - protection mode enabled"
                        )));
                    }
                }
                let sim = self.sim.clone();
                let node_s = node.to_owned();
                Ok(self.sim.spawn_task(
                    node,
                    "qmdestroy",
                    &vmid.to_string(),
                    &self.who,
                    move |log| async move {
                        let t = sim.inner.config.timing;
                        let _g = sim
                            .inner
                            .locks
                            .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                            .await?;
                        let volumes: Vec<String> = {
                            let st = sim.lock();
                            let vm = SimClient::vm(&st, &node_s, vmid).map_err(|e| e.message)?;
                            SimClient::check_lock(vm).map_err(|e| e.message)?;
                            let mut vols: Vec<String> = vm
                                .conf
                                .iter()
                                .filter(|(k, _)| is_drive_key(k) || indexed(k, "unused", 255))
                                .filter_map(|(_, v)| Drive::parse(v).ok())
                                .filter_map(|d| match d.volume {
                                    DriveVolume::Volume { storage, name } => {
                                        Some(format!("{storage}:{name}"))
                                    }
                                    _ => None,
                                })
                                .collect();
                            if opts.destroy_unreferenced_disks {
                                for (key, m) in &st.volumes {
                                    let storage = key.split('@').next().unwrap_or(key);
                                    for (name, v) in m {
                                        if v.vmid == Some(vmid) && v.content == "images" {
                                            vols.push(format!("{storage}:{name}"));
                                        }
                                    }
                                }
                                vols.sort();
                                vols.dedup();
                            }
                            for v in &vols {
                                if Simulator::volume_in_use_as_base(&st, v) {
                                    return Err(format!(
                                        "base volume '{v}' is still in use by linked cloned"
                                    ));
                                }
                            }
                            vols
                        };
                        for volid in volumes {
                            let Some(spec) = volid
                                .split_once(':')
                                .and_then(|(s, _)| sim.storage(s))
                                .cloned()
                            else {
                                continue;
                            };
                            let _sg = sim
                                .inner
                                .locks
                                .storage(&spec.id, spec.shared, t.dur(t.storage_lock_timeout_secs))
                                .await?;
                            tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                            Simulator::free_volume(&mut sim.lock(), &node_s, &volid, &spec);
                            log.log(format!(
                                "  Logical volume \"{}\" successfully removed.",
                                volid.split_once(':').map(|x| x.1).unwrap_or("")
                            ));
                        }
                        let mut st = sim.lock();
                        if let Some(vm) = st.vms.remove(&vmid)
                            && let Some(p) = vm.pool
                            && let Some(pool) = st.pools.get_mut(&p)
                        {
                            pool.vms.remove(&vmid);
                        }
                        if opts.purge {
                            let path = format!("/vms/{vmid}");
                            st.access.acl.retain(|e| e.path != path);
                        }
                        Ok(())
                    },
                ))
            },
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
        let node = node.as_str();
        let target = target.as_str().to_owned();
        let vmid = vmid.get();
        self.run(
            "POST",
            "/nodes/{node}/qemu/{vmid}/migrate",
            format!("/nodes/{node}/qemu/{vmid}/migrate"),
            async {
                {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    self.check(&st, &format!("/vms/{vmid}"), "VM.Migrate")?;
                    let vm = Self::vm(&st, node, vmid)?;
                    if target == node {
                        return Err(ApiError::param("target", "target is local node."));
                    }
                    self.check_node(&st, &target)?;
                    Self::check_lock(vm)?;
                    if vm.running && !online {
                        return Err(e500("can't migrate running VM without --online"));
                    }
                }
                let sim = self.sim.clone();
                let node_s = node.to_owned();
                Ok(self.sim.spawn_task(
                    node,
                    "qmigrate",
                    &vmid.to_string(),
                    &self.who,
                    move |log| async move {
                        let t = sim.inner.config.timing;
                        let _g = sim
                            .inner
                            .locks
                            .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                            .await?;
                        let local: Vec<(String, String, u64)> = {
                            let mut st = sim.lock();
                            let vm =
                                SimClient::vm_mut(&mut st, &node_s, vmid).map_err(|e| e.message)?;
                            vm.conf.insert("lock".into(), "migrate".into());
                            let vols: Vec<(String, String)> = vm
                                .conf
                                .iter()
                                .filter(|(k, _)| is_drive_key(k))
                                .filter_map(|(_, v)| Drive::parse(v).ok())
                                .filter_map(|d| match d.volume {
                                    DriveVolume::Volume { storage, name } => Some((storage, name)),
                                    _ => None,
                                })
                                .collect();
                            vols.into_iter()
                                .filter_map(|(s, n)| {
                                    let spec = sim.storage(&s)?;
                                    if spec.shared {
                                        return None;
                                    }
                                    let size = st
                                        .volumes
                                        .get(&Simulator::store_key(spec, &node_s))?
                                        .get(&n)?
                                        .size;
                                    Some((s, n, size))
                                })
                                .collect()
                        };
                        log.log(format!(
                            "starting migration of VM {vmid} to node '{target}'"
                        ));
                        for (s, n, size) in local {
                            log.log(format!("copying local disk '{s}:{n}'"));
                            tokio::time::sleep(
                                t.dur(t.clone_secs_per_gib * size as f64 / ByteSize::GIB as f64),
                            )
                            .await;
                            let spec = sim.storage(&s).cloned().ok_or("storage vanished")?;
                            if !(spec.nodes.is_empty() || spec.nodes.contains(&target)) {
                                sim.lock().vms.get_mut(&vmid).map(|v| v.conf.remove("lock"));
                                return Err(format!(
                                    "storage '{s}' is not available on node '{target}'"
                                ));
                            }
                            let mut st = sim.lock();
                            let v = st
                                .volumes
                                .get_mut(&Simulator::store_key(&spec, &node_s))
                                .and_then(|m| m.remove(&n));
                            if let Some(v) = v {
                                st.volumes
                                    .entry(Simulator::store_key(&spec, &target))
                                    .or_default()
                                    .insert(n, v);
                            }
                        }
                        let mut st = sim.lock();
                        if let Some(vm) = st.vms.get_mut(&vmid) {
                            vm.node = target.clone();
                            vm.conf.remove("lock");
                        }
                        log.log("migration finished successfully");
                        Ok(())
                    },
                ))
            },
        )
        .await
    }

    async fn list_snapshots(&self, node: &NodeName, vmid: VmId) -> Result<Vec<SnapshotEntry>> {
        let node = node.as_str();
        let vmid = vmid.get();
        let path = format!("/nodes/{node}/qemu/{vmid}/snapshot");
        self.run("GET", "/nodes/{node}/qemu/{vmid}/snapshot", path, async {
            let st = self.sim.lock();
            self.check_node(&st, node)?;
            self.check(&st, &format!("/vms/{vmid}"), "VM.Audit")?;
            let vm = Self::vm(&st, node, vmid)?;
            let mut out: Vec<SnapshotEntry> = vm
                .snapshots
                .iter()
                .map(|(name, s)| SnapshotEntry {
                    name: name.clone(),
                    description: s.description.clone(),
                    parent: s.conf.get("parent").cloned(),
                    snaptime: Some(s.snaptime),
                    vmstate: Some(false),
                    running: None,
                    digest: None,
                })
                .collect();
            out.push(SnapshotEntry {
                name: "current".into(),
                description: "You are here!".into(),
                parent: vm.conf.get("parent").cloned(),
                snaptime: None,
                vmstate: None,
                running: Some(u64::from(vm.running)),
                digest: Some(vm.digest()),
            });
            Ok(out)
        })
        .await
    }

    async fn create_snapshot(
        &self,
        node: &NodeName,
        vmid: VmId,
        name: &str,
        description: Option<&str>,
    ) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid.get();
        let path = format!("/nodes/{node}/qemu/{vmid}/snapshot");
        self.run("POST", "/nodes/{node}/qemu/{vmid}/snapshot", path, async {
            {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                self.check(&st, &format!("/vms/{vmid}"), "VM.Snapshot")?;
                let vm = Self::vm(&st, node, vmid)?;
                let valid = name.len() <= 40
                    && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
                if !valid {
                    return Err(ApiError::param(
                        "snapname",
                        "invalid format - invalid configuration ID",
                    ));
                }
                if name == "current" || name == "vzdump" {
                    return Err(e500(format!("invalid snapshot name '{name}'")));
                }
                if vm.snapshots.contains_key(name) {
                    return Err(e500(format!("snapshot name '{name}' already used")));
                }
                if vm.is_template() {
                    return Err(e500("you can't take a snapshot if it's a template"));
                }
                Self::check_lock(vm)?;
            }
            let sim = self.sim.clone();
            let (node_s, name_s, desc) = (
                node.to_owned(),
                name.to_owned(),
                description.unwrap_or("").to_owned(),
            );
            Ok(self.sim.spawn_task(
                node,
                "qmsnapshot",
                &vmid.to_string(),
                &self.who,
                move |log| async move {
                    let t = sim.inner.config.timing;
                    let _g = sim
                        .inner
                        .locks
                        .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                        .await?;
                    let drives: Vec<String> = {
                        let mut st = sim.lock();
                        let vm =
                            SimClient::vm_mut(&mut st, &node_s, vmid).map_err(|e| e.message)?;
                        SimClient::check_lock(vm).map_err(|e| e.message)?;
                        vm.conf.insert("lock".into(), "snapshot".into());
                        vm.conf
                            .iter()
                            .filter(|(k, _)| is_drive_key(k))
                            .filter_map(|(_, v)| Drive::parse(v).ok())
                            .filter(|d| !d.is_cdrom())
                            .filter_map(|d| d.volume.storage().map(str::to_owned))
                            .collect()
                    };
                    for storage in drives {
                        if sim
                            .storage(&storage)
                            .is_some_and(|s| s.kind == StorageKind::Lvm)
                        {
                            sim.lock().vms.get_mut(&vmid).map(|v| v.conf.remove("lock"));
                            return Err("snapshot feature is not available".to_string());
                        }
                        tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                    }
                    let mut st = sim.lock();
                    let vm = SimClient::vm_mut(&mut st, &node_s, vmid).map_err(|e| e.message)?;
                    vm.conf.remove("lock");
                    let conf = vm.conf.clone();
                    vm.snapshots.insert(
                        name_s.clone(),
                        Snapshot {
                            conf,
                            snaptime: unix_now(),
                            description: desc,
                        },
                    );
                    vm.conf.insert("parent".into(), name_s.clone());
                    log.log(format!("snapshot '{name_s}' created"));
                    Ok(())
                },
            ))
        })
        .await
    }

    async fn delete_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid.get();
        let path = format!("/nodes/{node}/qemu/{vmid}/snapshot/{name}");
        self.run(
            "DELETE",
            "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}",
            path,
            async {
                {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    self.check(&st, &format!("/vms/{vmid}"), "VM.Snapshot")?;
                    let vm = Self::vm(&st, node, vmid)?;
                    if !vm.snapshots.contains_key(name) {
                        return Err(e500(format!("snapshot '{name}' does not exist")));
                    }
                    Self::check_lock(vm)?;
                }
                let sim = self.sim.clone();
                let (node_s, name_s) = (node.to_owned(), name.to_owned());
                Ok(self.sim.spawn_task(
                    node,
                    "qmdelsnapshot",
                    &vmid.to_string(),
                    &self.who,
                    move |log| async move {
                        let t = sim.inner.config.timing;
                        let _g = sim
                            .inner
                            .locks
                            .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                            .await?;
                        tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                        let mut st = sim.lock();
                        let vm =
                            SimClient::vm_mut(&mut st, &node_s, vmid).map_err(|e| e.message)?;
                        let snap = vm
                            .snapshots
                            .remove(&name_s)
                            .ok_or_else(|| format!("snapshot '{name_s}' does not exist"))?;
                        let grandparent = snap.conf.get("parent").cloned();
                        let reparent = |conf: &mut BTreeMap<String, String>| {
                            if conf.get("parent") == Some(&name_s) {
                                match &grandparent {
                                    Some(g) => conf.insert("parent".into(), g.clone()),
                                    None => conf.remove("parent"),
                                };
                            }
                        };
                        reparent(&mut vm.conf);
                        for s in vm.snapshots.values_mut() {
                            reparent(&mut s.conf);
                        }
                        log.log(format!("snapshot '{name_s}' removed"));
                        Ok(())
                    },
                ))
            },
        )
        .await
    }

    async fn rollback_snapshot(&self, node: &NodeName, vmid: VmId, name: &str) -> Result<Upid> {
        let node = node.as_str();
        let vmid = vmid.get();
        let path = format!("/nodes/{node}/qemu/{vmid}/snapshot/{name}/rollback");
        self.run(
            "POST",
            "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback",
            path,
            async {
                {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    self.check(&st, &format!("/vms/{vmid}"), "VM.Snapshot.Rollback")?;
                    let vm = Self::vm(&st, node, vmid)?;
                    if !vm.snapshots.contains_key(name) {
                        return Err(e500(format!("snapshot '{name}' does not exist")));
                    }
                    Self::check_lock(vm)?;
                }
                let sim = self.sim.clone();
                let (node_s, name_s) = (node.to_owned(), name.to_owned());
                Ok(self.sim.spawn_task(
                    node,
                    "qmrollback",
                    &vmid.to_string(),
                    &self.who,
                    move |log| async move {
                        let t = sim.inner.config.timing;
                        let _g = sim
                            .inner
                            .locks
                            .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                            .await?;
                        tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                        let mut st = sim.lock();
                        let vm =
                            SimClient::vm_mut(&mut st, &node_s, vmid).map_err(|e| e.message)?;
                        let snap = vm
                            .snapshots
                            .get(&name_s)
                            .cloned()
                            .ok_or_else(|| format!("snapshot '{name_s}' does not exist"))?;
                        if vm.running {
                            log.log("stopping VM before rollback");
                            vm.running = false;
                            vm.started_at = None;
                        }
                        vm.conf = snap.conf;
                        vm.conf.insert("parent".into(), name_s.clone());
                        vm.pending.clear();
                        vm.pending_delete.clear();
                        log.log(format!("rolled back to snapshot '{name_s}'"));
                        Ok(())
                    },
                ))
            },
        )
        .await
    }

    async fn upload(&self, node: &NodeName, storage: &StorageName, file: &Upload) -> Result<Upid> {
        self.upload_sized(
            node.as_str(),
            storage.as_str(),
            &file.content,
            &file.filename,
            file.data.len() as u64,
        )
        .await
    }

    async fn task_status(&self, upid: &Upid) -> Result<TaskStatus> {
        let path = format!("/nodes/{}/tasks/{upid}/status", upid.node);
        self.run("GET", "/nodes/{node}/tasks/{upid}/status", path, async {
            let st = self.sim.lock();
            self.check_node(&st, &upid.node)?;
            let t = st
                .tasks
                .get(upid.as_str())
                .ok_or_else(|| e500("no such task"))?;
            self.check_task_access(&st, upid)?;
            let (user, tokenid) = upid.user_and_token();
            Ok(TaskStatus {
                upid: upid.to_string(),
                node: upid.node.clone(),
                pid: u64::from(upid.pid),
                pstart: upid.pstart,
                starttime: upid.starttime,
                task_type: upid.task_type.clone(),
                id: upid.id.clone(),
                user: user.to_owned(),
                tokenid: tokenid.map(str::to_owned),
                status: if t.exitstatus.is_some() {
                    TaskState::Stopped
                } else {
                    TaskState::Running
                },
                exitstatus: t.exitstatus.clone(),
            })
        })
        .await
    }

    async fn task_log(&self, upid: &Upid, start: u64, limit: u64) -> Result<types::TaskLog> {
        let path = format!("/nodes/{}/tasks/{upid}/log", upid.node);
        self.run("GET", "/nodes/{node}/tasks/{upid}/log", path, async {
            let st = self.sim.lock();
            self.check_node(&st, &upid.node)?;
            st.tasks
                .get(upid.as_str())
                .ok_or_else(|| e500("no such task"))?;
            self.check_task_access(&st, upid)?;
            drop(st);
            let logs = self
                .sim
                .inner
                .logs
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let log = logs.get(upid.as_str()).cloned().unwrap_or_default();
            let lines = log
                .iter()
                .enumerate()
                .skip(start as usize)
                .take(limit as usize)
                .map(|(i, l)| TaskLogLine {
                    n: i as u64 + 1,
                    t: l.clone(),
                })
                .collect();
            Ok(types::TaskLog {
                lines,
                total: log.len() as u64,
            })
        })
        .await
    }

    async fn node_storages(&self, node: &NodeName) -> Result<Vec<NodeStorage>> {
        let node = node.as_str();
        self.run(
            "GET",
            "/nodes/{node}/storage",
            format!("/nodes/{node}/storage"),
            async {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                Ok(self
                    .sim
                    .inner
                    .config
                    .storages
                    .iter()
                    .filter(|s| s.nodes.is_empty() || s.nodes.iter().any(|n| n == node))
                    .filter(|s| {
                        let p = format!("/storage/{}", s.id);
                        st.access.has(&self.who, &p, "Datastore.Audit")
                            || st.access.has(&self.who, &p, "Datastore.AllocateSpace")
                    })
                    .map(|s| {
                        let used = Simulator::used_bytes(&st, &Simulator::store_key(s, node));
                        NodeStorage {
                            storage: s.id.clone(),
                            kind: s.kind.as_str().into(),
                            content: s.content.join(","),
                            active: Some(true),
                            enabled: Some(true),
                            shared: Some(s.shared),
                            total: Some(s.capacity),
                            used: Some(used),
                            avail: Some(s.capacity.saturating_sub(used)),
                        }
                    })
                    .collect())
            },
        )
        .await
    }

    async fn storage_content(
        &self,
        node: &NodeName,
        storage: &StorageName,
        content: Option<&str>,
    ) -> Result<Vec<StorageVolume>> {
        let node = node.as_str();
        let storage = storage.as_str();
        self.run(
            "GET",
            "/nodes/{node}/storage/{storage}/content",
            format!("/nodes/{node}/storage/{storage}/content"),
            async {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                self.check_any(
                    &st,
                    &format!("/storage/{storage}"),
                    &["Datastore.Audit", "Datastore.AllocateSpace"],
                )?;
                let spec = self.sim.storage_on(storage, node)?;
                let mut out = Vec::new();
                if let Some(vols) = st.volumes.get(&Simulator::store_key(spec, node)) {
                    for (name, v) in vols {
                        if content.is_some_and(|c| c != v.content) {
                            continue;
                        }
                        if let Some(id) = v.vmid
                            && !st.access.has(&self.who, &format!("/vms/{id}"), "VM.Audit")
                        {
                            continue;
                        }
                        out.push(StorageVolume {
                            volid: format!("{storage}:{name}"),
                            content: v.content.clone(),
                            format: v.format.clone(),
                            size: v.size,
                            vmid: v.vmid.map(u64::from),
                            ctime: Some(v.ctime),
                        });
                    }
                }
                Ok(out)
            },
        )
        .await
    }

    async fn download_url(
        &self,
        node: &NodeName,
        storage: &StorageName,
        req: &DownloadUrl,
    ) -> Result<Upid> {
        let node = node.as_str();
        let storage = storage.as_str();
        self.run("POST", "/nodes/{node}/storage/{storage}/download-url", format!("/nodes/{node}/storage/{storage}/download-url"), async {
            {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                self.check(&st, &format!("/storage/{storage}"), "Datastore.AllocateTemplate")?;
                let sys = st.access.has(&self.who, "/", "Sys.Audit") && st.access.has(&self.who, "/", "Sys.Modify");
                if !sys {
                    self.check(&st, &format!("/nodes/{node}"), "Sys.AccessNetwork")?;
                }
                let spec = self.sim.storage_on(storage, node)?;
                let ok_ext = match req.content.as_str() {
                    "iso" => [".iso", ".img"].iter().any(|e| req.filename.ends_with(e)),
                    "import" => [".qcow2", ".raw", ".vmdk", ".ova"].iter().any(|e| req.filename.ends_with(e)),
                    "vztmpl" => [".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2", ".tar"].iter().any(|e| req.filename.ends_with(e)),
                    other => {
                        return Err(ApiError::param("content", format!("value '{other}' does not have a value in the enumeration 'iso, vztmpl, import'")));
                    }
                };
                if !ok_ext {
                    return Err(ApiError::param("filename", "wrong file extension"));
                }
                if req.filename.contains('/') {
                    return Err(ApiError::param("filename", "invalid filename"));
                }
                if !spec.content.contains(&req.content) {
                    return Err(e500(format!("storage '{storage}' does not support content-type '{}'", req.content)));
                }
            }
            let sim = self.sim.clone();
            let req = req.clone();
            let node_s = node.to_owned();
            let storage_s = storage.to_owned();
            Ok(self.sim.spawn_task(node, "download", "", &self.who, move |log| async move {
                sim.download_worker(&node_s, &storage_s, &req, &log).await
            }))
        })
        .await
    }

    async fn agent_network_interfaces(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<Vec<GuestInterface>> {
        let node = node.as_str();
        let vmid = vmid.get();
        self.run(
            "GET",
            "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
            format!("/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces"),
            async {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                self.check_any(
                    &st,
                    &format!("/vms/{vmid}"),
                    &["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"],
                )?;
                let vm = Self::vm(&st, node, vmid)?;
                if !agent_enabled(&vm.conf) {
                    return Err(e500("No QEMU guest agent configured"));
                }
                if !vm.running {
                    return Err(e500(format!("VM {vmid} is not running")));
                }
                let t = self.sim.inner.config.timing;
                if vm
                    .started_at
                    .is_none_or(|s| s.elapsed() < t.dur(t.agent_secs))
                {
                    return Err(e500("QEMU guest agent is not running"));
                }
                Ok(guest_interfaces(vm))
            },
        )
        .await
    }

    async fn agent_ping(&self, node: &NodeName, vmid: VmId) -> Result<()> {
        let node = node.as_str();
        let vmid = vmid.get();
        let path = format!("/nodes/{node}/qemu/{vmid}/agent/ping");
        self.run(
            "POST",
            "/nodes/{node}/qemu/{vmid}/agent/ping",
            path,
            async {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                self.check_any(
                    &st,
                    &format!("/vms/{vmid}"),
                    &["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"],
                )?;
                let vm = Self::vm(&st, node, vmid)?;
                if !agent_enabled(&vm.conf) {
                    return Err(e500("No QEMU guest agent configured"));
                }
                if !vm.running {
                    return Err(e500(format!("VM {vmid} is not running")));
                }
                let t = self.sim.inner.config.timing;
                if vm
                    .started_at
                    .is_none_or(|s| s.elapsed() < t.dur(t.agent_secs))
                {
                    return Err(e500("QEMU guest agent is not running"));
                }
                Ok(())
            },
        )
        .await
    }

    async fn delete_volume(
        &self,
        node: &NodeName,
        storage: &StorageName,
        volume: &str,
    ) -> Result<Upid> {
        let node = node.as_str();
        let storage = storage.as_str();
        let path = format!("/nodes/{node}/storage/{storage}/content/{volume}");
        self.run(
            "DELETE",
            "/nodes/{node}/storage/{storage}/content/{volume}",
            path,
            async {
                let name = volume
                    .strip_prefix(&format!("{storage}:"))
                    .unwrap_or(volume)
                    .to_owned();
                let owner = {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    let spec = self.sim.storage_on(storage, node)?;
                    let vol = st
                        .volumes
                        .get(&Simulator::store_key(spec, node))
                        .and_then(|m| m.get(&name))
                        .ok_or_else(|| e500(format!("volume '{storage}:{name}' does not exist")))?;
                    match vol.vmid {
                        Some(id) => self.check(&st, &format!("/vms/{id}"), "VM.Config.Disk")?,
                        None => {
                            self.check(&st, &format!("/storage/{storage}"), "Datastore.Allocate")?
                        }
                    }
                    let volid = format!("{storage}:{name}");
                    if Simulator::volume_in_use_as_base(&st, &volid) {
                        return Err(e500(format!(
                            "base volume '{volid}' is still in use by linked cloned"
                        )));
                    }
                    vol.vmid
                };
                let id = format!("{}@{storage}", owner.unwrap_or(0));
                let sim = self.sim.clone();
                let (node_s, storage_s) = (node.to_owned(), storage.to_owned());
                Ok(self
                    .sim
                    .spawn_task(node, "imgdel", &id, &self.who, move |log| async move {
                        let t = sim.inner.config.timing;
                        let spec = sim
                            .storage_on(&storage_s, &node_s)
                            .map_err(|e| e.message)?
                            .clone();
                        let _g = sim
                            .inner
                            .locks
                            .storage(&spec.id, spec.shared, t.dur(t.storage_lock_timeout_secs))
                            .await?;
                        tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                        let mut st = sim.lock();
                        let removed = st
                            .volumes
                            .get_mut(&Simulator::store_key(&spec, &node_s))
                            .and_then(|m| m.remove(&name));
                        if removed.is_none() {
                            return Err(format!("volume '{storage_s}:{name}' does not exist"));
                        }
                        log.log(format!("removed volume '{storage_s}:{name}'"));
                        Ok(())
                    }))
            },
        )
        .await
    }

    async fn pools(&self) -> Result<Vec<PoolInfo>> {
        self.run("GET", "/pools", "/pools".into(), async {
            let st = self.sim.lock();
            Ok(st
                .pools
                .iter()
                .filter(|(id, _)| {
                    st.access
                        .has(&self.who, &format!("/pool/{id}"), "Pool.Audit")
                })
                .map(|(id, p)| PoolInfo {
                    poolid: id.clone(),
                    comment: p.comment.clone(),
                    members: Some(
                        p.vms
                            .iter()
                            .filter_map(|v| st.vms.get(v))
                            .map(|vm| PoolMember {
                                id: format!("qemu/{}", vm.vmid),
                                node: vm.node.clone(),
                                kind: "qemu".into(),
                                vmid: Some(u64::from(vm.vmid)),
                            })
                            .collect(),
                    ),
                })
                .collect())
        })
        .await
    }

    async fn create_pool(&self, poolid: &str, comment: Option<&str>) -> Result<()> {
        self.create_pool_checked(poolid, comment).await
    }

    async fn create_user(&self, req: &CreateUser) -> Result<()> {
        self.run("POST", "/access/users", wp("/access/users"), async {
            let mut st = self.sim.lock();
            self.check(&st, "/access/groups", "User.Modify")?;
            let Some((name, realm)) = req.userid.split_once('@') else {
                return Err(ApiError::param(
                    "userid",
                    "invalid format - value does not look like a valid user ID",
                ));
            };
            if name.is_empty() || !matches!(realm, "pve" | "pam") {
                return Err(ApiError::param(
                    "userid",
                    "invalid format - value does not look like a valid user ID",
                ));
            }
            if st.access.users.contains_key(&req.userid) {
                return Err(e500(format!(
                    "create user failed: user '{}' already exists",
                    req.userid
                )));
            }
            st.access.users.insert(
                req.userid.clone(),
                User {
                    password: req.password.clone(),
                    enable: true,
                    comment: req.comment.clone(),
                },
            );
            Ok(())
        })
        .await
    }

    async fn create_token(
        &self,
        userid: &str,
        tokenid: &str,
        req: &CreateToken,
    ) -> Result<TokenCreated> {
        let path = format!("/access/users/{userid}/token/{tokenid}");
        self.run(
            "POST",
            "/access/users/{userid}/token/{tokenid}",
            path,
            async {
                let mut st = self.sim.lock();
                if self.who.token.is_some() || self.who.user != userid {
                    self.check(&st, "/access/groups", "User.Modify")?;
                }
                let valid = tokenid
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                    && tokenid.len() >= 2
                    && tokenid
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
                if !valid {
                    return Err(ApiError::param(
                        "tokenid",
                        "invalid format - invalid token ID",
                    ));
                }
                if !st.access.users.contains_key(userid) {
                    return Err(e500(format!("no such user ('{userid}')")));
                }
                let full = format!("{userid}!{tokenid}");
                if st.access.tokens.contains_key(&full) {
                    return Err(e500("Token already exists."));
                }
                let secret = random_uuid();
                st.access.tokens.insert(
                    full.clone(),
                    Token {
                        secret: Secret::new(secret.clone()),
                        privsep: req.privsep.unwrap_or(true),
                        expire: req.expire.unwrap_or(0),
                        comment: req.comment.clone(),
                    },
                );
                Ok(TokenCreated {
                    full_tokenid: full,
                    value: Secret::new(secret),
                })
            },
        )
        .await
    }

    async fn update_acl(&self, req: &AclUpdate) -> Result<()> {
        self.run("PUT", "/access/acl", wp("/access/acl"), async {
            let mut st = self.sim.lock();
            self.check(&st, &req.path, "Permissions.Modify")?;
            if !req.path.starts_with('/') {
                return Err(ApiError::param("path", "invalid ACL path"));
            }
            for r in &req.roles {
                if !st.access.roles.contains_key(r) {
                    return Err(e500(format!("role '{r}' does not exist")));
                }
            }
            let mut subjects = Vec::new();
            for u in &req.users {
                if !st.access.users.contains_key(u) {
                    return Err(e500(format!("user '{u}' does not exist")));
                }
                subjects.push(u.clone());
            }
            for t in &req.tokens {
                if !st.access.tokens.contains_key(t) {
                    return Err(e500(format!("token '{t}' does not exist")));
                }
                subjects.push(t.clone());
            }
            for s in subjects {
                for r in &req.roles {
                    let e = AclEntry {
                        path: req.path.clone(),
                        subject: s.clone(),
                        role: r.clone(),
                        propagate: req.propagate,
                    };
                    if req.delete {
                        st.access.acl.retain(|x| {
                            !(x.path == e.path && x.subject == e.subject && x.role == e.role)
                        });
                    } else {
                        st.access.acl.retain(|x| {
                            !(x.path == e.path && x.subject == e.subject && x.role == e.role)
                        });
                        st.access.acl.insert(e);
                    }
                }
            }
            Ok(())
        })
        .await
    }
}

/// A random UUID (v4) from the OS generator, for secrets.
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap_or_else(|_| {
        let n = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = n.to_le_bytes();
    });
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The interfaces a cloud-init configured guest reports: `lo` plus one
/// `ethN` per `netN`, with the `ipconfigN` static addresses, or for DHCP an
/// address derived from the VMID in 172.16.0.0/16 (and SLAAC from the MAC).
pub fn guest_interfaces(vm: &Vm) -> Vec<GuestInterface> {
    let addr = |kind: &str, a: String, p: u64| GuestIpAddress {
        kind: kind.into(),
        address: a,
        prefix: p,
    };
    let mut out = vec![GuestInterface {
        name: "lo".into(),
        hardware_address: Some("00:00:00:00:00:00".into()),
        ip_addresses: Some(vec![
            addr("ipv4", "127.0.0.1".into(), 8),
            addr("ipv6", "::1".into(), 128),
        ]),
    }];
    for i in 0..32u32 {
        let Some(net) = vm
            .conf
            .get(&format!("net{i}"))
            .and_then(|v| NetDevice::parse(v).ok())
        else {
            continue;
        };
        let mac = net.macaddr.unwrap_or(MacAddr([0; 6]));
        let ipc = vm
            .conf
            .get(&format!("ipconfig{i}"))
            .and_then(|v| IpConfig::parse(v).ok());
        let mut addrs = Vec::new();
        match ipc.as_ref().and_then(|c| c.ip) {
            Some(Ipv4Setting::Static(a, p)) => {
                addrs.push(addr("ipv4", a.to_string(), u64::from(p)))
            }
            Some(Ipv4Setting::Dhcp) | None
                if ipc
                    .as_ref()
                    .is_none_or(|c| c.ip6.is_none() || c.ip.is_some()) =>
            {
                addrs.push(addr(
                    "ipv4",
                    format!("172.16.{}.{}", (vm.vmid >> 8) & 0xff, vm.vmid & 0xff),
                    16,
                ));
            }
            _ => {}
        }
        match ipc.as_ref().and_then(|c| c.ip6) {
            Some(Ipv6Setting::Static(a, p)) => {
                addrs.push(addr("ipv6", a.to_string(), u64::from(p)))
            }
            Some(Ipv6Setting::Auto) | Some(Ipv6Setting::Dhcp) => {
                let m = mac.0;
                addrs.push(addr(
                    "ipv6",
                    format!(
                        "fd00::{:02x}{:02x}:{:02x}ff:fe{:02x}:{:02x}{:02x}",
                        m[0] ^ 2,
                        m[1],
                        m[2],
                        m[3],
                        m[4],
                        m[5]
                    ),
                    64,
                ));
            }
            None => {}
        }
        let m = mac.0;
        addrs.push(addr(
            "ipv6",
            format!(
                "fe80::{:02x}{:02x}:{:02x}ff:fe{:02x}:{:02x}{:02x}",
                m[0] ^ 2,
                m[1],
                m[2],
                m[3],
                m[4],
                m[5]
            ),
            64,
        ));
        out.push(GuestInterface {
            name: format!("eth{i}"),
            hardware_address: Some(mac.to_lower()),
            ip_addresses: Some(addrs),
        });
    }
    out
}

impl SimClient {
    fn check_task_access(&self, st: &State, upid: &Upid) -> std::result::Result<(), ApiError> {
        let (user, _) = upid.user_and_token();
        let own =
            upid.user == self.who.full() || (self.who.token.is_none() && user == self.who.user);
        if own {
            Ok(())
        } else {
            self.check(st, &format!("/nodes/{}", upid.node), "Sys.Audit")
        }
    }

    /// Starts a VM inside a task: applies pending changes, checks memory, boots.
    async fn do_start(
        &self,
        node: &str,
        vmid: u32,
        log: &TaskLog,
    ) -> std::result::Result<(), String> {
        let t = self.sim.inner.config.timing;
        {
            let _g = self
                .sim
                .inner
                .locks
                .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
                .await?;
            let mut st = self.sim.lock();
            let node_mem = self
                .sim
                .inner
                .config
                .nodes
                .iter()
                .find(|n| n.name == node)
                .map(|n| n.memory)
                .unwrap_or(0);
            let used: u64 = st
                .vms
                .values()
                .filter(|v| v.node == node && v.running)
                .map(|v| v.memory_mib() << 20)
                .sum();
            let vm = SimClient::vm_mut(&mut st, node, vmid).map_err(|e| e.message)?;
            if vm.running {
                return Err(format!("VM {vmid} already running"));
            }
            SimClient::check_lock(vm).map_err(|e| e.message)?;
            vm.apply_pending();
            // The cloud-init image is regenerated at every start.
            vm.cloudinit_generated = Some(crate::state::cloudinit_values(&vm.conf));
            if used + (vm.memory_mib() << 20) > node_mem {
                log.log("kvm: cannot set up guest memory 'pc.ram': Cannot allocate memory");
                return Err("start failed: QEMU exited with code 1".to_string());
            }
            if vm
                .conf
                .keys()
                .any(|k| k.starts_with("ipconfig") || k.starts_with("ci"))
                || vm.conf.values().any(|v| v.contains("cloudinit"))
            {
                log.log("generating cloud-init ISO");
            }
        }
        tokio::time::sleep(t.dur(t.boot_secs)).await;
        let mut st = self.sim.lock();
        let vm = SimClient::vm_mut(&mut st, node, vmid).map_err(|e| e.message)?;
        vm.running = true;
        vm.started_at = Some(tokio::time::Instant::now());
        Ok(())
    }
}

impl Simulator {
    #[allow(clippy::too_many_arguments)]
    async fn clone_worker(
        &self,
        node: &str,
        src: u32,
        newid: u32,
        full: bool,
        target: &str,
        req: &CloneVm,
        log: &TaskLog,
    ) -> std::result::Result<(), String> {
        let t = self.inner.config.timing;
        let lock_timeout = t.dur(t.clone_lock_timeout_secs);
        let running = self.lock().vms.get(&src).is_some_and(|v| v.running);
        let _src_lock: LockGuard = if running {
            self.inner
                .locks
                .exclusive(&vm_lock_path(src), lock_timeout)
                .await?
        } else {
            self.inner
                .locks
                .shared(&vm_lock_path(src), lock_timeout)
                .await?
        };
        let _new_lock = self
            .inner
            .locks
            .exclusive(&vm_lock_path(newid), lock_timeout)
            .await?;
        let (conf, name) = {
            let mut st = self.lock();
            let vm = st
                .vms
                .get(&src)
                .filter(|v| v.node == node)
                .ok_or_else(|| not_exist(node, src).message)?;
            if !vm.is_template() {
                SimClient::check_lock(vm).map_err(|e| e.message)?;
            }
            let conf = vm.conf.clone();
            let name = req.name.clone().unwrap_or_else(|| {
                format!(
                    "Copy-of-VM-{}",
                    vm.conf
                        .get("name")
                        .cloned()
                        .unwrap_or_else(|| src.to_string())
                )
            });
            if st.vms.contains_key(&newid) {
                return Err(format!(
                    "unable to create VM {newid}: config file already exists"
                ));
            }
            let mut temp = Vm::new(newid, target);
            temp.clone_temp = true;
            temp.pool = req.pool.clone();
            st.vms.insert(newid, temp);
            if let Some(p) = &req.pool {
                st.pools.entry(p.clone()).or_default().vms.insert(newid);
            }
            (conf, name)
        };
        log.log(format!(
            "create {} clone of drive(s)",
            if full { "full" } else { "linked" }
        ));
        let result = self
            .clone_disks(node, src, newid, full, target, req, &conf, log)
            .await;
        let mut st = self.lock();
        match result {
            Ok(disks) => {
                let mut newconf: BTreeMap<String, String> = conf
                    .into_iter()
                    .filter(|(k, _)| {
                        k != "template"
                            && k != "lock"
                            && !indexed(k, "unused", 255)
                            && k != "parent"
                    })
                    .collect();
                newconf.extend(disks);
                newconf.insert("name".into(), name);
                if let Some(d) = &req.description {
                    newconf.insert("description".into(), d.clone());
                }
                let keys: Vec<String> = newconf
                    .keys()
                    .filter(|k| indexed(k, "net", 31))
                    .cloned()
                    .collect();
                for k in keys {
                    if let Some(mut n) = newconf.get(&k).and_then(|v| NetDevice::parse(v).ok()) {
                        n.set_macaddr(Simulator::gen_mac(&mut st));
                        newconf.insert(k, n.canonical());
                    }
                }
                let uuid = Simulator::gen_uuid(&mut st);
                newconf.insert("smbios1".into(), format!("uuid={uuid}"));
                if newconf.contains_key("vmgenid") {
                    let g = Simulator::gen_uuid(&mut st);
                    newconf.insert("vmgenid".into(), g);
                }
                if let Some(vm) = st.vms.get_mut(&newid) {
                    vm.clone_temp = false;
                    vm.conf = newconf;
                }
                Ok(())
            }
            Err((e, made)) => {
                for volid in made {
                    if let Some(spec) = volid
                        .split_once(':')
                        .and_then(|(s, _)| self.storage(s))
                        .cloned()
                    {
                        Simulator::free_volume(&mut st, target, &volid, &spec);
                    }
                }
                if let Some(vm) = st.vms.remove(&newid)
                    && let Some(p) = vm.pool
                    && let Some(pool) = st.pools.get_mut(&p)
                {
                    pool.vms.remove(&newid);
                }
                Err(format!("clone failed: {e}"))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn clone_disks(
        &self,
        node: &str,
        src: u32,
        newid: u32,
        full: bool,
        target: &str,
        req: &CloneVm,
        conf: &BTreeMap<String, String>,
        log: &TaskLog,
    ) -> std::result::Result<Vec<(String, String)>, (String, Vec<String>)> {
        let t = self.inner.config.timing;
        let mut made: Vec<String> = Vec::new();
        let mut out = Vec::new();
        for (key, value) in conf.iter().filter(|(k, _)| is_drive_key(k)) {
            let Ok(mut drive) = Drive::parse(value) else {
                continue;
            };
            let DriveVolume::Volume { storage, name } = drive.volume.clone() else {
                out.push((key.clone(), value.clone()));
                continue;
            };
            let volid = format!("{storage}:{name}");
            let is_cloudinit = name.contains("-cloudinit");
            if drive.is_cdrom() && !is_cloudinit {
                out.push((key.clone(), value.clone()));
                continue;
            }
            let fail = |e: String, made: &Vec<String>| (e, made.clone());
            let src_spec = self
                .storage_on(&storage, node)
                .map_err(|e| fail(e.message, &made))?
                .clone();
            let (size, vmid_owner) = {
                let st = self.lock();
                let v = st
                    .volumes
                    .get(&Self::store_key(&src_spec, node))
                    .and_then(|m| m.get(&name))
                    .ok_or_else(|| fail(format!("volume '{volid}' does not exist"), &made))?;
                (v.size, v.vmid)
            };
            let _ = vmid_owner;
            if is_cloudinit {
                // The cloud-init drive is always re-created, never linked.
                let spec = src_spec.clone();
                let g = self
                    .inner
                    .locks
                    .storage(&spec.id, spec.shared, t.dur(t.storage_lock_timeout_secs))
                    .await
                    .map_err(|e| fail(e, &made))?;
                tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                drop(g);
                let new_name = if spec.kind.is_file_based() {
                    format!("{newid}/vm-{newid}-cloudinit.qcow2")
                } else {
                    format!("vm-{newid}-cloudinit")
                };
                self.lock()
                    .volumes
                    .entry(Self::store_key(&spec, target))
                    .or_default()
                    .insert(
                        new_name.clone(),
                        Volume {
                            size,
                            format: if spec.kind.is_file_based() {
                                "qcow2".into()
                            } else {
                                "raw".into()
                            },
                            content: "images".into(),
                            vmid: Some(newid),
                            base: None,
                            ctime: unix_now(),
                        },
                    );
                made.push(format!("{storage}:{new_name}"));
                drive.set_volume(DriveVolume::Volume {
                    storage: storage.clone(),
                    name: new_name,
                });
                out.push((key.clone(), drive.canonical()));
                continue;
            }
            if full {
                let dest = req.storage.clone().unwrap_or_else(|| storage.clone());
                let spec = self
                    .storage_on(&dest, target)
                    .map_err(|e| fail(e.message, &made))?
                    .clone();
                if !spec.content.iter().any(|c| c == "images") {
                    return Err(fail(
                        format!("storage '{dest}' does not support content-type 'images'"),
                        &made,
                    ));
                }
                log.log(format!("drive {key}: full clone of '{volid}'"));
                // The storage lock is held for the allocation and the copy.
                let g = self
                    .inner
                    .locks
                    .storage(&spec.id, spec.shared, t.dur(t.storage_lock_timeout_secs))
                    .await
                    .map_err(|e| fail(e, &made))?;
                tokio::time::sleep(t.dur(
                    t.storage_op_secs + t.clone_secs_per_gib * size as f64 / ByteSize::GIB as f64,
                ))
                .await;
                let new_name = {
                    let mut st = self.lock();
                    let k = Self::store_key(&spec, target);
                    if Self::used_bytes(&st, &k) + size > spec.capacity {
                        return Err(fail(
                            format!(
                                "unable to allocate {} on storage '{dest}': not enough free space",
                                ByteSize(size)
                            ),
                            &made,
                        ));
                    }
                    let mut n = Self::next_disk_name(&st, &k, &spec, newid, false);
                    if let Some(fmt) = &req.format
                        && spec.kind.is_file_based()
                    {
                        n = n.replace(".qcow2", &format!(".{fmt}"));
                    }
                    let format = if spec.kind.is_file_based() {
                        req.format.clone().unwrap_or("qcow2".into())
                    } else {
                        "raw".into()
                    };
                    st.volumes.entry(k).or_default().insert(
                        n.clone(),
                        Volume {
                            size,
                            format,
                            content: "images".into(),
                            vmid: Some(newid),
                            base: None,
                            ctime: unix_now(),
                        },
                    );
                    n
                };
                drop(g);
                made.push(format!("{dest}:{new_name}"));
                log.log(format!(
                    "transferred {} of {} (100.00%)",
                    ByteSize(size),
                    ByteSize(size)
                ));
                drive.set_volume(DriveVolume::Volume {
                    storage: dest,
                    name: new_name,
                });
            } else {
                let is_base = name.contains("base-");
                if !is_base || src_spec.kind == StorageKind::Lvm {
                    return Err(fail(
                        format!("Linked clone feature is not supported for '{volid}' ({key})"),
                        &made,
                    ));
                }
                log.log(format!("drive {key}: linked clone of '{volid}'"));
                let g = self
                    .inner
                    .locks
                    .storage(
                        &src_spec.id,
                        src_spec.shared,
                        t.dur(t.storage_lock_timeout_secs),
                    )
                    .await
                    .map_err(|e| fail(e, &made))?;
                tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                let new_name = {
                    let mut st = self.lock();
                    let k = Self::store_key(&src_spec, target);
                    let stem = Self::next_disk_name(&st, &k, &src_spec, newid, false);
                    let n = match src_spec.kind {
                        StorageKind::Dir | StorageKind::Nfs => format!("{name}/{stem}"),
                        StorageKind::ZfsPool => format!("{name}/{stem}"),
                        _ => stem,
                    };
                    st.volumes.entry(k).or_default().insert(
                        n.clone(),
                        Volume {
                            size,
                            format: if src_spec.kind.is_file_based() {
                                "qcow2".into()
                            } else {
                                "raw".into()
                            },
                            content: "images".into(),
                            vmid: Some(newid),
                            base: Some(volid.clone()),
                            ctime: unix_now(),
                        },
                    );
                    n
                };
                drop(g);
                made.push(format!("{storage}:{new_name}"));
                drive.set_volume(DriveVolume::Volume {
                    storage: storage.clone(),
                    name: new_name,
                });
            }
            out.push((key.clone(), drive.canonical()));
        }
        let _ = src;
        Ok(out)
    }

    async fn download_worker(
        &self,
        node: &str,
        storage: &str,
        req: &DownloadUrl,
        log: &TaskLog,
    ) -> std::result::Result<(), String> {
        log.log(format!("downloading {} to {}", req.url, req.filename));
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| e.to_string())?;
        let resp = client
            .get(&req.url)
            .send()
            .await
            .map_err(|e| format!("download failed: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!(
                "download failed: {} {}",
                resp.status().as_u16(),
                resp.status().canonical_reason().unwrap_or("")
            ));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| format!("download failed: {e}"))?;
        if let Some((algo, expected)) = &req.checksum {
            let got = match algo.as_str() {
                "sha256" => {
                    use sha2::Digest;
                    sha2::Sha256::digest(&bytes)
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                }
                "sha512" => {
                    use sha2::Digest;
                    sha2::Sha512::digest(&bytes)
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                }
                "sha1" => {
                    use sha1::Digest;
                    sha1::Sha1::digest(&bytes)
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                }
                other => return Err(format!("unsupported checksum algorithm '{other}'")),
            };
            if !got.eq_ignore_ascii_case(expected) {
                return Err(format!(
                    "checksum mismatch: got '{got}' != expected '{expected}'"
                ));
            }
            log.log("calculating checksum...OK, checksum verified");
        }
        let t = self.inner.config.timing;
        tokio::time::sleep(t.dur(t.clone_secs_per_gib * bytes.len() as f64 / ByteSize::GIB as f64))
            .await;
        let spec = self
            .storage_on(storage, node)
            .map_err(|e| e.message)?
            .clone();
        let name = format!("{}/{}", req.content, req.filename);
        let mut st = self.lock();
        let vols = st.volumes.entry(Self::store_key(&spec, node)).or_default();
        if vols.contains_key(&name) {
            return Err(format!(
                "refusing to override existing file '{}'",
                req.filename
            ));
        }
        let format = match req.content.as_str() {
            "iso" => "iso".to_owned(),
            _ => req.filename.rsplit('.').next().unwrap_or("raw").to_owned(),
        };
        vols.insert(
            name,
            Volume {
                size: bytes.len() as u64,
                format,
                content: req.content.clone(),
                vmid: None,
                base: None,
                ctime: unix_now(),
            },
        );
        log.log(format!("download of '{}' finished", req.url));
        Ok(())
    }

    /// Stores an uploaded file (the ISO upload endpoint).
    pub fn store_upload(
        &self,
        node: &str,
        storage: &str,
        content: &str,
        filename: &str,
        size: u64,
    ) -> std::result::Result<(), String> {
        let spec = self
            .storage_on(storage, node)
            .map_err(|e| e.message)?
            .clone();
        let mut st = self.lock();
        let vols = st.volumes.entry(Self::store_key(&spec, node)).or_default();
        let name = format!("{content}/{filename}");
        vols.insert(
            name,
            Volume {
                size,
                format: if content == "iso" {
                    "iso".into()
                } else {
                    "raw".into()
                },
                content: content.into(),
                vmid: None,
                base: None,
                ctime: unix_now(),
            },
        );
        Ok(())
    }

    /// Adds a pool.
    pub fn create_pool(&self, pool: &str, comment: Option<&str>) {
        self.lock().pools.entry(pool.to_owned()).or_insert(Pool {
            comment: comment.map(str::to_owned),
            vms: BTreeSet::new(),
        });
    }

    /// Takes a snapshot of a VM's config (state only, no task).
    pub fn snapshot(&self, vmid: u32, name: &str) -> bool {
        let mut st = self.lock();
        match st.vms.get_mut(&vmid) {
            Some(vm) => {
                let conf = vm.conf.clone();
                vm.snapshots.insert(
                    name.to_owned(),
                    Snapshot {
                        conf,
                        snaptime: unix_now(),
                        description: String::new(),
                    },
                );
                true
            }
            None => false,
        }
    }
}

impl SimClient {
    /// `POST /pools`.
    pub async fn create_pool_checked(&self, poolid: &str, comment: Option<&str>) -> Result<()> {
        self.run("POST", "/pools", "/pools".into(), async {
            let st = self.sim.lock();
            self.check(&st, &format!("/pool/{poolid}"), "Pool.Allocate")?;
            let ok = poolid
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
                && poolid
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
            if !ok {
                return Err(ApiError::param(
                    "poolid",
                    "invalid format - value does not look like a valid pool ID",
                ));
            }
            if st.pools.contains_key(poolid) {
                return Err(e500(format!(
                    "create pool failed: pool '{poolid}' already exists"
                )));
            }
            drop(st);
            self.sim.create_pool(poolid, comment);
            Ok(())
        })
        .await
    }

    /// `GET /nodes/{node}/qemu`.
    pub async fn list_vms(&self, node: &str) -> Result<Vec<serde_json::Value>> {
        self.run(
            "GET",
            "/nodes/{node}/qemu",
            format!("/nodes/{node}/qemu"),
            async {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                Ok(st
                    .vms
                    .values()
                    .filter(|v| {
                        v.node == node
                            && st
                                .access
                                .has(&self.who, &format!("/vms/{}", v.vmid), "VM.Audit")
                    })
                    .map(|v| {
                        let mut e = serde_json::json!({
                            "vmid": v.vmid,
                            "status": if v.running { "running" } else { "stopped" },
                            "cpus": v.cpus(),
                            "maxmem": v.memory_mib() << 20,
                            "uptime": v.started_at.map(|s| s.elapsed().as_secs()).unwrap_or(0),
                        });
                        if let Some(n) = v.conf.get("name") {
                            e["name"] = n.clone().into();
                        }
                        if v.is_template() {
                            e["template"] = 1.into();
                        }
                        if let Some(l) = v.lock() {
                            e["lock"] = l.into();
                        }
                        if let Some(t) = v.conf.get("tags") {
                            e["tags"] = t.clone().into();
                        }
                        e
                    })
                    .collect())
            },
        )
        .await
    }

    /// `POST /nodes/{node}/storage/{storage}/upload` (async `imgcopy`).
    pub async fn upload_sized(
        &self,
        node: &str,
        storage: &str,
        content: &str,
        filename: &str,
        size: u64,
    ) -> Result<Upid> {
        self.run(
            "POST",
            "/nodes/{node}/storage/{storage}/upload",
            format!("/nodes/{node}/storage/{storage}/upload"),
            async {
                {
                    let st = self.sim.lock();
                    self.check_node(&st, node)?;
                    self.check(
                        &st,
                        &format!("/storage/{storage}"),
                        "Datastore.AllocateTemplate",
                    )?;
                    let spec = self.sim.storage_on(storage, node)?;
                    let ok_ext = match content {
                        "iso" => [".iso", ".img"].iter().any(|e| filename.ends_with(e)),
                        "import" => [".qcow2", ".raw", ".vmdk", ".ova"]
                            .iter()
                            .any(|e| filename.ends_with(e)),
                        _ => [".tar.gz", ".tar.xz", ".tar.zst"]
                            .iter()
                            .any(|e| filename.ends_with(e)),
                    };
                    if !ok_ext || filename.contains('/') || filename.is_empty() {
                        return Err(ApiError::param("filename", "wrong file extension"));
                    }
                    if !spec.content.iter().any(|c| c == content) {
                        return Err(e500(format!(
                            "storage '{storage}' does not support content-type '{content}'"
                        )));
                    }
                }
                let sim = self.sim.clone();
                let (node_s, storage_s, content_s, filename_s) = (
                    node.to_owned(),
                    storage.to_owned(),
                    content.to_owned(),
                    filename.to_owned(),
                );
                Ok(self
                    .sim
                    .spawn_task(node, "imgcopy", "", &self.who, move |log| async move {
                        let t = sim.inner.config.timing;
                        tokio::time::sleep(
                            t.dur(t.clone_secs_per_gib * size as f64 / ByteSize::GIB as f64),
                        )
                        .await;
                        sim.store_upload(&node_s, &storage_s, &content_s, &filename_s, size)?;
                        log.log(format!("target file: {storage_s}:{content_s}/{filename_s}"));
                        Ok(())
                    }))
            },
        )
        .await
    }
}

/// JSON answers of the read-only endpoints that have no typed trait method.
impl SimClient {
    /// `GET /nodes/{node}/qemu/{vmid}/cloudinit/dump?type=`.
    pub async fn cloudinit_dump(&self, node: &str, vmid: u32, kind: &str) -> Result<String> {
        let path = format!("/nodes/{node}/qemu/{vmid}/cloudinit/dump");
        self.run(
            "GET",
            "/nodes/{node}/qemu/{vmid}/cloudinit/dump",
            path,
            async {
                let st = self.sim.lock();
                self.check_node(&st, node)?;
                self.check(&st, &format!("/vms/{vmid}"), "VM.Audit")?;
                let vm = Self::vm(&st, node, vmid)?;
                Ok(crate::state::cloudinit_dump(vm, kind))
            },
        )
        .await
    }

    /// `GET /nodes/{node}/qemu/{vmid}/cloudinit`: the config's cloud-init
    /// values against those of the last generated image.
    pub async fn cloudinit_pending(&self, node: &str, vmid: u32) -> Result<Vec<serde_json::Value>> {
        let path = format!("/nodes/{node}/qemu/{vmid}/cloudinit");
        self.run("GET", "/nodes/{node}/qemu/{vmid}/cloudinit", path, async {
            let st = self.sim.lock();
            self.check_node(&st, node)?;
            self.check(&st, &format!("/vms/{vmid}"), "VM.Audit")?;
            let vm = Self::vm(&st, node, vmid)?;
            let now = crate::state::cloudinit_values(&vm.merged());
            let old = vm.cloudinit_generated.clone().unwrap_or_default();
            let keys: BTreeSet<&String> = now.keys().chain(old.keys()).collect();
            let mask = |k: &str, v: &String| {
                if k == "cipassword" {
                    "**********".to_owned()
                } else {
                    v.clone()
                }
            };
            Ok(keys
                .into_iter()
                .map(|k| {
                    let mut e = serde_json::json!({ "key": k });
                    if let Some(v) = old.get(k) {
                        e["value"] = mask(k, v).into();
                    }
                    match (old.get(k), now.get(k)) {
                        (Some(a), Some(b)) if a != b => e["pending"] = mask(k, b).into(),
                        (None, Some(b)) => e["pending"] = mask(k, b).into(),
                        (Some(_), None) => e["delete"] = 1.into(),
                        _ => {}
                    }
                    e
                })
                .collect())
        })
        .await
    }

    /// `PUT /nodes/{node}/qemu/{vmid}/cloudinit`: regenerate the image.
    pub async fn cloudinit_regenerate(&self, node: &str, vmid: u32) -> Result<()> {
        let path = format!("/nodes/{node}/qemu/{vmid}/cloudinit");
        self.run("PUT", "/nodes/{node}/qemu/{vmid}/cloudinit", path, async {
            let mut st = self.sim.lock();
            self.check_node(&st, node)?;
            self.check(&st, &format!("/vms/{vmid}"), "VM.Config.Cloudinit")?;
            let vm = Self::vm_mut(&mut st, node, vmid)?;
            if !vm.conf.values().any(|v| v.contains("-cloudinit")) {
                return Err(e500(format!("VM {vmid} has no cloud-init drive")));
            }
            vm.cloudinit_generated = Some(crate::state::cloudinit_values(&vm.conf));
            Ok(())
        })
        .await
    }

    /// `GET /cluster/status`.
    pub async fn cluster_status(&self) -> Result<Vec<serde_json::Value>> {
        self.run("GET", "/cluster/status", "/cluster/status".into(), async {
            let st = self.sim.lock();
            let nodes = &self.sim.inner.config.nodes;
            let mut out = vec![serde_json::json!({
                "type": "cluster", "id": "cluster", "name": self.sim.inner.config.cluster_name,
                "nodes": nodes.len(), "quorate": 1, "version": nodes.len(),
            })];
            for (i, n) in nodes.iter().enumerate() {
                out.push(serde_json::json!({
                    "type": "node", "id": format!("node/{}", n.name), "name": n.name, "nodeid": i + 1,
                    "online": u8::from(st.online.get(&n.name).copied().unwrap_or(false)),
                    "local": u8::from(i == 0), "ip": format!("192.0.2.{}", i + 1), "level": "",
                }));
            }
            Ok(out)
        })
        .await
    }

    /// `GET /nodes/{node}/storage/{storage}/status`.
    pub async fn storage_status(&self, node: &str, storage: &str) -> Result<NodeStorage> {
        let path = format!("/nodes/{node}/storage/{storage}/status");
        let node_n = NodeName::new(node);
        let found = self
            .node_storages(&node_n)
            .await?
            .into_iter()
            .find(|s| s.storage == storage);
        self.run(
            "GET",
            "/nodes/{node}/storage/{storage}/status",
            path,
            async {
                let st = self.sim.lock();
                self.check_any(
                    &st,
                    &format!("/storage/{storage}"),
                    &["Datastore.Audit", "Datastore.AllocateSpace"],
                )?;
                found.ok_or_else(|| e500(format!("storage '{storage}' does not exist")))
            },
        )
        .await
    }

    /// `GET /nodes/{node}/tasks` (or `/cluster/tasks` with `None`): tasks the
    /// caller may see, newest first. `status` is the exit text of finished tasks.
    pub async fn list_tasks(&self, node: Option<&str>) -> Result<Vec<serde_json::Value>> {
        let (template, path) = match node {
            Some(n) => ("/nodes/{node}/tasks", format!("/nodes/{n}/tasks")),
            None => ("/cluster/tasks", "/cluster/tasks".to_owned()),
        };
        self.run("GET", template, path, async {
            let st = self.sim.lock();
            if let Some(n) = node {
                self.check_node(&st, n)?;
            }
            let mut out: Vec<(u64, u32, serde_json::Value)> = st
                .tasks
                .values()
                .filter(|t| node.is_none_or(|n| t.upid.node == n))
                .filter(|t| self.check_task_access(&st, &t.upid).is_ok())
                .map(|t| {
                    let u = &t.upid;
                    let (user, token) = u.user_and_token();
                    let mut e = serde_json::json!({
                        "upid": u.to_string(), "node": u.node, "pid": u.pid, "pstart": u.pstart,
                        "starttime": u.starttime, "type": u.task_type, "id": u.id, "user": user,
                    });
                    if let Some(tk) = token {
                        e["tokenid"] = tk.into();
                    }
                    if let (Some(s), Some(end)) = (&t.exitstatus, t.endtime) {
                        e["status"] = s.clone().into();
                        e["endtime"] = end.into();
                    }
                    (u.starttime, u.pid, e)
                })
                .collect();
            out.sort_by_key(|x| std::cmp::Reverse((x.0, x.1)));
            Ok(out.into_iter().map(|x| x.2).collect())
        })
        .await
    }

    /// `GET /access/acl`: entries on paths the caller may audit.
    pub async fn acl_list(&self) -> Result<Vec<serde_json::Value>> {
        self.run("GET", "/access/acl", "/access/acl".into(), async {
            let st = self.sim.lock();
            Ok(st
                .access
                .acl
                .iter()
                .filter(|e| {
                    st.access.has(&self.who, &e.path, "Sys.Audit")
                        || st.access.has(&self.who, &e.path, "Permissions.Modify")
                })
                .map(|e| {
                    serde_json::json!({
                        "path": e.path, "roleid": e.role, "ugid": e.subject,
                        "type": if e.subject.contains('!') { "token" } else { "user" },
                        "propagate": u8::from(e.propagate),
                    })
                })
                .collect())
        })
        .await
    }

    /// `GET /access/roles`.
    pub async fn roles_list(&self) -> Result<Vec<serde_json::Value>> {
        self.run("GET", "/access/roles", "/access/roles".into(), async {
            let st = self.sim.lock();
            Ok(st
                .access
                .roles
                .iter()
                .map(|(id, privs)| {
                    let p: Vec<&str> = privs.iter().map(String::as_str).collect();
                    serde_json::json!({ "roleid": id, "privs": p.join(","), "special": 1 })
                })
                .collect())
        })
        .await
    }

    /// `GET /access/permissions[?path=]`: the caller's privileges per path.
    pub async fn permissions(&self, path: Option<&str>) -> Result<serde_json::Value> {
        self.run(
            "GET",
            "/access/permissions",
            "/access/permissions".into(),
            async {
                let st = self.sim.lock();
                let paths: BTreeSet<String> = match path {
                    Some(p) => [p.to_owned()].into(),
                    None => std::iter::once("/".to_owned())
                        .chain(st.access.acl.iter().map(|e| e.path.clone()))
                        .collect(),
                };
                let mut out = serde_json::Map::new();
                for p in paths {
                    let privs: serde_json::Map<String, serde_json::Value> = st
                        .access
                        .privs(&self.who, &p)
                        .into_iter()
                        .map(|x| (x, 1.into()))
                        .collect();
                    out.insert(p, privs.into());
                }
                Ok(serde_json::Value::Object(out))
            },
        )
        .await
    }

    /// `GET /access/users`: all users for auditors, otherwise only oneself.
    pub async fn users_list(&self) -> Result<Vec<serde_json::Value>> {
        self.run("GET", "/access/users", "/access/users".into(), async {
            let st = self.sim.lock();
            let all = st.access.has(&self.who, "/access/groups", "User.Modify") || st.access.has(&self.who, "/access", "Sys.Audit");
            Ok(st
                .access
                .users
                .iter()
                .filter(|(id, _)| all || **id == self.who.user)
                .map(|(id, u)| {
                    let mut e = serde_json::json!({ "userid": id, "enable": u8::from(u.enable), "expire": 0 });
                    if let Some(c) = &u.comment {
                        e["comment"] = c.clone().into();
                    }
                    e
                })
                .collect())
        })
        .await
    }

    /// `GET /access/users/{userid}/token`.
    pub async fn tokens_list(&self, userid: &str) -> Result<Vec<serde_json::Value>> {
        let path = format!("/access/users/{userid}/token");
        self.run("GET", "/access/users/{userid}/token", path, async {
            let st = self.sim.lock();
            if self.who.token.is_some() || self.who.user != userid {
                self.check(&st, "/access/groups", "User.Modify")?;
            }
            if !st.access.users.contains_key(userid) {
                return Err(e500(format!("no such user ('{userid}')")));
            }
            let prefix = format!("{userid}!");
            Ok(st
                .access
                .tokens
                .iter()
                .filter_map(|(id, t)| id.strip_prefix(&prefix).map(|name| (name, t)))
                .map(|(name, t)| {
                    let mut e = serde_json::json!({ "tokenid": name, "privsep": u8::from(t.privsep), "expire": t.expire });
                    if let Some(c) = &t.comment {
                        e["comment"] = c.clone().into();
                    }
                    e
                })
                .collect())
        })
        .await
    }
}
