//! The cluster and its nodes: version, node list and status, resources, the next free VMID.

use super::*;

/// `GET /version`.
pub const VERSION: Endpoint = Endpoint::new(Method::Get, "/version", &[], Privileges::Unchecked);

/// `GET /nodes`.
pub const NODES: Endpoint = Endpoint::new(Method::Get, "/nodes", &[], Privileges::Unchecked);

/// `GET /cluster/status`.
pub const CLUSTER_STATUS: Endpoint = Endpoint::new(
    Method::Get,
    "/cluster/status",
    &[],
    Privileges::Perm {
        path: "/",
        any_of: &["Sys.Audit"],
    },
);

/// `GET /nodes/{node}/status`.
pub const NODE_STATUS: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/status",
    &[r("node", S)],
    Privileges::Perm {
        path: "/nodes/{node}",
        any_of: &["Sys.Audit"],
    },
);

/// `GET /cluster/resources`.
pub const RESOURCES: Endpoint = Endpoint::new(
    Method::Get,
    "/cluster/resources",
    &[p("type", Ty::Enum(&["vm", "storage", "node", "sdn"]))],
    Privileges::Unchecked,
);

/// `GET /cluster/nextid`.
pub const NEXT_ID: Endpoint = Endpoint::new(
    Method::Get,
    "/cluster/nextid",
    &[p("vmid", VMID)],
    Privileges::Unchecked,
);
