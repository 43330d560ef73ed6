//! One kubeadm cluster brought to its planned state over SSH and the Kubernetes API, in the
//! order kubeadm needs: the first control plane prepared and initialised (`kubeadm init` with
//! labform's CA already in place, kube-vip's static pod first when the API has a VIP), the
//! add-ons through the API (the Helm controller first, then the CNI and the others, as
//! HelmCharts), the first control plane Ready, then the other control planes one at a time and
//! the workers (`kubeadm join` verified by the CA's hash), every node Ready, node labels a node
//! may not give itself (`api_labels`) through the API, the kubeconfig into the secret store.
//!
//! A node that is already in the cluster is not joined again; its files are brought back when
//! they differ, and a changed kubeadm configuration is compared field by field first
//! (`reconfigure.rs`): what kubeadm cannot change on a formed cluster is refused before any
//! node is touched. When the nodes' kubelets report another version than the plan's, the cluster is
//! upgraded one node at a time, first control plane first (`kubeadm upgrade apply`, then
//! `kubeadm upgrade node` on the others), each cordoned, drained and uncordoned around its
//! kubelet's upgrade; an upgrade of more than one minor version is refused before any node is
//! touched.
//!
//! Secrets (the node's `kubeadm.yaml`, the CA key, kubeconfigs) travel only in SSH channel
//! data; what kubeadm prints is scrubbed of the token and certificate key before it can reach
//! an error.

mod addons;
mod drift;
mod kubeconfigs;
mod nodes;
mod reconfigure;
mod removal;
mod upgrade;

pub use drift::drift;
pub use removal::{leave_node, reset};

use labform_kubernetes::AddonManifests;
use labform_kubernetes::cluster_api::ClusterApi;
use labform_kubernetes::distribution::{ClusterContext, ClusterOutcome, control_plane_api};
use labform_planner::plan::{NodeRole, PlannedCluster};
use labform_secrets::{ExposeSecret as _, SecretString};
use labform_ssh::{Session, SshError, Target, shell_quote};

use crate::artifacts::AirGapFiles;
use crate::config::{CONFIG_PATH, InstallOptions};
use crate::error::{ClusterError, KubeadmError};
use crate::etcd_snapshots;
use crate::node::{
    ADMIN_KUBECONFIG, AIR_GAP_BINARIES, NodeFacts, NodeFile, PackageSource, PrepareStage,
};
use crate::secrets::{ClusterSecrets, cluster_secrets};
use crate::version::{KubernetesVersion, check_upgrade, planned_version};

/// The label the Helm controller's bootstrap jobs (the CNI) select control planes by, with the
/// value `true` (K3s's); kubeadm gives control planes the label with an empty value.
const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";

/// How a cluster's nodes get Kubernetes.
#[derive(Debug, Clone)]
pub struct Installation {
    /// The packages' source.
    pub source: PackageSource,
    /// The air-gap files, when air-gapped.
    pub air_gap: Option<AirGapFiles>,
    /// What the configurations say beyond the plan (the image repository when air-gapped).
    pub options: InstallOptions,
}

/// A node of the cluster, how to reach it and its files.
struct ClusterNode {
    name: String,
    role: NodeRole,
    target: Target,
    files: Vec<NodeFile>,
}

/// The work on one cluster.
struct Work<'a> {
    context: &'a ClusterContext<'a>,
    cluster: &'a PlannedCluster,
    version: KubernetesVersion,
    secrets: ClusterSecrets,
}

impl<'a> Work<'a> {
    /// The work on `cluster`: its version and its secrets from the store.
    fn new(
        context: &'a ClusterContext<'a>,
        cluster: &'a PlannedCluster,
    ) -> Result<Self, ClusterError> {
        Ok(Work {
            context,
            cluster,
            version: planned_version(&cluster.name, &cluster.version)?,
            secrets: cluster_secrets(context.store, &context.plan.scope, &cluster.name)?,
        })
    }

    fn report(&self, subject: &str, step: &str) {
        self.context
            .progress
            .report(&self.cluster.name, subject, step);
    }

    fn node_error(
        &self,
        node: &str,
        doing: impl Into<String>,
    ) -> impl FnOnce(SshError) -> ClusterError {
        let cluster = self.cluster.name.clone();
        let node = node.to_owned();
        let doing = doing.into();
        move |source| ClusterError::Node {
            cluster,
            node,
            doing,
            source: Box::new(source),
        }
    }

    fn api_error<E: std::error::Error + Send + Sync + 'static>(
        &self,
        doing: impl Into<String>,
    ) -> impl FnOnce(E) -> ClusterError {
        let cluster = self.cluster.name.clone();
        let doing = doing.into();
        move |source| ClusterError::Api {
            cluster,
            doing,
            source: Box::new(source),
        }
    }

    fn failed(&self, detail: impl Into<String>) -> ClusterError {
        ClusterError::Kubeadm(KubeadmError::Unsupported {
            cluster: self.cluster.name.clone(),
            detail: detail.into(),
        })
    }

    /// `text` with the cluster's secrets replaced by markers.
    fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in [
            self.secrets.bootstrap_token.expose_secret(),
            self.secrets.certificate_key.expose_secret(),
        ] {
            if !secret.is_empty() {
                text = text.replace(secret, "<secret>");
            }
        }
        text
    }

    /// Runs `command` as root on `node`; a failure carries the end of its (scrubbed) output.
    async fn run(
        &self,
        node: &ClusterNode,
        session: &Session,
        doing: &str,
        command: &str,
    ) -> Result<String, ClusterError> {
        let output = session
            .exec_captured(&format!("sudo -n sh -c {}", shell_quote(command)))
            .await
            .map_err(self.node_error(&node.name, doing))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if output.status.success() {
            return Ok(self.scrub(&stdout));
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let text = self.scrub(&format!("{stdout}{stderr}"));
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(25)..].join("\n");
        Err(ClusterError::Command {
            cluster: self.cluster.name.clone(),
            node: node.name.clone(),
            doing: doing.to_owned(),
            status: output.status.to_string(),
            output: tail,
        })
    }

    /// The API through the first control plane's address (the VIP may not answer yet), and
    /// the administrator kubeconfig's text.
    async fn api(
        &self,
        first: &ClusterNode,
        session: &Session,
    ) -> Result<(ClusterApi, SecretString), ClusterError> {
        let output = session
            .exec_checked(&format!("sudo -n cat {ADMIN_KUBECONFIG}"))
            .await
            .map_err(self.node_error(&first.name, "reading the administrator's kubeconfig"))?;
        let text = SecretString::from(String::from_utf8_lossy(&output.stdout).into_owned());
        let origin = format!("{}:{ADMIN_KUBECONFIG}", first.name);
        let api = control_plane_api(self.cluster, &first.target.host, &origin, &text)
            .await
            .map_err(
                self.api_error("reaching the Kubernetes API through the first control plane"),
            )?;
        Ok((api, text))
    }

    async fn wait_ready(&self, api: &ClusterApi, names: &[String]) -> Result<(), ClusterError> {
        let options = &self.context.options;
        api.wait_ready(names, options.ready_timeout, options.poll)
            .await
            .map_err(self.api_error(format!("waiting for {} to be Ready", names.join(", "))))
    }

    /// `kubeadm` from the packages or the air-gap binaries, with `arguments`.
    fn kubeadm_command(&self, arguments: &str) -> String {
        format!("PATH={AIR_GAP_BINARIES}:$PATH; {}", arguments)
    }
}

/// Brings `cluster` to its planned state with its add-on manifests `addons`.
pub async fn converge(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
    addons: &AddonManifests,
    installation: &Installation,
) -> Result<ClusterOutcome, ClusterError> {
    let work = Work::new(context, cluster)?;
    let nodes = work.nodes(installation)?;
    let first = nodes
        .first()
        .filter(|node| node.role == NodeRole::FirstServer)
        .ok_or_else(|| work.failed("the cluster has no control plane"))?;

    work.report(&cluster.name, "connecting to the nodes");
    let connected = futures::future::join_all(nodes.iter().map(|node| work.connect(node))).await;
    let mut sessions = Vec::new();
    for session in connected {
        sessions.push(session?);
    }
    let mut facts = Vec::new();
    for (node, session) in nodes.iter().zip(&sessions) {
        facts.push(work.facts(node, session).await?);
    }

    // Nodes in the cluster whose configuration changed with the lab: a change kubeadm cannot
    // make is refused here, before any node is touched.
    let relabelling = work
        .configuration_changes(&nodes, &sessions, &facts)
        .await?;

    let mut changed = Vec::new();
    let mut upgraded = Vec::new();

    // Every node not in the cluster yet gets its files and its preparation at once, side by
    // side: only the joins wait for the first control plane.
    let fresh: Vec<usize> = (0..nodes.len())
        .filter(|index| !facts[*index].joined)
        .collect();
    let work_ref = &work;
    let prepared = futures::future::join_all(fresh.iter().map(|index| {
        let (node, session, node_facts) = (&nodes[*index], &sessions[*index], &facts[*index]);
        let work = work_ref;
        async move {
            work.upload_files(node, session, node_facts).await?;
            work.prepare(node, session, PrepareStage::All).await
        }
    }))
    .await;
    for (index, outcome) in fresh.iter().zip(prepared) {
        outcome?;
        facts[*index] = work.facts(&nodes[*index], &sessions[*index]).await?;
        changed.push(nodes[*index].name.clone());
    }

    // The first control plane: the cluster exists once kubeadm init has run there.
    let first_session = &sessions[0];
    if work.upload_files(first, first_session, &facts[0]).await? > 0
        && !changed.contains(&first.name)
    {
        changed.push(first.name.clone());
    }
    let mut first_images = None;
    if !facts[0].joined {
        let (images, skip) = work
            .air_gap_check(installation, first, first_session)
            .await?;
        first_images = images;
        work.report(
            &first.name,
            &format!("kubeadm init (Kubernetes {})", work.version),
        );
        work.run(
            first,
            first_session,
            "running kubeadm init",
            &work.kubeadm_command(&format!(
                "kubeadm init --config {CONFIG_PATH} --upload-certs{skip}"
            )),
        )
        .await?;
        if !changed.contains(&first.name) {
            changed.push(first.name.clone());
        }
    }
    let (api, _) = work.api(first, first_session).await?;

    // Upgrades: the versions the kubelets report against the plan's, checked before any node
    // is touched.
    let reported = api
        .node_versions()
        .await
        .map_err(work.api_error("reading the nodes' versions"))?;
    let version = work.version;
    let planned = version.to_string();
    let running: Vec<KubernetesVersion> = nodes
        .iter()
        .zip(&facts)
        .filter(|(_, facts)| facts.joined)
        .filter_map(|(node, _)| reported.get(&node.name))
        .filter_map(|text| KubernetesVersion::parse(text))
        .collect();
    if let Some(oldest) = running.iter().min() {
        check_upgrade(&cluster.name, *oldest, version)?;
    }
    for ((node, session), node_facts) in nodes.iter().zip(&sessions).zip(&facts) {
        let outdated = node_facts.joined
            && reported
                .get(&node.name)
                .is_some_and(|reported| reported != &planned);
        if outdated {
            // The first control plane's files were brought up to date above.
            if node.role != NodeRole::FirstServer {
                work.upload_files(node, session, node_facts).await?;
            }
            work.upgrade(&api, node, session).await?;
            upgraded.push(node.name.clone());
            if !changed.contains(&node.name) {
                changed.push(node.name.clone());
            }
        }
    }

    // Control planes carry the label the Helm controller's bootstrap jobs select, with K3s's
    // value.
    let control_planes: Vec<&ClusterNode> =
        nodes.iter().filter(|node| node.role.is_server()).collect();
    api.label_node(&first.name, CONTROL_PLANE_LABEL, "true")
        .await
        .map_err(work.api_error(format!("labelling {}", first.name)))?;

    let (secret_changes, written, removed) = work
        .deliver_addons(
            &api,
            first,
            first_session,
            &facts[0],
            installation,
            addons,
            first_images,
        )
        .await?;
    work.wait_ready(&api, std::slice::from_ref(&first.name))
        .await?;

    // Joins: the bootstrap token exists again (it lives 24 hours), the control-plane
    // certificates are uploaded again (they live 2 hours), then the nodes join one at a time.
    let joining: Vec<usize> = (1..nodes.len())
        .filter(|index| !facts[*index].joined)
        .collect();
    if !joining.is_empty() {
        work.run(
            first,
            first_session,
            "renewing the bootstrap token",
            &work.kubeadm_command(&format!(
                "kubeadm init phase bootstrap-token --config {CONFIG_PATH} > /dev/null"
            )),
        )
        .await?;
        if joining.iter().any(|index| nodes[*index].role.is_server()) {
            work.run(
                first,
                first_session,
                "uploading the control-plane certificates",
                &work.kubeadm_command(&format!(
                    "kubeadm init phase upload-certs --upload-certs --config {CONFIG_PATH} > /dev/null"
                )),
            )
            .await?;
        }
    }
    for (index, node) in nodes.iter().enumerate().skip(1) {
        let session = &sessions[index];
        let uploaded = work.upload_files(node, session, &facts[index]).await?;
        if !facts[index].joined {
            let (_, skip) = work.air_gap_check(installation, node, session).await?;
            let what = if node.role.is_server() {
                "kubeadm join (control plane)"
            } else {
                "kubeadm join"
            };
            work.report(&node.name, what);
            work.run(
                node,
                session,
                &format!("running {what}"),
                &work.kubeadm_command(&format!("kubeadm join --config {CONFIG_PATH}{skip}")),
            )
            .await?;
            if node.role.is_server() {
                // Joined now: kube-vip's static pod may go in.
                let joined = NodeFacts {
                    joined: true,
                    ..work.facts(node, session).await?
                };
                work.upload_files(node, session, &joined).await?;
                api.label_node(&node.name, CONTROL_PLANE_LABEL, "true")
                    .await
                    .map_err(work.api_error(format!("labelling {}", node.name)))?;
                work.wait_ready(&api, std::slice::from_ref(&node.name))
                    .await?;
            }
        }
        if (uploaded > 0 || !facts[index].joined) && !changed.contains(&node.name) {
            changed.push(node.name.clone());
        }
    }
    for node in &control_planes {
        api.label_node(&node.name, CONTROL_PLANE_LABEL, "true")
            .await
            .map_err(work.api_error(format!("labelling {}", node.name)))?;
    }
    work.report(&cluster.name, "waiting for every node to be Ready");
    let names: Vec<String> = nodes.iter().map(|node| node.name.clone()).collect();
    work.wait_ready(&api, &names).await?;

    // Node labels: changed ones of nodes in the cluster, then those a node may not give itself.
    work.relabel(&api, &relabelling).await?;
    for line in api
        .set_api_labels(cluster)
        .await
        .map_err(work.api_error("labelling the nodes (api_labels)"))?
    {
        work.report(&cluster.name, &line);
    }

    // etcd snapshots: the timer on each control plane, once etcd runs there.
    if etcd_snapshots::scheduled(cluster) {
        for (node, session) in nodes.iter().zip(&sessions) {
            if !node.role.is_server() {
                continue;
            }
            let output = work
                .run(
                    node,
                    session,
                    "starting the etcd snapshot timer",
                    &etcd_snapshots::activate_command(),
                )
                .await?;
            if output.contains("changed") {
                work.report(&node.name, "etcd snapshot timer started");
                if !changed.contains(&node.name) {
                    changed.push(node.name.clone());
                }
            }
        }
    }

    let (kubeconfig, tenant_kubeconfigs) =
        work.store_kubeconfigs(&api, first, first_session).await?;
    for session in sessions {
        let _ = session.close().await;
    }
    Ok(ClusterOutcome {
        cluster: cluster.name.clone(),
        changed_nodes: changed,
        upgraded_nodes: upgraded,
        manifests_written: written,
        manifests_removed: removed,
        secrets: secret_changes,
        kubeconfig,
        tenant_kubeconfigs,
    })
}
