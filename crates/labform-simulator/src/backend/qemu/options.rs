//! Settings of the QEMU backend: where its state lives, which QEMU to run,
//! the node's bridges, an optional network namespace, and a kernel booted
//! directly for images without a boot loader.

use super::*;

/// A kernel booted directly (`-kernel`, `-initrd`, `-append`) instead of the
/// disk's boot loader, for root-filesystem images without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectKernel {
    /// The kernel image.
    pub kernel: PathBuf,
    /// The initial ramdisk.
    pub initrd: Option<PathBuf>,
    /// The kernel command line.
    pub command_line: String,
}

impl DirectKernel {
    /// Reads an image directory as `vm-image/build.sh` makes it: `vmlinuz`,
    /// `initrd.img` and `KERNEL_CMDLINE`.
    pub fn from_image_dir(dir: &Path) -> Result<Self, BackendError> {
        let command_line_path = dir.join("KERNEL_CMDLINE");
        let command_line =
            std::fs::read_to_string(&command_line_path).map_err(|source| BackendError::Io {
                action: "reading",
                path: command_line_path,
                source,
            })?;
        let kernel = dir.join("vmlinuz");
        if !kernel.is_file() {
            return Err(BackendError::Unsupported(format!(
                "no kernel at '{}'",
                kernel.display()
            )));
        }
        let initrd = dir.join("initrd.img");
        Ok(Self {
            kernel,
            initrd: initrd.is_file().then_some(initrd),
            command_line: command_line.trim().to_owned(),
        })
    }
}

/// Settings of the QEMU backend.
#[derive(Debug, Clone, PartialEq)]
pub struct QemuOptions {
    /// Where volumes and run files live.
    pub state_dir: PathBuf,
    /// Network namespace the VMs' taps and bridges live in (the host's own
    /// namespace if `None`).
    pub netns: Option<String>,
    /// Boot this kernel directly instead of the disk's boot loader.
    pub kernel: Option<DirectKernel>,
    /// QEMU accelerator: `kvm`, or `tcg` for software emulation.
    pub accelerator: String,
    /// CPU model (`max` for TCG, `host` for KVM).
    pub cpu: String,
    /// The QEMU program.
    pub qemu_binary: PathBuf,
    /// How long a shutdown may take before it fails.
    pub shutdown_timeout: Duration,
    /// Create the namespace if it does not exist (and delete it when the
    /// backend stops); otherwise a missing namespace is an error.
    pub create_netns: bool,
    /// Bridges to create at once (others are created when a VM needs them),
    /// each with an optional address in CIDR form (the lab's gateway).
    pub bridges: Vec<BridgeSpec>,
}

/// A bridge of the simulated node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    /// Name (`vmbr0`).
    pub name: String,
    /// Address with prefix length (`10.0.20.1/24`).
    pub address: Option<String>,
}

impl std::str::FromStr for BridgeSpec {
    type Err = String;

    /// `vmbr0` or `vmbr0=10.0.20.1/24`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (name, address) = match text.split_once('=') {
            Some((name, address)) => (name, Some(address)),
            None => (text, None),
        };
        let valid_name = !name.is_empty()
            && name.len() <= 15
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !valid_name {
            return Err(format!("invalid bridge name '{name}'"));
        }
        if let Some(address) = address {
            let (ip, prefix) = address
                .split_once('/')
                .ok_or_else(|| format!("bridge address '{address}' needs a prefix length"))?;
            let ip_ok = ip.parse::<std::net::IpAddr>().is_ok();
            let prefix_ok = prefix.parse::<u8>().is_ok_and(|p| p <= 128);
            if !ip_ok || !prefix_ok {
                return Err(format!("invalid bridge address '{address}'"));
            }
        }
        Ok(Self {
            name: name.to_owned(),
            address: address.map(str::to_owned),
        })
    }
}

impl QemuOptions {
    /// Software emulation (`-accel tcg -cpu max`) with state under `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            netns: None,
            kernel: None,
            accelerator: "tcg".into(),
            cpu: "max".into(),
            qemu_binary: "qemu-system-x86_64".into(),
            shutdown_timeout: Duration::from_secs(120),
            create_netns: false,
            bridges: Vec::new(),
        }
    }
}
