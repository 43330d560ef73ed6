//! Every Proxmox VE endpoint labform calls or its simulator serves, declared once: method, path
//! template, parameters (names, types, required flags, enumerations as in Proxmox's API schema),
//! whether API tokens may call it, and the privileges Proxmox checks. One constant per endpoint,
//! in one module per resource; [`ALL`] lists them.
//!
//! What is derived from a declaration: the HTTPS client's request (method, path, the concurrency
//! limit's key, and its parameters, encoded by [`form`]), the simulator's routing, parameter
//! checks ([`Ty::check`]) and decoding into typed requests ([`form::decode`]), the schema contract test
//! (`crates/labform-simulator/tests/routes_schema.rs`), whether a call counts as a read or a
//! write ([`Endpoint::is_read`]), and the path errors and injected faults name.

pub mod access;
pub mod agent;
pub mod backup;
pub mod cloudinit;
pub mod cluster;
pub mod form;
pub mod ha;
pub mod network;
pub mod pools;
pub mod power;
pub mod qemu;
pub mod snapshots;
pub mod storage;
pub mod tasks;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`: reads.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }

    /// The method named `name` (upper case).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "GET" => Some(Self::Get),
            "POST" => Some(Self::Post),
            "PUT" => Some(Self::Put),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// `string` with a `-list` format (`pve-vmid-list`): items apart by `,`, `;` or spaces
    /// (PVE::Tools::split_list), each checked by the format; an empty list passes.
    List(Format),
}

/// A format Proxmox checks each item of a `-list` string parameter against
/// (pve-common's `JSONSchema.pm`, `register_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `pve-vmid`: `^[1-9][0-9]{2,8}$`.
    Vmid,
    /// `pve-storage-id`: `^[a-z][a-z0-9\-\_\.]*[a-z0-9]$`, any case.
    StorageId,
    /// `pve-task-status-type`: `ok`, `error`, `warning` or `unknown`, any case.
    TaskStatusType,
}

impl Format {
    /// The format's name in Proxmox's schema (`pve-vmid`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Vmid => "pve-vmid",
            Self::StorageId => "pve-storage-id",
            Self::TaskStatusType => "pve-task-status-type",
        }
    }

    /// Whether `item` is of this format; if not, what Proxmox's check dies with.
    pub fn check(self, item: &str) -> Result<(), String> {
        let ok = match self {
            Self::Vmid => {
                (3..=9).contains(&item.len())
                    && !item.starts_with('0')
                    && item.chars().all(|c| c.is_ascii_digit())
            }
            Self::StorageId => {
                let bytes = item.as_bytes();
                bytes.len() >= 2
                    && bytes[0].is_ascii_alphabetic()
                    && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                    && bytes
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            }
            Self::TaskStatusType => ["ok", "error", "warning", "unknown"]
                .iter()
                .any(|status| status.eq_ignore_ascii_case(item)),
        };
        if ok {
            return Ok(());
        }
        Err(match self {
            Self::Vmid => "value does not look like a valid VM ID".to_owned(),
            Self::StorageId => format!("storage ID '{item}' contains illegal characters"),
            Self::TaskStatusType => format!("invalid status '{item}'"),
        })
    }
}

/// The items of a `-list` string as Proxmox splits them (`PVE::Tools::split_list`): at `\0`
/// when the text holds one, else at runs of `,`, `;` and white space.
pub fn split_list(text: &str) -> Vec<&str> {
    if text.contains('\0') {
        return text.split('\0').collect();
    }
    text.split([',', ';', ' ', '\t', '\n', '\r'])
        .filter(|item| !item.is_empty())
        .collect()
}

impl Ty {
    /// Whether `value` is of this type on the wire; if not, what is wrong as Proxmox says it
    /// (`type check ('integer') failed - got 'x'`, `invalid format - ...`). A string and an
    /// array's item always are.
    pub fn check(self, value: &str) -> Result<(), String> {
        match self {
            Self::Int(minimum) => {
                let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
                if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                    return Err(format!("type check ('integer') failed - got '{value}'"));
                }
                match (minimum, value.parse::<i64>()) {
                    (Some(minimum), Ok(number)) if number < minimum => {
                        Err(format!("value must have a minimum value of {minimum}"))
                    }
                    _ => Ok(()),
                }
            }
            Self::Bool if value != "0" && value != "1" => {
                Err(format!("type check ('boolean') failed - got '{value}'"))
            }
            Self::Enum(values) if !values.contains(&value) => Err(format!(
                "value '{value}' does not have a value in the enumeration '{}'",
                values.join(", ")
            )),
            Self::Number if value.parse::<f64>().map_or(true, |n| !n.is_finite()) => {
                Err(format!("type check ('number') failed - got '{value}'"))
            }
            Self::List(format) => split_list(value)
                .into_iter()
                .try_for_each(|item| format.check(item))
                .map_err(|problem| format!("invalid format - {problem}")),
            _ => Ok(()),
        }
    }
}

/// What separates the values of an [`Ty::Array`] parameter in a decoded
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

/// Extra parameters an endpoint accepts beyond its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// None.
    None,
    /// Any VM config key (`net0`, `scsi0`, `cores`, ...).
    VmConfig,
}

/// The privileges Proxmox checks before an endpoint runs (its schema's `permissions.check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privileges {
    /// One of `any_of` on ACL path `path` (`{name}` is the parameter's value).
    Perm {
        /// ACL path template (`/vms/{vmid}`).
        path: &'static str,
        /// The caller needs one of these.
        any_of: &'static [&'static str],
    },
    /// A check the schema writes as an expression (`and`, `or`, `userid-param`, `perm-modify`):
    /// the handler carries it out.
    Handler,
    /// No check in the schema: any authenticated caller (or anyone, for a public endpoint); the
    /// answer holds what the caller may see.
    Unchecked,
}

/// One endpoint.
#[derive(Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Path template below `/api2/json` (`/nodes/{node}/qemu/{vmid}/config`).
    pub path: &'static str,
    /// HTTP method.
    pub method: Method,
    /// Parameters (path parameters included).
    pub params: &'static [Param],
    /// Extra parameters.
    pub extra: Extra,
    /// Whether API tokens may call it (`allowtoken`).
    pub allow_token: bool,
    /// Whether it needs no authentication.
    pub public: bool,
    /// What Proxmox checks.
    pub privileges: Privileges,
}

impl Endpoint {
    /// An endpoint API tokens may call, needing authentication.
    pub const fn new(
        method: Method,
        path: &'static str,
        params: &'static [Param],
        privileges: Privileges,
    ) -> Self {
        Self {
            path,
            method,
            params,
            extra: Extra::None,
            allow_token: true,
            public: false,
            privileges,
        }
    }

    /// Accepting any VM config key besides its parameters.
    pub const fn with_vm_config(self) -> Self {
        Self {
            extra: Extra::VmConfig,
            ..self
        }
    }

    /// Needing no authentication, and not callable with an API token (`/access/ticket`).
    pub const fn public(self) -> Self {
        Self {
            public: true,
            allow_token: false,
            ..self
        }
    }

    /// Whether a call only reads (`GET`); any other call counts as one that may change Proxmox.
    pub const fn is_read(&self) -> bool {
        matches!(self.method, Method::Get)
    }

    /// `METHOD /path/{template}`: the endpoint's name in limits, faults and logs.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The parameter `name`.
    pub fn param(&self, name: &str) -> Option<&'static Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The names of the path's parameters, in order.
    pub fn path_parameters(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
    }

    /// The path's segments with `arguments` in place of its parameters, in order (an argument
    /// missing leaves the parameter's `{name}`).
    pub fn segments<'a>(&'static self, arguments: &[&'a str]) -> Vec<&'a str> {
        let mut arguments = arguments.iter();
        self.path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.starts_with('{') {
                    arguments.next().copied().unwrap_or(s)
                } else {
                    s
                }
            })
            .collect()
    }

    /// The path with `arguments` in place of its parameters (not percent-encoded: for errors
    /// and logs).
    pub fn path_with(&'static self, arguments: &[&str]) -> String {
        let mut path = String::new();
        for segment in self.segments(arguments) {
            path.push('/');
            path.push_str(segment);
        }
        path
    }

    /// Whether the path's segments match `segments`; the path parameters' values if so.
    pub fn matches<'a>(&self, segments: &'a [String]) -> Option<Vec<(&'static str, &'a str)>> {
        let template = self.path.split('/').filter(|s| !s.is_empty());
        if template.clone().count() != segments.len() {
            return None;
        }
        let mut values = Vec::new();
        for (t, s) in template.zip(segments) {
            match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                Some(_) if s.is_empty() => return None,
                Some(name) => values.push((name, s.as_str())),
                None if t != s => return None,
                None => {}
            }
        }
        Some(values)
    }
}

/// The endpoint for `method` and a path's (percent-decoded) segments below `/api2/json`, with the
/// values of its path parameters.
pub fn find(
    method: Method,
    segments: &[String],
) -> Option<(&'static Endpoint, Vec<(&'static str, &str)>)> {
    ALL.iter()
        .filter(|e| e.method == method)
        .find_map(|e| e.matches(segments).map(|values| (*e, values)))
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
const NATURAL: Ty = Ty::Int(Some(0));
const VMID: Ty = Ty::Int(Some(100));
const S: Ty = Ty::Str;
const B: Ty = Ty::Bool;
const VMIDS: Ty = Ty::List(Format::Vmid);
const STORAGE_IDS: Ty = Ty::List(Format::StorageId);

/// Every endpoint.
pub static ALL: &[&Endpoint] = &[
    &cluster::VERSION,
    &cluster::NODES,
    &cluster::CLUSTER_STATUS,
    &cluster::NODE_STATUS,
    &tasks::CLUSTER_TASKS,
    &tasks::NODE_TASKS,
    &storage::STORAGE_STATUS,
    &access::ACL,
    &access::ROLES,
    &access::PERMISSIONS,
    &access::USERS,
    &access::TOKENS,
    &cloudinit::CLOUDINIT_PENDING,
    &cloudinit::REGENERATE_CLOUDINIT,
    &cloudinit::CLOUDINIT_DUMP,
    &cluster::RESOURCES,
    &cluster::NEXT_ID,
    &access::TICKET,
    &access::CREATE_USER,
    &access::CREATE_TOKEN,
    &access::DELETE_USER,
    &access::DELETE_TOKEN,
    &access::UPDATE_ACL,
    &pools::CREATE_POOL,
    &pools::POOLS,
    &agent::PING,
    &storage::DELETE_VOLUME,
    &qemu::VMS,
    &qemu::CREATE_VM,
    &qemu::CONFIG,
    &qemu::UPDATE_CONFIG,
    &qemu::UPDATE_CONFIG_SYNC,
    &qemu::PENDING,
    &qemu::RESIZE,
    &qemu::TEMPLATE,
    &qemu::CLONE,
    &power::STATUS,
    &power::START,
    &power::STOP,
    &power::SHUTDOWN,
    &power::REBOOT,
    &qemu::DELETE_VM,
    &qemu::MIGRATE,
    &snapshots::SNAPSHOTS,
    &snapshots::CREATE_SNAPSHOT,
    &snapshots::DELETE_SNAPSHOT,
    &snapshots::ROLLBACK,
    &agent::NETWORK_INTERFACES,
    &tasks::TASK_STATUS,
    &tasks::TASK_LOG,
    &storage::NODE_STORAGES,
    &storage::CONTENT,
    &storage::DOWNLOAD_URL,
    &storage::UPLOAD,
    &storage::STORAGE_CONFIGURATIONS,
    &storage::STORAGE_CONFIGURATION,
    &access::USER,
    &pools::UPDATE_POOLS,
    &pools::DELETE_POOLS,
    &pools::POOL,
    &pools::UPDATE_POOL,
    &pools::DELETE_POOL,
    &network::NETWORK,
    &network::INTERFACE,
    &backup::JOBS,
    &backup::CREATE_JOB,
    &backup::JOB,
    &backup::UPDATE_JOB,
    &backup::DELETE_JOB,
    &backup::VZDUMP,
    &ha::RESOURCES,
    &ha::CREATE_RESOURCE,
    &ha::RESOURCE,
    &ha::UPDATE_RESOURCE,
    &ha::DELETE_RESOURCE,
    &ha::MIGRATE_RESOURCE,
    &ha::GROUPS,
    &ha::CREATE_GROUP,
    &ha::GROUP,
    &ha::UPDATE_GROUP,
    &ha::DELETE_GROUP,
    &agent::OS_INFO,
    &agent::EXEC,
    &agent::EXEC_STATUS,
    &network::SDN_ZONES,
    &network::SDN_ZONE,
    &network::SDN_VNETS,
    &network::SDN_VNET,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `Endpoint` constant of this module's files is in [`ALL`], and no method and path is
    /// declared twice.
    #[test]
    fn every_declared_endpoint_is_listed_once() {
        let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/src/endpoint");
        let mut declared = 0;
        for entry in std::fs::read_dir(directory).expect("the endpoint modules") {
            let text = std::fs::read_to_string(entry.expect("an entry").path()).expect("a module");
            declared += text.matches(": Endpoint = Endpoint::new(").count();
        }
        assert_eq!(declared, ALL.len(), "declared endpoints missing from ALL");
        for (index, endpoint) in ALL.iter().enumerate() {
            assert!(
                ALL[index + 1..]
                    .iter()
                    .all(|other| other.key() != endpoint.key()),
                "{} declared twice",
                endpoint.key()
            );
        }
    }

    #[test]
    fn list_formats_check_each_item_as_proxmox_does() {
        let vmids = Ty::List(Format::Vmid);
        assert_eq!(vmids.check("100,101;102 103"), Ok(()));
        assert_eq!(vmids.check(""), Ok(()));
        assert_eq!(
            vmids.check("100,abc"),
            Err("invalid format - value does not look like a valid VM ID".to_owned())
        );
        assert!(vmids.check("99").is_err() && vmids.check("0100").is_err());
        assert_eq!(
            Ty::List(Format::StorageId).check("local,local lvm!"),
            Err("invalid format - storage ID 'lvm!' contains illegal characters".to_owned())
        );
        assert_eq!(Ty::List(Format::TaskStatusType).check("OK,error"), Ok(()));
        assert_eq!(
            Ty::List(Format::TaskStatusType).check("fine"),
            Err("invalid format - invalid status 'fine'".to_owned())
        );
        assert_eq!(split_list("a\0b,c"), ["a", "b,c"]);
    }

    #[test]
    fn paths_are_filled_and_matched() {
        let config = &qemu::CONFIG;
        assert_eq!(
            config.path_with(&["pve", "100"]),
            "/nodes/pve/qemu/100/config"
        );
        assert_eq!(
            config.path_parameters().collect::<Vec<_>>(),
            ["node", "vmid"]
        );
        let segments: Vec<String> = ["nodes", "pve", "qemu", "100", "config"]
            .map(str::to_owned)
            .to_vec();
        let (found, values) = find(Method::Put, &segments).expect("routed");
        assert_eq!(found, &qemu::UPDATE_CONFIG_SYNC);
        assert_eq!(values, [("node", "pve"), ("vmid", "100")]);
        assert!(find(Method::Get, &segments[..4]).is_none());
        assert!(qemu::CONFIG.is_read() && !qemu::UPDATE_CONFIG.is_read());
    }
}
