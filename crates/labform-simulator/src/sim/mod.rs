//! The simulator core: cluster state behind a mutex, and [`SimClient`], an
//! in-process [`ProxmoxApi`] that acts as one identity with Proxmox's
//! permission checks, locks, digests, pending changes and asynchronous tasks.

mod access;
mod agent;
mod api;
mod cluster;
mod power;
mod reads;
mod snapshots;
mod storage;
mod tasks;
mod vm_call;
mod vm_config;
mod vm_lifecycle;
mod workers;

pub use access::random_uuid;
pub use agent::guest_interfaces;
use vm_call::{VmCall, VmTask};

use crate::backend::{Backend, BackendError, DiskSource, VolumeFile};
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
    indexed(key, "net", 31)
        || (is_drive_key(key) && key != "efidisk0" && key != "tpmstate0")
        || indexed(key, "unused", 255)
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

    /// The backend's view of volume `storage:name` on `node`.
    pub(crate) fn volume_file(&self, node: &str, volid: &str) -> Option<VolumeFile> {
        let (storage, name) = volid.split_once(':')?;
        let spec = self.storage(storage)?;
        Some(VolumeFile::new(Self::store_key(spec, node), name))
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
        let _g = self.lock_storage(&spec).await?;
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

    fn free_volume(&self, st: &mut State, node: &str, volid: &str, spec: &StorageSpec) {
        if let Some((_, name)) = volid.split_once(':') {
            let key = Self::store_key(spec, node);
            // A file that cannot be removed stays behind; the state forgets it
            // all the same, as Proxmox does with a volume it failed to free.
            let _ = self
                .backend()
                .remove_volume(&VolumeFile::new(key.clone(), name));
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
            self.on_vm(node, vmid).privilege("VM.Audit").read(|_, vm| {
                let conf = match snapshot {
                    Some(s) => vm
                        .snapshots
                        .get(s)
                        .map(|s| s.conf.clone())
                        .ok_or_else(|| e500(format!("snapshot '{s}' does not exist")))?,
                    None if vm.clone_temp => {
                        BTreeMap::from([("lock".to_owned(), "clone".to_owned())])
                    }
                    None if current => vm.conf.clone(),
                    None => vm.merged(),
                };
                let mut j = typed_json(&conf);
                j.insert("digest".into(), vm.digest().into());
                Ok(j)
            })
        })
        .await
    }

    /// `GET .../pending` as JSON.
    pub async fn pending_json(&self, node: &str, vmid: u32) -> Result<Vec<serde_json::Value>> {
        let path = format!("/nodes/{node}/qemu/{vmid}/pending");
        self.run("GET", "/nodes/{node}/qemu/{vmid}/pending", path, async {
            self.on_vm(node, vmid).privilege("VM.Audit").read(|_, vm| {
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
        config: &SimConfig,
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
        let Some(vm) = st.vms.get(&vm_key) else {
            return;
        };
        let immediate = |k: &str| !vm.running || is_fast_plug(k) || is_hotplug(k);
        // Disks replaced or detached now become `unusedN`; deleting an
        // `unusedN` destroys its volume (qemu-server semantics).
        let owned_volume = |value: &str| -> Option<(String, String)> {
            let d = Drive::parse(value).ok()?;
            if d.is_cdrom() {
                return None;
            }
            let DriveVolume::Volume { storage, name } = d.volume else {
                return None;
            };
            let spec = config.storages.iter().find(|s| s.id == storage)?;
            let vol = st
                .volumes
                .get(&Simulator::store_key(spec, &vm.node))?
                .get(&name)?;
            (vol.vmid == Some(vm_key)).then(|| {
                (
                    Simulator::store_key(spec, &vm.node),
                    format!("{storage}:{name}"),
                )
            })
        };
        let mut retired = Vec::new();
        for k in set
            .keys()
            .chain(delete.iter())
            .filter(|k| is_drive_key(k) && immediate(k))
        {
            let Some(old) = vm.conf.get(k) else { continue };
            let Some((_, volid)) = owned_volume(old) else {
                continue;
            };
            let still_used = set
                .get(k)
                .and_then(|v| Drive::parse(v).ok())
                .is_some_and(|d| d.volume.to_string() == volid);
            if !still_used {
                retired.push(volid);
            }
        }
        let freed: Vec<(String, String)> = delete
            .iter()
            .filter(|k| indexed(k, "unused", 255))
            .filter_map(|k| vm.conf.get(k).and_then(|v| owned_volume(v)))
            .collect();
        for (key, volid) in freed {
            let name = volid
                .split_once(':')
                .map(|x| x.1.to_owned())
                .unwrap_or_default();
            // The file goes with the volume; one that cannot be removed stays behind.
            let _ = config
                .backend
                .remove_volume(&VolumeFile::new(key.clone(), name.clone()));
            if let Some(m) = st.volumes.get_mut(&key) {
                m.remove(&name);
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
            if !vm.running || is_fast_plug(&k) || is_hotplug(&k) {
                vm.conf.remove(&k);
                vm.pending.remove(&k);
                vm.pending_delete.remove(&k);
            } else {
                vm.pending.remove(&k);
                vm.pending_delete.insert(k);
            }
        }
        for volid in retired {
            if let Some(n) = (0..256).find(|n| !vm.conf.contains_key(&format!("unused{n}"))) {
                vm.conf.insert(format!("unused{n}"), volid);
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
                    let source = match drive.import_from.as_deref() {
                        None => DiskSource::Empty,
                        Some(path) if path.starts_with('/') => DiskSource::Path(path.into()),
                        Some(src) => DiskSource::Volume(
                            sim.volume_file(node, src)
                                .ok_or_else(|| format!("invalid import source '{src}'"))?,
                        ),
                    };
                    let file = sim
                        .volume_file(node, &volid)
                        .ok_or_else(|| format!("invalid volume '{volid}'"))?;
                    let created = sim
                        .on_backend(move |b| b.create_disk(&file, size, &source))
                        .await;
                    let size = match created {
                        Ok(real) => real.unwrap_or(size),
                        Err(e) => {
                            if let Some(spec) = sim.storage(&storage).cloned() {
                                sim.free_volume(&mut sim.lock(), node, &volid, &spec);
                            }
                            return Err(e);
                        }
                    };
                    if let Some(spec) = sim.storage(&storage)
                        && let Some(v) = sim
                            .lock()
                            .volumes
                            .get_mut(&Simulator::store_key(spec, node))
                            .and_then(|m| m.get_mut(volid.split_once(':').map_or("", |x| x.1)))
                    {
                        v.size = size;
                    }
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
                    let g = sim.lock_storage(&spec).await?;
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
