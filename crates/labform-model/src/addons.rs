//! Cluster add-ons, the `addons` key of a cluster. Each add-on's options, checks, plan line and
//! manifests live in its own module of `labform-addons`; this module re-exports the lab file's
//! side of them, so the lab file's types stay reachable from here.

pub use labform_addons::argocd::{ApplicationSet, ArgoCd};
pub use labform_addons::cert_manager::{CertManager, Issuer, IssuerKind};
pub use labform_addons::envoy_gateway::EnvoyGateway;
pub use labform_addons::external_secrets::{ExternalSecrets, SecretProvider};
pub use labform_addons::gitlab::Gitlab;
pub use labform_addons::kube_prometheus_stack::KubePrometheusStack;
pub use labform_addons::longhorn::Longhorn;
pub use labform_addons::metallb::{Metallb, ReservedAddress};
pub use labform_addons::minio::Minio;
pub use labform_addons::tailscale_operator::TailscaleOperator;
pub use labform_addons::traefik::{ServiceType, Traefik};
pub use labform_addons::vault::Vault;
pub use labform_addons::{AddonKind, AddonSettings, Addons};
