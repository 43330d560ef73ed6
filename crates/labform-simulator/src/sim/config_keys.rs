//! What qemu-server accepts in a VM config: the keys, the privilege each
//! needs, which apply at once on a running VM, and each value's check and
//! stored (normalized) form.

use super::*;

/// Keys applied at once even on running VMs (qemu-server's fast-plug set):
/// the VM's options and every cloud-init key but the network devices.
pub(super) fn is_fast_plug(key: &str) -> bool {
    matches!(
        key,
        "tags" | "description" | "onboot" | "protection" | "startup" | "lock"
    ) || (crate::state::is_cloudinit_key(key) && !indexed(key, "net", 31))
}

/// Keys hot-plugged on running VMs with the default `hotplug=network,disk,usb`.
pub(super) fn is_hotplug(key: &str) -> bool {
    indexed(key, "net", 31)
        || (is_drive_key(key) && key != "efidisk0" && key != "tpmstate0")
        || indexed(key, "unused", 255)
}

const PLAIN_KEYS: &[&str] = &[
    "acpi",
    "amd-sev",
    "intel-tdx",
    "ivshmem",
    "affinity",
    "agent",
    "allow-ksm",
    "arch",
    "args",
    "audio0",
    "autostart",
    "balloon",
    "bios",
    "boot",
    "bootdisk",
    "cdrom",
    "cicustom",
    "cipassword",
    "citype",
    "ciupgrade",
    "ciuser",
    "cores",
    "cpu",
    "cpulimit",
    "cpuunits",
    "description",
    "freeze",
    "hookscript",
    "hotplug",
    "hugepages",
    "keephugepages",
    "keyboard",
    "kvm",
    "localtime",
    "lock",
    "machine",
    "memory",
    "meta",
    "migrate_downtime",
    "migrate_speed",
    "name",
    "nameserver",
    "numa",
    "onboot",
    "ostype",
    "protection",
    "reboot",
    "rng0",
    "scsihw",
    "searchdomain",
    "shares",
    "smbios1",
    "smp",
    "sockets",
    "spice_enhancements",
    "sshkeys",
    "startdate",
    "startup",
    "tablet",
    "tags",
    "tdf",
    "template",
    "vcpus",
    "vga",
    "vmgenid",
    "vmstatestorage",
    "watchdog",
];

/// Whether `key` is a VM config key qemu-server accepts.
pub fn is_config_key(key: &str) -> bool {
    PLAIN_KEYS.contains(&key)
        || is_drive_key(key)
        || indexed(key, "net", 31)
        || indexed(key, "ipconfig", 31)
        || indexed(key, "unused", 255)
        || indexed(key, "serial", 3)
        || indexed(key, "usb", 13)
        || indexed(key, "hostpci", 15)
        || indexed(key, "numa", 7)
        || indexed(key, "parallel", 2)
        || indexed(key, "virtiofs", 9)
}

/// The privilege a config key needs.
pub(super) fn config_privilege(key: &str) -> &'static str {
    if is_drive_key(key) || indexed(key, "unused", 255) {
        "VM.Config.Disk"
    } else if indexed(key, "net", 31) {
        "VM.Config.Network"
    } else if matches!(
        key,
        "cores" | "sockets" | "cpu" | "cpulimit" | "cpuunits" | "vcpus" | "affinity" | "numa"
    ) {
        "VM.Config.CPU"
    } else if matches!(key, "memory" | "balloon" | "shares") {
        "VM.Config.Memory"
    } else if key.starts_with("ci")
        || indexed(key, "ipconfig", 31)
        || matches!(key, "sshkeys" | "nameserver" | "searchdomain")
    {
        "VM.Config.Cloudinit"
    } else if matches!(
        key,
        "scsihw" | "bios" | "machine" | "vga" | "ostype" | "arch" | "kvm" | "tablet" | "localtime"
    ) {
        "VM.Config.HWType"
    } else {
        "VM.Config.Options"
    }
}

fn tag_ok(t: &str) -> bool {
    let mut c = t.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphanumeric() || f == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || "_-+.".contains(ch))
}

pub(super) fn dns_name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Validates and normalizes one config value as qemu-server would, returning
/// the stored form. Errors are per-parameter texts.
pub fn normalize_config_value(key: &str, value: &str) -> std::result::Result<String, String> {
    if !is_config_key(key) {
        return Err(
            "property is not defined in schema and the schema does not allow additional properties"
                .into(),
        );
    }
    if crate::state::INT_KEYS.contains(&key) {
        let t = value.strip_prefix('+').unwrap_or(value);
        if t.is_empty()
            || !t
                .trim_start_matches('-')
                .chars()
                .all(|c| c.is_ascii_digit())
        {
            return Err(format!("type check ('integer') failed - got '{value}'"));
        }
        return Ok(t
            .parse::<i64>()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| t.to_owned()));
    }
    if crate::state::BOOL_KEYS.contains(&key) {
        return match value {
            "1" | "0" => Ok(value.to_owned()),
            _ => Err(format!("type check ('boolean') failed - got '{value}'")),
        };
    }
    if indexed(key, "net", 31) {
        return NetDevice::parse(value)
            .map(|n| n.canonical())
            .map_err(|e| format!("invalid format - {e}"));
    }
    if is_drive_key(key) {
        // Stored in the canonical order Proxmox prints.
        return Drive::parse(value)
            .map(|d| d.canonical())
            .map_err(|e| format!("invalid format - {e}"));
    }
    if indexed(key, "ipconfig", 31) {
        return IpConfig::parse(value)
            .map(|_| value.to_owned())
            .map_err(|e| format!("invalid format - {e}"));
    }
    match key {
        "name" if !dns_name_ok(value) => {
            Err("invalid format - value does not look like a valid DNS name\n".to_string())
        }
        "tags" => {
            let mut tags: Vec<String> = value
                .split([';', ',', ' '])
                .filter(|t| !t.is_empty())
                .map(|t| t.to_ascii_lowercase())
                .collect();
            if let Some(bad) = tags.iter().find(|t| !tag_ok(t)) {
                return Err(format!("invalid format - invalid tag '{bad}'"));
            }
            tags.sort();
            tags.dedup();
            Ok(tags.join(";"))
        }
        "sshkeys" => {
            let ok = value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-%_.!~*'()".contains(c));
            if !ok {
                return Err(format!(
                    "invalid format - invalid urlencoded string: {value}"
                ));
            }
            match types::decode_percent(value) {
                Some(decoded)
                    if decoded.lines().all(|l| {
                        l.trim().is_empty()
                            || l.starts_with("ssh-")
                            || l.starts_with("ecdsa-")
                            || l.starts_with("sk-")
                    }) =>
                {
                    Ok(value.to_owned())
                }
                Some(_) => Err("SSH public key validation error".into()),
                None => Err(format!(
                    "invalid format - invalid urlencoded string: {value}"
                )),
            }
        }
        "cipassword" => {
            if ["$1$", "$5$", "$6$", "$2a$", "$2y$"]
                .iter()
                .any(|p| value.starts_with(p))
            {
                Ok(value.to_owned())
            } else {
                // Stored hashed, never in clear text (the hash is simulated).
                use sha2::Digest;
                let h = sha2::Sha256::digest(value.as_bytes());
                Ok(format!(
                    "$5$sim${}",
                    h.iter().map(|b| format!("{b:02x}")).collect::<String>()
                ))
            }
        }
        "agent" => {
            let first = value.split(',').next().unwrap_or("");
            let first = first.strip_prefix("enabled=").unwrap_or(first);
            labform_proxmox::propstring::parse_bool(first)
                .map(|_| value.to_owned())
                .ok_or_else(|| {
                    format!("invalid format - type check ('boolean') failed - got '{first}'")
                })
        }
        "memory" => {
            let v = value.strip_prefix("current=").unwrap_or(value);
            match v.parse::<u64>() {
                Ok(m) if m >= 16 => Ok(value.to_owned()),
                _ => Err(format!(
                    "invalid format - value '{value}' is not a valid memory size"
                )),
            }
        }
        _ => Ok(value.to_owned()),
    }
}

pub(super) fn agent_enabled(conf: &BTreeMap<String, String>) -> bool {
    conf.get("agent").is_some_and(|v| {
        let first = v.split(',').next().unwrap_or("");
        labform_proxmox::propstring::parse_bool(first.strip_prefix("enabled=").unwrap_or(first))
            .unwrap_or(false)
    })
}

/// Normalizes every value of `config` as [`normalize_config_value`] does: the
/// stored forms, and the errors by key.
pub(super) fn normalize_config<'a>(
    config: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut stored = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for (key, value) in config {
        match normalize_config_value(key, value) {
            Ok(value) => {
                stored.insert(key.clone(), value);
            }
            Err(error) => {
                errors.insert(key.clone(), error);
            }
        }
    }
    (stored, errors)
}
