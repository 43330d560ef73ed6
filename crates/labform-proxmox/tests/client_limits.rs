//! The client's per-endpoint concurrency limit and its wire format, checked
//! against a minimal HTTP server that counts requests in flight.

use labform_proxmox::api::ProxmoxApi;
use labform_proxmox::tls::TlsTrust;
use labform_proxmox::{Auth, Client, ClientOptions, Secret};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

struct Counter {
    in_flight: AtomicUsize,
    max: AtomicUsize,
    headers: Mutex<Vec<String>>,
}

/// Serves `GET /api2/json/version`; each request is held until `target`
/// requests are in flight or `hold` has passed.
async fn server(target: usize, hold: Duration) -> (String, Arc<Counter>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let c = Arc::new(Counter {
        in_flight: AtomicUsize::new(0),
        max: AtomicUsize::new(0),
        headers: Mutex::new(vec![]),
    });
    let cc = c.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let c = cc.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                c.headers
                    .lock()
                    .await
                    .push(String::from_utf8_lossy(&buf).into_owned());
                let now = c.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                c.max.fetch_max(now, Ordering::SeqCst);
                let start = tokio::time::Instant::now();
                while c.max.load(Ordering::SeqCst) < target && start.elapsed() < hold {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let body = r#"{"data":{"version":"9.1.9","release":"9.1","repoid":"abc"}}"#;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                c.in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (format!("http://{addr}"), c)
}

fn client(url: &str, limit: usize) -> Arc<Client> {
    let auth = Auth::Token {
        token_id: "ci@pve!deploy".into(),
        secret: Secret::new("0000-1111"),
    };
    let mut o = ClientOptions::new(url, auth, TlsTrust::SystemRoots);
    o.max_concurrent_per_endpoint = limit;
    Arc::new(Client::new(o).unwrap())
}

async fn run_three(c: Arc<Client>) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let c = c.clone();
        set.spawn(async move { c.version().await.unwrap() });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap().release, "9.1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_of_one_serializes_an_endpoint() {
    let (url, counter) = server(2, Duration::from_millis(50)).await;
    run_three(client(&url, 1)).await;
    assert_eq!(counter.max.load(Ordering::SeqCst), 1);
    let headers = counter.headers.lock().await;
    assert_eq!(headers.len(), 3);
    for h in headers.iter() {
        assert!(h.starts_with("GET /api2/json/version HTTP/1.1\r\n"), "{h}");
        assert!(
            h.to_ascii_lowercase()
                .contains("authorization: pveapitoken=ci@pve!deploy=0000-1111\r\n"),
            "{h}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn higher_limit_allows_parallel_requests() {
    let (url, counter) = server(3, Duration::from_secs(10)).await;
    run_three(client(&url, 3)).await;
    assert_eq!(counter.max.load(Ordering::SeqCst), 3);
}

#[test]
fn secrets_do_not_leak_through_debug() {
    let auth = Auth::Password {
        username: "root@pam".into(),
        password: Secret::new("hunter2"),
    };
    let c = Client::new(ClientOptions::new(
        "https://pve.example:8006",
        auth.clone(),
        TlsTrust::SystemRoots,
    ))
    .unwrap();
    assert!(!format!("{auth:?}{c:?}").contains("hunter2"));
    let e = Client::new(ClientOptions::new(
        "ftp://x",
        Auth::Token {
            token_id: "a@b!c".into(),
            secret: Secret::new("s3cr3t"),
        },
        TlsTrust::SystemRoots,
    ))
    .unwrap_err();
    assert!(!format!("{e} {e:?}").contains("s3cr3t"));
}
