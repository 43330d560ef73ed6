//! Seed images over HTTPS against the simulator's server: every cloud-init VM of seed-001 gets its
//! NoCloud seed uploaded and attached as `ide2` (holding its host name and labform's public host
//! key, read back with `isoinfo`), templates get no Proxmox cloud-init drive, a second apply
//! sends no write request, a change of the lab's SSH keys updates `sshkeys` and `ide2` in place
//! with a new seed and the old one deleted, and destroy leaves no seed behind. The seeds are read
//! back with `isoinfo`: tier `seed-image-readers` of `labform-test-tiers`.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::*;
use labform_cloudinit::{HostKeyPair, HostKeySource as _};
use labform_executor::Journal;
use labform_executor::metered::Metered;
use labform_ids::{NodeName, StorageName};
use labform_planner::plan::{Plan, PlannedVm};
use labform_planner::reconcile::{Effect, VmAction};
use labform_proxmox::ProxmoxApi;

/// Reads `/name` from the ISO image `image` through Rock Ridge with `isoinfo` (Debian package
/// genisoimage).
fn read_from_image(image: &[u8], name: &str) -> String {
    let isoinfo = labform_test_tiers::find_program("isoinfo")
        .expect("`isoinfo` is missing, yet its tier was available");
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("seed.iso");
    std::fs::write(&path, image).expect("write the image");
    let output = Command::new(isoinfo)
        .args(["-R", "-i"])
        .arg(&path)
        .args(["-x", &format!("/{name}")])
        .output()
        .expect("run isoinfo");
    assert!(output.status.success(), "isoinfo cannot read /{name}");
    String::from_utf8(output.stdout).expect("utf-8")
}

fn cloud_init_vms(plan: &Plan) -> Vec<&PlannedVm> {
    plan.vms
        .iter()
        .filter(|vm| vm.cloud_init.is_some())
        .collect()
}

/// The ISO volumes of `storage` on `node` whose name begins with `prefix`.
async fn seed_volumes(
    api: &dyn ProxmoxApi,
    node: &str,
    storage: &str,
    prefix: &str,
) -> Vec<String> {
    api.storage_content(
        &NodeName::new(node),
        &StorageName::new(storage),
        Some("iso"),
    )
    .await
    .expect("storage content")
    .into_iter()
    .map(|volume| volume.volid)
    .filter(|volid| volid.starts_with(&format!("{storage}:iso/{prefix}")))
    .collect()
}

/// Checks that every cloud-init VM of `plan` runs from its planned seed, uploaded in `uploads`,
/// holding its host name, its public host key and `ssh_key`; returns how many were checked.
async fn check_seeds(
    api: &dyn ProxmoxApi,
    plan: &Plan,
    uploads: &[(String, String, labform_proxmox::types::Upload)],
    ssh_key: &str,
) -> usize {
    let vms = cloud_init_vms(plan);
    for vm in &vms {
        let seed = vm.seed.as_ref().expect("a planned seed");
        let config = api
            .vm_config(&vm.node.clone(), vm.vm_id, true)
            .await
            .expect("config");
        assert_eq!(
            config
                .values
                .get("ide2")
                .map(|drive| drive.split(',').next()),
            Some(Some(
                format!("{}:iso/{}", seed.storage, seed.file_name).as_str()
            )),
            "{}: {:?}",
            vm.name,
            config.values.get("ide2")
        );
        assert!(config.values["ide2"].contains("media=cdrom"));
        let (node, storage, upload) = uploads
            .iter()
            .rev()
            .find(|(_, _, upload)| upload.filename == seed.file_name)
            .unwrap_or_else(|| panic!("{}: {} was not uploaded", vm.name, seed.file_name));
        assert_eq!(
            (node.as_str(), storage.as_str()),
            (vm.node.as_str(), seed.storage.as_str())
        );
        assert_eq!(upload.content, "iso");
        let user_data = read_from_image(&upload.data, "user-data");
        let host_key: HostKeyPair = HOST_KEYS.host_key(&vm.name).expect("host key");
        assert!(
            user_data.contains(&format!("hostname: {}\n", vm.name)),
            "{}: {user_data}",
            vm.name
        );
        assert!(user_data.contains(host_key.public_openssh()), "{}", vm.name);
        assert!(user_data.contains(ssh_key), "{}", vm.name);
        let meta_data = read_from_image(&upload.data, "meta-data");
        assert!(meta_data.contains(&format!("local-hostname: {}\n", vm.name)));
        let network_config = read_from_image(&upload.data, "network-config");
        assert!(network_config.contains(&vm.nic.mac.to_ascii_lowercase()));
        // Exactly one seed of this VM is stored: the one attached.
        let prefix = labform_planner::desired::seed_file_prefix(&plan.scope, vm.vm_id);
        assert_eq!(
            seed_volumes(api, &vm.node, &seed.storage, &prefix).await,
            [format!("{}:iso/{}", seed.storage, seed.file_name)],
            "{}",
            vm.name
        );
    }
    vms.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_images_are_uploaded_attached_replaced_and_removed() {
    if !labform_test_tiers::SEED_IMAGE_READERS.available() {
        return;
    }
    let mut lab = load_lab("../../examples/seed-001.yaml");
    let original_key = lab.defaults.as_ref().expect("defaults").ssh_keys[0].clone();
    let simulator = simulator_for(&lab, 0.001);
    let served = serve(simulator).await;
    let tap = Arc::new(Metered::recording_uploads(served.client.clone()));
    let api: Arc<dyn ProxmoxApi> = tap.clone();
    let journal = Arc::new(Journal::in_memory());

    // From empty: every cloud-init VM gets its seed; templates get no cloud-init drive.
    let first = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
    assert!(first.report.failed.is_empty(), "{:#?}", first.report.failed);
    let checked = check_seeds(api.as_ref(), &first.plan, &tap.uploads(), &original_key).await;
    assert_eq!(checked, 5, "seed-001 has five cloud-init VMs");
    assert_eq!(tap.uploads().len(), 5, "one upload per VM");
    for template in &first.plan.templates {
        let config = api
            .vm_config(&template.node.clone(), template.vm_id, true)
            .await
            .expect("template config");
        assert!(
            !config.values.contains_key("ide2"),
            "{}: {:?}",
            template.name,
            config.values.get("ide2")
        );
    }

    // Unchanged: nothing is uploaded, no write request is sent.
    let writes_before = served.writes.load(Ordering::SeqCst);
    let second = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
    assert!(
        second.reconciliation.is_empty(),
        "{:#?}",
        second.reconciliation
    );
    assert_eq!(served.writes.load(Ordering::SeqCst), writes_before);
    assert_eq!(tap.uploads().len(), 5);

    // Another SSH key: `sshkeys` and `ide2` change in place, at the next boot.
    let new_key = format!(
        "{} someone@elsewhere",
        HostKeyPair::generate("new-key")
            .expect("key")
            .public_openssh()
    );
    lab.defaults.as_mut().expect("defaults").ssh_keys = vec![new_key.clone()];
    let third = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
    assert!(third.report.failed.is_empty(), "{:#?}", third.report.failed);
    assert!(
        !third.reconciliation.has_drift(),
        "a lab change is not drift"
    );
    for vm in cloud_init_vms(&third.plan) {
        let change = third
            .reconciliation
            .changes
            .iter()
            .find(|change| change.name == vm.name)
            .expect("a change");
        let VmAction::Update { changes } = &change.action else {
            panic!("{}: an in-place update, not {:?}", vm.name, change.action)
        };
        let fields: Vec<(&str, Effect)> = changes
            .iter()
            .map(|field| (field.field.as_str(), field.effect))
            .collect();
        assert_eq!(
            fields,
            [("sshkeys", Effect::NextBoot), ("ide2", Effect::NextBoot)],
            "{}",
            vm.name
        );
        let before = first
            .plan
            .vms
            .iter()
            .find(|old| old.name == vm.name)
            .and_then(|old| old.seed.clone())
            .expect("an earlier seed");
        assert_ne!(before.file_name, vm.seed.as_ref().expect("seed").file_name);
    }
    assert_eq!(third.report.updated.len(), 5, "{:?}", third.report.updated);
    assert!(third.report.replaced.is_empty());
    assert_eq!(tap.uploads().len(), 10, "one new seed per VM");
    check_seeds(api.as_ref(), &third.plan, &tap.uploads(), &new_key).await;

    // And converged again.
    let writes_before = served.writes.load(Ordering::SeqCst);
    let fourth = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
    assert!(
        fourth.reconciliation.is_empty(),
        "{:#?}",
        fourth.reconciliation
    );
    assert_eq!(served.writes.load(Ordering::SeqCst), writes_before);

    // Destroy: no seed image is left, also none a stopped run left behind for a VM that is gone;
    // other scopes' seeds and other ISO images stay.
    let node = NodeName::new(&lab.proxmox[0].nodes[0].name);
    let stray = format!("labform-{}-4321-0123abcd.iso", fourth.plan.scope);
    let other_scope = format!("labform-{}-2-1000-0123abcd.iso", fourth.plan.scope);
    for filename in [stray.as_str(), other_scope.as_str(), "installer.iso"] {
        let upload = labform_proxmox::types::Upload {
            content: "iso".into(),
            filename: filename.into(),
            data: vec![0; 4096],
        };
        let upid = api
            .upload(&node, &StorageName::new("local"), &upload)
            .await
            .expect("upload");
        labform_proxmox::task::wait_for_task(api.as_ref(), &upid, fast_options().task_wait)
            .await
            .expect("uploaded");
    }
    let report = destroy(&lab, api.clone(), &fourth.plan).await;
    assert!(report.failed.is_empty(), "{:#?}", report.failed);
    let left = seed_volumes(api.as_ref(), node.as_str(), "local", "").await;
    assert!(!left.contains(&format!("local:iso/{stray}")), "{left:?}");
    assert!(
        left.contains(&format!("local:iso/{other_scope}")),
        "{left:?}"
    );
    assert!(
        left.contains(&"local:iso/installer.iso".to_owned()),
        "{left:?}"
    );
    for node in &lab.proxmox[0].nodes {
        let left = seed_volumes(
            api.as_ref(),
            &node.name,
            "local",
            &format!("labform-{}-", fourth.plan.scope),
        )
        .await;
        assert_eq!(
            left,
            [format!("local:iso/{other_scope}")],
            "only the other scope's seed is left on {}",
            node.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_with_proxmox_cloud_init_drive_moves_to_its_seed() {
    let lab = load_lab("../../examples/seed-001.yaml");
    let simulator = simulator_for(&lab, 0.001);
    let tap = Arc::new(Metered::recording_uploads(Arc::new(simulator.root())));
    let api: Arc<dyn ProxmoxApi> = tap.clone();
    let journal = Arc::new(Journal::in_memory());
    let first = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
    assert!(first.report.failed.is_empty(), "{:#?}", first.report.failed);

    // As labform made VMs before seed images: Proxmox's own cloud-init drive on ide2.
    let vm = cloud_init_vms(&first.plan)[0].clone();
    let node = vm.node.clone();
    let update = labform_proxmox::types::ConfigUpdate::new().set("ide2", "local-lvm:cloudinit");
    let upid = api
        .update_vm_config(&node, vm.vm_id, &update)
        .await
        .expect("attach a cloud-init drive");
    labform_proxmox::task::wait_for_task(api.as_ref(), &upid, fast_options().task_wait)
        .await
        .expect("attached");
    let drive = api
        .vm_config(&node, vm.vm_id, false)
        .await
        .expect("config")
        .values["ide2"]
        .clone();
    assert!(drive.contains("cloudinit"), "{drive}");

    let second = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
    assert!(
        second.report.failed.is_empty(),
        "{:#?}",
        second.report.failed
    );
    let change = second
        .reconciliation
        .changes
        .iter()
        .find(|change| change.name == vm.name)
        .expect("a change");
    let VmAction::Update { changes } = &change.action else {
        panic!("{:?}", change.action)
    };
    assert_eq!(
        changes
            .iter()
            .map(|field| field.field.as_str())
            .collect::<Vec<_>>(),
        ["ide2"]
    );
    let seed = vm.seed.as_ref().expect("seed");
    let config = api.vm_config(&node, vm.vm_id, false).await.expect("config");
    assert_eq!(
        config.values["ide2"].split(',').next(),
        Some(format!("{}:iso/{}", seed.storage, seed.file_name).as_str())
    );
    // The seed was already there: nothing was uploaded again, and it was not deleted.
    assert_eq!(tap.uploads().len(), 5, "only the first apply uploaded");
    let prefix = labform_planner::desired::seed_file_prefix(&first.plan.scope, vm.vm_id);
    assert_eq!(
        seed_volumes(api.as_ref(), &vm.node, &seed.storage, &prefix).await,
        [format!("{}:iso/{}", seed.storage, seed.file_name)]
    );
    let third = cycle(&lab, api.clone(), journal, fast_options()).await;
    assert!(
        third.reconciliation.is_empty(),
        "{:#?}",
        third.reconciliation
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_that_cannot_be_rendered_fails_its_vm_before_anything_is_made() {
    let lab = load_lab("../../examples/seed-001.yaml");
    let simulator = simulator_for(&lab, 0.001);
    let api: Arc<dyn ProxmoxApi> = Arc::new(simulator.root());
    let journal = Arc::new(Journal::in_memory());
    let failing = "home-worker-1";
    let first = cycle_failing_seed(
        &lab,
        api.clone(),
        journal.clone(),
        fast_options(),
        Some(failing),
    )
    .await;
    assert_eq!(first.report.failed.len(), 1, "{:#?}", first.report.failed);
    assert!(
        first.report.failed[0].starts_with(&format!("{failing}: cannot render the seed image"))
            && first.report.failed[0].contains("the secret store is locked (injected)"),
        "{}",
        first.report.failed[0]
    );
    let vm = first
        .plan
        .vms
        .iter()
        .find(|vm| vm.name == failing)
        .expect("planned");
    let resources = api
        .cluster_resources(Some(labform_proxmox::types::ResourceType::Vm))
        .await
        .expect("resources");
    assert!(
        resources
            .iter()
            .all(|resource| resource.vmid != Some(u64::from(vm.vm_id.get()))),
        "nothing was made for {failing}"
    );
    // With the seed renderable again, the next apply creates it.
    let second = cycle(&lab, api.clone(), journal, fast_options()).await;
    assert!(
        second.report.failed.is_empty(),
        "{:#?}",
        second.report.failed
    );
    assert_eq!(second.report.created, [failing]);
}
