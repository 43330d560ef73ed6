//! A Talos cluster brought to its plan through the Talos API: every node's configuration
//! applied (through the maintenance API when a node has none, which the seed image normally
//! spares; on a running cluster one node at a time, control planes first, each only while etcd
//! keeps its quorum without it and healthy before the next: how a new Kubernetes version's
//! images reach the nodes, one minor version at a time), etcd bootstrapped once on the first control plane, health waited for, Talos
//! upgraded one node at a time (control planes first, each only while etcd keeps its quorum
//! without it), and the admin kubeconfig fetched (the caller keeps it: [`crate::Talos`]). [`drift`] compares each
//! node's running configuration with what labform would apply; [`reset`] wipes the nodes,
//! workers first, the last control plane without leaving etcd.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use labform_planner::Plan;
use labform_planner::plan::PlannedCluster;
use labform_secrets::{ExposeSecret as _, SecretKey, SecretStore, SecretString};
use tokio::time::Instant;

use crate::api::client::{ApplyMode, NodeEndpoint, TalosClient};
use crate::api::tls;
use crate::error::TalosError;
use crate::machine_config::{NodeConfiguration, SecretsSource, cluster_configurations};
use crate::secrets::SecretsBundle;
use crate::talosconfig::Talosconfig;
use crate::version::TalosVersion;

/// Where Talos keeps the configuration a node runs with.
pub const RUNNING_CONFIGURATION: &str = "/system/state/config.yaml";

/// The secret-store key of cluster instance `cluster`'s kubeconfig in scope `scope` (the key
/// every distribution keeps its kubeconfig under).
pub fn kubeconfig_store_key(scope: &str, cluster: &str) -> Result<SecretKey, TalosError> {
    labform_kubernetes::distribution::kubeconfig_store_key(scope, cluster).map_err(|reason| {
        TalosError::Kubeconfig {
            reason: format!("no store key for it: {reason}"),
        }
    })
}

/// Limits of the Talos work.
#[derive(Debug, Clone)]
pub struct TalosOptions {
    /// How long one API call may take.
    pub call_timeout: Duration,
    /// How long nodes may take to answer, to come up configured, and to become healthy.
    pub ready_timeout: Duration,
    /// Interval of checks while waiting.
    pub poll: Duration,
}

impl Default for TalosOptions {
    fn default() -> Self {
        TalosOptions {
            call_timeout: Duration::from_secs(30),
            ready_timeout: Duration::from_secs(600),
            poll: Duration::from_secs(3),
        }
    }
}

/// Where to reach nodes instead of `ADDRESS:50000` (tests run the API double on loopback).
#[derive(Debug, Clone, Default)]
pub struct EndpointOverrides {
    sockets: HashMap<IpAddr, SocketAddr>,
}

impl EndpointOverrides {
    /// No overrides.
    pub fn none() -> Self {
        EndpointOverrides::default()
    }

    /// Connect to `socket` for the node whose planned address is `address`.
    pub fn with(mut self, address: IpAddr, socket: SocketAddr) -> Self {
        self.sockets.insert(address, socket);
        self
    }

    /// Reads `ADDRESS=HOST:PORT,...` (the `LABFORM_TALOS_ENDPOINTS` variable).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut overrides = EndpointOverrides::none();
        for entry in text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
        {
            let (address, socket) = entry
                .split_once('=')
                .ok_or_else(|| format!("`{entry}` is not ADDRESS=HOST:PORT"))?;
            let address: IpAddr = address
                .parse()
                .map_err(|_| format!("`{address}` is not an IP address"))?;
            let socket: SocketAddr = socket
                .parse()
                .map_err(|_| format!("`{socket}` is not HOST:PORT"))?;
            overrides = overrides.with(address, socket);
        }
        Ok(overrides)
    }

    fn endpoint(&self, node: &str, address: IpAddr) -> NodeEndpoint {
        let mut endpoint = NodeEndpoint::new(node, address);
        if let Some(socket) = self.sockets.get(&address) {
            endpoint.socket = *socket;
        }
        endpoint
    }
}

/// What the Talos work needs besides the cluster.
pub struct TalosContext<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// labform's secret store (the bundle, the talosconfig, the kubeconfig).
    pub store: &'a SecretStore,
    /// Limits.
    pub options: TalosOptions,
    /// Where to reach nodes.
    pub overrides: EndpointOverrides,
    /// Progress: `(subject, step)`.
    pub progress: &'a (dyn Fn(&str, &str) + Sync),
}

/// What converging a Talos cluster did.
#[derive(Debug)]
pub struct TalosOutcome {
    /// Nodes whose configuration was applied (through the maintenance API or changed).
    pub applied: Vec<String>,
    /// Whether etcd was bootstrapped in this run.
    pub bootstrapped: bool,
    /// Nodes upgraded to the cluster's version.
    pub upgraded: Vec<String>,
    /// The admin kubeconfig as Talos gives it (the caller names it, points it at the API
    /// address and keeps it under [`kubeconfig_store_key`]).
    pub kubeconfig: SecretString,
}

/// How one node differs from its planned configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalosNodeDrift {
    /// The node.
    pub node: String,
    /// The documents (`v1alpha1`, `KubeNodeConfig`, ...) whose running form differs from the
    /// planned one, or that are missing or extra; never their contents.
    pub documents: Vec<String>,
    /// The running Talos version, when it is not the planned one.
    pub version: Option<String>,
    /// Why the node could not be looked at.
    pub unreachable: Option<String>,
}

impl TalosNodeDrift {
    /// Whether anything differs.
    pub fn drifted(&self) -> bool {
        !self.documents.is_empty() || self.version.is_some() || self.unreachable.is_some()
    }
}

/// The state of the cluster's Talos work: its configurations, clients and endpoints.
struct Work<'a> {
    context: &'a TalosContext<'a>,
    cluster: &'a PlannedCluster,
    configurations: Vec<NodeConfiguration>,
    admin: TalosClient,
    maintenance: TalosClient,
    installer_image: String,
    version: TalosVersion,
}

/// What configuring a node did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    /// It ran its planned configuration already.
    Nothing,
    /// It was in maintenance mode and got its configuration.
    Fresh,
    /// Its configuration was replaced.
    Changed,
}

enum NodeState {
    /// Configured.
    Configured,
    /// In maintenance mode, waiting for a configuration.
    Maintenance,
}

impl<'a> Work<'a> {
    fn new(context: &'a TalosContext<'a>, cluster: &'a PlannedCluster) -> Result<Self, TalosError> {
        let bundle =
            SecretsBundle::load_or_generate(context.store, &context.plan.scope, &cluster.name)?;
        let configurations =
            cluster_configurations(context.plan, cluster, SecretsSource::Bundle(&bundle))?;
        let endpoints = configurations
            .iter()
            .filter(|configuration| configuration.role.is_server())
            .map(|configuration| configuration.address.to_string())
            .collect();
        let nodes = configurations
            .iter()
            .map(|configuration| configuration.address.to_string())
            .collect();
        let talosconfig = Talosconfig::load_or_create(
            context.store,
            &context.plan.scope,
            &cluster.name,
            &bundle,
            endpoints,
            nodes,
        )?;
        let admin = TalosClient::new(
            tls::authenticated_client(
                &talosconfig.ca,
                &talosconfig.certificate,
                talosconfig.key.expose_secret(),
            )?,
            context.options.call_timeout,
        );
        let maintenance =
            TalosClient::new(tls::maintenance_client()?, context.options.call_timeout);
        let version = TalosVersion::parse(&cluster.version)?;
        let installer_image = crate::machine_config::talos_settings(cluster)
            .installer_image
            .clone();
        Ok(Work {
            context,
            cluster,
            configurations,
            admin,
            maintenance,
            installer_image,
            version,
        })
    }

    fn endpoint(&self, configuration: &NodeConfiguration) -> NodeEndpoint {
        self.context
            .overrides
            .endpoint(&configuration.vm, configuration.address.into())
    }

    fn report(&self, subject: &str, step: &str) {
        (self.context.progress)(subject, step);
    }

    fn timed_out(&self, node: &str, waiting_for: &str, last: Option<TalosError>) -> TalosError {
        TalosError::Timeout {
            cluster: self.cluster.name.clone(),
            node: node.to_owned(),
            waiting_for: waiting_for.to_owned(),
            last: last.map(|error| error.to_string()).unwrap_or_default(),
        }
    }

    /// Waits until the node answers, configured or in maintenance mode.
    async fn node_state(&self, endpoint: &NodeEndpoint) -> Result<NodeState, TalosError> {
        let deadline = Instant::now() + self.context.options.ready_timeout;
        loop {
            let last = match self.admin.version(endpoint).await {
                Ok(_) => return Ok(NodeState::Configured),
                Err(error) => match self.maintenance.version(endpoint).await {
                    Ok(_) => return Ok(NodeState::Maintenance),
                    Err(_) => error,
                },
            };
            if Instant::now() >= deadline {
                return Err(self.timed_out(&endpoint.node, "its Talos API", Some(last)));
            }
            tokio::time::sleep(self.context.options.poll).await;
        }
    }

    /// Waits until the node answers with labform's client certificate.
    async fn configured_version(&self, endpoint: &NodeEndpoint) -> Result<String, TalosError> {
        let deadline = Instant::now() + self.context.options.ready_timeout;
        loop {
            match self.admin.version(endpoint).await {
                Ok(version) => return Ok(version),
                Err(error) if Instant::now() >= deadline => {
                    return Err(self.timed_out(
                        &endpoint.node,
                        "its configured Talos API",
                        Some(error),
                    ));
                }
                Err(_) => tokio::time::sleep(self.context.options.poll).await,
            }
        }
    }

    /// Applies the node's configuration when it has none or another one; what it did.
    async fn configure(&self, configuration: &NodeConfiguration) -> Result<Applied, TalosError> {
        let endpoint = self.endpoint(configuration);
        let planned = configuration.for_node();
        match self.node_state(&endpoint).await? {
            NodeState::Maintenance => {
                self.report(&configuration.vm, "apply configuration (maintenance mode)");
                self.maintenance
                    .apply_configuration(&endpoint, &planned, ApplyMode::Auto)
                    .await?;
                self.configured_version(&endpoint).await?;
                Ok(Applied::Fresh)
            }
            NodeState::Configured => {
                let running = self.admin.read(&endpoint, RUNNING_CONFIGURATION).await?;
                if running.expose_secret() == planned.expose_secret() {
                    return Ok(Applied::Nothing);
                }
                check_kubernetes_step(
                    &configuration.vm,
                    running.expose_secret(),
                    planned.expose_secret(),
                )?;
                // On a running cluster a changed configuration (a Kubernetes upgrade, new
                // images) goes to one node at a time: a control plane only while etcd keeps
                // its quorum without it, and the next node once this one is healthy again.
                let formed = self.etcd_running().await?;
                if formed && configuration.role.is_server() {
                    self.check_quorum_without(configuration).await?;
                }
                self.report(&configuration.vm, "apply changed configuration");
                self.admin
                    .apply_configuration(&endpoint, &planned, ApplyMode::Auto)
                    .await?;
                if formed {
                    self.wait_healthy(configuration).await?;
                }
                Ok(Applied::Changed)
            }
        }
    }

    fn control_planes(&self) -> impl Iterator<Item = &NodeConfiguration> {
        self.configurations
            .iter()
            .filter(|configuration| configuration.role.is_server())
    }

    /// Whether etcd runs on any control plane.
    async fn etcd_running(&self) -> Result<bool, TalosError> {
        for configuration in self.control_planes() {
            let services = self.admin.services(&self.endpoint(configuration)).await?;
            if services
                .iter()
                .any(|service| service.id == "etcd" && service.state == "Running")
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// What keeps the node from being healthy, if anything.
    async fn unhealthy(
        &self,
        configuration: &NodeConfiguration,
    ) -> Result<Option<String>, TalosError> {
        let services = self.admin.services(&self.endpoint(configuration)).await?;
        let mut required = vec!["apid", "kubelet"];
        if configuration.role.is_server() {
            required.push("etcd");
        }
        for id in required {
            match services.iter().find(|service| service.id == id) {
                None => return Ok(Some(format!("service {id} is missing"))),
                Some(service) => {
                    let healthy = service.health.as_ref().is_some_and(|health| health.healthy);
                    if service.state != "Running" || !healthy {
                        return Ok(Some(format!("service {id} is {}", service.state)));
                    }
                }
            }
        }
        Ok(None)
    }

    async fn wait_healthy(&self, configuration: &NodeConfiguration) -> Result<(), TalosError> {
        let deadline = Instant::now() + self.context.options.ready_timeout;
        loop {
            let last = match self.unhealthy(configuration).await {
                Ok(None) => return Ok(()),
                Ok(Some(reason)) => TalosError::Unhealthy {
                    node: configuration.vm.clone(),
                    reason,
                },
                Err(error) => error,
            };
            if Instant::now() >= deadline {
                return Err(self.timed_out(
                    &configuration.vm,
                    "its services to be healthy",
                    Some(last),
                ));
            }
            tokio::time::sleep(self.context.options.poll).await;
        }
    }

    /// Refuses to take `node` (a control plane) down when etcd would lose its quorum.
    async fn check_quorum_without(&self, node: &NodeConfiguration) -> Result<(), TalosError> {
        let members = self.admin.etcd_members(&self.endpoint(node)).await?;
        let quorum = members.len() / 2 + 1;
        let mut healthy_others = 0;
        for configuration in self.control_planes().filter(|other| other.vm != node.vm) {
            if !members
                .iter()
                .any(|member| member.hostname == configuration.vm)
            {
                continue;
            }
            if let Ok(status) = self.admin.etcd_status(&self.endpoint(configuration)).await
                && status.errors.is_empty()
            {
                healthy_others += 1;
            }
        }
        if healthy_others < quorum {
            return Err(TalosError::Quorum {
                node: node.vm.clone(),
                healthy: healthy_others,
                members: members.len(),
            });
        }
        Ok(())
    }

    async fn upgrade(&self, configuration: &NodeConfiguration) -> Result<(), TalosError> {
        let endpoint = self.endpoint(configuration);
        if configuration.role.is_server() {
            self.check_quorum_without(configuration).await?;
        }
        self.report(
            &configuration.vm,
            &format!("upgrade Talos to {}", self.version),
        );
        self.admin.upgrade(&endpoint, &self.installer_image).await?;
        let deadline = Instant::now() + self.context.options.ready_timeout;
        let target = self.version.to_string();
        loop {
            match self.admin.version(&endpoint).await {
                Ok(version) if version == target => break,
                result => {
                    if Instant::now() >= deadline {
                        return Err(self.timed_out(
                            &configuration.vm,
                            &format!("Talos {target} after the upgrade"),
                            result.err(),
                        ));
                    }
                    tokio::time::sleep(self.context.options.poll).await;
                }
            }
        }
        self.wait_healthy(configuration).await
    }
}

/// The Kubernetes version a configuration's kubelet image names (`v1.31.2`), if it names one.
fn kubelet_version(configuration: &str) -> Option<(u32, u32)> {
    let tag = configuration
        .split("ghcr.io/siderolabs/kubelet:")
        .nth(1)?
        .split(|character: char| character.is_whitespace() || character == '"')
        .next()?;
    let mut numbers = tag.strip_prefix('v')?.split('.');
    let major = numbers.next()?.parse().ok()?;
    let minor = numbers.next()?.parse().ok()?;
    Some((major, minor))
}

/// Refuses a Kubernetes change Talos cannot make in one step: a downgrade, or more than one
/// minor version at a time (as `talosctl upgrade-k8s` refuses them).
fn check_kubernetes_step(node: &str, running: &str, planned: &str) -> Result<(), TalosError> {
    let (Some(from), Some(to)) = (kubelet_version(running), kubelet_version(planned)) else {
        return Ok(());
    };
    let allowed = to == from || (to.0 == from.0 && (to.1 == from.1 || to.1 == from.1 + 1));
    if allowed {
        return Ok(());
    }
    Err(TalosError::KubernetesStep {
        node: node.to_owned(),
        running: format!("v{}.{}", from.0, from.1),
        planned: format!("v{}.{}", to.0, to.1),
    })
}

/// Brings `cluster` to its plan through the Talos API and fetches its admin kubeconfig.
pub async fn converge(
    context: &TalosContext<'_>,
    cluster: &PlannedCluster,
) -> Result<TalosOutcome, TalosError> {
    let work = Work::new(context, cluster)?;
    let mut applied = Vec::new();
    let mut fresh = false;
    for configuration in &work.configurations {
        let done = work.configure(configuration).await?;
        if done != Applied::Nothing {
            applied.push(configuration.vm.clone());
        }
        fresh |= done == Applied::Fresh;
    }
    let first = work
        .control_planes()
        .next()
        .ok_or_else(|| TalosError::MissingVm {
            cluster: cluster.name.clone(),
            node: "a control plane".to_owned(),
        })?;
    let mut bootstrapped = false;
    if !work.etcd_running().await? {
        work.report(&first.vm, "bootstrap etcd");
        work.admin.bootstrap(&work.endpoint(first)).await?;
        bootstrapped = true;
    }
    // A cluster just brought up (or grown) is waited for; a running one is checked node by
    // node before each upgrade instead (etcd's quorum), so one sick member does not stop work
    // that keeps the quorum.
    if bootstrapped || fresh {
        for configuration in &work.configurations {
            work.wait_healthy(configuration).await?;
        }
    }
    let mut upgraded = Vec::new();
    let target = work.version.to_string();
    for configuration in &work.configurations {
        let running = work.admin.version(&work.endpoint(configuration)).await?;
        if running != target {
            work.upgrade(configuration).await?;
            upgraded.push(configuration.vm.clone());
        }
    }
    work.report(&first.vm, "fetch the kubeconfig");
    let kubeconfig = work.admin.kubeconfig(&work.endpoint(first)).await?;
    Ok(TalosOutcome {
        applied,
        bootstrapped,
        upgraded,
        kubeconfig,
    })
}

/// The `kind` of each document of a configuration (`v1alpha1` for the first), with its text.
fn documents(text: &str) -> Vec<(String, String)> {
    text.split("\n---\n")
        .map(|document| {
            let kind = document
                .lines()
                .find_map(|line| line.strip_prefix("kind: "))
                .map(|kind| kind.trim().to_owned());
            let name = document
                .lines()
                .find_map(|line| line.strip_prefix("name: "))
                .map(|name| name.trim().to_owned());
            let label = match (kind, name) {
                (Some(kind), Some(name)) => format!("{kind} {name}"),
                (Some(kind), None) => kind,
                (None, _) => "v1alpha1".to_owned(),
            };
            (label, document.trim_end().to_owned())
        })
        .collect()
}

/// Compares every node's running configuration and version with the plan; nothing is changed.
/// Also gives the admin kubeconfig of the first control plane, when it answers (to compare the
/// add-ons).
pub async fn drift(
    context: &TalosContext<'_>,
    cluster: &PlannedCluster,
) -> Result<(Vec<TalosNodeDrift>, Option<SecretString>), TalosError> {
    let work = Work::new(context, cluster)?;
    let mut report = Vec::new();
    let target = work.version.to_string();
    for configuration in &work.configurations {
        let endpoint = work.endpoint(configuration);
        let mut node = TalosNodeDrift {
            node: configuration.vm.clone(),
            documents: Vec::new(),
            version: None,
            unreachable: None,
        };
        match work.admin.read(&endpoint, RUNNING_CONFIGURATION).await {
            Err(error) => node.unreachable = Some(error.to_string()),
            Ok(running) => {
                let planned = documents(configuration.for_node().expose_secret());
                let running = documents(running.expose_secret());
                for (label, text) in &planned {
                    if !running
                        .iter()
                        .any(|(other, other_text)| other == label && other_text == text)
                    {
                        node.documents.push(label.clone());
                    }
                }
                for (label, _) in &running {
                    if !planned.iter().any(|(other, _)| other == label) {
                        node.documents.push(format!("{label} (not planned)"));
                    }
                }
                match work.admin.version(&endpoint).await {
                    Ok(version) if version != target => node.version = Some(version),
                    Ok(_) => {}
                    Err(error) => node.unreachable = Some(error.to_string()),
                }
            }
        }
        report.push(node);
    }
    let kubeconfig = match work.control_planes().next() {
        Some(first) => work.admin.kubeconfig(&work.endpoint(first)).await.ok(),
        None => None,
    };
    Ok((report, kubeconfig))
}

/// Takes node `vm` out of `cluster` before its VM is deleted (`labform replace`): a reset
/// through the Talos API, graceful on a control plane (it leaves etcd first); a node already
/// in maintenance mode is left as it is. The caller deletes its Node object.
pub async fn leave(
    context: &TalosContext<'_>,
    cluster: &PlannedCluster,
    vm: &str,
) -> Result<(), TalosError> {
    let work = Work::new(context, cluster)?;
    let Some(configuration) = work
        .configurations
        .iter()
        .find(|configuration| configuration.vm == vm)
    else {
        return Err(TalosError::MissingVm {
            cluster: cluster.name.clone(),
            node: vm.to_owned(),
        });
    };
    let endpoint = work.endpoint(configuration);
    match work.node_state(&endpoint).await? {
        NodeState::Maintenance => return Ok(()),
        NodeState::Configured => {}
    }
    work.report(&configuration.vm, "reset (leaving the cluster)");
    work.admin
        .reset(&endpoint, configuration.role.is_server())
        .await
}

/// Wipes every node of `cluster` back to maintenance mode (workers first; control planes leave
/// etcd, the last one without leaving) and forgets the cluster's kubeconfig. The VMs stay; the
/// secrets bundle and talosconfig are kept, so the next apply makes the cluster again with the
/// same identity.
pub async fn reset(context: &TalosContext<'_>, cluster: &PlannedCluster) -> Result<(), TalosError> {
    let work = Work::new(context, cluster)?;
    let mut order: Vec<&NodeConfiguration> = work
        .configurations
        .iter()
        .filter(|configuration| !configuration.role.is_server())
        .collect();
    let mut control_planes: Vec<&NodeConfiguration> = work.control_planes().collect();
    control_planes.reverse();
    let last = control_planes
        .last()
        .map(|configuration| configuration.vm.clone());
    order.extend(control_planes);
    for configuration in order {
        let endpoint = work.endpoint(configuration);
        match work.node_state(&endpoint).await? {
            NodeState::Maintenance => continue,
            NodeState::Configured => {}
        }
        let graceful = configuration.role.is_server() && Some(&configuration.vm) != last.as_ref();
        work.report(&configuration.vm, "reset");
        work.admin.reset(&endpoint, graceful).await?;
    }
    let key = kubeconfig_store_key(&context.plan.scope, &cluster.name)?;
    context.store.remove(&key)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_goes_up_one_minor_version_at_a_time() {
        let at = |version: &str| {
            format!("machine:\n    kubelet:\n        image: ghcr.io/siderolabs/kubelet:{version}\n")
        };
        assert_eq!(kubelet_version(&at("v1.31.2")), Some((1, 31)));
        assert_eq!(kubelet_version("machine: {}\n"), None);
        for (from, to) in [("v1.31.2", "v1.31.4"), ("v1.31.2", "v1.32.0")] {
            assert!(
                check_kubernetes_step("n", &at(from), &at(to)).is_ok(),
                "{from} {to}"
            );
        }
        for (from, to) in [("v1.31.2", "v1.33.0"), ("v1.31.2", "v1.30.9")] {
            let error = check_kubernetes_step("n", &at(from), &at(to)).unwrap_err();
            assert!(
                error.to_string().contains("one minor version at a time"),
                "{error}"
            );
        }
        // Without a pinned version (Talos's default) there is nothing to compare.
        assert!(check_kubernetes_step("n", "machine: {}\n", &at("v1.33.0")).is_ok());
    }
}
