//! The endpoints the simulator serves, with their parameter schemas (names,
//! types, required flags, enums) as in Proxmox's API schema. Anything not
//! listed answers 501 like Proxmox does for unknown paths.

/// A parameter type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// `integer` (`^[+-]?\d+$`), with an optional minimum.
    Int(Option<i64>),
    /// `boolean`: `0`/`1` only.
    Bool,
    /// `string`.
    Str,
    /// `string` with an enumeration.
    Enum(&'static [&'static str]),
    /// `number`: a decimal number.
    Number,
    /// `array`: the parameter may repeat; its values are kept apart
    /// ([`ARRAY_SEPARATOR`] between them).
    Array,
}

/// What separates the values of an [`Ty::Array`] parameter in the decoded
/// parameter map (a character no form value can hold).
pub const ARRAY_SEPARATOR: char = '\0';

/// A parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// Name.
    pub name: &'static str,
    /// Type.
    pub ty: Ty,
    /// Required.
    pub required: bool,
}

const fn p(name: &'static str, ty: Ty) -> Param {
    Param {
        name,
        ty,
        required: false,
    }
}

const fn r(name: &'static str, ty: Ty) -> Param {
    Param {
        name,
        ty,
        required: true,
    }
}

const INT: Ty = Ty::Int(None);
const VMID: Ty = Ty::Int(Some(100));
const S: Ty = Ty::Str;
const B: Ty = Ty::Bool;

/// Extra parameters a route accepts beyond its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// None.
    None,
    /// Any VM config key (`net0`, `scsi0`, `cores`, ...).
    VmConfig,
}

/// A route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path template below `/api2/json`.
    pub template: &'static str,
    /// Parameters (path parameters included).
    pub params: &'static [Param],
    /// Extra parameters.
    pub extra: Extra,
    /// Whether API tokens may call it (`allowtoken`).
    pub allow_token: bool,
    /// Whether it needs no authentication.
    pub public: bool,
}

const DISKS: &[&str] = &[
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

const fn route(method: &'static str, template: &'static str, params: &'static [Param]) -> Route {
    Route {
        method,
        template,
        params,
        extra: Extra::None,
        allow_token: true,
        public: false,
    }
}

/// Every served route.
pub const ROUTES: &[Route] = &[
    route("GET", "/version", &[]),
    route("GET", "/nodes", &[]),
    route("GET", "/cluster/status", &[]),
    route("GET", "/nodes/{node}/status", &[r("node", S)]),
    route("GET", "/cluster/tasks", &[]),
    route(
        "GET",
        "/nodes/{node}/tasks",
        &[
            r("node", S),
            p("errors", B),
            p("limit", INT),
            p("since", INT),
            p("source", Ty::Enum(&["archive", "active", "all"])),
            p("start", INT),
            p("statusfilter", S),
            p("typefilter", S),
            p("until", INT),
            p("userfilter", S),
            p("vmid", VMID),
        ],
    ),
    route(
        "GET",
        "/nodes/{node}/storage/{storage}/status",
        &[r("node", S), r("storage", S)],
    ),
    route("GET", "/access/acl", &[]),
    route("GET", "/access/roles", &[]),
    route(
        "GET",
        "/access/permissions",
        &[p("path", S), p("userid", S)],
    ),
    route("GET", "/access/users", &[p("enabled", B), p("full", B)]),
    route("GET", "/access/users/{userid}/token", &[r("userid", S)]),
    route(
        "GET",
        "/nodes/{node}/qemu/{vmid}/cloudinit",
        &[r("node", S), r("vmid", VMID)],
    ),
    route(
        "PUT",
        "/nodes/{node}/qemu/{vmid}/cloudinit",
        &[r("node", S), r("vmid", VMID)],
    ),
    route(
        "GET",
        "/nodes/{node}/qemu/{vmid}/cloudinit/dump",
        &[
            r("node", S),
            r("vmid", VMID),
            r("type", Ty::Enum(&["user", "network", "meta"])),
        ],
    ),
    route(
        "GET",
        "/cluster/resources",
        &[p("type", Ty::Enum(&["vm", "storage", "node", "sdn"]))],
    ),
    route("GET", "/cluster/nextid", &[p("vmid", VMID)]),
    Route {
        public: true,
        allow_token: false,
        ..route(
            "POST",
            "/access/ticket",
            &[
                r("username", S),
                r("password", S),
                p("realm", S),
                p("otp", S),
                p("path", S),
                p("privs", S),
                p("tfa-challenge", S),
                p("new-format", B),
            ],
        )
    },
    route(
        "POST",
        "/access/users",
        &[
            r("userid", S),
            p("password", S),
            p("comment", S),
            p("email", S),
            p("enable", B),
            p("expire", INT),
            p("firstname", S),
            p("lastname", S),
            p("groups", S),
            p("keys", S),
        ],
    ),
    route(
        "POST",
        "/access/users/{userid}/token/{tokenid}",
        &[
            r("userid", S),
            r("tokenid", S),
            p("comment", S),
            p("expire", INT),
            p("privsep", B),
        ],
    ),
    route("DELETE", "/access/users/{userid}", &[r("userid", S)]),
    route(
        "DELETE",
        "/access/users/{userid}/token/{tokenid}",
        &[r("userid", S), r("tokenid", S)],
    ),
    route(
        "PUT",
        "/access/acl",
        &[
            r("path", S),
            r("roles", S),
            p("users", S),
            p("tokens", S),
            p("groups", S),
            p("propagate", B),
            p("delete", B),
        ],
    ),
    route("POST", "/pools", &[r("poolid", S), p("comment", S)]),
    route(
        "GET",
        "/pools",
        &[
            p("poolid", S),
            p("type", Ty::Enum(&["qemu", "lxc", "storage"])),
        ],
    ),
    route(
        "POST",
        "/nodes/{node}/qemu/{vmid}/agent/ping",
        &[r("node", S), r("vmid", VMID)],
    ),
    route(
        "DELETE",
        "/nodes/{node}/storage/{storage}/content/{volume}",
        &[
            r("node", S),
            p("storage", S),
            r("volume", S),
            p("delay", INT),
        ],
    ),
    route("GET", "/nodes/{node}/qemu", &[r("node", S), p("full", B)]),
    Route {
        extra: Extra::VmConfig,
        ..route(
            "POST",
            "/nodes/{node}/qemu",
            &[
                r("node", S),
                r("vmid", VMID),
                p("pool", S),
                p("start", B),
                p("archive", S),
                p("bwlimit", INT),
                p("force", B),
                p("import-working-storage", S),
                p("ha-managed", B),
                p("live-restore", B),
                p("storage", S),
                p("unique", B),
            ],
        )
    },
    route(
        "GET",
        "/nodes/{node}/qemu/{vmid}/config",
        &[
            r("node", S),
            r("vmid", VMID),
            p("current", B),
            p("snapshot", S),
        ],
    ),
    Route {
        extra: Extra::VmConfig,
        ..route(
            "POST",
            "/nodes/{node}/qemu/{vmid}/config",
            &[
                r("node", S),
                r("vmid", VMID),
                p("delete", S),
                p("revert", S),
                p("digest", S),
                p("skiplock", B),
                p("force", B),
                p("background_delay", INT),
                p("import-working-storage", S),
            ],
        )
    },
    Route {
        extra: Extra::VmConfig,
        ..route(
            "PUT",
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
        )
    },
    route(
        "GET",
        "/nodes/{node}/qemu/{vmid}/pending",
        &[r("node", S), r("vmid", VMID)],
    ),
    route(
        "PUT",
        "/nodes/{node}/qemu/{vmid}/resize",
        &[
            r("node", S),
            r("vmid", VMID),
            r("disk", Ty::Enum(DISKS)),
            r("size", S),
            p("digest", S),
            p("skiplock", B),
        ],
    ),
    route(
        "POST",
        "/nodes/{node}/qemu/{vmid}/template",
        &[r("node", S), r("vmid", VMID), p("disk", Ty::Enum(DISKS))],
    ),
    route(
        "POST",
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
            p("bwlimit", INT),
        ],
    ),
    route(
        "GET",
        "/nodes/{node}/qemu/{vmid}/status/current",
        &[r("node", S), r("vmid", VMID)],
    ),
    route(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/start",
        &[
            r("node", S),
            r("vmid", VMID),
            p("skiplock", B),
            p("timeout", INT),
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
    ),
    route(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/stop",
        &[
            r("node", S),
            r("vmid", VMID),
            p("skiplock", B),
            p("timeout", INT),
            p("keepActive", B),
            p("migratedfrom", S),
            p("overrule-shutdown", B),
        ],
    ),
    route(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/shutdown",
        &[
            r("node", S),
            r("vmid", VMID),
            p("skiplock", B),
            p("timeout", INT),
            p("forceStop", B),
            p("keepActive", B),
        ],
    ),
    route(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/reboot",
        &[r("node", S), r("vmid", VMID), p("timeout", INT)],
    ),
    route(
        "DELETE",
        "/nodes/{node}/qemu/{vmid}",
        &[
            r("node", S),
            r("vmid", VMID),
            p("purge", B),
            p("destroy-unreferenced-disks", B),
            p("skiplock", B),
        ],
    ),
    route(
        "POST",
        "/nodes/{node}/qemu/{vmid}/migrate",
        &[
            r("node", S),
            r("vmid", VMID),
            r("target", S),
            p("online", B),
            p("with-local-disks", B),
            p("force", B),
            p("bwlimit", INT),
            p("migration_network", S),
            p("migration_type", Ty::Enum(&["secure", "insecure"])),
            p("targetstorage", S),
            p("with-conntrack-state", B),
        ],
    ),
    route(
        "GET",
        "/nodes/{node}/qemu/{vmid}/snapshot",
        &[r("node", S), r("vmid", VMID)],
    ),
    route(
        "POST",
        "/nodes/{node}/qemu/{vmid}/snapshot",
        &[
            r("node", S),
            r("vmid", VMID),
            r("snapname", S),
            p("description", S),
            p("vmstate", B),
        ],
    ),
    route(
        "DELETE",
        "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}",
        &[
            r("node", S),
            r("vmid", VMID),
            r("snapname", S),
            p("force", B),
        ],
    ),
    route(
        "POST",
        "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback",
        &[
            r("node", S),
            r("vmid", VMID),
            r("snapname", S),
            p("start", B),
        ],
    ),
    route(
        "GET",
        "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
        &[r("node", S), r("vmid", VMID)],
    ),
    route(
        "GET",
        "/nodes/{node}/tasks/{upid}/status",
        &[r("node", S), r("upid", S)],
    ),
    route(
        "GET",
        "/nodes/{node}/tasks/{upid}/log",
        &[
            r("node", S),
            r("upid", S),
            p("start", INT),
            p("limit", INT),
            p("download", B),
        ],
    ),
    route(
        "GET",
        "/nodes/{node}/storage",
        &[
            r("node", S),
            p("content", S),
            p("enabled", B),
            p("format", B),
            p("storage", S),
            p("target", S),
        ],
    ),
    route(
        "GET",
        "/nodes/{node}/storage/{storage}/content",
        &[
            r("node", S),
            r("storage", S),
            p("content", S),
            p("vmid", VMID),
        ],
    ),
    route(
        "POST",
        "/nodes/{node}/storage/{storage}/download-url",
        &[
            r("node", S),
            r("storage", S),
            r("url", S),
            r("content", Ty::Enum(&["iso", "vztmpl", "import"])),
            r("filename", S),
            p("checksum", S),
            p(
                "checksum-algorithm",
                Ty::Enum(&["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]),
            ),
            p("compression", S),
            p("verify-certificates", B),
        ],
    ),
    route(
        "POST",
        "/nodes/{node}/storage/{storage}/upload",
        &[
            r("node", S),
            r("storage", S),
            r("content", Ty::Enum(&["iso", "vztmpl", "import"])),
            r("filename", S),
            p("checksum", S),
            p(
                "checksum-algorithm",
                Ty::Enum(&["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]),
            ),
            p("tmpfilename", S),
        ],
    ),
    // Added for the clients of issue 13 (proxmoxer, Terraform, Ansible).
    route(
        "GET",
        "/storage",
        &[p(
            "type",
            Ty::Enum(&[
                "btrfs",
                "cephfs",
                "cifs",
                "dir",
                "esxi",
                "iscsi",
                "iscsidirect",
                "lvm",
                "lvmthin",
                "nfs",
                "pbs",
                "rbd",
                "zfs",
                "zfspool",
            ]),
        )],
    ),
    route("GET", "/storage/{storage}", &[r("storage", S)]),
    route("GET", "/access/users/{userid}", &[r("userid", S)]),
    route(
        "PUT",
        "/pools",
        &[
            p("allow-move", B),
            p("comment", S),
            p("delete", B),
            r("poolid", S),
            p("storage", S),
            p("vms", S),
        ],
    ),
    route("DELETE", "/pools", &[r("poolid", S)]),
    route(
        "GET",
        "/pools/{poolid}",
        &[
            r("poolid", S),
            p("type", Ty::Enum(&["qemu", "lxc", "storage"])),
        ],
    ),
    route(
        "PUT",
        "/pools/{poolid}",
        &[
            r("poolid", S),
            p("allow-move", B),
            p("comment", S),
            p("delete", B),
            p("storage", S),
            p("vms", S),
        ],
    ),
    route("DELETE", "/pools/{poolid}", &[r("poolid", S)]),
    route(
        "GET",
        "/nodes/{node}/network",
        &[
            r("node", S),
            p(
                "type",
                Ty::Enum(&[
                    "bridge",
                    "bond",
                    "eth",
                    "alias",
                    "vlan",
                    "fabric",
                    "OVSBridge",
                    "OVSBond",
                    "OVSPort",
                    "OVSIntPort",
                    "vnet",
                    "any_bridge",
                    "any_local_bridge",
                    "include_sdn",
                ]),
            ),
        ],
    ),
    route(
        "GET",
        "/nodes/{node}/network/{iface}",
        &[r("node", S), r("iface", S)],
    ),
    route("GET", "/cluster/backup", &[]),
    route(
        "POST",
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
    ),
    route("GET", "/cluster/backup/{id}", &[r("id", S)]),
    route(
        "PUT",
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
    ),
    route("DELETE", "/cluster/backup/{id}", &[r("id", S)]),
    route(
        "POST",
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
    ),
    route(
        "GET",
        "/cluster/ha/resources",
        &[p("type", Ty::Enum(&["ct", "vm"]))],
    ),
    route(
        "POST",
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
    ),
    route("GET", "/cluster/ha/resources/{sid}", &[r("sid", S)]),
    route(
        "PUT",
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
    ),
    route(
        "DELETE",
        "/cluster/ha/resources/{sid}",
        &[r("sid", S), p("purge", B)],
    ),
    route(
        "POST",
        "/cluster/ha/resources/{sid}/migrate",
        &[r("sid", S), r("node", S)],
    ),
    route("GET", "/cluster/ha/groups", &[]),
    route(
        "POST",
        "/cluster/ha/groups",
        &[
            p("comment", S),
            r("group", S),
            r("nodes", S),
            p("nofailback", B),
            p("restricted", B),
            p("type", Ty::Enum(&["group"])),
        ],
    ),
    route("GET", "/cluster/ha/groups/{group}", &[r("group", S)]),
    route(
        "PUT",
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
    ),
    route("DELETE", "/cluster/ha/groups/{group}", &[r("group", S)]),
    route(
        "GET",
        "/nodes/{node}/qemu/{vmid}/agent/get-osinfo",
        &[r("node", S), r("vmid", VMID)],
    ),
    route(
        "POST",
        "/nodes/{node}/qemu/{vmid}/agent/exec",
        &[
            r("node", S),
            r("vmid", VMID),
            r("command", Ty::Array),
            p("input-data", S),
        ],
    ),
    route(
        "GET",
        "/nodes/{node}/qemu/{vmid}/agent/exec-status",
        &[r("node", S), r("vmid", VMID), r("pid", INT)],
    ),
    route(
        "GET",
        "/cluster/sdn/zones",
        &[
            p("pending", B),
            p("running", B),
            p(
                "type",
                Ty::Enum(&["evpn", "faucet", "qinq", "simple", "vlan", "vxlan"]),
            ),
        ],
    ),
    route(
        "GET",
        "/cluster/sdn/zones/{zone}",
        &[r("zone", S), p("pending", B), p("running", B)],
    ),
    route(
        "GET",
        "/cluster/sdn/vnets",
        &[p("pending", B), p("running", B)],
    ),
    route(
        "GET",
        "/cluster/sdn/vnets/{vnet}",
        &[r("vnet", S), p("pending", B), p("running", B)],
    ),
];

/// Finds the route for `method` and a path below `/api2/json`; returns the
/// route and the path parameters (already percent-decoded).
pub fn find(
    method: &str,
    segments: &[String],
) -> Option<(&'static Route, Vec<(&'static str, String)>)> {
    'routes: for route in ROUTES.iter().filter(|r| r.method == method) {
        let tmpl: Vec<&str> = route
            .template
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        if tmpl.len() != segments.len() {
            continue;
        }
        let mut vars = Vec::new();
        for (t, s) in tmpl.iter().zip(segments) {
            if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                if s.is_empty() {
                    continue 'routes;
                }
                vars.push((name, s.clone()));
            } else if t != s {
                continue 'routes;
            }
        }
        return Some((route, vars));
    }
    None
}

/// Whether any route exists for the path (with any method).
pub fn path_known(segments: &[String]) -> bool {
    ["GET", "POST", "PUT", "DELETE"]
        .iter()
        .any(|m| find(m, segments).is_some())
}
