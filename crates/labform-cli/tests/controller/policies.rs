//! The two apply policies: automatic over HTTPS (a commit applied in the round after its push,
//! a broken lab refused with its located error, reverts), and approval (nothing applied until
//! the pending commit is approved with the token, the right commit and the dashboard's origin;
//! the Approve button pressed as a browser does, signed in on `/login` with a session cookie).

use crate::common::{http, metric, promtool_accepts, sign_in};
use crate::support::{Controller, Repository, certificates, controller, git_https};
use crate::{broken_lab, lab_with_more_workers};

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
    // The Approve button, as a browser presses it: signed in with the token on /login, the
    // page and the approval carry the session cookie, and no page holds the token.
    let cookie = sign_in(&served.address, token);
    let (code, _, page) = http(
        &served.address,
        "GET",
        "/controller",
        &[("Cookie", &cookie)],
    );
    assert_eq!(code, 200, "{page}");
    assert!(page.contains(&format!("action=\"{approve}\"")), "{page}");
    assert!(!page.contains(token), "{page}");
    let origin = format!("http://{}", served.address);
    let (code, head, _) = http(
        &served.address,
        "POST",
        &approve,
        &[
            ("Cookie", &cookie),
            ("Origin", &origin),
            ("Sec-Fetch-Site", "same-origin"),
        ],
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
