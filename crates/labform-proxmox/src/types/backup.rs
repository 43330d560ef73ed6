//! Backups of guests: a backup now (`POST /nodes/{node}/vzdump`) and a VM restored from a
//! backup volume (`POST /nodes/{node}/qemu` with `archive`). The jobs that run backups on a
//! schedule are in the cluster module (`/cluster/backup`).

use super::*;

/// `POST /nodes/{node}/vzdump`: back these guests up now, one archive each, to `storage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vzdump {
    /// The guests (only those on the node the request goes to are backed up there).
    pub vmids: Vec<labform_ids::VmId>,
    /// A storage with `backup` content.
    pub storage: labform_ids::StorageName,
    /// vzdump's mode: `snapshot`, `suspend` or `stop`.
    pub mode: String,
}

impl Vzdump {
    /// Wire parameters.
    pub fn to_params(&self) -> Params {
        let vmids: Vec<String> = self.vmids.iter().map(ToString::to_string).collect();
        vec![
            ("vmid".into(), vmids.join(",")),
            ("storage".into(), self.storage.to_string()),
            ("mode".into(), self.mode.clone()),
        ]
    }
}

/// `POST /nodes/{node}/qemu` with `archive`: VM `vmid` made again from a backup volume (its
/// config and disks as backed up; the MAC addresses kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreVm {
    /// The VM to restore into.
    pub vmid: labform_ids::VmId,
    /// The backup volume (`local:backup/vzdump-qemu-101-2026_12_07-13_00_00.vma.zst`).
    pub archive: String,
    /// Overwrite the VM when it exists (Proxmox refuses a running one).
    pub force: bool,
    /// Start the VM afterwards.
    pub start: bool,
    /// Add the VM to this pool.
    pub pool: Option<String>,
}

impl RestoreVm {
    /// Wire parameters.
    pub fn to_params(&self) -> Params {
        let mut params: Params = vec![
            ("vmid".into(), self.vmid.to_string()),
            ("archive".into(), self.archive.clone()),
        ];
        if self.force {
            params.push(("force".into(), "1".into()));
        }
        if self.start {
            params.push(("start".into(), "1".into()));
        }
        if let Some(pool) = &self.pool {
            params.push(("pool".into(), pool.clone()));
        }
        params
    }
}
