//! The QEMU command line of a VM: machine, memory, CPUs, drives in their
//! bus order, NICs, the monitor, guest agent and serial console sockets, and
//! the cloud-init drive.

use super::*;

impl QemuBackend {
    pub(super) fn command_line(
        &self,
        machine: &Machine,
        run_dir: &Path,
    ) -> Result<Vec<String>, BackendError> {
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
