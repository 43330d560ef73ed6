//! Storages: a node's storages, their content, `download-url` and uploads.

use super::*;

/// One entry of `GET /nodes/{node}/storage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStorage {
    /// Storage id.
    pub storage: String,
    /// Plugin type (`dir`, `lvmthin`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Content types, comma-separated.
    pub content: String,
    /// Active.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        serialize_with = "lenient::ser_opt_bool01"
    )]
    pub active: Option<bool>,
    /// Enabled.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        serialize_with = "lenient::ser_opt_bool01"
    )]
    pub enabled: Option<bool>,
    /// Shared.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        serialize_with = "lenient::ser_opt_bool01"
    )]
    pub shared: Option<bool>,
    /// Total bytes.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub total: Option<u64>,
    /// Used bytes.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub used: Option<u64>,
    /// Available bytes.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub avail: Option<u64>,
}

/// `GET /nodes/{node}/storage/{storage}/content`: only volumes of one content type, or only
/// one guest's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentQuery {
    /// `images`, `iso`, `backup`, `import`, ...
    pub content: Option<String>,
    /// Only this guest's images and backups.
    pub vmid: Option<labform_ids::VmId>,
}

/// One entry of `GET /nodes/{node}/storage/{storage}/content`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StorageVolume {
    /// Volume id, `local:iso/seed.iso`.
    pub volid: String,
    /// Content type.
    pub content: String,
    /// Format (`raw`, `qcow2`, `iso`).
    pub format: String,
    /// Size, bytes.
    #[serde(deserialize_with = "lenient::u64")]
    pub size: u64,
    /// Owner VMID.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub vmid: Option<u64>,
    /// Creation time.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub ctime: Option<u64>,
    /// The base volume a linked clone's file is backed by, on a directory storage
    /// (`../9000/base-9000-disk-0.qcow2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Guest type of a backup (`qemu`, `lxc`, `unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
    /// Notes of a backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Whether a backup is protected from pruning and removal.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        serialize_with = "lenient::ser_opt_bool01",
        skip_serializing_if = "Option::is_none"
    )]
    pub protected: Option<bool>,
}

/// `POST .../download-url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadUrl {
    /// Source URL.
    pub url: String,
    /// Content type: `iso`, `vztmpl` or `import`.
    pub content: String,
    /// Target file name.
    pub filename: String,
    /// Expected checksum.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Checksum>,
    /// `compression`: decompress the download with this algorithm. Proxmox decompresses only
    /// `iso` content, with `gz`, `lzo`, `zst` or `bz2`; for any other content its task fails
    /// (`decompression not supported for import`). labform never sets it: its cloud images are
    /// downloaded as they are, uncompressed (Talos's as Image Factory's `.raw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
}

/// A file's expected checksum: both parameters or neither.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    /// `sha256`, `sha512`, ...
    #[serde(rename = "checksum-algorithm")]
    pub algorithm: String,
    /// The checksum in hexadecimal.
    #[serde(rename = "checksum")]
    pub value: String,
}

/// A file upload (`POST /nodes/{node}/storage/{storage}/upload`), e.g. a
/// cloud-init seed ISO.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Upload {
    /// `iso`, `vztmpl` or `import`.
    pub content: String,
    /// Target file name (`seed-101.iso`): the name of the form's file part, `filename`.
    pub filename: String,
    /// File contents.
    #[serde(skip)]
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("content", &self.content)
            .field("filename", &self.filename)
            .field("bytes", &self.data.len())
            .finish()
    }
}
