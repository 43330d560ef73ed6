//! Resource pools and their members.

use super::*;

/// `POST /pools`.
pub const CREATE_POOL: Endpoint = Endpoint::new(
    Method::Post,
    "/pools",
    &[r("poolid", S), p("comment", S)],
    Privileges::Perm {
        path: "/pool/{poolid}",
        any_of: &["Pool.Allocate"],
    },
);

/// `GET /pools`.
pub const POOLS: Endpoint = Endpoint::new(
    Method::Get,
    "/pools",
    &[
        p("poolid", S),
        p("type", Ty::Enum(&["qemu", "lxc", "storage"])),
    ],
    Privileges::Unchecked,
);

/// `PUT /pools`.
pub const UPDATE_POOLS: Endpoint = Endpoint::new(
    Method::Put,
    "/pools",
    &[
        p("allow-move", B),
        p("comment", S),
        p("delete", B),
        r("poolid", S),
        p("storage", STORAGE_IDS),
        p("vms", VMIDS),
    ],
    Privileges::Perm {
        path: "/pool/{poolid}",
        any_of: &["Pool.Allocate"],
    },
);

/// `DELETE /pools`.
pub const DELETE_POOLS: Endpoint = Endpoint::new(
    Method::Delete,
    "/pools",
    &[r("poolid", S)],
    Privileges::Perm {
        path: "/pool/{poolid}",
        any_of: &["Pool.Allocate"],
    },
);

/// `GET /pools/{poolid}`.
pub const POOL: Endpoint = Endpoint::new(
    Method::Get,
    "/pools/{poolid}",
    &[
        r("poolid", S),
        p("type", Ty::Enum(&["qemu", "lxc", "storage"])),
    ],
    Privileges::Perm {
        path: "/pool/{poolid}",
        any_of: &["Pool.Audit"],
    },
);

/// `PUT /pools/{poolid}`.
pub const UPDATE_POOL: Endpoint = Endpoint::new(
    Method::Put,
    "/pools/{poolid}",
    &[
        r("poolid", S),
        p("allow-move", B),
        p("comment", S),
        p("delete", B),
        p("storage", STORAGE_IDS),
        p("vms", VMIDS),
    ],
    Privileges::Perm {
        path: "/pool/{poolid}",
        any_of: &["Pool.Allocate"],
    },
);

/// `DELETE /pools/{poolid}`.
pub const DELETE_POOL: Endpoint = Endpoint::new(
    Method::Delete,
    "/pools/{poolid}",
    &[r("poolid", S)],
    Privileges::Perm {
        path: "/pool/{poolid}",
        any_of: &["Pool.Allocate"],
    },
);
