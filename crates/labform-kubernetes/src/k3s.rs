//! Each K3s node's `/etc/rancher/k3s/config.yaml`, derived from the lab's cluster and the plan.
//!
//! The first server initialises the cluster (`cluster-init` with embedded etcd); the other servers
//! and the agents join through `server: https://API:6443`, where API is the VIP when there is one
//! and the first server otherwise. Packaged components replaced by add-ons are disabled
//! (`servicelb` when MetalLB is installed, `traefik` unless Traefik is configured); with Calico or
//! Cilium, flannel and K3s's network policy controller are off.

use labform_model::{Cluster, Cni, Datastore, LabFile, NodeGroup};
use labform_planner::Plan;
use labform_planner::plan::{PlannedCluster, PlannedVm};
use serde::Serialize;

use crate::error::RenderError;
use crate::manifest::yaml_options;
use crate::token::{DATASTORE_DROP_IN, TOKEN_FILE};

/// What a node is in its cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    /// The server that initialises the cluster.
    FirstServer,
    /// A server that joins the first.
    JoiningServer,
    /// An agent (worker).
    Agent,
}

/// One node's K3s configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K3sNodeConfig {
    /// The VM.
    pub vm: String,
    /// Its role.
    pub role: NodeRole,
    /// `config.yaml`.
    pub config_yaml: String,
}

/// The K3s configuration file; field order is the order written.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct K3sConfig {
    token_file: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    cluster_init: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<String>,
    node_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    node_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    advertise_address: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tls_san: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_label: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_taint: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_cidr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_cidr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flannel_backend: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    disable_network_policy: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    disable: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    write_kubeconfig_mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    etcd_snapshot_schedule_cron: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    etcd_snapshot_retention: Option<u32>,
}

/// The lab's declaration of a planned cluster.
pub(crate) fn declared_cluster<'a>(
    lab: &'a LabFile,
    cluster: &PlannedCluster,
) -> Result<&'a Cluster, RenderError> {
    lab.clusters
        .iter()
        .find(|declared| declared.name == cluster.cluster)
        .ok_or_else(|| RenderError::Inconsistent {
            cluster: cluster.name.clone(),
            detail: format!("cluster `{}` is not in the lab", cluster.cluster),
        })
}

pub(crate) fn planned_vm<'a>(
    plan: &'a Plan,
    cluster: &PlannedCluster,
    name: &str,
) -> Result<&'a PlannedVm, RenderError> {
    plan.vms
        .iter()
        .find(|vm| vm.name == name)
        .ok_or_else(|| RenderError::Inconsistent {
            cluster: cluster.name.clone(),
            detail: format!("VM `{name}` is not in the plan"),
        })
}

/// The node group a planned VM belongs to, from its role (`server`, `agent/GROUP`).
fn node_group<'a>(declared: &'a Cluster, vm: &PlannedVm) -> Option<&'a NodeGroup> {
    if vm.role == "server" {
        return Some(&declared.servers);
    }
    let group = vm.role.strip_prefix("agent/")?;
    declared
        .agents
        .iter()
        .find(|agent| agent.name.as_deref().unwrap_or("agent") == group)
}

/// The `config.yaml` of every node of `cluster`, servers first. Only K3s clusters have them.
pub fn k3s_node_configs(
    lab: &LabFile,
    plan: &Plan,
    cluster: &PlannedCluster,
) -> Result<Vec<K3sNodeConfig>, RenderError> {
    let declared = declared_cluster(lab, cluster)?;
    if cluster.distribution != "k3s" {
        return Err(RenderError::Unsupported {
            cluster: cluster.name.clone(),
            detail: format!(
                "{} bootstrap is not automated by labform; only K3s nodes get a config.yaml",
                cluster.distribution
            ),
        });
    }
    let api = cluster
        .api_address
        .ok_or_else(|| RenderError::Inconsistent {
            cluster: cluster.name.clone(),
            detail: "the plan has no API address (no server with a static address)".to_owned(),
        })?;
    let join_url = format!("https://{api}:6443");
    let embedded_etcd = declared.datastore == Datastore::EmbeddedEtcd;
    let external = matches!(declared.datastore, Datastore::External(_));
    let mut disable = Vec::new();
    if declared.addons.metallb.is_some() {
        disable.push("servicelb");
    }
    if declared.addons.traefik.is_none() {
        disable.push("traefik");
    }
    let (flannel_backend, disable_network_policy) = match declared.cni {
        Cni::Flannel => ("vxlan", false),
        Cni::Calico | Cni::Cilium => ("none", true),
    };
    let backups = declared.backups.as_ref();
    let mut configs = Vec::new();
    for (index, name) in cluster.servers.iter().chain(&cluster.agents).enumerate() {
        let vm = planned_vm(plan, cluster, name)?;
        let group = node_group(declared, vm).ok_or_else(|| RenderError::Inconsistent {
            cluster: cluster.name.clone(),
            detail: format!("VM `{name}` has role `{}` without a node group", vm.role),
        })?;
        let is_server = index < cluster.servers.len();
        let role = match (is_server, index) {
            (true, 0) => NodeRole::FirstServer,
            (true, _) => NodeRole::JoiningServer,
            (false, _) => NodeRole::Agent,
        };
        let address = vm.nic.address.map(|address| address.to_string());
        let fqdn = vm
            .cloud_init
            .as_ref()
            .and_then(|summary| summary.fqdn.clone());
        let mut comments = vec![format!(
            "labform: K3s {} configuration of {name} in cluster {}: {}.",
            cluster.version,
            cluster.name,
            match role {
                NodeRole::FirstServer if embedded_etcd =>
                    "the first server, which initialises embedded etcd",
                NodeRole::FirstServer => "the first server",
                NodeRole::JoiningServer if external =>
                    "another server sharing the external datastore",
                NodeRole::JoiningServer => "a server joining through the API address",
                NodeRole::Agent => "an agent",
            },
        )];
        comments.push(format!(
            "The join token is read from {TOKEN_FILE}, which labform uploads (mode 0600) from its secret store."
        ));
        let mut config = K3sConfig {
            token_file: TOKEN_FILE,
            cluster_init: false,
            server: None,
            node_name: name.clone(),
            node_ip: address.clone(),
            advertise_address: None,
            tls_san: Vec::new(),
            node_label: group.labels.clone(),
            node_taint: group.taints.clone(),
            cluster_cidr: None,
            service_cidr: None,
            flannel_backend: None,
            disable_network_policy: false,
            disable: Vec::new(),
            write_kubeconfig_mode: None,
            etcd_snapshot_schedule_cron: None,
            etcd_snapshot_retention: None,
        };
        match role {
            NodeRole::Agent => config.server = Some(join_url.clone()),
            NodeRole::FirstServer | NodeRole::JoiningServer => {
                if role == NodeRole::FirstServer {
                    config.cluster_init = embedded_etcd;
                } else if !external {
                    config.server = Some(join_url.clone());
                }
                config.advertise_address = address.clone();
                let mut sans = vec![api.to_string(), name.clone()];
                sans.extend(fqdn);
                sans.extend(address);
                let mut seen = std::collections::BTreeSet::new();
                sans.retain(|san| seen.insert(san.clone()));
                config.tls_san = sans;
                config.cluster_cidr = Some(cluster.pod_cidr.clone());
                config.service_cidr = Some(cluster.service_cidr.clone());
                config.flannel_backend = Some(flannel_backend);
                config.disable_network_policy = disable_network_policy;
                config.disable = disable.clone();
                config.write_kubeconfig_mode = Some("0600");
                if embedded_etcd {
                    config.etcd_snapshot_schedule_cron =
                        backups.and_then(|backups| backups.etcd_snapshot_schedule.clone());
                    config.etcd_snapshot_retention =
                        backups.and_then(|backups| backups.etcd_snapshot_retention);
                }
                if let Datastore::External(datastore) = &declared.datastore {
                    comments.push(format!(
                        "datastore-endpoint is not written here: apply writes it to {DATASTORE_DROP_IN} (mode 0600) from the secret reference {}.",
                        datastore.endpoint
                    ));
                }
            }
        }
        let body =
            serde_saphyr::to_string_with_options(&config, yaml_options()).map_err(|error| {
                RenderError::Yaml {
                    cluster: cluster.name.clone(),
                    document: format!("config.yaml of {name}"),
                    message: error.to_string(),
                }
            })?;
        let mut text = String::new();
        for comment in comments {
            text.push_str("# ");
            text.push_str(&comment);
            text.push('\n');
        }
        text.push_str(&body);
        configs.push(K3sNodeConfig {
            vm: name.clone(),
            role,
            config_yaml: text,
        });
    }
    Ok(configs)
}
