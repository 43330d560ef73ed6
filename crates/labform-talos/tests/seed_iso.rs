//! A Talos node's seed image read back by outside tools (tier `seed-image-readers`): `blkid`
//! sees ISO 9660 labelled `cidata`, and `isoinfo` extracts `user-data` (the machine
//! configuration byte for byte, no `#cloud-config` header), `meta-data` and `network-config`
//! through Rock Ridge and Joliet.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bundle, planned_example};
use labform_secrets::ExposeSecret as _;
use labform_talos::{SecretsSource, TalosSeed, cluster_configurations};

fn require(tool: &str) -> PathBuf {
    labform_test_tiers::find_program(tool)
        .unwrap_or_else(|| panic!("`{tool}` is missing, yet its tier was available"))
}

fn run(program: &Path, arguments: &[&str]) -> Vec<u8> {
    let output = Command::new(program)
        .args(arguments)
        .output()
        .unwrap_or_else(|error| panic!("run {}: {error}", program.display()));
    assert!(
        output.status.success(),
        "{} {arguments:?} failed: {}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Seed 004's nodes' seeds.
fn seeds() -> Vec<(String, TalosSeed)> {
    let (_, plan) = planned_example("seed-004");
    let cluster = plan
        .clusters
        .iter()
        .find(|cluster| cluster.name == "talos")
        .expect("seed 004's Talos cluster");
    cluster_configurations(&plan, cluster, SecretsSource::Bundle(bundle()))
        .expect("configurations")
        .iter()
        .map(|configuration| {
            let vm = plan
                .vms
                .iter()
                .find(|vm| vm.name == configuration.vm)
                .expect("VM");
            (
                vm.name.clone(),
                TalosSeed::new(&plan.scope, vm, configuration),
            )
        })
        .collect()
}

#[test]
fn the_seed_carries_the_configuration_as_user_data() {
    for (name, seed) in seeds() {
        let user_data = seed.user_data.expose_secret();
        assert!(!user_data.starts_with("#cloud-config"), "{name}");
        assert!(user_data.starts_with("version: v1alpha1\n"), "{name}");
        assert!(
            seed.meta_data
                .ends_with(&format!("local-hostname: {name}\n")),
            "{name}"
        );
        assert!(seed.network_config.starts_with("version: 1\n"), "{name}");
        assert!(!format!("{seed:?}").contains(bundle().trustd_token.expose_secret()));
    }
}

#[test]
fn blkid_and_isoinfo_read_the_seed() {
    if !labform_test_tiers::SEED_IMAGE_READERS.available() {
        return;
    }
    let blkid = require("blkid");
    let isoinfo = require("isoinfo");
    let directory = tempfile::tempdir().expect("temporary directory");
    for (name, seed) in seeds() {
        let image = directory.path().join(format!("{name}.iso"));
        std::fs::write(&image, seed.iso()).expect("write image");
        let image_text = image.to_str().expect("UTF-8 path");
        let probe =
            String::from_utf8(run(&blkid, &["-p", "-o", "export", image_text])).expect("UTF-8");
        assert!(probe.lines().any(|line| line == "LABEL=cidata"), "{probe}");
        assert!(probe.lines().any(|line| line == "TYPE=iso9660"), "{probe}");
        for mode in ["-R", "-J"] {
            for (file, expected) in [
                ("user-data", seed.user_data.expose_secret().as_bytes()),
                ("meta-data", seed.meta_data.as_bytes()),
                ("network-config", seed.network_config.as_bytes()),
            ] {
                let extracted = run(
                    &isoinfo,
                    &[mode, "-i", image_text, "-x", &format!("/{file}")],
                );
                assert_eq!(extracted, expected, "{name} {mode} {file}");
            }
        }
    }
}
