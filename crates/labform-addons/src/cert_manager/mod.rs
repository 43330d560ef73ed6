//! cert-manager with its CRDs, and the lab's ClusterIssuers: a self-signed one is a CA of its
//! own (bootstrap issuer, root Certificate, CA issuer), ACME ones solve HTTP-01 through the
//! ingress or DNS-01 with a provider token apply puts into a Secret.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::{CheckContext, ClusterFacts};
use crate::output::{AddonError, Chart, Manifests, RequiredSecret};
use crate::problem::{Problem, ProblemPath};
use crate::registry::{Addon, AddonRendering, Addons};
use labform_ids::secret::SecretRef;

/// The chart version when the lab names none.
pub const DEFAULT_VERSION: &str = "v1.16.2";

/// Let's Encrypt's production directory, the default ACME server.
const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

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

impl IssuerKind {
    /// How the plan names the kind.
    fn label(self) -> &'static str {
        match self {
            IssuerKind::SelfSigned => "self-signed",
            IssuerKind::AcmeHttp01 => "ACME HTTP-01",
            IssuerKind::AcmeDns01 => "ACME DNS-01",
        }
    }
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

impl Addon for CertManager {
    fn namespace(&self) -> Option<&'static str> {
        Some("cert-manager")
    }

    fn check(&self, at: &ProblemPath, context: &CheckContext<'_>) -> Vec<Problem> {
        let mut problems = Vec::new();
        let ingress = context.packaged_ingress || context.addons.provide_ingress();
        for (index, issuer) in self.issuers.iter().enumerate() {
            let issuer_at = at.at("issuers").index(index);
            if matches!(issuer.kind, IssuerKind::AcmeHttp01 | IssuerKind::AcmeDns01)
                && issuer.email.is_none()
            {
                problems.push(
                    Problem::new(
                        "missing-field",
                        issuer_at.clone(),
                        "ACME issuers need an account e-mail",
                    )
                    .hint("add `email: you@example.org`"),
                );
            }
            if issuer.kind == IssuerKind::AcmeDns01
                && (issuer.dns_provider.is_none() || issuer.dns_token.is_none())
            {
                problems.push(
                    Problem::new(
                        "missing-field",
                        issuer_at.clone(),
                        "DNS-01 issuers need `dns_provider` and `dns_token`",
                    )
                    .hint("add `dns_provider: cloudflare` and `dns_token: {env: CF_API_TOKEN}`"),
                );
            }
            if issuer.kind == IssuerKind::AcmeHttp01 && !ingress {
                problems.push(
                    Problem::new(
                        "addon-dependency",
                        issuer_at,
                        "HTTP-01 challenges need an ingress",
                    )
                    .hint("add `traefik: {}` or use a DNS-01 issuer"),
                );
            }
        }
        problems
    }
}

impl AddonRendering for CertManager {
    fn plan_line(&self, _: &ClusterFacts) -> String {
        let issuers: Vec<String> = self
            .issuers
            .iter()
            .map(|issuer| format!("{} ({})", issuer.name, issuer.kind.label()))
            .collect();
        format!(
            "CRDs first{}{}",
            self.version
                .as_ref()
                .map(|version| format!(" {version}"))
                .unwrap_or_default(),
            if issuers.is_empty() {
                String::new()
            } else {
                format!("; issuers {}", issuers.join(", "))
            }
        )
    }

    fn manifests(&self, facts: &ClusterFacts, _: &Addons) -> Result<Manifests, AddonError> {
        let mut manifests = Manifests::default();
        manifests.chart(Chart {
            name: "cert-manager".to_owned(),
            chart: "cert-manager".to_owned(),
            repo: Some("https://charts.jetstack.io".to_owned()),
            version: self
                .version
                .as_deref()
                .unwrap_or(DEFAULT_VERSION)
                .to_owned(),
            namespace: "cert-manager".to_owned(),
            values: json!({"crds": {"enabled": true}}),
            bootstrap: false,
            comment: "cert-manager with its CRDs; the ClusterIssuers follow.".to_owned(),
        });
        let mut issuers = Vec::new();
        for issuer in &self.issuers {
            let spec = match issuer.kind {
                // A CA of its own: a self-signed root certificate, then a CA issuer signing with
                // it, so every certificate of the lab chains to one root people can trust.
                IssuerKind::SelfSigned => {
                    let bootstrap = format!("{}-bootstrap", issuer.name);
                    let root = format!("{}-root", issuer.name);
                    issuers.push(json!({
                        "apiVersion": "cert-manager.io/v1",
                        "kind": "ClusterIssuer",
                        "metadata": {"name": bootstrap},
                        "spec": {"selfSigned": {}},
                    }));
                    issuers.push(json!({
                        "apiVersion": "cert-manager.io/v1",
                        "kind": "Certificate",
                        "metadata": {"name": root, "namespace": "cert-manager"},
                        "spec": {
                            "isCA": true,
                            "commonName": format!("{} ({})", issuer.name, facts.instance),
                            "secretName": root,
                            "duration": "87600h",
                            "privateKey": {"algorithm": "ECDSA", "size": 256},
                            "issuerRef": {
                                "name": bootstrap,
                                "kind": "ClusterIssuer",
                                "group": "cert-manager.io",
                            },
                        },
                    }));
                    json!({"ca": {"secretName": root}})
                }
                IssuerKind::AcmeHttp01 | IssuerKind::AcmeDns01 => {
                    let email = issuer.email.as_deref().ok_or_else(|| {
                        AddonError::Unsupported(format!(
                            "ACME issuer `{}` has no email",
                            issuer.name
                        ))
                    })?;
                    let solver = if issuer.kind == IssuerKind::AcmeHttp01 {
                        json!({"http01": {"ingress": {"ingressClassName": "traefik"}}})
                    } else {
                        json!({"dns01": dns_solver(issuer, &mut manifests)?})
                    };
                    json!({"acme": {
                        "email": email,
                        "server": issuer.server.as_deref().unwrap_or(LETS_ENCRYPT),
                        "privateKeySecretRef": {"name": format!("{}-account-key", issuer.name)},
                        "solvers": [solver],
                    }})
                }
            };
            issuers.push(json!({
                "apiVersion": "cert-manager.io/v1",
                "kind": "ClusterIssuer",
                "metadata": {"name": issuer.name},
                "spec": spec,
            }));
        }
        if !issuers.is_empty() {
            manifests.objects(
                "cert-manager-issuers",
                vec![
                    "ClusterIssuers (a self-signed one is a CA: bootstrap issuer, root Certificate, CA issuer); DNS-01 tokens are Secrets apply creates in cert-manager."
                        .to_owned(),
                ],
                issuers,
            );
        }
        Ok(manifests)
    }
}

/// The DNS-01 solver of `issuer`, its provider token a Secret apply creates in `cert-manager`.
fn dns_solver(issuer: &Issuer, manifests: &mut Manifests) -> Result<serde_json::Value, AddonError> {
    let provider = issuer.dns_provider.as_deref().unwrap_or("");
    let token = issuer.dns_token.clone().ok_or_else(|| {
        AddonError::Unsupported(format!(
            "DNS-01 issuer `{}` has no dns_token reference",
            issuer.name
        ))
    })?;
    let secret_name = format!("{}-dns-token", issuer.name);
    let (solver, key) = match provider {
        "cloudflare" => (
            json!({"cloudflare": {"apiTokenSecretRef": {"name": secret_name, "key": "api-token"}}}),
            "api-token",
        ),
        "digitalocean" => (
            json!({"digitalocean": {"tokenSecretRef": {"name": secret_name, "key": "access-token"}}}),
            "access-token",
        ),
        other => {
            return Err(AddonError::Unsupported(format!(
                "DNS-01 provider `{other}` of issuer `{}` is not supported yet (cloudflare, digitalocean)",
                issuer.name
            )));
        }
    };
    manifests.secret(RequiredSecret {
        namespace: "cert-manager".to_owned(),
        name: secret_name,
        key: key.to_owned(),
        from: token,
        literals: Vec::new(),
        labels: Vec::new(),
        purpose: format!("{provider} API token of ClusterIssuer {}", issuer.name),
    });
    Ok(solver)
}
