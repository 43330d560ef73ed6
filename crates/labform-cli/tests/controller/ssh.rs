//! Fetching over SSH from a real sshd on loopback: a known_hosts file holding another key is
//! refused, the right one fetches.

use crate::support::{Repository, controller, run, ssh_key, sshd};

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
