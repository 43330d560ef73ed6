//! Clusters: each cluster instance's API address, nodes, add-ons in order and bootstrap steps.

use ipnet::Ipv4Net;
use labform_model::addons::{AddonKind, IssuerKind};
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
    let addons: Vec<PlannedAddon> = cluster
        .addons
        .enabled()
        .into_iter()
        .map(|kind| PlannedAddon {
            name: kind.key().to_owned(),
            detail: addon_detail(lab, cluster, kind, load_balancers.as_deref(), members.len()),
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

pub(super) fn addon_detail(
    lab: &LabFile,
    cluster: &Cluster,
    kind: AddonKind,
    load_balancers: Option<&str>,
    nodes: usize,
) -> String {
    let addons = &cluster.addons;
    let version = |version: &Option<String>| {
        version
            .as_ref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default()
    };
    match kind {
        AddonKind::Metallb => {
            let metallb = addons.metallb.as_ref().expect("enabled");
            let mut text = format!("L2 pool {}", load_balancers.unwrap_or("?"));
            if !metallb.reserved.is_empty() {
                let reserved: Vec<String> = metallb
                    .reserved
                    .iter()
                    .map(|r| format!("{}={}", r.service, r.address))
                    .collect();
                text.push_str(&format!("; dedicated {}", reserved.join(", ")));
            }
            text
        }
        AddonKind::Traefik => {
            let traefik = addons.traefik.as_ref().expect("enabled");
            format!(
                "{:?} service{}",
                traefik.service_type,
                if traefik.dashboard { ", dashboard" } else { "" }
            )
        }
        AddonKind::CertManager => {
            let cert_manager = addons.cert_manager.as_ref().expect("enabled");
            let issuers: Vec<String> = cert_manager
                .issuers
                .iter()
                .map(|issuer| {
                    let kind = match issuer.kind {
                        IssuerKind::SelfSigned => "self-signed",
                        IssuerKind::AcmeHttp01 => "ACME HTTP-01",
                        IssuerKind::AcmeDns01 => "ACME DNS-01",
                    };
                    format!("{} ({kind})", issuer.name)
                })
                .collect();
            format!(
                "CRDs first{}{}",
                version(&cert_manager.version),
                if issuers.is_empty() {
                    String::new()
                } else {
                    format!("; issuers {}", issuers.join(", "))
                }
            )
        }
        AddonKind::KubePrometheusStack => {
            let stack = addons.kube_prometheus_stack.as_ref().expect("enabled");
            format!(
                "Prometheus, Grafana, node exporter{}{}",
                stack
                    .retention
                    .as_ref()
                    .map(|r| format!("; retention {r}"))
                    .unwrap_or_default(),
                stack
                    .storage
                    .map(|s| format!("; {s} volume"))
                    .unwrap_or_default()
            )
        }
        AddonKind::Longhorn => {
            let longhorn = addons.longhorn.as_ref().expect("enabled");
            let replicas = longhorn.replicas.unwrap_or(3.min(nodes as u32).max(1));
            format!(
                "{replicas} replicas; open-iscsi on every node{}",
                if longhorn.default_storage_class {
                    "; default StorageClass"
                } else {
                    ""
                }
            )
        }
        AddonKind::Argocd => {
            let argocd = addons.argocd.as_ref().expect("enabled");
            if argocd.application_sets.is_empty() {
                "Argo CD".to_owned()
            } else {
                let sets: Vec<String> = argocd
                    .application_sets
                    .iter()
                    .map(|set| format!("{} ({} {})", set.name, set.repository, set.directories))
                    .collect();
                format!("ApplicationSets {}", sets.join(", "))
            }
        }
        AddonKind::Vault => {
            let vault = addons.vault.as_ref().expect("enabled");
            format!(
                "{} replica(s), raft storage{}",
                vault.replicas.unwrap_or(1),
                vault.storage.map(|s| format!(" {s}")).unwrap_or_default()
            )
        }
        AddonKind::Minio => {
            let minio = addons.minio.as_ref().expect("enabled");
            format!(
                "object storage{}",
                minio.storage.map(|s| format!(" {s}")).unwrap_or_default()
            )
        }
        AddonKind::Gitlab => {
            let gitlab = addons.gitlab.as_ref().expect("enabled");
            let tenants: Vec<&str> = lab
                .tenants
                .iter()
                .filter(|tenant| {
                    tenant
                        .uses
                        .iter()
                        .any(|access| access.cluster == cluster.name)
                })
                .map(|tenant| tenant.name.as_str())
                .collect();
            format!(
                "at {}{}",
                gitlab.domain,
                if tenants.is_empty() {
                    String::new()
                } else {
                    format!("; groups for tenants {}", tenants.join(", "))
                }
            )
        }
        AddonKind::ExternalSecrets => {
            let external = addons.external_secrets.as_ref().expect("enabled");
            let provider = match (external.provider, &external.project_id) {
                (labform_model::addons::SecretProvider::Bitwarden, Some(project)) => {
                    format!("Bitwarden Secrets Manager project {project}")
                }
                (labform_model::addons::SecretProvider::Bitwarden, None) => {
                    "Bitwarden Secrets Manager".to_owned()
                }
                (labform_model::addons::SecretProvider::Vault, _) => "Vault".to_owned(),
            };
            format!(
                "ClusterSecretStore from {provider} (token {})",
                external.access_token
            )
        }
        AddonKind::EnvoyGateway => {
            let envoy = addons.envoy_gateway.as_ref().expect("enabled");
            format!(
                "Gateway API{}",
                envoy
                    .domain
                    .as_ref()
                    .map(|d| format!(" for *.{d}"))
                    .unwrap_or_default()
            )
        }
        AddonKind::TailscaleOperator => "private services on the tailnet".to_owned(),
    }
}
