//! Bitwarden Secrets Manager through the External Secrets chart's Bitwarden SDK server: the
//! server's certificate (cert-manager objects in `external-secrets`) and the ClusterSecretStore
//! that reaches the server over HTTPS, trusting the CA that signed it.

use serde_json::{Value, json};

use super::ExternalSecrets;
use crate::output::{AddonError, Manifests, RequiredSecret};

/// The Bitwarden SDK server's service address: the chart fixes its name, and it runs in the
/// External Secrets namespace.
const SDK_SERVER_HOST: &str = "bitwarden-sdk-server.external-secrets.svc.cluster.local";
/// The port the SDK server's service listens on (the chart's default).
const SDK_SERVER_PORT: u16 = 9998;
/// The Secret the SDK server chart mounts its TLS files from (`tls.crt`, `tls.key`, `ca.crt`).
const TLS_SECRET: &str = "bitwarden-tls-certs";
/// The Secret of the CA that signs the SDK server's certificate; the store trusts its `tls.crt`.
const CA_SECRET: &str = "bitwarden-sdk-server-ca";

/// The header of the certificates' file.
pub(super) fn certificate_comments() -> Vec<String> {
    vec![
        format!(
            "The Bitwarden SDK server serves only HTTPS: a CA of its own (self-signed bootstrap Issuer, CA Certificate, CA Issuer) signs its certificate for {SDK_SERVER_HOST}."
        ),
        format!(
            "The chart mounts the Secret {TLS_SECRET} (tls.crt, tls.key, ca.crt); the ClusterSecretStore trusts the CA in {CA_SECRET}."
        ),
    ]
}

/// cert-manager objects in `external-secrets` giving the Bitwarden SDK server its certificate:
/// a self-signed bootstrap Issuer makes a CA Certificate, a CA Issuer signs with it, and the
/// server Certificate lands in the Secret the chart mounts. Namespaced Issuers keep this CA from
/// signing anything outside the namespace.
pub(super) fn certificates() -> Vec<Value> {
    let namespace = "external-secrets";
    let bootstrap = "bitwarden-sdk-server-bootstrap";
    let short_host = SDK_SERVER_HOST
        .strip_suffix(".cluster.local")
        .unwrap_or(SDK_SERVER_HOST);
    vec![
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": bootstrap, "namespace": namespace},
            "spec": {"selfSigned": {}},
        }),
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": CA_SECRET, "namespace": namespace},
            "spec": {
                "isCA": true,
                "commonName": "Bitwarden SDK server CA",
                "secretName": CA_SECRET,
                "duration": "87600h",
                "privateKey": {"algorithm": "ECDSA", "size": 256},
                "issuerRef": {"name": bootstrap, "kind": "Issuer", "group": "cert-manager.io"},
            },
        }),
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": CA_SECRET, "namespace": namespace},
            "spec": {"ca": {"secretName": CA_SECRET}},
        }),
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": TLS_SECRET, "namespace": namespace},
            "spec": {
                "secretName": TLS_SECRET,
                "dnsNames": [SDK_SERVER_HOST, short_host, "bitwarden-sdk-server"],
                "duration": "2160h",
                "privateKey": {"algorithm": "ECDSA", "size": 256, "encoding": "PKCS8", "rotationPolicy": "Always"},
                "usages": ["server auth", "digital signature"],
                "issuerRef": {"name": CA_SECRET, "kind": "Issuer", "group": "cert-manager.io"},
            },
        }),
    ]
}

/// The Bitwarden ClusterSecretStore of the lab's project, its machine-account token a Secret
/// apply creates.
pub(super) fn store(
    options: &ExternalSecrets,
    manifests: &mut Manifests,
) -> Result<(), AddonError> {
    let missing = |field: &str| {
        AddonError::Unsupported(format!(
            "External Secrets with Bitwarden needs `{field}` (the lab check reports it)"
        ))
    };
    let organization = options
        .organization_id
        .as_deref()
        .ok_or_else(|| missing("organization_id"))?;
    let project = options
        .project_id
        .as_deref()
        .ok_or_else(|| missing("project_id"))?;
    let secret = manifests.secret(RequiredSecret {
        namespace: "external-secrets".to_owned(),
        name: "bitwarden-access-token".to_owned(),
        key: "token".to_owned(),
        from: options.access_token.clone(),
        literals: Vec::new(),
        labels: Vec::new(),
        purpose: "Bitwarden machine-account access token of the ClusterSecretStore bitwarden"
            .to_owned(),
    });
    manifests.objects(
        "external-secrets-store",
        vec![
            format!("The ClusterSecretStore of Bitwarden Secrets Manager project {project}, through the SDK server; its machine-account token is the Secret external-secrets/{secret}, created by apply."),
        ],
        vec![json!({
            "apiVersion": "external-secrets.io/v1",
            "kind": "ClusterSecretStore",
            "metadata": {"name": "bitwarden"},
            "spec": {"provider": {"bitwardensecretsmanager": {
                "apiURL": options
                    .api_url
                    .as_deref()
                    .unwrap_or(ExternalSecrets::BITWARDEN_API_URL),
                "identityURL": options
                    .identity_url
                    .as_deref()
                    .unwrap_or(ExternalSecrets::BITWARDEN_IDENTITY_URL),
                "bitwardenServerSDKURL": format!("https://{SDK_SERVER_HOST}:{SDK_SERVER_PORT}"),
                "caProvider": {
                    "type": "Secret",
                    "name": CA_SECRET,
                    "key": "tls.crt",
                    "namespace": "external-secrets",
                },
                "organizationID": organization,
                "projectID": project,
                "auth": {"secretRef": {"credentials": {
                    "name": secret,
                    "key": "token",
                    "namespace": "external-secrets",
                }}},
            }}},
        })],
    );
    Ok(())
}
