//! What the controller tests share: running `git`, `openssl` and `ssh-keygen`, a bare
//! repository with a clone to commit in, a `labform serve --git` process read through its
//! dashboard (killed when dropped), the test CA and server certificate, `git http-backend` over
//! HTTPS, SSH keys and a real sshd.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use labform_test_tiers::KillOnDrop;

use crate::common::{self, http, metric};
use crate::{LAB, LIMIT};

pub(crate) fn run(directory: &Path, program: &str, args: &[&str]) -> String {
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
pub(crate) struct Repository {
    pub(crate) bare: PathBuf,
    pub(crate) work: PathBuf,
}

impl Repository {
    /// Makes the repository under `root` with seed 001 as `lab.yaml` in its first commit.
    pub(crate) fn new(root: &Path) -> (Self, String) {
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

    pub(crate) fn push(&self) -> String {
        let bare = self.bare.display().to_string();
        run(&self.work, "git", &["push", "--quiet", &bare, "main"]);
        run(&self.work, "git", &["rev-parse", "HEAD"])
    }

    /// Commits `lab` as `lab.yaml` and pushes it: the commit's hash.
    pub(crate) fn commit(&self, lab: &str, message: &str) -> String {
        std::fs::write(self.work.join("lab.yaml"), lab).expect("write the lab");
        run(&self.work, "git", &["add", "lab.yaml"]);
        run(&self.work, "git", &["commit", "--quiet", "-m", message]);
        self.push()
    }

    /// Reverts `commit` and pushes: the new commit's hash.
    pub(crate) fn revert(&self, commit: &str) -> String {
        run(&self.work, "git", &["revert", "--no-edit", commit]);
        self.push()
    }
}

/// A running `labform serve --git`, killed when dropped.
pub(crate) struct Controller {
    pub(crate) child: KillOnDrop,
    pub(crate) address: String,
    pub(crate) token: Option<String>,
    pub(crate) log: PathBuf,
}

/// Starts `labform serve ARGS` with labform's state in `home` (its output in `home/serve.log`).
pub(crate) fn controller(home: &Path, args: &[&str], environment: &[(&str, &str)]) -> Controller {
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
        child: KillOnDrop(child),
        address,
        token,
        log,
    }
}

impl Controller {
    pub(crate) fn get(&self, path: &str) -> (u16, String, String) {
        let bearer = self.token.as_ref().map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|bearer| ("Authorization", bearer.as_str()))
            .collect();
        http(&self.address, "GET", path, &headers)
    }

    /// `/controller`'s JSON.
    pub(crate) fn status(&self) -> serde_json::Value {
        let (status, _, body) = self.get("/controller?format=json");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("JSON")
    }

    pub(crate) fn metrics(&self) -> String {
        let (status, _, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `check` holds for `/controller`'s JSON: that JSON.
    pub(crate) fn wait(
        &self,
        what: &str,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
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

    pub(crate) fn wait_applied(&self, commit: &str) -> serde_json::Value {
        self.wait(&format!("commit {commit} applied"), |status| {
            status["controller"]["last_apply"]["commit"] == commit
        })
    }

    /// Waits until a fetch failed: git's error. No commit is in use then.
    pub(crate) fn fetch_refused(&self) -> String {
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
    pub(crate) fn rounds(status: &serde_json::Value) -> u64 {
        let syncs = &status["controller"]["syncs"];
        syncs[0].as_u64().expect("a count") + syncs[1].as_u64().expect("a count")
    }

    pub(crate) fn existing(&self) -> f64 {
        metric(&self.metrics(), "labform_vms{state=\"exists\"}")
    }
}

/// A test CA and a certificate for 127.0.0.1 signed by it, made by `openssl`: (CA, certificate,
/// key) paths.
pub(crate) fn certificates(directory: &Path) -> (PathBuf, PathBuf, PathBuf) {
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
pub(crate) struct GitHttps {
    /// The server, killed when dropped.
    _process: KillOnDrop,
    pub(crate) port: u16,
}

pub(crate) fn git_https(root: &Path, certificate: &Path, key: &Path) -> GitHttps {
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
    GitHttps {
        _process: KillOnDrop(child),
        port,
    }
}

/// A key pair made by `ssh-keygen`: the private key's path and the public key's line.
pub(crate) fn ssh_key(directory: &Path, name: &str) -> (PathBuf, String) {
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
pub(crate) fn sshd(directory: &Path, host_key: &Path, client: &str) -> (Child, u16) {
    let authorized = directory.join("authorized_keys");
    std::fs::write(&authorized, format!("{client}\n")).expect("write");
    let user = run(directory, "id", &["-un"]);
    labform_test_tiers::start_sshd(directory, host_key, &authorized, &user)
}

/// Sends SIGTERM to `child` (as Kubernetes stops a pod) and waits for it to end.
pub(crate) fn terminate(child: &mut Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let _ = child.wait();
}
