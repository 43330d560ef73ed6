//! Drives (`scsiN`, `virtioN`, `ideN`, `sataN`, `efidisk0`, `tpmstate0`):
//! their volume (existing, to allocate, cloud-init), options and sizes.

use super::*;

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

    /// File `file_name` of content type `content` (`iso`, `import`) on file storage `storage`:
    /// `STORAGE:CONTENT/FILE`.
    pub fn file(storage: &str, content: &str, file_name: &str) -> Self {
        Self::Volume {
            storage: storage.to_owned(),
            name: format!("{content}/{file_name}"),
        }
    }

    /// A cloud-init drive: `STORAGE:cloudinit` as asked for, or the volume Proxmox made for it
    /// (`STORAGE:vm-ID-cloudinit`).
    pub fn is_cloud_init(&self) -> bool {
        match self {
            Self::CloudInit { .. } => true,
            Self::Volume { name, .. } => name.contains("cloudinit"),
            _ => false,
        }
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
