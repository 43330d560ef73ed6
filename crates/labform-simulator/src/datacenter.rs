//! Cluster-wide configuration the API edits beside VMs and access control:
//! backup jobs (`jobs.cfg`), HA resources and groups (`ha/resources.cfg`,
//! `ha/groups.cfg`) and SDN zones and vnets (`sdn/zones.cfg`,
//! `sdn/vnets.cfg`). Each section keeps its options as Proxmox stores them
//! (strings, in the order of the file) and has the digest Proxmox computes
//! over the file's text.

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;

/// One section of a Proxmox section-config file: its type, id and options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Section type (`vzdump`, `vm`, `group`, `simple`, `vnet`, ...).
    pub kind: String,
    /// Section id.
    pub id: String,
    /// Options, by name.
    pub options: BTreeMap<String, String>,
}

/// The options a typed request gives, as a section holds them: each field that is set but
/// `skip` in its wire form (a boolean `1`/`0`, a number in decimal, a list's items apart by
/// [`labform_proxmox::endpoint::ARRAY_SEPARATOR`]).
pub fn section_options(request: &impl Serialize, skip: &[&str]) -> BTreeMap<String, String> {
    fn wire(value: &serde_json::Value) -> String {
        match value {
            serde_json::Value::Bool(flag) => if *flag { "1" } else { "0" }.to_owned(),
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Array(items) => items
                .iter()
                .map(wire)
                .collect::<Vec<_>>()
                .join(&labform_proxmox::endpoint::ARRAY_SEPARATOR.to_string()),
            other => other.to_string(),
        }
    }
    match serde_json::to_value(request) {
        Ok(serde_json::Value::Object(fields)) => fields
            .iter()
            .filter(|(name, value)| !value.is_null() && !skip.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), wire(value)))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// A section-config file: sections in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionFile {
    /// The sections.
    pub sections: Vec<Section>,
}

impl SectionFile {
    /// The section `id`.
    pub fn get(&self, id: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.id == id)
    }

    /// The section `id`, to change.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Section> {
        self.sections.iter_mut().find(|s| s.id == id)
    }

    /// Removes section `id`; whether it existed.
    pub fn remove(&mut self, id: &str) -> bool {
        let before = self.sections.len();
        self.sections.retain(|s| s.id != id);
        before != self.sections.len()
    }

    /// The file's text as `PVE::SectionConfig` writes it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for section in &self.sections {
            out.push_str(&format!("{}: {}\n", section.kind, section.id));
            for (key, value) in &section.options {
                out.push_str(&format!("\t{key} {value}\n"));
            }
            out.push('\n');
        }
        out
    }

    /// SHA-1 of the file's text (the `digest` Proxmox answers with).
    pub fn digest(&self) -> String {
        sha1_hex(self.render().as_bytes())
    }
}

/// SHA-1 of `bytes` in lower-case hex.
pub fn sha1_hex(bytes: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(bytes);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The cluster-wide configuration files the simulator models.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Datacenter {
    /// `jobs.cfg`: backup jobs (type `vzdump`).
    pub backup_jobs: SectionFile,
    /// `ha/resources.cfg`.
    pub ha_resources: SectionFile,
    /// `ha/groups.cfg` (empty on a cluster whose groups were migrated to rules).
    pub ha_groups: SectionFile,
    /// `sdn/zones.cfg`.
    pub sdn_zones: SectionFile,
    /// `sdn/vnets.cfg`.
    pub sdn_vnets: SectionFile,
    /// The state the HA manager reports per resource (`started`, `stopped`,
    /// `migrate`, ...), by SID.
    pub ha_service_state: BTreeMap<String, String>,
    /// What a backup archive holds beside its data, by the volume's place
    /// ([`archive_key`]): like the `.notes` and `.protected` files Proxmox
    /// keeps beside an archive, and the guest config inside it.
    pub backup_archives: BTreeMap<String, BackupArchive>,
    /// Commands the simulated guest agents ran (`agent/exec`), by VMID and
    /// then by the guest's process id.
    pub guest_commands: BTreeMap<u32, BTreeMap<u64, GuestCommand>>,
}

/// A command a guest agent ran, as `guest-exec-status` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestCommand {
    /// Exit code.
    pub exitcode: i64,
    /// Standard output.
    pub out: String,
    /// Standard error.
    pub err: String,
}

/// The key of the archive `name` (`backup/vzdump-...`) in the store `store_key`.
pub fn archive_key(store_key: &str, name: &str) -> String {
    format!("{store_key}/{name}")
}

/// A backup archive's contents beside its data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupArchive {
    /// The guest's config at backup time (`qemu-server/<vmid>.conf`).
    pub config: BTreeMap<String, String>,
    /// Each backed-up disk's config key and size in bytes.
    pub disks: BTreeMap<String, u64>,
    /// Notes.
    pub notes: Option<String>,
    /// Protected from pruning and removal.
    pub protected: bool,
}
