//! Proxmox property strings (`virtio=BC:24:11:AA:BB:CC,bridge=vmbr0`,
//! `local-lvm:vm-100-disk-0,size=32G`, `ip=10.0.0.5/24,gw=10.0.0.1`).
//!
//! Every typed value keeps the entries it was parsed from, in order and with
//! their original spelling, so `parse(s).to_string() == s` byte for byte.
//! Values built in code, and [`NetDevice::canonical`] and friends, print in
//! Proxmox's canonical order: default key first, the rest alphabetically.
//!
//! Here: the generic parser ([`PropertyString`]) and its checks, and
//! [`lenient_options`] for comparing values; beside it
//! one module per property family (network devices, drives, ipconfig), all
//! re-exported here.

mod disk;
mod ipconfig;
mod net;

pub use disk::*;
pub use ipconfig::*;
pub use net::*;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Why a property string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertyError {
    /// The string had an empty `,`-separated part.
    #[error("empty element in property string '{0}'")]
    EmptyPart(String),
    /// A key that the format does not define.
    #[error("invalid key '{key}' in property string")]
    UnknownKey {
        /// The offending key.
        key: String,
    },
    /// A key given twice.
    #[error("duplicate key '{0}' in property string")]
    Duplicate(String),
    /// A value that failed its type check.
    #[error("invalid value for '{key}': {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A required key is missing.
    #[error("missing required key '{0}' in property string")]
    Missing(String),
}

fn invalid(key: &str, reason: impl Into<String>) -> PropertyError {
    PropertyError::InvalidValue {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// Parses a property-string boolean: `1|on|yes|true` and `0|off|no|false`,
/// case-insensitive, as pve-common does.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// One `key=value` element, or a bare value for the format's default key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `None` for a bare value (the default key).
    pub key: Option<String>,
    /// The value, exactly as written.
    pub value: String,
}

/// An untyped property string: an ordered list of entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PropertyString {
    entries: Vec<Entry>,
}

impl PropertyString {
    /// Splits a property string into its entries.
    pub fn parse(s: &str) -> Result<Self, PropertyError> {
        let mut entries = Vec::new();
        if s.is_empty() {
            return Ok(Self { entries });
        }
        for part in s.split(',') {
            if part.is_empty() {
                return Err(PropertyError::EmptyPart(s.to_owned()));
            }
            match part.split_once('=') {
                Some((k, v)) => entries.push(Entry {
                    key: Some(k.to_owned()),
                    value: v.to_owned(),
                }),
                None => entries.push(Entry {
                    key: None,
                    value: part.to_owned(),
                }),
            }
        }
        Ok(Self { entries })
    }

    /// The entries in order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.key.as_deref() == Some(key))
            .map(|e| e.value.as_str())
    }

    /// Sets `key` in place if present, otherwise appends `key=value`.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .entries
            .iter_mut()
            .find(|e| e.key.as_deref() == Some(key))
        {
            Some(e) => e.value = value,
            None => self.entries.push(Entry {
                key: Some(key.to_owned()),
                value,
            }),
        }
    }

    /// Removes `key`. Returns whether it was present.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.key.as_deref() != Some(key));
        before != self.entries.len()
    }

    /// Appends an entry without checking for duplicates.
    pub fn push(&mut self, key: Option<&str>, value: impl Into<String>) {
        self.entries.push(Entry {
            key: key.map(str::to_owned),
            value: value.into(),
        });
    }

    fn entries_mut(&mut self) -> &mut Vec<Entry> {
        &mut self.entries
    }
}

impl fmt::Display for PropertyString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match &e.key {
                Some(k) => write!(f, "{k}={}", e.value)?,
                None => f.write_str(&e.value)?,
            }
        }
        Ok(())
    }
}

/// The options of a property string as a map, read leniently to compare values Proxmox may
/// reorder or extend with defaults: empty parts are skipped, keys and values trimmed, a bare
/// value (the `virtio` of `virtio,bridge=vmbr0`, a drive's volume) becomes a key with an empty
/// value, and a key given twice keeps its last value. It never fails; [`PropertyString::parse`]
/// and the typed values are the strict readings.
pub fn lenient_options(value: &str) -> std::collections::BTreeMap<String, String> {
    value
        .split(',')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((key, value)) => (key.trim().to_owned(), value.trim().to_owned()),
            None => (part.trim().to_owned(), String::new()),
        })
        .collect()
}

fn check_duplicates(ps: &PropertyString) -> Result<(), PropertyError> {
    let mut seen = std::collections::BTreeSet::new();
    for e in ps.entries() {
        if let Some(k) = &e.key
            && !seen.insert(k.as_str())
        {
            return Err(PropertyError::Duplicate(k.clone()));
        }
    }
    Ok(())
}

fn parse_bool_key(key: &str, v: &str) -> Result<bool, PropertyError> {
    parse_bool(v).ok_or_else(|| invalid(key, format!("type check ('boolean') failed - got '{v}'")))
}

fn parse_int<T: FromStr>(key: &str, v: &str, min: i64, max: i64) -> Result<T, PropertyError> {
    let n: i64 = v
        .strip_prefix('+')
        .unwrap_or(v)
        .parse()
        .map_err(|_| invalid(key, format!("type check ('integer') failed - got '{v}'")))?;
    if n < min {
        return Err(invalid(
            key,
            format!("value must have a minimum value of {min}"),
        ));
    }
    if n > max {
        return Err(invalid(
            key,
            format!("value must have a maximum value of {max}"),
        ));
    }
    n.to_string()
        .parse()
        .map_err(|_| invalid(key, "out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_options_skip_empty_parts_trim_and_keep_bare_values_as_keys() {
        let options = lenient_options("virtio=BC:24:11:AA:BB:CC, bridge = vmbr0,,tag=5,tag=7");
        assert_eq!(
            options.into_iter().collect::<Vec<_>>(),
            [
                ("bridge", "vmbr0"),
                ("tag", "7"),
                ("virtio", "BC:24:11:AA:BB:CC"),
            ]
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
        );
        let drive = lenient_options("local:iso/seed.iso,media=cdrom");
        assert_eq!(
            drive.get("local:iso/seed.iso").map(String::as_str),
            Some("")
        );
        assert_eq!(drive.get("media").map(String::as_str), Some("cdrom"));
    }

    #[test]
    fn net_forms() {
        let n =
            NetDevice::parse("virtio=bc:24:11:aa:bb:cc,bridge=vmbr0,firewall=on,tag=20").unwrap();
        assert_eq!(n.model, "virtio");
        assert_eq!(n.macaddr.unwrap().to_string(), "BC:24:11:AA:BB:CC");
        assert_eq!(n.firewall, Some(true));
        assert_eq!(
            n.to_string(),
            "virtio=bc:24:11:aa:bb:cc,bridge=vmbr0,firewall=on,tag=20"
        );
        assert_eq!(
            n.canonical(),
            "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1,tag=20"
        );
        let n =
            NetDevice::parse("tag=5,bridge=vmbr1,model=e1000,macaddr=02:00:00:00:00:01").unwrap();
        assert_eq!(n.canonical(), "e1000=02:00:00:00:00:01,bridge=vmbr1,tag=5");
        assert!(NetDevice::parse("virtio,bridge=vmbr0,bogus=1").is_err());
        assert!(NetDevice::parse("virtio,tag=5000").is_err());
        assert!(NetDevice::parse("bridge=vmbr0").is_err());
        assert!(NetDevice::parse("foo,bridge=vmbr0").is_err());
        let mut n = NetDevice::parse("virtio,bridge=vmbr0").unwrap();
        n.set_macaddr("BC:24:11:00:00:01".parse().unwrap());
        assert_eq!(n.to_string(), "virtio=BC:24:11:00:00:01,bridge=vmbr0");
    }

    #[test]
    fn drive_forms() {
        let d = Drive::parse("local-lvm:32,discard=on,ssd=1").unwrap();
        assert_eq!(
            d.volume,
            DriveVolume::Allocate {
                storage: "local-lvm".into(),
                size_gib: "32".into()
            }
        );
        let d = Drive::parse("local-lvm:0,import-from=local:import/noble.qcow2").unwrap();
        assert_eq!(d.import_from.as_deref(), Some("local:import/noble.qcow2"));
        let d = Drive::parse("local-lvm:cloudinit").unwrap();
        assert_eq!(
            d.volume,
            DriveVolume::CloudInit {
                storage: "local-lvm".into()
            }
        );
        let d = Drive::parse("ssd=yes,file=local-lvm:vm-100-disk-0,size=34359738368").unwrap();
        assert_eq!(d.size, Some(ByteSize(32 << 30)));
        assert_eq!(d.canonical(), "local-lvm:vm-100-disk-0,size=32G,ssd=1");
        assert_eq!(
            d.to_string(),
            "ssd=yes,file=local-lvm:vm-100-disk-0,size=34359738368"
        );
        assert!(Drive::parse("local-lvm:vm-100-disk-0,media=floppy").is_err());
        assert!(Drive::parse("size=3G").is_err());
        assert!(is_drive_key("scsi30") && !is_drive_key("scsi31") && !is_drive_key("scsi01"));
    }

    #[test]
    fn ipconfig_forms() {
        let c = IpConfig::parse("ip=10.0.0.5/24,gw=10.0.0.1").unwrap();
        assert_eq!(
            c.ip,
            Some(Ipv4Setting::Static("10.0.0.5".parse().unwrap(), 24))
        );
        assert!(IpConfig::parse("ip=dhcp,gw=10.0.0.1").is_err());
        assert!(IpConfig::parse("ip=10.0.0.5").is_err());
        let c = IpConfig::parse("ip6=auto,ip=dhcp").unwrap();
        assert_eq!(c.to_string(), "ip6=auto,ip=dhcp");
    }

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("32G"), Some(ByteSize(32 << 30)));
        assert_eq!(ByteSize(32 << 30).to_string(), "32G");
        assert_eq!(ByteSize(1536 << 20).to_string(), "1536M");
        assert_eq!(ByteSize(4 << 40).to_string(), "4T");
        assert_eq!(ByteSize(1000).to_string(), "1000");
    }
}
