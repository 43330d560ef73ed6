//! The NoCloud seed image read back by outside tools: `blkid` (util-linux) sees an ISO 9660 file
//! system labelled `cidata`; `isoinfo` (genisoimage) lists `user-data`, `meta-data` and
//! `network-config` by their exact names through Rock Ridge and through Joliet and extracts each
//! with its exact content; cloud-init's own NoCloud code reads the extracted seed. Tiers
//! `seed-image-readers` and `cloud-init` of `labform-test-tiers`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{FixtureHostKeys, plan_with_lock, planned_example};
use labform_cloudinit::{PlanSeeds, SeedFiles, SeedSource as _, seed_iso};
use labform_secrets::ExposeSecret as _;

/// The path of `tool`, which the test's tier has checked.
fn require(tool: &str) -> PathBuf {
    labform_test_tiers::find_program(tool)
        .unwrap_or_else(|| panic!("`{tool}` is missing, yet its tier was available"))
}

/// The seed files of every cloud-init VM of seed-001, with fixture host keys.
fn seeds() -> Vec<(String, SeedFiles)> {
    let (_, plan) = planned_example("seed-001");
    let seeds = PlanSeeds::new(&plan, &FixtureHostKeys);
    plan.vms
        .iter()
        .filter(|vm| vm.cloud_init.is_some())
        .map(|vm| (vm.name.clone(), seeds.seed_files(vm).expect("seed files")))
        .collect()
}

fn run(program: &Path, arguments: &[&str], image: &Path) -> String {
    let output = Command::new(program)
        .args(arguments)
        .arg(image)
        .output()
        .unwrap_or_else(|error| panic!("run {}: {error}", program.display()));
    assert!(
        output.status.success(),
        "{} {arguments:?} failed: {}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

fn extract(isoinfo: &Path, image: &Path, mode: &str, name: &str) -> Vec<u8> {
    let output = Command::new(isoinfo)
        .args([mode, "-i"])
        .arg(image)
        .args(["-x", &format!("/{name}")])
        .output()
        .expect("run isoinfo");
    assert!(output.status.success(), "isoinfo {mode} -x /{name} failed");
    output.stdout
}

#[test]
fn blkid_and_isoinfo_read_the_seed() {
    if !labform_test_tiers::SEED_IMAGE_READERS.available() {
        return;
    }
    let blkid = require("blkid");
    let isoinfo = require("isoinfo");
    let directory = tempfile::tempdir().expect("temporary directory");
    for (name, files) in seeds() {
        let image = directory.path().join(format!("{name}.iso"));
        std::fs::write(&image, seed_iso(&files)).expect("write image");

        let probe = run(&blkid, &["-p", "-o", "export"], &image);
        assert!(probe.lines().any(|line| line == "LABEL=cidata"), "{probe}");
        assert!(probe.lines().any(|line| line == "TYPE=iso9660"), "{probe}");

        for mode in ["-R", "-J"] {
            let listing = run(&isoinfo, &[mode, "-l", "-i"], &image);
            for file in ["user-data", "meta-data", "network-config"] {
                assert!(
                    listing
                        .lines()
                        .any(|line| line.trim_end().ends_with(&format!(" {file}"))),
                    "isoinfo {mode} -l does not list {file}:\n{listing}"
                );
            }
            assert_eq!(
                extract(&isoinfo, &image, mode, "user-data"),
                files.user_data.expose_secret().as_bytes(),
                "{name} {mode}"
            );
            assert_eq!(
                extract(&isoinfo, &image, mode, "meta-data"),
                files.meta_data.as_bytes()
            );
            assert_eq!(
                extract(&isoinfo, &image, mode, "network-config"),
                files.network_config.as_bytes()
            );
        }
        let volume = run(&isoinfo, &["-d", "-i"], &image);
        assert!(volume.contains("Volume id: cidata"), "{volume}");
        assert!(volume.contains("Joliet"), "{volume}");
        assert!(volume.contains("Rock Ridge"), "{volume}");
    }
}

/// Runs cloud-init's NoCloud data source on a seed image. Device discovery answers from `blkid`
/// on the image (so cloud-init's own label and type matching decides whether it is a seed) and
/// "mounting" extracts the image's files with `isoinfo -R` into a directory; everything else
/// (which files are required, YAML loading, merging meta-data) is cloud-init's code.
const NOCLOUD_READ: &str = r#"
import json, subprocess, sys, tempfile
from cloudinit import helpers, util
from cloudinit.sources import DataSourceNoCloud

image = sys.argv[1]
probe = subprocess.run(["blkid", "-p", "-o", "export", image], check=True, capture_output=True, text=True).stdout
facts = dict(line.split("=", 1) for line in probe.splitlines() if "=" in line)

def find_devs_with(criteria=None, **kwargs):
    key, _, value = (criteria or "").partition("=")
    return [image] if facts.get(key) == value else []

def mount_cb(device, callback, data=None, **kwargs):
    directory = tempfile.mkdtemp()
    listing = subprocess.run(["isoinfo", "-R", "-f", "-i", device], check=True, capture_output=True, text=True).stdout
    for path in listing.split():
        content = subprocess.run(["isoinfo", "-R", "-i", device, "-x", path], check=True, capture_output=True).stdout
        with open(directory + path, "wb") as handle:
            handle.write(content)
    return callback(directory, data)

util.find_devs_with = find_devs_with
util.mount_cb = mount_cb
work = tempfile.mkdtemp()
source = DataSourceNoCloud.DataSourceNoCloud(sys_cfg={}, distro=None, paths=helpers.Paths({"cloud_dir": work, "run_dir": work}))
if not source._get_data():
    sys.exit("cloud-init's NoCloud data source found no seed on " + image)
user_data = source.userdata_raw
print(json.dumps({
    "metadata": source.metadata,
    "userdata": user_data.decode() if isinstance(user_data, bytes) else user_data,
    "network": source.network_config,
}))
"#;

#[test]
fn cloud_init_nocloud_reads_the_seed() {
    if !labform_test_tiers::SEED_IMAGE_READERS.available()
        || !labform_test_tiers::CLOUD_INIT.available()
    {
        return;
    }
    // Debian's interpreter, which imports Debian's cloud-init.
    let python = require("/usr/bin/python3");
    let (_, plan) = planned_example("seed-001");
    let directory = tempfile::tempdir().expect("temporary directory");
    for (name, files) in seeds() {
        let image = directory.path().join(format!("{name}.iso"));
        std::fs::write(&image, seed_iso(&files)).expect("write image");
        let output = Command::new(&python)
            .arg("-c")
            .arg(NOCLOUD_READ)
            .arg(&image)
            .output()
            .expect("run Debian's python3");
        assert!(
            output.status.success(),
            "cloud-init's NoCloud reader failed on {name} (is Debian's `cloud-init` installed?):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let read: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        assert_eq!(
            read["userdata"].as_str(),
            Some(files.user_data.expose_secret()),
            "{name}"
        );
        let instance_id = files
            .meta_data
            .lines()
            .find_map(|line| line.strip_prefix("instance-id: "))
            .expect("instance-id");
        assert_eq!(read["metadata"]["instance-id"], instance_id);
        assert_eq!(read["metadata"]["local-hostname"], name.as_str());
        let vm = plan.vms.iter().find(|vm| vm.name == name).expect("planned");
        let ethernet = &read["network"]["network"]["ethernets"]["eth0"];
        assert_eq!(read["network"]["network"]["version"], 2);
        assert_eq!(
            ethernet["match"]["macaddress"],
            vm.nic.mac.to_ascii_lowercase()
        );
    }
}

#[test]
fn instance_id_changes_with_any_seed_content() {
    let (lab, plan) = planned_example("seed-001");
    let vm = plan
        .vms
        .iter()
        .find(|vm| vm.cloud_init.is_some())
        .expect("a cloud-init VM");
    // The seed is rendered from the plan alone: a changed lab is planned again (with the same
    // lock file), and its VM of the same name rendered.
    let instance_id = |plan: &labform_planner::Plan, vm: &labform_planner::plan::PlannedVm| {
        let seeds = PlanSeeds::new(plan, &FixtureHostKeys);
        seeds.seed_files(vm).expect("seed").meta_data
    };
    let instance_id_in = |lab: &labform_model::LabFile| {
        let plan = plan_with_lock("seed-001", lab);
        let planned = plan
            .vms
            .iter()
            .find(|planned| planned.name == vm.name)
            .expect("the same VM")
            .clone();
        instance_id(&plan, &planned)
    };
    let original = instance_id(&plan, vm);
    assert_eq!(original, instance_id_in(&lab), "stable for the same inputs");

    let mut other_keys = lab.clone();
    other_keys
        .defaults
        .as_mut()
        .expect("defaults")
        .ssh_keys
        .push(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbB other"
            .into(),
    );
    assert_ne!(original, instance_id_in(&other_keys), "ssh keys");

    let mut other_packages = vm.clone();
    other_packages
        .cloud_init
        .as_mut()
        .expect("cloud-init")
        .packages
        .push("htop".into());
    assert_ne!(original, instance_id(&plan, &other_packages), "packages");

    let mut other_mtu = lab.clone();
    other_mtu.networks[0].mtu = Some(9000);
    assert_ne!(original, instance_id_in(&other_mtu), "network-config");
}
