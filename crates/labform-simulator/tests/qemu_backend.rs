//! The QEMU backend through the simulator's API, without root: volumes are real files (an
//! uploaded image, an import, a resize, a template's base volume, a linked clone as an overlay
//! on it, a full clone as an independent copy), a started VM is a QEMU process with the
//! configured memory and a cloud-init drive generated from its `ci*` settings, stop ends the
//! process and delete removes the files. Needs qemu-system-x86, qemu-utils and genisoimage (tier
//! `qemu-backend` of `labform-test-tiers`). Booting a guest is the real-VM test's job
//! (`crates/labform-cli/tests/real_vms.rs`); the VM here has no operating system.

use labform_ids::{NodeName, StorageName, VmId};
use labform_proxmox::Secret;
use labform_proxmox::api::ProxmoxApi;
use labform_proxmox::task::{WaitOptions, wait_for_task};
use labform_proxmox::types::*;
use labform_simulator::backend::qemu::{QemuBackend, QemuOptions};
use labform_simulator::{SimConfig, Simulator, Timing};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

fn node() -> NodeName {
    NodeName::new("pve1")
}

fn id(n: u32) -> VmId {
    VmId::new(n).unwrap()
}

async fn ok(api: &dyn ProxmoxApi, upid: labform_proxmox::Upid) {
    let options = WaitOptions {
        initial_interval: Duration::from_millis(50),
        deadline: Duration::from_secs(120),
        ..Default::default()
    };
    wait_for_task(api, &upid, options)
        .await
        .unwrap_or_else(|e| panic!("task {upid}: {e}"));
}

fn qemu_img_info(path: &Path) -> serde_json::Value {
    let output = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(output.status.success(), "qemu-img info {}", path.display());
    serde_json::from_slice(&output.stdout).unwrap()
}

fn images(state: &Path) -> PathBuf {
    state.join("storage/local@pve1/images")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volumes_are_files_and_started_vms_are_qemu_processes() {
    if !labform_test_tiers::QEMU_BACKEND.available() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let backend = QemuBackend::new(QemuOptions::new(state.path())).unwrap_or_else(|e| {
        panic!(
            "the QEMU backend tests need qemu-system-x86, qemu-utils and genisoimage \
             (apt-get install -y qemu-system-x86 qemu-utils genisoimage): {e}"
        )
    });
    let mut config = SimConfig::cluster(1, Secret::new("pw"));
    config.timing = Timing::instant();
    config.backend = Arc::new(backend);
    let sim = Simulator::new(config);
    let api = sim.root();

    // An image uploaded to the import content is a file.
    let source = state.path().join("source.qcow2");
    let made = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&source)
        .arg("64M")
        .status()
        .unwrap();
    assert!(made.success());
    let upload = Upload {
        content: "import".into(),
        filename: "base.qcow2".into(),
        data: std::fs::read(&source).unwrap(),
    };
    let u = api
        .upload(&node(), &StorageName::new("local"), &upload)
        .await
        .unwrap();
    ok(&api, u).await;
    assert!(
        state
            .path()
            .join("storage/local@pve1/import/base.qcow2")
            .is_file()
    );

    // Import, resize, template.
    let create = CreateVm::new(id(100))
        .with("name", "template")
        .with("memory", "128")
        .with("scsi0", "local:0,import-from=local:import/base.qcow2")
        .with("ide2", "local:cloudinit")
        .with("agent", "1");
    ok(&api, api.create_vm(&node(), &create).await.unwrap()).await;
    let disk = images(state.path()).join("vm-100-disk-0.qcow2");
    assert_eq!(qemu_img_info(&disk)["virtual-size"], 64 << 20);
    let config = api.vm_config(&node(), id(100), false).await.unwrap();
    assert!(config.values["scsi0"].contains("size=64M"), "{config:?}");
    let resize = ResizeDisk {
        disk: "scsi0".into(),
        size: "1G".into(),
        digest: None,
    };
    ok(
        &api,
        api.resize_disk(&node(), id(100), &resize).await.unwrap(),
    )
    .await;
    assert_eq!(qemu_img_info(&disk)["virtual-size"], 1u64 << 30);
    ok(
        &api,
        api.convert_to_template(&node(), id(100)).await.unwrap(),
    )
    .await;
    let base = images(state.path()).join("base-100-disk-0.qcow2");
    assert!(base.is_file() && !disk.exists());

    // A linked clone is an overlay on the base volume; a full clone an independent copy.
    let mut linked = CloneVm::new(id(101));
    linked.name = Some("linked".into());
    ok(&api, api.clone_vm(&node(), id(100), &linked).await.unwrap()).await;
    let overlay = images(state.path()).join("vm-101-disk-0.qcow2");
    assert_eq!(
        qemu_img_info(&overlay)["backing-filename"],
        base.to_str().unwrap()
    );
    let mut full = CloneVm::new(id(102));
    full.full = Some(true);
    ok(&api, api.clone_vm(&node(), id(100), &full).await.unwrap()).await;
    let copy = images(state.path()).join("vm-102-disk-0.qcow2");
    let copy_info = qemu_img_info(&copy);
    assert!(copy_info.get("backing-filename").is_none(), "{copy_info}");
    assert_eq!(copy_info["virtual-size"], 1u64 << 30);

    // Start: a QEMU process with the VM's memory and a NoCloud drive from its ci* settings.
    let update = ConfigUpdate::new()
        .set("memory", 192)
        .set("ciuser", "tester")
        .set("ipconfig0", "ip=10.0.20.5/24,gw=10.0.20.1")
        .set("nameserver", "10.0.20.1");
    api.update_vm_config_sync(&node(), id(101), &update)
        .await
        .unwrap();
    ok(
        &api,
        api.vm_action(&node(), id(101), VmAction::Start)
            .await
            .unwrap(),
    )
    .await;
    let run = state.path().join("run/101");
    let pid: u32 = std::fs::read_to_string(run.join("qemu.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let arguments: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let memory = arguments.iter().position(|a| a == "-m").unwrap() + 1;
    assert_eq!(arguments[memory], "192");
    assert!(run.join("cloudinit.iso").is_file());
    let user_data = std::fs::read_to_string(run.join("cloudinit/user-data")).unwrap();
    assert!(user_data.contains("user: tester"), "{user_data}");
    assert!(user_data.contains("hostname: linked"), "{user_data}");
    let meta_data = std::fs::read_to_string(run.join("cloudinit/meta-data")).unwrap();
    assert!(meta_data.starts_with("instance-id: "), "{meta_data}");
    let status = api.vm_status(&node(), id(101)).await.unwrap();
    assert_eq!(status.status, "running");
    // No operating system, so no guest agent answers.
    match api.agent_ping(&node(), id(101)).await {
        Err(error) => assert!(
            error.to_string().contains("guest agent is not running"),
            "{error}"
        ),
        Ok(()) => panic!("the agent of a VM without an OS does not answer"),
    }

    // Stop ends the process; delete removes the files.
    ok(
        &api,
        api.vm_action(&node(), id(101), VmAction::Stop)
            .await
            .unwrap(),
    )
    .await;
    // Gone, or a zombie waiting for its reaper (an empty command line).
    let ended = std::fs::read(format!("/proc/{pid}/cmdline")).map_or(true, |c| c.is_empty());
    assert!(ended, "QEMU {pid} ended");
    assert_eq!(
        api.vm_status(&node(), id(101)).await.unwrap().status,
        "stopped"
    );
    for vmid in [101, 102, 100] {
        ok(
            &api,
            api.delete_vm(&node(), id(vmid), DeleteVm::default())
                .await
                .unwrap(),
        )
        .await;
    }
    let left: Vec<_> = std::fs::read_dir(images(state.path()))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "disk files are left: {left:?}");
    assert!(!run.exists(), "the run directory is removed");
}
