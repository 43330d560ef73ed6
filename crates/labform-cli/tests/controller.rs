//! `labform serve --git` as a controller, end to end, against Git repositories served on
//! loopback and the Proxmox simulators (tier `git-servers`: the `git` program, `openssl`, and
//! Python for Git's smart-HTTP server `git http-backend` behind TLS):
//!
//! - over HTTPS with a certificate signed by a test CA: refused without `--git-ca`, and with it,
//!   automatically, a commit that grows the lab is applied in the round after the push, a commit
//!   whose lab has errors is refused with the located error on `/controller` while the lab stays
//!   as it was, and reverting both shrinks the lab again; every run is in the journal with its
//!   commit, and the controller's Proxmox calls move in `/metrics` (promtool accepts them);
//! - in approval mode (a local repository, a bearer token), nothing is applied until the pending
//!   commit is approved with `POST /controller/approve`, which needs the token, the right commit
//!   and the dashboard's own origin;
//! - over SSH against a real `sshd` on loopback (tier `real-sshd`): a known_hosts file holding
//!   another key is refused, the right one fetches;
//! - two replicas with `--lease` against the real kube-apiserver of `../shared/k8s` (tier
//!   `real-kubernetes`), sharing one `labform sim serve`: one leads and applies, the other only
//!   watches; SIGKILL of the leader makes the other take over once the Lease expires, and SIGTERM
//!   releases the Lease. The Deployment manifests in `deploy/kubernetes/` are applied to that
//!   server and the ServiceAccount's permissions checked.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{SIM_PASSWORD, SimServer, http, metric, promtool_accepts};

const LAB: &str = include_str!("../../../examples/seed-001.yaml");
/// The worker group of seed 001, and the same group one worker larger.
const WORKERS: &str = "      - name: worker\n        count: 2\n";
const MORE_WORKERS: &str = "      - name: worker\n        count: 3\n";
/// How long any wait may take (the machines these tests run on are shared and slow).
const LIMIT: Duration = Duration::from_secs(240);

fn lab_with_more_workers() -> String {
    assert!(LAB.contains(WORKERS), "seed 001 has two workers");
    LAB.replacen(WORKERS, MORE_WORKERS, 1)
}

fn broken_lab() -> String {
    LAB.replacen("  - name: home\n", "  - name: Home_Lab\n", 1)
}

fn run(directory: &Path, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(directory)
        .env("GIT_AUTHOR_NAME", "labform test")
        .env("GIT_AUTHOR_EMAIL", "test@labform.invalid")
        .env("GIT_COMMITTER_NAME", "labform test")
        .env("GIT_COMMITTER_EMAIL", "test@labform.invalid")
        .output()
        .unwrap_or_else(|error| panic!("{program} runs: {error}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        common::output_text(&output)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A bare repository (`lab.git`) and a clone to commit in.
struct Repository {
    bare: PathBuf,
    work: PathBuf,
}

impl Repository {
    /// Makes the repository under `root` with seed 001 as `lab.yaml` in its first commit.
    fn new(root: &Path) -> (Self, String) {
        let bare = root.join("lab.git");
        let work = root.join("work");
        run(
            root,
            "git",
            &["init", "--quiet", "--bare", "-b", "main", "lab.git"],
        );
        run(root, "git", &["init", "--quiet", "-b", "main", "work"]);
        let repository = Repository { bare, work };
        let first = repository.commit(LAB, "seed 001: three servers, two workers");
        (repository, first)
    }

    fn push(&self) -> String {
        let bare = self.bare.display().to_string();
        run(&self.work, "git", &["push", "--quiet", &bare, "main"]);
        run(&self.work, "git", &["rev-parse", "HEAD"])
    }

    /// Commits `lab` as `lab.yaml` and pushes it: the commit's hash.
    fn commit(&self, lab: &str, message: &str) -> String {
        std::fs::write(self.work.join("lab.yaml"), lab).expect("write the lab");
        run(&self.work, "git", &["add", "lab.yaml"]);
        run(&self.work, "git", &["commit", "--quiet", "-m", message]);
        self.push()
    }

    /// Reverts `commit` and pushes: the new commit's hash.
    fn revert(&self, commit: &str) -> String {
        run(&self.work, "git", &["revert", "--no-edit", commit]);
        self.push()
    }
}

/// A running `labform serve --git`, killed when dropped.
struct Controller {
    child: Child,
    address: String,
    token: Option<String>,
    log: PathBuf,
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `labform serve ARGS` with labform's state in `home` (its output in `home/serve.log`).
fn controller(home: &Path, args: &[&str], environment: &[(&str, &str)]) -> Controller {
    std::fs::create_dir_all(home).expect("home");
    let log = home.join("serve.log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_labform"));
    command
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("LABFORM_DATA_DIR", home.join("data"))
        .env_remove("LABFORM_SERVE_TOKEN")
        .env_remove("LABFORM_PVE_TOKEN")
        .env_remove("POD_NAME")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"));
    let mut token = None;
    for (name, value) in environment {
        command.env(name, value);
        if *name == "LABFORM_SERVE_TOKEN" {
            token = Some((*value).to_owned());
        }
    }
    let mut child = command.spawn().expect("labform serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("labform serve prints its address");
    let address = line
        .trim()
        .strip_prefix("labform dashboard listening on http://")
        .unwrap_or_else(|| {
            panic!(
                "the address: {line}{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
        .to_owned();
    Controller {
        child,
        address,
        token,
        log,
    }
}

impl Controller {
    fn get(&self, path: &str) -> (u16, String, String) {
        let bearer = self.token.as_ref().map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|bearer| ("Authorization", bearer.as_str()))
            .collect();
        http(&self.address, "GET", path, &headers)
    }

    /// `/controller`'s JSON.
    fn status(&self) -> serde_json::Value {
        let (status, _, body) = self.get("/controller?format=json");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("JSON")
    }

    fn metrics(&self) -> String {
        let (status, _, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `check` holds for `/controller`'s JSON: that JSON.
    fn wait(&self, what: &str, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let status = self.status();
            if check(&status) {
                return status;
            }
            assert!(
                started.elapsed() < LIMIT,
                "{what} did not happen; /controller says {status:#}\nthe server's output:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn wait_applied(&self, commit: &str) -> serde_json::Value {
        self.wait(&format!("commit {commit} applied"), |status| {
            status["controller"]["last_apply"]["commit"] == commit
        })
    }

    /// Waits until a fetch failed: git's error. No commit is in use then.
    fn fetch_refused(&self) -> String {
        let status = self.wait("the fetch refused", |status| {
            status["controller"]["fetch_error"].is_string()
        });
        assert!(status["controller"]["current"].is_null(), "{status:#}");
        status["controller"]["fetch_error"]
            .as_str()
            .expect("a text")
            .to_owned()
    }

    /// Rounds done so far (worked and failed).
    fn rounds(status: &serde_json::Value) -> u64 {
        let syncs = &status["controller"]["syncs"];
        syncs[0].as_u64().expect("a count") + syncs[1].as_u64().expect("a count")
    }

    fn existing(&self) -> f64 {
        metric(&self.metrics(), "labform_vms{state=\"exists\"}")
    }
}

/// A test CA and a certificate for 127.0.0.1 signed by it, made by `openssl`: (CA, certificate,
/// key) paths.
fn certificates(directory: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=labform test CA",
    ]);
    run(directory, "openssl", &ca);
    let mut request = vec!["req"];
    request.extend(ec);
    request.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(directory, "openssl", &request);
    std::fs::write(
        directory.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\n",
    )
    .expect("write");
    run(
        directory,
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    (
        directory.join("ca.pem"),
        directory.join("server.pem"),
        directory.join("server.key"),
    )
}

/// `git http-backend` over HTTPS on loopback, serving the repositories under a directory.
struct GitHttps {
    child: Child,
    port: u16,
}

impl Drop for GitHttps {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn git_https(root: &Path, certificate: &Path, key: &Path) -> GitHttps {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/controller/git_https.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(root)
        .arg(certificate)
        .arg(key)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the Git HTTPS server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("it prints its port");
    let port = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("its port: {line}"));
    GitHttps { child, port }
}

#[test]
fn automatic_mode_over_https_applies_refuses_and_reverts() {
    if !labform_test_tiers::GIT_SERVERS.available() {
        return;
    }
    let directory = tempfile::tempdir().expect("temporary directory");
    let root = directory.path();
    let (repository, first) = Repository::new(root);
    let (ca, certificate, key) = certificates(root);
    let server = git_https(root, &certificate, &key);
    let url = format!("https://127.0.0.1:{}/lab.git", server.port);

    // Without the CA, the server's certificate is not trusted: nothing is fetched.
    let untrusting = controller(
        &root.join("untrusting"),
        &["--sim", "--git", &url, "--interval", "1h"],
        &[],
    );
    let error = untrusting.fetch_refused();
    assert!(error.contains("certificate"), "{error}");
    drop(untrusting);

    let ca = ca.display().to_string();
    let served = controller(
        &root.join("controller"),
        &[
            "--sim",
            "--git",
            &url,
            "--git-ca",
            &ca,
            "--apply",
            "automatic",
            "--interval",
            "2s",
        ],
        &[],
    );
    let status = served.wait_applied(&first);
    assert_eq!(status["controller"]["last_apply"]["outcome"], "ok");
    assert_eq!(status["runs"][0]["revision"], first.as_str());
    assert_eq!(status["runs"][0]["command"], "apply");
    let built = served.existing();
    assert!(built >= 6.0, "five VMs and a template: {built}");
    let metrics = served.metrics();
    let clones =
        "labform_proxmox_calls_total{endpoint=\"pve\",call=\"clone_vm\",caller=\"controller\"}";
    assert_eq!(metric(&metrics, clones), 5.0);

    // A commit that grows the lab is applied in the round after the push.
    let rounds = Controller::rounds(&served.status());
    let grown = repository.commit(&lab_with_more_workers(), "a third worker");
    let status = served.wait_applied(&grown);
    assert_eq!(status["controller"]["last_apply"]["outcome"], "ok");
    assert!(
        Controller::rounds(&status) <= rounds + 1,
        "applied within one interval of the push: {rounds} rounds before, {status:#}"
    );
    assert_eq!(served.existing(), built + 1.0);
    assert_eq!(status["runs"][0]["revision"], grown.as_str());
    let metrics = served.metrics();
    assert_eq!(metric(&metrics, clones), 6.0);
    assert_eq!(
        metric(
            &metrics,
            &format!("labform_controller_commit_info{{commit=\"{grown}\"}}")
        ),
        1.0
    );

    // A commit whose lab has errors is refused, located; the lab stays as it was.
    let broken = repository.commit(&broken_lab(), "a cluster name that is not DNS-safe");
    let status = served.wait("the broken commit refused", |status| {
        status["controller"]["refused"]["commit"] == broken.as_str()
    });
    let errors = status["controller"]["refused"]["errors"].as_str().unwrap();
    assert!(errors.contains("--> lab.yaml:47:11"), "{errors}");
    assert!(errors.contains("clusters[0].name"), "{errors}");
    assert_eq!(status["controller"]["current"]["commit"], grown.as_str());
    let refusal = &status["runs"][0];
    assert_eq!(refusal["command"], "controller");
    assert_eq!(refusal["revision"], broken.as_str());
    assert!(
        refusal["outcome"].as_str().unwrap().starts_with("refused"),
        "{refusal}"
    );
    let (code, _, page) = served.get("/controller");
    assert_eq!(code, 200);
    assert!(page.contains("Commit refused"), "{page}");
    assert!(page.contains("Home_Lab"), "{page}");
    // Two more rounds on the lab at the grown commit: nothing changes.
    let rounds = Controller::rounds(&status);
    let status = served.wait("two more rounds", |status| {
        Controller::rounds(status) >= rounds + 2
    });
    assert_eq!(status["controller"]["last_apply"]["commit"], grown.as_str());
    assert_eq!(served.existing(), built + 1.0);
    let metrics = served.metrics();
    assert_eq!(metric(&metrics, "labform_controller_refused_commit"), 1.0);
    assert_eq!(
        metric(&metrics, "labform_controller_refused_commits_total"),
        1.0
    );

    // Reverting both: the lab shrinks back.
    repository.revert(&broken);
    let reverted = repository.revert(&grown);
    let status = served.wait_applied(&reverted);
    assert_eq!(status["controller"]["last_apply"]["outcome"], "ok");
    assert!(status["controller"]["refused"].is_null());
    assert_eq!(served.existing(), built);
    let metrics = served.metrics();
    assert_eq!(
        metric(
            &metrics,
            "labform_proxmox_calls_total{endpoint=\"pve\",call=\"delete_vm\",caller=\"controller\"}"
        ),
        1.0
    );
    assert!(
        metric(
            &metrics,
            "labform_proxmox_requests_total{endpoint=\"pve\",kind=\"write\",caller=\"controller\"}"
        ) > 0.0
    );
    promtool_accepts(&metrics);
}

#[test]
fn approval_mode_applies_only_what_was_approved() {
    if !labform_test_tiers::GIT_SERVERS.available() {
        return;
    }
    let directory = tempfile::tempdir().expect("temporary directory");
    let root = directory.path();
    let (_repository, first) = Repository::new(root);
    let bare = root.join("lab.git").display().to_string();
    let token = "controller-test-token";
    let served = controller(
        &root.join("controller"),
        &["--sim", "--git", &bare, "--interval", "1s"],
        &[("LABFORM_SERVE_TOKEN", token)],
    );
    let status = served.wait("the first commit waiting for approval", |status| {
        status["controller"]["pending"]["commit"] == first.as_str()
    });
    let changes = status["controller"]["pending"]["changes"].as_str().unwrap();
    assert!(changes.contains("home-worker-1"), "{changes}");
    // More rounds: still waiting, nothing made.
    let rounds = Controller::rounds(&status);
    let status = served.wait("two more rounds", |status| {
        Controller::rounds(status) >= rounds + 2
    });
    assert_eq!(status["controller"]["pending"]["commit"], first.as_str());
    assert!(status["controller"]["last_apply"].is_null());
    assert_eq!(status["runs"], serde_json::json!([]));
    assert_eq!(served.existing(), 0.0);
    assert_eq!(
        metric(&served.metrics(), "labform_controller_pending_approval"),
        1.0
    );
    let (_, _, page) = served.get("/controller");
    assert!(page.contains("id=\"approve\""), "{page}");
    assert!(
        page.contains(&format!("/controller/approve?commit={first}")),
        "{page}"
    );

    let approve = format!("/controller/approve?commit={first}");
    let bearer = format!("Bearer {token}");
    let (code, _, _) = http(&served.address, "POST", &approve, &[]);
    assert_eq!(code, 401, "the token is needed");
    let (code, _, _) = http(
        &served.address,
        "POST",
        &approve,
        &[
            ("Authorization", &bearer),
            ("Origin", "https://elsewhere.invalid"),
        ],
    );
    assert_eq!(code, 403, "another site's page cannot approve");
    let (code, _, body) = http(
        &served.address,
        "POST",
        "/controller/approve?commit=0000000000000000000000000000000000000000",
        &[("Authorization", &bearer)],
    );
    assert_eq!(code, 409, "{body}");
    let (code, head, _) = http(
        &served.address,
        "POST",
        &approve,
        &[("Authorization", &bearer)],
    );
    assert_eq!(code, 303);
    assert!(head.contains("location: /controller"), "{head}");

    let status = served.wait_applied(&first);
    assert_eq!(status["controller"]["last_apply"]["outcome"], "ok");
    assert!(status["controller"]["pending"].is_null());
    assert_eq!(status["runs"][0]["revision"], first.as_str());
    assert!(served.existing() >= 6.0);
    let (_, _, history) = served.get("/history");
    assert!(history.contains(&first[..12]), "{history}");
}

/// A key pair made by `ssh-keygen`: the private key's path and the public key's line.
fn ssh_key(directory: &Path, name: &str) -> (PathBuf, String) {
    let path = directory.join(name);
    run(
        directory,
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", name],
    );
    let public = std::fs::read_to_string(directory.join(format!("{name}.pub"))).expect("public");
    (path, public.trim().to_owned())
}

/// A real sshd on loopback letting the current user in with `client`: the process and its port.
fn sshd(directory: &Path, host_key: &Path, client: &str) -> (Child, u16) {
    let authorized = directory.join("authorized_keys");
    std::fs::write(&authorized, format!("{client}\n")).expect("write");
    let user = run(directory, "id", &["-un"]);
    labform_test_tiers::start_sshd(directory, host_key, &authorized, &user)
}

#[test]
fn ssh_needs_the_pinned_host_key() {
    if !labform_test_tiers::GIT_SERVERS.available() || !labform_test_tiers::REAL_SSHD.available() {
        return;
    }
    let directory = tempfile::tempdir().expect("temporary directory");
    let root = directory.path();
    let (_repository, first) = Repository::new(root);
    let (host_key, host_public) = ssh_key(root, "host_key");
    let (_, other_public) = ssh_key(root, "other_host_key");
    let (client_key, client_public) = ssh_key(root, "client_key");
    let (mut server, port) = sshd(root, &host_key, &client_public);
    let user = run(root, "id", &["-un"]);
    let url = format!(
        "ssh://{user}@127.0.0.1:{port}{}",
        root.join("lab.git").display()
    );
    let known = |name: &str, public: &str| {
        let path = root.join(name);
        std::fs::write(&path, format!("[127.0.0.1]:{port} {public}\n")).expect("write");
        path.display().to_string()
    };
    let wrong = known("wrong_known_hosts", &other_public);
    let right = known("known_hosts", &host_public);
    let client_key = client_key.display().to_string();

    let refusing = controller(
        &root.join("refusing"),
        &[
            "--sim",
            "--git",
            &url,
            "--git-known-hosts",
            &wrong,
            "--git-ssh-key",
            &client_key,
            "--interval",
            "1h",
        ],
        &[],
    );
    let error = refusing.fetch_refused();
    assert!(error.contains("Host key verification failed"), "{error}");
    drop(refusing);

    let fetching = controller(
        &root.join("fetching"),
        &[
            "--sim",
            "--git",
            &url,
            "--git-known-hosts",
            &right,
            "--git-ssh-key",
            &client_key,
            "--interval",
            "1h",
        ],
        &[],
    );
    let status = fetching.wait("the commit checked", |status| {
        status["controller"]["current"]["commit"] == first.as_str()
    });
    assert!(status["controller"]["fetch_error"].is_null(), "{status:#}");
    drop(fetching);
    let _ = server.kill();
    let _ = server.wait();
}

/// Sends SIGTERM to `child` (as Kubernetes stops a pod) and waits for it to end.
fn terminate(child: &mut Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let _ = child.wait();
}

#[test]
fn two_replicas_elect_one_leader_and_the_other_takes_over() {
    if !labform_test_tiers::GIT_SERVERS.available()
        || !labform_test_tiers::REAL_KUBERNETES.available()
    {
        return;
    }
    let cluster = labform_kube_real::RealCluster::shared();
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes");
    let applied = cluster
        .kubectl(&["apply", "-f", &deploy.display().to_string()])
        .expect("the API server takes the deployment's manifests");
    assert!(
        applied.contains("deployment.apps/labform-controller"),
        "{applied}"
    );
    let service_account = "system:serviceaccount:labform:labform-controller";
    for (verb, resource, allowed) in [
        ("get", "leases", "yes"),
        ("create", "leases", "yes"),
        ("update", "leases", "yes"),
        ("delete", "leases", "no"),
        ("get", "pods", "no"),
        ("get", "secrets", "no"),
    ] {
        // `kubectl auth can-i` prints `yes`, or exits 1 for `no`.
        let answer = match cluster.kubectl(&[
            "auth",
            "can-i",
            verb,
            resource,
            "-n",
            "labform",
            "--as",
            service_account,
        ]) {
            Ok(answer) => answer.trim().to_owned(),
            Err(refused) if refused.trim_end().ends_with("failed:") => "no".to_owned(),
            Err(error) => panic!("{error}"),
        };
        assert_eq!(answer, allowed, "{verb} {resource}");
    }

    let directory = tempfile::tempdir().expect("temporary directory");
    let root = directory.path();
    let (repository, first) = Repository::new(root);
    let kubeconfig = root.join("kubeconfig");
    std::fs::write(&kubeconfig, cluster.admin_kubeconfig()).expect("write");
    let lab_file = root.join("lab-shape.yaml");
    std::fs::write(&lab_file, LAB).expect("write");
    let simulator = SimServer::start(&[
        "--lab",
        &lab_file.display().to_string(),
        "--time-scale",
        "0",
    ]);
    let bare = root.join("lab.git").display().to_string();
    let kubeconfig = kubeconfig.display().to_string();
    let replica = |identity: &str| {
        controller(
            &root.join(identity),
            &[
                "--proxmox",
                &simulator.url,
                "--fingerprint",
                &simulator.fingerprint,
                "--git",
                &bare,
                "--apply",
                "automatic",
                "--interval",
                "1s",
                "--skip-clusters",
                "--lease",
                "labform/labform-controller",
                "--lease-kubeconfig",
                &kubeconfig,
                "--lease-duration",
                "6s",
                "--identity",
                identity,
            ],
            &[
                ("LABFORM_PVE_USER", "root@pam"),
                ("LABFORM_PVE_PASSWORD", SIM_PASSWORD),
            ],
        )
    };
    let holder = || {
        cluster
            .kubectl(&[
                "get",
                "lease",
                "-n",
                "labform",
                "labform-controller",
                "-o",
                "jsonpath={.spec.holderIdentity}",
            ])
            .unwrap_or_default()
    };

    let mut first_replica = replica("replica-a");
    let status = first_replica.wait_applied(&first);
    assert_eq!(status["controller"]["leader"], true);
    assert_eq!(status["controller"]["last_apply"]["outcome"], "ok");
    assert_eq!(holder(), "replica-a");

    let mut second_replica = replica("replica-b");
    let status = second_replica.wait("the second replica checks the commit", |status| {
        status["controller"]["current"]["commit"] == first.as_str()
            && Controller::rounds(status) >= 2
    });
    assert_eq!(status["controller"]["leader"], false, "{status:#}");
    assert!(status["controller"]["last_apply"].is_null());
    assert_eq!(
        status["runs"],
        serde_json::json!([]),
        "the follower applies nothing"
    );
    assert_eq!(holder(), "replica-a");
    assert_eq!(
        metric(&second_replica.metrics(), "labform_controller_leader"),
        0.0
    );

    // The leader dies without releasing the Lease: the other takes over once it expires, and
    // applies the next commit.
    let _ = first_replica.child.kill();
    let _ = first_replica.child.wait();
    second_replica.wait("the second replica leads", |status| {
        status["controller"]["leader"] == true
    });
    assert_eq!(holder(), "replica-b");
    let transitions = cluster
        .kubectl(&[
            "get",
            "lease",
            "-n",
            "labform",
            "labform-controller",
            "-o",
            "jsonpath={.spec.leaseTransitions}",
        ])
        .expect("the Lease");
    assert_eq!(transitions.trim(), "1");
    let grown = repository.commit(&lab_with_more_workers(), "a third worker");
    let status = second_replica.wait_applied(&grown);
    assert_eq!(status["controller"]["last_apply"]["outcome"], "ok");
    assert_eq!(status["runs"][0]["revision"], grown.as_str());

    // Stopped as Kubernetes stops a pod, the leader gives the Lease up.
    terminate(&mut second_replica.child);
    assert_eq!(holder(), "", "the Lease is released");
    drop(first_replica);
}

#[test]
fn serve_help_describes_controller_mode() {
    let output = Command::new(env!("CARGO_BIN_EXE_labform"))
        .args(["serve", "--help"])
        .output()
        .expect("labform runs");
    assert!(output.status.success());
    insta::assert_snapshot!("serve_help", String::from_utf8_lossy(&output.stdout));
}

#[test]
fn insecure_transports_are_refused_with_a_hint() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let output = Command::new(env!("CARGO_BIN_EXE_labform"))
        .args([
            "serve",
            "--sim",
            "--git",
            "http://git.example.invalid/lab.git",
        ])
        .env("XDG_STATE_HOME", directory.path().join("state"))
        .output()
        .expect("labform runs");
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!("refused_transport", String::from_utf8_lossy(&output.stderr));
}
