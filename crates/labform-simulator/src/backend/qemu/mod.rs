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

mod command_line;
mod network;
mod options;

pub use options::{BridgeSpec, DirectKernel, QemuOptions};

use crate::backend::qmp::{agent_command, qmp_command};
use crate::backend::seed::write_seed_iso;
use crate::backend::{Backend, BackendError, DiskSource, DriveMedium, Machine, VolumeFile};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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
