//! A VM's snapshots: list, take, delete, roll back.

use super::*;

/// `GET /nodes/{node}/qemu/{vmid}/snapshot`.
pub const SNAPSHOTS: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/qemu/{vmid}/snapshot",
    &[r("node", S), r("vmid", VMID)],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.Audit"],
    },
);

/// `POST /nodes/{node}/qemu/{vmid}/snapshot`.
pub const CREATE_SNAPSHOT: Endpoint = Endpoint::new(
    Method::Post,
    "/nodes/{node}/qemu/{vmid}/snapshot",
    &[
        r("node", S),
        r("vmid", VMID),
        r("snapname", S),
        p("description", S),
        p("vmstate", B),
    ],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.Snapshot"],
    },
);

/// `DELETE /nodes/{node}/qemu/{vmid}/snapshot/{snapname}`.
pub const DELETE_SNAPSHOT: Endpoint = Endpoint::new(
    Method::Delete,
    "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}",
    &[
        r("node", S),
        r("vmid", VMID),
        r("snapname", S),
        p("force", B),
    ],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.Snapshot"],
    },
);

/// `POST /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback`.
pub const ROLLBACK: Endpoint = Endpoint::new(
    Method::Post,
    "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback",
    &[
        r("node", S),
        r("vmid", VMID),
        r("snapname", S),
        p("start", B),
    ],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.Snapshot", "VM.Snapshot.Rollback"],
    },
);
