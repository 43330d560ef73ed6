//! Clusters: each cluster instance's API address, nodes, add-ons in order and bootstrap steps.

use ipnet::Ipv4Net;
use labform_addons::{AddonDecisions, ClusterFacts, TenantUse};
use labform_model::lab::*;
use labform_model::validate::{DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR};

use super::*;
use crate::distribution::{ClusterShape, SharedStep, distribution_plan};
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
    let api_address = vip
        .or(first_server_address)
        .expect("cluster VMs always get addresses from a pool, and a cluster has a server");
    let pod: Ipv4Net = cluster
        .pod_cidr
        .unwrap_or_else(|| DEFAULT_POD_CIDR.parse().expect("valid"));
    let service: Ipv4Net = cluster
        .service_cidr
        .unwrap_or_else(|| DEFAULT_SERVICE_CIDR.parse().expect("valid"));
    let datastore = match &cluster.datastore {
        Datastore::EmbeddedEtcd => "embedded etcd".to_owned(),
        Datastore::Sqlite => "sqlite".to_owned(),
        Datastore::External(external) => format!("external ({})", external.endpoint),
    };
    let tenant_access = tenant_access(lab, cluster);
    let facts = ClusterFacts {
        instance: instance.name.clone(),
        scope: lab.scope().to_owned(),
        api_address: Some(api_address),
        pod_cidr: pod.to_string(),
        service_cidr: service.to_string(),
        members: members.len(),
        tenants: tenant_uses(&tenant_access),
        node_software: distribution_plan(cluster.distribution).node_software(),
    };
    let decisions = AddonDecisions {
        load_balancer_block: addresses.load_balancers.get(&index).copied(),
    };
    let addons: Vec<PlannedAddon> = cluster
        .addons
        .settings(&decisions)
        .unwrap_or_else(|addon| {
            panic!(
                "{} of `{}` is planned without its decision; allocate_addresses reports that, located",
                addon.key(),
                instance.name
            )
        })
        .into_iter()
        .map(|settings| PlannedAddon {
            name: settings.kind().key().to_owned(),
            detail: settings.plan_line(&facts),
            settings,
        })
        .collect();
    let api = api_address;
    let distribution = distribution_plan(cluster.distribution);
    let shape = ClusterShape {
        declared: cluster,
        version: &instance.version,
        network: &network.name,
        api,
        vip,
        pod,
        service,
        servers: &servers,
        agents: &agents,
    };
    let mut steps = distribution.bring_up_steps(&shape);
    // A distribution labform bootstraps says which of the shared steps it does not carry out
    // yet; the plan of one it does not bootstrap is marked as a whole.
    let not_automated = |shared: SharedStep| {
        if distribution.bootstrap_automated() && !distribution.shared_step_automated(shared) {
            format!(" (not automated on {} yet)", cluster.distribution)
        } else {
            String::new()
        }
    };
    let mut step =
        |action: String, target: Option<String>| steps.push(ClusterStep { action, target });
    step(distribution.readiness_step(&shape), None);
    for after_ready in distribution.after_ready_steps(&shape) {
        step(after_ready.action, after_ready.target);
    }
    // The groups' labels a node may not give itself, set through the API once it is Ready.
    let groups = std::iter::once((&cluster.servers, "server".to_owned())).chain(
        cluster.agents.iter().map(|group| {
            let name = group.name.as_deref().unwrap_or("agent");
            (group, format!("agent/{name}"))
        }),
    );
    for (group, role) in groups {
        if group.api_labels.is_empty() {
            continue;
        }
        let name = role.strip_prefix("agent/").unwrap_or(&role);
        let vms: Vec<&str> = members
            .iter()
            .filter(|vm| vm.role == role)
            .map(|vm| vm.name.as_str())
            .collect();
        if vms.is_empty() {
            continue;
        }
        step(
            format!(
                "label group {name} through the API (labels a node may not give itself): {}{}",
                group.api_labels.join(", "),
                not_automated(SharedStep::ApiLabels)
            ),
            Some(vms.join(", ")),
        );
    }
    for addon in &addons {
        step(
            format!(
                "install add-on {}: {}{}",
                addon.name,
                addon.detail,
                not_automated(SharedStep::Addon)
            ),
            None,
        );
    }
    if let Some(backups) = &cluster.backups
        && let Some(schedule) = &backups.etcd_snapshot_schedule
    {
        step(
            format!(
                "schedule etcd snapshots `{schedule}`, keep {}{}{}",
                backups.etcd_snapshot_retention.unwrap_or(5),
                distribution
                    .etcd_snapshots_how()
                    .map(|how| format!(" ({how})"))
                    .unwrap_or_default(),
                not_automated(SharedStep::EtcdSnapshots)
            ),
            // Every server (control plane) snapshots its own etcd member.
            Some(servers.join(", ")),
        );
    }
    let context = format!("{lab_name}-{}", instance.name);
    step(
        format!("merge kubeconfig context `{context}` (server https://{api}:6443)"),
        None,
    );
    let _ = expanded;
    // Servers first, the first server first, then the agents: the order nodes are brought up.
    let nodes = members
        .iter()
        .filter(|vm| vm.role == "server")
        .chain(members.iter().filter(|vm| vm.role != "server"))
        .map(|vm| cluster_node(cluster, vm, servers.first() == Some(&vm.name)))
        .collect();
    let state = match &cluster.datastore {
        Datastore::EmbeddedEtcd => PlannedDatastore::EmbeddedEtcd,
        Datastore::Sqlite => PlannedDatastore::Sqlite,
        Datastore::External(external) => PlannedDatastore::External {
            endpoint: external.endpoint.clone(),
        },
    };
    let etcd_snapshots = cluster
        .backups
        .as_ref()
        .filter(|backups| {
            backups.etcd_snapshot_schedule.is_some() || backups.etcd_snapshot_retention.is_some()
        })
        .map(|backups| EtcdSnapshots {
            schedule: backups.etcd_snapshot_schedule.clone(),
            retention: backups.etcd_snapshot_retention,
            // A schedule that does not parse is a validation error already.
            systemd_timer: backups
                .etcd_snapshot_schedule
                .as_deref()
                .filter(|_| distribution.etcd_snapshots_by_systemd_timer())
                .and_then(|schedule| labform_model::schedule::systemd_timer(schedule).ok()),
            cron_job: backups
                .etcd_snapshot_schedule
                .as_deref()
                .filter(|_| distribution.etcd_snapshots_by_cron_job())
                .and_then(|schedule| labform_model::schedule::cron_job_schedule(schedule).ok()),
        });
    PlannedCluster {
        name: instance.name.clone(),
        cluster: cluster.name.clone().into(),
        environment: instance
            .environment
            .map(|environment| lab.environments[environment].name.clone()),
        tenant: instance
            .tenant
            .map(|tenant| lab.tenants[tenant].name.clone()),
        distribution: cluster.distribution,
        version: instance.version.clone(),
        bootstrap_supported: distribution.bootstrap_automated(),
        api_address,
        api_vip: vip.is_some(),
        pod_cidr: pod.to_string(),
        service_cidr: service.to_string(),
        cni: cluster.cni,
        datastore,
        state,
        etcd_snapshots,
        settings: distribution.settings(&shape),
        servers,
        agents,
        nodes,
        addons,
        tenant_access,
        steps,
        kubeconfig_context: context,
    }
}

/// The node of `cluster` that `vm` is (servers come before agents in the plan's VMs).
fn cluster_node(cluster: &Cluster, vm: &PlannedVm, first: bool) -> PlannedClusterNode {
    let (role, group) = if vm.role == "server" {
        let role = if first {
            NodeRole::FirstServer
        } else {
            NodeRole::JoiningServer
        };
        (role, &cluster.servers)
    } else {
        let name = vm.role.strip_prefix("agent/").unwrap_or(&vm.role);
        let group = cluster
            .agents
            .iter()
            .find(|agent| agent.name.as_deref().unwrap_or("agent") == name)
            .expect("agent roles name one of the cluster's agent groups");
        (NodeRole::Agent, group)
    };
    PlannedClusterNode {
        vm: vm.name.clone(),
        role,
        group: group
            .name
            .clone()
            .unwrap_or_else(|| if role.is_server() { "server" } else { "agent" }.to_owned()),
        address: vm
            .nic
            .address
            .expect("cluster VMs always get addresses from a pool"),
        fqdn: vm
            .cloud_init
            .as_ref()
            .and_then(|cloud_init| cloud_init.fqdn.clone()),
        login_user: vm
            .cloud_init
            .as_ref()
            .map(|cloud_init| cloud_init.user.clone()),
        labels: group.labels.clone(),
        api_labels: group.api_labels.clone(),
        taints: group.taints.clone(),
    }
}

/// The tenants that use services of `cluster` (every instance of it), in lab order.
fn tenant_access(lab: &LabFile, cluster: &Cluster) -> Vec<TenantAccess> {
    lab.tenants
        .iter()
        .filter_map(|tenant| {
            let services: Vec<CentralService> = tenant
                .uses
                .iter()
                .filter(|access| access.cluster == cluster.name)
                .flat_map(|access| access.services.iter().copied())
                .collect();
            (!services.is_empty()).then(|| TenantAccess {
                tenant: tenant.name.clone(),
                namespace: format!("tenant-{}", tenant.name),
                service_account: tenant.name.clone(),
                token_secret: format!("{}-token", tenant.name),
                services,
            })
        })
        .collect()
}

/// The tenants of `access` as the add-ons read them.
fn tenant_uses(access: &[TenantAccess]) -> Vec<TenantUse> {
    access
        .iter()
        .map(|access| TenantUse {
            tenant: access.tenant.clone(),
            namespace: access.namespace.clone(),
            services: access.services.clone(),
        })
        .collect()
}
