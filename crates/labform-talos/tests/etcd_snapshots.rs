//! Talos's etcd snapshots on the lab's schedule (`labform_talos::etcd_snapshots`): the control
//! planes' machine configurations allow Kubernetes Talos API access with the role
//! `os:etcd:backup` from `kube-system` (Talos 1.13's `kubernetesTalosAPIAccess`, 1.14's
//! `KubeTalosAPIAccessConfig`; each validated against Talos's JSON Schema by
//! `machine_config.rs`), the workers' do not, nor a cluster without a schedule; the manifest
//! (snapshot) has the Talos `ServiceAccount` and one CronJob per control plane on its own node,
//! with the time zone in `timeZone`; the CronJobs pass kubernetes-validate (strict) for the
//! Kubernetes of Talos 1.8 (tier `kubernetes-validators`); the pods' script names the new
//! snapshot and keeps the newest, run by busybox's own shell and applets (tier `busybox`).
//!
//! No real Talos or Kubernetes 1.27+ runs here (the real kube-apiserver tier is v1.20, which
//! has no `batch/v1` CronJob), so the pods themselves are not run: that awaits a real Talos.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{bundle, plan_text, talos_lab, talos_lab_with_workers};
use labform_planner::Plan;
use labform_planner::plan::PlannedCluster;
use labform_talos::etcd_snapshots::{self, KEEP_SCRIPT};
use labform_talos::{SecretsSource, cluster_configurations};
use serde_json::{Value, json};

const SCHEDULE: &str = "CRON_TZ=Europe/Berlin 0 3 * * *";

fn talos_cluster(plan: &Plan) -> &PlannedCluster {
    plan.clusters.first().expect("one cluster")
}

/// Kubernetes Talos API access of each node's configuration at `version`: (node, is a control
/// plane, the access settings if any).
fn api_access(version: &str, snapshots: Option<&str>) -> Vec<(String, bool, Option<Value>)> {
    let plan = plan_text(&talos_lab(version, "flannel", None, snapshots));
    let cluster = talos_cluster(&plan);
    cluster_configurations(&plan, cluster, SecretsSource::Bundle(bundle()))
        .expect("configurations")
        .into_iter()
        .map(|configuration| {
            let documents = configuration.json_documents(false);
            let access = documents[0]["machine"]["features"]
                .get("kubernetesTalosAPIAccess")
                .cloned()
                .or_else(|| {
                    documents
                        .iter()
                        .find(|document| document["kind"] == "KubeTalosAPIAccessConfig")
                        .cloned()
                });
            (
                configuration.vm.clone(),
                configuration.role.is_server(),
                access,
            )
        })
        .collect()
}

#[test]
fn only_control_planes_allow_talos_api_access_and_only_for_etcd_snapshots() {
    for (version, expected) in [
        (
            "v1.13.9",
            json!({
                "enabled": true,
                "allowedRoles": ["os:etcd:backup"],
                "allowedKubernetesNamespaces": ["kube-system"],
            }),
        ),
        (
            "v1.14.0",
            json!({
                "apiVersion": "v1alpha1",
                "kind": "KubeTalosAPIAccessConfig",
                "allowedRoles": ["os:etcd:backup"],
                "allowedKubernetesNamespaces": ["kube-system"],
            }),
        ),
    ] {
        let nodes = api_access(version, Some(SCHEDULE));
        assert_eq!(nodes.len(), 5, "{version}");
        for (node, control_plane, access) in &nodes {
            if *control_plane {
                assert_eq!(access.as_ref(), Some(&expected), "{version} {node}");
            } else {
                assert_eq!(access, &None, "{version} {node}");
            }
        }
        for (node, _, access) in api_access(version, None) {
            assert_eq!(access, None, "{version} {node}: no schedule, no access");
        }
    }
}

/// The objects of a manifest (its leading comments are no object).
fn manifest_documents(text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .filter(|chunk| {
            chunk
                .lines()
                .any(|line| !line.trim().is_empty() && !line.starts_with('#'))
        })
        .map(|document| serde_saphyr::from_str(document).expect("YAML"))
        .collect()
}

#[test]
fn one_cron_job_per_control_plane_snapshots_its_own_node() {
    let plan = plan_text(&talos_lab("v1.13.9", "flannel", None, Some(SCHEDULE)));
    let cluster = talos_cluster(&plan);
    let text = etcd_snapshots::manifest(cluster)
        .expect("renders")
        .expect("a schedule, so a manifest");
    insta::assert_snapshot!("etcd-snapshots-manifest", text);
    // The plan says what apply does, on every control plane, and no longer that it does not.
    let step = cluster
        .steps
        .iter()
        .find(|step| step.action.starts_with("schedule etcd snapshots"))
        .expect("the plan's step");
    assert!(
        step.action.starts_with(
            "schedule etcd snapshots `CRON_TZ=Europe/Berlin 0 3 * * *`, keep 7 (a CronJob per control plane runs `talosctl etcd snapshot`"
        ) && !step.action.contains("not automated"),
        "{}",
        step.action
    );
    assert_eq!(
        step.target.as_deref(),
        Some("talos-server-0, talos-server-1, talos-server-2")
    );
    let documents = manifest_documents(&text);
    assert_eq!(documents[0]["kind"], "ServiceAccount");
    assert_eq!(documents[0]["apiVersion"], "talos.dev/v1alpha1");
    assert_eq!(documents[0]["spec"]["roles"], json!(["os:etcd:backup"]));
    let control_planes: Vec<_> = cluster
        .nodes
        .iter()
        .filter(|node| node.role.is_server())
        .collect();
    assert_eq!(documents.len(), 1 + control_planes.len());
    for (node, cron_job) in control_planes.iter().zip(&documents[1..]) {
        assert_eq!(cron_job["kind"], "CronJob");
        assert_eq!(cron_job["metadata"]["namespace"], "kube-system");
        let spec = &cron_job["spec"];
        assert_eq!(spec["schedule"], "0 3 * * *");
        assert_eq!(spec["timeZone"], "Europe/Berlin");
        let pod = &spec["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(
            pod["nodeSelector"]["kubernetes.io/hostname"],
            node.vm.as_str()
        );
        let snapshot = &pod["initContainers"][0];
        assert_eq!(snapshot["image"], "ghcr.io/siderolabs/talosctl:v1.13.9");
        assert_eq!(
            snapshot["args"],
            json!([
                "--nodes",
                node.address.to_string(),
                "etcd",
                "snapshot",
                "/snapshots/new.snapshot"
            ])
        );
        assert_eq!(
            pod["volumes"][0]["secret"]["secretName"],
            "labform-etcd-snapshots"
        );
        assert_eq!(pod["containers"][0]["env"][1]["value"], "7");
    }
    // Without a schedule there is nothing to deliver.
    let plan = plan_text(&talos_lab_with_workers("v1.13.9", "flannel"));
    assert_eq!(
        etcd_snapshots::manifest(talos_cluster(&plan)).expect("renders"),
        None
    );
}

/// Problems kubernetes-validate (strict) finds in `documents` for Kubernetes `version`.
fn kubernetes_validate(version: &str, documents: &[Value]) -> Vec<String> {
    let script = "import json, sys\n\
        import kubernetes_validate\n\
        problems = []\n\
        for document in json.load(sys.stdin):\n\
        \x20   try:\n\
        \x20       kubernetes_validate.validate(document, sys.argv[1], strict=True)\n\
        \x20   except kubernetes_validate.ValidationError as error:\n\
        \x20       problems.append(error.message)\n\
        print(json.dumps(problems))\n";
    let mut child = Command::new("python3")
        .args(["-c", script, version])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    serde_json::to_writer(child.stdin.take().expect("stdin"), documents).expect("write");
    let output = child.wait_with_output().expect("python3 ends");
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("a JSON list")
}

#[test]
fn the_cron_jobs_pass_kubernetes_validate() {
    if !labform_test_tiers::KUBERNETES_VALIDATORS.available() {
        return;
    }
    let plan = plan_text(&talos_lab("v1.8.3", "flannel", None, Some(SCHEDULE)));
    let text = etcd_snapshots::manifest(talos_cluster(&plan))
        .expect("renders")
        .expect("a manifest");
    let cron_jobs: Vec<Value> = manifest_documents(&text)
        .into_iter()
        .filter(|document| document["kind"] == "CronJob")
        .collect();
    assert_eq!(cron_jobs.len(), 3);
    // Talos 1.8 runs Kubernetes 1.31.
    assert_eq!(
        kubernetes_validate("1.31.0", &cron_jobs),
        Vec::<String>::new()
    );
    // The validator does refuse a misspelt field.
    let mut misspelt = cron_jobs[0].clone();
    misspelt["spec"]["jobTemplate"]["spec"]["template"]["spec"]["nodeSelectr"] = json!({});
    assert_eq!(kubernetes_validate("1.31.0", &[misspelt]).len(), 1);
}

/// Runs the keep script in `directory` with busybox's shell and, on its `PATH`, only busybox's
/// applets.
fn keep(directory: &Path, retention: u32) {
    let applets = tempfile::tempdir().expect("temporary directory");
    for applet in ["sh", "date", "ls", "grep", "sort", "tail", "mv", "rm"] {
        std::os::unix::fs::symlink("/bin/busybox", applets.path().join(applet))
            .expect("applet link");
    }
    let output = Command::new(applets.path().join("sh"))
        .args(["-c", KEEP_SCRIPT])
        .env_clear()
        .env("PATH", applets.path())
        .env("SNAPSHOTS", directory)
        .env("RETENTION", retention.to_string())
        .output()
        .expect("busybox sh");
    assert!(output.status.success(), "{output:?}");
}

fn names(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .expect("read")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn the_pods_script_names_the_snapshot_and_keeps_the_newest() {
    if !labform_test_tiers::BUSYBOX.available() {
        return;
    }
    let directory = tempfile::tempdir().expect("temporary directory");
    let directory = directory.path();
    for old in [
        "etcd-20250101T030000Z.snapshot",
        "etcd-20250102T030000Z.snapshot",
        "etcd-20250103T030000Z.snapshot",
        "notes.txt",
    ] {
        std::fs::write(directory.join(old), old).expect("write");
    }
    std::fs::write(directory.join("new.snapshot"), "taken now").expect("write");
    keep(directory, 2);
    let kept = names(directory);
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert_eq!(kept[0], "etcd-20250103T030000Z.snapshot", "{kept:?}");
    let taken = &kept[1];
    assert!(
        taken.starts_with("etcd-20") && taken.ends_with("Z.snapshot") && taken.len() == 30,
        "{kept:?}"
    );
    assert_eq!(
        std::fs::read_to_string(directory.join(taken)).expect("read"),
        "taken now"
    );
    assert_eq!(kept[2], "notes.txt", "not a snapshot: left alone");
    // A run whose snapshot failed (no new file) only prunes.
    keep(directory, 1);
    assert_eq!(names(directory), [taken.clone(), "notes.txt".to_owned()]);
}
