//! Backups of guests: a backup now (`POST /nodes/{node}/vzdump`) and a VM restored from a
//! backup volume (`POST /nodes/{node}/qemu` with `archive`). The jobs that run backups on a
//! schedule are in the cluster module (`/cluster/backup`).

use super::*;

/// `POST /nodes/{node}/vzdump`: back these guests up now, one archive each, to `storage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vzdump {
    /// The guests (only those on the node the request goes to are backed up there).
    #[serde(rename = "vmid", with = "comma_list")]
    pub vmids: Vec<labform_ids::VmId>,
    /// A storage with `backup` content.
    pub storage: labform_ids::StorageName,
    /// vzdump's mode: `snapshot`, `suspend` or `stop`.
    pub mode: String,
}

/// `POST /nodes/{node}/qemu` with `archive`: VM `vmid` made again from a backup volume (its
/// config and disks as backed up; the MAC addresses kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreVm {
    /// The VM to restore into.
    pub vmid: labform_ids::VmId,
    /// The backup volume (`local:backup/vzdump-qemu-101-2026_12_07-13_00_00.vma.zst`).
    pub archive: String,
    /// Overwrite the VM when it exists (Proxmox refuses a running one).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// Start the VM afterwards.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub start: bool,
    /// Add the VM to this pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
}
