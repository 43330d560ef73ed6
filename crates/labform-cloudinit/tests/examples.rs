//! Cloud-init of every example lab: snapshots of each VM's files, and the outside validators:
//! `cloud-init schema --config-file` for every user data, and cloud-init's own network-config
//! parser for every network-config (Debian's `cloud-init` package provides both; tier
//! `cloud-init` of `labform-test-tiers`).

mod common;

use std::fmt::Write as _;
use std::process::Command;

use common::{FixtureHostKeys, planned_example};
use labform_cloudinit::{ReviewFiles, node_context, render_for_review, render_for_seed};
use labform_secrets::ExposeSecret as _;

const EXAMPLES: [&str; 5] = ["seed-000", "seed-001", "seed-002", "seed-003", "seed-004"];

/// Every cloud-init VM of an example with its rendered files.
fn rendered(example: &str) -> Vec<(String, ReviewFiles)> {
    let (_, plan) = planned_example(example);
    plan.vms
        .iter()
        .filter(|vm| vm.cloud_init.is_some())
        .map(|vm| {
            let context = node_context(&plan, vm).expect("context");
            let files = render_for_review(&context, &FixtureHostKeys).expect("render");
            (vm.name.clone(), files)
        })
        .collect()
}

#[test]
fn example_snapshots() {
    for example in EXAMPLES {
        let mut text = String::new();
        let (_, plan) = planned_example(example);
        for vm in plan.vms.iter().filter(|vm| vm.cloud_init.is_none()) {
            writeln!(
                text,
                "# VM {} boots with `{}`: no cloud-init is rendered for it\n",
                vm.name, vm.boot
            )
            .expect("write");
        }
        for (name, files) in rendered(example) {
            write!(
                text,
                "=== {name}/user-data\n{}\n=== {name}/meta-data\n{}\n=== {name}/network-config\n{}\n",
                files.user_data, files.meta_data, files.network_config
            )
            .expect("write");
        }
        insta::assert_snapshot!(format!("{example}-cloud-init"), text);
    }
}

#[test]
fn review_files_hold_no_private_key_and_the_seed_differs_only_by_it() {
    for example in EXAMPLES {
        let (_, plan) = planned_example(example);
        for vm in plan.vms.iter().filter(|vm| vm.cloud_init.is_some()) {
            let context = node_context(&plan, vm).expect("context");
            let review = render_for_review(&context, &FixtureHostKeys).expect("review");
            let seed = render_for_seed(&context, &FixtureHostKeys).expect("seed");
            assert!(!review.user_data.contains("PRIVATE KEY"), "{}", vm.name);
            let seed_text = seed.user_data.expose_secret();
            assert!(seed_text.contains("ed25519_private: |"), "{}", vm.name);
            assert!(seed_text.contains("-----BEGIN OPENSSH PRIVATE KEY-----"));
            assert_eq!(
                seed.host_key.as_ref().expect("a host key").public_openssh(),
                review.host_public_key
            );
            assert!(review.user_data.contains(&review.host_public_key));
            assert_eq!(seed.meta_data, review.meta_data);
            assert_eq!(seed.network_config, review.network_config);
            let strip = |text: &str| {
                text.lines()
                    .filter(|line| !line.starts_with('#'))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            };
            let mut without_private = strip(seed_text);
            let start = without_private
                .iter()
                .position(|line| line.starts_with("  ed25519_private:"))
                .expect("private key line");
            let end = without_private
                .iter()
                .position(|line| line.contains("END OPENSSH PRIVATE KEY"))
                .expect("end line");
            without_private.drain(start..=end);
            assert_eq!(without_private, strip(&review.user_data), "{}", vm.name);
        }
    }
}

#[test]
fn talos_and_installer_vms_are_refused() {
    let (_, plan) = planned_example("seed-004");
    let talos = plan
        .vms
        .iter()
        .find(|vm| vm.boot == "talos")
        .expect("a Talos VM");
    let error = node_context(&plan, talos).expect_err("not cloud-init");
    assert!(error.to_string().contains(&talos.name), "{error}");
    assert!(error.to_string().contains("talos"), "{error}");
}

#[test]
fn every_user_data_passes_cloud_init_schema() {
    if !labform_test_tiers::CLOUD_INIT.available() {
        return;
    }
    let directory = tempfile::tempdir().expect("temporary directory");
    let mut paths = Vec::new();
    for example in EXAMPLES {
        for (name, files) in rendered(example) {
            let path = directory.path().join(format!("{example}-{name}.user-data"));
            std::fs::write(&path, &files.user_data).expect("write");
            paths.push(path);
        }
    }
    assert!(paths.len() > 20, "the examples have cloud-init VMs");
    // Two at a time: the machine has two cores.
    for pair in paths.chunks(2) {
        let children: Vec<_> = pair
            .iter()
            .map(|path| {
                let child = Command::new("cloud-init")
                    .args(["schema", "--config-file"])
                    .arg(path)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("run cloud-init schema");
                (path, child)
            })
            .collect();
        for (path, child) in children {
            let output = child.wait_with_output().expect("cloud-init schema ends");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success() && stdout.contains("Valid cloud-config"),
                "cloud-init schema refused {}:\n{stdout}\n{}",
                path.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

/// Parses every network-config with cloud-init's own parser (not skipping broken entries) and
/// prints what it understood: interface name, MAC, addresses, routes and name servers.
const NETWORK_CHECK: &str = r#"
import json, sys, yaml
from cloudinit.net import network_state
result = {}
for path in sys.argv[1:]:
    with open(path) as handle:
        document = yaml.safe_load(handle)
    state = network_state.parse_net_config_data(document["network"], skip_broken=False)
    interfaces = []
    for interface in state.iter_interfaces():
        interfaces.append({
            "name": interface["name"],
            "mac": interface.get("mac_address"),
            "subnets": [
                {
                    "type": subnet.get("type"),
                    "address": subnet.get("address"),
                    "prefix": subnet.get("prefix"),
                    "routes": [route.get("gateway") for route in subnet.get("routes", [])],
                    "dns": subnet.get("dns_nameservers", []),
                }
                for subnet in interface.get("subnets", [])
            ],
        })
    result[path] = interfaces
print(json.dumps(result))
"#;

#[test]
fn every_network_config_parses_with_cloud_init() {
    if !labform_test_tiers::CLOUD_INIT.available() {
        return;
    }
    let directory = tempfile::tempdir().expect("temporary directory");
    let mut expected = Vec::new();
    for example in EXAMPLES {
        let (_, plan) = planned_example(example);
        for (name, files) in rendered(example) {
            let path = directory
                .path()
                .join(format!("{example}-{name}.network-config"));
            std::fs::write(&path, &files.network_config).expect("write");
            let vm = plan.vms.iter().find(|vm| vm.name == name).expect("vm");
            expected.push((path, vm.nic.clone()));
        }
    }
    let output = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(NETWORK_CHECK)
        .args(expected.iter().map(|(path, _)| path))
        .output()
        .expect("run Debian's python3 with cloud-init");
    assert!(
        output.status.success(),
        "cloud-init's network-config parser failed (is Debian's cloud-init installed?):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    for (path, nic) in expected {
        let interfaces = &parsed[path.to_str().expect("utf-8 path")];
        assert_eq!(interfaces.as_array().map(Vec::len), Some(1), "{interfaces}");
        let interface = &interfaces[0];
        assert_eq!(interface["name"], "eth0");
        assert_eq!(interface["mac"], nic.mac.to_ascii_lowercase());
        let subnet = &interface["subnets"][0];
        match nic.address {
            Some(address) => {
                assert_eq!(subnet["type"], "static", "{interface}");
                assert_eq!(subnet["address"], address.to_string());
                assert_eq!(subnet["prefix"], nic.prefix);
                let gateway = nic.gateway.expect("gateway").to_string();
                assert_eq!(subnet["routes"][0], gateway.as_str(), "{interface}");
                let dns: Vec<String> = nic.dns.iter().map(ToString::to_string).collect();
                assert_eq!(subnet["dns"], serde_json::json!(dns), "{interface}");
            }
            None => assert_eq!(subnet["type"], "dhcp4", "{interface}"),
        }
    }
}
