//! Simulator settings: the cluster's shape (nodes, storages), timing of
//! tasks and locks (with a time scale so tests run fast), and the seed for
//! deterministic randomness.

use crate::backend::{Backend, StateOnly};
use labform_proxmox::Secret;
use std::sync::Arc;
use std::time::Duration;

/// A node of the simulated cluster.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NodeSpec {
    /// Node name.
    pub name: String,
    /// CPU threads.
    pub cpus: u32,
    /// Memory, bytes.
    pub memory: u64,
    /// Whether the node is online (requests proxied to an offline node get 595).
    pub online: bool,
}

/// Storage plugin types the simulator models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Directory (`local`): qcow2 files, linked clones from base images.
    Dir,
    /// LVM-thin (`local-lvm`): raw volumes, linked clones from base volumes.
    LvmThin,
    /// Plain LVM: no templates' linked clones.
    Lvm,
    /// ZFS pool.
    ZfsPool,
    /// NFS (shared directory).
    Nfs,
}

impl StorageKind {
    /// Plugin type name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dir => "dir",
            Self::LvmThin => "lvmthin",
            Self::Lvm => "lvm",
            Self::ZfsPool => "zfspool",
            Self::Nfs => "nfs",
        }
    }
    /// Whether volumes are files (qcow2 by default).
    pub fn is_file_based(self) -> bool {
        matches!(self, Self::Dir | Self::Nfs)
    }
}

/// A storage definition.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StorageSpec {
    /// Storage id.
    pub id: String,
    /// Plugin type.
    pub kind: StorageKind,
    /// Content types (`images`, `iso`, `import`, `snippets`, `vztmpl`, `rootdir`).
    pub content: Vec<String>,
    /// Shared between nodes.
    pub shared: bool,
    /// Capacity per node (or total if shared), bytes.
    pub capacity: u64,
    /// Nodes it is enabled on (empty = all).
    pub nodes: Vec<String>,
}

/// A Linux bridge every node has (`vmbr0`), as the nodes' network configuration lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NetworkBridge {
    /// Interface name (`vmbr0`).
    pub name: String,
    /// VLAN aware (`bridge-vlan-aware`), as a bridge carrying tagged VM NICs must be.
    pub vlan_aware: bool,
    /// Comment.
    pub comments: Option<String>,
}

impl NetworkBridge {
    /// A bridge without VLAN awareness or comment.
    pub fn plain(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            vlan_aware: false,
            comments: None,
        }
    }
}

/// Durations of simulated work. All are multiplied by `scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Multiplier for every duration below (0 makes everything immediate,
    /// 0.001 turns seconds into milliseconds).
    pub scale: f64,
    /// Seconds per GiB for full clones, imports and downloads.
    pub clone_secs_per_gib: f64,
    /// Seconds for a storage operation (allocation, linked clone, free).
    pub storage_op_secs: f64,
    /// Seconds from start until the VM runs.
    pub boot_secs: f64,
    /// Seconds after boot until the guest agent answers.
    pub agent_secs: f64,
    /// Seconds for a shutdown.
    pub shutdown_secs: f64,
    /// Config flock timeout (Proxmox: 10 s).
    pub config_lock_timeout_secs: f64,
    /// Clone flock timeout (Proxmox: 1 s).
    pub clone_lock_timeout_secs: f64,
    /// Storage lock timeout (Proxmox: 10 s).
    pub storage_lock_timeout_secs: f64,
    /// Delay of every 401 answer (Proxmox: about 3 s).
    pub auth_failure_delay_secs: f64,
    /// How long a new VM is listed in `/cluster/resources` without its
    /// statistics (`name`, `maxmem`, status `unknown`), like pvestatd's
    /// ~10 s broadcast lag. 0 (the default) shows them at once, except while
    /// the VM is locked by create or clone.
    pub resources_lag_secs: f64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            scale: 1.0,
            clone_secs_per_gib: 1.0,
            storage_op_secs: 0.5,
            boot_secs: 5.0,
            agent_secs: 10.0,
            shutdown_secs: 3.0,
            config_lock_timeout_secs: 10.0,
            clone_lock_timeout_secs: 1.0,
            storage_lock_timeout_secs: 10.0,
            auth_failure_delay_secs: 3.0,
            resources_lag_secs: 0.0,
        }
    }
}

impl Timing {
    /// Real Proxmox-like timing with every duration multiplied by `scale`.
    pub fn scaled(scale: f64) -> Self {
        Self {
            scale,
            ..Self::default()
        }
    }

    /// Every task and lock wait completes immediately (tasks are still
    /// asynchronous and still report `running` until their worker ran).
    pub fn instant() -> Self {
        Self::scaled(0.0)
    }

    /// Converts simulated seconds into a real duration.
    pub fn dur(&self, secs: f64) -> Duration {
        let s = (secs * self.scale).max(0.0);
        if s.is_finite() {
            Duration::from_secs_f64(s)
        } else {
            Duration::ZERO
        }
    }
}

/// Everything the simulator needs to start.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Nodes.
    pub nodes: Vec<NodeSpec>,
    /// Storages.
    pub storages: Vec<StorageSpec>,
    /// Timing.
    pub timing: Timing,
    /// Password of `root@pam`.
    pub root_password: Secret,
    /// Seed for MACs, UPID pids and fault decisions: the same seed and the
    /// same calls give the same results.
    pub seed: u64,
    /// Cluster name.
    pub cluster_name: String,
    /// What backs VMs and volumes: [`StateOnly`] (the default) or the QEMU
    /// backend ([`crate::backend::qemu::QemuBackend`]).
    pub backend: Arc<dyn Backend>,
    /// The Linux bridges every node has (`vmbr0`, ...); the first carries the
    /// node's address and its physical port.
    pub bridges: Vec<NetworkBridge>,
    /// `download-url` records the file instead of fetching it (the task log says so).
    pub offline_downloads: bool,
    /// Slow storages: simulated seconds every operation on them (allocation, clone, copy,
    /// deletion) takes on top of the usual, with the storage's lock held.
    pub slow_storages: std::collections::BTreeMap<String, f64>,
}

impl SimConfig {
    /// A cluster of `n` nodes (`pve1`..`pveN`, 16 CPUs and 64 GiB each) with
    /// `local` (dir: iso, import, snippets, vztmpl, images, backup), `local-lvm`
    /// (lvmthin: images, rootdir) and the shared `nfs` (dir-like: images, iso).
    pub fn cluster(n: usize, root_password: Secret) -> Self {
        let nodes = (1..=n.max(1))
            .map(|i| NodeSpec {
                name: format!("pve{i}"),
                cpus: 16,
                memory: 64 << 30,
                online: true,
            })
            .collect();
        let s = |id: &str, kind, content: &[&str], shared, capacity| StorageSpec {
            id: id.into(),
            kind,
            content: content.iter().map(|c| c.to_string()).collect(),
            shared,
            capacity,
            nodes: vec![],
        };
        Self {
            nodes,
            storages: vec![
                s(
                    "local",
                    StorageKind::Dir,
                    &["iso", "import", "snippets", "vztmpl", "images", "backup"],
                    false,
                    100 << 30,
                ),
                s(
                    "local-lvm",
                    StorageKind::LvmThin,
                    &["images", "rootdir"],
                    false,
                    1 << 40,
                ),
                s("nfs", StorageKind::Nfs, &["images", "iso"], true, 2 << 40),
            ],
            timing: Timing::default(),
            root_password,
            seed: 1,
            cluster_name: "labform-sim".into(),
            backend: Arc::new(StateOnly),
            bridges: vec![NetworkBridge::plain("vmbr0")],
            offline_downloads: false,
            slow_storages: std::collections::BTreeMap::new(),
        }
    }
}
