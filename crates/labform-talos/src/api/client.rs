//! The calls labform makes to a node's Talos API, each over its own HTTP/2 connection with the
//! TLS of [`super::tls`]. Errors name the node, its address and the call, with gRPC's status and
//! Talos's message; none carries the configuration sent.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use labform_secrets::{ExposeSecret as _, SecretString};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tonic::transport::Channel;
use zeroize::Zeroizing;

use super::proto::machine::machine_service_client::MachineServiceClient;
use super::proto::machine::{
    ApplyConfigurationRequest, BootstrapRequest, EtcdMember, EtcdMemberListRequest,
    EtcdMemberStatus, ReadRequest, ResetRequest, ServiceInfo, UpgradeRequest,
    apply_configuration_request, reset_request,
};
use crate::error::TalosError;

/// Where a node's Talos API is: the node's name, the address its certificate names (its planned
/// address) and the socket labform connects to (the same address on port 50000, unless
/// overridden, as tests do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEndpoint {
    /// The node (VM) name.
    pub node: String,
    /// The address the node's API certificate names.
    pub address: IpAddr,
    /// Where to connect.
    pub socket: SocketAddr,
}

impl NodeEndpoint {
    /// The endpoint of `node` at `address`, port 50000.
    pub fn new(node: impl Into<String>, address: IpAddr) -> Self {
        NodeEndpoint {
            node: node.into(),
            address,
            socket: SocketAddr::new(address, super::API_PORT),
        }
    }
}

/// How a configuration is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// Talos decides: without a reboot when it can, with one when a change needs it.
    Auto,
    /// Without a reboot (refused when a change needs one).
    NoReboot,
}

/// A client of Talos APIs with one TLS identity.
#[derive(Clone)]
pub struct TalosClient {
    config: Arc<ClientConfig>,
    timeout: Duration,
}

impl std::fmt::Debug for TalosClient {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TalosClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn status(endpoint: &NodeEndpoint, call: &'static str, status: &tonic::Status) -> TalosError {
    TalosError::Api {
        node: endpoint.node.clone(),
        address: endpoint.socket.to_string(),
        call,
        message: format!("{:?}: {}", status.code(), status.message()),
    }
}

/// The gRPC status code of a failed call, if it reached the node.
pub fn status_code(error: &TalosError) -> Option<&str> {
    match error {
        TalosError::Api { message, .. } => message.split(':').next(),
        _ => None,
    }
}

impl TalosClient {
    /// A client with TLS configuration `config` ([`super::tls`]); each call may take `timeout`.
    pub fn new(config: ClientConfig, timeout: Duration) -> Self {
        TalosClient {
            config: Arc::new(config),
            timeout,
        }
    }

    async fn connect(
        &self,
        endpoint: &NodeEndpoint,
        call: &'static str,
    ) -> Result<MachineServiceClient<Channel>, TalosError> {
        let failed = |message: String| TalosError::Api {
            node: endpoint.node.clone(),
            address: endpoint.socket.to_string(),
            call,
            message,
        };
        let config = self.config.clone();
        let socket = endpoint.socket;
        let server_name = ServerName::IpAddress(endpoint.address.into());
        let connector = tower::service_fn(move |_: http::Uri| {
            let config = config.clone();
            let server_name = server_name.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(socket).await?;
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(server_name, tcp)
                    .await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        });
        let channel = Channel::from_shared(format!("http://{socket}"))
            .map_err(|error| failed(error.to_string()))?
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .connect_with_connector(connector)
            .await
            .map_err(|error| {
                let mut message = error.to_string();
                let mut source = std::error::Error::source(&error);
                while let Some(cause) = source {
                    message.push_str(": ");
                    message.push_str(&cause.to_string());
                    source = cause.source();
                }
                failed(format!("cannot connect: {message}"))
            })?;
        Ok(MachineServiceClient::new(channel))
    }

    /// Sends `configuration` to the node.
    pub async fn apply_configuration(
        &self,
        endpoint: &NodeEndpoint,
        configuration: &SecretString,
        mode: ApplyMode,
    ) -> Result<(), TalosError> {
        const CALL: &str = "ApplyConfiguration";
        let mut client = self.connect(endpoint, CALL).await?;
        let mut request = ApplyConfigurationRequest {
            data: configuration.expose_secret().as_bytes().to_vec(),
            mode: match mode {
                ApplyMode::Auto => apply_configuration_request::Mode::Auto,
                ApplyMode::NoReboot => apply_configuration_request::Mode::NoReboot,
            } as i32,
            dry_run: false,
            try_mode_timeout: None,
        };
        let result = client.apply_configuration(request.clone()).await;
        zeroize::Zeroize::zeroize(&mut request.data);
        result.map_err(|error| status(endpoint, CALL, &error))?;
        Ok(())
    }

    /// Bootstraps etcd on the node (a control plane), once per cluster.
    pub async fn bootstrap(&self, endpoint: &NodeEndpoint) -> Result<(), TalosError> {
        const CALL: &str = "Bootstrap";
        let mut client = self.connect(endpoint, CALL).await?;
        client
            .bootstrap(BootstrapRequest {
                recover_etcd: false,
                recover_skip_hash_check: false,
            })
            .await
            .map_err(|error| status(endpoint, CALL, &error))?;
        Ok(())
    }

    /// The node's Talos version (`v1.13.9`).
    pub async fn version(&self, endpoint: &NodeEndpoint) -> Result<String, TalosError> {
        const CALL: &str = "Version";
        let mut client = self.connect(endpoint, CALL).await?;
        let response = client
            .version(())
            .await
            .map_err(|error| status(endpoint, CALL, &error))?
            .into_inner();
        response
            .messages
            .first()
            .and_then(|message| message.version.as_ref())
            .map(|version| version.tag.clone())
            .ok_or_else(|| TalosError::Api {
                node: endpoint.node.clone(),
                address: endpoint.socket.to_string(),
                call: CALL,
                message: "the answer holds no version".to_owned(),
            })
    }

    /// The node's services (`etcd`, `kubelet`, `apid`, ...) with their state and health.
    pub async fn services(&self, endpoint: &NodeEndpoint) -> Result<Vec<ServiceInfo>, TalosError> {
        const CALL: &str = "ServiceList";
        let mut client = self.connect(endpoint, CALL).await?;
        let response = client
            .service_list(())
            .await
            .map_err(|error| status(endpoint, CALL, &error))?
            .into_inner();
        Ok(response
            .messages
            .into_iter()
            .flat_map(|message| message.services)
            .collect())
    }

    /// The etcd members the node (a control plane) knows.
    pub async fn etcd_members(
        &self,
        endpoint: &NodeEndpoint,
    ) -> Result<Vec<EtcdMember>, TalosError> {
        const CALL: &str = "EtcdMemberList";
        let mut client = self.connect(endpoint, CALL).await?;
        let response = client
            .etcd_member_list(EtcdMemberListRequest { query_local: false })
            .await
            .map_err(|error| status(endpoint, CALL, &error))?
            .into_inner();
        Ok(response
            .messages
            .into_iter()
            .flat_map(|message| message.members)
            .collect())
    }

    /// The status of the node's own etcd member.
    pub async fn etcd_status(
        &self,
        endpoint: &NodeEndpoint,
    ) -> Result<EtcdMemberStatus, TalosError> {
        const CALL: &str = "EtcdStatus";
        let mut client = self.connect(endpoint, CALL).await?;
        let response = client
            .etcd_status(())
            .await
            .map_err(|error| status(endpoint, CALL, &error))?
            .into_inner();
        response
            .messages
            .into_iter()
            .find_map(|message| message.member_status)
            .ok_or_else(|| TalosError::Api {
                node: endpoint.node.clone(),
                address: endpoint.socket.to_string(),
                call: CALL,
                message: "the answer holds no member status".to_owned(),
            })
    }

    async fn stream(
        &self,
        endpoint: &NodeEndpoint,
        call: &'static str,
        mut stream: tonic::Streaming<super::proto::common::Data>,
    ) -> Result<Zeroizing<Vec<u8>>, TalosError> {
        let mut bytes = Zeroizing::new(Vec::new());
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(|error| status(endpoint, call, &error))?
        {
            if let Some(metadata) = &chunk.metadata
                && !metadata.error.is_empty()
            {
                return Err(TalosError::Api {
                    node: endpoint.node.clone(),
                    address: endpoint.socket.to_string(),
                    call,
                    message: metadata.error.clone(),
                });
            }
            bytes.extend_from_slice(&chunk.bytes);
        }
        Ok(bytes)
    }

    /// The cluster's admin kubeconfig, from a control plane (Talos streams it as a tar.gz
    /// holding one file, `kubeconfig`).
    pub async fn kubeconfig(&self, endpoint: &NodeEndpoint) -> Result<SecretString, TalosError> {
        const CALL: &str = "Kubeconfig";
        let mut client = self.connect(endpoint, CALL).await?;
        let stream = client
            .kubeconfig(())
            .await
            .map_err(|error| status(endpoint, CALL, &error))?
            .into_inner();
        let archive = self.stream(endpoint, CALL, stream).await?;
        super::kubeconfig::kubeconfig_from_archive(&archive)
    }

    /// A file of the node (`/system/state/config.yaml`: the configuration it runs with).
    pub async fn read(
        &self,
        endpoint: &NodeEndpoint,
        path: &str,
    ) -> Result<SecretString, TalosError> {
        const CALL: &str = "Read";
        let mut client = self.connect(endpoint, CALL).await?;
        let stream = client
            .read(ReadRequest {
                path: path.to_owned(),
            })
            .await
            .map_err(|error| status(endpoint, CALL, &error))?
            .into_inner();
        let bytes = self.stream(endpoint, CALL, stream).await?;
        String::from_utf8(bytes.to_vec())
            .map(SecretString::from)
            .map_err(|_| TalosError::Api {
                node: endpoint.node.clone(),
                address: endpoint.socket.to_string(),
                call: CALL,
                message: format!("{path} is not UTF-8 text"),
            })
    }

    /// Upgrades the node to the installer `image`, keeping its data.
    pub async fn upgrade(&self, endpoint: &NodeEndpoint, image: &str) -> Result<(), TalosError> {
        const CALL: &str = "Upgrade";
        let mut client = self.connect(endpoint, CALL).await?;
        client
            .upgrade(UpgradeRequest {
                image: image.to_owned(),
                preserve: true,
                stage: false,
                force: false,
                reboot_mode: 0,
            })
            .await
            .map_err(|error| status(endpoint, CALL, &error))?;
        Ok(())
    }

    /// Resets the node: wipes it and reboots into maintenance mode; `graceful` leaves etcd first
    /// (control planes but the last).
    pub async fn reset(&self, endpoint: &NodeEndpoint, graceful: bool) -> Result<(), TalosError> {
        const CALL: &str = "Reset";
        let mut client = self.connect(endpoint, CALL).await?;
        client
            .reset(ResetRequest {
                graceful,
                reboot: true,
                system_partitions_to_wipe: Vec::new(),
                user_disks_to_wipe: Vec::new(),
                mode: reset_request::WipeMode::All as i32,
            })
            .await
            .map_err(|error| status(endpoint, CALL, &error))?;
        Ok(())
    }
}
