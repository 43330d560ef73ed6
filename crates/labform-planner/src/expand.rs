//! Expansion: from the lab's declarations to concrete cluster instances (one per cluster and
//! environment, with the environment's overlay applied) and concrete VMs, each with its final name,
//! size, image, network and placement rules. Nothing is allocated here.

use std::net::Ipv4Addr;

use labform_model::lab::*;
use labform_model::{ByteSize, Diagnostic, Source};

/// The boot disk a group gets when it declares none.
pub const DEFAULT_DISK: ByteSize = ByteSize::gib(32);

/// One cluster in one environment.
#[derive(Debug, Clone)]
pub struct Instance {
    /// `main-dev`, or `main` when the lab has no environments.
    pub name: String,
    /// Index of the cluster in the lab.
    pub cluster: usize,
    /// Index of the environment, if any.
    pub environment: Option<usize>,
    /// Version after the overlay.
    pub version: String,
    /// Network index after the overlay.
    pub network: usize,
    /// Node address pool index (in the network's pools).
    pub address_pool: usize,
    /// API VIP after the overlay.
    pub api_vip: Option<ApiVip>,
    /// Servers after the overlay.
    pub servers: NodeGroup,
    /// Agent groups after the overlay.
    pub agents: Vec<NodeGroup>,
    /// Owning tenant index.
    pub tenant: Option<usize>,
    /// Where to point diagnostics about this instance.
    pub source: Source,
}

/// A VM's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A Kubernetes server; `first` is the one that initialises the cluster.
    Server {
        /// Whether it initialises the cluster.
        first: bool,
    },
    /// A Kubernetes agent of a named group.
    Agent {
        /// The group.
        group: String,
    },
    /// A VM that is not a Kubernetes node.
    Plain {
        /// What it is for.
        role: Option<String>,
    },
}

impl Role {
    /// A short word for plans and tags.
    pub fn label(&self) -> String {
        match self {
            Role::Server { .. } => "server".to_owned(),
            Role::Agent { group } => format!("agent/{group}"),
            Role::Plain { role } => role.clone().unwrap_or_else(|| "vm".to_owned()),
        }
    }
}

/// How a VM gets its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRequest {
    /// From a pool (index in the network's pools).
    Pool(usize),
    /// A fixed address.
    Static(Ipv4Addr),
    /// DHCP.
    Dhcp,
}

/// One VM to exist.
#[derive(Debug, Clone)]
pub struct VmSpec {
    /// Final name (and hostname).
    pub name: String,
    /// Role.
    pub role: Role,
    /// Cluster instance, for Kubernetes nodes.
    pub instance: Option<usize>,
    /// Key of the anti-affinity group (`main-dev/server`).
    pub group: String,
    /// Proxmox endpoint index.
    pub endpoint: usize,
    /// Allowed node indexes in the endpoint (all when the group names none).
    pub allowed_nodes: Vec<usize>,
    /// Spreading rule.
    pub anti_affinity: AntiAffinity,
    /// vCPUs.
    pub cpu: u32,
    /// Memory.
    pub memory: ByteSize,
    /// Disks: explicit storage name (if any) and size.
    pub disks: Vec<Disk>,
    /// Image index.
    pub image: Option<usize>,
    /// Network index.
    pub network: usize,
    /// Address request.
    pub address: AddressRequest,
    /// Owning tenant.
    pub tenant: Option<usize>,
    /// Protection flag.
    pub protected: bool,
    /// Kubernetes labels.
    pub labels: Vec<String>,
    /// Kubernetes taints.
    pub taints: Vec<String>,
    /// What the lab adds to its cloud-init.
    pub cloud_init: Option<CloudInitAdditions>,
    /// Where to point diagnostics about this VM.
    pub source: Source,
}

/// The lab, expanded.
#[derive(Debug, Default)]
pub struct Expanded {
    /// Cluster instances.
    pub instances: Vec<Instance>,
    /// VMs, clusters' first (in file and environment order), then plain VMs.
    pub vms: Vec<VmSpec>,
}

/// Expands clusters over environments and groups into VMs.
pub fn expand(lab: &LabFile, diagnostics: &mut Vec<Diagnostic>) -> Expanded {
    let mut expanded = Expanded::default();
    let default_image = lab.defaults.as_ref().and_then(|d| d.image.clone());
    let image_index = |name: Option<&String>| {
        name.or(default_image.as_ref())
            .and_then(|name| lab.images.iter().position(|image| &image.name == name))
    };
    let network_index = |name: &str| lab.networks.iter().position(|network| network.name == name);
    for (cluster_index, cluster) in lab.clusters.iter().enumerate() {
        let tenant = lab
            .tenants
            .iter()
            .position(|tenant| tenant.clusters.contains(&cluster.name));
        let environments: Vec<Option<usize>> = if lab.environments.is_empty() {
            vec![None]
        } else {
            lab.environments
                .iter()
                .enumerate()
                .filter(|(_, environment)| {
                    cluster.environments.is_empty()
                        || cluster.environments.contains(&environment.name)
                })
                .map(|(index, _)| Some(index))
                .collect()
        };
        for environment_index in environments {
            let environment = environment_index.map(|index| &lab.environments[index]);
            let overlay = environment.and_then(|environment| {
                environment
                    .clusters
                    .iter()
                    .position(|overlay| overlay.cluster == cluster.name)
                    .map(|position| (position, &environment.clusters[position]))
            });
            let name = match environment {
                Some(environment) => format!("{}-{}", cluster.name, environment.name),
                None => cluster.name.clone(),
            };
            let overlay_source = match (environment, overlay) {
                (Some(environment), Some((position, _))) => {
                    Some(environment.source.at("clusters").index(position))
                }
                _ => None,
            };
            let network_name = overlay
                .and_then(|(_, overlay)| overlay.network.clone())
                .or_else(|| environment.and_then(|environment| environment.network.clone()))
                .unwrap_or_else(|| cluster.network.clone());
            let Some(network) = network_index(&network_name) else {
                continue; // reported by validation
            };
            let network_declared = &lab.networks[network];
            let pool_name = overlay
                .and_then(|(_, overlay)| overlay.address_pool.clone())
                .or_else(|| cluster.address_pool.clone());
            let address_pool = match &pool_name {
                Some(pool) => network_declared
                    .pools
                    .iter()
                    .position(|candidate| &candidate.name == pool),
                None => network_declared
                    .pools
                    .iter()
                    .position(|candidate| candidate.purpose == PoolPurpose::Nodes),
            };
            let Some(address_pool) = address_pool else {
                let at = overlay_source
                    .clone()
                    .or_else(|| environment.map(|environment| environment.source.at("network")))
                    .unwrap_or_else(|| cluster.source.at("network"));
                diagnostics.push(
                    Diagnostic::error(
                        "no-node-pool",
                        &at,
                        format!(
                            "cluster `{name}` is on network `{network_name}`, which has no {} pool for its nodes",
                            pool_name.as_deref().map(|pool| format!("`{pool}`")).unwrap_or_else(|| "`nodes`".to_owned())
                        ),
                    )
                    .hint("add the pool to that network, or choose the network in the environment's overlay"),
                );
                continue;
            };
            let here = overlay_source
                .clone()
                .unwrap_or_else(|| cluster.source.clone());
            let api_vip = overlay
                .and_then(|(_, overlay)| overlay.api_vip.clone())
                .or_else(|| cluster.api_vip.clone());
            let mut missing_pools: Vec<(&str, &str, PoolPurpose)> = Vec::new();
            if let Some(ApiVip::FromPool(pool)) = &api_vip {
                missing_pools.push(("api_vip", pool, PoolPurpose::Vips));
            }
            if let Some(metallb) = &cluster.addons.metallb {
                missing_pools.push((
                    "addons.metallb.pool",
                    &metallb.pool,
                    PoolPurpose::LoadBalancers,
                ));
            }
            for (field, pool, purpose) in missing_pools {
                let present = network_declared
                    .pools
                    .iter()
                    .any(|candidate| candidate.name == pool && candidate.purpose == purpose);
                if !present {
                    diagnostics.push(
                        Diagnostic::error(
                            "unknown-reference",
                            &here.at(if overlay_source.is_some() { "cluster" } else { field }),
                            format!(
                                "cluster `{name}` is on network `{network_name}`, which has no {} pool `{pool}`",
                                purpose.as_str()
                            ),
                        )
                        .hint(format!("add pool `{pool}` with `purpose: {}` to network `{network_name}`", purpose.as_str())),
                    );
                }
            }
            let mut servers = cluster.servers.clone();
            let mut agents = cluster.agents.clone();
            if let Some((_, overlay)) = overlay {
                if let Some(change) = &overlay.servers {
                    apply_group(&mut servers, change);
                }
                for change in &overlay.agents {
                    let wanted = change.name.as_deref().unwrap_or("agent");
                    if let Some(group) = agents
                        .iter_mut()
                        .find(|group| group.name.as_deref().unwrap_or("agent") == wanted)
                    {
                        apply_group(group, change);
                    }
                }
            }
            let instance = Instance {
                name: name.clone(),
                cluster: cluster_index,
                environment: environment_index,
                version: overlay
                    .and_then(|(_, overlay)| overlay.version.clone())
                    .unwrap_or_else(|| cluster.version.clone()),
                network,
                address_pool,
                api_vip,
                servers: servers.clone(),
                agents: agents.clone(),
                tenant,
                source: overlay_source.unwrap_or_else(|| cluster.source.clone()),
            };
            let instance_index = expanded.instances.len();
            expanded.instances.push(instance);
            let endpoint = endpoint_index(lab, &servers.placement);
            for index in 0..servers.count {
                expanded.vms.push(group_vm(
                    lab,
                    &servers,
                    format!("{name}-server-{index}"),
                    Role::Server { first: index == 0 },
                    Some(instance_index),
                    format!("{name}/server"),
                    endpoint,
                    image_index(servers.image.as_ref()),
                    network,
                    AddressRequest::Pool(address_pool),
                    tenant,
                    cluster.source.at("servers"),
                ));
            }
            for (group_index, group) in agents.iter().enumerate() {
                let group_name = group.name.clone().unwrap_or_else(|| "agent".to_owned());
                let endpoint = endpoint_index(lab, &group.placement);
                for index in 0..group.count {
                    expanded.vms.push(group_vm(
                        lab,
                        group,
                        format!("{name}-{group_name}-{index}"),
                        Role::Agent {
                            group: group_name.clone(),
                        },
                        Some(instance_index),
                        format!("{name}/{group_name}"),
                        endpoint,
                        image_index(group.image.as_ref()),
                        network,
                        AddressRequest::Pool(address_pool),
                        tenant,
                        cluster.source.at("agents").index(group_index),
                    ));
                }
            }
        }
    }
    for vm in &lab.vms {
        let Some(network) = network_index(&vm.network) else {
            continue;
        };
        let network_declared = &lab.networks[network];
        let address = match &vm.address {
            Some(VmAddress::Static(address)) => AddressRequest::Static(*address),
            Some(VmAddress::Dhcp) => AddressRequest::Dhcp,
            Some(VmAddress::Pool(pool)) => {
                match network_declared
                    .pools
                    .iter()
                    .position(|candidate| &candidate.name == pool)
                {
                    Some(index) => AddressRequest::Pool(index),
                    None => continue,
                }
            }
            None => match network_declared
                .pools
                .iter()
                .position(|candidate| candidate.purpose == PoolPurpose::Nodes)
            {
                Some(index) => AddressRequest::Pool(index),
                None => continue,
            },
        };
        let tenant = vm
            .tenant
            .as_ref()
            .and_then(|name| lab.tenants.iter().position(|tenant| &tenant.name == name));
        let endpoint = endpoint_index(lab, &vm.placement);
        for index in 0..vm.count {
            let name = if vm.count == 1 {
                vm.name.clone()
            } else {
                format!("{}-{index}", vm.name)
            };
            expanded.vms.push(VmSpec {
                name,
                role: Role::Plain {
                    role: vm.role.clone(),
                },
                instance: None,
                group: vm.name.clone(),
                endpoint,
                allowed_nodes: allowed_nodes(lab, endpoint, &vm.placement),
                anti_affinity: vm.placement.anti_affinity,
                cpu: vm.cpu,
                memory: vm.memory,
                disks: disks_or_default(&vm.disks),
                image: image_index(vm.image.as_ref()),
                network,
                address,
                tenant,
                protected: vm.protected,
                labels: Vec::new(),
                taints: Vec::new(),
                cloud_init: vm.cloud_init.clone(),
                source: vm.source.clone(),
            });
        }
    }
    expanded
}

fn apply_group(group: &mut NodeGroup, change: &GroupOverlay) {
    if let Some(count) = change.count {
        group.count = count;
    }
    if let Some(cpu) = change.cpu {
        group.cpu = cpu;
    }
    if let Some(memory) = change.memory {
        group.memory = memory;
    }
    if let Some(disks) = &change.disks {
        group.disks = disks.clone();
    }
}

fn endpoint_index(lab: &LabFile, placement: &Placement) -> usize {
    placement
        .proxmox
        .as_ref()
        .and_then(|name| {
            lab.proxmox
                .iter()
                .position(|endpoint| &endpoint.name == name)
        })
        .unwrap_or(0)
}

fn allowed_nodes(lab: &LabFile, endpoint: usize, placement: &Placement) -> Vec<usize> {
    let Some(declared) = lab.proxmox.get(endpoint) else {
        return Vec::new();
    };
    if placement.nodes.is_empty() {
        (0..declared.nodes.len()).collect()
    } else {
        placement
            .nodes
            .iter()
            .filter_map(|name| declared.nodes.iter().position(|node| &node.name == name))
            .collect()
    }
}

fn disks_or_default(disks: &[Disk]) -> Vec<Disk> {
    if disks.is_empty() {
        vec![Disk {
            size: DEFAULT_DISK,
            storage: None,
        }]
    } else {
        disks.to_vec()
    }
}

#[allow(clippy::too_many_arguments)]
fn group_vm(
    lab: &LabFile,
    group: &NodeGroup,
    name: String,
    role: Role,
    instance: Option<usize>,
    anti_affinity_group: String,
    endpoint: usize,
    image: Option<usize>,
    network: usize,
    address: AddressRequest,
    tenant: Option<usize>,
    source: Source,
) -> VmSpec {
    VmSpec {
        name,
        role,
        instance,
        group: anti_affinity_group,
        endpoint,
        allowed_nodes: allowed_nodes(lab, endpoint, &group.placement),
        anti_affinity: group.placement.anti_affinity,
        cpu: group.cpu,
        memory: group.memory,
        disks: disks_or_default(&group.disks),
        image,
        network,
        address,
        tenant,
        protected: false,
        labels: group.labels.clone(),
        taints: group.taints.clone(),
        cloud_init: group.cloud_init.clone(),
        source,
    }
}
