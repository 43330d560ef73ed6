//! External Secrets Operator with one ClusterSecretStore: HashiCorp Vault (a token Secret), or
//! Bitwarden Secrets Manager through the chart's Bitwarden SDK server. That server serves only
//! HTTPS, so cert-manager (required then) makes a CA in `external-secrets` and the server's
//! certificate from it, and the store trusts that CA (see [`bitwarden`]).

mod bitwarden;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::{CheckContext, ClusterFacts};
use crate::output::{AddonError, Chart, Manifests, RequiredSecret};
use crate::problem::{Problem, ProblemPath};
use crate::registry::{Addon, AddonRendering, Addons};
use labform_ids::secret::SecretRef;

/// The chart version when the lab names none.
pub const DEFAULT_VERSION: &str = "0.18.2";

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

    /// The Bitwarden checks: both IDs present and UUIDs, both addresses HTTPS, cert-manager.
    fn check_bitwarden(&self, at: &ProblemPath, context: &CheckContext<'_>) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (field, value, what) in [
            ("organization_id", &self.organization_id, "organization"),
            ("project_id", &self.project_id, "project"),
        ] {
            match value {
                None => problems.push(
                    Problem::new(
                        "missing-field",
                        at.clone(),
                        format!("External Secrets with Bitwarden needs the {what} ID"),
                    )
                    .hint(format!(
                        "add `{field}: <UUID>`; the Secrets Manager web app shows it in the page address (`.../sm/<organization ID>/projects/<project ID>`)"
                    )),
                ),
                Some(id) if !is_uuid(id) => problems.push(
                    Problem::new(
                        "invalid-uuid",
                        at.at(field),
                        format!("the Bitwarden {what} ID `{id}` is not a UUID"),
                    )
                    .hint(format!(
                        "write the {what} ID as 32 hexadecimal digits in groups of 8-4-4-4-12, e.g. `0f8e2a64-5c1b-4d7e-9a3f-6b2c8d1e4f70`"
                    )),
                ),
                Some(_) => {}
            }
        }
        for (field, value) in [
            ("api_url", &self.api_url),
            ("identity_url", &self.identity_url),
        ] {
            let Some(url) = value else { continue };
            match url.split_once("://") {
                Some(("https", rest)) if !rest.is_empty() && !rest.starts_with('/') => {}
                Some(("http", _)) => problems.push(
                    Problem::new(
                        "insecure-endpoint",
                        at.at(field),
                        format!("`{field}` sends the Bitwarden access token over plain HTTP"),
                    )
                    .hint("use `https://`"),
                ),
                _ => problems.push(
                    Problem::new(
                        "invalid-url",
                        at.at(field),
                        format!("`{url}` is not an https URL"),
                    )
                    .hint("e.g. `https://api.bitwarden.eu` and `https://identity.bitwarden.eu` for the EU cloud"),
                ),
            }
        }
        if context.addons.cert_manager.is_none() {
            problems.push(
                Problem::new(
                    "addon-dependency",
                    at.at("provider"),
                    "External Secrets with Bitwarden needs cert_manager in the same cluster",
                )
                .hint("add `cert_manager: {}`: the Bitwarden SDK server serves only HTTPS, and labform has cert-manager issue its certificate"),
            );
        }
        problems
    }
}

impl Addon for ExternalSecrets {
    fn namespace(&self) -> Option<&'static str> {
        Some("external-secrets")
    }

    fn check(&self, at: &ProblemPath, context: &CheckContext<'_>) -> Vec<Problem> {
        let provider = match self.provider {
            SecretProvider::Bitwarden => "Bitwarden",
            SecretProvider::Vault => "Vault",
        };
        let mut problems = Vec::new();
        for field in self.fields_of_other_provider() {
            let hint = match self.provider {
                SecretProvider::Bitwarden => {
                    "remove `url`; Bitwarden reads `api_url` and `identity_url` (both default to the US cloud)".to_owned()
                }
                SecretProvider::Vault => format!(
                    "remove `{field}`; it is a Bitwarden setting, and the Vault provider takes its address from `url`"
                ),
            };
            problems.push(
                Problem::new(
                    "provider-field",
                    at.at(field),
                    format!("`{field}` is not a setting of the {provider} provider"),
                )
                .hint(hint),
            );
        }
        match self.provider {
            SecretProvider::Vault => {
                if self.url.is_none() {
                    problems.push(
                        Problem::new(
                            "missing-field",
                            at.clone(),
                            "External Secrets with Vault needs the Vault URL",
                        )
                        .hint("add `url: https://vault.example:8200`"),
                    );
                }
            }
            SecretProvider::Bitwarden => problems.extend(self.check_bitwarden(at, context)),
        }
        problems
    }
}

impl AddonRendering for ExternalSecrets {
    fn plan_line(&self, _: &ClusterFacts) -> String {
        let provider = match (self.provider, &self.project_id) {
            (SecretProvider::Bitwarden, Some(project)) => {
                format!("Bitwarden Secrets Manager project {project}")
            }
            (SecretProvider::Bitwarden, None) => "Bitwarden Secrets Manager".to_owned(),
            (SecretProvider::Vault, _) => "Vault".to_owned(),
        };
        format!(
            "ClusterSecretStore from {provider} (token {})",
            self.access_token
        )
    }

    fn manifests(&self, _: &ClusterFacts, addons: &Addons) -> Result<Manifests, AddonError> {
        let mut manifests = Manifests::default();
        let bitwarden = self.provider == SecretProvider::Bitwarden;
        // The SDK server mounts its certificate, so cert-manager issues it before the chart runs.
        if bitwarden {
            if addons.cert_manager.is_none() {
                return Err(AddonError::Unsupported(
                    "External Secrets with Bitwarden needs the cert_manager add-on: it issues the Bitwarden SDK server's certificate".to_owned(),
                ));
            }
            manifests.objects(
                "external-secrets-bitwarden-certificates",
                bitwarden::certificate_comments(),
                bitwarden::certificates(),
            );
        }
        let mut values = json!({"installCRDs": true});
        if bitwarden {
            values["bitwarden-sdk-server"] = json!({"enabled": true});
        }
        manifests.chart(Chart {
            name: "external-secrets".to_owned(),
            chart: "external-secrets".to_owned(),
            repo: Some("https://charts.external-secrets.io".to_owned()),
            version: self.version.as_deref().unwrap_or(DEFAULT_VERSION).to_owned(),
            namespace: "external-secrets".to_owned(),
            values,
            bootstrap: false,
            comment: if bitwarden {
                "External Secrets Operator with its CRDs and the Bitwarden SDK server; the ClusterSecretStore follows.".to_owned()
            } else {
                "External Secrets Operator with its CRDs; the ClusterSecretStore follows.".to_owned()
            },
        });
        match self.provider {
            SecretProvider::Vault => self.vault_store(addons, &mut manifests)?,
            SecretProvider::Bitwarden => bitwarden::store(self, &mut manifests)?,
        }
        Ok(manifests)
    }
}

impl ExternalSecrets {
    /// The Vault ClusterSecretStore: the lab's Vault, or the cluster's own vault add-on.
    fn vault_store(&self, addons: &Addons, manifests: &mut Manifests) -> Result<(), AddonError> {
        let server = match (&self.url, &addons.vault) {
            (Some(url), _) => url.clone(),
            (None, Some(_)) => crate::vault::IN_CLUSTER_ADDRESS.to_owned(),
            (None, None) => {
                return Err(AddonError::Unsupported(
                    "external_secrets with the Vault provider needs a url when the cluster has no vault add-on".to_owned(),
                ));
            }
        };
        let secret = manifests.secret(RequiredSecret {
            namespace: "external-secrets".to_owned(),
            name: "vault-token".to_owned(),
            key: "token".to_owned(),
            from: self.access_token.clone(),
            literals: Vec::new(),
            labels: Vec::new(),
            purpose: "Vault token of the ClusterSecretStore vault".to_owned(),
        });
        manifests.objects(
            "external-secrets-store",
            vec!["The ClusterSecretStore; its token is the Secret external-secrets/vault-token, created by apply.".to_owned()],
            vec![json!({
                "apiVersion": "external-secrets.io/v1",
                "kind": "ClusterSecretStore",
                "metadata": {"name": "vault"},
                "spec": {"provider": {"vault": {
                    "server": server,
                    "path": "secret",
                    "version": "v2",
                    "auth": {"tokenSecretRef": {
                        "name": secret,
                        "key": "token",
                        "namespace": "external-secrets",
                    }},
                }}},
            })],
        );
        Ok(())
    }
}

/// Whether `text` is a UUID in its canonical form: 32 hexadecimal digits, grouped 8-4-4-4-12.
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, length)| {
            group.len() == length && group.chars().all(|character| character.is_ascii_hexdigit())
        })
}
