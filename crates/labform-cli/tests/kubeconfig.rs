//! `labform kubeconfig` through the binary: the kubeconfigs apply kept in the secret store are
//! merged into a file, one context per cluster and environment, other contexts untouched;
//! `--tenant` hands a tenant only its clusters; a cluster never applied is named in the error.

use std::path::{Path, PathBuf};
use std::process::Command;

use labform_k3s::cluster::{kubeconfig_store_key, tenant_kubeconfig_store_key};
use labform_k3s::kubeconfig::ClusterKubeconfig;
use labform_secrets::{SecretStore, SecretString};

const K3S_YAML: &str = "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://127.0.0.1:6443
  name: default
contexts:
- context: {cluster: default, user: default}
  name: default
current-context: default
kind: Config
users:
- name: default
  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}
";

fn seed_000() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-000.yaml")
}

/// Stores a kubeconfig for each cluster instance, as apply does.
fn store_kubeconfigs(data: &Path, clusters: &[&str]) {
    let store = SecretStore::open(data).expect("store");
    for (index, cluster) in clusters.iter().enumerate() {
        let config = ClusterKubeconfig::from_admin_kubeconfig(
            "test",
            &SecretString::from(K3S_YAML),
            &format!("seed-000-{cluster}"),
            &format!("https://10.0.0.{}:6443", index + 1),
            None,
        )
        .expect("valid");
        let key = kubeconfig_store_key("seed-000", cluster).expect("key");
        store.put(&key, &config.to_text()).expect("stored");
    }
}

fn labform(data: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_labform"))
        .arg("kubeconfig")
        .arg(seed_000())
        .args(args)
        .env("LABFORM_DATA_DIR", data)
        .output()
        .expect("labform runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn context_names(text: &str) -> Vec<String> {
    let value: serde_json::Value = serde_saphyr::from_str(text).expect("YAML");
    value["contexts"]
        .as_array()
        .expect("contexts")
        .iter()
        .map(|context| context["name"].as_str().expect("name").to_owned())
        .collect()
}

#[test]
fn kubeconfigs_are_merged_per_cluster_and_tenant() {
    let directory = tempfile::tempdir().expect("directory");
    let data = directory.path().join("data");
    let all = [
        "main-dev",
        "main-staging",
        "main-prod",
        "alice-dev",
        "alice-staging",
        "alice-prod",
        "bob-dev",
        "bob-staging",
        "bob-prod",
    ];

    // Before any apply: the error names the clusters.
    let (ok, _, stderr) = labform(&data, &["--tenant", "alice", "--stdout"]);
    assert!(!ok);
    assert!(
        stderr.contains("labform has no kubeconfig for alice-dev, alice-staging, alice-prod"),
        "{stderr}"
    );

    store_kubeconfigs(&data, &all);
    let file = directory.path().join("kube/config");
    std::fs::create_dir_all(file.parent().expect("parent")).expect("directory");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Config\ncurrent-context: work\nclusters:\n- name: work\n  cluster: {server: 'https://work:6443'}\nusers:\n- name: work\n  user: {token: abc}\ncontexts:\n- name: work\n  context: {cluster: work, user: work}\n",
    )
    .expect("existing kubeconfig");
    let (ok, _, stderr) = labform(&data, &["--output", file.to_str().expect("utf-8")]);
    assert!(ok, "{stderr}");
    let merged = std::fs::read_to_string(&file).expect("read");
    let mut expected = vec!["work".to_owned()];
    expected.extend(all.iter().map(|cluster| format!("seed-000-{cluster}")));
    assert_eq!(context_names(&merged), expected);
    assert!(merged.contains("current-context: work"), "{merged}");
    assert!(merged.contains("server: https://10.0.0.9:6443"), "{merged}");

    // A tenant's own kubeconfig: its clusters, and its own (ServiceAccount) contexts on the
    // main cluster whose services it uses, once apply has made them.
    let (ok, _, stderr) = labform(&data, &["--tenant", "bob", "--stdout"]);
    assert!(!ok);
    assert!(
        stderr.contains("main-dev (as bob), main-staging (as bob), main-prod (as bob)"),
        "{stderr}"
    );
    let store = SecretStore::open(&data).expect("store");
    for cluster in ["main-dev", "main-staging", "main-prod"] {
        let admin = ClusterKubeconfig::from_admin_kubeconfig(
            "test",
            &SecretString::from(K3S_YAML),
            &format!("seed-000-{cluster}"),
            "https://10.0.0.1:6443",
            None,
        )
        .expect("valid");
        let tenant = admin.with_token_user(
            &format!("seed-000-{cluster}-bob"),
            &SecretString::from("bob-token"),
            "tenant-bob",
        );
        let key = tenant_kubeconfig_store_key("seed-000", cluster, "bob").expect("key");
        store.put(&key, &tenant.to_text()).expect("stored");
    }
    let (ok, stdout, stderr) = labform(&data, &["--tenant", "bob", "--stdout"]);
    assert!(ok, "{stderr}");
    assert_eq!(
        context_names(&stdout),
        [
            "seed-000-bob-dev",
            "seed-000-bob-staging",
            "seed-000-bob-prod",
            "seed-000-main-dev-bob",
            "seed-000-main-staging-bob",
            "seed-000-main-prod-bob",
        ]
    );
    assert!(stdout.contains("token: bob-token"), "{stdout}");
    assert!(stdout.contains("namespace: tenant-bob"), "{stdout}");
    // On the main cluster the tenant is its ServiceAccount, never the cluster's admin.
    let value: serde_json::Value = serde_saphyr::from_str(&stdout).expect("YAML");
    for user in value["users"].as_array().expect("users") {
        let name = user["name"].as_str().expect("name");
        let on_main = name.starts_with("seed-000-main-");
        assert_eq!(user["user"].get("token").is_some(), on_main, "{name}");
        assert_eq!(
            user["user"].get("client-key-data").is_none(),
            on_main,
            "{name}"
        );
    }

    // Unknown names are refused with the known ones.
    let (ok, _, stderr) = labform(&data, &["--cluster", "main", "--stdout"]);
    assert!(!ok);
    assert!(
        stderr.contains(
            "the lab has no cluster `main` labform bootstraps; those it bootstraps: main-dev,"
        ),
        "{stderr}"
    );
    let (ok, _, stderr) = labform(&data, &["--tenant", "carol", "--stdout"]);
    assert!(!ok);
    assert!(
        stderr.contains("the lab has no tenant `carol`; its tenants: alice, bob"),
        "{stderr}"
    );
}
