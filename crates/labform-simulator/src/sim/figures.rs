//! The figures Proxmox reports for a guest (`/nodes/{node}/qemu`,
//! `/cluster/resources`, pool members): sizes from its config, and usage a
//! simulated guest makes up steadily while it runs (CPU, memory, network
//! and disk traffic growing with its uptime), so clients that chart or sum
//! them see plausible, deterministic numbers.

use super::*;

/// What Proxmox's `vmstatus` and the RRD report for one guest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct VmFigures {
    /// Seconds since start (0 when stopped).
    pub(super) uptime: u64,
    /// CPU usage, a fraction of `cpus`.
    pub(super) cpu: f64,
    /// CPUs.
    pub(super) cpus: u64,
    /// Configured memory, bytes.
    pub(super) maxmem: u64,
    /// Memory in use, bytes.
    pub(super) mem: u64,
    /// Memory the host gives the guest, bytes.
    pub(super) memhost: u64,
    /// Size of the boot disk, bytes.
    pub(super) maxdisk: u64,
    /// Bytes received.
    pub(super) netin: u64,
    /// Bytes sent.
    pub(super) netout: u64,
    /// Bytes read from disks.
    pub(super) diskread: u64,
    /// Bytes written to disks.
    pub(super) diskwrite: u64,
}

impl VmFigures {
    /// The figures of `vm` now.
    pub(super) fn of(vm: &Vm) -> Self {
        let maxmem = vm.memory_mib() << 20;
        let uptime = match (vm.running, vm.started_at) {
            (true, Some(started)) => started.elapsed().as_secs(),
            _ => 0,
        };
        let running = vm.running;
        Self {
            uptime,
            cpu: if running { 0.01 } else { 0.0 },
            cpus: vm.cpus(),
            maxmem,
            mem: if running { maxmem / 2 } else { 0 },
            memhost: if running { maxmem / 2 } else { 0 },
            maxdisk: boot_disk_size(vm),
            // A quiet guest: about 1.5 kB/s in, 0.8 kB/s out, 4 KiB/s read and 8 KiB/s written.
            netin: if running { 1_500 * (uptime + 1) } else { 0 },
            netout: if running { 800 * (uptime + 1) } else { 0 },
            diskread: if running { 4_096 * (uptime + 1) } else { 0 },
            diskwrite: if running { 8_192 * (uptime + 1) } else { 0 },
        }
    }
}

/// The size of the disk the VM boots from (`boot: order=...`, else its first
/// disk), as qemu-server's `vmstatus` reports `maxdisk`.
fn boot_disk_size(vm: &Vm) -> u64 {
    let disks: Vec<(&String, Drive)> = vm
        .conf
        .iter()
        .filter(|(k, _)| is_drive_key(k))
        .filter_map(|(k, v)| Drive::parse(v).ok().map(|d| (k, d)))
        .filter(|(_, d)| !d.is_cdrom())
        .collect();
    let order: Vec<&str> = vm
        .conf
        .get("boot")
        .and_then(|b| b.strip_prefix("order="))
        .map(|o| o.split(';').collect())
        .unwrap_or_default();
    order
        .iter()
        .find_map(|key| disks.iter().find(|(k, _)| k.as_str() == *key))
        .or_else(|| disks.first())
        .and_then(|(_, d)| d.size.map(|s| s.0))
        .unwrap_or(0)
}
