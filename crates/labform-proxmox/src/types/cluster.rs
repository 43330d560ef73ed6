//! Cluster-wide answers: version, nodes and `/cluster/resources`.

use super::*;

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
    /// SDN zones (one entry per node).
    Sdn,
}

impl ResourceType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vm => "vm",
            Self::Storage => "storage",
            Self::Node => "node",
            Self::Sdn => "sdn",
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
    /// Bytes received by a guest.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub netin: Option<u64>,
    /// Bytes sent by a guest.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub netout: Option<u64>,
    /// Bytes a guest read from its disks.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub diskread: Option<u64>,
    /// Bytes a guest wrote to its disks.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub diskwrite: Option<u64>,
    /// Memory the host uses for a QEMU guest, bytes.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub memhost: Option<u64>,
    /// HA state of a guest (`started`, `stopped`, ...) or a node (`online`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hastate: Option<String>,
    /// Subscription level of a node (empty without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Control-group version of a node.
    #[serde(
        rename = "cgroup-mode",
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cgroup_mode: Option<u64>,
    /// CPU architecture of a node (`x86_64`).
    #[serde(rename = "host-arch", default, skip_serializing_if = "Option::is_none")]
    pub host_arch: Option<String>,
    /// SDN zone of an `sdn` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdn: Option<String>,
    /// Zone type of an `sdn` entry.
    #[serde(rename = "zone-type", default, skip_serializing_if = "Option::is_none")]
    pub zone_type: Option<String>,
    /// Network (zone or fabric) of a `network` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// `zone` or `fabric`, of a `network` entry.
    #[serde(
        rename = "network-type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub network_type: Option<String>,
}

/// One entry of `GET /nodes/{node}/network`: a network interface of the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkInterface {
    /// Interface name (`vmbr0`, `eno1`).
    pub iface: String,
    /// `bridge`, `OVSBridge`, `eth`, `bond`, `vlan`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether a Linux bridge passes VLAN tags (`bridge_vlan_aware`).
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub bridge_vlan_aware: Option<bool>,
    /// Whether the interface is up.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub active: Option<bool>,
}

/// `POST /cluster/ha/resources` and `PUT /cluster/ha/resources/{sid}`: a guest managed by HA
/// and how.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaResourceRequest {
    /// The resource (`vm:100`, or just `100`).
    pub sid: String,
    /// `vm` or `ct` (must match the resource).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Comment.
    pub comment: Option<String>,
    /// Move back to the preferred node when it returns.
    pub failback: Option<bool>,
    /// The HA group (before groups became rules).
    pub group: Option<String>,
    /// Relocations to try when a start fails.
    pub max_relocate: Option<u64>,
    /// Restarts to try on a node when a start fails.
    pub max_restart: Option<u64>,
    /// `started`, `stopped`, `enabled`, `disabled` or `ignored`.
    pub state: Option<String>,
    /// Options to drop (an update's).
    #[serde(default, with = "comma_list", skip_serializing_if = "Vec::is_empty")]
    pub delete: Vec<String>,
    /// Change only if the configuration's digest is this (an update's).
    pub digest: Option<String>,
}

/// `POST /cluster/ha/groups` and `PUT /cluster/ha/groups/{group}`: an HA group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaGroupRequest {
    /// The group.
    pub group: String,
    /// `group`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Comment.
    pub comment: Option<String>,
    /// Its nodes with priorities (`pve1:2,pve2`).
    pub nodes: Option<String>,
    /// Stay on the node a resource is on when a preferred one returns.
    pub nofailback: Option<bool>,
    /// Run resources only on the group's nodes.
    pub restricted: Option<bool>,
    /// Options to drop (an update's).
    #[serde(default, with = "comma_list", skip_serializing_if = "Vec::is_empty")]
    pub delete: Vec<String>,
    /// Change only if the configuration's digest is this (an update's).
    pub digest: Option<String>,
}

/// A backup job's options as sent to `/cluster/backup` (`schedule`, `storage`, `vmid`, ...).
pub type BackupJobOptions = BTreeMap<String, String>;

/// A datacenter backup job as `GET /cluster/backup` lists it: its ID and every other option
/// as text (numbers and booleans as Proxmox writes them in `jobs.cfg`, a property string given
/// as an object as `key=value,...`). `type` (always `vzdump`) is dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupJob {
    /// The job's ID.
    pub id: String,
    /// Its options (`schedule`, `storage`, `vmid`, `comment`, `prune-backups`, ...).
    pub options: BackupJobOptions,
}

impl<'de> Deserialize<'de> for BackupJob {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fn text(value: &serde_json::Value) -> String {
            match value {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Bool(flag) => b01(*flag),
                serde_json::Value::Object(fields) => fields
                    .iter()
                    .map(|(key, value)| format!("{key}={}", text(value)))
                    .collect::<Vec<_>>()
                    .join(","),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            }
        }
        let mut fields = serde_json::Map::deserialize(deserializer)?;
        let id = match fields.remove("id") {
            Some(serde_json::Value::String(id)) => id,
            _ => return Err(serde::de::Error::missing_field("id")),
        };
        fields.remove("type");
        Ok(BackupJob {
            id,
            options: fields
                .iter()
                .map(|(key, value)| (key.clone(), text(value)))
                .collect(),
        })
    }
}
