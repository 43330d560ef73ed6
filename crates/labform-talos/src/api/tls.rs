//! TLS for the Talos API. A configured node's API certificate is signed by the cluster's OS CA
//! (Ed25519) and names the node's addresses; labform checks it against that CA alone and shows
//! its talosconfig client certificate (role `os:admin`). A node in maintenance mode has no
//! configuration yet and so no certificate from the OS CA: Talos accepts only an unauthenticated
//! `ApplyConfiguration` then, which labform sends without checking the node's certificate, as
//! `talosctl apply-config --insecure` does.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::TalosError;
use crate::pki::pem_block;

/// The protocols Talos's API speaks over TLS: HTTP/2 only.
const ALPN_HTTP2: &[u8] = b"h2";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_failed(message: impl ToString) -> TalosError {
    TalosError::Tls {
        message: message.to_string(),
    }
}

/// The DER certificates of the PEM text `pem`.
pub fn certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, TalosError> {
    let mut found = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let block = &rest[start..];
        let (label, der) = pem_block(block).ok_or_else(|| tls_failed("damaged certificate"))?;
        if label == "CERTIFICATE" {
            found.push(CertificateDer::from(der.to_vec()));
        }
        let end = block
            .find("-----END CERTIFICATE-----")
            .ok_or_else(|| tls_failed("damaged certificate"))?;
        rest = &block[end + 25..];
    }
    if found.is_empty() {
        return Err(tls_failed("no certificate"));
    }
    Ok(found)
}

/// The DER private key of the PEM text `pem` (PKCS#8, as Talos's Ed25519 keys are).
pub fn private_key(pem: &str) -> Result<PrivateKeyDer<'static>, TalosError> {
    let (label, der) = pem_block(pem).ok_or_else(|| tls_failed("damaged private key"))?;
    match label.as_str() {
        "ED25519 PRIVATE KEY" | "PRIVATE KEY" => Ok(PrivateKeyDer::Pkcs8(der.to_vec().into())),
        "EC PRIVATE KEY" => Ok(PrivateKeyDer::Sec1(der.to_vec().into())),
        _ => Err(tls_failed("unknown private key type")),
    }
}

/// The client configuration for configured nodes: the server checked against `os_ca` (PEM), the
/// client certificate `certificate` with `key` (PEM).
pub fn authenticated_client(
    os_ca: &str,
    certificate: &str,
    key: &str,
) -> Result<ClientConfig, TalosError> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates(os_ca)? {
        roots.add(certificate).map_err(tls_failed)?;
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(tls_failed)?
        .with_root_certificates(roots)
        .with_client_auth_cert(certificates(certificate)?, private_key(key)?)
        .map_err(tls_failed)?;
    config.alpn_protocols = vec![ALPN_HTTP2.to_vec()];
    Ok(config)
}

/// The client configuration for a node in maintenance mode: no client certificate, and the
/// node's (self-signed) certificate is not checked. Use it for `ApplyConfiguration` only.
pub fn maintenance_client() -> Result<ClientConfig, TalosError> {
    let provider = provider();
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(tls_failed)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(MaintenanceVerifier { provider }))
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP2.to_vec()];
    Ok(config)
}

/// Accepts any certificate (a node in maintenance mode has none anyone could check) but still
/// checks that the handshake is signed by its key.
#[derive(Debug)]
struct MaintenanceVerifier {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for MaintenanceVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
