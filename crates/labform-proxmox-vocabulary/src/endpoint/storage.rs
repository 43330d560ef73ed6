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
        p("delay", INT),
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
