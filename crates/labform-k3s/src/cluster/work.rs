//! Reaching a cluster's nodes and converging one node: each node's files and SSH target from
//! the plan, connecting while it boots, the first server's kubeconfig and API, readiness, and a
//! node's changes applied (with cordon, drain and uncordon when its K3s binary is upgraded).

use labform_cloudinit::{HostKeySource, StoredHostKeys};
use labform_kubernetes::cluster_api::ClusterApi;
use labform_kubernetes::distribution::control_plane_api;
use labform_kubernetes::{
    AddonManifests, K3sNodeConfig, NodeRole, TenantAccess, cluster_ca, cluster_token,
    k3s_node_configs, secure_token,
};
use labform_planner::plan::{PlannedCluster, PlannedDatastore};
use labform_secrets::SecretString;
use labform_ssh::{HostPublicKey, NodeName, Session, Target};

use crate::artifacts::K3sArtifacts;
use crate::error::{ClusterError, NodeError};
use crate::node::{self, NodeFacts, NodeInstall, NodeSecrets, ServiceAction};
use crate::units::{SERVER_KUBECONFIG, Service};

use super::ClusterContext;

/// A node of the cluster and how to reach it.
pub(super) struct ClusterNode {
    pub(super) name: String,
    pub(super) role: NodeRole,
    pub(super) target: Target,
    pub(super) install: NodeInstall,
}

impl ClusterNode {
    pub(super) fn service(&self) -> Service {
        self.install.service
    }
}

/// The work on one cluster.
pub(super) struct Work<'a> {
    pub(super) context: &'a ClusterContext<'a>,
    pub(super) cluster: &'a PlannedCluster,
    /// The cluster's add-on manifests and the Secrets they read.
    pub(super) addons: &'a AddonManifests,
}

impl Work<'_> {
    pub(super) fn report(&self, subject: &str, step: &str) {
        self.context
            .progress
            .report(&self.cluster.name, subject, step);
    }

    pub(super) fn node_error(&self, doing: String) -> impl FnOnce(NodeError) -> ClusterError + '_ {
        move |source| ClusterError::Node {
            cluster: self.cluster.name.clone(),
            doing,
            source: Box::new(source),
        }
    }

    pub(super) fn api_error<E: std::error::Error + Send + Sync + 'static>(
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

    pub(super) fn unsupported(&self, detail: impl Into<String>) -> ClusterError {
        ClusterError::Unsupported {
            cluster: self.cluster.name.clone(),
            detail: detail.into(),
        }
    }

    pub(super) fn store_error<E: std::error::Error + Send + Sync + 'static>(
        &self,
        source: E,
    ) -> ClusterError {
        ClusterError::Store {
            cluster: self.cluster.name.clone(),
            source: Box::new(source),
        }
    }

    /// The nodes with their targets and files, servers first.
    pub(super) fn nodes(&self, artifacts: &K3sArtifacts) -> Result<Vec<ClusterNode>, ClusterError> {
        let context = self.context;
        let configs: Vec<K3sNodeConfig> =
            k3s_node_configs(self.cluster).map_err(|error| self.unsupported(error.to_string()))?;
        let token = cluster_token(context.store, &context.plan.scope, &self.cluster.name)
            .map_err(|error| self.store_error(error))?;
        // labform's CA for the cluster: on the first server before K3s starts, and its hash in
        // the token of every joining node, so none trusts the server it reaches on first use.
        let server_ca = cluster_ca(context.store, &context.plan.scope, &self.cluster.name)
            .map_err(|error| self.store_error(error))?;
        let joining_token = secure_token(&server_ca, &token);
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
            let first = config.role == NodeRole::FirstServer;
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
                    token: if first { &token } else { &joining_token },
                    server_ca: first.then_some(&server_ca),
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
    pub(super) async fn connect(&self, node: &ClusterNode) -> Result<Session, ClusterError> {
        let session = self
            .context
            .ssh
            .connect_while_booting(&node.target, self.context.options.ssh_ready_timeout)
            .await
            .map_err(|error| {
                self.node_error(format!("connecting to {}", node.name))(error.into())
            })?;
        // cloud-init may still be installing packages or restarting sshd.
        session.wait_for_cloud_init().await.map_err(|error| {
            self.node_error(format!("waiting for cloud-init on {}", node.name))(error.into())
        })?;
        Ok(session)
    }

    pub(super) async fn api(
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
        let api = control_plane_api(self.cluster, &first_node.target.host, &origin, &text)
            .await
            .map_err(self.api_error("reaching the Kubernetes API through the first server"))?;
        Ok((api, text))
    }

    pub(super) async fn wait_ready(
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

    /// The token of `access`'s ServiceAccount, once Kubernetes's token controller has filled
    /// in the Secret the tenant-access manifest declares.
    pub(super) async fn tenant_token(
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
    pub(super) async fn wait_for_version(
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
    pub(super) async fn facts(
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
    pub(super) async fn converge_node(
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
