//! What every VM of the lab is made of, whether a cluster's node group or a plain VM: placement
//! and anti-affinity, disks, node groups, cloud-init additions and vzdump backups.

use super::*;

/// Anti-affinity of a group's VMs across Proxmox nodes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AntiAffinity {
    /// Spread the group over nodes when capacity allows (default).
    #[default]
    Preferred,
    /// Never put two of the group's VMs on one node; an error when there are too few nodes.
    Required,
    /// No spreading.
    None,
}

/// Where a group's VMs may run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// The Proxmox endpoint (default: the only one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxmox: Option<String>,
    /// Nodes allowed (default: all of the endpoint's nodes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// Spreading across nodes.
    #[serde(default)]
    pub anti_affinity: AntiAffinity,
}

/// A disk of a VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// Size; the first disk is the boot disk, grown from the image's size.
    pub size: ByteSize,
    /// Storage (default: the first storage with `images` content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}

/// Size and shape of a group of identical VMs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeGroup {
    /// Group name (agents only; servers are always `server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How many VMs.
    pub count: u32,
    /// vCPUs of each VM.
    pub cpu: u32,
    /// Memory of each VM.
    pub memory: ByteSize,
    /// Disks of each VM; the first is the boot disk (default: one 32GiB disk).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<Disk>,
    /// Image to boot (default: `defaults.image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Where the VMs may run.
    #[serde(default)]
    pub placement: Placement,
    /// Kubernetes node labels (`key=value`) the node registers with. The kubelet refuses keys
    /// under `kubernetes.io` and `k8s.io` other than its own (`node.kubernetes.io/...`,
    /// `topology.kubernetes.io/...`): put those in `api_labels`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Kubernetes node labels (`key=value`) labform sets through the API once the node has
    /// joined, for keys a node may not give itself, such as `node-role.kubernetes.io/worker=true`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_labels: Vec<String>,
    /// Kubernetes node taints (`key=value:NoSchedule`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<String>,
    /// What cloud-init adds on these VMs: packages, files, first-boot commands, user data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_init: Option<CloudInitAdditions>,
}

/// What cloud-init does on a VM beside labform's own settings. Part of the VM's seed image:
/// changing it makes a new seed, applied like any other cloud-init change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudInitAdditions {
    /// Packages to install, beside `defaults.packages`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// Files written at first boot (cloud-init `write_files`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<GuestFile>,
    /// Commands run once, at the end of the first boot (cloud-init `runcmd`), in order: a
    /// string runs in `sh`, a list is the program and its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<GuestCommand>,
    /// A `#cloud-config` fragment merged with labform's user data: its lists (`packages`,
    /// `runcmd`, `write_files`, `bootcmd`, ...) are appended to labform's, its other keys added.
    /// Keys labform sets itself (`users`, `hostname`, `ssh_keys`, ...) are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<std::collections::BTreeMap<String, serde_json::Value>>")]
    pub user_data: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A file cloud-init writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuestFile {
    /// Absolute path.
    pub path: String,
    /// The file's text.
    pub content: String,
    /// Owner, `user:group` (default `root:root`). Files owned by other users are written after
    /// the users exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Permission bits in octal, e.g. `"0644"` (the default). Nothing secret belongs here: the
    /// file is part of the seed image and of what `labform render` shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// A first-boot command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum GuestCommand {
    /// A shell command line, run by `sh`.
    Shell(String),
    /// A program and its arguments, run without a shell.
    Program(Vec<String>),
}

/// Backups of a cluster's VMs and state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backups {
    /// vzdump schedule in Proxmox calendar-event syntax (`daily`, `sat 02:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vzdump_schedule: Option<String>,
    /// Storage for vzdump backups (must have `backup` content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// How many backups to keep (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<u32>,
    /// vzdump's mode: `snapshot` (the default: the VM keeps running), `suspend` or `stop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<BackupMode>,
    /// etcd snapshot schedule in cron syntax as K3s reads it (`0 */6 * * *`, `@daily`); each
    /// server snapshots its own etcd member (`datastore: embedded-etcd`): K3s by its own
    /// schedule, kubeadm by a systemd timer labform keeps on each control plane, firing when
    /// cron would, Talos by a CronJob per control plane through Talos's Kubernetes API access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_snapshot_schedule: Option<String>,
    /// etcd snapshots to keep (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_snapshot_retention: Option<u32>,
}

/// How vzdump backs a VM up.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BackupMode {
    /// A live backup while the VM runs.
    #[default]
    Snapshot,
    /// The VM is suspended while it is backed up.
    Suspend,
    /// The VM is shut down, backed up and started again.
    Stop,
}

impl BackupMode {
    /// The word Proxmox uses.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupMode::Snapshot => "snapshot",
            BackupMode::Suspend => "suspend",
            BackupMode::Stop => "stop",
        }
    }
}
