//! Strict decoding against kubeadm's types (`labform_kubeadm::strict`): kubeadm's own fully
//! populated example of each configuration API decodes under its version's types and is refused
//! under the others'; and every node configuration labform renders, for each API version
//! (v1.20 and v1.21: `v1beta2`; v1.22 and v1.29: `v1beta3`; v1.31: `v1beta4`), with the secrets'
//! values or their markers, the control plane's wait and an air-gap image repository, decodes
//! strictly in its version's API.

mod common;

use common::{only_cluster, planned, store};
use labform_kubeadm::config::{InstallOptions, JoinSecrets, node_configs};
use labform_kubeadm::secrets::cluster_secrets;
use labform_kubeadm::strict::decode;

/// kubeadm's example of `version`, its documents one by one.
fn example(version: &str) -> Vec<String> {
    let path = format!(
        "{}/tests/kubeadm-examples/{version}.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    text.split("\n---\n").map(str::to_owned).collect()
}

#[test]
fn kubeadms_own_examples_decode_under_their_version_only() {
    for version in ["v1beta2", "v1beta3", "v1beta4"] {
        let mut kinds = Vec::new();
        for document in example(version) {
            // The v1beta3 example writes kubelet's `v` as a YAML number; kubeadm reads a
            // string there and refuses a number (kubeadm v1.20.2 does for the same map in
            // v1beta2: `ReadString: expects " or n, but found 4`), so the decoder does too.
            if document.contains("    v: 4\n") {
                let error = decode(&document).expect_err("a number where kubeadm reads a string");
                assert!(error.detail.contains("expected a string"), "{error}");
                let quoted = document.replace("    v: 4\n", "    v: \"4\"\n");
                kinds.push(decode(&quoted).expect("quoted, it decodes")[0].kind.clone());
                continue;
            }
            if document.contains("KubeProxyConfiguration") {
                let error = decode(&document).expect_err("labform writes none");
                assert!(
                    error.detail.contains("not a kind labform writes"),
                    "{error}"
                );
                continue;
            }
            let decoded =
                decode(&document).unwrap_or_else(|error| panic!("{version}: {error}\n{document}"));
            kinds.extend(decoded.into_iter().map(|document| document.kind));
        }
        let mut expected = vec![
            "InitConfiguration",
            "ClusterConfiguration",
            "KubeletConfiguration",
        ];
        if version == "v1beta4" {
            expected.push("JoinConfiguration");
        }
        assert_eq!(kinds, expected, "{version}");
    }

    // Each version's fields are its own.
    let first = |version: &str, index: usize| example(version)[index].clone();
    for (text, refused) in [
        // useHyperKubeImage and dns.type left with v1beta2.
        (
            first("v1beta2", 1).replace("kubeadm.k8s.io/v1beta2", "kubeadm.k8s.io/v1beta3"),
            "useHyperKubeImage",
        ),
        // v1beta3's argument maps are lists of name and value in v1beta4.
        (
            first("v1beta3", 1).replace("kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4"),
            "map, expected a sequence",
        ),
        // imagePullSerial and timeouts came with v1beta4, as did extraEnvs, proxy and
        // encryptionAlgorithm.
        (
            first("v1beta4", 0).replace("kubeadm.k8s.io/v1beta4", "kubeadm.k8s.io/v1beta3"),
            "imagePullSerial",
        ),
        (
            first("v1beta4", 0)
                .replace("kubeadm.k8s.io/v1beta4", "kubeadm.k8s.io/v1beta3")
                .replace("  imagePullSerial: true\n", "")
                .replace(
                    "  kubeletExtraArgs:\n  - name: \"v\"\n    value: \"5\"\n",
                    "",
                ),
            "timeouts",
        ),
        (
            first("v1beta4", 1).replace("kubeadm.k8s.io/v1beta4", "kubeadm.k8s.io/v1beta3"),
            "sequence, expected a map",
        ),
        // skipPhases came with v1beta3.
        (
            first("v1beta3", 0)
                .replace("kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta2")
                .replace("    v: 4\n", "    v: \"4\"\n")
                .replace("  imagePullPolicy: \"IfNotPresent\"\n", ""),
            "skipPhases",
        ),
    ] {
        let error = decode(&text).expect_err("another version's field");
        assert!(error.detail.contains(refused), "{refused}: {error}");
    }
    // An unknown field in the KubeletConfiguration, and in its authentication.
    let kubelet = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n";
    assert!(decode(kubelet).is_ok());
    assert!(decode(&format!("{kubelet}cgroupDrivers: systemd\n")).is_err());
    assert!(
        decode(&format!(
            "{kubelet}authentication:\n  webhook:\n  enabled: true\n"
        ))
        .is_err()
    );
    assert!(
        decode(&format!(
            "{kubelet}authentication:\n  webhook:\n    enabled: true\n"
        ))
        .is_ok()
    );
    // A field only newer kubelets read: labform's one KubeletConfiguration serves v1.20 too.
    assert!(
        decode(&format!(
            "{kubelet}containerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n"
        ))
        .is_err()
    );
}

#[test]
fn every_rendered_configuration_decodes_in_its_version() {
    let (_directory, store) = store();
    for lab in ["examples/seed-003", "tests/kubeadm-v1-20"] {
        let plan = planned(lab);
        let mut cluster = only_cluster(&plan).clone();
        let secrets = cluster_secrets(&store, &plan.scope, &cluster.name).expect("secrets");
        for (version, api) in [
            ("v1.20.2", "kubeadm.k8s.io/v1beta2"),
            ("v1.21.14", "kubeadm.k8s.io/v1beta2"),
            ("v1.22.17", "kubeadm.k8s.io/v1beta3"),
            ("v1.29.6", "kubeadm.k8s.io/v1beta3"),
            ("v1.30.9", "kubeadm.k8s.io/v1beta3"),
            ("v1.31.2", "kubeadm.k8s.io/v1beta4"),
            ("v1.33.1", "kubeadm.k8s.io/v1beta4"),
        ] {
            cluster.version = version.to_owned();
            for options in [
                InstallOptions::default(),
                InstallOptions {
                    image_repository: Some("registry.labform.internal".to_owned()),
                    control_plane_timeout: Some(std::time::Duration::from_secs(600)),
                },
            ] {
                for secrets in [
                    JoinSecrets::Values(&secrets),
                    JoinSecrets::Redacted { scope: &plan.scope },
                ] {
                    for config in node_configs(&cluster, &secrets, &options).expect("renders") {
                        let decoded = decode(&config.text).unwrap_or_else(|error| {
                            panic!("{lab} {version} {}: {error}\n{}", config.vm, config.text)
                        });
                        assert!(!decoded.is_empty());
                        for document in decoded {
                            if document.kind != "KubeletConfiguration" {
                                assert_eq!(document.api_version, api, "{lab} {version}");
                            }
                        }
                    }
                }
            }
        }
    }
}
