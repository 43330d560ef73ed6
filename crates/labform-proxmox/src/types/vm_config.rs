//! A VM's config: reading it (typed accessors over the raw keys), updating
//! it, the pending list, and the percent-encoding of `sshkeys`.

use super::*;

/// A VM configuration as returned by `GET .../config`: every key as its
/// string form, plus the digest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VmConfig {
    /// Config keys (numbers and booleans rendered as strings).
    pub values: BTreeMap<String, String>,
    /// SHA-1 of the config file, for optimistic concurrency.
    pub digest: String,
}

impl VmConfig {
    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The VM name.
    pub fn name(&self) -> Option<&str> {
        self.get("name")
    }

    /// Whether the VM is a template.
    pub fn is_template(&self) -> bool {
        self.get("template")
            .and_then(crate::propstring::parse_bool)
            .unwrap_or(false)
    }

    /// The lock, if any.
    pub fn lock(&self) -> Option<&str> {
        self.get("lock")
    }

    /// All `netN` devices, parsed.
    pub fn nets(&self) -> Result<Vec<(String, NetDevice)>, (String, PropertyError)> {
        self.parsed(|k| indexed(k, "net", 31), NetDevice::parse)
    }

    /// All drives (`scsiN`, `virtioN`, `ideN`, `sataN`, `efidisk0`, `tpmstate0`), parsed.
    pub fn drives(&self) -> Result<Vec<(String, Drive)>, (String, PropertyError)> {
        self.parsed(is_drive_key, Drive::parse)
    }

    /// All `ipconfigN` values, parsed.
    pub fn ipconfigs(&self) -> Result<Vec<(String, IpConfig)>, (String, PropertyError)> {
        self.parsed(|k| indexed(k, "ipconfig", 31), IpConfig::parse)
    }

    fn parsed<T>(
        &self,
        select: impl Fn(&str) -> bool,
        parse: impl Fn(&str) -> Result<T, PropertyError>,
    ) -> Result<Vec<(String, T)>, (String, PropertyError)> {
        self.values
            .iter()
            .filter(|(k, _)| select(k))
            .map(|(k, v)| parse(v).map(|t| (k.clone(), t)).map_err(|e| (k.clone(), e)))
            .collect()
    }
}

impl<'de> Deserialize<'de> for VmConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        let mut values = BTreeMap::new();
        let mut digest = String::new();
        for (k, v) in map {
            let s = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b01(b),
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            if k == "digest" {
                digest = s;
            } else {
                values.insert(k, s);
            }
        }
        Ok(VmConfig { values, digest })
    }
}

/// Changes to a VM config (`POST`/`PUT .../config`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConfigUpdate {
    /// Keys to set, with their wire values: parameters the endpoint does not declare, so they
    /// are not decoded with the others (`form::extra_params` gives them).
    #[serde(flatten, skip_deserializing)]
    pub set: BTreeMap<String, String>,
    /// Keys to delete.
    #[serde(default, with = "comma_list", skip_serializing_if = "Vec::is_empty")]
    pub delete: Vec<String>,
    /// Pending changes to revert.
    #[serde(default, with = "comma_list", skip_serializing_if = "Vec::is_empty")]
    pub revert: Vec<String>,
    /// Expected digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl ConfigUpdate {
    /// An empty update.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets `key` to `value`.
    pub fn set(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.set.insert(key.into(), value.to_string());
        self
    }
    /// Deletes `key`.
    pub fn delete(mut self, key: impl Into<String>) -> Self {
        self.delete.push(key.into());
        self
    }
    /// Reverts a pending change of `key`.
    pub fn revert(mut self, key: impl Into<String>) -> Self {
        self.revert.push(key.into());
        self
    }
    /// Requires the config to still have `digest`.
    pub fn digest(mut self, digest: impl Into<String>) -> Self {
        self.digest = Some(digest.into());
        self
    }
    /// Sets `sshkeys`, percent-encoding the keys as Proxmox requires.
    pub fn ssh_keys(self, keys: &[&str]) -> Self {
        let joined = keys.join("\n");
        self.set("sshkeys", encode_sshkeys(&joined))
    }
}

/// Percent-encodes `sshkeys` the strict RFC 3986 way Proxmox expects
/// (space as `%20`, `+`, `/`, `=`, newline escaped).
pub fn encode_sshkeys(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a percent-encoded string (`sshkeys`).
pub fn decode_percent(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let h = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// One entry of `GET .../pending`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingEntry {
    /// Config key.
    pub key: String,
    /// Current value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// Pending value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<serde_json::Value>,
    /// 1 when the key is pending deletion, 2 when forced.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub delete: Option<u64>,
}
