//! The simulated cluster's data: VMs (config, pending changes, snapshots,
//! power state), volumes on storages, and tasks; plus how a VM config file
//! is rendered (for the digest) and typed in JSON answers.

use labform_proxmox::upid::Upid;
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, BTreeSet};

/// Config keys whose JSON type is integer.
pub const INT_KEYS: &[&str] = &[
    "balloon",
    "cores",
    "cpuunits",
    "migrate_speed",
    "shares",
    "smp",
    "snaptime",
    "sockets",
    "vcpus",
];
/// Config keys whose JSON type is boolean (sent as 0/1).
pub const BOOL_KEYS: &[&str] = &[
    "acpi",
    "allow-ksm",
    "autostart",
    "ciupgrade",
    "freeze",
    "keephugepages",
    "kvm",
    "localtime",
    "numa",
    "onboot",
    "protection",
    "reboot",
    "tablet",
    "tdf",
    "template",
];

/// A snapshot.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// Config at snapshot time.
    pub conf: BTreeMap<String, String>,
    /// Unix time.
    pub snaptime: u64,
    /// Description.
    pub description: String,
}

/// A VM.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Vm {
    /// VMID.
    pub vmid: u32,
    /// Node it lives on.
    pub node: String,
    /// Current config.
    pub conf: BTreeMap<String, String>,
    /// Pending values.
    pub pending: BTreeMap<String, String>,
    /// Pending deletions.
    pub pending_delete: BTreeSet<String>,
    /// Snapshots.
    pub snapshots: BTreeMap<String, Snapshot>,
    /// Running.
    pub running: bool,
    /// When it started (saved as wall-clock time, so uptime goes on across a restart).
    #[serde(with = "crate::persist::instant_as_unix_time")]
    pub started_at: Option<tokio::time::Instant>,
    /// Pool.
    pub pool: Option<String>,
    /// The temporary config of a clone in progress.
    pub clone_temp: bool,
    /// Cloud-init values the current cloud-init image was generated from.
    pub cloudinit_generated: Option<BTreeMap<String, String>>,
    /// When the VM appeared in the cluster's VM list (saved as wall-clock time).
    #[serde(with = "crate::persist::instant_as_unix_time::required")]
    pub created_at: tokio::time::Instant,
}

impl Vm {
    /// A new stopped VM.
    pub fn new(vmid: u32, node: &str) -> Self {
        Self {
            vmid,
            node: node.to_owned(),
            conf: BTreeMap::new(),
            pending: BTreeMap::new(),
            pending_delete: BTreeSet::new(),
            snapshots: BTreeMap::new(),
            running: false,
            started_at: None,
            pool: None,
            clone_temp: false,
            cloudinit_generated: None,
            created_at: tokio::time::Instant::now(),
        }
    }

    /// The config file text, as qemu-server writes it.
    pub fn render(&self) -> String {
        if self.clone_temp {
            return "# qmclone temporary file\nlock: clone\n".into();
        }
        let mut out = String::new();
        let section = |out: &mut String, conf: &BTreeMap<String, String>| {
            if let Some(d) = conf.get("description") {
                for line in d.lines() {
                    out.push_str(&format!("#{line}\n"));
                }
            }
            for (k, v) in conf {
                if k != "description" {
                    out.push_str(&format!("{k}: {v}\n"));
                }
            }
        };
        section(&mut out, &self.conf);
        if !self.pending.is_empty() || !self.pending_delete.is_empty() {
            out.push_str("\n[PENDING]\n");
            section(&mut out, &self.pending);
            if !self.pending_delete.is_empty() {
                let d: Vec<&str> = self.pending_delete.iter().map(String::as_str).collect();
                out.push_str(&format!("delete: {}\n", d.join(",")));
            }
        }
        for (name, snap) in &self.snapshots {
            out.push_str(&format!("\n[{name}]\n"));
            section(&mut out, &snap.conf);
            out.push_str(&format!("snaptime: {}\n", snap.snaptime));
        }
        out
    }

    /// SHA-1 of the config file.
    pub fn digest(&self) -> String {
        let mut h = Sha1::new();
        h.update(self.render().as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Config with pending values merged (what `GET config` shows by default).
    pub fn merged(&self) -> BTreeMap<String, String> {
        let mut c = self.conf.clone();
        for k in &self.pending_delete {
            c.remove(k);
        }
        c.extend(self.pending.iter().map(|(k, v)| (k.clone(), v.clone())));
        c
    }

    /// Applies all pending changes (cold start, or any change while stopped).
    pub fn apply_pending(&mut self) {
        for k in std::mem::take(&mut self.pending_delete) {
            self.conf.remove(&k);
        }
        let pending = std::mem::take(&mut self.pending);
        self.conf.extend(pending);
    }

    /// The current `lock` value.
    pub fn lock(&self) -> Option<&str> {
        if self.clone_temp {
            return Some("clone");
        }
        self.conf.get("lock").map(String::as_str)
    }

    /// Whether this VM is a template.
    pub fn is_template(&self) -> bool {
        self.conf.get("template").is_some_and(|v| v == "1")
    }

    /// Memory in MiB (`memory` is `[current=]N`).
    pub fn memory_mib(&self) -> u64 {
        self.conf
            .get("memory")
            .and_then(|m| {
                m.split(',')
                    .find_map(|p| match p.split_once('=') {
                        Some(("current", v)) => Some(v),
                        None => Some(p),
                        _ => None,
                    })
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(512)
    }

    /// CPUs (`sockets * cores`, or `vcpus`).
    pub fn cpus(&self) -> u64 {
        let g = |k: &str, d: u64| self.conf.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
        g("vcpus", g("sockets", 1) * g("cores", 1))
    }
}

/// Converts a config map to the typed JSON Proxmox answers with.
pub fn typed_json(conf: &BTreeMap<String, String>) -> serde_json::Map<String, serde_json::Value> {
    conf.iter()
        .map(|(k, v)| {
            let val = if INT_KEYS.contains(&k.as_str()) || BOOL_KEYS.contains(&k.as_str()) {
                v.parse::<i64>()
                    .map(serde_json::Value::from)
                    .unwrap_or_else(|_| v.clone().into())
            } else if k == "cipassword" {
                "**********".into()
            } else {
                v.clone().into()
            };
            (k.clone(), val)
        })
        .collect()
}

/// A volume on a storage.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Volume {
    /// Size, bytes.
    pub size: u64,
    /// Format (`raw`, `qcow2`, `iso`).
    pub format: String,
    /// Content type (`images`, `iso`, `import`).
    pub content: String,
    /// Owner VMID.
    pub vmid: Option<u32>,
    /// Base volume this is a linked clone of (`storage:name`).
    pub base: Option<String>,
    /// Creation time.
    pub ctime: u64,
}

/// A task record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TaskRecord {
    /// The UPID.
    pub upid: Upid,
    /// Exit status once stopped.
    pub exitstatus: Option<String>,
    /// End time.
    pub endtime: Option<u64>,
}

/// Whether a config key feeds the cloud-init image.
pub fn is_cloudinit_key(key: &str) -> bool {
    matches!(
        key,
        "ciuser"
            | "cipassword"
            | "sshkeys"
            | "nameserver"
            | "searchdomain"
            | "cicustom"
            | "citype"
            | "ciupgrade"
            | "name"
    ) || labform_proxmox::propstring::indexed(key, "ipconfig", 31)
        || labform_proxmox::propstring::indexed(key, "net", 31)
}

/// The cloud-init values of a config.
pub fn cloudinit_values(conf: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    conf.iter()
        .filter(|(k, _)| is_cloudinit_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn netmask(prefix: u8) -> std::net::Ipv4Addr {
    let bits: u32 = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    };
    std::net::Ipv4Addr::from(bits)
}

/// The cloud-init documents qemu-server generates (`user`, `network`,
/// `meta`), in its NoCloud layout.
pub fn cloudinit_dump(vm: &Vm, kind: &str) -> String {
    use labform_proxmox::propstring::{IpConfig, Ipv4Setting, Ipv6Setting, NetDevice};
    let c = &vm.conf;
    match kind {
        "user" => {
            let name = c
                .get("name")
                .cloned()
                .unwrap_or_else(|| format!("VM{}", vm.vmid));
            let mut out = format!("#cloud-config\nhostname: {name}\nmanage_etc_hosts: true\n");
            if let Some(sd) = c
                .get("searchdomain")
                .and_then(|s| s.split_whitespace().next())
                && !name.contains('.')
            {
                out.push_str(&format!("fqdn: {name}.{sd}\n"));
            }
            if let Some(u) = c.get("ciuser") {
                out.push_str(&format!("user: {u}\n"));
            }
            if let Some(p) = c.get("cipassword") {
                out.push_str(&format!("password: {p}\n"));
            }
            if let Some(keys) = c
                .get("sshkeys")
                .and_then(|k| labform_proxmox::types::decode_percent(k))
            {
                out.push_str("ssh_authorized_keys:\n");
                for k in keys.lines().filter(|l| !l.trim().is_empty()) {
                    out.push_str(&format!("  - {k}\n"));
                }
            }
            out.push_str("chpasswd:\n  expire: False\nusers:\n  - default\n");
            if c.get("ciupgrade").is_none_or(|v| v == "1") {
                out.push_str("package_upgrade: true\n");
            }
            out
        }
        "network" => {
            let mut out = String::from("version: 1\nconfig:\n");
            for i in 0..32 {
                let Some(net) = c
                    .get(&format!("net{i}"))
                    .and_then(|v| NetDevice::parse(v).ok())
                else {
                    continue;
                };
                out.push_str(&format!("    - type: physical\n      name: eth{i}\n"));
                if let Some(m) = net.macaddr {
                    out.push_str(&format!("      mac_address: '{}'\n", m.to_lower()));
                }
                out.push_str("      subnets:\n");
                let ipc = c
                    .get(&format!("ipconfig{i}"))
                    .and_then(|v| IpConfig::parse(v).ok());
                match ipc.as_ref().and_then(|x| x.ip) {
                    Some(Ipv4Setting::Static(a, p)) => {
                        out.push_str(&format!(
                            "      - type: static\n        address: '{a}'\n        netmask: '{}'\n",
                            netmask(p)
                        ));
                        if let Some(gw) = ipc.as_ref().and_then(|x| x.gw) {
                            out.push_str(&format!("        gateway: '{gw}'\n"));
                        }
                    }
                    _ => out.push_str("      - type: dhcp4\n"),
                }
                match ipc.as_ref().and_then(|x| x.ip6) {
                    Some(Ipv6Setting::Static(a, p)) => {
                        out.push_str(&format!(
                            "      - type: static6\n        address: '{a}/{p}'\n"
                        ));
                        if let Some(gw) = ipc.as_ref().and_then(|x| x.gw6) {
                            out.push_str(&format!("        gateway: '{gw}'\n"));
                        }
                    }
                    Some(Ipv6Setting::Dhcp) => out.push_str("      - type: dhcp6\n"),
                    Some(Ipv6Setting::Auto) => out.push_str("      - type: ipv6_slaac\n"),
                    None => {}
                }
            }
            let ns: Vec<&str> = c
                .get("nameserver")
                .map(|s| s.split_whitespace().collect())
                .unwrap_or_default();
            let sd: Vec<&str> = c
                .get("searchdomain")
                .map(|s| s.split_whitespace().collect())
                .unwrap_or_default();
            if !ns.is_empty() || !sd.is_empty() {
                out.push_str("    - type: nameserver\n");
                if !ns.is_empty() {
                    out.push_str("      address:\n");
                    for n in ns {
                        out.push_str(&format!("      - '{n}'\n"));
                    }
                }
                if !sd.is_empty() {
                    out.push_str("      search:\n");
                    for d in sd {
                        out.push_str(&format!("      - '{d}'\n"));
                    }
                }
            }
            out
        }
        _ => {
            let mut h = Sha1::new();
            h.update(cloudinit_dump(vm, "user").as_bytes());
            h.update(cloudinit_dump(vm, "network").as_bytes());
            let id: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
            format!("instance-id: {id}\n")
        }
    }
}
