//! The QEMU backend: every volume is a real file under the state directory
//! (disks are qcow2; a linked clone is an overlay on its base, a full clone a
//! copy), and every started VM is a QEMU process with the VM's memory, CPUs,
//! drives and NICs. NICs are tap devices named as Proxmox names them
//! (`tap<vmid>i<n>`) on the configured bridge, with the VLAN tag as the
//! port's untagged VLAN, all inside a network namespace if one is given. The
//! cloud-init drive is generated at every start; the guest agent answers on
//! the VM's virtio-serial socket.
//!
//! Layout of the state directory:
//!
//! ```text
//! storage/<store>/<content>/<file>   volumes (content: images, iso, import, ...)
//! run/<vmid>/qemu.pid                the running VM's pid
//! run/<vmid>/qmp.sock, qga.sock      monitor and guest agent sockets
//! run/<vmid>/console.log             the serial console
//! run/<vmid>/cloudinit.iso           the generated NoCloud drive
//! ```

use super::qmp::{agent_command, qmp_command};
use super::seed::write_seed_iso;
use super::{Backend, BackendError, DiskSource, DriveMedium, Machine, VolumeFile};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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

/// The QEMU backend.
#[derive(Debug)]
pub struct QemuBackend {
    options: QemuOptions,
    /// Whether the backend created its namespace (and deletes it at the end).
    created_netns: std::sync::atomic::AtomicBool,
}

fn io<'path>(
    action: &'static str,
    path: &'path Path,
) -> impl FnOnce(std::io::Error) -> BackendError + 'path {
    move |source| BackendError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Runs a command; its standard output on success.
fn run(program: &str, args: &[&str]) -> Result<String, BackendError> {
    let shown = || {
        let mut words = vec![program];
        words.extend(args.iter().take(4));
        words.join(" ")
    };
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| BackendError::Command {
            command: shown(),
            detail: e.to_string(),
        })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(BackendError::Command {
            command: shown(),
            detail: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
    }
}

fn path_str(path: &Path) -> Result<&str, BackendError> {
    path.to_str()
        .ok_or_else(|| BackendError::Unsupported(format!("path '{}' is not UTF-8", path.display())))
}

/// The image format of a file to import, from its extension.
fn format_of(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("raw" | "img" | "iso") => "raw",
        Some("vmdk") => "vmdk",
        _ => "qcow2",
    }
}

impl QemuBackend {
    /// Checks that QEMU, qemu-img, genisoimage and the namespace are there,
    /// and makes the state directory.
    pub fn new(options: QemuOptions) -> Result<Self, BackendError> {
        let binary = path_str(&options.qemu_binary)?.to_owned();
        run(&binary, &["--version"])?;
        run("qemu-img", &["--version"])?;
        run("genisoimage", &["--version"])?;
        let mut created = false;
        if let Some(netns) = &options.netns {
            let list = run("ip", &["netns", "list"])?;
            let exists = list
                .lines()
                .any(|l| l.split_whitespace().next() == Some(netns.as_str()));
            if !exists && !options.create_netns {
                return Err(BackendError::Unsupported(format!(
                    "network namespace '{netns}' does not exist (create it with: ip netns add {netns})"
                )));
            }
            if !exists {
                run("ip", &["netns", "add", netns])?;
                created = true;
                run("ip", &["-n", netns, "link", "set", "dev", "lo", "up"])?;
            }
        }
        for dir in ["storage", "run"] {
            let path = options.state_dir.join(dir);
            std::fs::create_dir_all(&path).map_err(io("creating", &path))?;
        }
        let backend = Self {
            options,
            created_netns: std::sync::atomic::AtomicBool::new(created),
        };
        for bridge in &backend.options.bridges {
            backend.ensure_bridge(&bridge.name)?;
            if let Some(address) = &bridge.address {
                let present = backend
                    .ip(&["-o", "addr", "show", "dev", &bridge.name])
                    .is_ok_and(|text| text.split_whitespace().any(|w| w == address));
                if !present {
                    backend.ip(&["addr", "add", address, "dev", &bridge.name])?;
                }
            }
        }
        Ok(backend)
    }

    /// The backend's settings.
    pub fn options(&self) -> &QemuOptions {
        &self.options
    }

    /// The file of a volume.
    pub fn volume_path(&self, volume: &VolumeFile) -> PathBuf {
        self.options
            .state_dir
            .join("storage")
            .join(&volume.store)
            .join(volume.content())
            .join(volume.file_name())
    }

    /// The run directory of a VM.
    pub fn run_dir(&self, vmid: u32) -> PathBuf {
        self.options.state_dir.join("run").join(vmid.to_string())
    }

    fn prepare_file(&self, volume: &VolumeFile) -> Result<PathBuf, BackendError> {
        let path = self.volume_path(volume);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
        }
        Ok(path)
    }

    /// `ip` with the namespace selected.
    fn ip(&self, args: &[&str]) -> Result<String, BackendError> {
        let mut all: Vec<&str> = Vec::new();
        if let Some(netns) = &self.options.netns {
            all.extend(["-n", netns.as_str()]);
        }
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A program run inside the namespace.
    fn in_namespace(&self, program: &str, args: &[&str]) -> Result<String, BackendError> {
        match &self.options.netns {
            Some(netns) => {
                let mut all = vec!["netns", "exec", netns.as_str(), program];
                all.extend_from_slice(args);
                run("ip", &all)
            }
            None => run(program, args),
        }
    }

    fn link_exists(&self, name: &str) -> bool {
        self.ip(&["link", "show", "dev", name]).is_ok()
    }

    fn ensure_bridge(&self, bridge: &str) -> Result<(), BackendError> {
        if !self.link_exists(bridge)
            && let Err(e) = self.ip(&["link", "add", "name", bridge, "type", "bridge"])
            && !self.link_exists(bridge)
        {
            return Err(e);
        }
        self.ip(&["link", "set", "dev", bridge, "up"])?;
        Ok(())
    }

    fn taps_of(&self, vmid: u32) -> Vec<String> {
        let prefix = format!("tap{vmid}i");
        self.ip(&["-o", "link", "show"])
            .map(|text| {
                text.lines()
                    .filter_map(|line| line.split(": ").nth(1))
                    .map(|name| name.split('@').next().unwrap_or(name).to_owned())
                    .filter(|name| {
                        name.strip_prefix(&prefix)
                            .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn remove_taps(&self, vmid: u32) {
        for tap in self.taps_of(vmid) {
            let _ = self.ip(&["link", "del", "dev", &tap]);
        }
    }

    fn pid(&self, vmid: u32) -> Option<u32> {
        let text = std::fs::read_to_string(self.run_dir(vmid).join("qemu.pid")).ok()?;
        let pid: u32 = text.trim().parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline)
            .contains("qemu")
            .then_some(pid)
    }

    fn wait_gone(&self, vmid: u32, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.pid(vmid).is_some() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        true
    }

    fn after_exit(&self, vmid: u32) {
        self.remove_taps(vmid);
        let _ = std::fs::remove_file(self.run_dir(vmid).join("qemu.pid"));
    }

    fn kill(&self, vmid: u32) {
        if let Some(pid) = self.pid(vmid) {
            let _ = run("kill", &["-KILL", &pid.to_string()]);
            self.wait_gone(vmid, Duration::from_secs(5));
        }
        self.after_exit(vmid);
    }

    fn plug_nic(&self, vmid: u32, nic: &super::MachineNic) -> Result<String, BackendError> {
        let tap = format!("tap{vmid}i{}", nic.index);
        let bridge = nic.bridge.as_deref().ok_or_else(|| {
            BackendError::Unsupported(format!("net{}: no bridge configured", nic.index))
        })?;
        self.ensure_bridge(bridge)?;
        if self.link_exists(&tap) {
            self.ip(&["link", "del", "dev", &tap])?;
        }
        self.ip(&["tuntap", "add", "dev", &tap, "mode", "tap"])?;
        self.ip(&["link", "set", "dev", &tap, "master", bridge])?;
        if let Some(tag) = nic.tag {
            // A VLAN-aware bridge: the tap's port carries the tag as its untagged VLAN.
            self.ip(&[
                "link",
                "set",
                "dev",
                bridge,
                "type",
                "bridge",
                "vlan_filtering",
                "1",
            ])
            .map_err(|e| {
                BackendError::Unsupported(format!(
                    "net{}: VLAN tag {tag} needs a VLAN-aware bridge, which this kernel does \
                     not provide (CONFIG_BRIDGE_VLAN_FILTERING): {e}",
                    nic.index
                ))
            })?;
            self.in_namespace("bridge", &["vlan", "del", "dev", &tap, "vid", "1"])?;
            self.in_namespace(
                "bridge",
                &[
                    "vlan",
                    "add",
                    "dev",
                    &tap,
                    "vid",
                    &tag.to_string(),
                    "pvid",
                    "untagged",
                ],
            )?;
        }
        self.ip(&["link", "set", "dev", &tap, "up"])?;
        Ok(tap)
    }

    fn command_line(&self, machine: &Machine, run_dir: &Path) -> Result<Vec<String>, BackendError> {
        let o = &self.options;
        let file = |name: &str| -> Result<String, BackendError> {
            path_str(&run_dir.join(name)).map(str::to_owned)
        };
        let mut args: Vec<String> = vec![
            "-name".into(),
            format!("{},debug-threads=on", machine.name),
            "-accel".into(),
            o.accelerator.clone(),
            "-cpu".into(),
            o.cpu.clone(),
            "-m".into(),
            machine.memory_mib.to_string(),
            "-smp".into(),
            machine.cpus.max(1).to_string(),
            "-display".into(),
            "none".into(),
            "-nodefaults".into(),
            "-serial".into(),
            format!("file:{}", file("console.log")?),
            "-qmp".into(),
            format!("unix:{},server=on,wait=off", file("qmp.sock")?),
            "-daemonize".into(),
            "-pidfile".into(),
            file("qemu.pid")?,
        ];
        if let Some(kernel) = &o.kernel {
            args.extend(["-kernel".into(), path_str(&kernel.kernel)?.to_owned()]);
            if let Some(initrd) = &kernel.initrd {
                args.extend(["-initrd".into(), path_str(initrd)?.to_owned()]);
            }
            args.extend(["-append".into(), kernel.command_line.clone()]);
        }
        let mut scsi_controller = false;
        let mut ahci_controller = false;
        for drive in &machine.drives {
            let key = drive.key.as_str();
            let (path, cdrom) = match &drive.medium {
                DriveMedium::Disk(volume) => (self.volume_path(volume), false),
                DriveMedium::Cdrom(volume) => (self.volume_path(volume), true),
                DriveMedium::CloudInit(seed) => {
                    let iso = run_dir.join("cloudinit.iso");
                    write_seed_iso(seed, &run_dir.join("cloudinit"), &iso)?;
                    (iso, true)
                }
            };
            if !path.is_file() {
                return Err(BackendError::Unsupported(format!(
                    "{key}: volume file '{}' does not exist",
                    path.display()
                )));
            }
            let path = path_str(&path)?;
            let format = if cdrom { "raw" } else { "qcow2" };
            let media = if cdrom {
                ",media=cdrom,readonly=on"
            } else {
                ""
            };
            args.extend([
                "-drive".into(),
                format!("file={path},if=none,id=drive-{key},format={format}{media}"),
            ]);
            let bus: String = key.chars().take_while(char::is_ascii_alphabetic).collect();
            let index: u32 = key[bus.len()..].parse().unwrap_or(0);
            let device = match (bus.as_str(), cdrom) {
                ("scsi", _) => {
                    if !scsi_controller {
                        args.extend(["-device".into(), "virtio-scsi-pci,id=scsihw0".into()]);
                        scsi_controller = true;
                    }
                    let kind = if cdrom { "scsi-cd" } else { "scsi-hd" };
                    format!(
                        "{kind},bus=scsihw0.0,channel=0,scsi-id=0,lun={index},drive=drive-{key},id={key}"
                    )
                }
                ("virtio", _) => format!("virtio-blk-pci,drive=drive-{key},id={key}"),
                ("ide", cdrom) => {
                    let kind = if cdrom { "ide-cd" } else { "ide-hd" };
                    format!(
                        "{kind},bus=ide.{},unit={},drive=drive-{key},id={key}",
                        index / 2,
                        index % 2
                    )
                }
                ("sata", cdrom) => {
                    if !ahci_controller {
                        args.extend(["-device".into(), "ahci,id=ahci0".into()]);
                        ahci_controller = true;
                    }
                    let kind = if cdrom { "ide-cd" } else { "ide-hd" };
                    format!("{kind},bus=ahci0.{index},drive=drive-{key},id={key}")
                }
                (other, _) => {
                    return Err(BackendError::Unsupported(format!(
                        "{key}: drive bus '{other}' is not supported by the QEMU backend"
                    )));
                }
            };
            args.extend(["-device".into(), device]);
        }
        for nic in &machine.nics {
            let tap = format!("tap{}i{}", machine.vmid, nic.index);
            let model = match nic.model.as_str() {
                "virtio" => "virtio-net-pci",
                "e1000" => "e1000",
                "rtl8139" => "rtl8139",
                "vmxnet3" => "vmxnet3",
                other => {
                    return Err(BackendError::Unsupported(format!(
                        "net{}: model '{other}' is not supported by the QEMU backend",
                        nic.index
                    )));
                }
            };
            args.extend([
                "-netdev".into(),
                format!(
                    "tap,id=netdev{},ifname={tap},script=no,downscript=no",
                    nic.index
                ),
                "-device".into(),
                format!(
                    "{model},netdev=netdev{},mac={},id=net{}",
                    nic.index, nic.mac, nic.index
                ),
            ]);
        }
        if machine.agent {
            args.extend([
                "-chardev".into(),
                format!(
                    "socket,path={},server=on,wait=off,id=qga0",
                    file("qga.sock")?
                ),
                "-device".into(),
                "virtio-serial,id=qga-serial".into(),
                "-device".into(),
                "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0".into(),
            ]);
        }
        Ok(args)
    }
}

impl Backend for QemuBackend {
    fn runs_vms(&self) -> bool {
        true
    }

    fn write_volume(&self, volume: &VolumeFile, data: &[u8]) -> Result<(), BackendError> {
        let path = self.prepare_file(volume)?;
        std::fs::write(&path, data).map_err(io("writing", &path))
    }

    fn create_disk(
        &self,
        volume: &VolumeFile,
        size: u64,
        source: &DiskSource,
    ) -> Result<Option<u64>, BackendError> {
        let path = self.prepare_file(volume)?;
        let target = path_str(&path)?;
        match source {
            DiskSource::Empty => {
                run(
                    "qemu-img",
                    &["create", "-q", "-f", "qcow2", target, &size.to_string()],
                )?;
            }
            DiskSource::Volume(_) | DiskSource::Path(_) => {
                let from = match source {
                    DiskSource::Volume(v) => self.volume_path(v),
                    DiskSource::Path(p) => p.clone(),
                    DiskSource::Empty => unreachable!("handled above"),
                };
                run(
                    "qemu-img",
                    &[
                        "convert",
                        "-f",
                        format_of(&from),
                        "-O",
                        "qcow2",
                        path_str(&from)?,
                        target,
                    ],
                )?;
            }
        }
        let info = run("qemu-img", &["info", "--output=json", target])?;
        let info: serde_json::Value = serde_json::from_str(&info)
            .map_err(|e| BackendError::Protocol(format!("qemu-img info: {e}")))?;
        Ok(info.get("virtual-size").and_then(serde_json::Value::as_u64))
    }

    fn link_clone(&self, base: &VolumeFile, volume: &VolumeFile) -> Result<(), BackendError> {
        let base_path = self.volume_path(base);
        let path = self.prepare_file(volume)?;
        run(
            "qemu-img",
            &[
                "create",
                "-q",
                "-f",
                "qcow2",
                "-b",
                path_str(&base_path)?,
                "-F",
                "qcow2",
                path_str(&path)?,
            ],
        )?;
        Ok(())
    }

    fn copy_disk(&self, source: &VolumeFile, volume: &VolumeFile) -> Result<(), BackendError> {
        let from = self.volume_path(source);
        let path = self.prepare_file(volume)?;
        run(
            "qemu-img",
            &[
                "convert",
                "-f",
                "qcow2",
                "-O",
                "qcow2",
                path_str(&from)?,
                path_str(&path)?,
            ],
        )?;
        Ok(())
    }

    fn rename_volume(&self, from: &VolumeFile, to: &VolumeFile) -> Result<(), BackendError> {
        let source = self.volume_path(from);
        let target = self.prepare_file(to)?;
        std::fs::rename(&source, &target).map_err(io("renaming", &source))
    }

    fn resize_disk(
        &self,
        volume: &VolumeFile,
        size: u64,
        running: Option<(u32, &str)>,
    ) -> Result<(), BackendError> {
        match running {
            Some((vmid, key)) if self.pid(vmid).is_some() => {
                qmp_command(
                    &self.run_dir(vmid).join("qmp.sock"),
                    "block_resize",
                    Some(serde_json::json!({"device": format!("drive-{key}"), "size": size})),
                )?;
            }
            _ => {
                let path = self.volume_path(volume);
                run(
                    "qemu-img",
                    &[
                        "resize",
                        "-q",
                        "-f",
                        "qcow2",
                        path_str(&path)?,
                        &size.to_string(),
                    ],
                )?;
            }
        }
        Ok(())
    }

    fn remove_volume(&self, volume: &VolumeFile) -> Result<(), BackendError> {
        let path = self.volume_path(volume);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("removing", &path)(e)),
        }
    }

    fn start(&self, machine: &Machine) -> Result<(), BackendError> {
        let vmid = machine.vmid;
        if self.pid(vmid).is_some() {
            return Err(BackendError::Unsupported(format!(
                "VM {vmid} already running"
            )));
        }
        let run_dir = self.run_dir(vmid);
        std::fs::create_dir_all(&run_dir).map_err(io("creating", &run_dir))?;
        for stale in ["qmp.sock", "qga.sock", "qemu.pid"] {
            let _ = std::fs::remove_file(run_dir.join(stale));
        }
        let args = self.command_line(machine, &run_dir)?;
        for nic in &machine.nics {
            if let Err(e) = self.plug_nic(vmid, nic) {
                self.remove_taps(vmid);
                return Err(e);
            }
        }
        let binary = path_str(&self.options.qemu_binary)?.to_owned();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(e) = self.in_namespace(&binary, &args) {
            self.remove_taps(vmid);
            return Err(e);
        }
        Ok(())
    }

    fn stop(&self, vmid: u32) -> Result<(), BackendError> {
        if self.pid(vmid).is_some() {
            let _ = qmp_command(&self.run_dir(vmid).join("qmp.sock"), "quit", None);
            if !self.wait_gone(vmid, Duration::from_secs(10)) {
                self.kill(vmid);
            }
        }
        self.after_exit(vmid);
        Ok(())
    }

    fn shutdown(&self, vmid: u32, agent: bool) -> Result<(), BackendError> {
        if self.pid(vmid).is_none() {
            self.after_exit(vmid);
            return Ok(());
        }
        let run_dir = self.run_dir(vmid);
        let by_agent = agent
            && agent_command(&run_dir.join("qga.sock"), "guest-shutdown", None, false).is_ok();
        if !by_agent {
            qmp_command(&run_dir.join("qmp.sock"), "system_powerdown", None)?;
        }
        if !self.wait_gone(vmid, self.options.shutdown_timeout) {
            return Err(BackendError::ShutdownTimeout);
        }
        self.after_exit(vmid);
        Ok(())
    }

    fn is_running(&self, vmid: u32) -> Option<bool> {
        Some(self.pid(vmid).is_some())
    }

    fn agent(
        &self,
        vmid: u32,
        command: &str,
        arguments: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, BackendError> {
        if self.pid(vmid).is_none() {
            return Err(BackendError::NotRunning(vmid));
        }
        agent_command(
            &self.run_dir(vmid).join("qga.sock"),
            command,
            arguments,
            true,
        )
    }

    fn forget(&self, vmid: u32) -> Result<(), BackendError> {
        self.kill(vmid);
        let dir = self.run_dir(vmid);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("removing", &dir)(e)),
        }
    }

    fn stop_all(&self) {
        if let Ok(entries) = std::fs::read_dir(self.options.state_dir.join("run")) {
            for entry in entries.flatten() {
                if let Some(vmid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
                    self.kill(vmid);
                }
            }
        }
        if let Some(netns) = &self.options.netns
            && self
                .created_netns
                .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            let _ = run("ip", &["netns", "del", netns]);
        }
    }
}

impl Drop for QemuBackend {
    fn drop(&mut self) {
        self.stop_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{MachineDrive, MachineNic};

    #[test]
    fn bridges_parse_with_and_without_address() {
        let plain: BridgeSpec = "vmbr0".parse().unwrap();
        assert_eq!(plain.address, None);
        let with: BridgeSpec = "vmbr1=10.0.20.1/24".parse().unwrap();
        assert_eq!(with.name, "vmbr1");
        assert_eq!(with.address.as_deref(), Some("10.0.20.1/24"));
        assert!("vmbr0=10.0.20.1".parse::<BridgeSpec>().is_err());
        assert!("a-name-longer-than-15".parse::<BridgeSpec>().is_err());
    }

    #[test]
    fn volumes_map_to_one_file_per_volume() {
        let backend = QemuBackend {
            options: QemuOptions::new("/state"),
            created_netns: std::sync::atomic::AtomicBool::new(false),
        };
        let linked = VolumeFile::new(
            "local@pve1",
            "9000/base-9000-disk-0.qcow2/100/vm-100-disk-0.qcow2",
        );
        assert_eq!(
            backend.volume_path(&linked),
            Path::new("/state/storage/local@pve1/images/vm-100-disk-0.qcow2")
        );
        let iso = VolumeFile::new("local@pve1", "iso/seed.iso");
        assert_eq!(
            backend.volume_path(&iso),
            Path::new("/state/storage/local@pve1/iso/seed.iso")
        );
        let thin = VolumeFile::new("local-lvm@pve1", "vm-100-disk-1");
        assert_eq!(
            backend.volume_path(&thin),
            Path::new("/state/storage/local-lvm@pve1/images/vm-100-disk-1")
        );
    }

    #[test]
    fn the_command_line_has_the_configured_hardware() {
        let state = tempfile::tempdir().unwrap();
        let mut options = QemuOptions::new(state.path());
        options.kernel = Some(DirectKernel {
            kernel: "/images/vmlinuz".into(),
            initrd: None,
            command_line: "root=LABEL=root".into(),
        });
        let backend = QemuBackend {
            options,
            created_netns: std::sync::atomic::AtomicBool::new(false),
        };
        let disk = VolumeFile::new("local@pve1", "100/vm-100-disk-0.qcow2");
        let iso = VolumeFile::new("local@pve1", "iso/seed.iso");
        for volume in [&disk, &iso] {
            let path = backend.prepare_file(volume).unwrap();
            std::fs::write(path, b"").unwrap();
        }
        let machine = Machine {
            vmid: 100,
            name: "node".into(),
            memory_mib: 2048,
            cpus: 2,
            drives: vec![
                MachineDrive {
                    key: "ide2".into(),
                    medium: DriveMedium::Cdrom(iso),
                },
                MachineDrive {
                    key: "scsi0".into(),
                    medium: DriveMedium::Disk(disk),
                },
            ],
            nics: vec![MachineNic {
                index: 0,
                model: "virtio".into(),
                mac: "bc:24:11:00:00:01".into(),
                bridge: Some("vmbr0".into()),
                tag: Some(20),
            }],
            agent: true,
        };
        let run_dir = backend.run_dir(100);
        let line = backend.command_line(&machine, &run_dir).unwrap().join(" ");
        for expected in [
            "-accel tcg -cpu max -m 2048 -smp 2",
            "-kernel /images/vmlinuz -append root=LABEL=root",
            "iso/seed.iso,if=none,id=drive-ide2,format=raw,media=cdrom,readonly=on",
            "ide-cd,bus=ide.1,unit=0,drive=drive-ide2,id=ide2",
            "-device virtio-scsi-pci,id=scsihw0",
            "images/vm-100-disk-0.qcow2,if=none,id=drive-scsi0,format=qcow2",
            "tap,id=netdev0,ifname=tap100i0,script=no,downscript=no",
            "virtio-net-pci,netdev=netdev0,mac=bc:24:11:00:00:01,id=net0",
            "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
        ] {
            assert!(line.contains(expected), "{expected} in {line}");
        }
    }
}
