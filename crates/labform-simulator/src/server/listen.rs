//! Listening: the self-signed certificate and its fingerprint, the HTTPS
//! (HTTP/1.1 and HTTP/2) and optional plain-HTTP listeners, and the handle
//! of a running server.

use super::*;

/// A running server.
pub struct RunningServer {
    /// Bound HTTPS address.
    pub https_addr: SocketAddr,
    /// Bound plain-HTTP address.
    pub http_addr: Option<SocketAddr>,
    /// SHA-256 fingerprint of the certificate, `AB:CD:...`.
    pub fingerprint: String,
    /// The self-signed certificate, PEM: what a client that trusts a CA
    /// bundle (Python's requests, curl) is given to verify the server.
    pub certificate_pem: String,
    /// The simulator behind it.
    pub simulator: Simulator,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("https_addr", &self.https_addr)
            .field("http_addr", &self.http_addr)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl RunningServer {
    /// The HTTPS base URL.
    pub fn https_url(&self) -> String {
        format!("https://{}", self.https_addr)
    }
    /// Stops accepting connections.
    pub fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Server settings for [`start`].
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// HTTPS address (port 0 for any).
    pub https: Option<SocketAddr>,
    /// Plain HTTP address.
    pub http: Option<SocketAddr>,
    /// Exchange observer.
    pub observer: Option<Observer>,
}

/// Starts serving `sim` in the background.
pub async fn start(sim: Simulator, opts: ServerOptions) -> Result<RunningServer, ServeError> {
    let app = App {
        sim: sim.clone(),
        tickets: Arc::new(match sim.state_directory() {
            Some(directory) => TicketAuthority::with_key(kept_secret(&directory.join("authkey"))?),
            None => TicketAuthority::new(),
        }),
        observer: opts.observer.clone(),
        requests: Arc::default(),
    };
    // Non-upload bodies are limited to 512 KiB in `process`, like
    // pve-http-server; uploads (seed ISOs, images) may be larger.
    let router = axum::Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(1 << 30))
        .with_state(app);
    let https = opts
        .https
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let (acceptor, fingerprint, certificate_pem) = self_signed_tls(https, sim.state_directory())?;
    let (listener, https_addr) = bind(https).await?;
    let mut tasks = vec![accept_forever(listener, Some(acceptor), router.clone())];
    let mut http_addr = None;
    if let Some(addr) = opts.http {
        let (listener, bound) = bind(addr).await?;
        http_addr = Some(bound);
        tasks.push(accept_forever(listener, None, router.clone()));
    }
    Ok(RunningServer {
        https_addr,
        http_addr,
        fingerprint,
        certificate_pem,
        simulator: sim,
        tasks,
    })
}

/// Serves HTTP/1.1 or HTTP/2 on one connection.
async fn serve_conn<I>(io: I, router: axum::Router)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(io);
    let svc = hyper_util::service::TowerToHyperService::new(router);
    let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
        .serve_connection(io, svc)
        .await;
}

/// A file of the state directory written once, owner-only, crash-safely (temporary file, rename).
fn write_kept(path: &std::path::Path, bytes: &[u8]) -> Result<(), ServeError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let temporary = path.with_extension("tmp");
    let kept = |source| ServeError::Kept {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::options()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(kept)?;
    file.write_all(bytes).map_err(kept)?;
    file.sync_all().map_err(kept)?;
    std::fs::rename(&temporary, path).map_err(kept)
}

/// The bytes of `path`, if it exists.
fn read_kept(path: &std::path::Path) -> Result<Option<Vec<u8>>, ServeError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ServeError::Kept {
            path: path.to_owned(),
            source,
        }),
    }
}

/// A random secret kept in `path` (made on first use), like Proxmox's `authkey`: tickets stay
/// valid across a restart.
fn kept_secret(path: &std::path::Path) -> Result<Secret, ServeError> {
    if let Some(bytes) = read_kept(path)? {
        return Ok(Secret::new(String::from_utf8_lossy(&bytes).into_owned()));
    }
    let secret = crate::sim::random_uuid() + &crate::sim::random_uuid();
    write_kept(path, secret.as_bytes())?;
    Ok(Secret::new(secret))
}

/// A TLS acceptor with a self-signed certificate for `localhost`, the loopback addresses and
/// `https`'s address (HTTP/2 and HTTP/1.1), and the certificate's SHA-256 fingerprint and PEM. With a
/// state directory, the certificate is made once and kept there (`pve-ssl.der`,
/// `pve-ssl.key.der`), so its fingerprint, which clients pin, survives a restart.
fn self_signed_tls(
    https: SocketAddr,
    state: Option<&std::path::Path>,
) -> Result<(tokio_rustls::TlsAcceptor, String, String), ServeError> {
    let kept = match state {
        Some(directory) => {
            let cert = read_kept(&directory.join("pve-ssl.der"))?;
            let key = read_kept(&directory.join("pve-ssl.key.der"))?;
            cert.zip(key)
        }
        None => None,
    };
    let (der, key) = match kept {
        Some((cert, key)) => (
            rustls::pki_types::CertificateDer::from(cert),
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
        ),
        None => {
            let cert = rcgen::generate_simple_self_signed(vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
                https.ip().to_string(),
            ])
            .map_err(ServeError::Cert)?;
            let der = cert.cert.der().clone();
            let key = cert.signing_key.serialize_der();
            if let Some(directory) = state {
                write_kept(&directory.join("pve-ssl.key.der"), &key)?;
                write_kept(&directory.join("pve-ssl.der"), der.as_ref())?;
            }
            (der, rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()))
        }
    };
    let fingerprint = labform_proxmox::tls::Fingerprint::of_der(der.as_ref()).to_string();
    let pem = certificate_pem(der.as_ref());
    let mut tls = rustls::ServerConfig::builder_with_provider(labform_proxmox::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(ServeError::Tls)?
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .map_err(ServeError::Tls)?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((
        tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
        fingerprint,
        pem,
    ))
}

/// A certificate in PEM: its DER in base64, 64 characters a line, between the markers.
fn certificate_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// A listener on `addr`, and the address it got (for port 0).
async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    Ok((listener, bound))
}

/// Serves every connection `listener` accepts, through TLS when `tls` is given.
fn accept_forever(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: axum::Router,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let router = router.clone();
            match tls.clone() {
                Some(acceptor) => {
                    tokio::spawn(async move {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            serve_conn(stream, router).await;
                        }
                    });
                }
                None => {
                    tokio::spawn(serve_conn(tcp, router));
                }
            }
        }
    })
}
