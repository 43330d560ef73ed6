//! The lab file's types: what a person writes in YAML, one Rust type per section.
//!
//! These types are the single source of truth for the file format: serde reads them, schemars
//! derives the published JSON Schema from them, and the planner consumes them. Every struct
//! refuses unknown keys so a typo is an error with a suggestion, never a silently ignored line.
//!
//! Items of top-level lists carry a [`Source`] (not part of the file format) recording which file
//! and which position they came from, so diagnostics can point at them after includes are merged.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

pub use labform_ids::cluster::{CentralService, Cni, Distribution};

use crate::addons::Addons;
use crate::secret::SecretRef;
use crate::source::Source;
use crate::units::{AddressRange, ByteSize, IdRange};

/// One lab file (or an included fragment of one). Every section is optional in a fragment; the
/// root file must name the lab.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "labform lab file")]
pub struct LabFile {
    /// Editors' schema hint (`$schema: ./lab.schema.json`); ignored by labform.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The lab's name: a DNS label. It is written on every VM labform creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab: Option<String>,
    /// Ownership scope (default: the lab name). Two lab files that share a Proxmox must use different
    /// scopes; labform only ever changes or deletes VMs tagged with its own scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Fragments to include, relative to this file. Their lists are merged before this file's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<PathBuf>,
    /// Proxmox VE clusters (endpoints) the lab runs on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxmox: Vec<ProxmoxEndpoint>,
    /// Cloud images and ISOs the lab's VMs boot from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    /// Layer-2 networks (Proxmox bridges, optionally VLAN-tagged) with their IPv4 subnets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Network>,
    /// Kubernetes clusters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<Cluster>,
    /// Plain VMs that are not Kubernetes nodes (NAS, DNS/DHCP servers, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vms: Vec<PlainVm>,
    /// Environments (dev, staging, prod): every cluster exists once per environment, changed by
    /// the environment's overlay.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<Environment>,
    /// Tenants: who owns which clusters and which central services they reach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<Tenant>,
    /// Node defaults applied to every VM labform creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<Defaults>,
    /// Where this fragment was read from (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}

impl LabFile {
    /// The lab's name (empty when the file has none, which validation reports).
    pub fn name(&self) -> &str {
        self.lab.as_deref().unwrap_or_default()
    }

    /// The ownership scope: `scope:` when given, otherwise the lab's name. Every layer that marks,
    /// finds or journals what the lab owns uses this one value.
    pub fn scope(&self) -> &str {
        self.scope.as_deref().unwrap_or_else(|| self.name())
    }
}

/// Settings shared by every VM unless a group says otherwise.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// The login user cloud-init creates (default `labform`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Public SSH keys allowed to log in as that user (public keys are not secrets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_keys: Vec<String>,
    /// The image VMs boot from when a group names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Timezone written by cloud-init.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Extra packages cloud-init installs on every VM.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// Source of this section (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}

/// A Proxmox VE cluster reached through one API endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxmoxEndpoint {
    /// A name for this Proxmox cluster, used by clusters and VMs to choose where they run.
    pub name: String,
    /// The API URL, e.g. `https://pve1.lan:8006`.
    pub endpoint: String,
    /// SHA-256 fingerprint of the API's TLS certificate to pin (`AA:BB:...`, 32 bytes). Without it,
    /// the certificate must chain to the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// How labform authenticates.
    pub credentials: Credentials,
    /// The Proxmox nodes (hosts) of this cluster.
    pub nodes: Vec<ProxmoxNode>,
    /// The storages of this cluster.
    pub storages: Vec<Storage>,
    /// VM IDs labform may give to this lab's VMs (default `1000-8999`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_ids: Option<IdRange>,
    /// VM IDs for templates made from images (default `9000-9999`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_ids: Option<IdRange>,
    /// How far VMs may exceed each node's physical capacity. Explicit: the default is none.
    #[serde(default)]
    pub overcommit: Overcommit,
    /// Proxmox resource pool for this lab's VMs (tenants get their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}

/// API credentials, by reference only.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// An API token: `{token: {id: "labform@pve!lab", secret: {env: PVE_TOKEN_SECRET}}}`.
    Token(TokenCredentials),
    /// A user and password, exchanged for a ticket.
    Password(PasswordCredentials),
}

/// An API token.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCredentials {
    /// The token ID, `USER@REALM!TOKENID`.
    pub id: String,
    /// Where the token's secret is.
    pub secret: SecretRef,
}

/// A user and a password reference.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordCredentials {
    /// The user, `USER@REALM`.
    pub user: String,
    /// Where the password is.
    pub password: SecretRef,
}

/// Overcommit ratios: how much of a node's capacity VMs may claim. `1.0` means no overcommit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Overcommit {
    /// vCPUs per physical thread (default 1.0).
    #[serde(default = "one")]
    pub cpu: f64,
    /// Memory ratio (default 1.0; ballooning aside, more is rarely wise).
    #[serde(default = "one")]
    pub memory: f64,
    /// Disk space ratio for thin-provisioned storage (default 1.0).
    #[serde(default = "one")]
    pub storage: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for Overcommit {
    fn default() -> Self {
        Self {
            cpu: 1.0,
            memory: 1.0,
            storage: 1.0,
        }
    }
}

/// A Proxmox node (a physical host).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxmoxNode {
    /// The node's name in Proxmox (`pve1`).
    pub name: String,
    /// Hardware threads available to VMs.
    pub cpu: u32,
    /// Memory available to VMs (leave room for the host).
    pub memory: ByteSize,
    /// Free-form labels, for people and for placement rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}

/// What a storage holds, as Proxmox's `content` types.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StorageContent {
    /// VM disks.
    Images,
    /// ISO images (cloud-init seed ISOs, installer ISOs).
    Iso,
    /// Disk images to import (cloud images fetched with download-url).
    Import,
    /// Snippets (cloud-init custom files).
    Snippets,
    /// Backups (vzdump).
    Backup,
    /// Container templates.
    Vztmpl,
    /// Container root disks.
    Rootdir,
}

/// A Proxmox storage.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// The storage ID (`local-lvm`).
    pub name: String,
    /// What it may hold.
    pub content: Vec<StorageContent>,
    /// Usable capacity (per node for local storage, in total for shared storage).
    pub capacity: ByteSize,
    /// Whether every node sees the same storage (NFS, Ceph, GlusterFS).
    #[serde(default)]
    pub shared: bool,
    /// Backend type, for people and for clone rules (`lvmthin`, `zfspool`, `dir`, `nfs`, `glusterfs`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// Nodes that have this storage (default: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}

/// What kind of image an image entry is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ImageKind {
    /// A cloud image (qcow2/raw) with cloud-init: labform makes a template from it and clones it.
    #[default]
    CloudImage,
    /// An installer ISO (TrueNAS, Talos): attached as a CD-ROM to an empty disk.
    Iso,
}

/// The disk format of a cloud image, as Proxmox's `import` content names its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// QEMU copy-on-write (`QFI\xfb` at the start of the file).
    Qcow2,
    /// A raw disk image.
    Raw,
    /// VMware's disk format.
    Vmdk,
}

impl ImageFormat {
    /// The format's name and file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Qcow2 => "qcow2",
            ImageFormat::Raw => "raw",
            ImageFormat::Vmdk => "vmdk",
        }
    }

    /// The format a file name's extension names, if any (`.img` names none: it is used for
    /// qcow2 and raw images alike).
    pub fn from_file_name(name: &str) -> Option<Self> {
        let (_, extension) = name.rsplit_once('.')?;
        match extension.to_ascii_lowercase().as_str() {
            "qcow2" => Some(ImageFormat::Qcow2),
            "raw" => Some(ImageFormat::Raw),
            "vmdk" => Some(ImageFormat::Vmdk),
            _ => None,
        }
    }
}

/// A cloud image or ISO, fetched by URL and checked against its checksum.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// Name VMs use to refer to it.
    pub name: String,
    /// Where Proxmox downloads it from.
    pub url: String,
    /// `sha256:<hex>` or `sha512:<hex>`.
    pub checksum: String,
    /// Cloud image (default) or ISO.
    #[serde(default)]
    pub kind: ImageKind,
    /// Disk format of a cloud image. Needed when the URL's file name does not say it: Ubuntu's
    /// `.img` cloud images are qcow2. The image is stored under a name with this extension, the
    /// only names Proxmox accepts for imports, and read as this format when the template's disk
    /// is imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ImageFormat>,
    /// Operating system family, for people (`debian-12`, `ubuntu-24.04`, `talos`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Storage the image is downloaded to (default: the first storage with `import` or `iso` content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}

impl Image {
    /// The last segment of the URL's path (without a query), or the image's name.
    pub fn url_file_name(&self) -> &str {
        let path = self.url.split(['?', '#']).next().unwrap_or_default();
        match path.rsplit('/').next() {
            Some(name) if !name.is_empty() => name,
            _ => &self.name,
        }
    }

    /// The disk format of a cloud image: declared, or named by the URL's extension.
    pub fn disk_format(&self) -> Option<ImageFormat> {
        self.format
            .or_else(|| ImageFormat::from_file_name(self.url_file_name()))
    }

    /// Proxmox's content type the image is downloaded as: `import` for cloud images, `iso` for
    /// installer ISOs.
    pub fn content_type(&self) -> &'static str {
        match self.kind {
            ImageKind::CloudImage => "import",
            ImageKind::Iso => "iso",
        }
    }

    /// The file name the image is stored under, one Proxmox accepts for its content type: an
    /// ISO keeps a name ending in `.iso` or `.img` (`.iso` is added otherwise); a cloud image
    /// gets its format's extension (`noble-server-cloudimg-amd64.img` becomes
    /// `noble-server-cloudimg-amd64.qcow2`).
    pub fn volume_file_name(&self) -> String {
        let name = self.url_file_name();
        match self.kind {
            ImageKind::Iso => {
                let lower = name.to_ascii_lowercase();
                if lower.ends_with(".iso") || lower.ends_with(".img") {
                    name.to_owned()
                } else {
                    format!("{name}.iso")
                }
            }
            ImageKind::CloudImage => {
                let Some(format) = self.disk_format() else {
                    return name.to_owned();
                };
                let stem = match name.rsplit_once('.') {
                    Some((stem, extension))
                        if ["img", "qcow2", "raw", "vmdk"]
                            .contains(&extension.to_ascii_lowercase().as_str()) =>
                    {
                        stem
                    }
                    _ => name,
                };
                format!("{stem}.{}", format.as_str())
            }
        }
    }
}

/// What an address pool is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PoolPurpose {
    /// Static addresses of VMs.
    Nodes,
    /// Virtual IPs (Kubernetes API VIPs).
    Vips,
    /// Addresses MetalLB hands to LoadBalancer services.
    LoadBalancers,
}

impl PoolPurpose {
    /// The purpose as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolPurpose::Nodes => "nodes",
            PoolPurpose::Vips => "vips",
            PoolPurpose::LoadBalancers => "load-balancers",
        }
    }
}

/// A named range of addresses on a network.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressPool {
    /// Name clusters and add-ons use to refer to it.
    pub name: String,
    /// What it is for.
    pub purpose: PoolPurpose,
    /// The addresses.
    pub range: AddressRange,
}

/// A layer-2 network with an IPv4 subnet.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Name VMs and clusters use to refer to it.
    pub name: String,
    /// The Proxmox bridge (`vmbr0`).
    pub bridge: String,
    /// 802.1Q VLAN tag set on the VMs' NICs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// The subnet, `10.0.20.0/24`.
    #[schemars(with = "String")]
    pub cidr: Ipv4Net,
    /// Default gateway.
    pub gateway: Ipv4Addr,
    /// DNS servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<Ipv4Addr>,
    /// DNS search domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// MTU of the VMs' NICs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
    /// Named address pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<AddressPool>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}

/// Where the cluster keeps its state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Datastore {
    /// etcd embedded in the servers (K3s `cluster-init`); HA needs an odd number of servers.
    #[default]
    EmbeddedEtcd,
    /// SQLite on the single server (K3s default without `cluster-init`).
    Sqlite,
    /// An external SQL datastore; its DSN holds credentials, so it is a secret reference.
    External(ExternalDatastore),
}

/// An external datastore (PostgreSQL, MySQL, etcd).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalDatastore {
    /// The datastore endpoint (`postgres://user:pass@host:5432/k3s`), by reference.
    pub endpoint: SecretRef,
}

/// Anti-affinity of a group's VMs across Proxmox nodes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AntiAffinity {
    /// Spread the group over nodes when capacity allows (default).
    #[default]
    Preferred,
    /// Never put two of the group's VMs on one node; an error when there are too few nodes.
    Required,
    /// No spreading.
    None,
}

/// Where a group's VMs may run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// The Proxmox endpoint (default: the only one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxmox: Option<String>,
    /// Nodes allowed (default: all of the endpoint's nodes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// Spreading across nodes.
    #[serde(default)]
    pub anti_affinity: AntiAffinity,
}

/// A disk of a VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// Size; the first disk is the boot disk, grown from the image's size.
    pub size: ByteSize,
    /// Storage (default: the first storage with `images` content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}

/// Size and shape of a group of identical VMs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeGroup {
    /// Group name (agents only; servers are always `server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How many VMs.
    pub count: u32,
    /// vCPUs of each VM.
    pub cpu: u32,
    /// Memory of each VM.
    pub memory: ByteSize,
    /// Disks of each VM; the first is the boot disk (default: one 32GiB disk).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<Disk>,
    /// Image to boot (default: `defaults.image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Where the VMs may run.
    #[serde(default)]
    pub placement: Placement,
    /// Kubernetes node labels (`key=value`) the node registers with. The kubelet refuses keys
    /// under `kubernetes.io` and `k8s.io` other than its own (`node.kubernetes.io/...`,
    /// `topology.kubernetes.io/...`): put those in `api_labels`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Kubernetes node labels (`key=value`) labform sets through the API once the node has
    /// joined, for keys a node may not give itself, such as `node-role.kubernetes.io/worker=true`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_labels: Vec<String>,
    /// Kubernetes node taints (`key=value:NoSchedule`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<String>,
    /// What cloud-init adds on these VMs: packages, files, first-boot commands, user data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_init: Option<CloudInitAdditions>,
}

/// What cloud-init does on a VM beside labform's own settings. Part of the VM's seed image:
/// changing it makes a new seed, applied like any other cloud-init change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudInitAdditions {
    /// Packages to install, beside `defaults.packages`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// Files written at first boot (cloud-init `write_files`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<GuestFile>,
    /// Commands run once, at the end of the first boot (cloud-init `runcmd`), in order: a
    /// string runs in `sh`, a list is the program and its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<GuestCommand>,
    /// A `#cloud-config` fragment merged with labform's user data: its lists (`packages`,
    /// `runcmd`, `write_files`, `bootcmd`, ...) are appended to labform's, its other keys added.
    /// Keys labform sets itself (`users`, `hostname`, `ssh_keys`, ...) are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<std::collections::BTreeMap<String, serde_json::Value>>")]
    pub user_data: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A file cloud-init writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuestFile {
    /// Absolute path.
    pub path: String,
    /// The file's text.
    pub content: String,
    /// Owner, `user:group` (default `root:root`). Files owned by other users are written after
    /// the users exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Permission bits in octal, e.g. `"0644"` (the default). Nothing secret belongs here: the
    /// file is part of the seed image and of what `labform render` shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// A first-boot command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum GuestCommand {
    /// A shell command line, run by `sh`.
    Shell(String),
    /// A program and its arguments, run without a shell.
    Program(Vec<String>),
}

/// Backups of a cluster's VMs and state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backups {
    /// vzdump schedule in Proxmox calendar-event syntax (`daily`, `sat 02:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vzdump_schedule: Option<String>,
    /// Storage for vzdump backups (must have `backup` content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// How many backups to keep (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<u32>,
    /// vzdump's mode: `snapshot` (the default: the VM keeps running), `suspend` or `stop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<BackupMode>,
    /// etcd snapshot schedule in cron syntax as K3s reads it (`0 */6 * * *`, `@daily`), for
    /// embedded etcd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_snapshot_schedule: Option<String>,
    /// etcd snapshots to keep (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_snapshot_retention: Option<u32>,
}

/// How vzdump backs a VM up.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BackupMode {
    /// A live backup while the VM runs.
    #[default]
    Snapshot,
    /// The VM is suspended while it is backed up.
    Suspend,
    /// The VM is shut down, backed up and started again.
    Stop,
}

impl BackupMode {
    /// The word Proxmox uses.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupMode::Snapshot => "snapshot",
            BackupMode::Suspend => "suspend",
            BackupMode::Stop => "stop",
        }
    }
}

/// The Kubernetes API endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiVip {
    /// A fixed address on the servers' subnet, outside every node and load-balancer pool.
    Address(Ipv4Addr),
    /// Taken from the network's `vips` pool.
    FromPool(String),
}

/// A Kubernetes cluster. With environments, it exists once per environment.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Cluster name: a DNS label.
    pub name: String,
    /// Kubernetes distribution.
    pub distribution: Distribution,
    /// Distribution version (`v1.31.4+k3s1`, `v1.29.6`, `v1.8.3`).
    pub version: String,
    /// The network its nodes live on.
    pub network: String,
    /// The pool of `network` node addresses come from (default: its first `nodes` pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_pool: Option<String>,
    /// Pod network (default `10.42.0.0/16`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub pod_cidr: Option<Ipv4Net>,
    /// Service network (default `10.43.0.0/16`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub service_cidr: Option<Ipv4Net>,
    /// Container network interface.
    #[serde(default)]
    pub cni: Cni,
    /// Where cluster state lives.
    #[serde(default)]
    pub datastore: Datastore,
    /// The API VIP (needed with several servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_vip: Option<ApiVip>,
    /// Control-plane nodes.
    pub servers: NodeGroup,
    /// Worker groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<NodeGroup>,
    /// Add-ons installed on the cluster.
    #[serde(default)]
    pub addons: Addons,
    /// Backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<Backups>,
    /// Environments this cluster exists in (default: all of the lab's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}

/// How a plain VM gets its address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VmAddress {
    /// A fixed address inside the network (and outside its pools).
    Static(Ipv4Addr),
    /// From the network's first `nodes` pool.
    Pool(String),
    /// DHCP (for appliances that configure themselves).
    Dhcp,
}

/// A VM that is not a Kubernetes node.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlainVm {
    /// VM name (and hostname): a DNS label. With `count` above 1, `-0`, `-1`... are appended.
    pub name: String,
    /// How many (default 1).
    #[serde(default = "one_vm")]
    pub count: u32,
    /// vCPUs.
    pub cpu: u32,
    /// Memory.
    pub memory: ByteSize,
    /// Disks; the first is the boot disk (default: one 32GiB disk).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<Disk>,
    /// Image: a cloud image (cloned, cloud-init) or an ISO (installer attached as CD-ROM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The network.
    pub network: String,
    /// Address (default: from the network's first `nodes` pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<VmAddress>,
    /// Where it may run.
    #[serde(default)]
    pub placement: Placement,
    /// The tenant that owns it (its VMs go to the tenant's Proxmox pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Refuse `destroy` and replacement (Proxmox `protection`).
    #[serde(default)]
    pub protected: bool,
    /// What it is for, for people and diagrams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// vzdump schedule for this VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<Backups>,
    /// What cloud-init adds on this VM: packages, files, first-boot commands, user data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_init: Option<CloudInitAdditions>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}

fn one_vm() -> u32 {
    1
}

/// Changes an environment makes to one cluster. Only what differs is written.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterOverlay {
    /// The cluster changed.
    pub cluster: String,
    /// Another version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Another network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Another address pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_pool: Option<String>,
    /// Another API VIP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_vip: Option<ApiVip>,
    /// Changes to the servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servers: Option<GroupOverlay>,
    /// Changes to agent groups, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<GroupOverlay>,
}

/// Changes to a node group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupOverlay {
    /// The agent group changed (agents only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Another count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Other vCPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// Other memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// Other disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disks: Option<Vec<Disk>>,
}

/// An environment: an overlay applied to every cluster that exists in it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Name: a DNS label (`dev`, `staging`, `prod`).
    pub name: String,
    /// Network for every cluster in this environment unless an overlay says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Per-cluster changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterOverlay>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}

/// Central services a tenant reaches on another cluster.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccess {
    /// The cluster hosting them.
    pub cluster: String,
    /// Which services.
    pub services: Vec<CentralService>,
}

/// A tenant: owner of clusters, with its own Proxmox pool, API token and kubeconfig.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Name: a DNS label.
    pub name: String,
    /// Clusters the tenant owns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,
    /// Central services the tenant uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses: Vec<ServiceAccess>,
    /// Proxmox pool for the tenant's VMs (default `<lab>-<tenant>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}
