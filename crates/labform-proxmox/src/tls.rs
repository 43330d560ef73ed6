//! TLS trust for the Proxmox client: the system roots, or a pinned SHA-256
//! fingerprint of the server's leaf certificate (Proxmox's self-signed
//! default). There is deliberately no way to disable verification.

use crate::error::{Error, Result};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

/// How the client decides to trust the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsTrust {
    /// The platform's trust store (normal chain and host-name validation).
    SystemRoots,
    /// Accept exactly the leaf certificate with this SHA-256 fingerprint
    /// (any name, any issuer); handshake signatures are still verified.
    Fingerprint(Fingerprint),
}

/// A SHA-256 certificate fingerprint.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Parses `AB:CD:...` (Proxmox's format) or plain hex, either case.
    pub fn parse(s: &str) -> Result<Self> {
        let hex: String = s.trim().chars().filter(|c| *c != ':').collect();
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::Config(format!(
                "invalid SHA-256 fingerprint '{s}': expected 32 hex bytes, like AB:CD:..."
            )));
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16)
                .map_err(|e| Error::Config(e.to_string()))?;
        }
        Ok(Self(out))
    }

    /// The fingerprint of a DER certificate.
    pub fn of_der(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// The crypto provider used everywhere: ring, the only one compiled in (README, "Performance":
/// aws-lc-rs, a C library built with cmake, made the first build several times slower).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes [`provider`] the process's default, which the TLS clients that build their own
/// configuration take: reqwest's (system roots) and kube's. Call it before building such a
/// client; calling it again, or after another crate installed the default, changes nothing (with
/// only ring compiled in, any installed default is ring).
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// What a [`LeafVerifier`] does with the server's leaf certificate.
#[derive(Debug)]
enum LeafCheck {
    /// Accept it only if it has this fingerprint.
    Pin(Fingerprint),
    /// Accept it and keep a copy; used only by [`fetch_fingerprint`], which never sends
    /// application data.
    Record(Mutex<Option<Vec<u8>>>),
}

/// Checks the leaf certificate as [`LeafCheck`] says, and always checks handshake signatures with
/// the provider's algorithms (a pin without the signature check would let anyone replay the
/// public certificate).
#[derive(Debug)]
struct LeafVerifier {
    check: LeafCheck,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for LeafVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match &self.check {
            LeafCheck::Pin(pin) => {
                let got = Fingerprint::of_der(end_entity.as_ref());
                if got == *pin {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(rustls::Error::General(format!(
                        "certificate fingerprint mismatch: expected {pin}, server presented {got}"
                    )))
                }
            }
            LeafCheck::Record(seen) => {
                if let Ok(mut seen) = seen.lock() {
                    *seen = Some(end_entity.as_ref().to_vec());
                }
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A rustls client config trusting exactly `pin`.
pub fn pinned_client_config(pin: Fingerprint) -> Result<rustls::ClientConfig> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(LeafVerifier {
            check: LeafCheck::Pin(pin),
            algorithms,
        }))
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Connects to `url` (`https://host:port[/...]`, port 8006 by default),
/// completes a TLS handshake and returns the SHA-256 fingerprint of the
/// server's certificate as `AB:CD:...`, for the user to compare and pin.
pub async fn fetch_fingerprint(url: &str) -> Result<String> {
    let (host, port) = host_port(url)?;
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let recorder = Arc::new(LeafVerifier {
        check: LeafCheck::Record(Mutex::new(None)),
        algorithms,
    });
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let addr = format!("{host}:{port}");
    let fetch_err = |source| Error::Fetch {
        host: addr.clone(),
        source,
    };
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(fetch_err)?;
    let name = ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
    .map_err(|e| Error::Config(format!("invalid host name '{host}': {e}")))?;
    let _tls = connector.connect(name, tcp).await.map_err(fetch_err)?;
    let LeafCheck::Record(seen) = &recorder.check else {
        unreachable!("made as a recorder above")
    };
    let der = seen
        .lock()
        .ok()
        .and_then(|s| s.clone())
        .ok_or_else(|| Error::Config(format!("{addr} presented no certificate")))?;
    Ok(Fingerprint::of_der(&der).to_string())
}

fn host_port(url: &str) -> Result<(String, u16)> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| Error::Config(format!("invalid URL '{url}': {e}")))?;
    if parsed.scheme() != "https" {
        return Err(Error::Config(format!("URL '{url}' is not https")));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| Error::Config(format!("URL '{url}' has no host")))?
        .to_owned();
    Ok((host, parsed.port().unwrap_or(8006)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_formats() {
        let hex = "ab".repeat(32);
        let f = Fingerprint::parse(&hex).unwrap();
        assert_eq!(f.to_string(), vec!["AB"; 32].join(":"));
        assert_eq!(Fingerprint::parse(&f.to_string()).unwrap(), f);
        assert!(Fingerprint::parse("AB:CD").is_err());
        assert!(Fingerprint::parse(&"zz".repeat(32)).is_err());
    }
}
