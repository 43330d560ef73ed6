//! A root session over plain HTTP to the simulator's server (a ticket and its CSRF token), the
//! way clients other than labform call it.

use super::Recorder;
use labform_proxmox::Secret;
use labform_simulator::server::{RunningServer, ServerOptions, start};
use labform_simulator::{SimConfig, Simulator, Timing};
use serde_json::Value;
use std::net::SocketAddr;

pub const ROOT_PW: &str = "sim-root-password";

/// A root session over plain HTTP: a ticket and its CSRF token.
pub struct Session {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

impl Session {
    pub async fn login(server: &RunningServer) -> Self {
        labform_proxmox::tls::install_default_provider();
        let http = reqwest::Client::new();
        let base = format!("http://{}/api2/json", server.http_addr.unwrap());
        let login: Value = http
            .post(format!("{base}/access/ticket"))
            .form(&[("username", "root@pam"), ("password", ROOT_PW)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            cookie: format!(
                "PVEAuthCookie={}",
                login["data"]["ticket"].as_str().unwrap()
            ),
            csrf: login["data"]["CSRFPreventionToken"]
                .as_str()
                .unwrap()
                .to_owned(),
            http,
            base,
        }
    }

    /// `method path` with form `params`: the status and the JSON body.
    pub async fn call(&self, method: &str, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url).query(params),
            "DELETE" => self.http.delete(url).query(params),
            "POST" => self.http.post(url).form(params),
            _ => self.http.put(url).form(params),
        };
        let response = request
            .header("cookie", &self.cookie)
            .header("CSRFPreventionToken", &self.csrf)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The `data` of a call that must succeed.
    pub async fn ok(&self, method: &str, path: &str, params: &[(&str, &str)]) -> Value {
        let (status, body) = self.call(method, path, params).await;
        assert_eq!(status, 200, "{method} {path}: {body}");
        body["data"].clone()
    }

    /// The status and message of a call that must fail.
    pub async fn fails(&self, method: &str, path: &str, params: &[(&str, &str)]) -> (u16, String) {
        let (status, body) = self.call(method, path, params).await;
        assert_ne!(status, 200, "{method} {path} succeeded: {body}");
        let message = body["message"].as_str().unwrap_or("").trim_end().to_owned();
        (status, message)
    }

    /// Waits until task `upid` has stopped; its exit status.
    pub async fn wait(&self, node: &str, upid: &Value) -> String {
        let upid = upid.as_str().unwrap();
        let path = format!("/nodes/{node}/tasks/{}/status", urlencode(upid));
        loop {
            let status = self.ok("GET", &path, &[]).await;
            if status["status"] == "stopped" {
                return status["exitstatus"].as_str().unwrap().to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn server(rec: &Recorder) -> RunningServer {
    let mut config = SimConfig::cluster(2, Secret::new(ROOT_PW));
    config.timing = Timing::scaled(0.001);
    let sim = Simulator::new(config);
    let options = ServerOptions {
        https: None,
        http: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        observer: Some(rec.observer()),
    };
    start(sim, options).await.unwrap()
}

/// Creates VM `vmid` on pve1 with a 1 GiB disk and waits for it.
pub async fn create_vm(s: &Session, vmid: &str) {
    let upid = s
        .ok(
            "POST",
            "/nodes/pve1/qemu",
            &[
                ("vmid", vmid),
                ("name", "web"),
                ("memory", "1024"),
                ("scsi0", "local-lvm:1"),
            ],
        )
        .await;
    assert_eq!(s.wait("pve1", &upid).await, "OK");
}
