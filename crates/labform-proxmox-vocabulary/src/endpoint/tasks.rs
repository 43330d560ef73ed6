//! Tasks: the cluster's and a node's task lists, one task's status and log.

use super::*;

/// `GET /cluster/tasks`.
pub const CLUSTER_TASKS: Endpoint =
    Endpoint::new(Method::Get, "/cluster/tasks", &[], Privileges::Unchecked);

/// `GET /nodes/{node}/tasks`.
pub const NODE_TASKS: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/tasks",
    &[
        r("node", S),
        p("errors", B),
        p("limit", NATURAL),
        p("since", INT),
        p("source", Ty::Enum(&["archive", "active", "all"])),
        p("start", NATURAL),
        p("statusfilter", Ty::List(Format::TaskStatusType)),
        p("typefilter", S),
        p("until", INT),
        p("userfilter", S),
        p("vmid", VMID),
    ],
    Privileges::Unchecked,
);

/// `GET /nodes/{node}/tasks/{upid}/status`.
pub const TASK_STATUS: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/tasks/{upid}/status",
    &[r("node", S), r("upid", S)],
    Privileges::Unchecked,
);

/// `GET /nodes/{node}/tasks/{upid}/log`.
pub const TASK_LOG: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/tasks/{upid}/log",
    &[
        r("node", S),
        r("upid", S),
        p("start", NATURAL),
        p("limit", NATURAL),
        p("download", B),
    ],
    Privileges::Unchecked,
);
