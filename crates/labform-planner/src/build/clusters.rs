//! Clusters: each cluster instance's API address, nodes, add-ons in order and bootstrap steps.

use ipnet::Ipv4Net;
use labform_addons::{AddonKind, ClusterFacts, TenantUse};
use labform_model::lab::*;
use labform_model::validate::{DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR};

use super::*;
use crate::expand::{Expanded, Instance};

pub(super) fn plan_cluster(
    lab: &LabFile,
    lab_name: &str,
    expanded: &Expanded,
    index: usize,
    instance: &Instance,
    addresses: &Addresses,
    vms: &[PlannedVm],
) -> PlannedCluster {
    let cluster = &lab.clusters[instance.cluster];
    let network = &lab.networks[instance.network];
    let members: Vec<&PlannedVm> = vms
        .iter()
        .filter(|vm| vm.cluster.as_deref() == Some(instance.name.as_str()))
        .collect();
    let servers: Vec<String> = members
        .iter()
        .filter(|vm| vm.role == "server")
        .map(|vm| vm.name.clone())
        .collect();
    let agents: Vec<String> = members
        .iter()
        .filter(|vm| vm.role != "server")
        .map(|vm| vm.name.clone())
        .collect();
    let vip = addresses.vips.get(&index).copied();
    let first_server_address = members
        .iter()
        .find(|vm| vm.role == "server")
        .and_then(|vm| vm.nic.address);
    let api_address = vip.or(first_server_address);
    let pod: Ipv4Net = cluster
        .pod_cidr
        .unwrap_or_else(|| DEFAULT_POD_CIDR.parse().expect("valid"));
    let service: Ipv4Net = cluster
        .service_cidr
        .unwrap_or_else(|| DEFAULT_SERVICE_CIDR.parse().expect("valid"));
    let load_balancers = addresses
        .load_balancers
        .get(&index)
        .map(|(first, last)| format!("{first}-{last}"));
    let datastore = match &cluster.datastore {
        Datastore::EmbeddedEtcd => "embedded etcd".to_owned(),
        Datastore::Sqlite => "sqlite".to_owned(),
        Datastore::External(external) => format!("external ({})", external.endpoint),
    };
    let facts = ClusterFacts {
        instance: instance.name.clone(),
        scope: lab.scope().to_owned(),
        api_address,
        pod_cidr: pod.to_string(),
        service_cidr: service.to_string(),
        load_balancer_block: addresses.load_balancers.get(&index).copied(),
        members: members.len(),
        tenants: tenants_using(lab, cluster),
    };
    let addons: Vec<PlannedAddon> = cluster
        .addons
        .settings()
        .into_iter()
        .zip(cluster.addons.plan_lines(&facts))
        .map(|(settings, (kind, detail))| PlannedAddon {
            name: kind.key().to_owned(),
            detail,
            settings,
        })
        .collect();
    let api = api_address
        .map(|address| address.to_string())
        .unwrap_or_else(|| "?".to_owned());
    let first = servers.first().cloned();
    let mut steps = Vec::new();
    let mut step =
        |action: String, target: Option<String>| steps.push(ClusterStep { action, target });
    match cluster.distribution {
        Distribution::K3s => {
            let mut disabled = Vec::new();
            if cluster.addons.metallb.is_some() {
                disabled.push("servicelb");
            }
            if cluster.addons.traefik.is_none() {
                disabled.push("traefik");
            }
            let cni = match cluster.cni {
                Cni::Flannel => "flannel (vxlan)".to_owned(),
                other => format!("no flannel; {} installed after", other.as_str()),
            };
            let store = match &cluster.datastore {
                Datastore::EmbeddedEtcd => "cluster-init (embedded etcd)",
                Datastore::Sqlite => "SQLite",
                Datastore::External(_) => "external datastore",
            };
            step(
                format!(
                    "install K3s {} with {store}; tls-san {api}; cluster-cidr {pod}, service-cidr {service}; CNI {cni}{}",
                    instance.version,
                    if disabled.is_empty() {
                        String::new()
                    } else {
                        format!("; disable {}", disabled.join(", "))
                    }
                ),
                first.clone(),
            );
            if let Some(vip) = vip {
                step(
                    format!(
                        "deploy kube-vip announcing API VIP {vip} by ARP on network `{}`",
                        network.name
                    ),
                    first.clone(),
                );
            }
            if cluster.cni != Cni::Flannel {
                step(
                    format!("install {} for pod network {pod}", cluster.cni.as_str()),
                    first.clone(),
                );
            }
            if servers.len() > 1 {
                step(
                    format!("join servers through https://{api}:6443, one at a time"),
                    Some(servers[1..].join(", ")),
                );
            }
            if !agents.is_empty() {
                step(
                    format!("join agents through https://{api}:6443"),
                    Some(agents.join(", ")),
                );
            }
        }
        Distribution::Kubeadm => {
            step(
                format!(
                    "cloud-init installs containerd and kubeadm {} (not automated by labform yet)",
                    instance.version
                ),
                None,
            );
            step(
                format!(
                    "kubeadm init with control-plane endpoint {api}:6443, pod network {pod}, service network {service}"
                ),
                first.clone(),
            );
            step(
                format!("install {} for pod network {pod}", cluster.cni.as_str()),
                first.clone(),
            );
            if servers.len() > 1 {
                step(
                    "kubeadm join --control-plane".to_owned(),
                    Some(servers[1..].join(", ")),
                );
            }
            if !agents.is_empty() {
                step("kubeadm join".to_owned(), Some(agents.join(", ")));
            }
        }
        Distribution::Talos => {
            step(
                format!(
                    "generate Talos {} machine configs (endpoint https://{api}:6443, pods {pod}, services {service})",
                    instance.version
                ),
                None,
            );
            step(
                "apply control-plane configs; talosctl bootstrap on the first".to_owned(),
                Some(servers.join(", ")),
            );
            if !agents.is_empty() {
                step("apply worker configs".to_owned(), Some(agents.join(", ")));
            }
        }
    }
    step(
        format!(
            "wait until the API answers and all {} nodes are Ready",
            members.len()
        ),
        None,
    );
    for addon in &addons {
        step(
            format!("install add-on {}: {}", addon.name, addon.detail),
            None,
        );
    }
    if let Some(backups) = &cluster.backups {
        if let Some(schedule) = &backups.etcd_snapshot_schedule {
            step(
                format!(
                    "schedule etcd snapshots `{schedule}`, keep {}",
                    backups.etcd_snapshot_retention.unwrap_or(5)
                ),
                first.clone(),
            );
        }
        if let (Some(schedule), Some(storage)) = (&backups.vzdump_schedule, &backups.storage) {
            step(
                format!(
                    "schedule vzdump `{schedule}` to {storage}, keep {}",
                    backups.keep.unwrap_or(7)
                ),
                None,
            );
        }
    }
    let context = format!("{lab_name}-{}", instance.name);
    step(
        format!("merge kubeconfig context `{context}` (server https://{api}:6443)"),
        None,
    );
    let _ = expanded;
    PlannedCluster {
        name: instance.name.clone(),
        cluster: cluster.name.clone(),
        environment: instance
            .environment
            .map(|environment| lab.environments[environment].name.clone()),
        tenant: instance
            .tenant
            .map(|tenant| lab.tenants[tenant].name.clone()),
        distribution: cluster.distribution.as_str().to_owned(),
        version: instance.version.clone(),
        bootstrap_supported: cluster.distribution == Distribution::K3s,
        api_address,
        api_vip: vip.is_some(),
        pod_cidr: pod.to_string(),
        service_cidr: service.to_string(),
        cni: cluster.cni.as_str().to_owned(),
        datastore,
        load_balancer_addresses: load_balancers,
        servers,
        agents,
        addons,
        steps,
        kubeconfig_context: context,
    }
}

/// The tenants with a `uses` entry naming `cluster`, in lab order, as the add-ons read them.
fn tenants_using(lab: &LabFile, cluster: &Cluster) -> Vec<TenantUse> {
    lab.tenants
        .iter()
        .filter(|tenant| {
            tenant
                .uses
                .iter()
                .any(|access| access.cluster == cluster.name)
        })
        .map(|tenant| TenantUse {
            tenant: tenant.name.clone(),
            namespace: format!("tenant-{}", tenant.name),
            services: tenant
                .uses
                .iter()
                .filter(|access| access.cluster == cluster.name)
                .flat_map(|access| access.services.iter())
                .map(|service| match service {
                    CentralService::Gitlab => AddonKind::Gitlab,
                    CentralService::Vault => AddonKind::Vault,
                    CentralService::Minio => AddonKind::Minio,
                })
                .collect(),
        })
        .collect()
}
