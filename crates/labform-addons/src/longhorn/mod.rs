//! Longhorn, replicated block storage on the nodes' disks: replicas per volume (at most the
//! node count), optionally the default StorageClass; its nodes need open-iscsi (and NFS for
//! RWX volumes), which cloud-init installs, or, on nodes without a package manager (Talos), the
//! iSCSI and util-linux tools as system extensions of their image with Longhorn's data directory
//! mounted into the kubelet ([`NodeSoftware`]).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::{CheckContext, ClusterFacts, NodeSoftware};
use crate::output::{AddonError, Chart, Manifests};
use crate::problem::{Problem, ProblemPath};
use crate::registry::{Addon, AddonRendering, Addons};

/// The chart version when the lab names none.
pub const DEFAULT_VERSION: &str = "1.7.2";

/// Longhorn options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Longhorn {
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Replicas per volume (default 3; at most the number of nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// Make Longhorn the default StorageClass.
    #[serde(default)]
    pub default_storage_class: bool,
}

impl Addon for Longhorn {
    fn namespace(&self) -> Option<&'static str> {
        Some("longhorn-system")
    }

    fn node_packages(&self) -> &'static [&'static str] {
        &["open-iscsi", "nfs-common"]
    }

    fn image_extensions(&self) -> &'static [&'static str] {
        // Longhorn's engine talks iSCSI and needs `fstrim`, `nsenter` and friends on the host.
        &["siderolabs/iscsi-tools", "siderolabs/util-linux-tools"]
    }

    fn kubelet_host_directories(&self) -> &'static [&'static str] {
        &["/var/lib/longhorn"]
    }

    fn check(&self, at: &ProblemPath, context: &CheckContext<'_>) -> Vec<Problem> {
        let nodes = context.nodes;
        let replicas = self.replicas.unwrap_or(3.min(nodes.max(1)));
        if replicas == 0 || replicas > nodes {
            return vec![
                Problem::new(
                    "longhorn-replicas",
                    at.at("replicas"),
                    format!("{replicas} Longhorn replicas on a cluster of {nodes} node(s)"),
                )
                .hint(format!(
                    "replicas must be between 1 and the node count ({nodes})"
                )),
            ];
        }
        Vec::new()
    }
}

impl AddonRendering for Longhorn {
    fn plan_line(&self, facts: &ClusterFacts) -> String {
        let nodes = u32::try_from(facts.members).unwrap_or(u32::MAX);
        let replicas = self.replicas.unwrap_or(3.min(nodes).max(1));
        let prerequisites = match facts.node_software {
            NodeSoftware::CloudInitPackages => "open-iscsi on every node",
            NodeSoftware::ImageExtensions => {
                "iSCSI and util-linux tools as system extensions of every node's image, /var/lib/longhorn mounted into the kubelet"
            }
        };
        format!(
            "{replicas} replicas; {prerequisites}{}",
            if self.default_storage_class {
                "; default StorageClass"
            } else {
                ""
            }
        )
    }

    fn manifests(&self, facts: &ClusterFacts, _: &Addons) -> Result<Manifests, AddonError> {
        let replicas = self.replicas.unwrap_or(3);
        let prerequisites = match facts.node_software {
            NodeSoftware::CloudInitPackages => {
                "its node prerequisite open-iscsi is installed by cloud-init"
            }
            NodeSoftware::ImageExtensions => {
                "its node prerequisites, the iSCSI and util-linux tools, are system extensions of the nodes' image, and /var/lib/longhorn is mounted into the kubelet"
            }
        };
        let mut manifests = Manifests::default();
        manifests.chart(Chart {
            name: "longhorn".to_owned(),
            chart: "longhorn".to_owned(),
            repo: Some("https://charts.longhorn.io".to_owned()),
            version: self
                .version
                .as_deref()
                .unwrap_or(DEFAULT_VERSION)
                .to_owned(),
            namespace: "longhorn-system".to_owned(),
            values: json!({
                "defaultSettings": {"defaultReplicaCount": replicas},
                "persistence": {
                    "defaultClass": self.default_storage_class,
                    "defaultClassReplicaCount": replicas,
                },
            }),
            bootstrap: false,
            comment: format!("Longhorn with {replicas} replicas per volume; {prerequisites}."),
        });
        Ok(manifests)
    }
}
