//! `labform serve` end to end, on the built-in simulator (`--sim`, its state kept in the test's
//! own state directory): the pages load and name every VM; each page's JSON is the same document
//! as the CLI's `--json` (`status`, `plan`, `history`), before and after an apply made by another
//! `labform` process, and the status, the diagram and the metrics change with it; the metrics
//! pass `promtool check metrics` (tier `promtool`). An address other than loopback is refused
//! without TLS and a bearer token, and with a token every request needs it (or, from a browser,
//! the session cookie of signing in on `/login`, which no page holds). Headless Chromium
//! loads every page and draws the diagram page (tier `chromium`). Against `labform sim serve`
//! (HTTPS, the real client), a change made by hand shows on `/drift` (the JSON of
//! `drift --json --skip-clusters`), on `/` and in the metrics, and Chromium sees the status
//! change after an apply and the drift after the change by hand. No secret of the secret store or
//! the environment reaches a page, an answer or a metric.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use labform_test_tiers::KillOnDrop;

use labform_ids::{NodeName, VmId};
use labform_proxmox::ProxmoxApi as _;
use labform_proxmox::types::{ConfigUpdate, ResourceType};

mod common;

use common::{SimServer, metric, promtool_accepts};

const LAB: &str = "../../examples/seed-001.yaml";

/// A running `labform serve`, stopped when dropped.
struct Server {
    /// The process, killed when the server is dropped.
    _process: KillOnDrop,
    address: String,
}

fn environment(command: &mut Command, directory: &Path) {
    command
        .env("XDG_STATE_HOME", directory.join("state"))
        .env("LABFORM_DATA_DIR", directory.join("data"))
        .env_remove("LABFORM_SERVE_TOKEN");
}

fn serve(directory: &Path, token: Option<&str>) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_labform"));
    command
        .args([
            "serve",
            "--sim",
            "--no-lock",
            "--listen",
            "127.0.0.1:0",
            LAB,
        ])
        .stdout(Stdio::piped());
    environment(&mut command, directory);
    if let Some(token) = token {
        command.env("LABFORM_SERVE_TOKEN", token);
    }
    let mut child = command.spawn().expect("labform serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("labform serve prints its address");
    let address = line
        .trim()
        .strip_prefix("labform dashboard listening on http://")
        .unwrap_or_else(|| panic!("the address: {line}"))
        .to_owned();
    Server {
        _process: KillOnDrop(child),
        address,
    }
}

/// The CLI with the test's state: its standard output, after checking it succeeded.
fn cli(directory: &Path, args: &[&str]) -> Vec<u8> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_labform"));
    command.args(args);
    environment(&mut command, directory);
    let output: Output = command.output().expect("labform runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// An HTTP/1.1 GET: status code, headers (lower-case names) and body.
fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    common::http(&server.address, "GET", path, headers)
}

fn get_json(server: &Server, path: &str) -> serde_json::Value {
    let (status, head, body) = get(server, path, &[("Accept", "application/json")]);
    assert_eq!(status, 200, "{path}: {body}");
    assert!(head.contains("content-type: application/json"), "{head}");
    serde_json::from_str(&body).expect("JSON")
}

fn cli_json(directory: &Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&cli(directory, args)).expect("the CLI prints JSON")
}

#[test]
fn the_dashboard_shows_the_lab_and_follows_an_apply() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let directory = directory.path();
    let server = serve(directory, None);
    let vms = [
        "home-server-0",
        "home-server-1",
        "home-server-2",
        "home-worker-0",
        "home-worker-1",
    ];

    // Before apply: every VM is missing.
    let (status, head, page) = get(&server, "/", &[]);
    assert_eq!(status, 200, "{page}");
    assert!(head.contains("content-type: text/html"), "{head}");
    for vm in vms {
        assert!(page.contains(&format!("<td>{vm}</td>")), "{vm}: {page}");
    }
    // The summary counts the 5 VMs and the template.
    assert!(page.contains(">missing</span></td><td>6</td>"), "{page}");
    assert!(page.contains(">exists</span></td><td>0</td>"), "{page}");

    // The JSON API answers what the CLI's --json prints.
    let status_args = ["status", "--sim", "--json", "--no-lock", LAB];
    let plan_args = ["plan", "--sim", "--json", "--no-lock", LAB];
    let history_args = ["history", "--sim", "--json", LAB];
    assert_eq!(get_json(&server, "/"), cli_json(directory, &status_args));
    assert_eq!(get_json(&server, "/plan"), cli_json(directory, &plan_args));
    assert_eq!(
        get_json(&server, "/history?format=json"),
        cli_json(directory, &history_args)
    );
    let (status, _, plan_page) = get(&server, "/plan", &[]);
    assert_eq!(status, 200);
    assert!(plan_page.contains("home-server-0"), "{plan_page}");

    let (_, _, metrics) = get(&server, "/metrics", &[]);
    assert_eq!(
        metric(&metrics, "labform_vms{state=\"missing\"}"),
        6.0,
        "{metrics}"
    );
    assert_eq!(metric(&metrics, "labform_vms{state=\"exists\"}"), 0.0);
    assert!(!metrics.contains("labform_last_run_info"), "{metrics}");
    promtool_accepts(&metrics);

    // Another process applies the lab (the simulator's VMs never boot: no K3s).
    cli(
        directory,
        &[
            "apply",
            "--sim",
            "--yes",
            "--skip-clusters",
            "--no-lock",
            LAB,
        ],
    );
    let (_, _, page) = get(&server, "/", &[]);
    assert!(page.contains(">missing</span></td><td>0</td>"), "{page}");
    assert!(page.contains(">exists</span></td><td>6</td>"), "{page}");
    assert!(
        page.contains("<h2>Cluster home (k3s v1.31.4+k3s1): 5 exists</h2>"),
        "{page}"
    );
    assert_eq!(get_json(&server, "/"), cli_json(directory, &status_args));
    assert_eq!(get_json(&server, "/plan"), cli_json(directory, &plan_args));
    let history = get_json(&server, "/history");
    assert_eq!(history, cli_json(directory, &history_args));
    assert_eq!(
        history["runs"].as_array().map(Vec::len),
        Some(1),
        "{history}"
    );
    let (_, _, history_page) = get(&server, "/history", &[]);
    assert!(
        history_page.contains("UPID:"),
        "the actions' tasks: {history_page}"
    );

    let (status, _, diagram) = get(&server, "/diagram", &[]);
    assert_eq!(status, 200);
    assert!(
        diagram.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{diagram}"
    );
    for vm in vms {
        assert!(diagram.contains(&format!("<title>{vm}\n")), "{vm}");
    }
    assert!(diagram.contains("status-exists"), "{diagram}");
    let diagram_json = get_json(&server, "/diagram");
    assert_eq!(
        diagram_json,
        cli_json(
            directory,
            &["diagram", "--sim", "--format", "json", "--no-lock", LAB]
        )
    );
    assert_eq!(diagram_json["live"], true, "{diagram_json}");
    let (status, head, svg) = get(&server, "/diagram/infrastructure", &[]);
    assert_eq!(status, 200);
    assert!(head.contains("content-type: image/svg+xml"), "{head}");
    assert!(svg.starts_with("<svg "));
    assert_eq!(get(&server, "/diagram/nonsense", &[]).0, 404);

    let (_, head, metrics) = get(&server, "/metrics", &[]);
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert_eq!(
        metric(&metrics, "labform_vms{state=\"exists\"}"),
        6.0,
        "{metrics}"
    );
    assert_eq!(metric(&metrics, "labform_vms{state=\"missing\"}"), 0.0);
    assert_eq!(metric(&metrics, "labform_drift_changes"), 0.0);
    assert_eq!(metric(&metrics, "labform_pending_changes"), 0.0);
    assert_eq!(metric(&metrics, "labform_last_run_success"), 1.0);
    assert_eq!(
        metric(
            &metrics,
            "labform_run_duration_seconds_count{command=\"apply\"}"
        ),
        1.0
    );
    // The other process's Proxmox calls, as its run recorded them in the journal.
    assert_eq!(
        metric(
            &metrics,
            "labform_run_proxmox_calls_total{command=\"apply\",endpoint=\"pve\",call=\"clone_vm\"}"
        ),
        5.0,
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "labform_run_proxmox_call_errors_total{command=\"apply\",endpoint=\"pve\",call=\"clone_vm\"}"
        ),
        0.0
    );
    assert!(
        metric(
            &metrics,
            "labform_proxmox_requests_total{endpoint=\"pve\",kind=\"read\",caller=\"dashboard\"}"
        ) > 0.0
    );
    assert_eq!(
        metric(
            &metrics,
            "labform_proxmox_requests_total{endpoint=\"pve\",kind=\"write\",caller=\"dashboard\"}"
        ),
        0.0,
        "the dashboard only reads"
    );
    promtool_accepts(&metrics);
}

#[test]
fn other_addresses_need_tls_and_a_token() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let mut command = Command::new(env!("CARGO_BIN_EXE_labform"));
    command.args(["serve", "--sim", "--no-lock", "--listen", "0.0.0.0:0", LAB]);
    environment(&mut command, directory.path());
    command.env("LABFORM_SERVE_TOKEN", "a-token-of-the-test");
    let output = command.output().expect("labform runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refuses to listen on 0.0.0.0:0") && stderr.contains("missing: TLS"),
        "{stderr}"
    );
}

#[test]
fn with_a_token_every_request_needs_it() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let token = "a-token-of-the-test-0123456789";
    let server = serve(directory.path(), Some(token));
    for path in ["/", "/metrics", "/history", "/diagram/clusters"] {
        let (status, head, body) = get(&server, path, &[]);
        assert_eq!(status, 401, "{path}");
        assert!(head.contains("www-authenticate: bearer"), "{head}");
        assert!(!body.contains(token));
        let wrong = get(&server, path, &[("Authorization", "Bearer not-the-token")]);
        assert_eq!(wrong.0, 401, "{path}");
    }
    let bearer = format!("Bearer {token}");
    let (status, _, metrics) = get(&server, "/metrics", &[("Authorization", &bearer)]);
    assert_eq!(status, 200);
    assert!(!metrics.contains(token));
}

#[test]
fn a_browser_signs_in_with_the_token_and_no_page_holds_it() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let token = "a-token-of-the-test-0123456789";
    let server = serve(directory.path(), Some(token));
    // A browser without a session gets the sign-in form (still 401), which holds no token.
    let (status, head, page) = get(&server, "/controller", &[("Accept", "text/html")]);
    assert_eq!(status, 401);
    assert!(head.contains("www-authenticate: bearer"), "{head}");
    assert!(
        page.contains("<form method=\"post\" action=\"/login\">"),
        "{page}"
    );
    assert!(!page.contains(token));
    let (status, _, page) = get(&server, "/login", &[]);
    assert_eq!(status, 200, "the form needs no token");
    assert!(page.contains("id=\"sign-in\""), "{page}");
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let (status, _, page) = common::http_with_body(
        &server.address,
        "POST",
        "/login",
        &form,
        "token=not-the-token",
    );
    assert_eq!(status, 401);
    assert!(page.contains("id=\"login-error\""), "{page}");
    let (status, head, _) = common::http_with_body(
        &server.address,
        "POST",
        "/login",
        &[form[0], ("Origin", "https://elsewhere.invalid")],
        &format!("token={token}"),
    );
    assert_eq!(status, 403, "another site cannot sign a browser in");
    assert!(!head.contains("set-cookie"), "{head}");

    let cookie = common::sign_in(&server.address, token);
    let value = cookie.trim_start_matches("labform_session=");
    for path in ["/", "/history", "/metrics", "/diagram/clusters"] {
        let (status, _, body) = get(&server, path, &[("Cookie", &cookie)]);
        assert_eq!(status, 200, "{path}: {body}");
        assert!(!body.contains(token), "{path}");
        assert!(!body.contains(value), "{path}");
    }
    let forged = format!("labform_session={token}");
    assert_eq!(get(&server, "/", &[("Cookie", &forged)]).0, 401);
}

/// curl, trusting only `certificate`: status code and body.
fn curl(certificate: &Path, url: &str, token: Option<&str>) -> (String, String) {
    let mut command = Command::new("curl");
    command
        .args(["--silent", "--show-error", "--cacert"])
        .arg(certificate)
        .args(["--write-out", "\n%{http_code}"]);
    if let Some(token) = token {
        command.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    let output = command.arg(url).output().expect("curl runs");
    assert!(
        output.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let (body, code) = text.rsplit_once('\n').expect("the status code");
    (code.to_owned(), body.to_owned())
}

/// On every address, with TLS and a token: curl verifies the certificate it was given, and a
/// request without the token is refused.
#[test]
fn with_tls_and_a_token_it_listens_on_every_address() {
    if !labform_test_tiers::HTTPS_CLIENTS.available() {
        return;
    }
    let directory = tempfile::tempdir().expect("temporary directory");
    let directory = directory.path();
    let certificate = directory.join("dashboard.pem");
    let key = directory.join("dashboard-key.pem");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=labform dashboard"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&certificate)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let token = "a-token-of-the-tls-test-0123456789";
    let mut command = Command::new(env!("CARGO_BIN_EXE_labform"));
    command
        .args(["serve", "--sim", "--no-lock", "--listen", "0.0.0.0:0"])
        .arg("--tls-certificate")
        .arg(&certificate)
        .arg("--tls-key")
        .arg(&key)
        .arg(LAB)
        .stdout(Stdio::piped());
    environment(&mut command, directory);
    command.env("LABFORM_SERVE_TOKEN", token);
    let mut child = command.spawn().expect("labform serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("labform serve prints its address");
    let server = Server {
        _process: KillOnDrop(child),
        address: String::new(),
    };
    let port = line
        .trim()
        .strip_prefix("labform dashboard listening on https://0.0.0.0:")
        .unwrap_or_else(|| panic!("the address: {line}"))
        .to_owned();
    let url = format!("https://127.0.0.1:{port}/metrics");
    let (code, _) = curl(&certificate, &url, None);
    assert_eq!(code, "401");
    let (code, metrics) = curl(&certificate, &url, Some(token));
    assert_eq!(code, "200", "{metrics}");
    assert_eq!(metric(&metrics, "labform_lab_up"), 1.0, "{metrics}");
    drop(server);
}

/// Headless Chromium (as root it needs `--no-sandbox`) with `arguments`, then `url`.
fn chromium(arguments: &[&str], url: &str) -> Vec<u8> {
    let output = Command::new("/usr/bin/chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(arguments)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Chromium loads every page, and the diagram page's document, as the browser built it, has a
/// box for each VM and template with its live status and name, inside the drawn SVG; a
/// screenshot of it is a PNG of the window's size.
#[test]
fn headless_chromium_loads_the_pages_and_draws_the_diagram() {
    if !labform_test_tiers::CHROMIUM.available() {
        return;
    }
    let directory = tempfile::tempdir().expect("temporary directory");
    let directory = directory.path();
    let server = serve(directory, None);
    let base = format!("http://{}", server.address);
    for (path, expected) in [
        ("/", "<table id=\"summary\">"),
        ("/plan", "<pre id=\"changes\">"),
        ("/history", "No runs recorded."),
        ("/metrics", "labform_lab_up 1"),
    ] {
        let dom =
            String::from_utf8(chromium(&["--dump-dom"], &format!("{base}{path}"))).expect("UTF-8");
        assert!(dom.contains(expected), "{path}: {dom}");
    }
    let dom =
        String::from_utf8(chromium(&["--dump-dom"], &format!("{base}/diagram"))).expect("UTF-8");
    let (_, svg) = dom.split_once("<svg").expect("the diagram is drawn inline");
    let boxes = svg.matches("class=\"box vm status-missing\"").count();
    assert_eq!(boxes, 6, "5 VMs and a template, all missing: {svg}");
    for vm in ["home-server-0", "home-worker-1", "tpl-"] {
        assert!(svg.contains(&format!("<title>{vm}")), "{vm}: {svg}");
    }
    let screenshot = directory.join("diagram.png");
    chromium(
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1400,1000",
        ],
        &format!("{base}/diagram"),
    );
    let png = std::fs::read(&screenshot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    // The IHDR chunk: width and height, big-endian, at bytes 16 to 24.
    let width = u32::from_be_bytes(png[16..20].try_into().expect("four bytes"));
    let height = u32::from_be_bytes(png[20..24].try_into().expect("four bytes"));
    assert_eq!((width, height), (1400, 1000));
}

/// The page at `path` as headless Chromium built it (tier `chromium`; `None` without it).
fn browser(server: &Server, path: &str) -> Option<String> {
    if !labform_test_tiers::CHROMIUM.available() {
        return None;
    }
    let dom = chromium(&["--dump-dom"], &format!("http://{}{path}", server.address));
    Some(String::from_utf8(dom).expect("UTF-8"))
}

/// A VM's memory changed by hand on `labform sim serve` shows on `/drift` (what
/// `drift --json --skip-clusters` prints), as drifted on `/` and in the metrics; headless
/// Chromium sees the status change with the apply and the drift with the change by hand.
#[test]
fn a_change_by_hand_shows_as_drift() {
    // `labform sim serve` shaped like the lab's endpoint.
    let simulator = SimServer::start(&["--lab", LAB, "--time-scale", "0.02"]);
    let directory = tempfile::tempdir().expect("temporary directory");
    let directory = directory.path();
    let run = |args: &[&str]| {
        let mut command = simulator.command(directory, args);
        command
            .args(["--no-lock", LAB])
            .env_remove("LABFORM_SERVE_TOKEN");
        command
    };
    let mut command = run(&["serve", "--listen", "127.0.0.1:0"]);
    command.stdout(Stdio::piped());
    let mut child = command.spawn().expect("labform serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("labform serve prints its address");
    let server = Server {
        _process: KillOnDrop(child),
        address: line
            .trim()
            .strip_prefix("labform dashboard listening on http://")
            .unwrap_or_else(|| panic!("the address: {line}"))
            .to_owned(),
    };
    if let Some(dom) = browser(&server, "/") {
        assert!(dom.contains(">missing</span></td><td>6</td>"), "{dom}");
    }
    let output = run(&["apply", "--yes", "--skip-clusters"])
        .output()
        .expect("labform runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    if let Some(dom) = browser(&server, "/") {
        assert!(dom.contains(">exists</span></td><td>6</td>"), "{dom}");
    }
    if let Some(dom) = browser(&server, "/drift") {
        assert!(dom.contains("<p id=\"no-drift\">"), "{dom}");
    }
    let drift_cli = || -> serde_json::Value {
        let output = run(&["drift", "--json", "--skip-clusters"])
            .output()
            .expect("labform runs");
        serde_json::from_slice(&output.stdout).expect("drift prints JSON")
    };
    let before = get_json(&server, "/drift");
    assert_eq!(before, drift_cli());
    assert_eq!(before["drift"], serde_json::json!([]), "{before}");
    let (_, _, page) = get(&server, "/drift", &[]);
    assert!(page.contains("<p id=\"no-drift\">"), "{page}");

    // By hand: home-server-0's memory.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let client = simulator.root_client();
    let resources = runtime
        .block_on(client.cluster_resources(Some(ResourceType::Vm)))
        .expect("the VMs");
    let server_0 = resources
        .iter()
        .find(|resource| resource.name.as_deref() == Some("home-server-0"))
        .expect("home-server-0 exists");
    runtime
        .block_on(client.update_vm_config_sync(
            &NodeName::new(server_0.node.clone().expect("a node")),
            VmId::new(server_0.vmid.expect("an ID") as u32).expect("a VM ID"),
            &ConfigUpdate::new().set("memory", 1024),
        ))
        .expect("memory changed by hand");

    let after = get_json(&server, "/drift");
    assert_eq!(after, drift_cli());
    assert_eq!(after["drift"][0]["name"], "home-server-0", "{after}");
    let (_, _, page) = get(&server, "/drift", &[]);
    assert!(page.contains("<td>home-server-0</td>"), "{page}");
    assert!(page.contains("<td>1024</td>"), "Proxmox's value: {page}");
    let (_, _, page) = get(&server, "/", &[]);
    assert!(page.contains(">drifted</span></td><td>1</td>"), "{page}");
    if let Some(dom) = browser(&server, "/drift") {
        assert!(dom.contains("<td>home-server-0</td>"), "{dom}");
        assert!(dom.contains("<td>1024</td>"), "{dom}");
    }
    if let Some(dom) = browser(&server, "/") {
        assert!(dom.contains(">drifted</span></td><td>1</td>"), "{dom}");
    }
    let (_, _, metrics) = get(&server, "/metrics", &[]);
    assert!(
        metric(&metrics, "labform_drift_changes") >= 1.0,
        "{metrics}"
    );
    assert_eq!(metric(&metrics, "labform_vms{state=\"drifted\"}"), 1.0);
    promtool_accepts(&metrics);
}

/// Seed 000 (tenants with API tokens, SSH host keys, secrets from the environment) applied on the
/// built-in simulator: no line of any secret in labform's store, and no secret the lab reads
/// from the environment, is in any page, JSON answer, diagram or metric.
#[test]
fn no_secret_reaches_a_page_an_answer_or_a_metric() {
    let lab = "../../examples/seed-000.yaml";
    let directory = tempfile::tempdir().expect("temporary directory");
    let directory = directory.path();
    let sentinels = [
        ("GITLAB_ROOT_PASSWORD", "sentinel-gitlab-root-password-7f3a"),
        ("PVE_TOKEN_SECRET", "sentinel-pve-token-secret-91c2"),
        ("CLOUDFLARE_API_TOKEN", "sentinel-cloudflare-token-55d0"),
    ];
    let labform = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_labform"));
        command.args(args).args(["--sim", "--no-lock", lab]);
        environment(&mut command, directory);
        for (name, value) in sentinels {
            command.env(name, value);
        }
        command
    };
    let output = labform(&["apply", "--yes", "--skip-clusters"])
        .output()
        .expect("labform runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let store = labform_secrets::SecretStore::open(&directory.join("data")).expect("the store");
    let mut secrets: Vec<String> = sentinels
        .iter()
        .map(|(_, value)| value.to_string())
        .collect();
    let keys = store.keys().expect("the store's keys");
    assert!(
        keys.iter()
            .any(|key| key.as_str().starts_with("proxmox-token/")),
        "the tenants' tokens are kept: {keys:?}"
    );
    for key in keys {
        let value = store.get(&key).expect("readable").expect("kept");
        let value = labform_secrets::ExposeSecret::expose_secret(&value).to_owned();
        // A key's PEM lines, a token whole.
        secrets.extend(
            value
                .lines()
                .map(str::trim)
                .filter(|line| line.len() >= 16 && !line.starts_with("-----"))
                .map(str::to_owned),
        );
    }

    let mut command = labform(&["serve", "--listen", "127.0.0.1:0"]);
    command.stdout(Stdio::piped());
    let mut child = command.spawn().expect("labform serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("labform serve prints its address");
    let server = Server {
        _process: KillOnDrop(child),
        address: line
            .trim()
            .strip_prefix("labform dashboard listening on http://")
            .unwrap_or_else(|| panic!("the address: {line}"))
            .to_owned(),
    };
    let mut answers = Vec::new();
    for path in [
        "/",
        "/plan",
        "/drift",
        "/history",
        "/diagram",
        "/diagram/all",
        "/metrics",
    ] {
        let (status, _, body) = get(&server, path, &[]);
        assert_eq!(status, 200, "{path}: {body}");
        answers.push((path.to_owned(), body));
        let (_, _, body) = get(&server, path, &[("Accept", "application/json")]);
        answers.push((format!("{path} (JSON)"), body));
    }
    assert!(answers[0].1.contains("alice"), "the tenants are shown");
    for (path, body) in &answers {
        for secret in &secrets {
            assert!(!body.contains(secret.as_str()), "{path} shows a secret");
        }
    }
}
