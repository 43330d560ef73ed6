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
mod kubeconfigs;
mod reconfigure;

use std::time::Duration;

use labform_cloudinit::{HostKeySource as _, StoredHostKeys};
use labform_kubernetes::AddonManifests;
use labform_kubernetes::cluster_api::ClusterApi;
use labform_kubernetes::distribution::{
    ClusterContext, ClusterOutcome, NodeDrift, kubeconfig_store_key, tenant_kubeconfig_store_key,
};
use labform_kubernetes::kubeconfig::ClusterKubeconfig;
use labform_planner::plan::{NodeRole, PlannedCluster, PlannedClusterNode};
use labform_secrets::{ExposeSecret as _, SecretString};
use labform_ssh::{HostPublicKey, NodeName, Session, SshError, Target, shell_quote};

use crate::air_gap::{self, NodeImages};
use crate::artifacts::AirGapFiles;
use crate::config::{CONFIG_PATH, InstallOptions, JoinSecrets, node_configs};
use crate::error::{ClusterError, KubeadmError};
use crate::etcd_snapshots;
use crate::kube_vip::kube_vip_manifest;
use crate::node::{
    self, ADMIN_KUBECONFIG, AIR_GAP_BINARIES, AIR_GAP_IMAGES, AIR_GAP_PACKAGES, CA_CERTIFICATE,
    CA_KEY, KUBE_VIP_MANIFEST, KUBELET_DROP_IN, KUBELET_UNIT, MANIFESTS_DIRECTORY, NodeFacts,
    NodeFile, PREPARE_SCRIPT, PackageSource, PrepareStage,
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

    /// Every node with its target and files, control planes first.
    fn nodes(&self, installation: &Installation) -> Result<Vec<ClusterNode>, ClusterError> {
        let context = self.context;
        let configs = node_configs(
            self.cluster,
            &JoinSecrets::Values(&self.secrets),
            &installation.options,
        )?;
        let prepare = node::prepare_script(
            self.version,
            installation.source,
            installation.options.image_repository.as_deref(),
        );
        let host_keys = StoredHostKeys::new(context.store, context.plan.scope.clone());
        let mut nodes = Vec::new();
        for (config, planned) in configs.into_iter().zip(&self.cluster.nodes) {
            let user = planned.login_user.clone().ok_or_else(|| {
                self.failed(format!("`{}` is not configured by cloud-init", planned.vm))
            })?;
            let host_key = host_keys
                .host_key(&planned.vm)
                .map_err(|error| self.failed(format!("the host key of {}: {error}", planned.vm)))?;
            let host_key = HostPublicKey::from_openssh(host_key.public_openssh())
                .map_err(self.node_error(&planned.vm, "reading its host key"))?;
            let mut files = vec![
                NodeFile::public(PREPARE_SCRIPT, prepare.clone().into_bytes(), 0o755),
                NodeFile::secret(CONFIG_PATH, SecretString::from(config.text)),
            ];
            files.extend(self.role_files(planned)?);
            if let Some(air_gap) = &installation.air_gap {
                for binary in &air_gap.binaries {
                    files.push(NodeFile::verified(
                        format!("{AIR_GAP_BINARIES}/{}", binary.name),
                        binary,
                        0o755,
                    ));
                }
                files.push(NodeFile::public(
                    KUBELET_UNIT,
                    node::kubelet_unit().into_bytes(),
                    0o644,
                ));
                files.push(NodeFile::public(
                    KUBELET_DROP_IN,
                    node::kubelet_drop_in().into_bytes(),
                    0o644,
                ));
                for image in &air_gap.images {
                    if image.control_plane_only() && !planned.role.is_server() {
                        continue;
                    }
                    files.push(NodeFile::verified(
                        format!("{AIR_GAP_IMAGES}/{}", image.name),
                        image,
                        0o644,
                    ));
                }
                for package in &air_gap.packages {
                    files.push(NodeFile::verified(
                        format!("{AIR_GAP_PACKAGES}/{}", package.name),
                        package,
                        0o644,
                    ));
                }
            }
            nodes.push(ClusterNode {
                name: planned.vm.clone(),
                role: planned.role,
                target: Target {
                    node: NodeName::new(planned.vm.clone()),
                    host: planned.address.to_string(),
                    port: 22,
                    user,
                    host_keys: vec![host_key],
                },
                files,
            });
        }
        Ok(nodes)
    }

    /// The files only some nodes have: the CA on the first control plane, kube-vip's static
    /// pod on the control planes of a cluster with an API VIP, the etcd snapshot timer, its
    /// service and script on the control planes of a cluster with a snapshot schedule.
    fn role_files(&self, planned: &PlannedClusterNode) -> Result<Vec<NodeFile>, ClusterError> {
        let mut files = Vec::new();
        if planned.role == NodeRole::FirstServer {
            files.push(NodeFile::public(
                CA_CERTIFICATE,
                self.secrets.ca_certificate.clone().into_bytes(),
                0o644,
            ));
            files.push(NodeFile::secret(CA_KEY, self.secrets.ca_key.clone()));
        }
        if self.cluster.api_vip && planned.role.is_server() {
            files.push(NodeFile::public(
                KUBE_VIP_MANIFEST,
                kube_vip_manifest(self.cluster, self.version, planned.role)?.into_bytes(),
                0o600,
            ));
        }
        for (path, contents, mode) in etcd_snapshots::files(self.cluster, planned) {
            files.push(NodeFile::public(path, contents.into_bytes(), mode));
        }
        Ok(files)
    }

    /// Connects to `node`, retrying while it boots, then waits for cloud-init.
    async fn connect(&self, node: &ClusterNode) -> Result<Session, ClusterError> {
        let deadline = tokio::time::Instant::now() + self.context.options.ssh_ready_timeout;
        let mut session = loop {
            match self.context.ssh.connect(&node.target).await {
                Ok(session) => break session,
                Err(
                    SshError::Connect { .. }
                    | SshError::ConnectTimeout { .. }
                    | SshError::HostKeyMismatch { .. }
                    | SshError::AuthenticationRefused { .. },
                ) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(error) => return Err(self.node_error(&node.name, "connecting")(error)),
            }
        };
        // kubeadm init and join, and package installs, take minutes.
        session.set_command_timeout(
            self.context
                .options
                .ready_timeout
                .max(Duration::from_secs(900)),
        );
        session
            .exec_captured("sudo -n cloud-init status --wait > /dev/null 2>&1; true")
            .await
            .map_err(self.node_error(&node.name, "waiting for cloud-init"))?;
        Ok(session)
    }

    async fn facts(
        &self,
        node: &ClusterNode,
        session: &Session,
    ) -> Result<NodeFacts, ClusterError> {
        node::read_facts(session, &node.files)
            .await
            .map_err(self.node_error(&node.name, "reading labform's files"))
    }

    /// Uploads the files of `node` that differ; returns how many. Before a join, kube-vip's
    /// static pod waits: `kubeadm join` refuses a node whose `/etc/kubernetes/manifests` is
    /// not empty.
    async fn upload_files(
        &self,
        node: &ClusterNode,
        session: &Session,
        facts: &NodeFacts,
    ) -> Result<usize, ClusterError> {
        let joining = node.role != NodeRole::FirstServer && !facts.joined;
        let differing: Vec<&NodeFile> = node::differing(&node.files, facts)
            .into_iter()
            .filter(|file| !(joining && file.path == KUBE_VIP_MANIFEST))
            .collect();
        if !differing.is_empty() {
            node::upload(session, &differing)
                .await
                .map_err(self.node_error(&node.name, "uploading labform's files"))?;
        }
        Ok(differing.len())
    }

    async fn prepare(
        &self,
        node: &ClusterNode,
        session: &Session,
        stage: PrepareStage,
    ) -> Result<(), ClusterError> {
        self.report(
            &node.name,
            &format!(
                "prepare for kubeadm {} ({})",
                self.version,
                stage.argument()
            ),
        );
        self.run(
            node,
            session,
            "preparing the node",
            &format!("sh {PREPARE_SCRIPT} {}", stage.argument()),
        )
        .await
        .map(|_| ())
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
        let direct = ClusterKubeconfig::from_k3s(
            &origin,
            &text,
            &self.cluster.kubeconfig_context,
            &format!("https://{}:6443", first.target.host),
            None,
        )
        .map_err(self.api_error("reading the administrator's kubeconfig"))?;
        let api = ClusterApi::from_kubeconfig(&direct.to_text())
            .await
            .map_err(self.api_error("connecting to the Kubernetes API"))?;
        Ok((api, text))
    }

    async fn wait_ready(&self, api: &ClusterApi, names: &[String]) -> Result<(), ClusterError> {
        let options = &self.context.options;
        api.wait_ready(names, options.ready_timeout, options.poll)
            .await
            .map_err(self.api_error(format!("waiting for {} to be Ready", names.join(", "))))
    }

    /// Upgrades `node` to the planned version: kubeadm, then `kubeadm upgrade apply` (the
    /// first control plane) or `kubeadm upgrade node`, then cordon, drain, kubelet and kubectl,
    /// Ready at the new version, uncordon.
    async fn upgrade(
        &self,
        api: &ClusterApi,
        node: &ClusterNode,
        session: &Session,
    ) -> Result<(), ClusterError> {
        self.prepare(node, session, PrepareStage::Kubeadm).await?;
        let command = if node.role == NodeRole::FirstServer {
            format!("kubeadm upgrade apply --yes {}", self.version)
        } else {
            "kubeadm upgrade node".to_owned()
        };
        self.report(&node.name, &command);
        let kubeadm = self.kubeadm_command(&command);
        self.run(node, session, &format!("running {command}"), &kubeadm)
            .await?;
        self.report(&node.name, "cordon and drain");
        api.drain(&node.name, self.context.options.drain_timeout)
            .await
            .map_err(self.api_error(format!("draining {}", node.name)))?;
        self.prepare(node, session, PrepareStage::Kubelet).await?;
        self.wait_ready(api, std::slice::from_ref(&node.name))
            .await?;
        let deadline = tokio::time::Instant::now() + self.context.options.ready_timeout;
        loop {
            let versions = api
                .node_versions()
                .await
                .map_err(self.api_error(format!("reading the version of {}", node.name)))?;
            if versions.get(&node.name).map(String::as_str) == Some(&self.version.to_string()) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(self.failed(format!(
                    "{} is Ready but its kubelet does not report {} after the upgrade; it stays cordoned",
                    node.name, self.version
                )));
            }
            tokio::time::sleep(self.context.options.poll).await;
        }
        api.uncordon(&node.name)
            .await
            .map_err(self.api_error(format!("uncordoning {}", node.name)))?;
        self.report(&node.name, "upgraded and uncordoned");
        Ok(())
    }

    /// On an air-gapped node (after its preparation): what containerd holds, with the images
    /// kubeadm names that it lacks reported on control planes, and the flag that skips
    /// kubeadm's preflight phase when `crictl` is not there (kubeadm's checks cannot run
    /// without it), reported too. Nothing and no flag with packages from the repository.
    async fn air_gap_check(
        &self,
        installation: &Installation,
        node: &ClusterNode,
        session: &Session,
    ) -> Result<(Option<NodeImages>, &'static str), ClusterError> {
        if installation.source != PackageSource::AirGap {
            return Ok((None, ""));
        }
        let mut arguments = format!(
            "--kubernetes-version {}",
            shell_quote(&self.version.to_string())
        );
        if let Some(repository) = &installation.options.image_repository {
            arguments.push_str(&format!(" --image-repository {}", shell_quote(repository)));
        }
        let images = air_gap::read_images(session, &arguments)
            .await
            .map_err(self.node_error(&node.name, "reading the images containerd holds"))?;
        if node.role.is_server() {
            let missing = images.missing();
            if !missing.is_empty() {
                self.report(
                    &node.name,
                    &format!(
                        "not in the air-gap directory: {} (what runs them will not start until they are imported)",
                        missing.join(", ")
                    ),
                );
            }
        }
        let flag = if images.crictl {
            ""
        } else {
            self.report(
                &node.name,
                "kubeadm's preflight phase skipped: crictl (cri-tools) is not on the node and kubeadm runs its checks through it",
            );
            " --skip-phases=preflight"
        };
        Ok((Some(images), flag))
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

/// Compares every node of `cluster` with what [`converge`] would put there, writing nothing.
pub async fn drift(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
    addons: &AddonManifests,
    installation: &Installation,
) -> Result<Vec<NodeDrift>, ClusterError> {
    let work = Work::new(context, cluster)?;
    let nodes = work.nodes(installation)?;
    let manifests = addons::manifest_files(cluster, addons)?;
    let mut report = Vec::new();
    for node in &nodes {
        let mut drift = NodeDrift::new(node.name.clone());
        let session = match context.ssh.connect(&node.target).await {
            Ok(session) => session,
            Err(error) => {
                drift.unreachable = Some(error.to_string());
                report.push(drift);
                continue;
            }
        };
        let facts = work.facts(node, &session).await?;
        drift.files = node::differing(&node.files, &facts)
            .iter()
            .map(|file| file.path.clone())
            .collect();
        if facts.kubelet != "active" {
            drift.service = Some(if facts.joined {
                facts.kubelet.clone()
            } else {
                "not in the cluster".to_owned()
            });
        }
        if node.role == NodeRole::FirstServer {
            for (name, text) in &manifests {
                let path = format!("{MANIFESTS_DIRECTORY}/{name}");
                if facts.digests.get(&path) != Some(&node::sha256_hex(text.as_bytes())) {
                    drift.manifests.push(name.clone());
                }
            }
            drift.extra_manifests = facts
                .manifests
                .iter()
                .filter(|name| !manifests.iter().any(|(wanted, _)| wanted == *name))
                .cloned()
                .collect();
        }
        let _ = session.close().await;
        report.push(drift);
    }
    Ok(report)
}

/// Takes `planned` out of `cluster` before its VM is deleted (`labform replace`): `kubeadm
/// reset` on it over SSH (on a control plane, the reset removes its etcd member through the
/// cluster), then its Node object through the API. A worker that does not answer SSH has its
/// Node object deleted all the same; a control plane that does not answer is an error, since its
/// etcd member would stay.
pub async fn leave(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
    planned: &PlannedClusterNode,
    installation: &Installation,
) -> Result<(), ClusterError> {
    let work = Work::new(context, cluster)?;
    let nodes = work.nodes(installation)?;
    let Some(node) = nodes.iter().find(|node| node.name == planned.vm) else {
        return Err(work.failed(format!("`{}` is not a node of the cluster", planned.vm)));
    };
    work.report(&node.name, "kubeadm reset (leaving the cluster)");
    match context.ssh.connect(&node.target).await {
        Ok(session) => {
            work.run(node, &session, "resetting kubeadm", &node::reset_script())
                .await?;
            let _ = session.close().await;
        }
        Err(error) if !planned.role.is_server() => work.report(
            &node.name,
            &format!("not reachable over SSH ({error}); its Node object is deleted all the same"),
        ),
        Err(error) => {
            return Err(work
                .node_error(&node.name, "connecting to run kubeadm reset")(
                error
            ));
        }
    }
    labform_kubernetes::distribution::delete_node_object(context, cluster, &node.name)
        .await
        .map_err(work.api_error(format!("deleting the Node object {}", node.name)))
}

/// Takes kubeadm off every node of `cluster` (workers first, the first control plane last)
/// and forgets the cluster's kubeconfigs. The cluster's CA, token and certificate key stay in
/// the store, so the next apply forms the cluster again with the same discovery hash.
pub async fn reset(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
    installation: &Installation,
) -> Result<(), ClusterError> {
    let work = Work::new(context, cluster)?;
    let nodes = work.nodes(installation)?;
    let script = node::reset_script();
    for node in nodes.iter().rev() {
        work.report(&node.name, "kubeadm reset and cleanup");
        let session = context
            .ssh
            .connect(&node.target)
            .await
            .map_err(work.node_error(&node.name, "connecting"))?;
        work.run(node, &session, "resetting kubeadm", &script)
            .await?;
        let _ = session.close().await;
    }
    let store_failed = |error: String| {
        ClusterError::Kubeadm(KubeadmError::Store {
            cluster: cluster.name.clone(),
            detail: error,
        })
    };
    let key = kubeconfig_store_key(&context.plan.scope, &cluster.name).map_err(store_failed)?;
    context
        .store
        .remove(&key)
        .map_err(|error| store_failed(error.to_string()))?;
    for access in &cluster.tenant_access {
        let key = tenant_kubeconfig_store_key(&context.plan.scope, &cluster.name, &access.tenant)
            .map_err(store_failed)?;
        context
            .store
            .remove(&key)
            .map_err(|error| store_failed(error.to_string()))?;
    }
    Ok(())
}
