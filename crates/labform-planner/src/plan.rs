//! The plan: complete, immutable data describing every VM, template, image and cluster step, with
//! every choice made (node, VM ID, address, MAC). Executors carry it out; people read it rendered
//! by [`crate::render`]; machines read it as JSON.

pub use labform_model::schedule::{CronJobSchedule, SystemdTimer};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use labform_addons::AddonSettings;
pub use labform_ids::SecretRef;
pub use labform_ids::VmId;
pub use labform_ids::cluster::{CentralService, Cni, Distribution};
pub use labform_ids::{ClusterName, EndpointName, NodeName, PoolName, StorageName};
use serde::Serialize;

use crate::allocate::AllocationKey;

/// The whole plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Plan {
    /// Lab name.
    pub lab: String,
    /// Ownership scope.
    pub scope: String,
    /// Proxmox endpoints with the load the plan puts on each node.
    pub endpoints: Vec<PlannedEndpoint>,
    /// Images to download.
    pub images: Vec<PlannedImage>,
    /// Templates to make.
    pub templates: Vec<PlannedTemplate>,
    /// VMs to create.
    pub vms: Vec<PlannedVm>,
    /// Clusters (one per cluster and environment) and the steps that bring them up.
    pub clusters: Vec<PlannedCluster>,
    /// Tenants and what they get.
    pub tenants: Vec<PlannedTenant>,
    /// vzdump backup jobs of the lab's backup policies (`/cluster/backup`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backup_jobs: Vec<PlannedBackupJob>,
    /// The ordered actions, each with its reason and what it waits for.
    pub actions: Vec<Action>,
    /// Totals.
    pub summary: Summary,
}

/// A vzdump backup job on one endpoint: what a cluster's or a VM's `backups` make
/// ([`crate::backups`] names, marks and reconciles it).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedBackupJob {
    /// The job's ID on Proxmox (`labform-<scope>-cluster-<instance>`, `labform-<scope>-vm-<name>`).
    pub id: String,
    /// Endpoint.
    pub endpoint: EndpointName,
    /// What it backs up, for people (`cluster home`, `VM dns`).
    pub of: String,
    /// When, as a Proxmox calendar event (`sat 02:00`).
    pub schedule: String,
    /// The storage the backups go to.
    pub storage: StorageName,
    /// How many backups of each VM are kept (`prune-backups: keep-last=N`).
    pub keep: u32,
    /// vzdump's mode (`snapshot`, `suspend`, `stop`).
    pub mode: String,
    /// The VMs backed up, in ascending order.
    pub vm_ids: Vec<VmId>,
}

/// Load of one Proxmox endpoint.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedEndpoint {
    /// Endpoint name.
    pub name: EndpointName,
    /// API URL.
    pub url: String,
    /// Per node.
    pub nodes: Vec<NodeLoad>,
}

/// What a node carries under the plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeLoad {
    /// Node name.
    pub name: NodeName,
    /// vCPUs assigned.
    pub cpu_used: u64,
    /// vCPUs allowed (threads × overcommit).
    pub cpu_capacity: u64,
    /// Memory assigned, MiB.
    pub memory_used_mib: u64,
    /// Memory allowed, MiB.
    pub memory_capacity_mib: u64,
    /// VMs placed.
    pub vms: usize,
}

/// An image downloaded into a storage.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedImage {
    /// Image name.
    pub name: String,
    /// Source URL.
    pub url: String,
    /// Checksum (`sha256:...`).
    pub checksum: String,
    /// Endpoint.
    pub endpoint: EndpointName,
    /// Node that downloads it.
    pub node: NodeName,
    /// Storage it lands in.
    pub storage: StorageName,
    /// Proxmox's content type it is downloaded as (`import` for cloud images, `iso`).
    pub content: String,
    /// Volume file name in the storage, one Proxmox accepts for the content type (a qcow2 cloud
    /// image published as `.img` is stored as `.qcow2`).
    pub file_name: String,
}

/// A template VM made from an image.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedTemplate {
    /// Template name.
    pub name: String,
    /// Allocation key (recorded in the lock file and in the template's ownership block).
    pub key: AllocationKey,
    /// Hash of what defines it (image URL and checksum, node, storage).
    pub spec: String,
    /// VM ID.
    pub vm_id: VmId,
    /// Image name.
    pub image: String,
    /// Endpoint.
    pub endpoint: EndpointName,
    /// Node holding it.
    pub node: NodeName,
    /// Storage of its disk.
    pub storage: StorageName,
    /// The exact config the template VM is created with (every key but its ownership
    /// description), from [`crate::desired::template_config`].
    pub config: BTreeMap<String, String>,
}

/// How a VM is cloned from its template.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CloneMode {
    /// Its disks are linked to the template's (fast, thin; the template must stay).
    Linked,
    /// Its disks are full copies.
    Full,
}

/// How a VM is made, decided by the plan; the executor sends exactly this.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PlannedCreation {
    /// Cloned from the template (`template`) as a linked or full clone; `None` when created.
    pub clone_mode: Option<CloneMode>,
    /// The installer ISO attached as the CD-ROM (`ide2`) at creation, for VMs created from an
    /// installer image: `storage:iso/file,media=cdrom`.
    pub installer: Option<String>,
}

/// A disk of a planned VM.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedDisk {
    /// Proxmox slot (`scsi0`).
    pub slot: String,
    /// Storage.
    pub storage: StorageName,
    /// Size in GiB.
    pub size_gib: u64,
}

/// A planned NIC.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedNic {
    /// Network name.
    pub network: String,
    /// Bridge.
    pub bridge: String,
    /// VLAN tag.
    pub vlan: Option<u16>,
    /// MAC address (Proxmox's BC:24:11 prefix), fixed so network-config can match it.
    pub mac: String,
    /// Static address, absent with DHCP.
    pub address: Option<Ipv4Addr>,
    /// Prefix length.
    pub prefix: u8,
    /// Gateway.
    pub gateway: Option<Ipv4Addr>,
    /// DNS servers.
    pub dns: Vec<Ipv4Addr>,
    /// Search domain.
    pub domain: Option<String>,
    /// MTU of the network (absent: the guest's default), written into the network-config.
    pub mtu: Option<u16>,
}

/// What cloud-init will do on first boot.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CloudInitSummary {
    /// Host name.
    pub hostname: String,
    /// FQDN, with the network's domain.
    pub fqdn: Option<String>,
    /// Login user.
    pub user: String,
    /// Number of authorised SSH keys.
    pub ssh_keys: usize,
    /// The authorised public keys.
    pub authorized_keys: Vec<String>,
    /// Timezone.
    pub timezone: Option<String>,
    /// Packages installed.
    pub packages: Vec<String>,
    /// SSH host keys are generated by labform and pinned before first boot.
    pub pinned_host_keys: bool,
    /// Files the lab has cloud-init write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PlannedFile>,
    /// Commands the lab has cloud-init run once, at the end of the first boot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<PlannedCommand>,
    /// The lab's `#cloud-config` fragment, merged with labform's user data.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_data: BTreeMap<String, serde_json::Value>,
}

/// A file cloud-init writes on a VM.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PlannedFile {
    /// Absolute path.
    pub path: String,
    /// Its text.
    pub content: String,
    /// `user:group`.
    pub owner: String,
    /// Permission bits in octal (`0644`).
    pub mode: String,
}

/// A first-boot command.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum PlannedCommand {
    /// A shell command line.
    Shell(String),
    /// A program and its arguments.
    Program(Vec<String>),
}

/// The NoCloud seed image of a cloud-init VM: uploaded to an `iso` storage of its node and
/// attached as its CD-ROM (`ide2`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedSeed {
    /// The first storage of the endpoint with `iso` content on the VM's node.
    pub storage: StorageName,
    /// `labform-<scope>-<vmid>-<hash>.iso`: the hash covers everything of the plan the seed's
    /// files are made from, so a change to them is a new file (see
    /// [`crate::desired::seed_file_name`]).
    pub file_name: String,
}

/// A VM of the plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedVm {
    /// Name and host name.
    pub name: String,
    /// VM ID.
    pub vm_id: VmId,
    /// Endpoint.
    pub endpoint: EndpointName,
    /// Node.
    pub node: NodeName,
    /// Role (`server`, `agent/workers`, `vm`).
    pub role: String,
    /// Cluster instance.
    pub cluster: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// Tenant.
    pub tenant: Option<String>,
    /// Proxmox pool.
    pub pool: Option<PoolName>,
    /// vCPUs.
    pub cpu: u32,
    /// Memory, MiB.
    pub memory_mib: u64,
    /// Disks.
    pub disks: Vec<PlannedDisk>,
    /// Image booted.
    pub image: Option<String>,
    /// Template cloned (cloud images).
    pub template: Option<VmId>,
    /// NIC.
    pub nic: PlannedNic,
    /// How the guest is configured on first boot: `cloud-init`, `talos` (machine config through
    /// NoCloud) or `installer` (an ISO a person installs from).
    pub boot: String,
    /// Cloud-init summary (cloud-init guests only).
    pub cloud_init: Option<CloudInitSummary>,
    /// The NoCloud seed image (cloud-init guests with an `iso` storage on their node).
    pub seed: Option<PlannedSeed>,
    /// Proxmox tags recording ownership.
    pub tags: Vec<String>,
    /// Refuses destroy.
    pub protected: bool,
    /// How it is made (clone mode, installer CD-ROM); with the create-time keys of
    /// [`crate::desired::desired_config`] (`ostype`, `scsihw`, `boot`, `ciupgrade`), in the spec.
    pub creation: PlannedCreation,
    /// Hash of the desired spec, recorded in the VM's ownership block.
    pub spec: String,
}

/// A step of bringing a cluster up.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClusterStep {
    /// What is done.
    pub action: String,
    /// On which VM(s), if any.
    pub target: Option<String>,
}

/// An add-on of a cluster, in installation order.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedAddon {
    /// Add-on key.
    pub name: String,
    /// Values derived from the lab, in one line.
    pub detail: String,
    /// The add-on's options (secrets as references only) with what the planner decided for it
    /// (MetalLB's block), which its manifests are made from.
    pub settings: AddonSettings,
}

/// A cluster in one environment.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedCluster {
    /// Instance name (`main-dev`).
    pub name: String,
    /// Declared cluster.
    pub cluster: ClusterName,
    /// Environment.
    pub environment: Option<String>,
    /// Tenant.
    pub tenant: Option<String>,
    /// Distribution.
    pub distribution: Distribution,
    /// Version.
    pub version: String,
    /// Whether labform bootstraps this distribution today.
    pub bootstrap_supported: bool,
    /// API server address: the VIP, or the first server's address.
    pub api_address: Ipv4Addr,
    /// Whether the API address is a VIP.
    pub api_vip: bool,
    /// Pod CIDR.
    pub pod_cidr: String,
    /// Service CIDR.
    pub service_cidr: String,
    /// CNI.
    pub cni: Cni,
    /// Datastore, in one line (`embedded etcd`, `external (env:K3S_DATASTORE)`).
    pub datastore: String,
    /// Where the cluster keeps its state, as the nodes' configuration needs it.
    pub state: PlannedDatastore,
    /// etcd snapshots the distribution takes itself, when the lab asks for them.
    pub etcd_snapshots: Option<EtcdSnapshots>,
    /// Servers.
    pub servers: Vec<String>,
    /// Agents.
    pub agents: Vec<String>,
    /// Every node, servers first (the first server first), with its Kubernetes settings.
    pub nodes: Vec<PlannedClusterNode>,
    /// What the distribution itself is told, beyond what every distribution shares.
    pub settings: DistributionSettings,
    /// Add-ons.
    pub addons: Vec<PlannedAddon>,
    /// Tenants that use central services of this cluster, in lab order, and what they get here.
    pub tenant_access: Vec<TenantAccess>,
    /// Steps after the VMs exist.
    pub steps: Vec<ClusterStep>,
    /// Kubeconfig context name.
    pub kubeconfig_context: String,
}

impl PlannedCluster {
    /// The load-balancer block MetalLB hands out, when the cluster has MetalLB (the planned
    /// add-on carries it).
    pub fn load_balancer_addresses(&self) -> Option<AddressBlock> {
        self.addons.iter().find_map(|addon| match &addon.settings {
            AddonSettings::Metallb(metallb) => Some(metallb.block),
            _ => None,
        })
    }

    /// A Talos cluster's settings; `None` for another distribution's cluster (the planner
    /// gives every Talos cluster its own).
    pub fn talos_settings(&self) -> Option<&TalosSettings> {
        match &self.settings {
            DistributionSettings::Talos(settings) => Some(settings),
            _ => None,
        }
    }

    /// The first server: the node that initialises the cluster.
    pub fn first_server(&self) -> &PlannedClusterNode {
        self.nodes
            .first()
            .expect("a planned cluster has at least one server")
    }
}

/// What a node is in its cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    /// The server that initialises the cluster.
    FirstServer,
    /// A server that joins the first.
    JoiningServer,
    /// An agent (worker).
    Agent,
}

impl NodeRole {
    /// Whether the node runs the control plane.
    pub fn is_server(self) -> bool {
        self != NodeRole::Agent
    }
}

/// A node of a planned cluster: its VM and what Kubernetes is told about it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedClusterNode {
    /// The VM, which is also the Kubernetes node name.
    pub vm: String,
    /// Its role.
    pub role: NodeRole,
    /// Its node group (`server`, or the agent group's name).
    pub group: String,
    /// The VM's address (cluster VMs always get one from a pool).
    pub address: Ipv4Addr,
    /// The VM's FQDN, with its network's domain.
    pub fqdn: Option<String>,
    /// The user labform logs in as over SSH: the cloud-init user, absent when the VM is not
    /// configured by cloud-init.
    pub login_user: Option<String>,
    /// Kubernetes node labels of its group, given to the node when it registers.
    pub labels: Vec<String>,
    /// Kubernetes node labels of its group that labform sets through the API once the node has
    /// joined (keys a node may not give itself, such as `node-role.kubernetes.io/worker`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_labels: Vec<String>,
    /// Kubernetes node taints of its group.
    pub taints: Vec<String>,
}

/// Where a cluster keeps its state.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub enum PlannedDatastore {
    /// etcd on the servers, initialised by the first.
    EmbeddedEtcd,
    /// SQLite on the single server.
    Sqlite,
    /// An external SQL datastore; its endpoint holds credentials, so only the reference is here.
    External {
        /// Where to read the endpoint.
        endpoint: SecretRef,
    },
}

/// The etcd snapshot settings of a cluster (its lab `backups`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EtcdSnapshots {
    /// Schedule, in cron syntax.
    pub schedule: Option<String>,
    /// How many snapshots to keep.
    pub retention: Option<u32>,
    /// The schedule as a systemd timer, for a distribution whose snapshots labform runs from
    /// one (kubeadm: [`crate::distribution::DistributionPlan::etcd_snapshots_by_systemd_timer`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_timer: Option<SystemdTimer>,
    /// The schedule as a Kubernetes CronJob's, for a distribution whose snapshots a CronJob on
    /// the cluster takes (Talos: [`crate::distribution::DistributionPlan::etcd_snapshots_by_cron_job`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron_job: Option<CronJobSchedule>,
}

/// The settings only one distribution reads, decided by the planner
/// ([`crate::distribution`]).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum DistributionSettings {
    /// K3s.
    K3s(K3sSettings),
    /// kubeadm.
    Kubeadm(KubeadmSettings),
    /// Talos.
    Talos(TalosSettings),
}

/// What a kubeadm cluster's apply does beyond bringing nodes up: for each part of a node's
/// kubeadm configuration, what happens when the lab changes it under a node already in the
/// cluster (kubeadm reads its configuration only in `init`, `join` and `upgrade`). The
/// executor looks each changed field's part up here and does what it says.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KubeadmSettings {
    /// Each part of the configuration with what a change of it does, every part once.
    pub reconfiguration: Vec<Reconfiguration>,
}

impl KubeadmSettings {
    /// What a change of `part` does.
    pub fn effect(&self, part: ConfigurationPart) -> ReconfigurationEffect {
        self.reconfiguration
            .iter()
            .find(|rule| rule.part == part)
            .map_or(ReconfigurationEffect::Refused, |rule| rule.effect)
    }
}

/// One part of a node's kubeadm configuration and what a change of it does.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Reconfiguration {
    /// The part.
    pub part: ConfigurationPart,
    /// What a change of it does on a node already in the cluster.
    pub effect: ReconfigurationEffect,
}

/// A part of a node's kubeadm configuration, as re-apply tells them apart.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigurationPart {
    /// The node labels the kubelet registers with (the group's `labels`).
    NodeLabels,
    /// A node's taints, where its configuration lists taints before and after (the group's
    /// `taints`; workers without taints list none).
    NodeTaints,
    /// A control plane's taints to or from none: with none, kubeadm gives a control plane its
    /// own control-plane taint, which is kubeadm's, not labform's.
    ControlPlaneDefaultTaint,
    /// The Kubernetes version (`kubernetesVersion`).
    KubernetesVersion,
    /// How long kubeadm waits for the control plane (`LABFORM_CLUSTER_TIMEOUT`).
    ControlPlaneWait,
    /// Everything else: the pod and service networks, the API endpoint, the certificate names,
    /// etcd, the image repository, a node's name, address or container runtime socket.
    ClusterShape,
}

impl ConfigurationPart {
    /// Every part, in the order the plan says them.
    pub const ALL: [ConfigurationPart; 6] = [
        ConfigurationPart::NodeLabels,
        ConfigurationPart::NodeTaints,
        ConfigurationPart::ControlPlaneDefaultTaint,
        ConfigurationPart::KubernetesVersion,
        ConfigurationPart::ControlPlaneWait,
        ConfigurationPart::ClusterShape,
    ];

    /// How the plan names it.
    pub fn describe(self) -> &'static str {
        match self {
            ConfigurationPart::NodeLabels => "node labels",
            ConfigurationPart::NodeTaints => {
                "taints labform gave (others' taints, such as node.kubernetes.io/*, kept)"
            }
            ConfigurationPart::ControlPlaneDefaultTaint => {
                "a control plane's taints to or from none (kubeadm's own control-plane taint)"
            }
            ConfigurationPart::KubernetesVersion => "the cluster's version",
            ConfigurationPart::ControlPlaneWait => "the control plane's wait",
            ConfigurationPart::ClusterShape => {
                "networks, API endpoint, certificate names, etcd, image repository, a node's name, address or runtime socket"
            }
        }
    }
}

/// What labform does when the lab changes a part of a node's kubeadm configuration under a node
/// already in the cluster.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ReconfigurationEffect {
    /// Set, changed and removed through the Kubernetes API once every node is Ready.
    ThroughApi,
    /// Carried out by the upgrade, one minor version at a time.
    Upgrade,
    /// Read only when kubeadm runs `init` or `join`: kept in the node's file for then.
    NextKubeadmRun,
    /// kubeadm cannot change it on a formed cluster: the apply is refused before any node is
    /// touched.
    Refused,
}

impl ReconfigurationEffect {
    /// How a plan line, a progress line or an error says it.
    pub fn describe(self) -> &'static str {
        match self {
            ReconfigurationEffect::ThroughApi => "set through the Kubernetes API",
            ReconfigurationEffect::Upgrade => "carried out by the upgrade",
            ReconfigurationEffect::NextKubeadmRun => "read by the next kubeadm init or join only",
            ReconfigurationEffect::Refused => "kubeadm cannot change it on a formed cluster",
        }
    }
}

/// What a Talos cluster's machine configurations pin beyond the shared settings.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TalosSettings {
    /// The Kubernetes version of the kubelet and control-plane images (`v1.31.2`); `None`:
    /// the Talos release's default.
    pub kubernetes_version: Option<String>,
    /// The ID of the cluster's Image Factory schematic: the image its nodes boot and the
    /// installer its machine configurations name and upgrades go to.
    pub schematic: String,
    /// The schematic's system extensions, sorted: the QEMU guest agent, what the add-ons need
    /// and the lab's `system_extensions`.
    pub system_extensions: Vec<String>,
    /// The installer image of the cluster's Talos version (`install.image`).
    pub installer_image: String,
    /// Host directories add-ons keep data in, bind-mounted into the kubelet.
    pub kubelet_host_directories: Vec<String>,
}

/// What a K3s cluster's servers are told beyond the shared settings.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct K3sSettings {
    /// Packaged components that add-ons replace (`servicelb` with MetalLB, `traefik` unless
    /// Traefik is configured).
    pub disable: Vec<String>,
    /// Flannel's backend: `vxlan`, or `none` when another CNI is installed.
    pub flannel_backend: String,
    /// K3s's network policy controller is off (another CNI enforces policies).
    pub disable_network_policy: bool,
}

/// One tenant's access to a cluster's central services.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TenantAccess {
    /// The tenant.
    pub tenant: String,
    /// Its namespace on the cluster.
    pub namespace: String,
    /// Its ServiceAccount (in `namespace`).
    pub service_account: String,
    /// The Secret holding the ServiceAccount's token (in `namespace`).
    pub token_secret: String,
    /// The services it uses here.
    pub services: Vec<CentralService>,
}

/// A tenant.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedTenant {
    /// Name.
    pub name: String,
    /// The lab's endpoints it lives on (its user, token and ACL entries): those holding VMs in
    /// its pool, or every endpoint when it has none.
    pub endpoints: Vec<EndpointName>,
    /// Proxmox pool for its VMs.
    pub pool: PoolName,
    /// Proxmox API token (`user@pve!labform`) limited to that pool ([`crate::tenancy`]).
    pub api_token: String,
    /// Cluster instances it owns.
    pub clusters: Vec<String>,
    /// Central services: `service@cluster-instance`.
    pub services: Vec<String>,
}

/// An action of the plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Action {
    /// Position in the plan, from 0.
    pub id: usize,
    /// What kind (`download-image`, `create-template`, `clone-vm`, `create-vm`, `start-vm`,
    /// `bootstrap-cluster`, `install-addon`, `create-pool`, `create-tenant-token`).
    pub kind: String,
    /// What it acts on.
    pub target: String,
    /// Why.
    pub reason: String,
    /// Actions that must finish first.
    pub after: Vec<usize>,
}

/// Totals.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// VMs.
    pub vms: usize,
    /// Cluster instances.
    pub clusters: usize,
    /// Templates.
    pub templates: usize,
    /// Image downloads.
    pub images: usize,
    /// vCPUs.
    pub cpu: u64,
    /// Memory, MiB.
    pub memory_mib: u64,
    /// Disk, GiB.
    pub disk_gib: u64,
}

pub use labform_addons::AddressBlock;
