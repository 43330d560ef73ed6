//! What an add-on renders: charts for the Helm controller, values for a chart the distribution
//! ships, plain Kubernetes objects (that need a chart's CRDs), and the Secrets apply makes
//! from the lab's references before any of them.
//!
//! The parts are data, not YAML: `labform-kubernetes` writes a [`Chart`] as a `HelmChart` and
//! [`ChartValues`] as a `HelmChartConfig` (both `helm.cattle.io/v1`, read by the Helm controller
//! every distribution runs), numbers the files and serialises them.

use labform_ids::secret::SecretRef;
use serde_json::Value;

/// A Kubernetes Secret apply creates from a secret reference before the add-ons are installed.
/// Rendered files only name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredSecret {
    /// Namespace.
    pub namespace: String,
    /// Secret name.
    pub name: String,
    /// The key that holds the referenced value.
    pub key: String,
    /// Where the value comes from.
    pub from: SecretRef,
    /// Further keys with fixed, non-secret values.
    pub literals: Vec<(String, String)>,
    /// Labels the Secret carries.
    pub labels: Vec<(String, String)>,
    /// Who reads it.
    pub purpose: String,
}

/// A Helm chart the Helm controller installs into `namespace` (a `HelmChart` in `kube-system`).
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The object's and the file's name (`metallb`).
    pub name: String,
    /// The chart (`metallb`, or an `oci://` reference).
    pub chart: String,
    /// The chart repository, absent for `oci://` charts.
    pub repo: Option<String>,
    /// The chart version.
    pub version: String,
    /// Where the release goes.
    pub namespace: String,
    /// The chart's values.
    pub values: Value,
    /// Installed before any CNI exists (host network, on a server).
    pub bootstrap: bool,
    /// One line for the file's header.
    pub comment: String,
}

/// Values for a chart the distribution ships itself (a `HelmChartConfig` in `kube-system`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChartValues {
    /// The shipped chart's name (`traefik`), also the file's name.
    pub name: String,
    /// The values.
    pub values: Value,
    /// One line for the file's header.
    pub comment: String,
}

/// Plain Kubernetes objects in one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Objects {
    /// The file's name (`metallb-address-pools`).
    pub name: String,
    /// Lines for the file's header.
    pub comments: Vec<String>,
    /// The objects.
    pub documents: Vec<Value>,
}

/// One part of an add-on's manifests.
#[derive(Debug, Clone, PartialEq)]
pub enum ManifestPart {
    /// A chart to install.
    Chart(Chart),
    /// Values of a shipped chart.
    ChartValues(ChartValues),
    /// Objects.
    Objects(Objects),
}

impl ManifestPart {
    /// The file's name.
    pub fn name(&self) -> &str {
        match self {
            ManifestPart::Chart(chart) => &chart.name,
            ManifestPart::ChartValues(values) => &values.name,
            ManifestPart::Objects(objects) => &objects.name,
        }
    }
}

/// Manifests in apply order, and the Secrets they read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Manifests {
    /// The parts, in apply order.
    pub parts: Vec<ManifestPart>,
    /// Secrets apply creates first.
    pub secrets: Vec<RequiredSecret>,
}

impl Manifests {
    /// Adds a chart.
    pub fn chart(&mut self, chart: Chart) {
        self.parts.push(ManifestPart::Chart(chart));
    }

    /// Adds a file of objects.
    pub fn objects(&mut self, name: &str, comments: Vec<String>, documents: Vec<Value>) {
        self.parts.push(ManifestPart::Objects(Objects {
            name: name.to_owned(),
            comments,
            documents,
        }));
    }

    /// Adds a Secret and returns its name, for the values that reference it.
    pub fn secret(&mut self, secret: RequiredSecret) -> String {
        let name = secret.name.clone();
        self.secrets.push(secret);
        name
    }

    /// Appends `other`'s parts and Secrets.
    pub fn extend(&mut self, other: Manifests) {
        self.parts.extend(other.parts);
        self.secrets.extend(other.secrets);
    }
}

/// Why an add-on's manifests cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddonError {
    /// The options ask for something labform cannot render (yet); the lab checks report most
    /// of these before a plan exists.
    #[error("{0}")]
    Unsupported(String),
}

/// An add-on whose manifests could not be rendered, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("add-on {}: {error}", addon.key())]
pub struct AddonFailure {
    /// The add-on.
    pub addon: crate::registry::AddonKind,
    /// Why.
    pub error: AddonError,
}

/// A byte count as a Kubernetes quantity (`20Gi`), in the largest binary unit that divides it.
pub fn kubernetes_quantity(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (suffix, size) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{suffix}", bytes / size);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_use_binary_units() {
        assert_eq!(kubernetes_quantity(20 << 30), "20Gi");
        assert_eq!(kubernetes_quantity(1536 << 20), "1536Mi");
        assert_eq!(kubernetes_quantity(1 << 40), "1Ti");
        assert_eq!(kubernetes_quantity(1000), "1000");
    }
}
