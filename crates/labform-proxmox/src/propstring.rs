//! Proxmox property strings (`virtio=BC:24:11:AA:BB:CC,bridge=vmbr0`,
//! `local-lvm:vm-100-disk-0,size=32G`, `ip=10.0.0.5/24,gw=10.0.0.1`).
//!
//! Every typed value keeps the entries it was parsed from, in order and with
//! their original spelling, so `parse(s).to_string() == s` byte for byte.
//! Values built in code, and [`NetDevice::canonical`] and friends, print in
//! Proxmox's canonical order: default key first, the rest alphabetically.

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

// ---------------------------------------------------------------------------
// MAC addresses

/// A MAC address. Parsing accepts either case; `Display` prints upper case
/// as Proxmox stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(format!("invalid MAC address '{s}'"));
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(parts) {
            if p.len() != 2 {
                return Err(format!("invalid MAC address '{s}'"));
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| format!("invalid MAC address '{s}'"))?;
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl MacAddr {
    /// Lower-case form, as a guest agent reports it.
    pub fn to_lower(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }
}

// ---------------------------------------------------------------------------
// netN

/// NIC models accepted by qemu-server.
pub const NET_MODELS: &[&str] = &[
    "e1000",
    "e1000-82540em",
    "e1000-82544gc",
    "e1000-82545em",
    "e1000e",
    "i82551",
    "i82557b",
    "i82559er",
    "ne2k_isa",
    "ne2k_pci",
    "pcnet",
    "rtl8139",
    "virtio",
    "vmxnet3",
];

const NET_KEYS: &[&str] = &[
    "bridge",
    "firewall",
    "link_down",
    "macaddr",
    "model",
    "mtu",
    "queues",
    "rate",
    "tag",
    "trunks",
];

/// A `netN` value.
#[derive(Debug, Clone, PartialEq)]
pub struct NetDevice {
    raw: PropertyString,
    /// The NIC model, one of [`NET_MODELS`].
    pub model: String,
    /// The MAC address, if set.
    pub macaddr: Option<MacAddr>,
    /// Bridge or SDN VNet.
    pub bridge: Option<String>,
    /// VLAN tag (1-4094).
    pub tag: Option<u16>,
    /// Firewall on this NIC.
    pub firewall: Option<bool>,
    /// Link disconnected.
    pub link_down: Option<bool>,
    /// MTU (1-65520).
    pub mtu: Option<u32>,
    /// Queues (0-64).
    pub queues: Option<u32>,
    /// Rate limit in MB/s.
    pub rate: Option<String>,
    /// Trunk VLANs, `vid;vid-vid`.
    pub trunks: Option<String>,
}

impl NetDevice {
    /// A NIC of `model` on `bridge`, printed canonically.
    pub fn new(
        model: &str,
        macaddr: Option<MacAddr>,
        bridge: Option<&str>,
    ) -> Result<Self, PropertyError> {
        let mut raw = PropertyString::default();
        match macaddr {
            Some(m) => raw.push(Some(model), m.to_string()),
            None => raw.push(None, model),
        }
        if let Some(b) = bridge {
            raw.push(Some("bridge"), b);
        }
        Self::from_property_string(raw)
    }

    /// Parses a `netN` value.
    pub fn parse(s: &str) -> Result<Self, PropertyError> {
        Self::from_property_string(PropertyString::parse(s)?)
    }

    fn from_property_string(raw: PropertyString) -> Result<Self, PropertyError> {
        check_duplicates(&raw)?;
        let mut d = NetDevice {
            raw: PropertyString::default(),
            model: String::new(),
            macaddr: None,
            bridge: None,
            tag: None,
            firewall: None,
            link_down: None,
            mtu: None,
            queues: None,
            rate: None,
            trunks: None,
        };
        let mut model = None;
        for e in raw.entries() {
            let v = e.value.as_str();
            match e.key.as_deref() {
                None => {
                    if model.is_some() {
                        return Err(PropertyError::Duplicate("model".into()));
                    }
                    if !NET_MODELS.contains(&v) {
                        return Err(invalid(
                            "model",
                            format!("value '{v}' does not have a value in the enumeration"),
                        ));
                    }
                    model = Some(v.to_owned());
                }
                Some(k) if NET_MODELS.contains(&k) => {
                    if model.is_some() || d.macaddr.is_some() {
                        return Err(PropertyError::Duplicate("model".into()));
                    }
                    model = Some(k.to_owned());
                    d.macaddr = Some(v.parse().map_err(|r: String| invalid("macaddr", r))?);
                }
                Some("model") => {
                    if model.is_some() {
                        return Err(PropertyError::Duplicate("model".into()));
                    }
                    if !NET_MODELS.contains(&v) {
                        return Err(invalid(
                            "model",
                            format!("value '{v}' does not have a value in the enumeration"),
                        ));
                    }
                    model = Some(v.to_owned());
                }
                Some("macaddr") => {
                    if d.macaddr.is_some() {
                        return Err(PropertyError::Duplicate("macaddr".into()));
                    }
                    d.macaddr = Some(v.parse().map_err(|r: String| invalid("macaddr", r))?);
                }
                Some("bridge") => {
                    if v.is_empty()
                        || !v
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                    {
                        return Err(invalid("bridge", format!("invalid bridge name '{v}'")));
                    }
                    d.bridge = Some(v.to_owned());
                }
                Some("tag") => d.tag = Some(parse_int("tag", v, 1, 4094)?),
                Some("firewall") => d.firewall = Some(parse_bool_key("firewall", v)?),
                Some("link_down") => d.link_down = Some(parse_bool_key("link_down", v)?),
                Some("mtu") => d.mtu = Some(parse_int("mtu", v, 1, 65520)?),
                Some("queues") => d.queues = Some(parse_int("queues", v, 0, 64)?),
                Some("rate") => {
                    if v.parse::<f64>()
                        .map(|r| r < 0.0 || !r.is_finite())
                        .unwrap_or(true)
                    {
                        return Err(invalid(
                            "rate",
                            format!("type check ('number') failed - got '{v}'"),
                        ));
                    }
                    d.rate = Some(v.to_owned());
                }
                Some("trunks") => {
                    let ok = !v.is_empty()
                        && v.split(';').all(|r| {
                            let mut it = r.splitn(2, '-');
                            it.all(|n| {
                                n.parse::<u16>()
                                    .map(|n| (1..=4094).contains(&n))
                                    .unwrap_or(false)
                            })
                        });
                    if !ok {
                        return Err(invalid("trunks", format!("invalid trunks '{v}'")));
                    }
                    d.trunks = Some(v.to_owned());
                }
                Some(k) => return Err(PropertyError::UnknownKey { key: k.to_owned() }),
            }
        }
        d.model = model.ok_or_else(|| PropertyError::Missing("model".into()))?;
        d.raw = raw;
        Ok(d)
    }

    /// Sets the MAC address, keeping the spelling of everything else.
    pub fn set_macaddr(&mut self, mac: MacAddr) {
        let model = self.model.clone();
        let text = mac.to_string();
        let entries = self.raw.entries_mut();
        if let Some(e) = entries.iter_mut().find(|e| {
            e.key.as_deref() == Some("macaddr") || e.key.as_deref() == Some(model.as_str())
        }) {
            e.value = text;
        } else if let Some(e) = entries.iter_mut().find(|e| e.key.is_none()) {
            e.key = Some(model);
            e.value = text;
        } else {
            self.raw.set("macaddr", text);
        }
        self.macaddr = Some(mac);
    }

    /// Sets or replaces another key (`bridge`, `tag`, `firewall`, ...),
    /// validating the result.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), PropertyError> {
        let mut raw = self.raw.clone();
        raw.set(key, value);
        *self = Self::from_property_string(raw)?;
        Ok(())
    }

    /// The canonical form Proxmox stores: `model=MAC` first, then the other
    /// keys alphabetically with booleans as `0`/`1`.
    pub fn canonical(&self) -> String {
        let mut out = match self.macaddr {
            Some(m) => format!("{}={m}", self.model),
            None => self.model.clone(),
        };
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push_str(&format!(",{k}={v}"));
            }
        };
        push("bridge", self.bridge.clone());
        push("firewall", self.firewall.map(|b| u8::from(b).to_string()));
        push("link_down", self.link_down.map(|b| u8::from(b).to_string()));
        push("mtu", self.mtu.map(|v| v.to_string()));
        push("queues", self.queues.map(|v| v.to_string()));
        push("rate", self.rate.clone());
        push("tag", self.tag.map(|v| v.to_string()));
        push("trunks", self.trunks.clone());
        out
    }

    /// The underlying entries.
    pub fn property_string(&self) -> &PropertyString {
        &self.raw
    }

    /// Whether `key` is a known `netN` key (or model alias).
    pub fn is_known_key(key: &str) -> bool {
        NET_KEYS.contains(&key) || NET_MODELS.contains(&key)
    }
}

impl fmt::Display for NetDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f)
    }
}

impl FromStr for NetDevice {
    type Err = PropertyError;
    fn from_str(s: &str) -> Result<Self, PropertyError> {
        Self::parse(s)
    }
}

// ---------------------------------------------------------------------------
// sizes

/// A disk size as Proxmox prints it (`32G`, `512M`) or accepts it (bytes,
/// `K`, `M`, `G`, `T` suffixes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Bytes in one GiB.
    pub const GIB: u64 = 1 << 30;

    /// Parses `123`, `10K`, `512M`, `32G`, `1T` (binary units).
    pub fn parse(s: &str) -> Option<Self> {
        let (num, mult) = match s.chars().last()? {
            'K' | 'k' => (&s[..s.len() - 1], 1u64 << 10),
            'M' | 'm' => (&s[..s.len() - 1], 1 << 20),
            'G' | 'g' => (&s[..s.len() - 1], 1 << 30),
            'T' | 't' => (&s[..s.len() - 1], 1 << 40),
            _ => (s, 1),
        };
        if num.is_empty() {
            return None;
        }
        if let Ok(n) = num.parse::<u64>() {
            return n.checked_mul(mult).map(ByteSize);
        }
        let f: f64 = num.parse().ok()?;
        if !f.is_finite() || f < 0.0 {
            return None;
        }
        Some(ByteSize((f * mult as f64) as u64))
    }

    /// Size in GiB, rounded up.
    pub fn gib_ceil(&self) -> u64 {
        self.0.div_ceil(Self::GIB)
    }
}

impl fmt::Display for ByteSize {
    /// Prints like pve-common's `format_size`: the largest unit that divides
    /// the size exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] {
            let m = 1u64 << shift;
            if b >= m && b.is_multiple_of(m) {
                return write!(f, "{}{unit}", b / m);
            }
        }
        write!(f, "{b}")
    }
}

// ---------------------------------------------------------------------------
// drives

/// The volume part (default key `file`) of a drive value.
#[derive(Debug, Clone, PartialEq)]
pub enum DriveVolume {
    /// `none` (an empty CD-ROM drive).
    None,
    /// `cdrom` (the host's physical drive).
    Cdrom,
    /// `STORAGE:SIZE`: allocate a new disk of SIZE GiB (0 with `import-from`).
    Allocate {
        /// Storage ID.
        storage: String,
        /// Size in GiB, as written (may be fractional).
        size_gib: String,
    },
    /// `STORAGE:cloudinit`: create the cloud-init drive.
    CloudInit {
        /// Storage ID.
        storage: String,
    },
    /// An existing volume `STORAGE:NAME`.
    Volume {
        /// Storage ID.
        storage: String,
        /// Volume name within the storage.
        name: String,
    },
    /// An absolute path.
    Path(String),
}

impl DriveVolume {
    /// Parses the `file` value.
    pub fn parse(v: &str) -> Result<Self, PropertyError> {
        if v == "none" {
            return Ok(Self::None);
        }
        if v == "cdrom" {
            return Ok(Self::Cdrom);
        }
        if v.starts_with('/') {
            return Ok(Self::Path(v.to_owned()));
        }
        let (storage, rest) = v
            .split_once(':')
            .ok_or_else(|| invalid("file", format!("invalid volume '{v}'")))?;
        let storage_ok = !storage.is_empty()
            && storage
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && storage
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !storage_ok || rest.is_empty() {
            return Err(invalid("file", format!("invalid volume '{v}'")));
        }
        if rest == "cloudinit" {
            return Ok(Self::CloudInit {
                storage: storage.to_owned(),
            });
        }
        let is_size = {
            let mut parts = rest.splitn(2, '.');
            let a = parts.next().unwrap_or("");
            let b = parts.next();
            !a.is_empty()
                && a.chars().all(|c| c.is_ascii_digit())
                && b.is_none_or(|b| !b.is_empty() && b.chars().all(|c| c.is_ascii_digit()))
        };
        if is_size {
            return Ok(Self::Allocate {
                storage: storage.to_owned(),
                size_gib: rest.to_owned(),
            });
        }
        if rest.chars().any(|c| c.is_whitespace() || c == ',') {
            return Err(invalid("file", format!("invalid volume '{v}'")));
        }
        Ok(Self::Volume {
            storage: storage.to_owned(),
            name: rest.to_owned(),
        })
    }

    /// The storage ID, if the volume lives on one.
    pub fn storage(&self) -> Option<&str> {
        match self {
            Self::Allocate { storage, .. }
            | Self::CloudInit { storage }
            | Self::Volume { storage, .. } => Some(storage),
            _ => None,
        }
    }
}

impl fmt::Display for DriveVolume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Cdrom => f.write_str("cdrom"),
            Self::Allocate { storage, size_gib } => write!(f, "{storage}:{size_gib}"),
            Self::CloudInit { storage } => write!(f, "{storage}:cloudinit"),
            Self::Volume { storage, name } => write!(f, "{storage}:{name}"),
            Self::Path(p) => f.write_str(p),
        }
    }
}

const DRIVE_BOOL_KEYS: &[&str] = &[
    "backup",
    "iothread",
    "replicate",
    "ro",
    "shared",
    "snapshot",
    "ssd",
];
const DRIVE_STRING_KEYS: &[&str] = &[
    "aio",
    "bps",
    "bps_max_length",
    "bps_rd",
    "bps_rd_max_length",
    "bps_wr",
    "bps_wr_max_length",
    "cache",
    "cyls",
    "detect_zeroes",
    "discard",
    "format",
    "heads",
    "import-from",
    "iops",
    "iops_max",
    "iops_max_length",
    "iops_rd",
    "iops_rd_max",
    "iops_rd_max_length",
    "iops_wr",
    "iops_wr_max",
    "iops_wr_max_length",
    "mbps",
    "mbps_max",
    "mbps_rd",
    "mbps_rd_max",
    "mbps_wr",
    "mbps_wr_max",
    "media",
    "model",
    "product",
    "queues",
    "rerror",
    "secs",
    "serial",
    "size",
    "trans",
    "vendor",
    "werror",
    "wwn",
    "efitype",
    "pre-enrolled-keys",
    "ms-cert",
    "version",
];

/// A drive value (`scsiN`, `virtioN`, `sataN`, `ideN`, `efidisk0`, `tpmstate0`).
#[derive(Debug, Clone, PartialEq)]
pub struct Drive {
    raw: PropertyString,
    /// The volume (`file`).
    pub volume: DriveVolume,
    /// `media=disk|cdrom`.
    pub media: Option<String>,
    /// `size=32G`.
    pub size: Option<ByteSize>,
    /// `import-from=<volume or path>`.
    pub import_from: Option<String>,
    /// `format=raw|qcow2|vmdk|...`.
    pub format: Option<String>,
    /// `discard=on|ignore`.
    pub discard: Option<String>,
    /// `cache=...`.
    pub cache: Option<String>,
    /// `ssd=1`.
    pub ssd: Option<bool>,
    /// `iothread=1`.
    pub iothread: Option<bool>,
    /// `backup=0|1`.
    pub backup: Option<bool>,
}

impl Drive {
    /// Parses a drive value.
    pub fn parse(s: &str) -> Result<Self, PropertyError> {
        Self::from_property_string(PropertyString::parse(s)?)
    }

    /// A drive for `volume` with extra `key=value` options, printed canonically.
    pub fn new(volume: DriveVolume, options: &[(&str, &str)]) -> Result<Self, PropertyError> {
        let mut raw = PropertyString::default();
        raw.push(None, volume.to_string());
        let mut opts = options.to_vec();
        opts.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in opts {
            raw.push(Some(k), v);
        }
        Self::from_property_string(raw)
    }

    fn from_property_string(raw: PropertyString) -> Result<Self, PropertyError> {
        check_duplicates(&raw)?;
        let mut volume = None;
        let mut d = Drive {
            raw: PropertyString::default(),
            volume: DriveVolume::None,
            media: None,
            size: None,
            import_from: None,
            format: None,
            discard: None,
            cache: None,
            ssd: None,
            iothread: None,
            backup: None,
        };
        for e in raw.entries() {
            let v = e.value.as_str();
            match e.key.as_deref() {
                None | Some("file") | Some("volume") => {
                    if volume.is_some() {
                        return Err(PropertyError::Duplicate("file".into()));
                    }
                    volume = Some(DriveVolume::parse(v)?);
                }
                Some("media") => {
                    if v != "disk" && v != "cdrom" {
                        return Err(invalid(
                            "media",
                            format!(
                                "value '{v}' does not have a value in the enumeration 'cdrom, disk'"
                            ),
                        ));
                    }
                    d.media = Some(v.to_owned());
                }
                Some("size") => {
                    d.size =
                        Some(ByteSize::parse(v).ok_or_else(|| {
                            invalid("size", format!("unable to parse size '{v}'"))
                        })?)
                }
                Some("import-from") => d.import_from = Some(v.to_owned()),
                Some("format") => {
                    const F: &[&str] = &["raw", "cow", "qcow", "qed", "qcow2", "vmdk", "cloop"];
                    if !F.contains(&v) {
                        return Err(invalid(
                            "format",
                            format!("value '{v}' does not have a value in the enumeration"),
                        ));
                    }
                    d.format = Some(v.to_owned());
                }
                Some("discard") => {
                    if v != "on" && v != "ignore" {
                        return Err(invalid(
                            "discard",
                            format!(
                                "value '{v}' does not have a value in the enumeration 'ignore, on'"
                            ),
                        ));
                    }
                    d.discard = Some(v.to_owned());
                }
                Some("cache") => d.cache = Some(v.to_owned()),
                Some(k) if DRIVE_BOOL_KEYS.contains(&k) => {
                    let b = parse_bool_key(k, v)?;
                    match k {
                        "ssd" => d.ssd = Some(b),
                        "iothread" => d.iothread = Some(b),
                        "backup" => d.backup = Some(b),
                        _ => {}
                    }
                }
                Some(k) if DRIVE_STRING_KEYS.contains(&k) => {}
                Some(k) => return Err(PropertyError::UnknownKey { key: k.to_owned() }),
            }
        }
        d.volume = volume.ok_or_else(|| PropertyError::Missing("file".into()))?;
        d.raw = raw;
        Ok(d)
    }

    /// Replaces the volume, keeping the other entries' spelling.
    pub fn set_volume(&mut self, volume: DriveVolume) {
        let text = volume.to_string();
        if let Some(e) = self
            .raw
            .entries_mut()
            .iter_mut()
            .find(|e| matches!(e.key.as_deref(), None | Some("file") | Some("volume")))
        {
            e.value = text;
        }
        self.volume = volume;
    }

    /// Sets another key, validating the result.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), PropertyError> {
        let mut raw = self.raw.clone();
        raw.set(key, value);
        *self = Self::from_property_string(raw)?;
        Ok(())
    }

    /// Removes a key (e.g. `import-from` once the import is done).
    pub fn remove(&mut self, key: &str) {
        let mut raw = self.raw.clone();
        if raw.remove(key) {
            // Removing a key never makes a valid drive invalid.
            if let Ok(d) = Self::from_property_string(raw) {
                *self = d;
            }
        }
    }

    /// Canonical form: volume first, the other keys alphabetically with
    /// booleans as `0`/`1`.
    pub fn canonical(&self) -> String {
        let mut rest: Vec<(String, String)> = self
            .raw
            .entries()
            .iter()
            .filter_map(|e| {
                let k = e.key.as_deref()?;
                if k == "file" || k == "volume" {
                    return None;
                }
                let v = if DRIVE_BOOL_KEYS.contains(&k) {
                    parse_bool(&e.value)
                        .map(|b| u8::from(b).to_string())
                        .unwrap_or_else(|| e.value.clone())
                } else if k == "size" {
                    ByteSize::parse(&e.value)
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| e.value.clone())
                } else {
                    e.value.clone()
                };
                Some((k.to_owned(), v))
            })
            .collect();
        rest.sort();
        let mut out = self.volume.to_string();
        for (k, v) in rest {
            out.push_str(&format!(",{k}={v}"));
        }
        out
    }

    /// The underlying entries.
    pub fn property_string(&self) -> &PropertyString {
        &self.raw
    }

    /// Whether this is a CD-ROM drive.
    pub fn is_cdrom(&self) -> bool {
        self.media.as_deref() == Some("cdrom")
    }
}

impl fmt::Display for Drive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f)
    }
}

impl FromStr for Drive {
    type Err = PropertyError;
    fn from_str(s: &str) -> Result<Self, PropertyError> {
        Self::parse(s)
    }
}

/// Whether `key` is a drive key (`scsi0`, `virtio3`, `ide2`, `sata1`, `efidisk0`, `tpmstate0`).
pub fn is_drive_key(key: &str) -> bool {
    indexed(key, "scsi", 30)
        || indexed(key, "virtio", 15)
        || indexed(key, "ide", 3)
        || indexed(key, "sata", 5)
        || key == "efidisk0"
        || key == "tpmstate0"
}

/// Whether `key` is `prefix` followed by an index in `0..=max` without
/// leading zeros.
pub fn indexed(key: &str, prefix: &str, max: u32) -> bool {
    key.strip_prefix(prefix)
        .filter(|n| {
            !n.is_empty()
                && (n == &"0" || !n.starts_with('0'))
                && n.chars().all(|c| c.is_ascii_digit())
        })
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n <= max)
}

// ---------------------------------------------------------------------------
// ipconfigN

/// The IPv4 part of an `ipconfigN` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Setting {
    /// `ip=dhcp`.
    Dhcp,
    /// `ip=ADDR/PREFIX`.
    Static(Ipv4Addr, u8),
}

/// The IPv6 part of an `ipconfigN` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Setting {
    /// `ip6=dhcp`.
    Dhcp,
    /// `ip6=auto` (SLAAC).
    Auto,
    /// `ip6=ADDR/PREFIX`.
    Static(Ipv6Addr, u8),
}

/// An `ipconfigN` value (cloud-init network settings of `netN`).
#[derive(Debug, Clone, PartialEq)]
pub struct IpConfig {
    raw: PropertyString,
    /// IPv4 setting.
    pub ip: Option<Ipv4Setting>,
    /// IPv4 gateway (needs a static `ip`).
    pub gw: Option<Ipv4Addr>,
    /// IPv6 setting.
    pub ip6: Option<Ipv6Setting>,
    /// IPv6 gateway (needs a static `ip6`).
    pub gw6: Option<Ipv6Addr>,
}

impl IpConfig {
    /// Parses an `ipconfigN` value.
    pub fn parse(s: &str) -> Result<Self, PropertyError> {
        let raw = PropertyString::parse(s)?;
        check_duplicates(&raw)?;
        let mut c = IpConfig {
            raw: PropertyString::default(),
            ip: None,
            gw: None,
            ip6: None,
            gw6: None,
        };
        for e in raw.entries() {
            let v = e.value.as_str();
            match e.key.as_deref() {
                Some("ip") => {
                    c.ip = Some(if v == "dhcp" {
                        Ipv4Setting::Dhcp
                    } else {
                        let (a, p) = v.split_once('/').ok_or_else(|| invalid("ip", format!("invalid format - value does not look like a valid IPv4 network configuration: {v}")))?;
                        let addr: Ipv4Addr = a
                            .parse()
                            .map_err(|_| invalid("ip", format!("invalid IPv4 address '{a}'")))?;
                        let p: u8 = p
                            .parse()
                            .ok()
                            .filter(|p| *p <= 32)
                            .ok_or_else(|| invalid("ip", format!("invalid prefix '{p}'")))?;
                        Ipv4Setting::Static(addr, p)
                    })
                }
                Some("gw") => {
                    c.gw = Some(
                        v.parse()
                            .map_err(|_| invalid("gw", format!("invalid IPv4 address '{v}'")))?,
                    )
                }
                Some("ip6") => {
                    c.ip6 = Some(match v {
                        "dhcp" => Ipv6Setting::Dhcp,
                        "auto" => Ipv6Setting::Auto,
                        _ => {
                            let (a, p) = v.split_once('/').ok_or_else(|| {
                                invalid("ip6", format!("invalid IPv6 network configuration: {v}"))
                            })?;
                            let addr: Ipv6Addr = a.parse().map_err(|_| {
                                invalid("ip6", format!("invalid IPv6 address '{a}'"))
                            })?;
                            let p: u8 =
                                p.parse().ok().filter(|p| *p <= 128).ok_or_else(|| {
                                    invalid("ip6", format!("invalid prefix '{p}'"))
                                })?;
                            Ipv6Setting::Static(addr, p)
                        }
                    })
                }
                Some("gw6") => {
                    c.gw6 = Some(
                        v.parse()
                            .map_err(|_| invalid("gw6", format!("invalid IPv6 address '{v}'")))?,
                    )
                }
                Some(k) => return Err(PropertyError::UnknownKey { key: k.to_owned() }),
                None => return Err(PropertyError::UnknownKey { key: v.to_owned() }),
            }
        }
        if c.gw.is_some() && !matches!(c.ip, Some(Ipv4Setting::Static(..))) {
            return Err(invalid("gw", "gateway requires a static 'ip'"));
        }
        if c.gw6.is_some() && !matches!(c.ip6, Some(Ipv6Setting::Static(..))) {
            return Err(invalid("gw6", "gateway requires a static 'ip6'"));
        }
        c.raw = raw;
        Ok(c)
    }

    /// A static IPv4 configuration `ip=ADDR/PREFIX[,gw=GW]`.
    pub fn static_v4(
        addr: Ipv4Addr,
        prefix: u8,
        gw: Option<Ipv4Addr>,
    ) -> Result<Self, PropertyError> {
        let mut s = format!("ip={addr}/{prefix}");
        if let Some(gw) = gw {
            s.push_str(&format!(",gw={gw}"));
        }
        Self::parse(&s)
    }

    /// The underlying entries.
    pub fn property_string(&self) -> &PropertyString {
        &self.raw
    }
}

impl fmt::Display for IpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f)
    }
}

impl FromStr for IpConfig {
    type Err = PropertyError;
    fn from_str(s: &str) -> Result<Self, PropertyError> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
