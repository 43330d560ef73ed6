//! `labform backup` and `labform restore` through the binary: their help and the errors people
//! read (snapshots), and a VM of seed 001 backed up and restored over HTTPS against
//! `labform sim serve`, checked through the real client: the restored VM's config is the
//! backed-up one (a change made by hand after the backup is gone), a running VM is refused
//! without `--force`, and a following plan has nothing to do.

mod common;

use common::{SimServer, output_text};
use labform_ids::{NodeName, VmId};
use labform_proxmox::types::{ConfigUpdate, ResourceType};
use labform_proxmox::{Client, ProxmoxApi};

fn example(name: &str) -> String {
    format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn labform(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_labform"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("labform runs")
}

#[test]
fn help_of_backup_and_restore() {
    for command in ["backup", "restore"] {
        let output = labform(&[command, "--help"]);
        assert!(output.status.success());
        insta::assert_snapshot!(
            format!("{command}_help"),
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

#[test]
fn a_vm_not_in_the_lab_is_refused_naming_the_closest() {
    let backup = labform(&[
        "backup",
        "examples/seed-001.yaml",
        "home-server-0",
        "home-srv-1",
        "--no-lock",
    ]);
    assert_eq!(backup.status.code(), Some(2), "{}", output_text(&backup));
    insta::assert_snapshot!("backup_unknown_vm", String::from_utf8_lossy(&backup.stderr));
    let restore = labform(&[
        "restore",
        "examples/seed-001.yaml",
        "nothing-like-it",
        "--from",
        "latest",
        "--no-lock",
    ]);
    assert_eq!(restore.status.code(), Some(2), "{}", output_text(&restore));
    insta::assert_snapshot!(
        "restore_unknown_vm",
        String::from_utf8_lossy(&restore.stderr)
    );
}

/// Where `name` is and its config, without the fields that change with every write.
async fn config_of(
    api: &Client,
    name: &str,
) -> (NodeName, VmId, std::collections::BTreeMap<String, String>) {
    let resources = api.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    let vm = resources
        .iter()
        .find(|resource| resource.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("{name} exists"));
    let node = NodeName::new(vm.node.clone().expect("a VM has a node"));
    let vm_id = VmId::new(vm.vmid.expect("a VM has an ID") as u32).unwrap();
    let config = api.vm_config(&node, vm_id, false).await.unwrap();
    (node, vm_id, config.values)
}

#[test]
fn backup_then_restore_round_trips_a_vm() {
    let home = tempfile::tempdir().unwrap();
    let lab = example("seed-001.yaml");
    let simulator = SimServer::start(&["--lab", &lab, "--time-scale", "0"]);
    let applied = simulator.labform(
        home.path(),
        &["apply", "--yes", "--skip-clusters", "--no-lock", &lab],
    );
    assert!(applied.status.success(), "{}", output_text(&applied));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let api = simulator.root_client();
    let (node, vm_id, before) = runtime.block_on(config_of(&api, "home-server-1"));

    let backup = simulator.labform(home.path(), &["backup", &lab, "home-server-1", "--no-lock"]);
    assert!(backup.status.success(), "{}", output_text(&backup));
    let printed = String::from_utf8_lossy(&backup.stdout).to_string();
    let (name, volume) = printed
        .trim()
        .split_once('\t')
        .unwrap_or_else(|| panic!("one line `VM<tab>VOLUME`: {printed}"));
    assert_eq!(name, "home-server-1");
    assert!(
        volume.starts_with(&format!("local:backup/vzdump-qemu-{vm_id}-")),
        "{volume}"
    );
    // The volume is on the policy's storage, as the VM's backup.
    let listed = runtime
        .block_on(api.storage_content(&node, &"local".into(), Some("backup")))
        .unwrap();
    assert!(
        listed
            .iter()
            .any(|entry| entry.volid == volume && entry.vmid == Some(u64::from(vm_id.get()))),
        "{listed:?}"
    );

    // Changes by hand after the backup: one labform manages (apply would put it back too) and
    // one it does not (only the restore can take it away).
    assert!(!before.contains_key("onboot"), "{before:?}");
    let mut update = ConfigUpdate::default();
    update.set.insert("memory".into(), "1024".into());
    update.set.insert("onboot".into(), "1".into());
    runtime
        .block_on(api.update_vm_config_sync(&node, vm_id, &update))
        .unwrap();
    let (_, _, changed) = runtime.block_on(config_of(&api, "home-server-1"));
    assert_ne!(changed.get("memory"), before.get("memory"));
    assert_eq!(changed.get("onboot").map(String::as_str), Some("1"));

    // The VM runs: restoring over it is refused unless asked.
    let restore = |from: &str, more: &[&str]| {
        let mut args = vec![
            "restore",
            lab.as_str(),
            "home-server-1",
            "--from",
            from,
            "--no-lock",
        ];
        args.extend_from_slice(more);
        simulator.labform(home.path(), &args)
    };
    let refused = restore(volume, &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", output_text(&refused));
    let message = String::from_utf8_lossy(&refused.stderr)
        .replace(&simulator.url, "https://127.0.0.1:PORT")
        .replace(volume, "BACKUP");
    insta::assert_snapshot!("restore_running_vm", message);
    let (_, _, untouched) = runtime.block_on(config_of(&api, "home-server-1"));
    assert_eq!(untouched, changed, "a refused restore changed the VM");

    let restored = restore(volume, &["--force"]);
    assert!(restored.status.success(), "{}", output_text(&restored));
    let (after_node, after_id, after) = runtime.block_on(config_of(&api, "home-server-1"));
    assert_eq!((after_node, after_id), (node.clone(), vm_id));
    assert_eq!(after, before, "the restored config is the backed-up one");
    let status = runtime.block_on(api.vm_status(&node, vm_id)).unwrap();
    assert_eq!(status.status, "running", "the restored VM runs again");

    let plan = simulator.labform(home.path(), &["plan", "--no-lock", &lab]);
    assert!(plan.status.success(), "{}", output_text(&plan));
    assert!(
        output_text(&plan).contains("0 to create, 0 to update, 0 to replace, 0 to delete"),
        "{}",
        output_text(&plan)
    );
    let drift = simulator.labform(
        home.path(),
        &["drift", "--skip-clusters", "--no-lock", &lab],
    );
    assert_eq!(drift.status.code(), Some(0), "{}", output_text(&drift));

    // `latest` finds the same backup.
    let latest = restore("latest", &["--force"]);
    assert!(latest.status.success(), "{}", output_text(&latest));
    assert!(
        output_text(&latest).contains(volume),
        "{}",
        output_text(&latest)
    );
}
