//! What a simulated VM is made of beyond its state: the [`Backend`] trait.
//!
//! The simulator core keeps the cluster's state (configs, volumes, tasks) and
//! calls its backend at the points where Proxmox touches real things: a volume
//! is written, created, cloned, renamed, resized or removed; a VM is started,
//! stopped or shut down; the guest agent is asked something.
//!
//! - [`StateOnly`] (the default) does nothing: a VM is only state, and the
//!   simulator answers agent calls itself from the VM's config.
//! - [`qemu::QemuBackend`] keeps every volume as a real file and runs every
//!   started VM as a QEMU process, with taps on bridges in a network
//!   namespace and the guest agent answering on its virtio-serial socket.

pub mod qemu;
pub mod qmp;
pub mod seed;

use std::path::PathBuf;

/// Errors of a backend operation. The simulator turns them into task errors.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A file operation failed.
    #[error("{action} '{path}': {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An external command could not be run or failed.
    #[error("{command} failed: {detail}")]
    Command {
        /// The command line, shortened to the program and its first arguments.
        command: String,
        /// Its exit status and standard error.
        detail: String,
    },
    /// A QMP or guest agent exchange failed.
    #[error("{0}")]
    Protocol(String),
    /// The guest agent does not answer (not started yet, or not installed).
    #[error("QEMU guest agent is not running")]
    AgentNotRunning,
    /// The VM's QEMU process is not running.
    #[error("VM {0} not running")]
    NotRunning(u32),
    /// The VM did not power off within the time allowed.
    #[error("VM quit/powerdown failed - got timeout")]
    ShutdownTimeout,
    /// The VM's configuration cannot be run by this backend.
    #[error("{0}")]
    Unsupported(String),
}

/// A volume on a storage as the backend sees it: the store it is on (the
/// storage id, with `@node` for storages that are not shared) and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeFile {
    /// Store key: `local@pve1`, or `nfs` for a shared storage.
    pub store: String,
    /// Volume name within the storage (`100/vm-100-disk-0.qcow2`,
    /// `100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2`, `iso/seed.iso`,
    /// `import/debian.qcow2`, `vm-100-disk-0`).
    pub name: String,
}

impl VolumeFile {
    /// A volume of `store`.
    pub fn new(store: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            store: store.into(),
            name: name.into(),
        }
    }

    /// The content directory the volume belongs in (`iso`, `import`,
    /// `vztmpl`, `snippets`, or `images` for disks).
    pub fn content(&self) -> &str {
        match self.name.split_once('/') {
            Some((first, _)) if matches!(first, "iso" | "import" | "vztmpl" | "snippets") => first,
            _ => "images",
        }
    }

    /// The volume's own file name: the last component of its name (a
    /// linked clone's name also carries its base's).
    pub fn file_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }
}

/// Where a new disk's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskSource {
    /// An empty disk.
    Empty,
    /// Imported (converted) from a volume (`import-from=local:import/x.qcow2`).
    Volume(VolumeFile),
    /// Imported from an absolute path on the node.
    Path(PathBuf),
}

/// A drive of a VM to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineDrive {
    /// Config key (`scsi0`, `virtio1`, `ide2`).
    pub key: String,
    /// What is in the drive.
    pub medium: DriveMedium,
}

/// The medium in a drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriveMedium {
    /// A disk volume.
    Disk(VolumeFile),
    /// An ISO volume as a CD-ROM, passed to the VM as is.
    Cdrom(VolumeFile),
    /// The cloud-init drive, generated at start from the documents given.
    CloudInit(CloudInitSeed),
}

/// The NoCloud documents of a VM's cloud-init drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudInitSeed {
    /// `user-data`.
    pub user_data: String,
    /// `network-config`.
    pub network_config: String,
    /// `meta-data`.
    pub meta_data: String,
}

/// A network device of a VM to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineNic {
    /// Index `n` of `net<n>`.
    pub index: u32,
    /// Model (`virtio`, `e1000`, ...).
    pub model: String,
    /// MAC address, lower case.
    pub mac: String,
    /// Bridge the tap is attached to.
    pub bridge: Option<String>,
    /// VLAN tag of the port.
    pub tag: Option<u16>,
}

/// Everything needed to run a VM: what the simulator reads from its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// VMID.
    pub vmid: u32,
    /// Name (`name`).
    pub name: String,
    /// Memory, MiB.
    pub memory_mib: u64,
    /// Virtual CPUs.
    pub cpus: u64,
    /// Drives, in config key order.
    pub drives: Vec<MachineDrive>,
    /// Network devices.
    pub nics: Vec<MachineNic>,
    /// Whether the guest agent channel is configured (`agent: 1`).
    pub agent: bool,
}

/// What backs the simulated cluster. Every method is called from a task
/// worker, at the point where Proxmox does the same work, and may block.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Whether VMs really run: if so, start and shutdown take the time they
    /// take and the guest agent is asked; if not, the simulator's timing and
    /// its own answers stand.
    fn runs_vms(&self) -> bool;
    /// Stores a downloaded or uploaded file as `volume`.
    fn write_volume(&self, volume: &VolumeFile, data: &[u8]) -> Result<(), BackendError>;
    /// Creates a disk of `size` bytes (ignored for an import, which keeps its
    /// source's size); returns its virtual size in bytes if known.
    fn create_disk(
        &self,
        volume: &VolumeFile,
        size: u64,
        source: &DiskSource,
    ) -> Result<Option<u64>, BackendError>;
    /// Creates `volume` as a linked clone (an overlay) of `base`.
    fn link_clone(&self, base: &VolumeFile, volume: &VolumeFile) -> Result<(), BackendError>;
    /// Creates `volume` as a full copy of `source`.
    fn copy_disk(&self, source: &VolumeFile, volume: &VolumeFile) -> Result<(), BackendError>;
    /// Renames a volume (a disk becoming a template's base volume).
    fn rename_volume(&self, from: &VolumeFile, to: &VolumeFile) -> Result<(), BackendError>;
    /// Grows a disk to `size` bytes; `running` is the VM using it, if it runs.
    fn resize_disk(
        &self,
        volume: &VolumeFile,
        size: u64,
        running: Option<(u32, &str)>,
    ) -> Result<(), BackendError>;
    /// Removes a volume (missing files are not an error).
    fn remove_volume(&self, volume: &VolumeFile) -> Result<(), BackendError>;
    /// Starts a VM.
    fn start(&self, machine: &Machine) -> Result<(), BackendError>;
    /// Stops a VM at once (the process is ended).
    fn stop(&self, vmid: u32) -> Result<(), BackendError>;
    /// Shuts a VM down cleanly (guest agent if `agent`, else ACPI) and waits
    /// for it to power off.
    fn shutdown(&self, vmid: u32, agent: bool) -> Result<(), BackendError>;
    /// Whether the VM's process runs (`None` if the backend runs no VMs).
    fn is_running(&self, vmid: u32) -> Option<bool>;
    /// Sends one guest agent command and returns its `return` value.
    fn agent(
        &self,
        vmid: u32,
        command: &str,
        arguments: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, BackendError>;
    /// Removes what is left of a destroyed VM (its run directory).
    fn forget(&self, vmid: u32) -> Result<(), BackendError>;
    /// Ends every VM and removes what the backend set up for them (a
    /// namespace it created): the simulator is shutting down.
    fn stop_all(&self);
}

/// The default backend: VMs are only state.
#[derive(Debug, Clone, Copy, Default)]
pub struct StateOnly;

impl Backend for StateOnly {
    fn runs_vms(&self) -> bool {
        false
    }
    fn write_volume(&self, _: &VolumeFile, _: &[u8]) -> Result<(), BackendError> {
        Ok(())
    }
    fn create_disk(
        &self,
        _: &VolumeFile,
        _: u64,
        _: &DiskSource,
    ) -> Result<Option<u64>, BackendError> {
        Ok(None)
    }
    fn link_clone(&self, _: &VolumeFile, _: &VolumeFile) -> Result<(), BackendError> {
        Ok(())
    }
    fn copy_disk(&self, _: &VolumeFile, _: &VolumeFile) -> Result<(), BackendError> {
        Ok(())
    }
    fn rename_volume(&self, _: &VolumeFile, _: &VolumeFile) -> Result<(), BackendError> {
        Ok(())
    }
    fn resize_disk(
        &self,
        _: &VolumeFile,
        _: u64,
        _: Option<(u32, &str)>,
    ) -> Result<(), BackendError> {
        Ok(())
    }
    fn remove_volume(&self, _: &VolumeFile) -> Result<(), BackendError> {
        Ok(())
    }
    fn start(&self, _: &Machine) -> Result<(), BackendError> {
        Ok(())
    }
    fn stop(&self, _: u32) -> Result<(), BackendError> {
        Ok(())
    }
    fn shutdown(&self, _: u32, _: bool) -> Result<(), BackendError> {
        Ok(())
    }
    fn is_running(&self, _: u32) -> Option<bool> {
        None
    }
    fn agent(
        &self,
        _: u32,
        command: &str,
        _: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, BackendError> {
        Err(BackendError::Unsupported(format!(
            "the state-only backend has no guest agent ({command})"
        )))
    }
    fn forget(&self, _: u32) -> Result<(), BackendError> {
        Ok(())
    }
    fn stop_all(&self) {}
}
