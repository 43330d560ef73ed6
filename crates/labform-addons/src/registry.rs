//! The registry: every add-on, its key in the lab file, the order add-ons are installed in and
//! what each needs installed before it, all in the one table at the bottom of this file.
//!
//! Adding an add-on is a module of its own (its options and checks, see [`Addon`]; its plan line
//! and manifests, see [`AddonRendering`]) and one entry in that table. An add-on the planner
//! decides something for names a planned type beside its options (`Options => Planned`, see
//! [`PlannedForm`]); the plan carries that type, so the decision cannot be missing. The table generates the lab file's [`Addons`]
//! (one optional field per add-on, so each has its own schema and a typo in an add-on's name
//! or option is an error with a suggestion), [`AddonKind`] and [`AddonSettings`] (one add-on's
//! options as the plan carries them).

use labform_ids::cluster::CentralService;
use serde::{Deserialize, Serialize};

use crate::context::{AddressBlock, CheckContext, ClusterFacts};
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

    /// What the add-on needs on nodes without a package manager (Talos), in place of
    /// [`Addon::node_packages`]: system extensions of the nodes' image (official Image Factory
    /// names such as `siderolabs/iscsi-tools`).
    fn image_extensions(&self) -> &'static [&'static str] {
        &[]
    }

    /// Host directories the add-on keeps its data in that a kubelet running in a container
    /// (Talos's) must see: bind-mounted into it.
    fn kubelet_host_directories(&self) -> &'static [&'static str] {
        &[]
    }

    /// Problems of the options the schema cannot express; `at` is the add-on's own key.
    fn check(&self, at: &ProblemPath, context: &CheckContext<'_>) -> Vec<Problem> {
        let _ = (at, context);
        Vec::new()
    }
}

/// What an add-on does once planned: its plan line and its manifests. Implemented by what the
/// plan carries for the add-on ([`AddonSettings`]): its options, or for an add-on the planner
/// decides something for (MetalLB's address block), a planned type holding the options and
/// that decision, so rendering never meets an add-on the plan left undecided.
pub trait AddonRendering {
    /// The plan's one line about the add-on.
    fn plan_line(&self, facts: &ClusterFacts) -> String;

    /// The add-on's manifests and Secrets; `addons` are all of the cluster's, for the few
    /// values one add-on takes from another (an ingress class, an issuer, a reserved address).
    fn manifests(&self, facts: &ClusterFacts, addons: &Addons) -> Result<Manifests, AddonError>;
}

/// What the planner decided for a cluster instance that an add-on's planned form needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddonDecisions {
    /// The block of the `load-balancers` pool given to the instance, when an add-on takes one.
    pub load_balancer_block: Option<AddressBlock>,
}

/// An add-on's planned form, made from its options and the planner's decisions.
pub trait PlannedForm: Sized {
    /// The options as the lab file writes them.
    type Options;

    /// The planned form; `None` when the planner did not decide what it needs (the planner
    /// reports a located error before that can happen).
    fn plan(options: &Self::Options, decisions: &AddonDecisions) -> Option<Self>;

    /// The options back, as the lab file wrote them.
    fn options(&self) -> &Self::Options;
}

/// The type the plan carries for an add-on: its options, or its planned form.
macro_rules! planned_type {
    ($options:ty) => {
        $options
    };
    ($options:ty => $planned:ty) => {
        $planned
    };
}

/// The plan's value for one add-on from its options.
macro_rules! plan_options {
    ($value:expr, $decisions:expr, $options:ty) => {
        Some($value.clone())
    };
    ($value:expr, $decisions:expr, $options:ty => $planned:ty) => {
        <$planned as PlannedForm>::plan($value, $decisions)
    };
}

/// The options of one add-on from the plan's value.
macro_rules! options_of {
    ($value:expr, $options:ty) => {
        $value.clone()
    };
    ($value:expr, $options:ty => $planned:ty) => {
        PlannedForm::options($value).clone()
    };
}

/// Declares the add-ons: for each, its documentation (the lab file's schema shows it), its key,
/// its options type and the add-ons it requires. The order is the installation order, which puts
/// providers of CRDs and load balancers before their users.
macro_rules! registry {
    ($(
        $(#[doc = $doc:literal])*
        $key:ident: $kind:ident($options:ty $(=> $planned:ty)?) requires [$($required:ident),*];
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

        /// One add-on as the plan carries it: its options, or its planned form holding the
        /// options and what the planner decided for it (serialised without a tag: the plan
        /// names the add-on beside it).
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum AddonSettings {
            $(
                $(#[doc = $doc])*
                $kind(planned_type!($options $(=> $planned)?)),
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

            /// The planned add-on, for its plan line and manifests.
            pub fn rendering(&self) -> &dyn AddonRendering {
                match self {
                    $(AddonSettings::$kind(planned) => planned,)*
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

            /// The add-ons present, in installation order, as the plan carries them, with what
            /// the planner decided for them; `Err` names the first add-on whose decision is
            /// missing (the planner reports why, located, before it gets here).
            pub fn settings(
                &self,
                decisions: &AddonDecisions,
            ) -> Result<Vec<AddonSettings>, AddonKind> {
                let mut settings = Vec::new();
                $(
                    if let Some(options) = &self.$key {
                        let planned = plan_options!(options, decisions, $options $(=> $planned)?)
                            .ok_or(AddonKind::$kind)?;
                        settings.push(AddonSettings::$kind(planned));
                    }
                )*
                Ok(settings)
            }

            /// The add-ons of a plan's cluster, back in the lab file's shape.
            pub fn from_settings<'a>(settings: impl IntoIterator<Item = &'a AddonSettings>) -> Self {
                let mut addons = Addons::default();
                for setting in settings {
                    match setting {
                        $(AddonSettings::$kind(planned) => {
                            addons.$key = Some(options_of!(planned, $options $(=> $planned)?));
                        })*
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
        self.each_once(|addon| addon.node_packages())
    }

    /// System extensions the add-ons present need in the nodes' image, in installation order,
    /// each once (see [`Addon::image_extensions`]).
    pub fn image_extensions(&self) -> Vec<&'static str> {
        self.each_once(|addon| addon.image_extensions())
    }

    /// Host directories the add-ons present need mounted into the kubelet, each once (see
    /// [`Addon::kubelet_host_directories`]).
    pub fn kubelet_host_directories(&self) -> Vec<&'static str> {
        self.each_once(|addon| addon.kubelet_host_directories())
    }

    fn each_once(&self, of: impl Fn(&dyn Addon) -> &'static [&'static str]) -> Vec<&'static str> {
        let mut all = Vec::new();
        for (_, addon) in self.installed() {
            for item in of(addon) {
                if !all.contains(item) {
                    all.push(*item);
                }
            }
        }
        all
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
}

impl AddonSettings {
    /// The plan's line about the add-on.
    pub fn plan_line(&self, facts: &ClusterFacts) -> String {
        self.rendering().plan_line(facts)
    }
}

/// The manifests and Secrets of a planned cluster's add-ons (in installation order, as the plan
/// carries them), in that order.
pub fn manifests<'a>(
    settings: impl IntoIterator<Item = &'a AddonSettings>,
    facts: &ClusterFacts,
) -> Result<Manifests, AddonFailure> {
    let settings: Vec<&AddonSettings> = settings.into_iter().collect();
    let addons = Addons::from_settings(settings.iter().copied());
    let mut manifests = Manifests::default();
    for setting in settings {
        manifests.extend(
            setting
                .rendering()
                .manifests(facts, &addons)
                .map_err(|error| AddonFailure {
                    addon: setting.kind(),
                    error,
                })?,
        );
    }
    Ok(manifests)
}

registry! {
    /// MetalLB: LoadBalancer addresses from a lab address pool (replaces K3s servicelb).
    metallb: Metallb(crate::metallb::Metallb => crate::metallb::PlannedMetallb) requires [];
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
