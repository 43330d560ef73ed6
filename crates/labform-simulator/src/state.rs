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
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Config at snapshot time.
    pub conf: BTreeMap<String, String>,
    /// Unix time.
    pub snaptime: u64,
    /// Description.
    pub description: String,
}

/// A VM.
#[derive(Debug, Clone, PartialEq)]
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
    /// When it started (simulated clock, scaled seconds since sim start).
    pub started_at: Option<tokio::time::Instant>,
    /// Pool.
    pub pool: Option<String>,
    /// The temporary config of a clone in progress.
    pub clone_temp: bool,
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
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    /// The UPID.
    pub upid: Upid,
    /// Exit status once stopped.
    pub exitstatus: Option<String>,
    /// End time.
    pub endtime: Option<u64>,
}
