//! The acting side of the distribution seam: what a Kubernetes distribution does with a planned
//! cluster, as one trait ([`ClusterDistribution`]) and one table keyed by [`Distribution`]
//! ([`Distributions`]).
//!
//! A distribution renders each node's files (pure, for `labform render` and for its own
//! installation), brings a cluster up in the plan's order (install the first control plane, join
//! the others one at a time, then the workers; upgrades one node at a time with cordon and
//! drain; readiness; add-ons; the kubeconfig into the secret store), compares the nodes with
//! what it would put there (drift) and takes itself off the nodes (reset). K3s is implemented
//! by `labform-k3s`; other distributions live in crates of their own beside it and register in
//! the table the CLI builds, so adding one never touches another.
//!
//! What every distribution shares lives here too: the context of the cluster work (plan, secret
//! store, SSH, secret resolver, limits, progress), its outcome, a node's drift, and where the
//! kubeconfigs are kept in the secret store.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use labform_cloudinit::{HostKeySource as _, StoredHostKeys};
use labform_planner::Plan;
use labform_planner::plan::{Distribution, PlannedCluster, PlannedClusterNode, SecretRef};
use labform_secrets::{SecretKey, SecretStore, SecretString};
use labform_ssh::SshClient;

use crate::addons::AddonManifests;
use crate::cluster_api::{ClusterApi, ClusterApiError, SecretChanges};
use crate::error::{KubeconfigError, RenderError};
use crate::kubeconfig::ClusterKubeconfig;

/// Limits of the cluster work.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// How long a node may take to answer SSH with its planned host key after boot.
    pub ssh_ready_timeout: Duration,
    /// How long the API and the nodes may take to become Ready.
    pub ready_timeout: Duration,
    /// How long draining one node may take during an upgrade.
    pub drain_timeout: Duration,
    /// Interval of readiness checks.
    pub poll: Duration,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            ssh_ready_timeout: Duration::from_secs(600),
            ready_timeout: Duration::from_secs(600),
            drain_timeout: Duration::from_secs(300),
            poll: Duration::from_secs(3),
        }
    }
}

/// What the cluster work tells the user as it goes.
pub trait ClusterProgress: Sync {
    /// `step` happened on `subject` (a node or the cluster).
    fn report(&self, cluster: &str, subject: &str, step: &str);
}

/// Everything the cluster work needs besides the cluster itself.
pub struct ClusterContext<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// labform's secret store (join tokens, host keys, kubeconfigs).
    pub store: &'a SecretStore,
    /// SSH, logging in with labform's login key.
    pub ssh: &'a SshClient,
    /// Resolves the plan's secret references (an external datastore's endpoint, the add-ons'
    /// Secrets).
    pub resolve_secret: &'a (dyn Fn(&SecretRef) -> Result<SecretString, String> + Sync),
    /// Limits.
    pub options: ClusterOptions,
    /// Progress.
    pub progress: &'a dyn ClusterProgress,
}

/// What happened to a cluster.
#[derive(Debug)]
pub struct ClusterOutcome {
    /// The cluster instance.
    pub cluster: String,
    /// Nodes whose files or service changed.
    pub changed_nodes: Vec<String>,
    /// Nodes upgraded with cordon and drain.
    pub upgraded_nodes: Vec<String>,
    /// Add-on manifest files written (on each server) or applied.
    pub manifests_written: Vec<String>,
    /// Add-on manifest files removed, with their objects.
    pub manifests_removed: Vec<String>,
    /// What changed of the Secrets the add-ons read.
    pub secrets: SecretChanges,
    /// The cluster's kubeconfig (kept in the secret store too).
    pub kubeconfig: ClusterKubeconfig,
    /// Each tenant's own kubeconfig on this cluster (the cluster's services it uses), by tenant.
    pub tenant_kubeconfigs: Vec<(String, ClusterKubeconfig)>,
}

impl ClusterOutcome {
    /// Whether anything changed.
    pub fn changed(&self) -> bool {
        !(self.changed_nodes.is_empty()
            && !self.secrets.changed()
            && self.manifests_written.is_empty()
            && self.manifests_removed.is_empty())
    }
}

/// How one node differs from what labform would put there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDrift {
    /// The node.
    pub node: String,
    /// Managed files that differ or are missing.
    pub files: Vec<String>,
    /// The service's state when it does not run (`failed`, `inactive`).
    pub service: Option<String>,
    /// The distribution's version the node runs, when it is not the planned one (distributions
    /// that can ask the node, such as Talos).
    pub version: Option<String>,
    /// Add-on manifests (servers) that differ or are missing.
    pub manifests: Vec<String>,
    /// labform manifests the lab no longer has.
    pub extra_manifests: Vec<String>,
    /// Why the node could not be looked at.
    pub unreachable: Option<String>,
}

impl NodeDrift {
    /// A node with nothing found yet.
    pub fn new(node: impl Into<String>) -> Self {
        NodeDrift {
            node: node.into(),
            files: Vec::new(),
            service: None,
            version: None,
            manifests: Vec::new(),
            extra_manifests: Vec::new(),
            unreachable: None,
        }
    }

    /// Whether anything differs (or the node could not be checked).
    pub fn drifted(&self) -> bool {
        !(self.files.is_empty()
            && self.service.is_none()
            && self.version.is_none()
            && self.manifests.is_empty()
            && self.extra_manifests.is_empty()
            && self.unreachable.is_none())
    }
}

/// A file a distribution puts on one node, as `labform render` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFile {
    /// The VM.
    pub vm: String,
    /// The file's name in the VM's render folder (`config.yaml`, `kubeadm.yaml`).
    pub name: String,
    /// Its contents (never a secret's value).
    pub contents: String,
}

/// A secret the distribution itself needs on the nodes (a join token, a CA key), listed in the
/// render's `required-secrets.yaml` by where it is kept, never by value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributionSecret {
    /// What it is (`K3s join token`).
    pub what: String,
    /// Who makes it (`labform`), when labform generates it.
    pub generated_by: Option<String>,
    /// Its key in labform's secret store, when kept there.
    pub store_key: Option<String>,
    /// The lab's reference it is read from, when it comes from the lab.
    pub from: Option<String>,
    /// Where it is written on the nodes.
    pub node_path: String,
}

/// Everything a distribution renders for a cluster's nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFiles {
    /// Each node's files.
    pub files: Vec<NodeFile>,
    /// The distribution's own secrets, by reference.
    pub secrets: Vec<DistributionSecret>,
}

/// Why a distribution's work failed: the distribution's own error (naming the cluster and node
/// and what was being done, never a secret), boxed so the table can hold any distribution.
pub type DistributionError = Box<dyn std::error::Error + Send + Sync>;

/// The future of a distribution's work on a cluster.
pub type DistributionFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, DistributionError>> + Send + 'a>>;

/// What a Kubernetes distribution does with a planned cluster.
pub trait ClusterDistribution: Send + Sync {
    /// Which distribution this is.
    fn kind(&self) -> Distribution;

    /// Each node's files and the distribution's own secrets (by reference), from the plan alone;
    /// pure. `labform render` writes the files under `vms/VM/`.
    fn node_files(&self, plan: &Plan, cluster: &PlannedCluster) -> Result<NodeFiles, RenderError>;

    /// Brings `cluster` to its planned state with its add-on manifests `addons`: installs,
    /// joins and upgrades the nodes in the plan's order, waits for every node to be Ready,
    /// delivers the add-ons, stores the kubeconfig (under [`kubeconfig_store_key`]) and the
    /// tenants' own kubeconfigs, and says what changed.
    fn converge<'a>(
        &'a self,
        context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
        addons: &'a AddonManifests,
    ) -> DistributionFuture<'a, ClusterOutcome>;

    /// Compares every node of `cluster` with what [`ClusterDistribution::converge`] would put
    /// there, writing nothing. Nodes that do not answer are reported as unreachable.
    fn drift<'a>(
        &'a self,
        context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
        addons: &'a AddonManifests,
    ) -> DistributionFuture<'a, Vec<NodeDrift>>;

    /// What the distribution does on `node` when it leaves the running `cluster`, before its
    /// Node object is deleted (what the planner's `DistributionPlan::leave_on_node` shows).
    /// Nothing by default: deleting the Node object does it all.
    fn leave_node<'a>(
        &'a self,
        _context: &'a ClusterContext<'a>,
        _cluster: &'a PlannedCluster,
        _node: &'a PlannedClusterNode,
    ) -> DistributionFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }

    /// Takes `node` out of the running `cluster` before its VM is deleted (`labform replace`):
    /// its etcd membership when it runs the control plane, and its Node object, so the VM made
    /// again joins as a new member under the same name. What it does is what the planner's
    /// `DistributionPlan::leave_step` shows: the distribution's [`ClusterDistribution::leave_node`],
    /// then the Node object deleted ([`delete_node_object`]), the same for every distribution.
    /// A node already gone is not an error.
    fn leave<'a>(
        &'a self,
        context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
        node: &'a PlannedClusterNode,
    ) -> DistributionFuture<'a, ()> {
        Box::pin(async move {
            self.leave_node(context, cluster, node).await?;
            delete_node_object(context, cluster, &node.vm).await?;
            Ok(())
        })
    }

    /// Takes the distribution and its data off every node of `cluster` and forgets the
    /// cluster's kubeconfig. The VMs stay.
    fn reset<'a>(
        &'a self,
        context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
    ) -> DistributionFuture<'a, ()>;
}

/// The table of distributions labform acts on, keyed by [`Distribution`].
#[derive(Default)]
pub struct Distributions {
    entries: Vec<Box<dyn ClusterDistribution>>,
}

impl std::fmt::Debug for Distributions {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_list()
            .entries(self.entries.iter().map(|entry| entry.kind()))
            .finish()
    }
}

impl Distributions {
    /// An empty table.
    pub fn new() -> Self {
        Distributions::default()
    }

    /// The table with `distribution` added (replacing one of the same kind).
    pub fn with(mut self, distribution: impl ClusterDistribution + 'static) -> Self {
        self.entries
            .retain(|entry| entry.kind() != distribution.kind());
        self.entries.push(Box::new(distribution));
        self
    }

    /// The distribution `kind`, when labform acts on it.
    pub fn get(&self, kind: Distribution) -> Option<&dyn ClusterDistribution> {
        self.entries
            .iter()
            .find(|entry| entry.kind() == kind)
            .map(|entry| entry.as_ref())
    }

    /// The distribution that acts on `cluster`: present in the table and marked as
    /// bootstrapped by the plan.
    pub fn for_cluster(&self, cluster: &PlannedCluster) -> Option<&dyn ClusterDistribution> {
        if !cluster.bootstrap_supported {
            return None;
        }
        self.get(cluster.distribution)
    }

    /// The distributions in the table.
    pub fn kinds(&self) -> Vec<Distribution> {
        self.entries.iter().map(|entry| entry.kind()).collect()
    }
}

/// The secret-store key of the kubeconfig of cluster instance `cluster` in scope `scope`.
pub fn kubeconfig_store_key(scope: &str, cluster: &str) -> Result<SecretKey, String> {
    SecretKey::new(format!("kubeconfig/{scope}/{cluster}")).map_err(|error| error.to_string())
}

/// The secret-store key of tenant `tenant`'s kubeconfig on cluster instance `cluster`.
pub fn tenant_kubeconfig_store_key(
    scope: &str,
    cluster: &str,
    tenant: &str,
) -> Result<SecretKey, String> {
    SecretKey::new(format!("kubeconfig/{scope}/{cluster}/tenant/{tenant}"))
        .map_err(|error| error.to_string())
}

/// Why a cluster's Kubernetes API could not be used from the kubeconfig labform keeps for it.
#[derive(Debug, thiserror::Error)]
pub enum StoredApiError {
    /// The store has no kubeconfig for the cluster.
    #[error(
        "cluster {cluster}: labform's secret store has no kubeconfig for it (`{key}`): it was not converged from this machine's store (run `labform apply` first)"
    )]
    NoKubeconfig {
        /// The cluster instance.
        cluster: String,
        /// The store key.
        key: String,
    },
    /// The store could not be read.
    #[error("cluster {cluster}: cannot read its kubeconfig from labform's secret store: {detail}")]
    Store {
        /// The cluster instance.
        cluster: String,
        /// Why.
        detail: String,
    },
    /// The API refused or could not be reached.
    #[error("cluster {cluster}: {doing}")]
    Api {
        /// The cluster instance.
        cluster: String,
        /// What labform was doing.
        doing: String,
        /// The API's answer.
        #[source]
        source: ClusterApiError,
    },
}

/// A client of `cluster`'s Kubernetes API from the kubeconfig labform keeps for it (pointed
/// at the API VIP, or the first server).
pub async fn stored_cluster_api(
    store: &SecretStore,
    scope: &str,
    cluster: &PlannedCluster,
) -> Result<ClusterApi, StoredApiError> {
    let key =
        kubeconfig_store_key(scope, &cluster.name).map_err(|detail| StoredApiError::Store {
            cluster: cluster.name.clone(),
            detail,
        })?;
    let text = store
        .get(&key)
        .map_err(|error| StoredApiError::Store {
            cluster: cluster.name.clone(),
            detail: error.to_string(),
        })?
        .ok_or_else(|| StoredApiError::NoKubeconfig {
            cluster: cluster.name.clone(),
            key: key.as_str().to_owned(),
        })?;
    ClusterApi::from_kubeconfig(&text)
        .await
        .map_err(|source| StoredApiError::Api {
            cluster: cluster.name.clone(),
            doing: "connecting to its Kubernetes API".to_owned(),
            source,
        })
}

/// Why a cluster's API could not be reached through one control plane's own address.
#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneApiError {
    /// The administrator kubeconfig read on the node cannot be used.
    #[error("reading the administrator kubeconfig")]
    Kubeconfig(#[source] KubeconfigError),
    /// The API did not answer, or refused the kubeconfig.
    #[error("connecting to the Kubernetes API at {server}")]
    Connect {
        /// `https://ADDRESS:6443`.
        server: String,
        /// The client's error.
        #[source]
        source: ClusterApiError,
    },
}

/// The API of `cluster` through the control plane at `address` itself, from the administrator
/// kubeconfig `admin` its distribution wrote there (`origin` says where it was read, for
/// errors): the kubeconfig named after the cluster's context and pointed at
/// `https://ADDRESS:6443`. While a cluster forms, labform talks to its first control plane
/// directly: the API VIP answers only once kube-vip runs.
pub async fn control_plane_api(
    cluster: &PlannedCluster,
    address: &str,
    origin: &str,
    admin: &SecretString,
) -> Result<ClusterApi, ControlPlaneApiError> {
    let server = format!("https://{address}:6443");
    let direct = ClusterKubeconfig::from_admin_kubeconfig(
        origin,
        admin,
        &cluster.kubeconfig_context,
        &server,
        None,
    )
    .map_err(ControlPlaneApiError::Kubeconfig)?;
    ClusterApi::from_kubeconfig(&direct.to_text())
        .await
        .map_err(|source| ControlPlaneApiError::Connect { server, source })
}

/// Deletes `node`'s Node object through the cluster's API and waits until it is gone: the end
/// of every distribution's [`ClusterDistribution::leave`].
pub async fn delete_node_object(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
    node: &str,
) -> Result<(), StoredApiError> {
    let api = stored_cluster_api(context.store, &context.plan.scope, cluster).await?;
    context
        .progress
        .report(&cluster.name, node, "delete the Node object");
    api.delete_node(node, context.options.drain_timeout, context.options.poll)
        .await
        .map_err(|source| StoredApiError::Api {
            cluster: cluster.name.clone(),
            doing: format!("taking node {node} out of the cluster"),
            source,
        })
}

/// An SSH client logging in with labform's login key of `scope` (made on first use; cloud-init
/// authorises it on every VM of the lab).
pub fn login_client(
    store: &SecretStore,
    scope: &str,
    options: labform_ssh::SshOptions,
) -> Result<SshClient, Box<dyn std::error::Error + Send + Sync>> {
    let pair = StoredHostKeys::new(store, scope).login_key()?;
    let key = labform_ssh::ClientKey::from_openssh(pair.private_openssh())?;
    Ok(SshClient::new(key, options))
}
