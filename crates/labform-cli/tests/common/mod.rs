//! What the tests that start `labform sim serve` as a process share.

// Each test binary uses a part of this module.
#![allow(dead_code)]

pub mod kubeadm_vms;
pub mod sim_lab;
pub mod vms;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use labform_test_tiers::KillOnDrop;

/// An HTTP/1.1 request without a body to `address` (`HOST:PORT`): the status code, the head
/// (names and values in lower case) and the body. Answers must not be chunked.
pub fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    http_with_body(address, method, path, headers, "")
}

/// [`http`] with a body (give its `Content-Type` in `headers`).
pub fn http_with_body(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    assert!(
        !head.to_lowercase().contains("transfer-encoding: chunked"),
        "{head}"
    );
    (status, head.to_lowercase(), body.to_owned())
}

/// Signs in to the dashboard at `address` with `token` as a browser does (`POST /login` from
/// its own page): the session cookie (`labform_session=VALUE`) it sets, after checking its
/// attributes.
pub fn sign_in(address: &str, token: &str) -> String {
    let origin = format!("http://{address}");
    let (status, head, body) = http_with_body(
        address,
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", &origin),
        ],
        &format!("token={token}"),
    );
    assert_eq!(status, 303, "{head}{body}");
    let cookie = head
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("a cookie: {head}"));
    assert!(cookie.contains("; httponly"), "{cookie}");
    assert!(cookie.contains("; samesite=strict"), "{cookie}");
    let pair = cookie.split(';').next().expect("name=value").to_owned();
    assert!(pair.starts_with("labform_session="), "{pair}");
    assert!(!pair.contains(token), "the cookie is not the token");
    // The head is in lower case; the value is hexadecimal, so it is the same.
    pair
}

/// The value of the Prometheus sample `sample` (name and labels, as written) in `metrics`.
pub fn metric(metrics: &str, sample: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {sample} in\n{metrics}"))
        .parse()
        .expect("a number")
}

/// Reads the address (without `/api2/json`) and the certificate fingerprint that a starting
/// `labform sim serve` prints, from `child`'s piped standard output.
pub fn simulator_address(child: &mut Child) -> (String, String) {
    let (url, fingerprint, _) = simulator_addresses(child);
    (url, fingerprint)
}

/// [`simulator_address`], with the plain HTTP address (`HOST:PORT`) when `--http-listen` was given.
pub fn simulator_addresses(child: &mut Child) -> (String, String, Option<String>) {
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let mut url = None;
    let mut fingerprint = None;
    let mut plain = None;
    while url.is_none() || fingerprint.is_none() {
        let line = lines
            .next()
            .expect("the simulator prints its address")
            .expect("the simulator's output is text");
        if let Some(rest) = line.strip_prefix("Proxmox VE simulator listening on ") {
            url = Some(rest.trim_end_matches("/api2/json").to_owned());
        }
        if let Some(rest) = line.strip_prefix("certificate SHA-256 fingerprint: ") {
            fingerprint = Some(rest.to_owned());
        }
        if let Some(rest) = line.strip_prefix("plain HTTP on http://") {
            plain = Some(rest.trim_end_matches("/api2/json").to_owned());
        }
    }
    // The simulator may print more; keep reading so that it never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (url.expect("read"), fingerprint.expect("read"), plain)
}

/// A `labform sim serve` process, killed (SIGKILL) when dropped.
pub struct SimServer {
    /// The process.
    pub child: KillOnDrop,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The certificate's SHA-256 fingerprint.
    pub fingerprint: String,
    /// `HOST:PORT` of plain HTTP, when started with `--http-listen`.
    pub plain: Option<String>,
}

/// root@pam's password of the simulators these tests start.
pub const SIM_PASSWORD: &str = "sim-serve-test-password";

impl SimServer {
    /// Starts `labform sim serve` on a free loopback port with [`SIM_PASSWORD`] and `args`
    /// (`--state DIR`, `--lab FILE`, `--time-scale F`, ...).
    pub fn start(args: &[&str]) -> Self {
        Self::start_with_environment(args, &[])
    }

    /// Like [`SimServer::start`], with `environment` set for the simulator's process.
    pub fn start_with_environment(args: &[&str], environment: &[(&str, &std::path::Path)]) -> Self {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_labform"))
            .args(["sim", "serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("LABFORM_SIM_ROOT_PASSWORD", SIM_PASSWORD)
            .envs(environment.iter().copied())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("labform sim serve starts");
        let (url, fingerprint, plain) = simulator_addresses(&mut child);
        Self {
            child: KillOnDrop(child),
            url,
            fingerprint,
            plain,
        }
    }

    /// Kills the simulator with SIGKILL, at once, and waits for it to end.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `labform ARGS --proxmox URL --fingerprint FP` against this simulator as root@pam, with
    /// labform's state, data and journal in `home`; more arguments may follow.
    pub fn command(&self, home: &std::path::Path, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_labform"));
        command
            .args(args)
            .arg("--proxmox")
            .arg(&self.url)
            .arg("--fingerprint")
            .arg(&self.fingerprint)
            .env("LABFORM_PVE_USER", "root@pam")
            .env("LABFORM_PVE_PASSWORD", SIM_PASSWORD)
            .env_remove("LABFORM_PVE_TOKEN")
            .env("XDG_STATE_HOME", home.join("state"))
            .env("LABFORM_DATA_DIR", home.join("data"));
        command
    }

    /// [`SimServer::command`] run to its end.
    pub fn labform(&self, home: &std::path::Path, args: &[&str]) -> std::process::Output {
        self.command(home, args).output().expect("labform runs")
    }

    /// The real client, pinned to the simulator's certificate, logged in as root@pam.
    pub fn root_client(&self) -> labform_proxmox::Client {
        self.client(labform_proxmox::Auth::Password {
            username: "root@pam".into(),
            password: labform_proxmox::Secret::new(SIM_PASSWORD),
        })
    }

    /// The real client, pinned to the simulator's certificate, with `auth`.
    pub fn client(&self, auth: labform_proxmox::Auth) -> labform_proxmox::Client {
        use labform_proxmox::tls::{Fingerprint, TlsTrust};
        labform_proxmox::Client::new(labform_proxmox::ClientOptions::new(
            self.url.clone(),
            auth,
            TlsTrust::Fingerprint(Fingerprint::parse(&self.fingerprint).expect("fingerprint")),
        ))
        .expect("a client for the simulator")
    }
}

/// Standard output and error of `output`, for assertion messages.
pub fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// What [`serve_file`] answers every request with.
pub enum ServedBody {
    /// These bytes.
    Bytes(std::sync::Arc<Vec<u8>>),
    /// The file at this path, read for each request (a disk image too large to hold).
    File(std::path::PathBuf),
}

impl From<Vec<u8>> for ServedBody {
    fn from(bytes: Vec<u8>) -> Self {
        ServedBody::Bytes(std::sync::Arc::new(bytes))
    }
}

impl From<std::path::PathBuf> for ServedBody {
    fn from(path: std::path::PathBuf) -> Self {
        ServedBody::File(path)
    }
}

/// Serves `body` (bytes, or a file's contents) at any path over plain HTTP on loopback (an image
/// the simulator downloads); returns the port.
pub fn serve_file(body: impl Into<ServedBody>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let body = std::sync::Arc::new(body.into());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let body = std::sync::Arc::clone(&body);
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let header = |length: u64| {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
                    )
                };
                match body.as_ref() {
                    ServedBody::Bytes(bytes) => {
                        let _ = stream.write_all(header(bytes.len() as u64).as_bytes());
                        let _ = stream.write_all(bytes);
                    }
                    ServedBody::File(path) => {
                        let Ok(mut file) = std::fs::File::open(path) else {
                            return;
                        };
                        let length = file.metadata().map(|metadata| metadata.len()).unwrap_or(0);
                        let _ = stream.write_all(header(length).as_bytes());
                        let _ = std::io::copy(&mut file, &mut stream);
                    }
                }
            });
        }
    });
    port
}

/// A multi-threaded Tokio runtime for the tests' async calls (the real client, the stores).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

/// Checks the metrics with Prometheus's own `promtool check metrics`, when the tier can run.
pub fn promtool_accepts(metrics: &str) {
    if !labform_test_tiers::PROMTOOL.available() {
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(metrics.as_bytes())
        .expect("write the metrics");
    let output = child.wait_with_output().expect("promtool ends");
    assert!(
        output.status.success(),
        "promtool refused the metrics: {}{}\n{metrics}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
