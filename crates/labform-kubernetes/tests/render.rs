//! `render_lab` over every example and test lab: snapshots of every file, determinism, no
//! secrets, and the layout `labform render` writes.

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::{FixtureHostKeys, LABS, planned, short_name};
use labform_kubernetes::{RenderedFile, render_lab, write_rendered};

fn render(lab: &str) -> Vec<RenderedFile> {
    let (_, plan) = planned(lab);
    render_lab(&plan, &FixtureHostKeys, &common::distributions()).unwrap_or_else(|error| {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            let _ = write!(message, ": {cause}");
            source = cause.source();
        }
        panic!("{lab}: {message}")
    })
}

#[test]
fn snapshots_of_every_rendered_file() {
    for lab in LABS {
        let mut text = String::new();
        for file in render(lab) {
            let _ = write!(text, "=== {}\n{}\n", file.path.display(), file.contents);
        }
        insta::assert_snapshot!(format!("render-{}", short_name(lab)), text);
    }
}

#[test]
fn rendering_is_deterministic() {
    for lab in LABS {
        assert_eq!(render(lab), render(lab), "{lab}");
    }
}

#[test]
fn nothing_secret_is_rendered() {
    for lab in LABS {
        for file in render(lab) {
            // kubeadm's configurations name where the bootstrap token is kept instead; a Talos
            // machine configuration for review keeps its keys, each secret value a placeholder
            // naming it.
            for line in file
                .contents
                .lines()
                .filter(|line| !line.contains("token: \"<secret: labform's store, kubeadm/"))
            {
                for forbidden in ["PRIVATE KEY", "token:", "password:", "datastore-endpoint:"] {
                    assert!(
                        !line.contains(forbidden) || line.contains(": \"(secret: "),
                        "{lab}: {} contains `{forbidden}`: {line}",
                        file.path.display()
                    );
                }
            }
        }
    }
}

#[test]
fn layout_has_a_folder_per_vm_and_per_cluster() {
    let (_, plan) = planned("examples/seed-001");
    let files = render("examples/seed-001");
    let paths: Vec<String> = files
        .iter()
        .map(|file| file.path.display().to_string())
        .collect();
    for vm in &plan.vms {
        for name in [
            "user-data",
            "meta-data",
            "network-config",
            "config.yaml",
            "host-key.pub",
        ] {
            let path = format!("vms/{}/{name}", vm.name);
            assert!(paths.contains(&path), "{path} missing from {paths:?}");
        }
    }
    let manifests: Vec<&String> = paths
        .iter()
        .filter(|path| path.starts_with("clusters/home/"))
        .collect();
    assert_eq!(
        manifests.first().map(|path| path.as_str()),
        Some("clusters/home/00-kube-vip.yaml")
    );
    // Numbered without gaps, in apply order.
    let numbered: Vec<&String> = manifests
        .iter()
        .copied()
        .filter(|path| path.ends_with(".yaml") && !path.ends_with("required-secrets.yaml"))
        .collect();
    for (index, path) in numbered.iter().enumerate() {
        assert!(
            path.starts_with(&format!("clusters/home/{index:02}-")),
            "{path} is not number {index}"
        );
    }
    // Talos: each node's machine configuration for review, Talos's own VIP (no kube-vip), the
    // cluster's secrets listed by store key.
    let (_, talos_plan) = planned("examples/seed-004");
    let talos = render("examples/seed-004");
    let talos_paths: Vec<String> = talos
        .iter()
        .map(|file| file.path.display().to_string())
        .collect();
    for vm in talos_plan.vms.iter().filter(|vm| vm.cluster.is_some()) {
        let path = format!("vms/{}/talos-machine-config.yaml", vm.name);
        assert!(talos_paths.contains(&path), "{path} missing");
    }
    assert!(
        !talos_paths.iter().any(|path| path.contains("kube-vip")),
        "{talos_paths:?}"
    );
    let secrets = talos
        .iter()
        .find(|file| file.path.ends_with("clusters/talos/required-secrets.yaml"))
        .expect("Talos required secrets");
    assert!(
        secrets.contents.contains("talos-secrets/seed-004/talos")
            && secrets.contents.contains("talosconfig/seed-004/talos"),
        "{}",
        secrets.contents
    );

    // kubeadm: each node's kubeadm.yaml, and the add-ons with the Helm controller first.
    let kubeadm = render("examples/seed-003");
    assert!(
        !kubeadm
            .iter()
            .any(|file| file.path.ends_with("NOT-AUTOMATED.txt"))
    );
    for vm in ["k8s-server-0", "k8s-worker-0", "k8s-worker-1"] {
        assert!(
            kubeadm
                .iter()
                .any(|file| file.path == Path::new("vms").join(vm).join("kubeadm.yaml")),
            "{vm}"
        );
    }
    assert!(
        kubeadm
            .iter()
            .any(|file| file.path.ends_with("clusters/k8s/00-helm-controller.yaml"))
    );
}

#[test]
fn writing_replaces_an_earlier_render_and_refuses_other_directories() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let out = directory.path().join("render");
    let first = render("examples/seed-001");
    write_rendered(&out, &first).expect("first render");
    std::fs::write(out.join("vms/stale-file"), "old").expect("stale file");
    write_rendered(&out, &first).expect("second render");
    assert!(!out.join("vms/stale-file").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("vms/home-server-0/meta-data")).expect("read"),
        first
            .iter()
            .find(|file| file.path.ends_with("home-server-0/meta-data"))
            .expect("meta-data")
            .contents
    );
    let foreign = directory.path().join("foreign");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    std::fs::write(foreign.join("precious"), "keep").expect("write");
    let error = write_rendered(&foreign, &first).expect_err("refused");
    assert!(error.to_string().contains("foreign"), "{error}");
    assert_eq!(
        std::fs::read_to_string(foreign.join("precious")).expect("kept"),
        "keep"
    );
}
