//! The QEMU guest agent: ping, network interfaces, OS information, exec.

use super::*;

/// `POST /nodes/{node}/qemu/{vmid}/agent/ping`.
pub const PING: Endpoint = Endpoint::new(
    Method::Post,
    "/nodes/{node}/qemu/{vmid}/agent/ping",
    &[r("node", S), r("vmid", VMID)],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"],
    },
);

/// `GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces`.
pub const NETWORK_INTERFACES: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
    &[r("node", S), r("vmid", VMID)],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"],
    },
);

/// `GET /nodes/{node}/qemu/{vmid}/agent/get-osinfo`.
pub const OS_INFO: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/qemu/{vmid}/agent/get-osinfo",
    &[r("node", S), r("vmid", VMID)],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"],
    },
);

/// `POST /nodes/{node}/qemu/{vmid}/agent/exec`.
pub const EXEC: Endpoint = Endpoint::new(
    Method::Post,
    "/nodes/{node}/qemu/{vmid}/agent/exec",
    &[
        r("node", S),
        r("vmid", VMID),
        r("command", Ty::Array),
        p("input-data", S),
    ],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.GuestAgent.Unrestricted"],
    },
);

/// `GET /nodes/{node}/qemu/{vmid}/agent/exec-status`.
pub const EXEC_STATUS: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/qemu/{vmid}/agent/exec-status",
    &[r("node", S), r("vmid", VMID), r("pid", INT)],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.GuestAgent.Unrestricted"],
    },
);
