//! A test double of the subset of kube-apiserver labform uses, for tests only (it is not shipped
//! in the `labform` binary and is not a Kubernetes).
//!
//! [`KubeSim::start`] serves one simulated K3s cluster over HTTPS on a local port. Like K3s, it
//! has a server CA for its serving certificate and a client CA for client certificates, and
//! authenticates clients by certificate only (anonymous requests get 401);
//! [`KubeSim::kubeconfig`] is the admin kubeconfig in the shape of K3s's `k3s.yaml`.
//!
//! What it models, following kube-apiserver's behaviour and API conventions (`Status` bodies,
//! status codes, list and discovery documents):
//!
//! - `/version`, `/readyz` (`/livez`, `/healthz`), and discovery: `/api`, `/apis`, `/api/v1`,
//!   `/apis/<group>` and `/apis/<group>/v1` for core v1 (configmaps, namespaces, nodes, pods with
//!   the `pods/eviction` subresource, services), `apps/v1` (daemonsets), `policy/v1`
//!   (poddisruptionbudgets), `helm.cattle.io/v1` (helmcharts, helmchartconfigs) and
//!   `k3s.cattle.io/v1` (addons);
//! - for each of those resources: list (field selectors kube-apiserver supports for them, such
//!   as `spec.nodeName` for pods, and equality label selectors), get, create, delete (404
//!   `NotFound` Status for missing objects; deleting a namespace deletes what is in it), and
//!   `PATCH` with JSON merge patch or strategic merge patch (refused with 415 for custom
//!   resources, as kube-apiserver does);
//! - `POST .../pods/{name}/eviction` (policy/v1 `Eviction`): 201 with a `Success` Status, or 429
//!   `TooManyRequests` with a `DisruptionBudget` cause when a rule set by
//!   [`KubeSim::block_evictions`] refuses it; an evicted or deleted pod goes away after
//!   [`KubeSim::set_termination_delay`].
//!
//! Test controls: nodes ([`KubeSim::add_node`], [`KubeSim::remove_node`],
//! [`KubeSim::set_node_ready`]), pods ([`KubeSim::add_pod`]), any modelled object
//! ([`KubeSim::put_object`]), eviction refusals, outages ([`KubeSim::unavailable_for`] answers
//! 503, [`KubeSim::refuse_connections_for`] closes the socket), a failing `/readyz`
//! ([`KubeSim::set_readyz_failing`]), and the log of requests answered ([`KubeSim::requests`]).

mod model;
mod pki;
mod server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

pub use model::{NodeReadiness, PodOwner, PodSpec, RecordedRequest};
pub use pki::PkiError;

use model::{State, resource_of_kind};
use server::{Outage, Shared};

/// Errors of starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Certificates or TLS.
    #[error("cannot set up the simulator's certificates")]
    Pki(#[from] PkiError),
    /// The port.
    #[error("cannot listen on 127.0.0.1")]
    Bind(#[source] std::io::Error),
}

/// A running simulated cluster. Dropping it stops the server.
pub struct KubeSim {
    shared: Arc<Shared>,
    kubeconfig: String,
    outages: mpsc::Sender<Outage>,
    accept: tokio::task::JoinHandle<()>,
    nodes_added: Mutex<usize>,
}

impl std::fmt::Debug for KubeSim {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KubeSim")
            .field("address", &self.shared.address)
            .finish_non_exhaustive()
    }
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The kubelet and server version of a new simulator.
pub const DEFAULT_VERSION: &str = "v1.31.4+k3s1";

impl KubeSim {
    /// Starts a cluster with no nodes on a free port of 127.0.0.1, serving [`DEFAULT_VERSION`].
    pub async fn start() -> Result<Self, StartError> {
        let pki = pki::Pki::generate()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(pki.server_config()?));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(StartError::Bind)?;
        let address = listener.local_addr().map_err(StartError::Bind)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(DEFAULT_VERSION)),
            address,
        });
        let (outages, outage_receiver) = mpsc::channel(1);
        let accept = tokio::spawn(server::accept_loop(
            listener,
            acceptor,
            shared.clone(),
            outage_receiver,
        ));
        Ok(Self {
            kubeconfig: pki.kubeconfig(&format!("https://{address}")),
            shared,
            outages,
            accept,
            nodes_added: Mutex::new(0),
        })
    }

    /// The server URL (`https://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("https://{}", self.shared.address)
    }

    /// The admin kubeconfig, shaped like K3s's `/etc/rancher/k3s/k3s.yaml`, pointing at
    /// [`Self::url`]. It contains the client key: tests only.
    pub fn kubeconfig(&self) -> String {
        self.kubeconfig.clone()
    }

    /// Adds a node whose kubelet (of [`DEFAULT_VERSION`]) is Ready.
    pub fn add_node(&self, name: &str) {
        self.add_node_with_version(name, DEFAULT_VERSION);
    }

    /// Adds a Ready node running kubelet `kubelet_version`.
    pub fn add_node_with_version(&self, name: &str, kubelet_version: &str) {
        let index = {
            let mut added = self
                .nodes_added
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *added += 1;
            *added
        };
        self.shared.lock().add_node(name, kubelet_version, index);
    }

    /// Sets a node's kubelet version (an upgraded node).
    ///
    /// # Panics
    ///
    /// If there is no such node.
    pub fn set_kubelet_version(&self, name: &str, kubelet_version: &str) {
        assert!(
            self.shared
                .lock()
                .set_kubelet_version(name, kubelet_version),
            "no node {name}"
        );
    }

    /// Removes a node.
    pub fn remove_node(&self, name: &str) -> bool {
        let nodes = model::find_resource("", "v1", "nodes").expect("nodes are modelled");
        self.shared.lock().remove_object(&nodes, "", name)
    }

    /// Sets a node's `Ready` condition.
    ///
    /// # Panics
    ///
    /// If there is no such node.
    pub fn set_node_ready(&self, name: &str, readiness: &NodeReadiness) {
        assert!(
            self.shared.lock().set_node_ready(name, readiness),
            "no node {name}"
        );
    }

    /// The node as the API serves it.
    pub fn node(&self, name: &str) -> Option<Value> {
        let nodes = model::find_resource("", "v1", "nodes").expect("nodes are modelled");
        self.shared.lock().object(&nodes, "", name).cloned()
    }

    /// Puts a running pod on a node.
    pub fn add_pod(&self, spec: &PodSpec) {
        self.shared.lock().add_pod(spec);
    }

    /// Whether the pod exists (terminating pods still exist).
    pub fn pod_exists(&self, namespace: &str, name: &str) -> bool {
        let pods = model::find_resource("", "v1", "pods").expect("pods are modelled");
        let mut state = self.shared.lock();
        state.settle();
        state.object(&pods, namespace, name).is_some()
    }

    /// Stores any modelled object (`apiVersion`, `kind`, `metadata.name`, and
    /// `metadata.namespace` for namespaced kinds, defaulting to `default`).
    ///
    /// # Panics
    ///
    /// If the kind is not modelled or the name is missing.
    pub fn put_object(&self, object: Value) {
        let stored = self.shared.lock().put_object(object.clone());
        assert!(stored.is_some(), "not a modelled object: {object}");
    }

    /// Whether an object exists. `namespace` is ignored for cluster-scoped kinds.
    ///
    /// # Panics
    ///
    /// If the kind is not modelled.
    pub fn object_exists(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> bool {
        let resource = resource_of_kind(api_version, kind)
            .unwrap_or_else(|| panic!("{api_version} {kind} is not modelled"));
        let mut state = self.shared.lock();
        state.settle();
        state.object(&resource, namespace, name).is_some()
    }

    /// An object as stored, if it exists. `namespace` is ignored for cluster-scoped kinds.
    ///
    /// # Panics
    ///
    /// If the kind is not modelled.
    pub fn object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let resource = resource_of_kind(api_version, kind)
            .unwrap_or_else(|| panic!("{api_version} {kind} is not modelled"));
        let mut state = self.shared.lock();
        state.settle();
        state.object(&resource, namespace, name).cloned()
    }

    /// Refuses the next `times` evictions of a pod (`None`: every one) with 429, naming the
    /// disruption budget `budget`.
    pub fn block_evictions(&self, namespace: &str, name: &str, times: Option<u32>, budget: &str) {
        self.shared
            .lock()
            .block_evictions(namespace, name, times, budget);
    }

    /// How long an evicted or deleted pod stays (terminating, with a `deletionTimestamp`)
    /// before it is gone. Zero (the default) removes it at once.
    pub fn set_termination_delay(&self, delay: Duration) {
        self.shared.lock().termination_delay = delay;
    }

    /// Answers every request with 503 `ServiceUnavailable` for `duration`.
    pub fn unavailable_for(&self, duration: Duration) {
        self.shared.lock().unavailable_until = Some(Instant::now() + duration);
    }

    /// Closes the listening socket and every open connection for `duration`, so clients get
    /// connection refused; returns once the socket is closed.
    ///
    /// # Panics
    ///
    /// If the server has stopped.
    pub async fn refuse_connections_for(&self, duration: Duration) {
        let (closed, wait) = oneshot::channel();
        self.outages
            .send(Outage { duration, closed })
            .await
            .expect("the simulator's server is running");
        wait.await.expect("the simulator's server is running");
    }

    /// Makes `/readyz` fail (its etcd check) while `failing`.
    pub fn set_readyz_failing(&self, failing: bool) {
        self.shared.lock().readyz_failing = failing;
    }

    /// The requests answered so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }
}
