//! Backups: datacenter backup jobs and vzdump.

use super::*;

/// `GET /cluster/backup`.
pub const JOBS: Endpoint = Endpoint::new(
    Method::Get,
    "/cluster/backup",
    &[],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Audit"],
    },
);

/// `POST /cluster/backup`.
pub const CREATE_JOB: Endpoint = Endpoint::new(
    Method::Post,
    "/cluster/backup",
    &[
        p("all", B),
        p("bwlimit", Ty::Int(Some(0))),
        p("comment", S),
        p("compress", Ty::Enum(&["0", "1", "gzip", "lzo", "zstd"])),
        p("dow", S),
        p("dumpdir", S),
        p("enabled", B),
        p("exclude", S),
        p("exclude-path", Ty::Array),
        p("fleecing", S),
        p("id", S),
        p("ionice", Ty::Int(Some(0))),
        p("lockwait", Ty::Int(Some(0))),
        p("mailnotification", Ty::Enum(&["always", "failure"])),
        p("mailto", S),
        p("maxfiles", Ty::Int(Some(1))),
        p("mode", Ty::Enum(&["snapshot", "suspend", "stop"])),
        p("node", S),
        p("notes-template", S),
        p(
            "notification-mode",
            Ty::Enum(&["auto", "legacy-sendmail", "notification-system"]),
        ),
        p(
            "pbs-change-detection-mode",
            Ty::Enum(&["legacy", "data", "metadata"]),
        ),
        p("performance", S),
        p("pigz", INT),
        p("pool", S),
        p("protected", B),
        p("prune-backups", S),
        p("quiet", B),
        p("remove", B),
        p("repeat-missed", B),
        p("schedule", S),
        p("script", S),
        p("starttime", S),
        p("stdexcludes", B),
        p("stop", B),
        p("stopwait", Ty::Int(Some(0))),
        p("storage", S),
        p("tmpdir", S),
        p("vmid", S),
        p("zstd", INT),
    ],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Modify"],
    },
);

/// `GET /cluster/backup/{id}`.
pub const JOB: Endpoint = Endpoint::new(
    Method::Get,
    "/cluster/backup/{id}",
    &[r("id", S)],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Audit"],
    },
);

/// `PUT /cluster/backup/{id}`.
pub const UPDATE_JOB: Endpoint = Endpoint::new(
    Method::Put,
    "/cluster/backup/{id}",
    &[
        r("id", S),
        p("all", B),
        p("bwlimit", Ty::Int(Some(0))),
        p("comment", S),
        p("compress", Ty::Enum(&["0", "1", "gzip", "lzo", "zstd"])),
        p("delete", S),
        p("dow", S),
        p("dumpdir", S),
        p("enabled", B),
        p("exclude", S),
        p("exclude-path", Ty::Array),
        p("fleecing", S),
        p("ionice", Ty::Int(Some(0))),
        p("lockwait", Ty::Int(Some(0))),
        p("mailnotification", Ty::Enum(&["always", "failure"])),
        p("mailto", S),
        p("maxfiles", Ty::Int(Some(1))),
        p("mode", Ty::Enum(&["snapshot", "suspend", "stop"])),
        p("node", S),
        p("notes-template", S),
        p(
            "notification-mode",
            Ty::Enum(&["auto", "legacy-sendmail", "notification-system"]),
        ),
        p(
            "pbs-change-detection-mode",
            Ty::Enum(&["legacy", "data", "metadata"]),
        ),
        p("performance", S),
        p("pigz", INT),
        p("pool", S),
        p("protected", B),
        p("prune-backups", S),
        p("quiet", B),
        p("remove", B),
        p("repeat-missed", B),
        p("schedule", S),
        p("script", S),
        p("starttime", S),
        p("stdexcludes", B),
        p("stop", B),
        p("stopwait", Ty::Int(Some(0))),
        p("storage", S),
        p("tmpdir", S),
        p("vmid", S),
        p("zstd", INT),
    ],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Modify"],
    },
);

/// `DELETE /cluster/backup/{id}`.
pub const DELETE_JOB: Endpoint = Endpoint::new(
    Method::Delete,
    "/cluster/backup/{id}",
    &[r("id", S)],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Modify"],
    },
);

/// `POST /nodes/{node}/vzdump`.
pub const VZDUMP: Endpoint = Endpoint::new(
    Method::Post,
    "/nodes/{node}/vzdump",
    &[
        p("node", S),
        p("all", B),
        p("bwlimit", Ty::Int(Some(0))),
        p("compress", Ty::Enum(&["0", "1", "gzip", "lzo", "zstd"])),
        p("dumpdir", S),
        p("exclude", S),
        p("exclude-path", Ty::Array),
        p("fleecing", S),
        p("ionice", Ty::Int(Some(0))),
        p("job-id", S),
        p("lockwait", Ty::Int(Some(0))),
        p("mailnotification", Ty::Enum(&["always", "failure"])),
        p("mailto", S),
        p("maxfiles", Ty::Int(Some(1))),
        p("mode", Ty::Enum(&["snapshot", "suspend", "stop"])),
        p("notes-template", S),
        p(
            "notification-mode",
            Ty::Enum(&["auto", "legacy-sendmail", "notification-system"]),
        ),
        p(
            "pbs-change-detection-mode",
            Ty::Enum(&["legacy", "data", "metadata"]),
        ),
        p("performance", S),
        p("pigz", INT),
        p("pool", S),
        p("protected", B),
        p("prune-backups", S),
        p("quiet", B),
        p("remove", B),
        p("script", S),
        p("stdexcludes", B),
        p("stdout", B),
        p("stop", B),
        p("stopwait", Ty::Int(Some(0))),
        p("storage", S),
        p("tmpdir", S),
        p("vmid", S),
        p("zstd", INT),
    ],
    Privileges::Unchecked,
);
