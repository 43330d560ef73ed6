//! The client options the HTTPS client's tests share against the simulator's server
//! (`session::server`): pinned certificate, fast retries; and a one-file HTTP server for
//! downloads.

use labform_ids::{NodeName, VmId};
use labform_proxmox::client::RetryPolicy;
use labform_proxmox::task::WaitOptions;
use labform_proxmox::tls::{Fingerprint, TlsTrust};
use labform_proxmox::{Auth, Client, ClientOptions, Secret};
use labform_simulator::server::RunningServer;

use super::session::ROOT_PW;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn pin(srv: &RunningServer) -> TlsTrust {
    TlsTrust::Fingerprint(Fingerprint::parse(&srv.fingerprint).unwrap())
}

pub fn fast(mut o: ClientOptions) -> ClientOptions {
    o.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    o
}

pub fn root_client(srv: &RunningServer) -> Client {
    let auth = Auth::Password {
        username: "root@pam".into(),
        password: Secret::new(ROOT_PW),
    };
    Client::new(fast(ClientOptions::new(srv.https_url(), auth, pin(srv)))).unwrap()
}

pub fn wait() -> WaitOptions {
    WaitOptions {
        initial_interval: Duration::from_millis(2),
        max_interval: Duration::from_millis(20),
        deadline: Duration::from_secs(60),
        log_lines: 20,
    }
}

pub fn id(n: u32) -> VmId {
    VmId::new(n).unwrap()
}

pub fn n1() -> NodeName {
    NodeName::new("pve1")
}

/// A one-file HTTP server on loopback (for download-url).
pub async fn serve_bytes(body: &'static [u8]) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body).await;
            });
        }
    });
    format!("http://{addr}/noble.qcow2")
}
