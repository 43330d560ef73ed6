//! Reconciliation of a plan with an observed inventory: a lab as applied is unchanged, changes by
//! hand are drift, changes to the lab are updates or replacements, only owned VMs are deleted, and
//! VM IDs held by others are avoided or reported.

use std::path::Path;

use labform_model::{MemoryFileSystem, load};
use labform_planner::desired::desired_config;
use labform_planner::inventory::{Inventory, ObservedDisk, ObservedVm};
use labform_planner::ownership::Owner;
use labform_planner::reconcile::{Effect, VmAction, reconcile};
use labform_planner::tenancy::TokenSecrets;
use labform_planner::{Allocations, Plan, plan, plan_against};

const LAB: &str = "lab: recon
proxmox:
  - name: pve
    endpoint: https://pve.test:8006
    credentials: {token: {id: a@pve!b, secret: {env: T}}}
    nodes: [{name: n1, cpu: 32, memory: 64GiB}, {name: n2, cpu: 32, memory: 64GiB}]
    storages: [{name: local, content: [iso, import], capacity: 1TiB}, {name: data, content: [images], capacity: 10TiB}]
images: [{name: debian, url: https://img.test/d.qcow2, checksum: 'sha256:0000000000000000000000000000000000000000000000000000000000000000'}]
defaults: {image: debian, ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests0000000000000000000000000000 a@b']}
networks:
  - {name: lan, bridge: vmbr0, vlan: 20, cidr: 10.0.0.0/24, gateway: 10.0.0.1, dns: [10.0.0.1], pools: [{name: nodes, purpose: nodes, range: 10.0.0.10-10.0.0.99}]}
clusters:
  - name: k
    distribution: k3s
    version: v1.31.4+k3s1
    network: lan
    servers: {count: 1, cpu: 2, memory: 4GiB, disks: [{size: 20GiB}]}
    agents: [{count: 2, cpu: 2, memory: 4GiB}]
";

fn planned(text: &str, previous: &Allocations) -> (Plan, Allocations) {
    let mut files = MemoryFileSystem::new();
    files.insert("lab.yaml", text);
    let lab = load(&files, Path::new("lab.yaml")).lab.expect("loads");
    let planned = plan(&lab, previous);
    (planned.plan.expect("plans"), planned.allocations)
}

/// What Proxmox would report after labform applied `plan` faithfully.
fn as_applied(plan: &Plan) -> Inventory {
    let mut vms = Vec::new();
    for template in &plan.templates {
        vms.push(ObservedVm {
            endpoint: template.endpoint.clone(),
            vm_id: template.vm_id,
            node: template.node.clone(),
            name: template.name.clone(),
            template: true,
            running: false,
            tags: vec!["labform".into()],
            owner: Some(Owner {
                lab: plan.lab.clone(),
                scope: plan.scope.clone(),
                cluster: None,
                role: "template".into(),
                key: template.key.clone(),
                image: Some(template.image.clone()),
                spec: template.spec.clone(),
                api_vip: None,
                load_balancers: None,
            }),
            config: Default::default(),
            pending: Default::default(),
            disks: vec![],
            pool: None,
            config_read: true,
        });
    }
    for vm in &plan.vms {
        vms.push(ObservedVm {
            endpoint: vm.endpoint.clone(),
            vm_id: vm.vm_id,
            node: vm.node.clone(),
            name: vm.name.clone(),
            template: false,
            running: true,
            tags: vm.tags.clone(),
            owner: Some(Owner {
                lab: plan.lab.clone(),
                scope: plan.scope.clone(),
                cluster: vm.cluster.clone(),
                role: vm.role.clone(),
                key: labform_planner::AllocationKey::vm(&vm.name),
                image: vm.image.clone(),
                spec: vm.spec.clone(),
                api_vip: None,
                load_balancers: None,
            }),
            config: desired_config(vm)
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect(),
            pending: Default::default(),
            disks: vm
                .disks
                .iter()
                .map(|disk| ObservedDisk {
                    slot: disk.slot.clone(),
                    storage: disk.storage.clone(),
                    size_gib: disk.size_gib,
                })
                .collect(),
            pool: vm.pool.clone(),
            config_read: true,
        });
    }
    Inventory {
        vms,
        ..Inventory::default()
    }
}

#[test]
fn an_applied_lab_is_unchanged_and_its_allocations_come_back_from_proxmox() {
    let (plan, allocations) = planned(LAB, &Allocations::empty());
    let inventory = as_applied(&plan);
    let reconciliation = reconcile(&plan, &inventory, &TokenSecrets::none());
    assert!(reconciliation.is_empty(), "{reconciliation:#?}");
    // Without the lock file, the inventory alone gives the same allocations.
    let recovered = inventory.merge_into(&plan.scope, &Allocations::empty());
    assert_eq!(recovered.vm_ids, allocations.vm_ids);
    assert_eq!(recovered.nodes, allocations.nodes);
    let (replanned, _) = planned(LAB, &recovered);
    assert_eq!(replanned, plan);
}

#[test]
fn a_change_by_hand_is_drift_field_by_field() {
    let (plan, _) = planned(LAB, &Allocations::empty());
    let mut inventory = as_applied(&plan);
    let agent = inventory
        .vms
        .iter_mut()
        .find(|vm| vm.name == "k-agent-1")
        .unwrap();
    agent.config.insert("memory".into(), "8192".into());
    agent.config.insert(
        "net0".into(),
        agent.config["net0"].replace("tag=20", "tag=30") + ",firewall=1",
    );
    let reconciliation = reconcile(&plan, &inventory, &TokenSecrets::none());
    assert!(reconciliation.has_drift());
    let change = reconciliation
        .changes
        .iter()
        .find(|change| change.name == "k-agent-1")
        .unwrap();
    let VmAction::Update { changes } = &change.action else {
        panic!("{change:?}")
    };
    type Row<'a> = (&'a str, Option<&'a str>, Option<&'a str>, bool, Effect);
    let fields: Vec<Row<'_>> = changes
        .iter()
        .map(|field| {
            (
                field.field.as_str(),
                field.observed.as_deref(),
                field.desired.as_deref(),
                field.drift,
                field.effect,
            )
        })
        .collect();
    assert_eq!(fields.len(), 2, "{fields:?}");
    assert_eq!(
        fields[0],
        ("memory", Some("8192"), Some("4096"), true, Effect::NextBoot)
    );
    assert_eq!(fields[1].0, "net0");
    assert!(fields[1].3);
    // Proxmox's own defaults (firewall=1) alone are not drift.
    let agent = inventory
        .vms
        .iter_mut()
        .find(|vm| vm.name == "k-agent-1")
        .unwrap();
    agent.config.insert("memory".into(), "4096".into());
    agent.config.insert(
        "net0".into(),
        agent.config["net0"].replace("tag=30", "tag=20"),
    );
    assert!(reconcile(&plan, &inventory, &TokenSecrets::none()).is_empty());
}

#[test]
fn changing_the_lab_updates_in_place_or_replaces_with_a_reason() {
    let (before, allocations) = planned(LAB, &Allocations::empty());
    let inventory = as_applied(&before);
    let bigger = LAB.replace(
        "servers: {count: 1, cpu: 2, memory: 4GiB, disks: [{size: 20GiB}]}",
        "servers: {count: 1, cpu: 4, memory: 8GiB, disks: [{size: 40GiB}]}",
    );
    let (after, _) = planned(&bigger, &allocations);
    let reconciliation = reconcile(&after, &inventory, &TokenSecrets::none());
    assert!(!reconciliation.has_drift(), "a lab change is not drift");
    let server = reconciliation
        .changes
        .iter()
        .find(|change| change.name == "k-server-0")
        .unwrap();
    let VmAction::Update { changes } = &server.action else {
        panic!("{server:?}")
    };
    let fields: Vec<&str> = changes.iter().map(|field| field.field.as_str()).collect();
    assert_eq!(fields, ["cores", "memory", "scsi0"]);
    let smaller = LAB.replace("disks: [{size: 20GiB}]", "disks: [{size: 10GiB}]");
    let (after, _) = planned(&smaller, &allocations);
    let server = reconcile(&after, &inventory, &TokenSecrets::none())
        .changes
        .into_iter()
        .find(|change| change.name == "k-server-0")
        .unwrap();
    assert!(
        matches!(&server.action, VmAction::Replace { reason } if reason.contains("shrink")),
        "{server:?}"
    );
}

#[test]
fn only_owned_vms_are_deleted_and_foreign_ids_are_avoided() {
    let (plan, allocations) = planned(LAB, &Allocations::empty());
    let mut inventory = as_applied(&plan);
    // Someone else's VM, with a name that looks like ours.
    let mut foreign = inventory
        .vms
        .iter()
        .find(|vm| vm.name == "k-agent-1")
        .unwrap()
        .clone();
    foreign.vm_id = labform_ids::VmId::new(4242).unwrap();
    foreign.name = "k-agent-9".into();
    foreign.owner = None;
    inventory.vms.push(foreign);
    // One agent fewer in the lab: its VM is deleted, the foreign one is not.
    let fewer = LAB.replace("agents: [{count: 2,", "agents: [{count: 1,");
    let (after, _) = planned(&fewer, &inventory.merge_into(&plan.scope, &allocations));
    let reconciliation = reconcile(&after, &inventory, &TokenSecrets::none());
    let deleted: Vec<&str> = reconciliation
        .changes
        .iter()
        .filter(|change| matches!(change.action, VmAction::Delete { .. }))
        .map(|change| change.name.as_str())
        .collect();
    assert_eq!(deleted, ["k-agent-1"]);

    // A foreign VM sitting on the first free ID: new VMs skip it instead of colliding.
    let mut files = MemoryFileSystem::new();
    files.insert("lab.yaml", LAB);
    let lab = load(&files, Path::new("lab.yaml")).lab.unwrap();
    let taken = Inventory {
        vms: vec![ObservedVm {
            endpoint: "pve".into(),
            vm_id: labform_ids::VmId::new(1000).unwrap(),
            node: "n1".into(),
            name: "someone-elses".into(),
            template: false,
            running: true,
            tags: vec![],
            owner: None,
            config: Default::default(),
            pending: Default::default(),
            disks: vec![],
            pool: None,
            config_read: true,
        }],
        ..Inventory::default()
    };
    let planned = plan_against(&lab, &Allocations::empty(), &taken.observed_ids("recon"));
    let avoided = planned.plan.unwrap();
    assert!(avoided.vms.iter().all(|vm| vm.vm_id.get() != 1000));
    assert!(
        reconcile(&avoided, &taken, &TokenSecrets::none())
            .conflicts
            .is_empty()
    );
    // A lock that still records 1000 for a VM: it moves, with a warning naming the reason.
    let planned = plan_against(&lab, &allocations, &taken.observed_ids("recon"));
    assert!(
        planned
            .diagnostics
            .iter()
            .any(|diagnostic| diagnostic.code == "vm-id-taken")
    );
    // Without the foreign IDs, reconciliation reports the collision instead of touching the VM.
    let collided = reconcile(&plan, &taken, &TokenSecrets::none());
    assert_eq!(collided.conflicts.len(), 1, "{collided:#?}");
    assert!(
        collided.conflicts[0]
            .holder
            .contains("not owned by labform")
    );
}

#[test]
fn changing_ssh_keys_moves_the_seed_image_in_place() {
    let (before, allocations) = planned(LAB, &Allocations::empty());
    for vm in &before.vms {
        let seed = vm.seed.as_ref().expect("cloud-init VMs have a seed");
        assert_eq!(seed.storage, "local", "the first storage with iso content");
        assert!(
            seed.file_name
                .starts_with(&format!("labform-{}-{}-", before.scope, vm.vm_id))
                && seed.file_name.ends_with(".iso"),
            "{}",
            seed.file_name
        );
        assert_eq!(
            desired_config(vm)["ide2"],
            format!("local:iso/{},media=cdrom", seed.file_name)
        );
    }
    let mut inventory = as_applied(&before);
    // Proxmox may print more options on the drive; the volume is what counts.
    for vm in &mut inventory.vms {
        if let Some(drive) = vm.config.get_mut("ide2") {
            drive.push_str(",size=56K");
        }
    }
    assert!(reconcile(&before, &inventory, &TokenSecrets::none()).is_empty());

    let other_keys = LAB.replace(
        "ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests0000000000000000000000000000 a@b']",
        "ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests1111111111111111111111111111 c@d']",
    );
    assert_ne!(other_keys, LAB);
    let (after, _) = planned(&other_keys, &allocations);
    let reconciliation = reconcile(&after, &inventory, &TokenSecrets::none());
    assert!(!reconciliation.has_drift(), "a lab change is not drift");
    for (old, new) in before.vms.iter().zip(&after.vms) {
        let change = reconciliation
            .changes
            .iter()
            .find(|change| change.name == new.name)
            .expect("a change per VM");
        let VmAction::Update { changes } = &change.action else {
            panic!("an in-place update, not {change:?}")
        };
        let fields: Vec<(&str, Effect)> = changes
            .iter()
            .map(|field| (field.field.as_str(), field.effect))
            .collect();
        assert_eq!(
            fields,
            [("sshkeys", Effect::NextBoot), ("ide2", Effect::NextBoot)]
        );
        let old_seed = old.seed.as_ref().expect("seed");
        let new_seed = new.seed.as_ref().expect("seed");
        assert_ne!(old_seed.file_name, new_seed.file_name);
    }
}

#[test]
fn changing_what_cloud_init_adds_moves_the_seed_image_in_place() {
    let (before, allocations) = planned(LAB, &Allocations::empty());
    let inventory = as_applied(&before);
    let with_additions = LAB.replace(
        "    agents: [{count: 2, cpu: 2, memory: 4GiB}]",
        "    agents:
      - count: 2
        cpu: 2
        memory: 4GiB
        cloud_init:
          packages: [nfs-common]
          files: [{path: /etc/motd, content: \"lab agent\\n\"}]
          commands: [\"echo booted > /var/tmp/first-boot\"]
          user_data: {final_message: done}",
    );
    assert_ne!(with_additions, LAB);
    let (after, _) = planned(&with_additions, &allocations);
    let reconciliation = reconcile(&after, &inventory, &TokenSecrets::none());
    assert!(!reconciliation.has_drift(), "a lab change is not drift");
    for (old, new) in before.vms.iter().zip(&after.vms) {
        let agent = new.role.starts_with("agent");
        let changed = reconciliation
            .changes
            .iter()
            .find(|change| change.name == new.name);
        if !agent {
            assert!(
                changed.is_none_or(|change| matches!(change.action, VmAction::Unchanged)),
                "{} is unchanged",
                new.name
            );
            continue;
        }
        let VmAction::Update { changes } = &changed.expect("a change per agent").action else {
            panic!("an in-place update of {}", new.name)
        };
        let fields: Vec<(&str, Effect)> = changes
            .iter()
            .map(|field| (field.field.as_str(), field.effect))
            .collect();
        assert_eq!(fields, [("ide2", Effect::NextBoot)]);
        let cloud_init = new.cloud_init.as_ref().expect("cloud-init");
        assert!(cloud_init.packages.contains(&"nfs-common".to_owned()));
        assert_eq!(cloud_init.files[0].mode, "0644");
        assert_eq!(cloud_init.files[0].owner, "root:root");
        assert_ne!(
            old.seed.as_ref().expect("seed").file_name,
            new.seed.as_ref().expect("seed").file_name
        );
    }
}

#[test]
fn the_seed_lives_on_an_iso_storage_of_the_vms_node() {
    let restricted = LAB.replace(
        "storages: [{name: local, content: [iso, import], capacity: 1TiB}",
        "storages: [{name: isos-n2, content: [iso], capacity: 1TiB, nodes: [n2]}, {name: local, content: [iso, import], capacity: 1TiB}",
    );
    assert_ne!(restricted, LAB);
    let (plan, _) = planned(&restricted, &Allocations::empty());
    assert!(plan.vms.iter().any(|vm| vm.node == "n1"));
    assert!(plan.vms.iter().any(|vm| vm.node == "n2"));
    for vm in &plan.vms {
        let expected = if vm.node == "n2" { "isos-n2" } else { "local" };
        assert_eq!(
            vm.seed.as_ref().expect("seed").storage,
            expected,
            "{}",
            vm.name
        );
    }
}

#[test]
fn create_time_settings_are_planned_hashed_and_their_changes_by_hand_are_drift() {
    let (plan, _) = planned(LAB, &Allocations::empty());
    let server = plan.vms.iter().find(|vm| vm.name == "k-server-0").unwrap();
    // Cloned, linked, from the template; booting its disk; no upgrade on first boot.
    assert_eq!(
        server.creation.clone_mode,
        Some(labform_planner::plan::CloneMode::Linked)
    );
    let desired = desired_config(server);
    assert_eq!(desired["ostype"], "l26");
    assert_eq!(desired["scsihw"], "virtio-scsi-pci");
    assert_eq!(desired["boot"], "order=scsi0");
    assert_eq!(desired["ciupgrade"], "0");
    // The template's whole create config is in the plan.
    assert_eq!(plan.templates[0].config["boot"], "order=scsi0");
    assert!(plan.templates[0].config["scsi0"].contains("import-from="));
    // A full clone is another spec.
    let mut full = server.clone();
    full.creation.clone_mode = Some(labform_planner::plan::CloneMode::Full);
    assert_ne!(labform_planner::desired::spec_hash(&full), server.spec);

    let mut inventory = as_applied(&plan);
    let observed = inventory
        .vms
        .iter_mut()
        .find(|vm| vm.name == "k-server-0")
        .unwrap();
    observed.config.insert("scsihw".into(), "lsi".into());
    observed.config.insert("boot".into(), "order=net0".into());
    let reconciliation = reconcile(&plan, &inventory, &TokenSecrets::none());
    let change = reconciliation
        .changes
        .iter()
        .find(|change| change.name == "k-server-0")
        .unwrap();
    let VmAction::Update { changes } = &change.action else {
        panic!("{change:?}")
    };
    let fields: Vec<(&str, bool, Effect)> = changes
        .iter()
        .map(|field| (field.field.as_str(), field.drift, field.effect))
        .collect();
    assert_eq!(
        fields,
        [
            ("scsihw", true, Effect::NextBoot),
            ("boot", true, Effect::NextBoot)
        ]
    );
}

/// Two scopes on one Proxmox, sharing the network's pools: the second never hands out what the
/// first's VMs hold (their addresses, and their cluster's API VIP and load-balancer block, which
/// the cluster's nodes record in their ownership blocks), nor their VM IDs.
#[test]
fn addresses_other_scopes_hold_are_never_handed_out() {
    let shared = LAB
        .replace(
            "pools: [{name: nodes, purpose: nodes, range: 10.0.0.10-10.0.0.99}]",
            "pools: [{name: nodes, purpose: nodes, range: 10.0.0.10-10.0.0.99}, {name: vips, purpose: vips, range: 10.0.0.2-10.0.0.9}, {name: lb, purpose: load-balancers, range: 10.0.0.200-10.0.0.250}]",
        )
        .replace(
            "    network: lan\n",
            "    network: lan\n    api_vip: {from_pool: vips}\n    addons: {metallb: {pool: lb, addresses: 4}}\n",
        );
    let (theirs, _) = planned(
        &shared.replace("lab: recon", "lab: theirs"),
        &Allocations::empty(),
    );
    let cluster = &theirs.clusters[0];
    assert!(cluster.api_vip);
    let mut inventory = as_applied(&theirs);
    for vm in &mut inventory.vms {
        if let Some(owner) = vm.owner.as_mut().filter(|owner| owner.cluster.is_some()) {
            owner.api_vip = Some(cluster.api_address);
            owner.load_balancers = cluster.load_balancer_addresses();
        }
    }
    let mut held: std::collections::BTreeSet<std::net::Ipv4Addr> =
        theirs.vms.iter().filter_map(|vm| vm.nic.address).collect();
    held.insert(cluster.api_address);
    held.extend(
        cluster
            .load_balancer_addresses()
            .expect("a block")
            .addresses(),
    );
    assert_eq!(inventory.observed_ids("recon").foreign_addresses, held);

    let mut files = MemoryFileSystem::new();
    files.insert("lab.yaml", shared.as_str());
    let lab = load(&files, Path::new("lab.yaml")).lab.expect("loads");
    let ours = plan_against(
        &lab,
        &Allocations::empty(),
        &inventory.observed_ids("recon"),
    )
    .plan
    .expect("plans");
    let ours_cluster = &ours.clusters[0];
    let mut claimed: Vec<std::net::Ipv4Addr> =
        ours.vms.iter().filter_map(|vm| vm.nic.address).collect();
    claimed.push(ours_cluster.api_address);
    claimed.extend(
        ours_cluster
            .load_balancer_addresses()
            .expect("a block")
            .addresses(),
    );
    assert!(
        claimed.iter().all(|address| !held.contains(address)),
        "{claimed:?} overlaps {held:?}"
    );
    let their_ids: Vec<u32> = theirs.vms.iter().map(|vm| vm.vm_id.get()).collect();
    assert!(
        ours.vms
            .iter()
            .all(|vm| !their_ids.contains(&vm.vm_id.get()))
    );
}

/// What `plan --no-refresh` sees of `inventory`: the VMs' tags and resources-list fields only,
/// their ownership read from the tags; templates as read.
fn unread(inventory: &Inventory) -> Inventory {
    let mut unread = inventory.clone();
    for vm in unread.vms.iter_mut().filter(|vm| !vm.template) {
        let tags: Vec<String> = vm.config["tags"].split(';').map(str::to_owned).collect();
        vm.owner = Owner::from_tags(&vm.name, &tags);
        vm.config.clear();
        vm.pending.clear();
        vm.disks.clear();
        vm.config_read = false;
    }
    unread
}

#[test]
fn unread_vms_are_compared_by_the_spec_hash_their_tags_record() {
    let (plan, allocations) = planned(LAB, &Allocations::empty());
    let inventory = as_applied(&plan);
    // The spec tag is on the VM and never a difference of its own.
    assert!(
        inventory
            .vms
            .iter()
            .filter(|vm| !vm.template)
            .all(|vm| vm.config["tags"].contains(&format!(
                ";spec-{}",
                plan.vms
                    .iter()
                    .find(|planned| planned.name == vm.name)
                    .unwrap()
                    .spec
            ))),
        "{inventory:#?}"
    );
    let trusted = unread(&inventory);
    assert!(
        trusted
            .vms
            .iter()
            .all(|vm| vm.template || vm.owner.is_some())
    );
    assert!(reconcile(&plan, &trusted, &TokenSecrets::none()).is_empty());

    // A change by hand is not seen without the config.
    let mut by_hand = inventory.clone();
    let agent = by_hand
        .vms
        .iter_mut()
        .find(|vm| vm.name == "k-agent-1")
        .unwrap();
    agent.config.insert("memory".into(), "8192".into());
    assert!(reconcile(&plan, &by_hand, &TokenSecrets::none()).has_drift());
    assert!(reconcile(&plan, &unread(&by_hand), &TokenSecrets::none()).is_empty());

    // The lab changes the agents and drops one: outdated (no fields), and the deletion is exact.
    let changed = LAB.replace(
        "agents: [{count: 2, cpu: 2, memory: 4GiB}]",
        "agents: [{count: 1, cpu: 2, memory: 6GiB}]",
    );
    let (replanned, _) = planned(&changed, &allocations);
    let full = reconcile(&replanned, &inventory, &TokenSecrets::none());
    let trusting = reconcile(&replanned, &trusted, &TokenSecrets::none());
    let action = |reconciliation: &labform_planner::reconcile::Reconciliation, name: &str| {
        reconciliation
            .changes
            .iter()
            .find(|change| change.name == name)
            .map(|change| change.action.clone())
            .unwrap()
    };
    assert!(matches!(
        action(&full, "k-agent-0"),
        VmAction::Update { .. }
    ));
    let VmAction::Outdated {
        recorded_spec,
        planned_spec,
    } = action(&trusting, "k-agent-0")
    else {
        panic!("{trusting:#?}")
    };
    assert_ne!(recorded_spec, planned_spec);
    assert_eq!(action(&full, "k-agent-1"), action(&trusting, "k-agent-1"));
    assert!(matches!(
        action(&trusting, "k-agent-1"),
        VmAction::Delete { .. }
    ));
    assert_eq!(action(&trusting, "k-server-0"), VmAction::Unchanged);
}
