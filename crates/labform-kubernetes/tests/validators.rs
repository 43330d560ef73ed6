//! Every rendered manifest passes an outside validator for its kind: kubernetes-validate (pip
//! package `kubernetes-validate`, strict) for core kinds, and JSON Schemas written from the
//! published CRD schemas (`tests/schemas/`, checked with Python's `jsonschema`) for HelmChart,
//! HelmChartConfig, MetalLB, cert-manager, Gateway API, External Secrets and Argo CD objects.
//! Tier `kubernetes-validators` of `labform-test-tiers`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::{FixtureHostKeys, LABS, planned};
use labform_kubernetes::{render_lab, write_rendered};

const KUBERNETES_VERSION: &str = "1.31.0";

struct Report {
    documents: u64,
    kinds: Vec<String>,
    errors: Vec<String>,
}

fn validate(directory: &Path) -> Report {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validate_manifests.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(KUBERNETES_VERSION)
        .arg(directory)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "the manifest validators are missing; install them with `pip install kubernetes-validate jsonschema`:\n{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|error| {
        panic!("the validator printed no report ({error}):\n{stdout}\n{stderr}")
    });
    let strings = |key: &str| -> Vec<String> {
        report[key]
            .as_array()
            .expect("array")
            .iter()
            .map(|value| value.as_str().expect("string").to_owned())
            .collect()
    };
    Report {
        documents: report["documents"].as_u64().expect("count"),
        kinds: strings("kinds"),
        errors: strings("errors"),
    }
}

fn render_to(lab: &str, directory: &Path) -> bool {
    let (_, plan) = planned(lab);
    let files = render_lab(&plan, &FixtureHostKeys, &common::distributions()).expect("render");
    write_rendered(directory, &files).expect("write");
    plan.clusters
        .iter()
        .any(|cluster| cluster.bootstrap_supported)
}

#[test]
fn every_rendered_manifest_passes_its_validator() {
    if !labform_test_tiers::KUBERNETES_VALIDATORS.available() {
        return;
    }
    let mut kinds = BTreeSet::new();
    let mut validated = 0;
    for lab in LABS {
        let directory = tempfile::tempdir().expect("temporary directory");
        if !render_to(lab, directory.path()) {
            continue;
        }
        let report = validate(directory.path());
        assert!(
            report.errors.is_empty(),
            "{lab}: {} problem(s):\n{}",
            report.errors.len(),
            report.errors.join("\n")
        );
        validated += report.documents;
        kinds.extend(report.kinds);
    }
    assert!(validated > 50, "only {validated} documents were validated");
    for expected in [
        "v1/Namespace",
        "v1/ServiceAccount",
        "rbac.authorization.k8s.io/v1/ClusterRole",
        "rbac.authorization.k8s.io/v1/ClusterRoleBinding",
        "apps/v1/DaemonSet",
        "helm.cattle.io/v1/HelmChart",
        "helm.cattle.io/v1/HelmChartConfig",
        "metallb.io/v1beta1/IPAddressPool",
        "metallb.io/v1beta1/L2Advertisement",
        "cert-manager.io/v1/ClusterIssuer",
        "cert-manager.io/v1/Certificate",
        "cert-manager.io/v1/Issuer",
        "gateway.networking.k8s.io/v1/GatewayClass",
        "gateway.networking.k8s.io/v1/Gateway",
        "external-secrets.io/v1/ClusterSecretStore",
        "argoproj.io/v1alpha1/ApplicationSet",
        "k3s/server-config",
        "k3s/agent-config",
    ] {
        assert!(
            kinds.contains(expected),
            "{expected} was never validated: {kinds:?}"
        );
    }
}

#[test]
fn the_validators_refuse_broken_manifests() {
    if !labform_test_tiers::KUBERNETES_VALIDATORS.available() {
        return;
    }
    let directory = tempfile::tempdir().expect("temporary directory");
    render_to("tests/k3s-cilium-external", directory.path());
    let cluster = directory.path().join("clusters/full");
    let breakages = [
        ("03-metallb.yaml", "  chart: metallb", "  chrat: metallb"),
        (
            "00-kube-vip.yaml",
            "      hostNetwork: true",
            "      hostNetwork: yes-please",
        ),
        (
            "04-metallb-address-pools.yaml",
            "  autoAssign: true",
            "  autoAsign: true",
        ),
        (
            "06-cert-manager-issuers.yaml",
            "    email: ops@example.net",
            "    email: not-an-address",
        ),
        (
            "17-argocd-applicationsets.yaml",
            "      directories:",
            "      directorys:",
        ),
    ];
    assert_each_breakage_is_caught(directory.path(), &cluster, &breakages);
}

#[test]
fn the_validators_refuse_a_broken_bitwarden_store_and_issuer() {
    if !labform_test_tiers::KUBERNETES_VALIDATORS.available() {
        return;
    }
    let directory = tempfile::tempdir().expect("temporary directory");
    render_to("tests/k3s-bitwarden", directory.path());
    let cluster = directory.path().join("clusters/secrets");
    let breakages = [
        (
            "04-external-secrets-store.yaml",
            "      organizationID:",
            "      organisationID:",
        ),
        (
            "04-external-secrets-store.yaml",
            "        type: Secret",
            "        type: Vault",
        ),
        (
            "02-external-secrets-bitwarden-certificates.yaml",
            "    secretName: bitwarden-sdk-server-ca\n---",
            "    secretNam: bitwarden-sdk-server-ca\n---",
        ),
    ];
    assert_each_breakage_is_caught(directory.path(), &cluster, &breakages);
}

/// Breaks each file of `cluster` (in the render at `directory`) in turn by replacing `from` with
/// `to`, and checks the validators report that file; the render is valid again afterwards.
fn assert_each_breakage_is_caught(
    directory: &std::path::Path,
    cluster: &std::path::Path,
    breakages: &[(&str, &str, &str)],
) {
    for &(file, from, to) in breakages {
        let path = cluster.join(file);
        let original = std::fs::read_to_string(&path).expect("read");
        assert!(original.contains(from), "{file} has no `{from}`");
        std::fs::write(&path, original.replacen(from, to, 1)).expect("break");
        let report = validate(directory);
        assert!(
            report.errors.iter().any(|error| error.contains(file)),
            "the broken {file} (`{to}`) passed: {:?}",
            report.errors
        );
        std::fs::write(&path, original).expect("restore");
    }
    assert!(validate(directory).errors.is_empty());
}

/// Writes the Helm controller's manifest where the validator looks for a cluster's files.
fn helm_controller_render(directory: &Path) -> std::path::PathBuf {
    let cluster = directory.join("clusters/helm-controller");
    std::fs::create_dir_all(&cluster).expect("create");
    let manifest = labform_kubernetes::helm_controller_manifest();
    let text = manifest.to_yaml("helm-controller").expect("YAML");
    std::fs::write(cluster.join("00-helm-controller.yaml"), text).expect("write");
    cluster
}

#[test]
fn the_helm_controller_passes_its_validator_and_a_broken_one_does_not() {
    if !labform_test_tiers::KUBERNETES_VALIDATORS.available() {
        return;
    }
    let directory = tempfile::tempdir().expect("temporary directory");
    let cluster = helm_controller_render(directory.path());
    let report = validate(directory.path());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.documents, 4);
    for expected in [
        "v1/Namespace",
        "v1/ServiceAccount",
        "rbac.authorization.k8s.io/v1/ClusterRoleBinding",
        "apps/v1/Deployment",
    ] {
        assert!(
            report.kinds.iter().any(|kind| kind == expected),
            "{expected} was not validated: {:?}",
            report.kinds
        );
    }
    let breakages = [
        (
            "00-helm-controller.yaml",
            "      hostNetwork: true",
            "      hostNetwork: yes-please",
        ),
        (
            "00-helm-controller.yaml",
            "      serviceAccountName: helm-controller",
            "      serviceAcountName: helm-controller",
        ),
        (
            "00-helm-controller.yaml",
            "- kind: ServiceAccount\n  name: helm-controller",
            "- kind: ServiceAccount\n  nmae: helm-controller",
        ),
    ];
    assert_each_breakage_is_caught(directory.path(), &cluster, &breakages);
}
