//! The servers: one tonic server per node on loopback, behind TLS chosen per connection by the
//! node's state (maintenance mode or configured), with the client's roles read from its
//! certificate and handed to the calls.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use labform_talos::api::client::NodeEndpoint;
use labform_talos::api::kubeconfig::kubeconfig_archive;
use labform_talos::api::proto::common::{Data, Metadata};
use labform_talos::api::proto::machine::machine_service_server::{
    MachineService, MachineServiceServer,
};
use labform_talos::api::proto::machine::{
    ApplyConfiguration, ApplyConfigurationRequest, ApplyConfigurationResponse, Bootstrap,
    BootstrapRequest, BootstrapResponse, EtcdMember, EtcdMemberListRequest, EtcdMemberListResponse,
    EtcdMemberStatus, EtcdMembers, EtcdStatus, EtcdStatusResponse, PlatformInfo, ReadRequest,
    Reset, ResetRequest, ResetResponse, ServiceHealth, ServiceInfo, ServiceList,
    ServiceListResponse, Upgrade, UpgradeRequest, UpgradeResponse, Version, VersionInfo,
    VersionResponse,
};
use labform_talos::pki;
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_stream::Stream;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status};

use crate::state::{Call, Cluster, Node, NodeSnapshot, Role, read_configuration};

/// The role that may change a node.
const ADMIN: &str = "os:admin";

/// Where Talos keeps the configuration it runs with.
const CONFIGURATION_PATH: &str = "/system/state/config.yaml";

/// The running double: one server per node.
pub struct TalosSim {
    cluster: Arc<Mutex<Cluster>>,
    endpoints: Vec<NodeEndpoint>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for TalosSim {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TalosSim")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl Drop for TalosSim {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl TalosSim {
    /// Starts a node in maintenance mode running Talos `version` for each `(name, planned
    /// address)`, each on its own loopback port.
    pub async fn start(nodes: &[(String, IpAddr)], version: &str) -> std::io::Result<Self> {
        let cluster = Arc::new(Mutex::new(Cluster::default()));
        let mut endpoints = Vec::new();
        let mut tasks = Vec::new();
        for (index, (name, address)) in nodes.iter().enumerate() {
            cluster.lock().expect("state").nodes.insert(
                name.clone(),
                Node {
                    address: *address,
                    version: version.to_owned(),
                    configuration: None,
                    role: None,
                    etcd_running: false,
                    etcd_healthy: true,
                    member_id: 0x1000 + index as u64,
                    upgrades: Vec::new(),
                    resets: 0,
                    applies: 0,
                },
            );
            let listener =
                TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).await?;
            let socket = listener.local_addr()?;
            endpoints.push(NodeEndpoint {
                node: name.clone(),
                address: *address,
                socket,
            });
            tasks.push(tokio::spawn(serve(listener, name.clone(), cluster.clone())));
        }
        Ok(TalosSim {
            cluster,
            endpoints,
            tasks,
        })
    }

    /// The nodes' endpoints: their planned addresses, and the loopback sockets they answer on.
    pub fn endpoints(&self) -> &[NodeEndpoint] {
        &self.endpoints
    }

    /// `node`'s state.
    pub fn node(&self, node: &str) -> NodeSnapshot {
        self.cluster
            .lock()
            .expect("state")
            .snapshot(node)
            .unwrap_or_else(|| panic!("no simulated node {node}"))
    }

    /// Every call answered so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.cluster.lock().expect("state").calls.clone()
    }

    /// Makes `Kubeconfig` give `kubeconfig`: the admin kubeconfig of a Kubernetes API the
    /// test runs (the kube-apiserver double or a real one), standing for the cluster Talos
    /// would have formed.
    pub fn set_kubeconfig(&self, kubeconfig: &str) {
        self.cluster.lock().expect("state").kubeconfig = Some(kubeconfig.to_owned());
    }

    /// Makes `node`'s etcd member healthy or not.
    pub fn set_etcd_healthy(&self, node: &str, healthy: bool) {
        if let Some(node) = self.cluster.lock().expect("state").nodes.get_mut(node) {
            node.etcd_healthy = healthy;
        }
    }
}

/// A TLS connection with what the client showed.
struct Connection {
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    peer: Peer,
}

/// The client of a connection: whether it showed a certificate, and its roles.
#[derive(Debug, Clone)]
struct Peer {
    authenticated: bool,
    roles: Vec<String>,
}

impl Connected for Connection {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.peer.clone()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(context, buffer)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(context, buffer)
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(context)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS of `node` now: maintenance mode's self-signed certificate without client
/// authentication, or a certificate from the OS CA requiring a client certificate from it.
fn server_config(cluster: &Mutex<Cluster>, node: &str) -> Result<ServerConfig, String> {
    let (address, configured, os_ca) = {
        let state = cluster.lock().expect("state");
        let entry = &state.nodes[node];
        (
            entry.address,
            entry.configuration.is_some(),
            state.os_ca.clone(),
        )
    };
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(|e| e.to_string())?;
    let key_der = PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|error| error.to_string())?;
    let mut config = match (configured, os_ca) {
        (true, Some((ca_certificate, ca_key))) => {
            let ca_pair =
                pki::key_pair_from_pem(&ca_key, "OS CA key").map_err(|e| e.to_string())?;
            let certificate = pki::signed_certificate(
                &ca_certificate,
                &ca_pair,
                &key,
                &[],
                &[address, IpAddr::V4(Ipv4Addr::LOCALHOST)],
                "apid certificate",
            )
            .map_err(|error| error.to_string())?;
            let mut roots = rustls::RootCertStore::empty();
            for der in labform_talos::api::tls::certificates(&ca_certificate)
                .map_err(|error| error.to_string())?
            {
                roots.add(der).map_err(|error| error.to_string())?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .map_err(|error| error.to_string())?;
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(
                    labform_talos::api::tls::certificates(&certificate)
                        .map_err(|error| error.to_string())?,
                    key_der,
                )
                .map_err(|error| error.to_string())?
        }
        _ => {
            let mut params = rcgen::CertificateParams::new(vec![address.to_string()])
                .map_err(|error| error.to_string())?;
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, "maintenance");
            let certificate = params
                .self_signed(&key)
                .map_err(|error| error.to_string())?;
            builder
                .with_no_client_auth()
                .with_single_cert(
                    vec![CertificateDer::from(certificate.der().to_vec())],
                    key_der,
                )
                .map_err(|error| error.to_string())?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The organisations of the client's certificate (Talos's roles).
fn roles(certificates: Option<&[CertificateDer<'_>]>) -> Vec<String> {
    let Some(first) = certificates.and_then(|certificates| certificates.first()) else {
        return Vec::new();
    };
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(first) else {
        return Vec::new();
    };
    parsed
        .subject()
        .iter_organization()
        .filter_map(|organization| organization.as_str().ok().map(str::to_owned))
        .collect()
}

async fn serve(listener: TcpListener, node: String, cluster: Arc<Mutex<Cluster>>) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Connection>>(16);
    let accepting = {
        let cluster = cluster.clone();
        let node = node.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(config) = server_config(&cluster, &node) else {
                    continue;
                };
                let sender = sender.clone();
                tokio::spawn(async move {
                    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        let certificates = stream.get_ref().1.peer_certificates();
                        let peer = Peer {
                            authenticated: certificates.is_some_and(|found| !found.is_empty()),
                            roles: roles(certificates),
                        };
                        let _ = sender.send(Ok(Connection { stream, peer })).await;
                    }
                });
            }
        })
    };
    let service = NodeService { node, cluster };
    let _ = tonic::transport::Server::builder()
        .add_service(MachineServiceServer::new(service))
        .serve_with_incoming(tokio_stream::wrappers::ReceiverStream::new(receiver))
        .await;
    accepting.abort();
}

/// One node's machine service.
struct NodeService {
    node: String,
    cluster: Arc<Mutex<Cluster>>,
}

type DataStream = Pin<Box<dyn Stream<Item = Result<Data, Status>> + Send + 'static>>;

fn peer<T>(request: &Request<T>) -> Peer {
    request.extensions().get::<Peer>().cloned().unwrap_or(Peer {
        authenticated: false,
        roles: Vec::new(),
    })
}

fn metadata(node: &str) -> Option<Metadata> {
    Some(Metadata {
        hostname: node.to_owned(),
        error: String::new(),
    })
}

impl NodeService {
    /// Records the call and passes its result on.
    fn record<T>(&self, method: &str, peer: &Peer, result: Result<T, Status>) -> Result<T, Status> {
        let outcome = match &result {
            Ok(_) => "Ok".to_owned(),
            Err(status) => format!("{:?}", status.code()),
        };
        self.cluster.lock().expect("state").calls.push(Call {
            node: self.node.clone(),
            method: method.to_owned(),
            authenticated: peer.authenticated,
            outcome,
        });
        result
    }

    /// Calls that change or read a configured node need the admin role.
    fn require_admin(peer: &Peer) -> Result<(), Status> {
        if !peer.authenticated {
            return Err(Status::unauthenticated(
                "this call needs a client certificate from the cluster's OS CA",
            ));
        }
        if !peer.roles.iter().any(|role| role == ADMIN) {
            return Err(Status::permission_denied(format!(
                "the client certificate's roles {:?} do not include {ADMIN}",
                peer.roles
            )));
        }
        Ok(())
    }

    fn apply(&self, peer: &Peer, data: &[u8]) -> Result<(), Status> {
        let text = std::str::from_utf8(data)
            .map_err(|_| Status::invalid_argument("the configuration is not UTF-8"))?;
        let facts = read_configuration(text).map_err(Status::invalid_argument)?;
        let mut cluster = self.cluster.lock().expect("state");
        let configured = cluster.nodes[&self.node].configuration.is_some();
        if !peer.authenticated && configured {
            return Err(Status::permission_denied(
                "insecure apply is only possible in maintenance mode",
            ));
        }
        if peer.authenticated {
            Self::require_admin(peer)?;
        }
        if let Some((certificate, _)) = &cluster.os_ca
            && *certificate != facts.os_ca_certificate
        {
            return Err(Status::invalid_argument(
                "the configuration's OS CA is not the cluster's",
            ));
        }
        if let Some(key) = &facts.os_ca_key
            && cluster.os_ca.is_none()
        {
            cluster.os_ca = Some((facts.os_ca_certificate.clone(), key.clone()));
        }
        let bootstrapped = cluster.etcd_bootstrapped();
        let node = cluster.nodes.get_mut(&self.node).expect("node");
        node.configuration = Some(text.to_owned());
        node.role = Some(facts.role);
        node.applies += 1;
        if facts.role == Role::ControlPlane && bootstrapped {
            node.etcd_running = true;
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl MachineService for NodeService {
    async fn apply_configuration(
        &self,
        request: Request<ApplyConfigurationRequest>,
    ) -> Result<Response<ApplyConfigurationResponse>, Status> {
        let peer = peer(&request);
        let request = request.into_inner();
        let result = self.apply(&peer, &request.data).map(|()| {
            Response::new(ApplyConfigurationResponse {
                messages: vec![ApplyConfiguration {
                    metadata: metadata(&self.node),
                    warnings: Vec::new(),
                    mode: request.mode,
                    mode_details: "Applied configuration".to_owned(),
                }],
            })
        });
        self.record("ApplyConfiguration", &peer, result)
    }

    async fn bootstrap(
        &self,
        request: Request<BootstrapRequest>,
    ) -> Result<Response<BootstrapResponse>, Status> {
        let peer = peer(&request);
        let result = (|| {
            Self::require_admin(&peer)?;
            let mut cluster = self.cluster.lock().expect("state");
            let role = cluster.nodes[&self.node].role;
            if role != Some(Role::ControlPlane) {
                return Err(Status::failed_precondition(
                    "bootstrap is only possible on a control plane",
                ));
            }
            if cluster.etcd_bootstrapped() {
                return Err(Status::failed_precondition(
                    "etcd data directory is not empty: the cluster is bootstrapped already",
                ));
            }
            for node in cluster.nodes.values_mut() {
                if node.role == Some(Role::ControlPlane) && node.configuration.is_some() {
                    node.etcd_running = true;
                }
            }
            Ok(Response::new(BootstrapResponse {
                messages: vec![Bootstrap {
                    metadata: metadata(&self.node),
                }],
            }))
        })();
        self.record("Bootstrap", &peer, result)
    }

    async fn etcd_member_list(
        &self,
        request: Request<EtcdMemberListRequest>,
    ) -> Result<Response<EtcdMemberListResponse>, Status> {
        let peer = peer(&request);
        let result = (|| {
            Self::require_admin(&peer)?;
            let cluster = self.cluster.lock().expect("state");
            if !cluster.nodes[&self.node].etcd_running {
                return Err(Status::unavailable("etcd is not running on this node"));
            }
            let members = cluster
                .members()
                .into_iter()
                .map(|(name, node)| EtcdMember {
                    id: node.member_id,
                    hostname: name.clone(),
                    peer_urls: vec![format!("https://{}:2380", node.address)],
                    client_urls: vec![format!("https://{}:2379", node.address)],
                    is_learner: false,
                })
                .collect();
            Ok(Response::new(EtcdMemberListResponse {
                messages: vec![EtcdMembers {
                    metadata: metadata(&self.node),
                    legacy_members: Vec::new(),
                    members,
                }],
            }))
        })();
        self.record("EtcdMemberList", &peer, result)
    }

    async fn etcd_status(
        &self,
        request: Request<()>,
    ) -> Result<Response<EtcdStatusResponse>, Status> {
        let peer = peer(&request);
        let result = (|| {
            Self::require_admin(&peer)?;
            let cluster = self.cluster.lock().expect("state");
            let node = &cluster.nodes[&self.node];
            if !node.etcd_running {
                return Err(Status::unavailable("etcd is not running on this node"));
            }
            let leader = cluster
                .members()
                .first()
                .map(|(_, node)| node.member_id)
                .unwrap_or_default();
            Ok(Response::new(EtcdStatusResponse {
                messages: vec![EtcdStatus {
                    metadata: metadata(&self.node),
                    member_status: Some(EtcdMemberStatus {
                        member_id: node.member_id,
                        leader,
                        errors: if node.etcd_healthy {
                            Vec::new()
                        } else {
                            vec!["etcdserver: no leader".to_owned()]
                        },
                        ..EtcdMemberStatus::default()
                    }),
                }],
            }))
        })();
        self.record("EtcdStatus", &peer, result)
    }

    type KubeconfigStream = DataStream;

    async fn kubeconfig(
        &self,
        request: Request<()>,
    ) -> Result<Response<Self::KubeconfigStream>, Status> {
        let peer = peer(&request);
        let result = (|| {
            Self::require_admin(&peer)?;
            let cluster = self.cluster.lock().expect("state");
            let node = &cluster.nodes[&self.node];
            if node.role != Some(Role::ControlPlane) || !cluster.etcd_bootstrapped() {
                return Err(Status::failed_precondition(
                    "the kubeconfig is available on a control plane of a bootstrapped cluster",
                ));
            }
            let facts = read_configuration(node.configuration.as_deref().unwrap_or_default())
                .map_err(Status::internal)?;
            let kubeconfig = cluster.kubeconfig.clone().unwrap_or_else(|| format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {endpoint}\n    certificate-authority-data: c2ltdWxhdGVk\ncontexts:\n- name: admin@{name}\n  context:\n    cluster: {name}\n    user: admin@{name}\ncurrent-context: admin@{name}\nusers:\n- name: admin@{name}\n  user:\n    client-certificate-data: c2ltdWxhdGVk\n    client-key-data: c2ltdWxhdGVk\n",
                name = facts.cluster_name,
                endpoint = facts.endpoint,
            ));
            let archive = kubeconfig_archive(kubeconfig.as_bytes());
            let chunks: Vec<Result<Data, Status>> = archive
                .chunks(100)
                .map(|chunk| {
                    Ok(Data {
                        metadata: metadata(&self.node),
                        bytes: chunk.to_vec(),
                    })
                })
                .collect();
            Ok(Response::new(
                Box::pin(tokio_stream::iter(chunks)) as Self::KubeconfigStream
            ))
        })();
        self.record("Kubeconfig", &peer, result)
    }

    type ReadStream = DataStream;

    async fn read(
        &self,
        request: Request<ReadRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let peer = peer(&request);
        let path = request.get_ref().path.clone();
        let result = (|| {
            Self::require_admin(&peer)?;
            if path != CONFIGURATION_PATH {
                return Err(Status::not_found(format!("{path}: no such file")));
            }
            let cluster = self.cluster.lock().expect("state");
            let text = cluster.nodes[&self.node]
                .configuration
                .clone()
                .ok_or_else(|| Status::not_found("no configuration"))?;
            let item: Result<Data, Status> = Ok(Data {
                metadata: metadata(&self.node),
                bytes: text.into_bytes(),
            });
            Ok(Response::new(
                Box::pin(tokio_stream::iter(vec![item])) as Self::ReadStream
            ))
        })();
        self.record("Read", &peer, result)
    }

    async fn reset(
        &self,
        request: Request<ResetRequest>,
    ) -> Result<Response<ResetResponse>, Status> {
        let peer = peer(&request);
        let graceful = request.get_ref().graceful;
        let result = (|| {
            Self::require_admin(&peer)?;
            let mut cluster = self.cluster.lock().expect("state");
            let member = cluster.nodes[&self.node].etcd_running;
            if graceful && member && cluster.members().len() == 1 {
                return Err(Status::failed_precondition(
                    "cannot leave etcd gracefully: this node is its last member",
                ));
            }
            let node = cluster.nodes.get_mut(&self.node).expect("node");
            node.configuration = None;
            node.role = None;
            node.etcd_running = false;
            node.etcd_healthy = true;
            node.resets += 1;
            if cluster
                .nodes
                .values()
                .all(|node| node.configuration.is_none())
            {
                cluster.os_ca = None;
            }
            Ok(Response::new(ResetResponse {
                messages: vec![Reset {
                    metadata: metadata(&self.node),
                    actor_id: String::new(),
                }],
            }))
        })();
        self.record("Reset", &peer, result)
    }

    async fn service_list(
        &self,
        request: Request<()>,
    ) -> Result<Response<ServiceListResponse>, Status> {
        let peer = peer(&request);
        let result = (|| {
            Self::require_admin(&peer)?;
            let cluster = self.cluster.lock().expect("state");
            let node = &cluster.nodes[&self.node];
            let bootstrapped = cluster.etcd_bootstrapped();
            let service = |id: &str, running: bool, healthy: bool| ServiceInfo {
                id: id.to_owned(),
                state: if running { "Running" } else { "Preparing" }.to_owned(),
                health: Some(ServiceHealth {
                    unknown: !running,
                    healthy: running && healthy,
                    last_message: String::new(),
                }),
            };
            let mut services = vec![
                service("apid", true, true),
                service("machined", true, true),
                service("kubelet", bootstrapped, true),
            ];
            if node.role == Some(Role::ControlPlane) {
                services.push(service("etcd", node.etcd_running, node.etcd_healthy));
            }
            Ok(Response::new(ServiceListResponse {
                messages: vec![ServiceList {
                    metadata: metadata(&self.node),
                    services,
                }],
            }))
        })();
        self.record("ServiceList", &peer, result)
    }

    async fn upgrade(
        &self,
        request: Request<UpgradeRequest>,
    ) -> Result<Response<UpgradeResponse>, Status> {
        let peer = peer(&request);
        let image = request.get_ref().image.clone();
        let result = (|| {
            Self::require_admin(&peer)?;
            let mut cluster = self.cluster.lock().expect("state");
            let tag = image
                .rsplit_once(':')
                .map(|(_, tag)| tag.to_owned())
                .filter(|tag| tag.starts_with('v'))
                .ok_or_else(|| Status::invalid_argument("the image has no version tag"))?;
            if cluster.nodes[&self.node].etcd_running {
                let members = cluster.members();
                let quorum = members.len() / 2 + 1;
                let healthy_others = members
                    .iter()
                    .filter(|(name, node)| **name != self.node && node.etcd_healthy)
                    .count();
                if healthy_others < quorum {
                    return Err(Status::failed_precondition(format!(
                        "etcd would lose quorum: {healthy_others} healthy members would remain of {} (quorum {quorum})",
                        members.len()
                    )));
                }
            }
            let node = cluster.nodes.get_mut(&self.node).expect("node");
            node.version = tag;
            node.upgrades.push(image.clone());
            Ok(Response::new(UpgradeResponse {
                messages: vec![Upgrade {
                    metadata: metadata(&self.node),
                    ack: "Upgrade request received".to_owned(),
                    actor_id: String::new(),
                }],
            }))
        })();
        self.record("Upgrade", &peer, result)
    }

    async fn version(&self, request: Request<()>) -> Result<Response<VersionResponse>, Status> {
        let peer = peer(&request);
        let result = (|| {
            let cluster = self.cluster.lock().expect("state");
            let node = &cluster.nodes[&self.node];
            if node.configuration.is_some() {
                Self::require_admin(&peer)?;
            }
            Ok(Response::new(VersionResponse {
                messages: vec![Version {
                    metadata: metadata(&self.node),
                    version: Some(VersionInfo {
                        tag: node.version.clone(),
                        os: "Talos".to_owned(),
                        arch: "amd64".to_owned(),
                        ..VersionInfo::default()
                    }),
                    platform: Some(PlatformInfo {
                        name: "nocloud".to_owned(),
                        mode: if node.configuration.is_some() {
                            "metal"
                        } else {
                            "maintenance"
                        }
                        .to_owned(),
                    }),
                }],
            }))
        })();
        self.record("Version", &peer, result)
    }
}
