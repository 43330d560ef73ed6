//! Backups of guests: a backup now (`POST /nodes/{node}/vzdump`) and a VM restored from a
//! backup volume (`POST /nodes/{node}/qemu` with `archive`), and the request that makes or
//! changes a job running backups on a schedule (the jobs as listed are in the cluster module,
//! `/cluster/backup`).

use super::*;

/// The options `vzdump` and backup jobs share, as Proxmox's schema types them (its defaults
/// apply to what is left out): which guests, where to, how, and what to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct VzdumpOptions {
    /// The guests (only those on the node the request goes to are backed up there).
    #[serde(
        rename = "vmid",
        default,
        with = "comma_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub vmids: Vec<labform_ids::VmId>,
    /// Every guest (but `exclude`).
    pub all: Option<bool>,
    /// Guests left out of `all`.
    #[serde(default, with = "comma_list", skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<labform_ids::VmId>,
    /// The guests of this pool.
    pub pool: Option<String>,
    /// Only the guests on this node (a job's).
    pub node: Option<String>,
    /// A storage with `backup` content (default `local`).
    pub storage: Option<labform_ids::StorageName>,
    /// `snapshot` (default), `suspend` or `stop`.
    pub mode: Option<String>,
    /// `0` (default), `1`, `gzip`, `lzo` or `zstd`.
    pub compress: Option<String>,
    /// Notes of each backup, with `{{guestname}}`, `{{vmid}}`, `{{node}}`, `{{cluster}}`.
    pub notes_template: Option<String>,
    /// Protect the backups from pruning and removal.
    pub protected: Option<bool>,
    /// Bandwidth limit, KiB/s.
    pub bwlimit: Option<u64>,
    /// I/O priority.
    pub ionice: Option<u64>,
    /// Minutes to wait for the global lock.
    pub lockwait: Option<u64>,
    /// Minutes to wait for a guest to stop.
    pub stopwait: Option<u64>,
    /// A directory instead of a storage (root only).
    pub dumpdir: Option<String>,
    /// Paths left out of a container's backup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_path: Vec<String>,
    /// Backup fleecing (a property string).
    pub fleecing: Option<String>,
    /// `always` or `failure` (deprecated).
    pub mailnotification: Option<String>,
    /// Mail addresses or users to notify (deprecated).
    pub mailto: Option<String>,
    /// Backups to keep (deprecated: `prune-backups`).
    pub maxfiles: Option<u64>,
    /// `auto`, `legacy-sendmail` or `notification-system`.
    pub notification_mode: Option<String>,
    /// Proxmox Backup Server's change detection of containers.
    pub pbs_change_detection_mode: Option<String>,
    /// Performance settings (a property string).
    pub performance: Option<String>,
    /// pigz threads.
    pub pigz: Option<i64>,
    /// Retention (a property string, `keep-last=3,...`).
    pub prune_backups: Option<String>,
    /// Less output.
    pub quiet: Option<bool>,
    /// Prune older backups by `prune-backups`.
    pub remove: Option<bool>,
    /// A hook script (root only).
    pub script: Option<String>,
    /// Leave out temporary files of containers.
    pub stdexcludes: Option<bool>,
    /// Stop running backups on this node.
    pub stop: Option<bool>,
    /// A temporary directory (root only).
    pub tmpdir: Option<String>,
    /// zstd threads.
    pub zstd: Option<i64>,
}

/// `POST /nodes/{node}/vzdump`: back guests up now, one archive each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Vzdump {
    /// What to back up, where to and how.
    #[serde(flatten)]
    pub options: VzdumpOptions,
    /// The backup job this run belongs to (root only).
    pub job_id: Option<String>,
    /// Write the archive to standard output (the command line's only).
    pub stdout: Option<bool>,
}

/// `POST /cluster/backup` and `PUT /cluster/backup/{id}`: a backup job's vzdump options and
/// schedule. (labform's own calls send [`BackupJobOptions`], checked by the same declaration.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BackupJobRequest {
    /// The job's ID (generated when a new job has none).
    pub id: Option<String>,
    /// What the job backs up, where to and how.
    #[serde(flatten)]
    pub options: VzdumpOptions,
    /// Comment.
    pub comment: Option<String>,
    /// When it runs (a calendar event, `21:00`, `sat 02:00`).
    pub schedule: Option<String>,
    /// When it runs, the older way (with `dow`): `HH:MM`.
    pub starttime: Option<String>,
    /// The days of `starttime` (`mon,tue`).
    pub dow: Option<String>,
    /// Whether it runs (default on).
    pub enabled: Option<bool>,
    /// Run a missed backup as soon as possible.
    pub repeat_missed: Option<bool>,
    /// Options to drop (an update's).
    #[serde(default, with = "comma_list", skip_serializing_if = "Vec::is_empty")]
    pub delete: Vec<String>,
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
