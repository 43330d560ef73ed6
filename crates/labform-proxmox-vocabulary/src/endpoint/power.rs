//! A VM's power: current status, start, stop, shutdown, reboot.

use super::*;

/// `GET /nodes/{node}/qemu/{vmid}/status/current`.
pub const STATUS: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/qemu/{vmid}/status/current",
    &[r("node", S), r("vmid", VMID)],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.Audit"],
    },
);

/// `POST /nodes/{node}/qemu/{vmid}/status/start`.
pub const START: Endpoint = Endpoint::new(
    Method::Post,
    "/nodes/{node}/qemu/{vmid}/status/start",
    &[
        r("node", S),
        r("vmid", VMID),
        p("skiplock", B),
        p("timeout", NATURAL),
        p("force-cpu", S),
        p("machine", S),
        p("migratedfrom", S),
        p("migration_network", S),
        p("migration_type", Ty::Enum(&["secure", "insecure"])),
        p("nets-host-mtu", S),
        p("stateuri", S),
        p("targetstorage", S),
        p("with-conntrack-state", B),
    ],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.PowerMgmt"],
    },
);

/// `POST /nodes/{node}/qemu/{vmid}/status/stop`.
pub const STOP: Endpoint = Endpoint::new(
    Method::Post,
    "/nodes/{node}/qemu/{vmid}/status/stop",
    &[
        r("node", S),
        r("vmid", VMID),
        p("skiplock", B),
        p("timeout", NATURAL),
        p("keepActive", B),
        p("migratedfrom", S),
        p("overrule-shutdown", B),
    ],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.PowerMgmt"],
    },
);

/// `POST /nodes/{node}/qemu/{vmid}/status/shutdown`.
pub const SHUTDOWN: Endpoint = Endpoint::new(
    Method::Post,
    "/nodes/{node}/qemu/{vmid}/status/shutdown",
    &[
        r("node", S),
        r("vmid", VMID),
        p("skiplock", B),
        p("timeout", NATURAL),
        p("forceStop", B),
        p("keepActive", B),
    ],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.PowerMgmt"],
    },
);

/// `POST /nodes/{node}/qemu/{vmid}/status/reboot`.
pub const REBOOT: Endpoint = Endpoint::new(
    Method::Post,
    "/nodes/{node}/qemu/{vmid}/status/reboot",
    &[r("node", S), r("vmid", VMID), p("timeout", NATURAL)],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.PowerMgmt"],
    },
);
