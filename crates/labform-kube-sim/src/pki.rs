//! The simulator's certificates, shaped like K3s's: a server CA that signs the API server's
//! serving certificate, a client CA that signs the admin's client certificate
//! (`CN=system:admin, O=system:masters`), and the kubeconfig K3s writes to
//! `/etc/rancher/k3s/k3s.yaml` (`certificate-authority-data`, `client-certificate-data` with the
//! client certificate followed by the client CA, `client-key-data`).
//!
//! One difference from K3s: the client key is PKCS#8 (`BEGIN PRIVATE KEY`), where K3s writes
//! SEC1 (`BEGIN EC PRIVATE KEY`); rcgen serialises PKCS#8 only. Clients must accept both.

use std::sync::Arc;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Errors of certificate generation and TLS setup.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused the parameters.
    #[error("cannot generate a certificate")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificates.
    #[error("cannot set up TLS")]
    Tls(#[from] rustls::Error),
    /// rustls refused the client CA.
    #[error("cannot set up client certificate verification")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
}

/// The certificates of one simulated cluster.
pub(crate) struct Pki {
    server_ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: KeyPair,
    client_ca_der: CertificateDer<'static>,
    client_ca_pem: String,
    admin_cert_pem: String,
    admin_key_pem: String,
}

fn ca_params(common_name: &str) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

impl Pki {
    /// New CAs and certificates; the serving certificate is valid for `localhost`, `127.0.0.1`,
    /// `::1` and the in-cluster names of the API service.
    pub(crate) fn generate() -> Result<Self, PkiError> {
        let server_ca = CertifiedIssuer::self_signed(
            ca_params("k3s-server-ca@labform-kube-sim")?,
            KeyPair::generate()?,
        )?;
        let client_ca = CertifiedIssuer::self_signed(
            ca_params("k3s-client-ca@labform-kube-sim")?,
            KeyPair::generate()?,
        )?;

        let mut serving = CertificateParams::new(vec![
            "kubernetes".to_owned(),
            "kubernetes.default".to_owned(),
            "kubernetes.default.svc".to_owned(),
            "kubernetes.default.svc.cluster.local".to_owned(),
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "k3s");
        name.push(DnType::OrganizationName, "k3s");
        serving.distinguished_name = name;
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate()?;
        let server_cert = serving.signed_by(&server_key, &server_ca)?;

        let mut admin = CertificateParams::new(Vec::<String>::new())?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "system:admin");
        name.push(DnType::OrganizationName, "system:masters");
        admin.distinguished_name = name;
        admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let admin_key = KeyPair::generate()?;
        let admin_cert = admin.signed_by(&admin_key, &client_ca)?;

        Ok(Self {
            server_ca_pem: server_ca.pem(),
            server_chain: vec![server_cert.der().clone(), server_ca.der().clone()],
            server_key,
            client_ca_der: client_ca.der().clone(),
            client_ca_pem: client_ca.pem(),
            admin_cert_pem: admin_cert.pem(),
            admin_key_pem: admin_key.serialize_pem(),
        })
    }

    /// The TLS configuration: the serving chain, and client certificates verified against the
    /// client CA. Clients without a certificate are let through TLS and refused with 401 by the
    /// server, as kube-apiserver does with anonymous authentication off (K3s's setting).
    pub(crate) fn server_config(&self) -> Result<rustls::ServerConfig, PkiError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.client_ca_der.clone())?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()?;
        let key = PrivateKeyDer::Pkcs8(self.server_key.serialize_der().into());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.server_chain.clone(), key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    /// The admin kubeconfig in the shape K3s writes, for `server`.
    pub(crate) fn kubeconfig(&self, server: &str) -> String {
        let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        let client_chain = format!("{}{}", self.admin_cert_pem, self.client_ca_pem);
        format!(
            "apiVersion: v1\n\
             clusters:\n\
             - cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: default\n\
             contexts:\n\
             - context:\n    cluster: default\n    user: default\n  name: default\n\
             current-context: default\n\
             kind: Config\n\
             preferences: {{}}\n\
             users:\n\
             - name: default\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\n",
            ca = encode(&self.server_ca_pem),
            cert = encode(&client_chain),
            key = encode(&self.admin_key_pem),
        )
    }
}
