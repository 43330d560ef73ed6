//! Where and how `labform serve` listens: the policy (loopback, or TLS and a bearer token), the
//! TLS acceptor from the PEM files, serving every connection through it, and stopping on Ctrl-C
//! or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;

use super::TOKEN_VARIABLE;

/// Why `labform serve` refuses an address.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListenRefused {
    /// Not loopback, and TLS or the token is missing.
    #[error(
        "labform serve refuses to listen on {address}: an address other than loopback needs TLS \
         (--tls-certificate and --tls-key) and a bearer token (in {TOKEN_VARIABLE}); missing: {missing}"
    )]
    Unprotected {
        /// The address asked for.
        address: SocketAddr,
        /// What is missing.
        missing: String,
    },
}

/// Checks the listening policy: loopback, or TLS and a token.
pub fn check_listen(address: SocketAddr, tls: bool, token: bool) -> Result<(), ListenRefused> {
    if address.ip().is_loopback() || (tls && token) {
        return Ok(());
    }
    let mut missing = Vec::new();
    if !tls {
        missing.push("TLS");
    }
    if !token {
        missing.push("the bearer token");
    }
    Err(ListenRefused::Unprotected {
        address,
        missing: missing.join(" and "),
    })
}

/// Ctrl-C, or SIGTERM (how Kubernetes stops a pod).
pub(super) async fn stopping() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        Some(()) = async {
            match terminate.as_mut() {
                Some(terminate) => terminate.recv().await,
                None => std::future::pending().await,
            }
        } => {}
    }
}

/// A TLS acceptor from the PEM files.
pub(super) fn tls_acceptor(
    certificate: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(certificate)
        .with_context(|| format!("cannot read the certificate {}", certificate.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read the certificate {}", certificate.display()))?;
    if chain.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", certificate.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read the private key {}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(labform_proxmox::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate and the key do not go together")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Serves every connection through TLS, until Ctrl-C or SIGTERM.
pub(super) async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    router: axum::Router,
) {
    let accepting = async {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let router = router.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let io = hyper_util::rt::TokioIo::new(stream);
                let service = hyper_util::service::TowerToHyperService::new(router);
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(io, service)
                .await;
            });
        }
    };
    tokio::select! {
        () = accepting => {}
        () = stopping() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_nothing_and_other_addresses_need_tls_and_a_token() {
        let loopback: SocketAddr = "127.0.0.1:8480".parse().unwrap();
        let loopback6: SocketAddr = "[::1]:8480".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8480".parse().unwrap();
        assert_eq!(check_listen(loopback, false, false), Ok(()));
        assert_eq!(check_listen(loopback6, false, false), Ok(()));
        assert_eq!(check_listen(any, true, true), Ok(()));
        let refused = check_listen(any, false, false).unwrap_err().to_string();
        assert!(
            refused.contains("missing: TLS and the bearer token"),
            "{refused}"
        );
        let refused = check_listen(any, true, false).unwrap_err().to_string();
        assert!(refused.ends_with("missing: the bearer token"), "{refused}");
        let refused = check_listen(any, false, true).unwrap_err().to_string();
        assert!(refused.ends_with("missing: TLS"), "{refused}");
    }
}
