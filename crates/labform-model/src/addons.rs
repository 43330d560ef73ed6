//! Cluster add-ons with typed options: one optional field per add-on, so each has its own schema
//! and a typo in an add-on's name or option is an error with a suggestion.

use serde::{Deserialize, Serialize};

use crate::secret::SecretRef;
use crate::units::ByteSize;

/// The add-ons of one cluster. An absent add-on is not installed (and removed if it was).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Addons {
    /// MetalLB: LoadBalancer addresses from a lab address pool (replaces K3s servicelb).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metallb: Option<Metallb>,
    /// Traefik ingress controller (K3s ships it; options configure it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traefik: Option<Traefik>,
    /// cert-manager and its issuers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_manager: Option<CertManager>,
    /// kube-prometheus-stack: Prometheus, Grafana, node exporter, Alertmanager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_prometheus_stack: Option<KubePrometheusStack>,
    /// Longhorn replicated block storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longhorn: Option<Longhorn>,
    /// Argo CD, optionally with ApplicationSets over Git repositories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argocd: Option<ArgoCd>,
    /// HashiCorp Vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<Vault>,
    /// MinIO object storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minio: Option<Minio>,
    /// GitLab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab: Option<Gitlab>,
    /// External Secrets Operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_secrets: Option<ExternalSecrets>,
    /// Envoy Gateway (Gateway API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_gateway: Option<EnvoyGateway>,
    /// Tailscale Kubernetes operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tailscale_operator: Option<TailscaleOperator>,
}

/// How the add-on is published outside the cluster.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum ServiceType {
    /// A LoadBalancer service (MetalLB or K3s servicelb gives it an address).
    #[default]
    LoadBalancer,
    /// A NodePort service.
    NodePort,
    /// Only inside the cluster.
    ClusterIP,
}

/// A LoadBalancer address for one named service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservedAddress {
    /// The service (`namespace/name`).
    pub service: String,
    /// The address; must lie in the MetalLB block of this cluster.
    pub address: std::net::Ipv4Addr,
}

/// MetalLB options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metallb {
    /// A `load-balancers` pool of the cluster's network.
    pub pool: String,
    /// How many addresses of the pool this cluster (per environment) gets (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<u32>,
    /// Dedicated addresses for named services (seed 002: one IP per service).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reserved: Vec<ReservedAddress>,
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Traefik options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Traefik {
    /// Service type (default LoadBalancer).
    #[serde(default)]
    pub service_type: ServiceType,
    /// Expose the dashboard.
    #[serde(default)]
    pub dashboard: bool,
}

/// An ACME or self-signed issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Issuer {
    /// ClusterIssuer name.
    pub name: String,
    /// `self-signed`, `acme-http01` or `acme-dns01`.
    pub kind: IssuerKind,
    /// ACME account e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// ACME directory (default Let's Encrypt production).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// DNS-01 provider (`cloudflare`, `route53`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_provider: Option<String>,
    /// DNS-01 provider API token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_token: Option<SecretRef>,
}

/// Kinds of issuers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IssuerKind {
    /// A self-signed CA.
    SelfSigned,
    /// ACME with HTTP-01 challenges through the ingress.
    AcmeHttp01,
    /// ACME with DNS-01 challenges.
    AcmeDns01,
}

/// cert-manager options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertManager {
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// ClusterIssuers to create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issuers: Vec<Issuer>,
}

/// kube-prometheus-stack options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubePrometheusStack {
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Metrics retention (`15d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<String>,
    /// Persistent volume for Prometheus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<ByteSize>,
    /// Grafana admin password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana_admin_password: Option<SecretRef>,
}

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

/// An ApplicationSet generated from a Git directory tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationSet {
    /// ApplicationSet name.
    pub name: String,
    /// Git repository URL.
    pub repository: String,
    /// Revision (default `HEAD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Directory glob; one Application per matching directory (`apps/*`).
    pub directories: String,
}

/// Argo CD options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArgoCd {
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// ApplicationSets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub application_sets: Vec<ApplicationSet>,
    /// Credentials for private repositories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_credentials: Option<SecretRef>,
}

/// Vault options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vault {
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Raft storage size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<ByteSize>,
    /// HA replicas (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

/// MinIO options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Minio {
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Volume size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<ByteSize>,
    /// Root credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_password: Option<SecretRef>,
}

/// GitLab options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gitlab {
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The domain GitLab is served under (`gitlab.lab.example`).
    pub domain: String,
    /// Root password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_password: Option<SecretRef>,
}

/// Where External Secrets reads secrets from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretProvider {
    /// Bitwarden Secrets Manager.
    Bitwarden,
    /// HashiCorp Vault.
    Vault,
}

/// External Secrets Operator options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalSecrets {
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The secret provider of the ClusterSecretStore.
    pub provider: SecretProvider,
    /// Provider access token (Bitwarden machine-account token, Vault token).
    pub access_token: SecretRef,
    /// Vault address (`https://vault.example:8200`; Vault only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Bitwarden organization ID, a UUID (Bitwarden only; required). Not a secret: it names the
    /// organization the machine account belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// Bitwarden Secrets Manager project ID, a UUID (Bitwarden only; required). The store reads
    /// the secrets of this one project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Bitwarden API address (Bitwarden only; default `https://api.bitwarden.com`, EU cloud
    /// `https://api.bitwarden.eu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// Bitwarden identity address (Bitwarden only; default `https://identity.bitwarden.com`, EU
    /// cloud `https://identity.bitwarden.eu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_url: Option<String>,
}

impl ExternalSecrets {
    /// Default Bitwarden API address (US cloud).
    pub const BITWARDEN_API_URL: &'static str = "https://api.bitwarden.com";
    /// Default Bitwarden identity address (US cloud).
    pub const BITWARDEN_IDENTITY_URL: &'static str = "https://identity.bitwarden.com";

    /// The fields set in the lab that the chosen provider does not read, by key.
    pub fn fields_of_other_provider(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        match self.provider {
            SecretProvider::Bitwarden => {
                if self.url.is_some() {
                    fields.push("url");
                }
            }
            SecretProvider::Vault => {
                for (key, present) in [
                    ("organization_id", self.organization_id.is_some()),
                    ("project_id", self.project_id.is_some()),
                    ("api_url", self.api_url.is_some()),
                    ("identity_url", self.identity_url.is_some()),
                ] {
                    if present {
                        fields.push(key);
                    }
                }
            }
        }
        fields
    }
}

/// Envoy Gateway options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvoyGateway {
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Public hostname suffix routed through the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// Tailscale operator options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TailscaleOperator {
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// OAuth client ID.
    pub oauth_client_id: SecretRef,
    /// OAuth client secret.
    pub oauth_client_secret: SecretRef,
}

/// Identifies one add-on, for ordering and dependency checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddonKind {
    /// MetalLB.
    Metallb,
    /// cert-manager.
    CertManager,
    /// Longhorn.
    Longhorn,
    /// Traefik.
    Traefik,
    /// Envoy Gateway.
    EnvoyGateway,
    /// External Secrets.
    ExternalSecrets,
    /// Vault.
    Vault,
    /// MinIO.
    Minio,
    /// kube-prometheus-stack.
    KubePrometheusStack,
    /// Argo CD.
    Argocd,
    /// GitLab.
    Gitlab,
    /// Tailscale operator.
    TailscaleOperator,
}

impl AddonKind {
    /// The key of the add-on in the lab file.
    pub fn key(self) -> &'static str {
        match self {
            AddonKind::Metallb => "metallb",
            AddonKind::CertManager => "cert_manager",
            AddonKind::Longhorn => "longhorn",
            AddonKind::Traefik => "traefik",
            AddonKind::EnvoyGateway => "envoy_gateway",
            AddonKind::ExternalSecrets => "external_secrets",
            AddonKind::Vault => "vault",
            AddonKind::Minio => "minio",
            AddonKind::KubePrometheusStack => "kube_prometheus_stack",
            AddonKind::Argocd => "argocd",
            AddonKind::Gitlab => "gitlab",
            AddonKind::TailscaleOperator => "tailscale_operator",
        }
    }

    /// Add-ons that must be installed (and ready) before this one, inside the same cluster.
    pub fn requires(self) -> &'static [AddonKind] {
        match self {
            AddonKind::Metallb | AddonKind::CertManager | AddonKind::Longhorn => &[],
            AddonKind::Traefik | AddonKind::EnvoyGateway => &[],
            AddonKind::ExternalSecrets => &[],
            AddonKind::Vault | AddonKind::Minio => &[],
            AddonKind::KubePrometheusStack => &[],
            AddonKind::Argocd => &[],
            AddonKind::Gitlab => &[AddonKind::CertManager],
            AddonKind::TailscaleOperator => &[],
        }
    }

    /// Whether the add-on publishes a LoadBalancer service by default.
    pub fn needs_load_balancer(self) -> bool {
        matches!(
            self,
            AddonKind::Traefik | AddonKind::EnvoyGateway | AddonKind::Gitlab
        )
    }
}

impl Addons {
    /// The add-ons present, in installation order: the order of [`AddonKind`], which puts
    /// providers of CRDs and load balancers before their users.
    pub fn enabled(&self) -> Vec<AddonKind> {
        let mut kinds = Vec::new();
        let mut push = |present: bool, kind| {
            if present {
                kinds.push(kind);
            }
        };
        push(self.metallb.is_some(), AddonKind::Metallb);
        push(self.cert_manager.is_some(), AddonKind::CertManager);
        push(self.longhorn.is_some(), AddonKind::Longhorn);
        push(self.traefik.is_some(), AddonKind::Traefik);
        push(self.envoy_gateway.is_some(), AddonKind::EnvoyGateway);
        push(self.external_secrets.is_some(), AddonKind::ExternalSecrets);
        push(self.vault.is_some(), AddonKind::Vault);
        push(self.minio.is_some(), AddonKind::Minio);
        push(
            self.kube_prometheus_stack.is_some(),
            AddonKind::KubePrometheusStack,
        );
        push(self.argocd.is_some(), AddonKind::Argocd);
        push(self.gitlab.is_some(), AddonKind::Gitlab);
        push(
            self.tailscale_operator.is_some(),
            AddonKind::TailscaleOperator,
        );
        kinds
    }

    /// Whether `kind` is enabled.
    pub fn has(&self, kind: AddonKind) -> bool {
        self.enabled().contains(&kind)
    }
}
