//! The desired Proxmox configuration of a planned VM, key by key, as Proxmox writes it
//! (`cores`, `memory`, `net0`, `ipconfig0`, `sshkeys`, the seed CD-ROM `ide2`, ...), and the hash
//! of it that the VM's ownership block records.
//!
//! Reconciliation compares these values with what Proxmox reports; the executor sends them.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::plan::PlannedVm;

/// Config keys labform manages. Anything else on a VM is left alone (and never reported as drift).
pub const MANAGED_KEYS: &[&str] = &[
    "name",
    "cores",
    "memory",
    "net0",
    "ipconfig0",
    "nameserver",
    "searchdomain",
    "ciuser",
    "sshkeys",
    "ide2",
    "agent",
    "protection",
    "tags",
];

/// The desired value of every managed key for `vm`. Keys labform leaves unset are absent.
pub fn desired_config(vm: &PlannedVm) -> BTreeMap<&'static str, String> {
    let mut config = BTreeMap::new();
    config.insert("name", vm.name.clone());
    config.insert("cores", vm.cpu.to_string());
    config.insert("memory", vm.memory_mib.to_string());
    let mut net = format!("virtio={},bridge={}", vm.nic.mac, vm.nic.bridge);
    if let Some(vlan) = vm.nic.vlan {
        net.push_str(&format!(",tag={vlan}"));
    }
    config.insert("net0", net);
    config.insert("agent", "1".to_owned());
    config.insert("tags", vm.tags.join(";"));
    if vm.protected {
        config.insert("protection", "1".to_owned());
    }
    if let Some(cloud_init) = &vm.cloud_init {
        let ipconfig = match (vm.nic.address, vm.nic.gateway) {
            (Some(address), Some(gateway)) => {
                format!("ip={address}/{},gw={gateway}", vm.nic.prefix)
            }
            (Some(address), None) => format!("ip={address}/{}", vm.nic.prefix),
            _ => "ip=dhcp".to_owned(),
        };
        config.insert("ipconfig0", ipconfig);
        if !vm.nic.dns.is_empty() {
            let servers: Vec<String> = vm.nic.dns.iter().map(ToString::to_string).collect();
            config.insert("nameserver", servers.join(" "));
        }
        if let Some(domain) = &vm.nic.domain {
            config.insert("searchdomain", domain.clone());
        }
        config.insert("ciuser", cloud_init.user.clone());
        if !cloud_init.authorized_keys.is_empty() {
            config.insert("sshkeys", cloud_init.authorized_keys.join("\n"));
        }
        if let Some(seed) = &vm.seed {
            config.insert("ide2", seed_drive(&seed.storage, &seed.file_name));
        }
    }
    config
}

/// The `ide2` value that attaches the seed image `file_name` of `storage` as a CD-ROM.
pub fn seed_drive(storage: &str, file_name: &str) -> String {
    format!("{storage}:iso/{file_name},media=cdrom")
}

/// The prefix of every seed image file name of VM `vm_id` in `scope`.
pub fn seed_file_prefix(scope: &str, vm_id: labform_ids::VmId) -> String {
    format!("labform-{scope}-{vm_id}-")
}

/// The seed image file name of `vm` (a cloud-init VM of `scope`):
/// [`seed_file_prefix`], then a hash of every planned value the seed's files are rendered from
/// (host name, FQDN, user, authorised keys, time zone, packages, MAC, address, prefix, gateway,
/// DNS, search domain, MTU, VM ID), then `.iso`. A change to any of them is a new file name, so
/// reconciliation sees `ide2` change and apply uploads a new seed. The VM's SSH host key is not
/// part of it: it is a secret the planner never sees, and it stays the same once made.
pub fn seed_file_name(scope: &str, vm: &PlannedVm) -> String {
    let mut hasher = Sha256::new();
    let mut field = |value: &str| {
        hasher.update(value.as_bytes());
        hasher.update([0]);
    };
    field(scope);
    field(&vm.vm_id.to_string());
    field(&vm.name);
    if let Some(cloud_init) = &vm.cloud_init {
        field(&cloud_init.hostname);
        field(cloud_init.fqdn.as_deref().unwrap_or(""));
        field(&cloud_init.user);
        field(&cloud_init.authorized_keys.join("\n"));
        field(cloud_init.timezone.as_deref().unwrap_or(""));
        field(&cloud_init.packages.join("\n"));
        field(if cloud_init.pinned_host_keys {
            "pinned"
        } else {
            ""
        });
    }
    field(&vm.nic.mac);
    field(
        &vm.nic
            .address
            .map(|address| address.to_string())
            .unwrap_or_default(),
    );
    field(&vm.nic.prefix.to_string());
    field(
        &vm.nic
            .gateway
            .map(|gateway| gateway.to_string())
            .unwrap_or_default(),
    );
    let dns: Vec<String> = vm.nic.dns.iter().map(ToString::to_string).collect();
    field(&dns.join(" "));
    field(vm.nic.domain.as_deref().unwrap_or(""));
    field(&vm.nic.mtu.map(|mtu| mtu.to_string()).unwrap_or_default());
    let digest = hasher.finalize();
    let hash: String = digest[..4]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{}{hash}.iso", seed_file_prefix(scope, vm.vm_id))
}

/// A short hash of everything that defines `vm`: its managed config, disks, image and template.
pub fn spec_hash(vm: &PlannedVm) -> String {
    let mut hasher = Sha256::new();
    for (key, value) in desired_config(vm) {
        hasher.update(key.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
        hasher.update([0]);
    }
    for disk in &vm.disks {
        hasher.update(format!("{}={}:{}G", disk.slot, disk.storage, disk.size_gib).as_bytes());
        hasher.update([0]);
    }
    hasher.update(vm.image.as_deref().unwrap_or("").as_bytes());
    hasher.update([0]);
    hasher.update(vm.template.map(|id| id.get()).unwrap_or(0).to_le_bytes());
    let digest = hasher.finalize();
    digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Property-string options (`a=1,b=2` or the first bare `virtio=MAC`), for comparing values
/// Proxmox may reorder or extend with defaults.
pub fn options(value: &str) -> BTreeMap<String, String> {
    value
        .split(',')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((key, value)) => (key.trim().to_owned(), value.trim().to_owned()),
            None => (part.trim().to_owned(), String::new()),
        })
        .collect()
}
