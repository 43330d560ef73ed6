//! The registry: every add-on, its key in the lab file, the order add-ons are installed in and
//! what each needs installed before it, all in the one table at the bottom of this file.
//!
//! Adding an add-on is a module of its own (its options, checks, plan line and manifests, see
//! [`Addon`]) and one entry in that table. The table generates the lab file's [`Addons`]
//! (one optional field per add-on, so each has its own schema and a typo in an add-on's name
//! or option is an error with a suggestion), [`AddonKind`] and [`AddonSettings`] (one add-on's
//! options as the plan carries them).

use labform_ids::cluster::CentralService;
use serde::{Deserialize, Serialize};

use crate::context::{CheckContext, ClusterFacts};
use crate::output::{AddonError, AddonFailure, Manifests};
use crate::problem::{Problem, ProblemPath};

/// What every add-on module provides. Everything has a default except what each add-on must
/// say for itself: its plan line and its manifests.
pub trait Addon {
    /// The namespace the add-on's release and Secrets live in; `None` for a chart the
    /// distribution ships in `kube-system`.
    fn namespace(&self) -> Option<&'static str>;

    /// Whether the add-on publishes a LoadBalancer service with these options.
    fn publishes_load_balancer(&self) -> bool {
        false
    }

    /// Whether the add-on gives LoadBalancer services their addresses.
    fn provides_load_balancers(&self) -> bool {
        false
    }

    /// Whether the add-on is an ingress controller (HTTP routes into the cluster).
    fn provides_ingress(&self) -> bool {
        false
    }

    /// The `load-balancers` pool of the cluster's network the add-on takes addresses from; the
    /// lab check resolves the reference like every other pool reference.
    fn load_balancer_pool(&self) -> Option<&str> {
        None
    }

    /// Packages every node of the cluster needs for this add-on.
    fn node_packages(&self) -> &'static [&'static str] {
        &[]
    }

    /// Problems of the options the schema cannot express; `at` is the add-on's own key.
    fn check(&self, at: &ProblemPath, context: &CheckContext<'_>) -> Vec<Problem> {
        let _ = (at, context);
        Vec::new()
    }

    /// The plan's one line about the add-on.
    fn plan_line(&self, facts: &ClusterFacts) -> String;

    /// The add-on's manifests and Secrets; `addons` are all of the cluster's, for the few
    /// values one add-on takes from another (an ingress class, an issuer, a reserved address).
    fn manifests(&self, facts: &ClusterFacts, addons: &Addons) -> Result<Manifests, AddonError>;
}

/// Declares the add-ons: for each, its documentation (the lab file's schema shows it), its key,
/// its options type and the add-ons it requires. The order is the installation order, which puts
/// providers of CRDs and load balancers before their users.
macro_rules! registry {
    ($(
        $(#[doc = $doc:literal])*
        $key:ident: $kind:ident($options:ty) requires [$($required:ident),*];
    )*) => {
        /// The add-ons of one cluster. An absent add-on is not installed (and removed if it was).
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct Addons {
            $(
                $(#[doc = $doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $key: Option<$options>,
            )*
        }

        /// Identifies one add-on, for ordering and dependency checks; ordered like installation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum AddonKind {
            $(
                $(#[doc = $doc])*
                $kind,
            )*
        }

        /// One add-on's options, as the plan carries them (serialised as the options alone: the
        /// plan names the add-on beside them).
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum AddonSettings {
            $(
                $(#[doc = $doc])*
                $kind($options),
            )*
        }

        impl AddonKind {
            /// Every add-on, in installation order.
            pub const ALL: &'static [AddonKind] = &[$(AddonKind::$kind),*];

            /// The key of the add-on in the lab file.
            pub fn key(self) -> &'static str {
                match self {
                    $(AddonKind::$kind => stringify!($key),)*
                }
            }

            /// Add-ons that must be installed (and ready) before this one, inside the same
            /// cluster.
            pub fn requires(self) -> &'static [AddonKind] {
                match self {
                    $(AddonKind::$kind => &[$(AddonKind::$required),*],)*
                }
            }
        }

        impl AddonSettings {
            /// Which add-on these options are for.
            pub fn kind(&self) -> AddonKind {
                match self {
                    $(AddonSettings::$kind(_) => AddonKind::$kind,)*
                }
            }

            /// The add-on itself.
            pub fn addon(&self) -> &dyn Addon {
                match self {
                    $(AddonSettings::$kind(options) => options,)*
                }
            }
        }

        impl Addons {
            /// The add-ons present, in installation order, with their options.
            pub fn installed(&self) -> Vec<(AddonKind, &dyn Addon)> {
                let mut installed: Vec<(AddonKind, &dyn Addon)> = Vec::new();
                $(
                    if let Some(options) = &self.$key {
                        installed.push((AddonKind::$kind, options));
                    }
                )*
                installed
            }

            /// The add-ons present, in installation order, as the plan carries them.
            pub fn settings(&self) -> Vec<AddonSettings> {
                let mut settings = Vec::new();
                $(
                    if let Some(options) = &self.$key {
                        settings.push(AddonSettings::$kind(options.clone()));
                    }
                )*
                settings
            }

            /// The add-ons of a plan's cluster, back in the lab file's shape.
            pub fn from_settings<'a>(settings: impl IntoIterator<Item = &'a AddonSettings>) -> Self {
                let mut addons = Addons::default();
                for setting in settings {
                    match setting {
                        $(AddonSettings::$kind(options) => addons.$key = Some(options.clone()),)*
                    }
                }
                addons
            }
        }
    };
}

impl From<CentralService> for AddonKind {
    /// The add-on that provides a central service tenants use.
    fn from(service: CentralService) -> Self {
        match service {
            CentralService::Gitlab => AddonKind::Gitlab,
            CentralService::Vault => AddonKind::Vault,
            CentralService::Minio => AddonKind::Minio,
        }
    }
}

impl Addons {
    /// The add-ons present, in installation order.
    pub fn enabled(&self) -> Vec<AddonKind> {
        self.installed().into_iter().map(|(kind, _)| kind).collect()
    }

    /// Whether `kind` is enabled.
    pub fn has(&self, kind: AddonKind) -> bool {
        self.installed().iter().any(|(present, _)| *present == kind)
    }

    /// Whether an add-on gives LoadBalancer services addresses.
    pub fn provide_load_balancers(&self) -> bool {
        self.installed()
            .iter()
            .any(|(_, addon)| addon.provides_load_balancers())
    }

    /// Whether an add-on is an ingress controller.
    pub fn provide_ingress(&self) -> bool {
        self.installed()
            .iter()
            .any(|(_, addon)| addon.provides_ingress())
    }

    /// Packages every node needs for the add-ons present, in installation order, each once.
    pub fn node_packages(&self) -> Vec<&'static str> {
        let mut packages = Vec::new();
        for (_, addon) in self.installed() {
            for package in addon.node_packages() {
                if !packages.contains(package) {
                    packages.push(*package);
                }
            }
        }
        packages
    }

    /// Every problem of the add-ons' options: the dependencies between add-ons and a provider
    /// of load balancers for those that publish one (both from the registry), then each
    /// add-on's own checks; add-on by add-on, in installation order.
    pub fn check(&self, context: &CheckContext<'_>) -> Vec<Problem> {
        let mut problems = Vec::new();
        let load_balancers = context.packaged_load_balancer || self.provide_load_balancers();
        for (kind, addon) in self.installed() {
            let at = ProblemPath::addon(kind.key());
            for required in kind.requires() {
                if !self.has(*required) {
                    problems.push(
                        Problem::new(
                            "addon-dependency",
                            at.clone(),
                            format!(
                                "{} needs {} in the same cluster",
                                kind.key(),
                                required.key()
                            ),
                        )
                        .hint(format!(
                            "add `{}: {{}}` to this cluster's add-ons",
                            required.key()
                        )),
                    );
                }
            }
            if addon.publishes_load_balancer() && !load_balancers {
                problems.push(
                    Problem::new(
                        "addon-needs-load-balancer",
                        at.clone(),
                        format!(
                            "{} publishes a LoadBalancer service but nothing in this {} cluster provides load balancers",
                            kind.key(),
                            context.distribution
                        ),
                    )
                    .hint("add `metallb: {pool: ...}` with a load-balancers pool"),
                );
            }
            problems.extend(addon.check(&at, context));
        }
        problems
    }

    /// Each add-on present with its plan line, in installation order.
    pub fn plan_lines(&self, facts: &ClusterFacts) -> Vec<(AddonKind, String)> {
        self.installed()
            .into_iter()
            .map(|(kind, addon)| (kind, addon.plan_line(facts)))
            .collect()
    }

    /// The namespaces of the add-ons present, in installation order, each once.
    pub fn namespaces(&self) -> Vec<&'static str> {
        let mut namespaces = Vec::new();
        for (_, addon) in self.installed() {
            if let Some(namespace) = addon.namespace()
                && !namespaces.contains(&namespace)
            {
                namespaces.push(namespace);
            }
        }
        namespaces
    }

    /// The manifests and Secrets of every add-on present, in installation order.
    pub fn manifests(&self, facts: &ClusterFacts) -> Result<Manifests, AddonFailure> {
        let mut manifests = Manifests::default();
        for (kind, addon) in self.installed() {
            manifests.extend(
                addon
                    .manifests(facts, self)
                    .map_err(|error| AddonFailure { addon: kind, error })?,
            );
        }
        Ok(manifests)
    }
}

registry! {
    /// MetalLB: LoadBalancer addresses from a lab address pool (replaces K3s servicelb).
    metallb: Metallb(crate::metallb::Metallb) requires [];
    /// cert-manager and its issuers.
    cert_manager: CertManager(crate::cert_manager::CertManager) requires [];
    /// Longhorn replicated block storage.
    longhorn: Longhorn(crate::longhorn::Longhorn) requires [];
    /// Traefik ingress controller (K3s ships it; options configure it).
    traefik: Traefik(crate::traefik::Traefik) requires [];
    /// Envoy Gateway (Gateway API).
    envoy_gateway: EnvoyGateway(crate::envoy_gateway::EnvoyGateway) requires [];
    /// External Secrets Operator.
    external_secrets: ExternalSecrets(crate::external_secrets::ExternalSecrets) requires [];
    /// HashiCorp Vault.
    vault: Vault(crate::vault::Vault) requires [];
    /// MinIO object storage.
    minio: Minio(crate::minio::Minio) requires [];
    /// kube-prometheus-stack: Prometheus, Grafana, node exporter, Alertmanager.
    kube_prometheus_stack: KubePrometheusStack(crate::kube_prometheus_stack::KubePrometheusStack) requires [];
    /// Argo CD, optionally with ApplicationSets over Git repositories.
    argocd: Argocd(crate::argocd::ArgoCd) requires [];
    /// GitLab.
    gitlab: Gitlab(crate::gitlab::Gitlab) requires [CertManager];
    /// Tailscale Kubernetes operator.
    tailscale_operator: TailscaleOperator(crate::tailscale_operator::TailscaleOperator) requires [];
}
