//! Requests on VMs and their answers: create, clone, resize, power
//! actions, delete, status, snapshots and the guest agent's interfaces.

use super::*;

/// `POST /nodes/{node}/qemu`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateVm {
    /// The new VMID.
    pub vmid: labform_ids::VmId,
    /// Config keys (`name`, `memory`, `scsi0`, `net0`, ...): parameters the endpoint does not
    /// declare, so they are not decoded with the others (`form::extra_params` gives them).
    #[serde(flatten, skip_deserializing)]
    pub config: BTreeMap<String, String>,
    /// Pool to add the VM to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Start after creation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
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
}

/// `POST .../clone`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloneVm {
    /// VMID of the clone.
    pub newid: labform_ids::VmId,
    /// Name of the clone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Full (true) or linked (false) clone; `None` lets Proxmox choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<bool>,
    /// Target storage (full clones only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Target format (full clones only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Target node (shared storage only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
}

/// `PUT .../resize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResizeDisk {
    /// Disk key, `scsi0`.
    pub disk: String,
    /// `+10G` or `32G`.
    pub size: String,
    /// Expected digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
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
    /// Its endpoint (`POST /nodes/{node}/qemu/{vmid}/status/<action>`).
    pub fn endpoint(self) -> &'static crate::endpoint::Endpoint {
        use crate::endpoint::power;
        match self {
            Self::Start => &power::START,
            Self::Stop => &power::STOP,
            Self::Shutdown => &power::SHUTDOWN,
            Self::Reboot => &power::REBOOT,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeleteVm {
    /// Remove from ACLs, pools, replication, HA.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub purge: bool,
    /// Also remove unreferenced disks.
    #[serde(
        rename = "destroy-unreferenced-disks",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub destroy_unreferenced_disks: bool,
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
