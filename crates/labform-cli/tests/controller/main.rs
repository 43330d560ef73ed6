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
//! - drift between commits (`drift.rs`, against `labform sim serve`): a VM changed by hand while
//!   the commit stays the same is reported once with the commit, on `/controller` and as a
//!   `drift` run of the journal, and put back by an apply of the same commit;
//! - over SSH against a real `sshd` on loopback (tier `real-sshd`): a known_hosts file holding
//!   another key is refused, the right one fetches;
//! - two replicas with `--lease` against the real kube-apiserver of `../shared/k8s` (tier
//!   `real-kubernetes`), sharing one `labform sim serve`: one leads and applies, the other only
//!   watches; SIGKILL of the leader makes the other take over once the Lease expires, and SIGTERM
//!   releases the Lease. The Deployment manifests in `deploy/kubernetes/` are applied to that
//!   server and the ServiceAccount's permissions checked.
//!
//! The tests are one binary: the helpers (repositories, a controller process, the test CA, the
//! Git HTTPS server, SSH keys) in `support.rs`, the two apply policies in `policies.rs`, drift
//! between commits in `drift.rs`, SSH in `ssh.rs`, leader election in `lease.rs`, and the command
//! line's own answers here.

use std::process::Command;
use std::time::Duration;

#[path = "../common/mod.rs"]
mod common;

mod drift;
mod lease;
mod policies;
mod ssh;
mod support;

pub(crate) const LAB: &str = include_str!("../../../../examples/seed-001.yaml");
/// The worker group of seed 001, and the same group one worker larger.
pub(crate) const WORKERS: &str = "      - name: worker\n        count: 2\n";
pub(crate) const MORE_WORKERS: &str = "      - name: worker\n        count: 3\n";
/// How long any wait may take (the machines these tests run on are shared and slow).
pub(crate) const LIMIT: Duration = Duration::from_secs(240);

pub(crate) fn lab_with_more_workers() -> String {
    assert!(LAB.contains(WORKERS), "seed 001 has two workers");
    LAB.replacen(WORKERS, MORE_WORKERS, 1)
}

pub(crate) fn broken_lab() -> String {
    LAB.replacen("  - name: home\n", "  - name: Home_Lab\n", 1)
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
