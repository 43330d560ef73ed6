//! High availability: HA resources (with migration) and HA groups.

use super::*;

/// `GET /cluster/ha/resources`.
pub const RESOURCES: Endpoint = Endpoint::new(
    Method::Get,
    "/cluster/ha/resources",
    &[p("type", Ty::Enum(&["ct", "vm"]))],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Audit"],
    },
);

/// `POST /cluster/ha/resources`.
pub const CREATE_RESOURCE: Endpoint = Endpoint::new(
    Method::Post,
    "/cluster/ha/resources",
    &[
        p("comment", S),
        p("failback", B),
        p("group", S),
        p("max_relocate", Ty::Int(Some(0))),
        p("max_restart", Ty::Int(Some(0))),
        r("sid", S),
        p(
            "state",
            Ty::Enum(&["started", "stopped", "enabled", "disabled", "ignored"]),
        ),
        p("type", Ty::Enum(&["ct", "vm"])),
    ],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Console"],
    },
);

/// `GET /cluster/ha/resources/{sid}`.
pub const RESOURCE: Endpoint = Endpoint::new(
    Method::Get,
    "/cluster/ha/resources/{sid}",
    &[r("sid", S)],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Audit"],
    },
);

/// `PUT /cluster/ha/resources/{sid}`.
pub const UPDATE_RESOURCE: Endpoint = Endpoint::new(
    Method::Put,
    "/cluster/ha/resources/{sid}",
    &[
        r("sid", S),
        p("comment", S),
        p("delete", S),
        p("digest", S),
        p("failback", B),
        p("group", S),
        p("max_relocate", Ty::Int(Some(0))),
        p("max_restart", Ty::Int(Some(0))),
        p(
            "state",
            Ty::Enum(&["started", "stopped", "enabled", "disabled", "ignored"]),
        ),
    ],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Console"],
    },
);

/// `DELETE /cluster/ha/resources/{sid}`.
pub const DELETE_RESOURCE: Endpoint = Endpoint::new(
    Method::Delete,
    "/cluster/ha/resources/{sid}",
    &[r("sid", S), p("purge", B)],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Console"],
    },
);

/// `POST /cluster/ha/resources/{sid}/migrate`.
pub const MIGRATE_RESOURCE: Endpoint = Endpoint::new(
    Method::Post,
    "/cluster/ha/resources/{sid}/migrate",
    &[r("sid", S), r("node", S)],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Console"],
    },
);

/// `GET /cluster/ha/groups`.
pub const GROUPS: Endpoint = Endpoint::new(
    Method::Get,
    "/cluster/ha/groups",
    &[],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Audit"],
    },
);

/// `POST /cluster/ha/groups`.
pub const CREATE_GROUP: Endpoint = Endpoint::new(
    Method::Post,
    "/cluster/ha/groups",
    &[
        p("comment", S),
        r("group", S),
        r("nodes", S),
        p("nofailback", B),
        p("restricted", B),
        p("type", Ty::Enum(&["group"])),
    ],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Console"],
    },
);

/// `GET /cluster/ha/groups/{group}`.
pub const GROUP: Endpoint = Endpoint::new(
    Method::Get,
    "/cluster/ha/groups/{group}",
    &[r("group", S)],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Audit"],
    },
);

/// `PUT /cluster/ha/groups/{group}`.
pub const UPDATE_GROUP: Endpoint = Endpoint::new(
    Method::Put,
    "/cluster/ha/groups/{group}",
    &[
        r("group", S),
        p("comment", S),
        p("delete", S),
        p("digest", S),
        p("nodes", S),
        p("nofailback", B),
        p("restricted", B),
    ],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Console"],
    },
);

/// `DELETE /cluster/ha/groups/{group}`.
pub const DELETE_GROUP: Endpoint = Endpoint::new(
    Method::Delete,
    "/cluster/ha/groups/{group}",
    &[r("group", S)],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Console"],
    },
);
