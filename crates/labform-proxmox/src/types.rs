//! Typed requests and responses of the endpoints labform uses. Responses are
//! decoded leniently (numbers and booleans may arrive as strings) and
//! serialized the way Proxmox sends them (booleans as `0`/`1`).

use crate::lenient;
use crate::propstring::{Drive, IpConfig, NetDevice, PropertyError, indexed, is_drive_key};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Form parameters as sent on the wire, in order.
pub type Params = Vec<(String, String)>;

fn b01(b: bool) -> String {
    if b { "1".into() } else { "0".into() }
}

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// Full version, `9.1.9`.
    pub version: String,
    /// Release, `9.1`.
    pub release: String,
    /// Git commit of pve-manager.
    pub repoid: String,
}

/// One entry of `GET /nodes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeEntry {
    /// Node name.
    pub node: String,
    /// `online`, `offline` or `unknown`.
    pub status: String,
    /// CPU usage fraction.
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu: Option<f64>,
    /// Number of CPUs.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub maxcpu: Option<u64>,
    /// Used memory, bytes.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub mem: Option<u64>,
    /// Total memory, bytes.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub maxmem: Option<u64>,
    /// Uptime, seconds.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub uptime: Option<u64>,
}

/// The `type` filter of `/cluster/resources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    /// VMs and containers.
    Vm,
    /// Storages (one entry per node).
    Storage,
    /// Nodes.
    Node,
}

impl ResourceType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vm => "vm",
            Self::Storage => "storage",
            Self::Node => "node",
        }
    }
}

/// One entry of `GET /cluster/resources`. Fields depend on `type`; the data
/// is eventually consistent, so most are optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ClusterResource {
    /// `qemu/100`, `node/pve1`, `storage/pve1/local`.
    pub id: String,
    /// `qemu`, `lxc`, `node`, `storage`, `pool`, `sdn`, `network`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// VMID of guests.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub vmid: Option<u64>,
    /// Guest name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Whether the guest is a template.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        serialize_with = "lenient::ser_opt_bool01",
        skip_serializing_if = "Option::is_none"
    )]
    pub template: Option<bool>,
    /// CPUs.
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub maxcpu: Option<f64>,
    /// CPU usage.
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu: Option<f64>,
    /// Memory, bytes.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub maxmem: Option<u64>,
    /// Used memory, bytes.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub mem: Option<u64>,
    /// Disk size, bytes.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub maxdisk: Option<u64>,
    /// Used disk, bytes.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub disk: Option<u64>,
    /// Uptime, seconds.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub uptime: Option<u64>,
    /// Storage id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Storage plugin type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugintype: Option<String>,
    /// Storage content types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Shared storage.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        serialize_with = "lenient::ser_opt_bool01",
        skip_serializing_if = "Option::is_none"
    )]
    pub shared: Option<bool>,
    /// Pool of the guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Tags, `;`-joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
    /// Current lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
}

/// A VM configuration as returned by `GET .../config`: every key as its
/// string form, plus the digest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VmConfig {
    /// Config keys (numbers and booleans rendered as strings).
    pub values: BTreeMap<String, String>,
    /// SHA-1 of the config file, for optimistic concurrency.
    pub digest: String,
}

impl VmConfig {
    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The VM name.
    pub fn name(&self) -> Option<&str> {
        self.get("name")
    }

    /// Whether the VM is a template.
    pub fn is_template(&self) -> bool {
        self.get("template")
            .and_then(crate::propstring::parse_bool)
            .unwrap_or(false)
    }

    /// The lock, if any.
    pub fn lock(&self) -> Option<&str> {
        self.get("lock")
    }

    /// All `netN` devices, parsed.
    pub fn nets(&self) -> Result<Vec<(String, NetDevice)>, (String, PropertyError)> {
        self.parsed(|k| indexed(k, "net", 31), NetDevice::parse)
    }

    /// All drives (`scsiN`, `virtioN`, `ideN`, `sataN`, `efidisk0`, `tpmstate0`), parsed.
    pub fn drives(&self) -> Result<Vec<(String, Drive)>, (String, PropertyError)> {
        self.parsed(is_drive_key, Drive::parse)
    }

    /// All `ipconfigN` values, parsed.
    pub fn ipconfigs(&self) -> Result<Vec<(String, IpConfig)>, (String, PropertyError)> {
        self.parsed(|k| indexed(k, "ipconfig", 31), IpConfig::parse)
    }

    fn parsed<T>(
        &self,
        select: impl Fn(&str) -> bool,
        parse: impl Fn(&str) -> Result<T, PropertyError>,
    ) -> Result<Vec<(String, T)>, (String, PropertyError)> {
        self.values
            .iter()
            .filter(|(k, _)| select(k))
            .map(|(k, v)| parse(v).map(|t| (k.clone(), t)).map_err(|e| (k.clone(), e)))
            .collect()
    }
}

impl<'de> Deserialize<'de> for VmConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        let mut values = BTreeMap::new();
        let mut digest = String::new();
        for (k, v) in map {
            let s = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b01(b),
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            if k == "digest" {
                digest = s;
            } else {
                values.insert(k, s);
            }
        }
        Ok(VmConfig { values, digest })
    }
}

/// Changes to a VM config (`POST`/`PUT .../config`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConfigUpdate {
    /// Keys to set, with their wire values.
    pub set: BTreeMap<String, String>,
    /// Keys to delete.
    pub delete: Vec<String>,
    /// Pending changes to revert.
    pub revert: Vec<String>,
    /// Expected digest.
    pub digest: Option<String>,
}

impl ConfigUpdate {
    /// An empty update.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets `key` to `value`.
    pub fn set(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.set.insert(key.into(), value.to_string());
        self
    }
    /// Deletes `key`.
    pub fn delete(mut self, key: impl Into<String>) -> Self {
        self.delete.push(key.into());
        self
    }
    /// Reverts a pending change of `key`.
    pub fn revert(mut self, key: impl Into<String>) -> Self {
        self.revert.push(key.into());
        self
    }
    /// Requires the config to still have `digest`.
    pub fn digest(mut self, digest: impl Into<String>) -> Self {
        self.digest = Some(digest.into());
        self
    }
    /// Sets `sshkeys`, percent-encoding the keys as Proxmox requires.
    pub fn ssh_keys(self, keys: &[&str]) -> Self {
        let joined = keys.join("\n");
        self.set("sshkeys", encode_sshkeys(&joined))
    }

    /// Wire parameters.
    pub fn to_params(&self) -> Params {
        let mut p: Params = self
            .set
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !self.delete.is_empty() {
            p.push(("delete".into(), self.delete.join(",")));
        }
        if !self.revert.is_empty() {
            p.push(("revert".into(), self.revert.join(",")));
        }
        if let Some(d) = &self.digest {
            p.push(("digest".into(), d.clone()));
        }
        p
    }
}

/// Percent-encodes `sshkeys` the strict RFC 3986 way Proxmox expects
/// (space as `%20`, `+`, `/`, `=`, newline escaped).
pub fn encode_sshkeys(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a percent-encoded string (`sshkeys`).
pub fn decode_percent(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let h = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `POST /nodes/{node}/qemu`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateVm {
    /// The new VMID.
    pub vmid: labform_ids::VmId,
    /// Config keys (`name`, `memory`, `scsi0`, `net0`, ...).
    pub config: BTreeMap<String, String>,
    /// Pool to add the VM to.
    pub pool: Option<String>,
    /// Start after creation.
    pub start: bool,
}

impl CreateVm {
    /// A VM with no config yet.
    pub fn new(vmid: labform_ids::VmId) -> Self {
        Self {
            vmid,
            config: BTreeMap::new(),
            pool: None,
            start: false,
        }
    }
    /// Adds a config key.
    pub fn with(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.config.insert(key.into(), value.to_string());
        self
    }
    /// Wire parameters.
    pub fn to_params(&self) -> Params {
        let mut p: Params = vec![("vmid".into(), self.vmid.to_string())];
        p.extend(self.config.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Some(pool) = &self.pool {
            p.push(("pool".into(), pool.clone()));
        }
        if self.start {
            p.push(("start".into(), "1".into()));
        }
        p
    }
}

/// `POST .../clone`.
#[derive(Debug, Clone, PartialEq)]
pub struct CloneVm {
    /// VMID of the clone.
    pub newid: labform_ids::VmId,
    /// Name of the clone.
    pub name: Option<String>,
    /// Full (true) or linked (false) clone; `None` lets Proxmox choose.
    pub full: Option<bool>,
    /// Target storage (full clones only).
    pub storage: Option<String>,
    /// Target format (full clones only).
    pub format: Option<String>,
    /// Target node (shared storage only).
    pub target: Option<String>,
    /// Pool.
    pub pool: Option<String>,
    /// Description.
    pub description: Option<String>,
}

impl CloneVm {
    /// A clone to `newid` with Proxmox's defaults.
    pub fn new(newid: labform_ids::VmId) -> Self {
        Self {
            newid,
            name: None,
            full: None,
            storage: None,
            format: None,
            target: None,
            pool: None,
            description: None,
        }
    }
    /// Wire parameters.
    pub fn to_params(&self) -> Params {
        let mut p: Params = vec![("newid".into(), self.newid.to_string())];
        let mut opt = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                p.push((k.into(), v.clone()));
            }
        };
        opt("name", &self.name);
        opt("storage", &self.storage);
        opt("format", &self.format);
        opt("target", &self.target);
        opt("pool", &self.pool);
        opt("description", &self.description);
        if let Some(f) = self.full {
            p.push(("full".into(), b01(f)));
        }
        p
    }
}

/// `PUT .../resize`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResizeDisk {
    /// Disk key, `scsi0`.
    pub disk: String,
    /// `+10G` or `32G`.
    pub size: String,
    /// Expected digest.
    pub digest: Option<String>,
}

impl ResizeDisk {
    /// Wire parameters.
    pub fn to_params(&self) -> Params {
        let mut p = vec![
            ("disk".into(), self.disk.clone()),
            ("size".into(), self.size.clone()),
        ];
        if let Some(d) = &self.digest {
            p.push(("digest".into(), d.clone()));
        }
        p
    }
}

/// VM power actions (`POST .../status/<action>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmAction {
    /// Start.
    Start,
    /// Hard stop.
    Stop,
    /// ACPI / agent shutdown.
    Shutdown,
    /// Reboot.
    Reboot,
}

impl VmAction {
    /// Path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Shutdown => "shutdown",
            Self::Reboot => "reboot",
        }
    }
    /// Task type the action starts.
    pub fn task_type(self) -> &'static str {
        match self {
            Self::Start => "qmstart",
            Self::Stop => "qmstop",
            Self::Shutdown => "qmshutdown",
            Self::Reboot => "qmreboot",
        }
    }
}

/// `DELETE /nodes/{node}/qemu/{vmid}` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeleteVm {
    /// Remove from ACLs, pools, replication, HA.
    pub purge: bool,
    /// Also remove unreferenced disks.
    pub destroy_unreferenced_disks: bool,
}

impl DeleteVm {
    /// Query parameters.
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        if self.purge {
            p.push(("purge".into(), "1".into()));
        }
        if self.destroy_unreferenced_disks {
            p.push(("destroy-unreferenced-disks".into(), "1".into()));
        }
        p
    }
}

/// `GET .../status/current`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmStatus {
    /// VMID.
    #[serde(deserialize_with = "lenient::u64")]
    pub vmid: u64,
    /// `running` or `stopped`.
    pub status: String,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    /// QMP status (`running`, `stopped`, `paused`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qmpstatus: Option<String>,
    /// Uptime, seconds.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub uptime: Option<u64>,
    /// Template flag.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        serialize_with = "lenient::ser_opt_bool01",
        skip_serializing_if = "Option::is_none"
    )]
    pub template: Option<bool>,
    /// Agent enabled in config.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        serialize_with = "lenient::ser_opt_bool01",
        skip_serializing_if = "Option::is_none"
    )]
    pub agent: Option<bool>,
    /// CPUs.
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpus: Option<f64>,
    /// Memory, bytes.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub maxmem: Option<u64>,
    /// Disk, bytes.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub maxdisk: Option<u64>,
    /// HA state (`{"managed": 0}` when not HA-managed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha: Option<serde_json::Value>,
}

/// One entry of `GET .../pending`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingEntry {
    /// Config key.
    pub key: String,
    /// Current value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// Pending value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<serde_json::Value>,
    /// 1 when the key is pending deletion, 2 when forced.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub delete: Option<u64>,
}

/// Task state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Still running.
    Running,
    /// Finished (see `exitstatus`).
    Stopped,
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The UPID.
    pub upid: String,
    /// Node.
    pub node: String,
    /// Worker pid.
    #[serde(deserialize_with = "lenient::u64")]
    pub pid: u64,
    /// Worker start ticks.
    #[serde(deserialize_with = "lenient::u64")]
    pub pstart: u64,
    /// Start time.
    #[serde(deserialize_with = "lenient::u64")]
    pub starttime: u64,
    /// Task type.
    #[serde(rename = "type")]
    pub task_type: String,
    /// Task id.
    pub id: String,
    /// User (without token part).
    pub user: String,
    /// Token name, for token tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenid: Option<String>,
    /// Running or stopped.
    pub status: TaskState,
    /// `OK`, `WARNINGS: n` or the error, once stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exitstatus: Option<String>,
}

impl TaskStatus {
    /// Whether the task stopped successfully (`OK` or `WARNINGS: n`).
    pub fn is_ok(&self) -> bool {
        self.status == TaskState::Stopped
            && self.exitstatus.as_deref().is_some_and(exit_status_is_ok)
    }
}

/// Whether an exit status means success.
pub fn exit_status_is_ok(s: &str) -> bool {
    s == "OK"
        || s.strip_prefix("WARNINGS: ")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// One line of a task log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLogLine {
    /// Line number, from 1.
    #[serde(deserialize_with = "lenient::u64")]
    pub n: u64,
    /// Text.
    pub t: String,
}

/// A page of a task log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLog {
    /// Lines.
    pub lines: Vec<TaskLogLine>,
    /// Total number of lines.
    pub total: u64,
}

/// One entry of `GET /nodes/{node}/storage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStorage {
    /// Storage id.
    pub storage: String,
    /// Plugin type (`dir`, `lvmthin`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Content types, comma-separated.
    pub content: String,
    /// Active.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        serialize_with = "lenient::ser_opt_bool01"
    )]
    pub active: Option<bool>,
    /// Enabled.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        serialize_with = "lenient::ser_opt_bool01"
    )]
    pub enabled: Option<bool>,
    /// Shared.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        serialize_with = "lenient::ser_opt_bool01"
    )]
    pub shared: Option<bool>,
    /// Total bytes.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub total: Option<u64>,
    /// Used bytes.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub used: Option<u64>,
    /// Available bytes.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub avail: Option<u64>,
}

/// One entry of `GET /nodes/{node}/storage/{storage}/content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageVolume {
    /// Volume id, `local:iso/seed.iso`.
    pub volid: String,
    /// Content type.
    pub content: String,
    /// Format (`raw`, `qcow2`, `iso`).
    pub format: String,
    /// Size, bytes.
    #[serde(deserialize_with = "lenient::u64")]
    pub size: u64,
    /// Owner VMID.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub vmid: Option<u64>,
    /// Creation time.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub ctime: Option<u64>,
}

/// `POST .../download-url`.
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadUrl {
    /// Source URL.
    pub url: String,
    /// Content type: `iso`, `vztmpl` or `import`.
    pub content: String,
    /// Target file name.
    pub filename: String,
    /// Expected checksum.
    pub checksum: Option<(String, String)>,
}

impl DownloadUrl {
    /// Wire parameters.
    pub fn to_params(&self) -> Params {
        let mut p = vec![
            ("url".into(), self.url.clone()),
            ("content".into(), self.content.clone()),
            ("filename".into(), self.filename.clone()),
        ];
        if let Some((algo, sum)) = &self.checksum {
            p.push(("checksum-algorithm".into(), algo.clone()));
            p.push(("checksum".into(), sum.clone()));
        }
        p
    }
}

/// A guest network interface, as the QEMU guest agent reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestInterface {
    /// Interface name.
    pub name: String,
    /// MAC, lower case.
    #[serde(
        rename = "hardware-address",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub hardware_address: Option<String>,
    /// Addresses.
    #[serde(
        rename = "ip-addresses",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ip_addresses: Option<Vec<GuestIpAddress>>,
}

/// An address of a guest interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestIpAddress {
    /// `ipv4` or `ipv6`.
    #[serde(rename = "ip-address-type")]
    pub kind: String,
    /// Address.
    #[serde(rename = "ip-address")]
    pub address: String,
    /// Prefix length.
    #[serde(deserialize_with = "lenient::u64")]
    pub prefix: u64,
}

/// A user for `POST /access/users`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateUser {
    /// `name@realm`.
    pub userid: String,
    /// Password (for the `pve` realm).
    pub password: Option<crate::Secret>,
    /// Comment.
    pub comment: Option<String>,
}

/// Options of a new API token.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CreateToken {
    /// Privilege separation (Proxmox's default is on).
    pub privsep: Option<bool>,
    /// Expiry, unix time, 0 for none.
    pub expire: Option<u64>,
    /// Comment.
    pub comment: Option<String>,
}

/// The answer of token creation. The secret is shown only once.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TokenCreated {
    /// `user@realm!id`.
    #[serde(rename = "full-tokenid")]
    pub full_tokenid: String,
    /// The secret.
    pub value: crate::Secret,
}

/// `PUT /access/acl`.
#[derive(Debug, Clone, PartialEq)]
pub struct AclUpdate {
    /// ACL path (`/`, `/vms/100`, `/storage/local`, `/pool/p`).
    pub path: String,
    /// Role ids.
    pub roles: Vec<String>,
    /// Users.
    pub users: Vec<String>,
    /// Tokens.
    pub tokens: Vec<String>,
    /// Propagate to sub-paths (Proxmox's default is on).
    pub propagate: bool,
    /// Remove instead of add.
    pub delete: bool,
}

impl AclUpdate {
    /// Wire parameters.
    pub fn to_params(&self) -> Params {
        let mut p = vec![
            ("path".into(), self.path.clone()),
            ("roles".into(), self.roles.join(",")),
        ];
        if !self.users.is_empty() {
            p.push(("users".into(), self.users.join(",")));
        }
        if !self.tokens.is_empty() {
            p.push(("tokens".into(), self.tokens.join(",")));
        }
        p.push(("propagate".into(), b01(self.propagate)));
        if self.delete {
            p.push(("delete".into(), "1".into()));
        }
        p
    }
}

/// One user of `GET /access/users?full=1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserEntry {
    /// `name@realm`.
    pub userid: String,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Enabled (Proxmox's default is on).
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable: Option<bool>,
    /// The user's API tokens (only with `full=1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<TokenEntry>,
}

/// One API token of a user (`GET /access/users?full=1` or `GET /access/users/{userid}/token`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenEntry {
    /// The token's name (without `user@realm!`).
    pub tokenid: String,
    /// Privilege separation (Proxmox's default is on).
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub privsep: Option<bool>,
    /// Expiry, unix time, 0 for none.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub expire: Option<u64>,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl TokenEntry {
    /// Whether the token's rights are limited by its own ACLs (`privsep` defaults to on).
    pub fn privilege_separated(&self) -> bool {
        self.privsep.unwrap_or(true)
    }
}

/// One entry of `GET /access/acl`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclEntry {
    /// ACL path (`/`, `/vms/100`, `/pool/p`).
    pub path: String,
    /// `user`, `group` or `token`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The user, group or token (`user@realm!id`).
    pub ugid: String,
    /// The role.
    pub roleid: String,
    /// Inherited by sub-paths (Proxmox's default is on).
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub propagate: Option<bool>,
}

impl AclEntry {
    /// Whether sub-paths inherit the entry (`propagate` defaults to on).
    pub fn propagates(&self) -> bool {
        self.propagate.unwrap_or(true)
    }
}

/// One entry of `GET .../snapshot` (includes the `current` pseudo-entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotEntry {
    /// Snapshot name, or `current`.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Parent snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Creation time.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub snaptime: Option<u64>,
    /// Whether RAM was saved.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        serialize_with = "lenient::ser_opt_bool01",
        skip_serializing_if = "Option::is_none"
    )]
    pub vmstate: Option<bool>,
    /// For `current`: whether the VM runs.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub running: Option<u64>,
    /// For `current`: the config digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A file upload (`POST /nodes/{node}/storage/{storage}/upload`), e.g. a
/// cloud-init seed ISO.
#[derive(Clone, PartialEq, Eq)]
pub struct Upload {
    /// `iso`, `vztmpl` or `import`.
    pub content: String,
    /// Target file name (`seed-101.iso`).
    pub filename: String,
    /// File contents.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("content", &self.content)
            .field("filename", &self.filename)
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// One entry of `GET /pools`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolInfo {
    /// Pool id.
    pub poolid: String,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Members (guests and storages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<PoolMember>>,
}

/// A pool member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolMember {
    /// `qemu/100` or `storage/pve1/local`.
    pub id: String,
    /// Node.
    pub node: String,
    /// `qemu`, `lxc`, `storage`.
    #[serde(rename = "type")]
    pub kind: String,
    /// VMID of guests.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub vmid: Option<u64>,
}

/// A login ticket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Ticket {
    /// The user.
    pub username: String,
    /// `PVE:user@realm:HEXTIME::signature`.
    pub ticket: crate::Secret,
    /// The CSRF prevention token.
    #[serde(rename = "CSRFPreventionToken")]
    pub csrf_token: crate::Secret,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_decodes_mixed_types() {
        let c: VmConfig = serde_json::from_str(
            r#"{"cores":2,"template":1,"cpulimit":"0.5","name":"a","digest":"abc","net0":"virtio=BC:24:11:00:00:01,bridge=vmbr0","foo":null}"#,
        )
        .unwrap();
        assert_eq!(c.get("cores"), Some("2"));
        assert!(c.is_template());
        assert_eq!(c.digest, "abc");
        assert_eq!(c.nets().unwrap()[0].1.bridge.as_deref(), Some("vmbr0"));
        assert!(c.get("foo").is_none());
    }

    #[test]
    fn sshkeys_encoding() {
        let e = encode_sshkeys("ssh-ed25519 AAAA+/= me@host\nssh-rsa B");
        assert_eq!(e, "ssh-ed25519%20AAAA%2B%2F%3D%20me%40host%0Assh-rsa%20B");
        assert_eq!(
            decode_percent(&e).unwrap(),
            "ssh-ed25519 AAAA+/= me@host\nssh-rsa B"
        );
    }

    #[test]
    fn exit_status() {
        assert!(exit_status_is_ok("OK"));
        assert!(exit_status_is_ok("WARNINGS: 3"));
        assert!(!exit_status_is_ok("WARNINGS: "));
        assert!(!exit_status_is_ok("clone failed: x"));
    }
}
