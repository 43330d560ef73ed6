//! The desired Proxmox configuration of a planned VM, key by key, as Proxmox writes it
//! (`cores`, `memory`, `net0`, `ipconfig0`, `sshkeys`, the seed CD-ROM `ide2`, ...), and the hash
//! of it that the VM's ownership block records.
//!
//! Reconciliation compares these values with what Proxmox reports; the executor sends them. The
//! create-time values are here too ([`settle_creation`]): the clone mode, the installer CD-ROM,
//! `ostype`, `scsihw`, `boot` and `ciupgrade` of VMs, and the whole config of template VMs; the
//! executor decides none of them.

use std::collections::BTreeMap;

use labform_proxmox_vocabulary::propstring::{DriveVolume, PropertyString};
use sha2::{Digest, Sha256};

use crate::plan::{CloneMode, PlannedImage, PlannedTemplate, PlannedVm};

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
    "ostype",
    "scsihw",
    "boot",
    "ciupgrade",
];

/// Managed keys set when a VM is made that the plan leaves unset for some VMs (`boot` of a VM
/// without an image, `ciupgrade` without cloud-init): compared only where the plan sets them.
pub const CREATE_KEYS: &[&str] = &["ostype", "scsihw", "boot", "ciupgrade"];

/// The guest OS type of every VM and template (Linux 2.6 and later).
const OSTYPE: &str = "l26";

/// The SCSI controller of every VM and template.
const SCSI_CONTROLLER: &str = "virtio-scsi-pci";

/// The desired value of every managed key for `vm`. Keys labform leaves unset are absent. The
/// tags end with the spec tag (`spec-<hash>`, [`crate::ownership::spec_tag`]) once the spec hash
/// is known.
pub fn desired_config(vm: &PlannedVm) -> BTreeMap<&'static str, String> {
    let mut config = config_without_spec_tag(vm);
    if !vm.spec.is_empty()
        && let Some(tags) = config.get_mut("tags")
    {
        tags.push(';');
        tags.push_str(&crate::ownership::spec_tag(&vm.spec));
    }
    config
}

/// [`desired_config`] without the spec tag: what the spec hash covers.
fn config_without_spec_tag(vm: &PlannedVm) -> BTreeMap<&'static str, String> {
    let mut config = BTreeMap::new();
    config.insert("name", vm.name.clone());
    config.insert("cores", vm.cpu.to_string());
    config.insert("memory", vm.memory_mib.to_string());
    let mut net = PropertyString::default();
    net.push(Some("virtio"), vm.nic.mac.as_str());
    net.push(Some("bridge"), vm.nic.bridge.as_str());
    if let Some(vlan) = vm.nic.vlan {
        net.push(Some("tag"), vlan.to_string());
    }
    config.insert("net0", net.to_string());
    config.insert("agent", "1".to_owned());
    config.insert("tags", vm.tags.join(";"));
    config.insert("ostype", OSTYPE.to_owned());
    config.insert("scsihw", SCSI_CONTROLLER.to_owned());
    if vm.template.is_some() {
        // As the template it is cloned from boots.
        config.insert("boot", "order=scsi0".to_owned());
    } else if vm.creation.installer.is_some() {
        config.insert("boot", "order=scsi0;ide2".to_owned());
    }
    if vm.protected {
        config.insert("protection", "1".to_owned());
    }
    if let Some(cloud_init) = &vm.cloud_init {
        let mut ipconfig = PropertyString::default();
        match vm.nic.address {
            Some(address) => {
                ipconfig.push(Some("ip"), format!("{address}/{}", vm.nic.prefix));
                if let Some(gateway) = vm.nic.gateway {
                    ipconfig.push(Some("gw"), gateway.to_string());
                }
            }
            None => ipconfig.push(Some("ip"), "dhcp"),
        }
        config.insert("ipconfig0", ipconfig.to_string());
        if !vm.nic.dns.is_empty() {
            let servers: Vec<String> = vm.nic.dns.iter().map(ToString::to_string).collect();
            config.insert("nameserver", servers.join(" "));
        }
        if let Some(domain) = &vm.nic.domain {
            config.insert("searchdomain", domain.clone());
        }
        config.insert("ciuser", cloud_init.user.clone());
        // Package upgrades on first boot belong to the lab's own packages list, not to Proxmox.
        config.insert("ciupgrade", "0".to_owned());
        if !cloud_init.authorized_keys.is_empty() {
            config.insert("sshkeys", cloud_init.authorized_keys.join("\n"));
        }
    }
    // The NoCloud seed: cloud-init's, or a Talos node's machine configuration.
    if let Some(seed) = &vm.seed {
        config.insert("ide2", seed_drive(&seed.storage, &seed.file_name));
    }
    config
}

/// The keys a VM created (not cloned) is created with, besides its name, ownership description,
/// pool and disks: `ostype`, `scsihw`, `boot` and the installer CD-ROM (`ide2`) when it has one.
/// Everything else is written by the configuration that follows.
pub fn create_config(vm: &PlannedVm) -> BTreeMap<&'static str, String> {
    let desired = desired_config(vm);
    let mut config: BTreeMap<&'static str, String> = ["ostype", "scsihw", "boot"]
        .into_iter()
        .filter_map(|key| Some((key, desired.get(key)?.clone())))
        .collect();
    if let Some(installer) = &vm.creation.installer {
        config.insert("ide2", installer.clone());
    }
    config
}

/// The config template `template` of lab `lab` and scope `scope` is created with, its disk
/// imported from the downloaded `image` (every key but the ownership description).
pub fn template_config(
    lab: &str,
    scope: &str,
    template: &PlannedTemplate,
    image: &PlannedImage,
) -> BTreeMap<String, String> {
    [
        ("name", template.name.clone()),
        (
            "tags",
            format!("labform;lab-{lab};scope-{scope};role-template"),
        ),
        ("ostype", OSTYPE.to_owned()),
        ("cores", "1".to_owned()),
        ("memory", "1024".to_owned()),
        ("agent", "1".to_owned()),
        ("scsihw", SCSI_CONTROLLER.to_owned()),
        ("scsi0", {
            let mut disk = PropertyString::default();
            let allocate = DriveVolume::Allocate {
                storage: template.storage.to_string(),
                size_gib: "0".to_owned(),
            };
            disk.push(None, allocate.to_string());
            let import = DriveVolume::file(&image.storage, "import", &image.file_name);
            disk.push(Some("import-from"), import.to_string());
            disk.push(Some("discard"), "on");
            disk.to_string()
        }),
        ("boot", "order=scsi0".to_owned()),
        ("serial0", "socket".to_owned()),
        ("vga", "serial0".to_owned()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect()
}

/// The download of image `name` on `endpoint` a VM or template on `node` uses: the one on
/// `node`, else the endpoint's first.
pub fn image_download<'a>(
    images: &'a [PlannedImage],
    endpoint: &str,
    name: &str,
    node: &str,
) -> Option<&'a PlannedImage> {
    let mut candidates = images
        .iter()
        .filter(|image| image.endpoint == endpoint && image.name == name);
    let first = candidates.clone().next();
    candidates.find(|image| image.node == node).or(first)
}

/// Decides how each of `vms` is made (linked clone of its template, or created with its
/// installer ISO as CD-ROM) and what each of `templates` is created with, then records every
/// VM's spec hash over all of it. Lab `lab`, scope `scope`; `images` are the plan's downloads.
pub fn settle_creation(
    lab: &str,
    scope: &str,
    vms: &mut [PlannedVm],
    mut templates: Vec<PlannedTemplate>,
    images: &[PlannedImage],
) -> Vec<PlannedTemplate> {
    for template in &mut templates {
        if let Some(image) =
            image_download(images, &template.endpoint, &template.image, &template.node)
        {
            template.config = template_config(lab, scope, template, image);
        }
    }
    for vm in vms {
        vm.creation.clone_mode = vm.template.map(|_| CloneMode::Linked);
        vm.creation.installer = match (&vm.template, &vm.image) {
            (None, Some(image)) => image_download(images, &vm.endpoint, image, &vm.node)
                .map(|download| cdrom_drive(&download.storage, &download.file_name)),
            _ => None,
        };
        vm.spec = spec_hash(vm);
    }
    templates
}

/// The `ide2` value that attaches the seed image `file_name` of `storage` as a CD-ROM.
pub fn seed_drive(storage: &str, file_name: &str) -> String {
    cdrom_drive(storage, file_name)
}

/// A drive attaching ISO image `file_name` of `storage` as a CD-ROM (`STORAGE:iso/FILE,media=cdrom`).
fn cdrom_drive(storage: &str, file_name: &str) -> String {
    let mut drive = PropertyString::default();
    drive.push(
        None,
        DriveVolume::file(storage, "iso", file_name).to_string(),
    );
    drive.push(Some("media"), "cdrom");
    drive.to_string()
}

/// The prefix of every seed image file name of VM `vm_id` in `scope`.
pub fn seed_file_prefix(scope: &str, vm_id: labform_ids::VmId) -> String {
    format!("labform-{scope}-{vm_id}-")
}

/// The seed image file name of `vm` (a cloud-init VM or a Talos node of `scope`):
/// [`seed_file_prefix`], then a hash of every planned value the seed's files are rendered from
/// (host name, FQDN, user, authorised keys, time zone, packages, MAC, address, prefix, gateway,
/// DNS, search domain, MTU, VM ID), then `.iso`. A change to any of them is a new file name, so
/// reconciliation sees `ide2` change and apply uploads a new seed. The VM's SSH host key is not
/// part of it: it is a secret the planner never sees, and it stays the same once made. Nor is a
/// Talos node's machine configuration: the seed is what the node boots with the first time, and
/// later changes reach it through the Talos API.
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
        // The lab's additions, only when there are any: seeds without them keep their names.
        if !cloud_init.files.is_empty()
            || !cloud_init.commands.is_empty()
            || !cloud_init.user_data.is_empty()
        {
            let additions = serde_json::json!({
                "files": cloud_init.files,
                "commands": cloud_init.commands,
                "user_data": cloud_init.user_data,
            });
            field(&additions.to_string());
        }
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

/// A short hash of everything that defines `vm`: its managed config (the create-time keys
/// included, the spec tag left out), disks, image, template, clone mode and installer CD-ROM.
pub fn spec_hash(vm: &PlannedVm) -> String {
    let mut hasher = Sha256::new();
    for (key, value) in config_without_spec_tag(vm) {
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
    hasher.update(match vm.creation.clone_mode {
        None => b"created".as_slice(),
        Some(CloneMode::Linked) => b"linked".as_slice(),
        Some(CloneMode::Full) => b"full".as_slice(),
    });
    hasher.update([0]);
    hasher.update(vm.creation.installer.as_deref().unwrap_or("").as_bytes());
    let digest = hasher.finalize();
    digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
