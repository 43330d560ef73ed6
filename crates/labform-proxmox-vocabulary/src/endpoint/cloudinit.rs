//! A VM's cloud-init: pending changes, regeneration, the generated configuration.

use super::*;

/// `GET /nodes/{node}/qemu/{vmid}/cloudinit`.
pub const CLOUDINIT_PENDING: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/qemu/{vmid}/cloudinit",
    &[r("node", S), r("vmid", VMID)],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.Audit"],
    },
);

/// `PUT /nodes/{node}/qemu/{vmid}/cloudinit`.
pub const REGENERATE_CLOUDINIT: Endpoint = Endpoint::new(
    Method::Put,
    "/nodes/{node}/qemu/{vmid}/cloudinit",
    &[r("node", S), r("vmid", VMID)],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.Config.Cloudinit"],
    },
);

/// `GET /nodes/{node}/qemu/{vmid}/cloudinit/dump`.
pub const CLOUDINIT_DUMP: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/qemu/{vmid}/cloudinit/dump",
    &[
        r("node", S),
        r("vmid", VMID),
        r("type", Ty::Enum(&["user", "network", "meta"])),
    ],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.Audit"],
    },
);
