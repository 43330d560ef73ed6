//! Two replicas with `--lease` against the real kube-apiserver: one leads and applies, the other
//! watches, names the leader on its pages and refuses approvals; the follower takes over when
//! the leader dies, and SIGTERM releases the Lease. The
//! Deployment's manifests and its ServiceAccount's permissions are checked on the same server.

use std::path::Path;

use crate::common::{SIM_PASSWORD, SimServer, http, metric};
use crate::support::{Controller, Repository, controller, terminate};
use crate::{LAB, lab_with_more_workers};

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
    // The follower names the leader, whose journal has the runs, and sends approvals there.
    assert_eq!(status["controller"]["holder"], "replica-a", "{status:#}");
    let (_, _, history) = second_replica.get("/history");
    assert!(history.contains("id=\"follower\""), "{history}");
    assert!(history.contains("<code>replica-a</code>"), "{history}");
    let (code, _, answer) = http(
        &second_replica.address,
        "POST",
        &format!("/controller/approve?commit={first}"),
        &[],
    );
    assert_eq!(code, 409, "{answer}");
    assert!(answer.contains("not the leader"), "{answer}");
    assert!(answer.contains("replica-a"), "{answer}");

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
