//! QEMU VMs: list, create, configuration (pending changes, resize), template, clone, migrate, delete.

use super::*;

/// What changing a VM's configuration needs: any one of the `VM.Config.*` privileges (the
/// handler then checks each key's own).
const CONFIGURE: Privileges = Privileges::Perm {
    path: "/vms/{vmid}",
    any_of: &[
        "VM.Config.Disk",
        "VM.Config.CDROM",
        "VM.Config.CPU",
        "VM.Config.Memory",
        "VM.Config.Network",
        "VM.Config.HWType",
        "VM.Config.Options",
        "VM.Config.Cloudinit",
    ],
};

/// The drive keys `resize` and `template` accept.
pub const DISKS: &[&str] = &[
    "ide0",
    "ide1",
    "ide2",
    "ide3",
    "scsi0",
    "scsi1",
    "scsi2",
    "scsi3",
    "scsi4",
    "scsi5",
    "scsi6",
    "scsi7",
    "scsi8",
    "scsi9",
    "scsi10",
    "scsi11",
    "scsi12",
    "scsi13",
    "scsi14",
    "scsi15",
    "scsi16",
    "scsi17",
    "scsi18",
    "scsi19",
    "scsi20",
    "scsi21",
    "scsi22",
    "scsi23",
    "scsi24",
    "scsi25",
    "scsi26",
    "scsi27",
    "scsi28",
    "scsi29",
    "scsi30",
    "virtio0",
    "virtio1",
    "virtio2",
    "virtio3",
    "virtio4",
    "virtio5",
    "virtio6",
    "virtio7",
    "virtio8",
    "virtio9",
    "virtio10",
    "virtio11",
    "virtio12",
    "virtio13",
    "virtio14",
    "virtio15",
    "sata0",
    "sata1",
    "sata2",
    "sata3",
    "sata4",
    "sata5",
    "efidisk0",
    "tpmstate0",
];

/// `GET /nodes/{node}/qemu`.
pub const VMS: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/qemu",
    &[r("node", S), p("full", B)],
    Privileges::Unchecked,
);

/// `POST /nodes/{node}/qemu`.
pub const CREATE_VM: Endpoint = Endpoint::new(
    Method::Post,
    "/nodes/{node}/qemu",
    &[
        r("node", S),
        r("vmid", VMID),
        p("pool", S),
        p("start", B),
        p("archive", S),
        p("bwlimit", NATURAL),
        p("force", B),
        p("import-working-storage", S),
        p("ha-managed", B),
        p("live-restore", B),
        p("storage", S),
        p("unique", B),
    ],
    Privileges::Unchecked,
)
.with_vm_config();

/// `GET /nodes/{node}/qemu/{vmid}/config`.
pub const CONFIG: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/qemu/{vmid}/config",
    &[
        r("node", S),
        r("vmid", VMID),
        p("current", B),
        p("snapshot", S),
    ],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.Audit"],
    },
);

/// `POST /nodes/{node}/qemu/{vmid}/config`.
pub const UPDATE_CONFIG: Endpoint = Endpoint::new(
    Method::Post,
    "/nodes/{node}/qemu/{vmid}/config",
    &[
        r("node", S),
        r("vmid", VMID),
        p("delete", S),
        p("revert", S),
        p("digest", S),
        p("skiplock", B),
        p("force", B),
        p("background_delay", Ty::Int(Some(1))),
        p("import-working-storage", S),
    ],
    CONFIGURE,
)
.with_vm_config();

/// `PUT /nodes/{node}/qemu/{vmid}/config`.
pub const UPDATE_CONFIG_SYNC: Endpoint = Endpoint::new(
    Method::Put,
    "/nodes/{node}/qemu/{vmid}/config",
    &[
        r("node", S),
        r("vmid", VMID),
        p("delete", S),
        p("revert", S),
        p("digest", S),
        p("skiplock", B),
        p("force", B),
    ],
    CONFIGURE,
)
.with_vm_config();

/// `GET /nodes/{node}/qemu/{vmid}/pending`.
pub const PENDING: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/qemu/{vmid}/pending",
    &[r("node", S), r("vmid", VMID)],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.Audit"],
    },
);

/// `PUT /nodes/{node}/qemu/{vmid}/resize`.
pub const RESIZE: Endpoint = Endpoint::new(
    Method::Put,
    "/nodes/{node}/qemu/{vmid}/resize",
    &[
        r("node", S),
        r("vmid", VMID),
        r("disk", Ty::Enum(DISKS)),
        r("size", S),
        p("digest", S),
        p("skiplock", B),
    ],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.Config.Disk"],
    },
);

/// `POST /nodes/{node}/qemu/{vmid}/template`.
pub const TEMPLATE: Endpoint = Endpoint::new(
    Method::Post,
    "/nodes/{node}/qemu/{vmid}/template",
    &[r("node", S), r("vmid", VMID), p("disk", Ty::Enum(DISKS))],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.Allocate"],
    },
);

/// `POST /nodes/{node}/qemu/{vmid}/clone`.
pub const CLONE: Endpoint = Endpoint::new(
    Method::Post,
    "/nodes/{node}/qemu/{vmid}/clone",
    &[
        r("node", S),
        r("vmid", VMID),
        r("newid", VMID),
        p("name", S),
        p("description", S),
        p("pool", S),
        p("snapname", S),
        p("storage", S),
        p("format", Ty::Enum(&["raw", "qcow2", "vmdk"])),
        p("full", B),
        p("target", S),
        p("bwlimit", NATURAL),
    ],
    Privileges::Handler,
);

/// `DELETE /nodes/{node}/qemu/{vmid}`.
pub const DELETE_VM: Endpoint = Endpoint::new(
    Method::Delete,
    "/nodes/{node}/qemu/{vmid}",
    &[
        r("node", S),
        r("vmid", VMID),
        p("purge", B),
        p("destroy-unreferenced-disks", B),
        p("skiplock", B),
    ],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.Allocate"],
    },
);

/// `POST /nodes/{node}/qemu/{vmid}/migrate`.
pub const MIGRATE: Endpoint = Endpoint::new(
    Method::Post,
    "/nodes/{node}/qemu/{vmid}/migrate",
    &[
        r("node", S),
        r("vmid", VMID),
        r("target", S),
        p("online", B),
        p("with-local-disks", B),
        p("force", B),
        p("bwlimit", NATURAL),
        p("migration_network", S),
        p("migration_type", Ty::Enum(&["secure", "insecure"])),
        p("targetstorage", S),
        p("with-conntrack-state", B),
    ],
    Privileges::Perm {
        path: "/vms/{vmid}",
        any_of: &["VM.Migrate"],
    },
);
