//! Each K3s node's `/etc/rancher/k3s/config.yaml`, from the planned cluster alone.
//!
//! The first server initialises the cluster (`cluster-init` with embedded etcd); the other servers
//! and the agents join through `server: https://API:6443`, where API is the VIP when there is one
//! and the first server otherwise. Packaged components replaced by add-ons are disabled
//! (`servicelb` when MetalLB is installed, `traefik` unless Traefik is configured); with Calico or
//! Cilium, flannel and K3s's network policy controller are off. The planner decides these
//! ([`K3sSettings`]); this module writes them down.

pub use labform_planner::plan::NodeRole;
use labform_planner::plan::{DistributionSettings, K3sSettings, PlannedCluster, PlannedDatastore};
use serde::Serialize;

use crate::error::RenderError;
use crate::manifest::yaml_options;
use crate::token::{DATASTORE_DROP_IN, TOKEN_FILE};

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
struct K3sConfig<'a> {
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
    flannel_backend: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    disable_network_policy: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    disable: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    write_kubeconfig_mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    etcd_snapshot_schedule_cron: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    etcd_snapshot_retention: Option<u32>,
}

/// The settings of `cluster` when it is a K3s cluster.
pub(crate) fn k3s_settings(cluster: &PlannedCluster) -> Result<&K3sSettings, RenderError> {
    match &cluster.settings {
        DistributionSettings::K3s(settings) => Ok(settings),
        _ => Err(RenderError::Unsupported {
            cluster: cluster.name.clone(),
            detail: format!(
                "{} bootstrap is not automated by labform; only K3s nodes get a config.yaml",
                cluster.distribution
            ),
        }),
    }
}

/// The `config.yaml` of every node of `cluster`, servers first. Only K3s clusters have them.
pub fn k3s_node_configs(cluster: &PlannedCluster) -> Result<Vec<K3sNodeConfig>, RenderError> {
    let settings = k3s_settings(cluster)?;
    let api = cluster.api_address;
    let join_url = format!("https://{api}:6443");
    let embedded_etcd = cluster.state == PlannedDatastore::EmbeddedEtcd;
    let external = matches!(cluster.state, PlannedDatastore::External { .. });
    let disable: Vec<&str> = settings.disable.iter().map(String::as_str).collect();
    let mut configs = Vec::new();
    for node in &cluster.nodes {
        let name = &node.vm;
        let role = node.role;
        let address = Some(node.address.to_string());
        let fqdn = node.fqdn.clone();
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
            node_label: node.labels.clone(),
            node_taint: node.taints.clone(),
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
                config.flannel_backend = Some(settings.flannel_backend.clone());
                config.disable_network_policy = settings.disable_network_policy;
                config.disable = disable.clone();
                config.write_kubeconfig_mode = Some("0600");
                if embedded_etcd && let Some(snapshots) = &cluster.etcd_snapshots {
                    config.etcd_snapshot_schedule_cron = snapshots.schedule.clone();
                    config.etcd_snapshot_retention = snapshots.retention;
                }
                if let PlannedDatastore::External { endpoint } = &cluster.state {
                    comments.push(format!(
                        "datastore-endpoint is not written here: apply writes it to {DATASTORE_DROP_IN} (mode 0600) from the secret reference {endpoint}."
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
