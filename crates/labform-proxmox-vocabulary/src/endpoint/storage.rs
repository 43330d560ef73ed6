//! Storage: the storage configuration, a node's storages, their status and content, downloads, uploads and volume removal.

use super::*;

/// `GET /nodes/{node}/storage/{storage}/status`.
pub const STORAGE_STATUS: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/storage/{storage}/status",
    &[r("node", S), r("storage", S)],
    Privileges::Perm {
        path: "/storage/{storage}",
        any_of: &["Datastore.Audit", "Datastore.AllocateSpace"],
    },
);

/// `DELETE /nodes/{node}/storage/{storage}/content/{volume}`.
pub const DELETE_VOLUME: Endpoint = Endpoint::new(
    Method::Delete,
    "/nodes/{node}/storage/{storage}/content/{volume}",
    &[
        r("node", S),
        p("storage", S),
        r("volume", S),
        p("delay", Ty::Int(Some(1))),
    ],
    Privileges::Unchecked,
);

/// `GET /nodes/{node}/storage`.
pub const NODE_STORAGES: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/storage",
    &[
        r("node", S),
        p("content", S),
        p("enabled", B),
        p("format", B),
        p("storage", S),
        p("target", S),
    ],
    Privileges::Unchecked,
);

/// `GET /nodes/{node}/storage/{storage}/content`.
pub const CONTENT: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/storage/{storage}/content",
    &[
        r("node", S),
        r("storage", S),
        p("content", S),
        p("vmid", VMID),
    ],
    Privileges::Perm {
        path: "/storage/{storage}",
        any_of: &["Datastore.Audit", "Datastore.AllocateSpace"],
    },
);

/// The `compression` values download-url decompresses, and only for `iso` content: the `iso`
/// row of `decompressor_info` in ST `src/PVE/Storage.pm` (its worker fails with
/// `decompression not supported for CONTENT` for other content and `no decompression method
/// found` for another value).
pub const DOWNLOAD_DECOMPRESSORS: [&str; 4] = ["gz", "lzo", "zst", "bz2"];

/// `POST /nodes/{node}/storage/{storage}/download-url`.
pub const DOWNLOAD_URL: Endpoint = Endpoint::new(
    Method::Post,
    "/nodes/{node}/storage/{storage}/download-url",
    &[
        r("node", S),
        r("storage", S),
        r("url", S),
        r("content", Ty::Enum(&["iso", "vztmpl", "import"])),
        r("filename", S),
        p("checksum", S),
        p(
            "checksum-algorithm",
            Ty::Enum(&["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]),
        ),
        // A string without an enumeration in the schema: Proxmox's handler names
        // `$PVE::Storage::Plugin::KNOWN_COMPRESSION_FORMATS`, which is a constant, not a
        // variable, so the dumped `enum` is null; its worker checks the value
        // ([`DOWNLOAD_DECOMPRESSORS`]).
        p("compression", S),
        p("verify-certificates", B),
    ],
    Privileges::Handler,
);

/// `POST /nodes/{node}/storage/{storage}/upload`.
pub const UPLOAD: Endpoint = Endpoint::new(
    Method::Post,
    "/nodes/{node}/storage/{storage}/upload",
    &[
        r("node", S),
        r("storage", S),
        r("content", Ty::Enum(&["iso", "vztmpl", "import"])),
        r("filename", S),
        p("checksum", S),
        p(
            "checksum-algorithm",
            Ty::Enum(&["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]),
        ),
        p("tmpfilename", S),
    ],
    Privileges::Perm {
        path: "/storage/{storage}",
        any_of: &["Datastore.AllocateTemplate"],
    },
);

/// `GET /storage`.
pub const STORAGE_CONFIGURATIONS: Endpoint = Endpoint::new(
    Method::Get,
    "/storage",
    &[p(
        "type",
        Ty::Enum(&[
            "btrfs",
            "cephfs",
            "cifs",
            "dir",
            "esxi",
            "iscsi",
            "iscsidirect",
            "lvm",
            "lvmthin",
            "nfs",
            "pbs",
            "rbd",
            "zfs",
            "zfspool",
        ]),
    )],
    Privileges::Unchecked,
);

/// `GET /storage/{storage}`.
pub const STORAGE_CONFIGURATION: Endpoint = Endpoint::new(
    Method::Get,
    "/storage/{storage}",
    &[r("storage", S)],
    Privileges::Perm {
        path: "/storage/{storage}",
        any_of: &["Datastore.Allocate"],
    },
);
