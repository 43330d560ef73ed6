//! One K3s cluster brought to its planned state over SSH and the Kubernetes API, in the order
//! K3s needs: the first server (which initialises embedded etcd or the external datastore), then
//! the joining servers one at a time, then the agents; then every node Ready, then the add-ons.
//!
//! A node already running K3s whose binary differs from the planned release is upgraded one
//! node at a time, servers before agents, so etcd keeps its quorum: cordon, drain, new files,
//! restart, Ready again, uncordon. Other changed files (configuration, unit) restart the node's
//! service in place. Nothing is uploaded or restarted on a node that already matches.

use std::collections::BTreeMap;
use std::time::Duration;

use labform_cloudinit::{HostKeySource, StoredHostKeys};
use labform_kubernetes::cluster_api::{ClusterApi, SecretChanges, WantedSecret};
use labform_kubernetes::{
    AddonManifests, K3sNodeConfig, NodeRole, TenantAccess, cluster_token, k3s_node_configs,
};
use labform_planner::Plan;
use labform_planner::plan::{PlannedCluster, PlannedDatastore, SecretRef};
use labform_secrets::{SecretKey, SecretStore, SecretString};
use labform_ssh::{HostPublicKey, NodeName, Session, SshClient, SshError, Target};

use crate::artifacts::K3sArtifacts;
use crate::delivery::{self, Manifest};
use crate::error::{ClusterError, NodeError};
use crate::kubeconfig::ClusterKubeconfig;
use crate::node::{self, NodeFacts, NodeInstall, NodeSecrets, ServiceAction};
use crate::units::{SERVER_KUBECONFIG, Service};

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
    /// Add-on manifest files written (on each server).
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

/// The secret-store key of the kubeconfig of cluster instance `cluster` in scope `scope`.
pub fn kubeconfig_store_key(scope: &str, cluster: &str) -> Result<SecretKey, String> {
    SecretKey::new(format!("kubeconfig/{scope}/{cluster}")).map_err(|error| error.to_string())
}

/// What the add-on delivery did across servers.
#[derive(Default)]
struct Delivered {
    /// Files written, by name.
    written: Vec<String>,
    /// labform files the lab no longer has, with their contents.
    stale: Vec<(String, String)>,
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

/// A node of the cluster and how to reach it.
struct ClusterNode {
    name: String,
    role: NodeRole,
    target: Target,
    install: NodeInstall,
}

impl ClusterNode {
    fn service(&self) -> Service {
        self.install.service
    }
}

/// The work on one cluster.
struct Work<'a> {
    context: &'a ClusterContext<'a>,
    cluster: &'a PlannedCluster,
    /// The cluster's add-on manifests and the Secrets they read.
    addons: &'a AddonManifests,
}

impl Work<'_> {
    fn report(&self, subject: &str, step: &str) {
        self.context
            .progress
            .report(&self.cluster.name, subject, step);
    }

    fn node_error(&self, doing: String) -> impl FnOnce(NodeError) -> ClusterError + '_ {
        move |source| ClusterError::Node {
            cluster: self.cluster.name.clone(),
            doing,
            source: Box::new(source),
        }
    }

    fn api_error<E: std::error::Error + Send + Sync + 'static>(
        &self,
        doing: impl Into<String>,
    ) -> impl FnOnce(E) -> ClusterError + '_ {
        let doing = doing.into();
        move |source| ClusterError::Api {
            cluster: self.cluster.name.clone(),
            doing,
            source: Box::new(source),
        }
    }

    fn unsupported(&self, detail: impl Into<String>) -> ClusterError {
        ClusterError::Unsupported {
            cluster: self.cluster.name.clone(),
            detail: detail.into(),
        }
    }

    fn store_error<E: std::error::Error + Send + Sync + 'static>(&self, source: E) -> ClusterError {
        ClusterError::Store {
            cluster: self.cluster.name.clone(),
            source: Box::new(source),
        }
    }

    /// The nodes with their targets and files, servers first.
    fn nodes(&self, artifacts: &K3sArtifacts) -> Result<Vec<ClusterNode>, ClusterError> {
        let context = self.context;
        let configs: Vec<K3sNodeConfig> =
            k3s_node_configs(self.cluster).map_err(|error| self.unsupported(error.to_string()))?;
        let token = cluster_token(context.store, &context.plan.scope, &self.cluster.name)
            .map_err(|error| self.store_error(error))?;
        let datastore_endpoint = match &self.cluster.state {
            PlannedDatastore::External { endpoint } => {
                Some((context.resolve_secret)(endpoint).map_err(|reason| {
                    self.unsupported(format!(
                        "cannot read the external datastore endpoint `{endpoint}`: {reason}"
                    ))
                })?)
            }
            PlannedDatastore::EmbeddedEtcd | PlannedDatastore::Sqlite => None,
        };
        let host_keys = StoredHostKeys::new(context.store, context.plan.scope.clone());
        let mut nodes = Vec::new();
        for (config, vm) in configs.into_iter().zip(&self.cluster.nodes) {
            let address = vm.address;
            let user = vm.login_user.clone().ok_or_else(|| {
                self.unsupported(format!("`{}` is not configured by cloud-init", vm.vm))
            })?;
            let host_key = host_keys
                .host_key(&vm.vm)
                .map_err(|error| self.store_error(error))?;
            let host_key =
                HostPublicKey::from_openssh(host_key.public_openssh()).map_err(|error| {
                    self.node_error(format!("reading the host key of {}", vm.vm))(error.into())
                })?;
            let service = if config.role == NodeRole::Agent {
                Service::Agent
            } else {
                Service::Server
            };
            let install = NodeInstall::new(
                &vm.vm,
                service,
                &config.config_yaml,
                artifacts,
                &NodeSecrets {
                    token: &token,
                    datastore_endpoint: datastore_endpoint.as_ref(),
                },
            );
            nodes.push(ClusterNode {
                name: vm.vm.clone(),
                role: config.role,
                target: Target {
                    node: NodeName::new(vm.vm.clone()),
                    host: address.to_string(),
                    port: 22,
                    user,
                    host_keys: vec![host_key],
                },
                install,
            });
        }
        Ok(nodes)
    }

    /// Connects to `node`, retrying while it boots (no answer yet, or sshd still presenting
    /// the image's keys before cloud-init installs labform's), then waits for cloud-init.
    async fn connect(&self, node: &ClusterNode) -> Result<Session, ClusterError> {
        let deadline = tokio::time::Instant::now() + self.context.options.ssh_ready_timeout;
        let session = loop {
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
                Err(error) => {
                    return Err(self.node_error(format!("connecting to {}", node.name))(
                        error.into(),
                    ));
                }
            }
        };
        // cloud-init may still be installing packages or restarting sshd.
        session
            .exec_captured("sudo -n cloud-init status --wait > /dev/null 2>&1; true")
            .await
            .map_err(|error| {
                self.node_error(format!("waiting for cloud-init on {}", node.name))(error.into())
            })?;
        Ok(session)
    }

    async fn api(
        &self,
        first: &Session,
        first_node: &ClusterNode,
    ) -> Result<(ClusterApi, SecretString), ClusterError> {
        // The server writes its kubeconfig shortly after it starts.
        let deadline = tokio::time::Instant::now() + self.context.options.ready_timeout;
        let text = loop {
            let output = first
                .exec_captured(&format!("sudo -n cat {SERVER_KUBECONFIG}"))
                .await
                .map_err(|error| {
                    self.node_error(format!("reading the kubeconfig of {}", first_node.name))(
                        error.into(),
                    )
                })?;
            if output.status.success() && !output.stdout.is_empty() {
                break SecretString::from(String::from_utf8_lossy(&output.stdout).into_owned());
            }
            if tokio::time::Instant::now() >= deadline {
                let diagnostics = node::service_diagnostics(first, Service::Server).await;
                return Err(self.unsupported(format!(
                    "the first server {} wrote no kubeconfig ({SERVER_KUBECONFIG}) in time; K3s said:\n{diagnostics}",
                    first_node.name
                )));
            }
            tokio::time::sleep(self.context.options.poll).await;
        };
        let origin = format!("{}:{SERVER_KUBECONFIG}", first_node.name);
        // labform talks to the first server directly: the VIP answers only once kube-vip runs.
        let direct = ClusterKubeconfig::from_k3s(
            &origin,
            &text,
            &self.cluster.kubeconfig_context,
            &format!("https://{}:6443", first_node.target.host),
            None,
        )
        .map_err(self.api_error("reading the first server's kubeconfig"))?;
        let api = ClusterApi::from_kubeconfig(&direct.to_text())
            .await
            .map_err(self.api_error("connecting to the Kubernetes API"))?;
        Ok((api, text))
    }

    async fn wait_ready(
        &self,
        api: &ClusterApi,
        nodes: &[&ClusterNode],
        sessions: &[(String, Session)],
    ) -> Result<(), ClusterError> {
        let names: Vec<String> = nodes.iter().map(|node| node.name.clone()).collect();
        let options = &self.context.options;
        match api
            .wait_ready(&names, options.ready_timeout, options.poll)
            .await
        {
            Ok(()) => Ok(()),
            Err(error) => {
                // Add what K3s logged on each node to the API's view.
                let mut logs = String::new();
                for node in nodes {
                    if let Some((_, session)) = sessions.iter().find(|(name, _)| name == &node.name)
                    {
                        let text = node::service_diagnostics(session, node.service()).await;
                        if !text.is_empty() {
                            logs.push_str(&format!("\n--- {} ---\n{text}", node.name));
                        }
                    }
                }
                Err(ClusterError::Api {
                    cluster: self.cluster.name.clone(),
                    doing: format!(
                        "waiting for {} to be Ready{}",
                        names.join(", "),
                        if logs.is_empty() {
                            String::new()
                        } else {
                            format!("; the nodes' K3s logs:{logs}")
                        }
                    ),
                    source: Box::new(error),
                })
            }
        }
    }

    /// The add-on manifests in apply order and the Secrets they read, with the values of the
    /// lab's references.
    fn addons(&self) -> Result<(Vec<Manifest>, Vec<WantedSecret>), ClusterError> {
        let context = self.context;
        let (wanted, manifests) = self.manifests()?;
        let mut secrets: Vec<WantedSecret> = Vec::new();
        for required in &manifests.secrets {
            let value = (context.resolve_secret)(&required.from).map_err(|reason| {
                self.unsupported(format!(
                    "cannot read `{}` for Secret {}/{} ({}): {reason}",
                    required.from, required.namespace, required.name, required.purpose
                ))
            })?;
            let index = match secrets.iter().position(|secret| {
                secret.namespace == required.namespace && secret.name == required.name
            }) {
                Some(index) => index,
                None => {
                    secrets.push(WantedSecret {
                        namespace: required.namespace.clone(),
                        name: required.name.clone(),
                        data: BTreeMap::new(),
                        labels: BTreeMap::new(),
                    });
                    secrets.len() - 1
                }
            };
            let secret = &mut secrets[index];
            secret.data.insert(required.key.clone(), value);
            for (key, literal) in &required.literals {
                secret
                    .data
                    .insert(key.clone(), SecretString::from(literal.clone()));
            }
            secret.labels.extend(required.labels.iter().cloned());
        }
        Ok((wanted, secrets))
    }

    /// The add-on manifest files in apply order, and what they were rendered from.
    fn manifests(&self) -> Result<(Vec<Manifest>, &AddonManifests), ClusterError> {
        let mut wanted = Vec::new();
        for (index, file) in self.addons.files.iter().enumerate() {
            let text = file
                .to_yaml(&self.cluster.name)
                .map_err(|error| self.unsupported(error.to_string()))?;
            wanted.push(Manifest::new(index, &file.name, text));
        }
        Ok((wanted, self.addons))
    }

    /// Brings the add-on manifests of `servers` to `wanted`; records what was written and the
    /// contents of labform files the lab no longer has (their objects are deleted later).
    async fn deliver(
        &self,
        servers: &[&ClusterNode],
        sessions: &[(String, Session)],
        wanted: &[Manifest],
        delivered: &mut Delivered,
    ) -> Result<(), ClusterError> {
        for server in servers {
            let session = &sessions
                .iter()
                .find(|(name, _)| name == &server.name)
                .expect("every node connected")
                .1;
            let present = delivery::present(session).await.map_err(
                self.node_error(format!("listing the add-on manifests on {}", server.name)),
            )?;
            let changes = delivery::changes(wanted, &present);
            for name in &changes.remove {
                if !delivered.stale.iter().any(|(stale, _)| stale == name) {
                    let text = delivery::read(session, name)
                        .await
                        .map_err(self.node_error(format!("reading {name} on {}", server.name)))?;
                    delivered.stale.push((name.clone(), text));
                }
            }
            if !changes.write.is_empty() {
                self.report(
                    &server.name,
                    &format!("write {} add-on manifest(s)", changes.write.len()),
                );
            }
            delivery::write(session, wanted, &changes)
                .await
                .map_err(self.node_error(format!("writing add-on manifests on {}", server.name)))?;
            delivery::remove(session, &changes.remove).await.map_err(
                self.node_error(format!("removing add-on manifests on {}", server.name)),
            )?;
            for name in changes.write {
                if !delivered.written.contains(&name) {
                    delivered.written.push(name);
                }
            }
        }
        Ok(())
    }

    /// The token of `access`'s ServiceAccount, once Kubernetes's token controller has filled
    /// in the Secret the tenant-access manifest declares.
    async fn tenant_token(
        &self,
        api: &ClusterApi,
        access: &TenantAccess,
    ) -> Result<SecretString, ClusterError> {
        let deadline = tokio::time::Instant::now() + self.context.options.ready_timeout;
        loop {
            let data = api
                .read_secret(&access.namespace, &access.token_secret)
                .await
                .map_err(self.api_error(format!(
                    "reading tenant {}'s ServiceAccount token",
                    access.tenant
                )))?;
            if let Some(token) = data.and_then(|mut data| data.remove("token")) {
                return Ok(token);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(self.unsupported(format!(
                    "the token Secret {}/{} of tenant {} was not filled in by Kubernetes in time (is the tenant-access manifest applied? see `kubectl -n kube-system describe addon`)",
                    access.namespace, access.token_secret, access.tenant
                )));
            }
            tokio::time::sleep(self.context.options.poll).await;
        }
    }

    /// Waits until `node`'s kubelet reports the cluster's planned version: the upgrade took.
    async fn wait_for_version(
        &self,
        api: &ClusterApi,
        node: &ClusterNode,
    ) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + self.context.options.ready_timeout;
        loop {
            let versions = api
                .node_versions()
                .await
                .map_err(self.api_error(format!("reading the version of {}", node.name)))?;
            let reported = versions.get(&node.name).cloned().unwrap_or_default();
            if reported == self.cluster.version {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(self.unsupported(format!(
                    "{} is Ready again but its kubelet reports {} instead of {} after the upgrade; it stays cordoned (check that the release files are of {})",
                    node.name,
                    if reported.is_empty() { "no version" } else { &reported },
                    self.cluster.version,
                    self.cluster.version
                )));
            }
            tokio::time::sleep(self.context.options.poll).await;
        }
    }

    /// What `node` has of its K3s files and service now.
    async fn facts(
        &self,
        node: &ClusterNode,
        session: &Session,
    ) -> Result<NodeFacts, ClusterError> {
        node::read_facts(session, &node.install)
            .await
            .map_err(self.node_error(format!("reading the K3s files of {}", node.name)))
    }

    /// Converges one node (with its `facts` when already read); returns whether it changed and
    /// whether it was upgraded.
    async fn converge_node(
        &self,
        node: &ClusterNode,
        session: &Session,
        api: Option<&ClusterApi>,
        facts: Option<NodeFacts>,
    ) -> Result<(bool, bool), ClusterError> {
        let facts = match facts {
            Some(facts) => facts,
            None => self.facts(node, session).await?,
        };
        let changes = node::changes(&node.install, &facts);
        if changes.is_empty() {
            return Ok((false, false));
        }
        let binary_changes = changes
            .uploads
            .iter()
            .any(|path| path == crate::units::BINARY_PATH);
        let upgrade = binary_changes && facts.running() && api.is_some();
        if upgrade {
            let api = api.expect("checked");
            self.report(&node.name, "upgrade: cordon and drain");
            api.cordon(&node.name)
                .await
                .map_err(self.api_error(format!("cordoning {}", node.name)))?;
            api.drain(&node.name, self.context.options.drain_timeout)
                .await
                .map_err(self.api_error(format!("draining {}", node.name)))?;
        }
        self.report(
            &node.name,
            &match changes.service {
                ServiceAction::Start => format!(
                    "install K3s {} ({} file(s)) and start",
                    self.cluster.version,
                    changes.uploads.len()
                ),
                ServiceAction::Restart => {
                    format!("update {} file(s) and restart", changes.uploads.len())
                }
                ServiceAction::Keep => format!("update {} file(s)", changes.uploads.len()),
            },
        );
        node::apply_changes(session, &node.install, &changes, &self.cluster.version)
            .await
            .map_err(self.node_error(format!("installing K3s on {}", node.name)))?;
        if upgrade {
            let api = api.expect("checked");
            self.wait_ready(api, &[node], &[]).await?;
            self.wait_for_version(api, node).await?;
            api.uncordon(&node.name)
                .await
                .map_err(self.api_error(format!("uncordoning {}", node.name)))?;
            self.report(&node.name, "upgraded and uncordoned");
        }
        Ok((true, upgrade))
    }
}

/// Brings `cluster` to its planned state with the verified release `artifacts` and the
/// cluster's add-on manifests `addons`.
pub async fn converge(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
    addons: &AddonManifests,
    artifacts: &K3sArtifacts,
) -> Result<ClusterOutcome, ClusterError> {
    let work = Work {
        context,
        cluster,
        addons,
    };
    if !cluster.bootstrap_supported {
        return Err(work.unsupported(format!(
            "{} clusters are not bootstrapped by labform yet (only K3s is); their VMs exist, nothing was installed on them",
            cluster.distribution
        )));
    }
    let nodes = work.nodes(artifacts)?;
    let (servers, agents): (Vec<&ClusterNode>, Vec<&ClusterNode>) =
        nodes.iter().partition(|node| node.role != NodeRole::Agent);
    let first = servers
        .first()
        .copied()
        .ok_or_else(|| work.unsupported("the cluster has no server"))?;

    work.report(&cluster.name, "connecting to the nodes");
    let connected = futures::future::join_all(nodes.iter().map(|node| work.connect(node))).await;
    let mut sessions = Vec::new();
    for (node, session) in nodes.iter().zip(connected) {
        sessions.push((node.name.clone(), session?));
    }
    let session_of = |name: &str| -> &Session {
        &sessions
            .iter()
            .find(|(node, _)| node == name)
            .expect("every node connected")
            .1
    };

    let mut outcome_changed = Vec::new();
    let mut upgraded = Vec::new();
    // The first server: the cluster exists once it runs.
    let first_facts = work.facts(first, session_of(&first.name)).await?;
    let fresh = !first_facts.running();
    let mut api = None;
    if !fresh {
        api = Some(work.api(session_of(&first.name), first).await?);
    }
    let (changed, was_upgraded) = work
        .converge_node(
            first,
            session_of(&first.name),
            api.as_ref().map(|(api, _)| api),
            Some(first_facts),
        )
        .await?;
    if changed {
        outcome_changed.push(first.name.clone());
    }
    if was_upgraded {
        upgraded.push(first.name.clone());
    }
    if api.is_none() {
        api = Some(work.api(session_of(&first.name), first).await?);
    }
    let (api, k3s_yaml) = api.expect("connected above");
    work.wait_ready(&api, &[first], &sessions).await?;

    // The add-ons' Secrets and manifests reach the first server as soon as it runs: kube-vip,
    // among them, brings up the API VIP the other nodes join through.
    let (wanted, wanted_secrets) = work.addons()?;
    let secret_changes = api
        .converge_secrets(&wanted_secrets)
        .await
        .map_err(work.api_error("making the Secrets the add-ons read"))?;
    if secret_changes.changed() {
        work.report(
            &cluster.name,
            &format!(
                "Secrets: {} created, {} updated, {} deleted",
                secret_changes.created.len(),
                secret_changes.updated.len(),
                secret_changes.deleted.len()
            ),
        );
    }
    let mut delivered = Delivered::default();
    work.deliver(&[first], &sessions, &wanted, &mut delivered)
        .await?;

    // Joining servers one at a time: etcd grows (and, when upgrading, keeps) its quorum.
    for server in servers.iter().skip(1) {
        let (changed, was_upgraded) = work
            .converge_node(server, session_of(&server.name), Some(&api), None)
            .await?;
        if changed {
            outcome_changed.push(server.name.clone());
            work.wait_ready(&api, &[server], &sessions).await?;
        }
        if was_upgraded {
            upgraded.push(server.name.clone());
        }
    }
    // Agents one at a time, so an upgrade never drains two at once.
    for agent in &agents {
        let (changed, was_upgraded) = work
            .converge_node(agent, session_of(&agent.name), Some(&api), None)
            .await?;
        if changed {
            outcome_changed.push(agent.name.clone());
        }
        if was_upgraded {
            upgraded.push(agent.name.clone());
        }
    }
    work.report(&cluster.name, "waiting for every node to be Ready");
    let all: Vec<&ClusterNode> = nodes.iter().collect();
    work.wait_ready(&api, &all, &sessions).await?;
    work.deliver(&servers[1..], &sessions, &wanted, &mut delivered)
        .await?;
    let Delivered {
        written,
        stale: stale_contents,
    } = delivered;
    let mut removed = Vec::new();
    for (name, text) in &stale_contents {
        work.report(&cluster.name, &format!("remove add-on {name}"));
        let objects = delivery::objects_to_delete(std::slice::from_ref(text), &wanted);
        api.remove_addon(name, &objects)
            .await
            .map_err(work.api_error(format!("removing the objects of {name}")))?;
        removed.push(name.clone());
    }

    // The kubeconfig, pointed at the API address (the VIP when there is one).
    let api_address = cluster.api_address;
    let kubeconfig = ClusterKubeconfig::from_k3s(
        &format!("{}:{SERVER_KUBECONFIG}", first.name),
        &k3s_yaml,
        &cluster.kubeconfig_context,
        &format!("https://{api_address}:6443"),
        None,
    )
    .map_err(work.api_error("reading the first server's kubeconfig"))?;
    let key = kubeconfig_store_key(&context.plan.scope, &cluster.name)
        .map_err(|detail| work.unsupported(detail))?;
    context
        .store
        .put(&key, &kubeconfig.to_text())
        .map_err(|error| work.store_error(error))?;

    // Tenants' own contexts on this cluster, from their ServiceAccounts' tokens.
    let mut tenant_kubeconfigs = Vec::new();
    for access in &cluster.tenant_access {
        let token = work.tenant_token(&api, access).await?;
        let tenant_config = kubeconfig.with_token_user(
            &format!("{}-{}", cluster.kubeconfig_context, access.tenant),
            &token,
            &access.namespace,
        );
        let key = tenant_kubeconfig_store_key(&context.plan.scope, &cluster.name, &access.tenant)
            .map_err(|detail| work.unsupported(detail))?;
        context
            .store
            .put(&key, &tenant_config.to_text())
            .map_err(|error| work.store_error(error))?;
        tenant_kubeconfigs.push((access.tenant.clone(), tenant_config));
    }
    for (_, session) in sessions {
        let _ = session.close().await;
    }
    Ok(ClusterOutcome {
        cluster: cluster.name.clone(),
        changed_nodes: outcome_changed,
        upgraded_nodes: upgraded,
        manifests_written: written,
        manifests_removed: removed,
        secrets: secret_changes,
        kubeconfig,
        tenant_kubeconfigs,
    })
}

/// Takes K3s off every node of `cluster` (agents first, then servers) and forgets its
/// kubeconfig. The VMs stay; the next apply installs a new cluster on them.
pub async fn reset(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
) -> Result<(), ClusterError> {
    let no_addons = AddonManifests {
        files: Vec::new(),
        secrets: Vec::new(),
    };
    let work = Work {
        context,
        cluster,
        addons: &no_addons,
    };
    let placeholder = K3sArtifacts {
        version: cluster.version.clone(),
        binary: crate::artifacts::VerifiedFile {
            name: crate::artifacts::BINARY.to_owned(),
            contents: std::sync::Arc::new(Vec::new()),
            sha256: String::new(),
        },
        images: None,
    };
    // Only the targets are used; no file is uploaded by a reset.
    let mut nodes = work.nodes(&placeholder)?;
    nodes.reverse();
    let script = crate::units::reset_script();
    for node in &nodes {
        let session = work.connect(node).await?;
        work.report(&node.name, "reset: stop K3s and remove its state");
        session
            .exec_checked(&format!(
                "sudo -n sh -c {}",
                labform_ssh::shell_quote(&script)
            ))
            .await
            .map_err(|error| work.node_error(format!("resetting {}", node.name))(error.into()))?;
        let _ = session.close().await;
    }
    let key = kubeconfig_store_key(&context.plan.scope, &cluster.name)
        .map_err(|detail| work.unsupported(detail))?;
    context
        .store
        .remove(&key)
        .map_err(|error| work.store_error(error))?;
    Ok(())
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

/// How one node differs from what labform would put there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDrift {
    /// The node.
    pub node: String,
    /// Managed files that differ or are missing.
    pub files: Vec<String>,
    /// The service's state when it does not run (`failed`, `inactive`).
    pub service: Option<String>,
    /// Add-on manifests (servers) that differ or are missing.
    pub manifests: Vec<String>,
    /// labform manifests the lab no longer has.
    pub extra_manifests: Vec<String>,
    /// Why the node could not be looked at.
    pub unreachable: Option<String>,
}

impl NodeDrift {
    /// Whether anything differs (or the node could not be checked).
    pub fn drifted(&self) -> bool {
        !(self.files.is_empty()
            && self.service.is_none()
            && self.manifests.is_empty()
            && self.extra_manifests.is_empty()
            && self.unreachable.is_none())
    }
}

/// Compares every node of `cluster` with what labform would put there (its files and the add-on
/// manifests `addons`), changing nothing. Nodes that do not answer SSH within the options' SSH
/// limit are reported as unreachable. `artifacts` may be [`crate::artifacts::digests_only`]:
/// only the digests are compared.
pub async fn drift(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
    addons: &AddonManifests,
    artifacts: &K3sArtifacts,
) -> Result<Vec<NodeDrift>, ClusterError> {
    let work = Work {
        context,
        cluster,
        addons,
    };
    if !cluster.bootstrap_supported {
        return Ok(Vec::new());
    }
    let nodes = work.nodes(artifacts)?;
    let (wanted, _) = work.manifests()?;
    let mut report = Vec::new();
    for node in &nodes {
        let mut drift = NodeDrift {
            node: node.name.clone(),
            files: Vec::new(),
            service: None,
            manifests: Vec::new(),
            extra_manifests: Vec::new(),
            unreachable: None,
        };
        let session = match work.connect(node).await {
            Ok(session) => session,
            Err(error) => {
                let mut text = error.to_string();
                let mut source = std::error::Error::source(&error);
                while let Some(cause) = source {
                    text = format!("{text}: {cause}");
                    source = cause.source();
                }
                drift.unreachable = Some(text);
                report.push(drift);
                continue;
            }
        };
        let facts = node::read_facts(&session, &node.install)
            .await
            .map_err(work.node_error(format!("reading the K3s files of {}", node.name)))?;
        let changes = node::changes(&node.install, &facts);
        drift.files = changes.uploads;
        if !facts.running() {
            drift.service = Some(if facts.active.is_empty() {
                "unknown".to_owned()
            } else {
                facts.active.clone()
            });
        }
        if node.role != NodeRole::Agent {
            let present = delivery::present(&session).await.map_err(
                work.node_error(format!("listing the add-on manifests on {}", node.name)),
            )?;
            let delivery = delivery::changes(&wanted, &present);
            drift.manifests = delivery.write;
            drift.extra_manifests = delivery.remove;
        }
        let _ = session.close().await;
        report.push(drift);
    }
    Ok(report)
}
