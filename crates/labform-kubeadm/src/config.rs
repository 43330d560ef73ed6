//! Each node's kubeadm configuration, from the planned cluster alone, in the configuration API
//! its version reads ([`ConfigApi`]): the first control plane gets `InitConfiguration`,
//! `ClusterConfiguration` and `KubeletConfiguration` (for `kubeadm init --config`), the other
//! control planes a `JoinConfiguration` with `controlPlane` and the certificate key, the workers a
//! `JoinConfiguration`. Joins verify the control plane by the CA's public key hash
//! (`caCertHashes`), which labform knows in advance because it makes the CA.
//!
//! The secrets come in as [`JoinSecrets`]: their values when apply writes the file to a node,
//! or markers naming where labform keeps them when `labform render` shows it.

use std::time::Duration;

use labform_planner::plan::{NodeRole, PlannedCluster, PlannedClusterNode, PlannedDatastore};
use labform_secrets::ExposeSecret as _;
use serde_json::{Value, json};

use crate::error::KubeadmError;
use crate::secrets::{ClusterSecrets, secret_keys};
use crate::version::{ConfigApi, planned_version};

/// Where a kubeadm node reads its configuration (`kubeadm init|join --config`).
pub const CONFIG_PATH: &str = "/etc/kubernetes/labform/kubeadm.yaml";

/// The containerd socket the kubelet and kubeadm talk to.
const CONTAINERD_SOCKET: &str = "/var/run/containerd/containerd.sock";

/// The API server's port on every control plane and on the VIP.
pub const API_PORT: u16 = 6443;

/// What the configurations say for the secrets.
pub enum JoinSecrets<'a> {
    /// The values, for the file apply writes to a node (mode 0600).
    Values(&'a ClusterSecrets),
    /// Markers naming the store keys, for review (`labform render`).
    Redacted {
        /// The lab scope.
        scope: &'a str,
    },
}

/// The three values a node configuration may carry.
struct SecretTexts {
    token: String,
    certificate_key: String,
    discovery_hash: String,
}

impl JoinSecrets<'_> {
    fn texts(&self, cluster: &str) -> SecretTexts {
        match self {
            JoinSecrets::Values(secrets) => SecretTexts {
                token: secrets.bootstrap_token.expose_secret().to_owned(),
                certificate_key: secrets.certificate_key.expose_secret().to_owned(),
                discovery_hash: secrets.discovery_hash.clone(),
            },
            JoinSecrets::Redacted { scope } => {
                let keys = secret_keys(scope, cluster);
                SecretTexts {
                    token: format!("<secret: labform's store, {}>", keys.bootstrap_token),
                    certificate_key: format!("<secret: labform's store, {}>", keys.certificate_key),
                    discovery_hash: format!(
                        "<sha256 of the public key of the cluster CA in labform's store, {}>",
                        keys.ca_certificate
                    ),
                }
            }
        }
    }
}

/// Options that come from how the cluster is installed, not from the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallOptions {
    /// The registry the control-plane images come from when air-gapped (the images are
    /// imported into containerd under this name).
    pub image_repository: Option<String>,
    /// How long `kubeadm init` (and, from `v1beta4`, a control plane's `kubeadm join`) waits
    /// for the control plane's static pods to answer: `apiServer.timeoutForControlPlane` up to
    /// `v1beta3`, `timeouts.controlPlaneComponentHealthCheck` from `v1beta4`. kubeadm's own
    /// default (4 minutes) when absent; the CLI gives labform's readiness limit
    /// (`LABFORM_CLUSTER_TIMEOUT`, 10 minutes by default), so kubeadm waits as long as labform
    /// does on slow machines.
    pub control_plane_timeout: Option<Duration>,
}

/// `duration` as a Kubernetes `metav1.Duration` (Go's `time.Duration` text: `10m0s`, `1h0m0s`).
fn go_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// One node's kubeadm configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// The VM (and Kubernetes node name).
    pub vm: String,
    /// Its role.
    pub role: NodeRole,
    /// The file's text: comments, then the YAML documents.
    pub text: String,
}

/// A planned taint (`key=value:Effect` or `key:Effect`) as a Kubernetes taint.
fn taint(text: &str) -> Value {
    let (key_value, effect) = text.rsplit_once(':').unwrap_or((text, "NoSchedule"));
    match key_value.split_once('=') {
        Some((key, value)) => json!({"key": key, "value": value, "effect": effect}),
        None => json!({"key": key_value, "effect": effect}),
    }
}

/// `extraArgs`-shaped arguments: a map up to v1beta3, a list of `{name, value}` from v1beta4.
fn arguments(api: ConfigApi, pairs: &[(&str, String)]) -> Value {
    if api >= ConfigApi::V1beta4 {
        Value::Array(
            pairs
                .iter()
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect(),
        )
    } else {
        Value::Object(
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), json!(value)))
                .collect(),
        )
    }
}

fn node_registration(api: ConfigApi, node: &PlannedClusterNode) -> Value {
    let mut kubelet = vec![("node-ip", node.address.to_string())];
    if !node.labels.is_empty() {
        kubelet.push(("node-labels", node.labels.join(",")));
    }
    let socket = if api == ConfigApi::V1beta2 {
        CONTAINERD_SOCKET.to_owned()
    } else {
        format!("unix://{CONTAINERD_SOCKET}")
    };
    let mut registration = json!({
        "name": node.vm,
        "criSocket": socket,
        "kubeletExtraArgs": arguments(api, &kubelet),
    });
    // Without `taints`, kubeadm gives control planes its own control-plane taint.
    if !node.taints.is_empty() {
        registration["taints"] = Value::Array(node.taints.iter().map(|text| taint(text)).collect());
    }
    registration
}

fn api_endpoint(node: &PlannedClusterNode) -> Value {
    json!({"advertiseAddress": node.address.to_string(), "bindPort": API_PORT})
}

/// The `kubeadm.yaml` of every node of `cluster`, control planes first.
pub fn node_configs(
    cluster: &PlannedCluster,
    secrets: &JoinSecrets<'_>,
    options: &InstallOptions,
) -> Result<Vec<NodeConfig>, KubeadmError> {
    let version = planned_version(&cluster.name, &cluster.version)?;
    let api = version.config_api();
    let api_version = api.api_version();
    let texts = secrets.texts(&cluster.name);
    let endpoint = format!("{}:{API_PORT}", cluster.api_address);
    let timeout = options.control_plane_timeout.map(go_duration);
    let etcd = match &cluster.state {
        PlannedDatastore::EmbeddedEtcd | PlannedDatastore::Sqlite => {
            json!({"local": {"dataDir": "/var/lib/etcd"}})
        }
        PlannedDatastore::External { .. } => {
            return Err(KubeadmError::Unsupported {
                cluster: cluster.name.clone(),
                detail: "an external datastore is a K3s setting; kubeadm clusters keep etcd on their control planes".to_owned(),
            });
        }
    };
    let mut sans = vec![cluster.api_address.to_string()];
    for node in cluster.nodes.iter().filter(|node| node.role.is_server()) {
        sans.push(node.vm.clone());
        sans.extend(node.fqdn.clone());
        sans.push(node.address.to_string());
    }
    let mut seen = std::collections::BTreeSet::new();
    sans.retain(|san| seen.insert(san.clone()));
    let discovery = json!({
        "bootstrapToken": {
            "apiServerEndpoint": endpoint,
            "token": texts.token,
            "caCertHashes": [texts.discovery_hash],
        },
    });
    let mut configs = Vec::new();
    for node in &cluster.nodes {
        let mut documents = Vec::new();
        let what = match node.role {
            NodeRole::FirstServer => {
                documents.push(json!({
                    "apiVersion": api_version,
                    "kind": "InitConfiguration",
                    "bootstrapTokens": [{
                        "token": texts.token,
                        "description": format!("labform: joins nodes to {}", cluster.name),
                        "ttl": "24h0m0s",
                    }],
                    "nodeRegistration": node_registration(api, node),
                    "localAPIEndpoint": api_endpoint(node),
                    "certificateKey": texts.certificate_key,
                }));
                if let Some(timeout) = &timeout
                    && api >= ConfigApi::V1beta4
                {
                    documents[0]["timeouts"] = json!({"controlPlaneComponentHealthCheck": timeout});
                }
                let mut cluster_configuration = json!({
                    "apiVersion": api_version,
                    "kind": "ClusterConfiguration",
                    "clusterName": cluster.name,
                    "kubernetesVersion": version.to_string(),
                    "controlPlaneEndpoint": endpoint,
                    "networking": {
                        "podSubnet": cluster.pod_cidr,
                        "serviceSubnet": cluster.service_cidr,
                        "dnsDomain": "cluster.local",
                    },
                    "apiServer": {"certSANs": sans},
                    "etcd": etcd,
                    "certificatesDir": "/etc/kubernetes/pki",
                });
                if let Some(repository) = &options.image_repository {
                    cluster_configuration["imageRepository"] = json!(repository);
                }
                if let Some(timeout) = &timeout
                    && api < ConfigApi::V1beta4
                {
                    cluster_configuration["apiServer"]["timeoutForControlPlane"] = json!(timeout);
                }
                documents.push(cluster_configuration);
                documents.push(json!({
                    "apiVersion": "kubelet.config.k8s.io/v1beta1",
                    "kind": "KubeletConfiguration",
                    "cgroupDriver": "systemd",
                }));
                "the first control plane (kubeadm init)"
            }
            NodeRole::JoiningServer => {
                let mut join = json!({
                    "apiVersion": api_version,
                    "kind": "JoinConfiguration",
                    "nodeRegistration": node_registration(api, node),
                    "discovery": discovery,
                    "controlPlane": {
                        "localAPIEndpoint": api_endpoint(node),
                        "certificateKey": texts.certificate_key,
                    },
                });
                if let Some(timeout) = &timeout
                    && api >= ConfigApi::V1beta4
                {
                    join["timeouts"] = json!({"controlPlaneComponentHealthCheck": timeout});
                }
                documents.push(join);
                "a control plane joining through the API address (kubeadm join --control-plane)"
            }
            NodeRole::Agent => {
                documents.push(json!({
                    "apiVersion": api_version,
                    "kind": "JoinConfiguration",
                    "nodeRegistration": node_registration(api, node),
                    "discovery": discovery,
                }));
                "a worker (kubeadm join)"
            }
        };
        let body = labform_kubernetes::documents_to_yaml(&documents).map_err(|detail| {
            KubeadmError::Yaml {
                cluster: cluster.name.clone(),
                document: format!("kubeadm.yaml of {}", node.vm),
                detail,
            }
        })?;
        let mut text = format!(
            "# labform: kubeadm {} configuration ({}) of {} in cluster {}: {what}.\n",
            version, api_version, node.vm, cluster.name
        );
        if matches!(secrets, JoinSecrets::Redacted { .. }) {
            text.push_str(&format!(
                "# The bootstrap token, certificate key and CA hash are shown as markers: apply writes the values\n\
                 # from labform's secret store into {CONFIG_PATH} (mode 0600).\n"
            ));
        }
        // No `---` before the first document: kubeadm 1.20 reads the comments above it as an
        // empty document and refuses it for lacking `kind`.
        text.push_str(body.strip_prefix("---\n").unwrap_or(&body));
        configs.push(NodeConfig {
            vm: node.vm.clone(),
            role: node.role,
            text,
        });
    }
    Ok(configs)
}
