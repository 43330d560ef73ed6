//! Argo CD with the ApplicationSet controller, the lab's ApplicationSets (one Application per
//! directory matching a glob of a Git repository), and repository credentials as Secrets Argo CD
//! recognises by their label.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::context::ClusterFacts;
use crate::output::{AddonError, Chart, Manifests, RequiredSecret};
use crate::registry::{Addon, AddonRendering, Addons};
use labform_ids::secret::SecretRef;

/// The chart version when the lab names none.
pub const DEFAULT_VERSION: &str = "7.7.11";

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

impl Addon for ArgoCd {
    fn namespace(&self) -> Option<&'static str> {
        Some("argocd")
    }
}

impl AddonRendering for ArgoCd {
    fn plan_line(&self, _: &ClusterFacts) -> String {
        if self.application_sets.is_empty() {
            "Argo CD".to_owned()
        } else {
            let sets: Vec<String> = self
                .application_sets
                .iter()
                .map(|set| format!("{} ({} {})", set.name, set.repository, set.directories))
                .collect();
            format!("ApplicationSets {}", sets.join(", "))
        }
    }

    fn manifests(&self, _: &ClusterFacts, _: &Addons) -> Result<Manifests, AddonError> {
        let mut manifests = Manifests::default();
        manifests.chart(Chart {
            name: "argocd".to_owned(),
            chart: "argo-cd".to_owned(),
            repo: Some("https://argoproj.github.io/argo-helm".to_owned()),
            version: self
                .version
                .as_deref()
                .unwrap_or(DEFAULT_VERSION)
                .to_owned(),
            namespace: "argocd".to_owned(),
            values: json!({"configs": {"params": {"server.insecure": true}}}),
            bootstrap: false,
            comment: "Argo CD with the ApplicationSet controller; the ApplicationSets follow."
                .to_owned(),
        });
        if let Some(credentials) = &self.repository_credentials {
            let mut prefixes: Vec<&str> = self
                .application_sets
                .iter()
                .map(|set| set.repository.as_str())
                .collect();
            prefixes.dedup();
            for (index, repository) in prefixes.iter().enumerate() {
                manifests.secret(RequiredSecret {
                    namespace: "argocd".to_owned(),
                    name: format!("labform-repository-{index}"),
                    key: "password".to_owned(),
                    from: credentials.clone(),
                    literals: vec![
                        ("type".to_owned(), "git".to_owned()),
                        ("url".to_owned(), (*repository).to_owned()),
                        ("username".to_owned(), "git".to_owned()),
                    ],
                    labels: vec![(
                        "argocd.argoproj.io/secret-type".to_owned(),
                        "repository".to_owned(),
                    )],
                    purpose: format!("Argo CD credentials of {repository}"),
                });
            }
        }
        let sets: Vec<Value> = self.application_sets.iter().map(application_set).collect();
        if !sets.is_empty() {
            manifests.objects(
                "argocd-applicationsets",
                vec![
                    "One Application per directory matching each ApplicationSet's glob.".to_owned(),
                ],
                sets,
            );
        }
        Ok(manifests)
    }
}

/// The ApplicationSet object of `set`.
fn application_set(set: &ApplicationSet) -> Value {
    let revision = set.revision.as_deref().unwrap_or("HEAD");
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": set.name, "namespace": "argocd"},
        "spec": {
            "goTemplate": true,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"git": {
                "repoURL": set.repository,
                "revision": revision,
                "directories": [{"path": set.directories}],
            }}],
            "template": {
                "metadata": {"name": "{{.path.basename}}"},
                "spec": {
                    "project": "default",
                    "source": {
                        "repoURL": set.repository,
                        "targetRevision": revision,
                        "path": "{{.path.path}}",
                    },
                    "destination": {
                        "server": "https://kubernetes.default.svc",
                        "namespace": "{{.path.basename}}",
                    },
                    "syncPolicy": {
                        "automated": {"prune": true, "selfHeal": true},
                        "syncOptions": ["CreateNamespace=true"],
                    },
                },
            },
        },
    })
}
