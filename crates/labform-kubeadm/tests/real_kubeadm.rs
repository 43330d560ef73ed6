//! The real kubeadm v1.20.2 (tier `real-kubeadm`: the release of `../shared/k8s`, verified and
//! unpacked by `labform-kube-real`; no cluster is started) reads labform's rendered `v1beta2`
//! configurations: `kubeadm config migrate` decodes every node's file strictly (an unknown
//! field is a warning on its standard error, which fails the test), defaults, validates and
//! writes back what kubeadm would use, which must still carry the lab's values, labform's
//! secrets and the control plane's wait (`apiServer.timeoutForControlPlane`); `kubeadm config images list` reads the image repository; `kubeadm init phase certs`
//! signs the API server's certificate with the CA labform made, for the planned names; and
//! `openssl` computes the same discovery hash labform knows in advance.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{only_cluster, planned, store};
use labform_kubeadm::config::{InstallOptions, JoinSecrets, node_configs};
use labform_kubeadm::secrets::{ClusterSecrets, cluster_secrets};
use labform_planner::plan::{NodeRole, PlannedCluster};
use labform_secrets::ExposeSecret as _;
use serde_json::Value;

fn kubeadm() -> Option<PathBuf> {
    if !labform_test_tiers::REAL_KUBEADM.available() {
        return None;
    }
    let bin = labform_kube_real::release_binaries()
        .unwrap_or_else(|error| panic!("the Kubernetes release: {error}"));
    Some(bin.join("kubeadm"))
}

fn run(program: &Path, arguments: &[&str]) -> Output {
    Command::new(program)
        .args(arguments)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", program.display()))
}

/// kubeadm's output when it succeeded and warned about nothing it could not decode.
fn accepted(what: &str, output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kubeadm refused {what} ({}):\n{stderr}",
        output.status
    );
    assert!(
        !stderr.contains("error unmarshaling") && !stderr.contains("unknown field"),
        "kubeadm could not decode all of {what}:\n{stderr}"
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

struct Rendered {
    cluster: PlannedCluster,
    secrets: ClusterSecrets,
    directory: tempfile::TempDir,
    _store: tempfile::TempDir,
}

/// The v1.20 lab's node files, with real secrets, written to a temporary directory as
/// `VM.yaml`.
fn rendered(options: &InstallOptions) -> Rendered {
    let plan = planned("tests/kubeadm-v1-20");
    let cluster = only_cluster(&plan).clone();
    let (store_directory, store) = store();
    let secrets = cluster_secrets(&store, &plan.scope, &cluster.name).expect("secrets");
    let configs = node_configs(&cluster, &JoinSecrets::Values(&secrets), options).expect("renders");
    let directory = tempfile::tempdir().expect("temporary directory");
    for config in &configs {
        std::fs::write(
            directory.path().join(format!("{}.yaml", config.vm)),
            &config.text,
        )
        .expect("write");
    }
    Rendered {
        cluster,
        secrets,
        directory,
        _store: store_directory,
    }
}

fn kind<'a>(documents: &'a [Value], kind: &str) -> &'a Value {
    documents
        .iter()
        .find(|document| document["kind"] == kind)
        .unwrap_or_else(|| panic!("kubeadm wrote no {kind}: {documents:?}"))
}

#[test]
fn kubeadm_reads_every_node_configuration() {
    let Some(kubeadm) = kubeadm() else {
        return;
    };
    // With the control plane's wait raised, as apply writes it on slow machines.
    let rendered = rendered(&InstallOptions {
        control_plane_timeout: Some(std::time::Duration::from_secs(1800)),
        ..InstallOptions::default()
    });
    let cluster = &rendered.cluster;
    let secrets = &rendered.secrets;
    let token = secrets.bootstrap_token.expose_secret();
    let endpoint = format!("{}:6443", cluster.api_address);
    for node in &cluster.nodes {
        let path = rendered.directory.path().join(format!("{}.yaml", node.vm));
        let output = run(
            &kubeadm,
            &[
                "config",
                "migrate",
                "--old-config",
                path.to_str().expect("UTF-8"),
            ],
        );
        let text = accepted(&format!("the configuration of {}", node.vm), &output);
        let documents: Vec<Value> = serde_saphyr::from_multiple(&text).expect("kubeadm wrote YAML");
        let registration = if node.role == NodeRole::FirstServer {
            let init = kind(&documents, "InitConfiguration");
            assert_eq!(init["bootstrapTokens"][0]["token"], token);
            assert_eq!(
                init["certificateKey"],
                secrets.certificate_key.expose_secret()
            );
            assert_eq!(
                init["localAPIEndpoint"]["advertiseAddress"],
                node.address.to_string()
            );
            let configuration = kind(&documents, "ClusterConfiguration");
            assert_eq!(configuration["kubernetesVersion"], "v1.20.2");
            assert_eq!(configuration["controlPlaneEndpoint"], endpoint);
            assert_eq!(configuration["clusterName"], cluster.name);
            assert_eq!(configuration["networking"]["podSubnet"], cluster.pod_cidr);
            assert_eq!(
                configuration["networking"]["serviceSubnet"],
                cluster.service_cidr
            );
            assert_eq!(configuration["etcd"]["local"]["dataDir"], "/var/lib/etcd");
            assert_eq!(
                configuration["apiServer"]["timeoutForControlPlane"], "30m0s",
                "kubeadm keeps the control plane's wait labform wrote"
            );
            init["nodeRegistration"].clone()
        } else {
            let join = kind(&documents, "JoinConfiguration");
            let discovery = &join["discovery"]["bootstrapToken"];
            assert_eq!(discovery["token"], token);
            assert_eq!(discovery["apiServerEndpoint"], endpoint);
            assert_eq!(discovery["caCertHashes"][0], secrets.discovery_hash);
            if node.role == NodeRole::JoiningServer {
                assert_eq!(
                    join["controlPlane"]["certificateKey"],
                    secrets.certificate_key.expose_secret()
                );
                assert_eq!(
                    join["controlPlane"]["localAPIEndpoint"]["advertiseAddress"],
                    node.address.to_string()
                );
            } else {
                assert!(join.get("controlPlane").is_none_or(Value::is_null));
            }
            join["nodeRegistration"].clone()
        };
        assert_eq!(registration["name"], node.vm);
        assert_eq!(
            registration["criSocket"],
            "/var/run/containerd/containerd.sock"
        );
        assert_eq!(
            registration["kubeletExtraArgs"]["node-ip"],
            node.address.to_string()
        );
        let taints: Vec<String> = registration["taints"]
            .as_array()
            .map(|taints| {
                taints
                    .iter()
                    .map(|taint| {
                        format!(
                            "{}={}:{}",
                            taint["key"].as_str().unwrap_or_default(),
                            taint["value"].as_str().unwrap_or_default(),
                            taint["effect"].as_str().unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(taints, node.taints, "{}", node.vm);
    }
}

#[test]
fn kubeadm_pulls_from_the_air_gap_repository() {
    let Some(kubeadm) = kubeadm() else {
        return;
    };
    for (options, repository) in [
        (InstallOptions::default(), "k8s.gcr.io"),
        (
            InstallOptions {
                image_repository: Some("registry.labform.internal".to_owned()),
                ..InstallOptions::default()
            },
            "registry.labform.internal",
        ),
    ] {
        let rendered = rendered(&options);
        let first = &rendered.cluster.nodes[0];
        let path = rendered.directory.path().join(format!("{}.yaml", first.vm));
        let output = run(
            &kubeadm,
            &[
                "config",
                "images",
                "list",
                "--config",
                path.to_str().expect("UTF-8"),
            ],
        );
        let text = accepted("the first control plane's configuration", &output);
        assert!(
            text.lines()
                .any(|line| line == format!("{repository}/kube-apiserver:v1.20.2")),
            "{text}"
        );
    }
}

#[test]
fn kubeadm_signs_with_labforms_ca_and_openssl_agrees_on_the_discovery_hash() {
    let Some(kubeadm) = kubeadm() else {
        return;
    };
    let rendered = rendered(&InstallOptions::default());
    let cluster = &rendered.cluster;
    let secrets = &rendered.secrets;
    let pki = rendered.directory.path().join("pki");
    std::fs::create_dir(&pki).expect("pki directory");
    std::fs::write(pki.join("ca.crt"), &secrets.ca_certificate).expect("write");
    std::fs::write(pki.join("ca.key"), secrets.ca_key.expose_secret()).expect("write");

    // openssl's discovery hash: SHA-256 of the CA's SubjectPublicKeyInfo in DER.
    let script = format!(
        "openssl x509 -in {} -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex",
        pki.join("ca.crt").display()
    );
    let output = run(Path::new("sh"), &["-c", &script]);
    let text = accepted("the CA", &output);
    let hash = text.trim().rsplit(' ').next().expect("a digest");
    assert_eq!(format!("sha256:{hash}"), secrets.discovery_hash);

    // kubeadm uses the CA it finds (it would make its own otherwise) for the API server's
    // certificate. The configuration is the first control plane's, with the certificates
    // directory moved into the test's directory.
    let first = &cluster.nodes[0];
    let path = rendered.directory.path().join(format!("{}.yaml", first.vm));
    let text = std::fs::read_to_string(&path)
        .expect("read")
        .replace("/etc/kubernetes/pki", pki.to_str().expect("UTF-8"));
    std::fs::write(&path, text).expect("write");
    let output = run(
        &kubeadm,
        &[
            "init",
            "phase",
            "certs",
            "apiserver",
            "--config",
            path.to_str().expect("UTF-8"),
        ],
    );
    accepted("the API server's certificate", &output);
    let certificate = pki.join("apiserver.crt");
    let output = run(
        Path::new("openssl"),
        &[
            "verify",
            "-CAfile",
            pki.join("ca.crt").to_str().expect("UTF-8"),
            certificate.to_str().expect("UTF-8"),
        ],
    );
    accepted("the API server's certificate", &output);
    let output = run(
        Path::new("openssl"),
        &[
            "x509",
            "-in",
            certificate.to_str().expect("UTF-8"),
            "-noout",
            "-ext",
            "subjectAltName",
        ],
    );
    let names = accepted("the API server's certificate", &output);
    assert!(
        names.contains(&format!("IP Address:{}", cluster.api_address)),
        "{names}"
    );
    for server in cluster.nodes.iter().filter(|node| node.role.is_server()) {
        assert!(
            names.contains(&format!("IP Address:{}", server.address)),
            "{names}"
        );
        assert!(names.contains(&format!("DNS:{}", server.vm)), "{names}");
    }
}

/// kubeadm v1.20.2 and labform's strict decoder (`labform_kubeadm::strict`) agree on kubeadm's
/// own `v1beta2` example: kubeadm decodes it without a word about a field (its
/// `kubernetesVersion` and `podSubnet` made ones kubeadm v1.20 validates: the example's v1.12.0
/// and /24 are refused after decoding) and so does labform; with an unknown field in any of its
/// documents, kubeadm warns `unknown field` and labform refuses it. And every
/// KubeletConfiguration field labform's decoder accepts is a JSON tag the v1.20.2 kubelet
/// carries.
#[test]
fn kubeadm_and_the_strict_decoder_agree_on_kubeadms_example() {
    let Some(kubeadm) = kubeadm() else {
        return;
    };
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/kubeadm-examples/v1beta2.yaml"
    ))
    .expect("the example");
    let example = example
        .replace(
            "kubernetesVersion: \"v1.12.0\"",
            "kubernetesVersion: \"v1.20.2\"",
        )
        .replace(
            "podSubnet: \"10.100.0.1/24\"",
            "podSubnet: \"10.100.0.0/16\"",
        );
    let directory = tempfile::tempdir().expect("temporary directory");
    let migrate = |text: &str| {
        let path = directory.path().join("example.yaml");
        std::fs::write(&path, text).expect("write");
        run(
            &kubeadm,
            &[
                "config",
                "migrate",
                "--old-config",
                path.to_str().expect("UTF-8"),
            ],
        )
    };
    // labform writes no KubeProxyConfiguration, so its decoder has no types for one.
    let without_proxy = example
        .split("\n---\n")
        .filter(|document| !document.contains("KubeProxyConfiguration"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    accepted("kubeadm's v1beta2 example", &migrate(&example));
    labform_kubeadm::strict::decode(&without_proxy).expect("labform decodes it");

    for (kind, after) in [
        ("InitConfiguration", "certificateKey:"),
        ("ClusterConfiguration", "clusterName:"),
        ("KubeletConfiguration", "kind: KubeletConfiguration\n"),
    ] {
        let (before, rest) = without_proxy.split_once(after).expect("the anchor");
        let broken = format!("{before}labformUnknownField: 1\n{after}{rest}");
        let output = migrate(&broken);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("unknown field \"labformUnknownField\"") && stderr.contains(kind),
            "kubeadm v1.20.2 warns about the unknown field of {kind}:\n{stderr}"
        );
        let error = labform_kubeadm::strict::decode(&broken).expect_err("labform refuses it");
        assert_eq!(error.kind, kind, "{error}");
        assert!(error.detail.contains("labformUnknownField"), "{error}");
    }

    // The kubelet's JSON tags, as its binary carries them.
    let kubelet = std::fs::read(kubeadm.with_file_name("kubelet")).expect("the kubelet");
    let mut tags = std::collections::BTreeSet::new();
    let marker = b"json:\"";
    let mut at = 0;
    while let Some(found) = kubelet[at..]
        .windows(marker.len())
        .position(|window| window == marker)
    {
        let start = at + found + marker.len();
        let end = kubelet[start..]
            .iter()
            .position(|byte| !byte.is_ascii_alphanumeric())
            .map_or(kubelet.len(), |length| start + length);
        tags.insert(String::from_utf8_lossy(&kubelet[start..end]).into_owned());
        at = end;
    }
    use labform_kubeadm::strict::kubelet::{FIELDS, NESTED_FIELDS};
    for field in FIELDS.iter().chain(&NESTED_FIELDS) {
        assert!(
            tags.contains(*field),
            "the v1.20.2 kubelet has no JSON tag `{field}`"
        );
    }
}
