//! The resource types served (group, version, plural, kind, scope), in discovery order.

/// A resource type the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResourceType {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// Version.
    pub version: &'static str,
    /// Plural resource name (the URL segment).
    pub plural: &'static str,
    /// Singular name.
    pub singular: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names for discovery.
    pub short_names: &'static [&'static str],
}

impl ResourceType {
    /// `apiVersion` of its objects.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The group-qualified resource, as used in messages (`pods`, `helmcharts.helm.cattle.io`).
    pub(crate) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Custom resources are served by the apiextensions server: list items carry their type
    /// metadata and strategic merge patch is refused.
    pub(crate) fn custom(&self) -> bool {
        self.group.contains('.')
    }
}

const fn resource(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
) -> ResourceType {
    ResourceType {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        short_names,
    }
}

/// Every resource type served, in discovery order.
pub(crate) const RESOURCES: &[ResourceType] = &[
    resource(
        "",
        "v1",
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        &["cm"],
    ),
    resource(
        "",
        "v1",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
    ),
    resource("", "v1", "nodes", "node", "Node", false, &["no"]),
    resource("", "v1", "pods", "pod", "Pod", true, &["po"]),
    resource("", "v1", "secrets", "secret", "Secret", true, &[]),
    resource("", "v1", "services", "service", "Service", true, &["svc"]),
    resource(
        "apps",
        "v1",
        "daemonsets",
        "daemonset",
        "DaemonSet",
        true,
        &["ds"],
    ),
    resource(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        true,
        &["pdb"],
    ),
    resource(
        "helm.cattle.io",
        "v1",
        "helmchartconfigs",
        "helmchartconfig",
        "HelmChartConfig",
        true,
        &[],
    ),
    resource(
        "helm.cattle.io",
        "v1",
        "helmcharts",
        "helmchart",
        "HelmChart",
        true,
        &[],
    ),
    resource("k3s.cattle.io", "v1", "addons", "addon", "Addon", true, &[]),
];

/// The groups served under `/apis`, in discovery order.
pub(crate) const GROUPS: &[&str] = &["apps", "policy", "helm.cattle.io", "k3s.cattle.io"];

/// The resource type of `group`/`version`/`plural`.
pub(crate) fn find_resource(group: &str, version: &str, plural: &str) -> Option<ResourceType> {
    RESOURCES
        .iter()
        .find(|resource| {
            resource.group == group && resource.version == version && resource.plural == plural
        })
        .copied()
}

/// The resource type of `apiVersion` and `kind`.
pub(crate) fn resource_of_kind(api_version: &str, kind: &str) -> Option<ResourceType> {
    RESOURCES
        .iter()
        .find(|resource| resource.api_version() == api_version && resource.kind == kind)
        .copied()
}
