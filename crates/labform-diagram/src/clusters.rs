//! The clusters view: the cluster instances grouped by environment, with distribution, nodes and
//! add-ons, and the tenants with arrows to the clusters they own and to the clusters whose
//! central services they use. Many alike clusters (same environment, distribution, shape and
//! add-ons) or tenants (same services) are drawn as one box listing them all, so the 2,000-VM
//! lab's 330 clusters are a handful of boxes.

use std::collections::BTreeMap;

use labform_planner::plan::{Plan, PlannedCluster, PlannedTenant};

use crate::graph::{BoxKind, DiagramBox, Edge, ElementId, Group};
use crate::status::{Live, Status, StatusCounts};

/// A lab with more cluster instances than this draws alike ones as one box.
pub const CLUSTER_THRESHOLD: usize = 16;
/// A lab with more tenants than this draws alike ones as one box.
pub const TENANT_THRESHOLD: usize = 16;

/// The clusters view of `plan` and its edges, coloured by `live` when given.
pub fn view(plan: &Plan, live: Option<&Live>) -> (Group, Vec<Edge>) {
    let mut view = Group::new(ElementId::new(&["clusters"]), "Clusters");
    // Which box each cluster instance and tenant ended up in.
    let mut cluster_box: BTreeMap<&str, ElementId> = BTreeMap::new();
    let mut tenant_box: BTreeMap<&str, ElementId> = BTreeMap::new();

    let mut environments: Vec<(Option<&str>, Vec<&PlannedCluster>)> = Vec::new();
    for cluster in &plan.clusters {
        let environment = cluster.environment.as_deref();
        match environments
            .iter_mut()
            .find(|(name, _)| *name == environment)
        {
            Some((_, clusters)) => clusters.push(cluster),
            None => environments.push((environment, vec![cluster])),
        }
    }
    let collapse_clusters = plan.clusters.len() > CLUSTER_THRESHOLD;
    for (environment, clusters) in environments {
        let environment_name = environment.unwrap_or("");
        let mut group = Group::new(
            ElementId::new(&["environment", environment_name]),
            match environment {
                Some(name) => format!("environment {name}"),
                None => "no environment".to_string(),
            },
        );
        let buckets = if collapse_clusters {
            bucket(clusters, cluster_signature)
        } else {
            clusters.into_iter().map(|cluster| vec![cluster]).collect()
        };
        for members in buckets {
            let diagram_box = if members.len() == 1 {
                cluster_box_of(plan, members[0], live)
            } else {
                collapsed_clusters(plan, environment_name, &members, live)
            };
            for cluster in &members {
                cluster_box.insert(&cluster.name, diagram_box.id.clone());
            }
            group.boxes.push(diagram_box);
        }
        view.groups.push(group);
    }

    if !plan.tenants.is_empty() {
        let mut group = Group::new(ElementId::new(&["tenants"]), "Tenants");
        let tenants: Vec<&PlannedTenant> = plan.tenants.iter().collect();
        let buckets = if plan.tenants.len() > TENANT_THRESHOLD {
            bucket(tenants, |tenant| tenant_signature(plan, tenant))
        } else {
            tenants.into_iter().map(|tenant| vec![tenant]).collect()
        };
        for (index, members) in buckets.into_iter().enumerate() {
            let diagram_box = if members.len() == 1 {
                tenant_box_of(members[0], live)
            } else {
                collapsed_tenants(index, &members, live)
            };
            for tenant in &members {
                tenant_box.insert(&tenant.name, diagram_box.id.clone());
            }
            group.boxes.push(diagram_box);
        }
        view.groups.push(group);
    }

    // Edges, merged when collapsed boxes make several the same.
    let mut edges: Vec<Edge> = Vec::new();
    let mut add = |from: &ElementId, to: &ElementId, label: String| match edges
        .iter_mut()
        .find(|edge| edge.from == *from && edge.to == *to)
    {
        Some(edge) => {
            for part in label.split(", ") {
                if !edge.label.split(", ").any(|existing| existing == part) {
                    edge.label.push_str(", ");
                    edge.label.push_str(part);
                }
            }
        }
        None => edges.push(Edge {
            from: from.clone(),
            to: to.clone(),
            label,
        }),
    };
    for cluster in &plan.clusters {
        let Some(to) = cluster_box.get(cluster.name.as_str()) else {
            continue;
        };
        if let Some(from) = cluster
            .tenant
            .as_deref()
            .and_then(|tenant| tenant_box.get(tenant))
        {
            add(from, to, "owns".to_string());
        }
        for access in &cluster.tenant_access {
            if let Some(from) = tenant_box.get(access.tenant.as_str()) {
                let services: Vec<String> = access
                    .services
                    .iter()
                    .map(|service| service.to_string())
                    .collect();
                add(from, to, services.join(", "));
            }
        }
    }
    (view, edges)
}

/// Groups `items` by `signature`, keeping first-seen order.
fn bucket<'a, T, K: PartialEq>(items: Vec<&'a T>, signature: impl Fn(&T) -> K) -> Vec<Vec<&'a T>> {
    let mut buckets: Vec<(K, Vec<&'a T>)> = Vec::new();
    for item in items {
        let key = signature(item);
        match buckets.iter_mut().find(|(existing, _)| *existing == key) {
            Some((_, members)) => members.push(item),
            None => buckets.push((key, vec![item])),
        }
    }
    buckets.into_iter().map(|(_, members)| members).collect()
}

type ClusterSignature = (String, String, usize, usize, Vec<String>, bool, bool);

fn cluster_signature(cluster: &PlannedCluster) -> ClusterSignature {
    (
        cluster.distribution.to_string(),
        cluster.version.clone(),
        cluster.servers.len(),
        cluster.agents.len(),
        cluster
            .addons
            .iter()
            .map(|addon| addon.name.clone())
            .collect(),
        cluster.tenant.is_some(),
        cluster.tenant_access.is_empty(),
    )
}

fn tenant_signature(plan: &Plan, tenant: &PlannedTenant) -> Vec<String> {
    // The central services a tenant uses, by the cluster that offers them (not the tenant's own
    // clusters, which differ per tenant).
    let mut used: Vec<String> = plan
        .clusters
        .iter()
        .flat_map(|cluster| {
            cluster
                .tenant_access
                .iter()
                .filter(|access| access.tenant == tenant.name)
                .map(move |access| {
                    let services: Vec<String> =
                        access.services.iter().map(|s| s.to_string()).collect();
                    format!("{}: {}", cluster.name, services.join(", "))
                })
        })
        .collect();
    used.push(format!("{} clusters", tenant.clusters.len()));
    used
}

fn cluster_status(plan: &Plan, cluster: &PlannedCluster, live: &Live) -> StatusCounts {
    let mut counts = StatusCounts::default();
    for node in &cluster.nodes {
        if let Some(vm) = plan.vms.iter().find(|vm| vm.name == node.vm) {
            counts.add(live.vm(&vm.endpoint, vm.vm_id));
        }
    }
    counts
}

/// `1 server, 2 agents` (and `suffix`).
fn nodes_line(cluster: &PlannedCluster, suffix: &str) -> String {
    let count = |number: usize, noun: &str| {
        if number == 1 {
            format!("1 {noun}")
        } else {
            format!("{number} {noun}s")
        }
    };
    format!(
        "{}, {}{suffix}",
        count(cluster.servers.len(), "server"),
        count(cluster.agents.len(), "agent")
    )
}

fn addons_line(cluster: &PlannedCluster) -> Option<String> {
    if cluster.addons.is_empty() {
        return None;
    }
    let names: Vec<&str> = cluster
        .addons
        .iter()
        .map(|addon| addon.name.as_str())
        .collect();
    Some(format!("add-ons: {}", names.join(", ")))
}

fn cluster_box_of(plan: &Plan, cluster: &PlannedCluster, live: Option<&Live>) -> DiagramBox {
    let mut lines = vec![
        cluster.name.clone(),
        format!("{} {}", cluster.distribution, cluster.version),
        nodes_line(cluster, ""),
        format!(
            "API {}{}",
            cluster.api_address,
            if cluster.api_vip { " (VIP)" } else { "" }
        ),
    ];
    lines.extend(addons_line(cluster));
    if let Some(tenant) = &cluster.tenant {
        lines.push(format!("tenant {tenant}"));
    }
    let mut status = None;
    if let Some(live) = live {
        let counts = cluster_status(plan, cluster, live);
        if let Some(worst) = counts.worst() {
            lines.push(counts.summary());
            status = Some(worst);
        }
    }
    DiagramBox {
        id: ElementId::new(&["cluster", &cluster.name]),
        kind: BoxKind::Cluster,
        lines,
        members: cluster.nodes.iter().map(|node| node.vm.clone()).collect(),
        status,
    }
}

fn collapsed_clusters(
    plan: &Plan,
    environment: &str,
    members: &[&PlannedCluster],
    live: Option<&Live>,
) -> DiagramBox {
    let first = members[0];
    let mut lines = vec![
        format!("{} clusters", members.len()),
        format!("{} {}", first.distribution, first.version),
        nodes_line(first, " each"),
    ];
    lines.extend(addons_line(first));
    let tenants = members
        .iter()
        .filter(|cluster| cluster.tenant.is_some())
        .count();
    if tenants > 0 {
        lines.push(format!("owned by {tenants} tenants"));
    }
    let mut status = None;
    if let Some(live) = live {
        let mut counts = StatusCounts::default();
        for cluster in members {
            if let Some(worst) = cluster_status(plan, cluster, live).worst() {
                counts.add(worst);
            }
        }
        if let Some(worst) = counts.worst() {
            lines.push(counts.summary());
            status = Some(worst);
        }
    }
    DiagramBox {
        id: ElementId::new(&["clusters", environment, &first.name]),
        kind: BoxKind::Cluster,
        lines,
        members: members.iter().map(|cluster| cluster.name.clone()).collect(),
        status,
    }
}

fn tenant_box_of(tenant: &PlannedTenant, live: Option<&Live>) -> DiagramBox {
    let mut lines = vec![
        format!("tenant {}", tenant.name),
        format!("pool {}", tenant.pool),
    ];
    if !tenant.services.is_empty() {
        lines.push(format!("uses {}", tenant.services.join(", ")));
    }
    let status: Option<Status> = live.map(|live| live.tenant(&tenant.name));
    if let Some(status) = status {
        lines.push(status.name().to_string());
    }
    DiagramBox {
        id: ElementId::new(&["tenant", &tenant.name]),
        kind: BoxKind::Tenant,
        lines,
        members: Vec::new(),
        status,
    }
}

fn collapsed_tenants(index: usize, members: &[&PlannedTenant], live: Option<&Live>) -> DiagramBox {
    let mut lines = vec![format!("{} tenants", members.len())];
    let clusters: usize = members.iter().map(|tenant| tenant.clusters.len()).sum();
    lines.push(format!("{clusters} clusters of their own"));
    let mut status = None;
    if let Some(live) = live {
        let mut counts = StatusCounts::default();
        for tenant in members {
            counts.add(live.tenant(&tenant.name));
        }
        lines.push(counts.summary());
        status = counts.worst();
    }
    DiagramBox {
        id: ElementId::new(&["tenants", &index.to_string()]),
        kind: BoxKind::Tenant,
        lines,
        members: members.iter().map(|tenant| tenant.name.clone()).collect(),
        status,
    }
}
