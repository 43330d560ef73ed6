//! Backups: datacenter backup jobs and vzdump.

use super::*;

/// `&[...]`: the options `vzdump` and backup jobs share (a job's options are `vzdump`'s), with
/// `$extra` before them.
macro_rules! vzdump_options {
    ($($extra:expr),* $(,)?) => {
        &[
            $($extra,)*
            p("node", S),
            p("all", B),
            p("bwlimit", Ty::Int(Some(0))),
            p("compress", Ty::Enum(&["0", "1", "gzip", "lzo", "zstd"])),
            p("dumpdir", S),
            p("exclude", VMIDS),
            p("exclude-path", Ty::Array),
            p("fleecing", S),
            p("ionice", Ty::Int(Some(0))),
            p("lockwait", Ty::Int(Some(0))),
            p("mailnotification", Ty::Enum(&["always", "failure"])),
            p("mailto", S),
            p("maxfiles", Ty::Int(Some(1))),
            p("mode", Ty::Enum(&["snapshot", "suspend", "stop"])),
            p("notes-template", S),
            p("notification-mode", Ty::Enum(&["auto", "legacy-sendmail", "notification-system"])),
            p("pbs-change-detection-mode", Ty::Enum(&["legacy", "data", "metadata"])),
            p("performance", S),
            p("pigz", INT),
            p("pool", S),
            p("protected", B),
            p("prune-backups", S),
            p("quiet", B),
            p("remove", B),
            p("script", S),
            p("stdexcludes", B),
            p("stop", B),
            p("stopwait", Ty::Int(Some(0))),
            p("storage", S),
            p("tmpdir", S),
            p("vmid", VMIDS),
            p("zstd", INT),
        ]
    };
}

/// `&[...]`: a backup job's options (`vzdump`'s and its schedule's), with `$extra` before them.
macro_rules! job_options {
    ($($extra:expr),* $(,)?) => {
        vzdump_options![
            $($extra,)*
            p("comment", S),
            p("dow", S),
            p("enabled", B),
            p("repeat-missed", B),
            p("schedule", S),
            p("starttime", S),
        ]
    };
}

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
    job_options![p("id", S)],
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
    job_options![r("id", S), p("delete", S)],
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
    vzdump_options![p("job-id", S), p("stdout", B)],
    Privileges::Unchecked,
);
