//! `labform sim serve` as a product of its own, through the binary over HTTPS: the README's
//! simulator recipe (`sim serve --lab FILE`, then `apply --proxmox`) for every example lab; a
//! state directory that survives a restart (VMs, users, tokens, the pinned certificate); and the
//! embedded `--sim` target keeping its state between commands (`apply`, `status`, `drift`, a
//! second `apply`, `destroy`, `sim reset`).
//!
//! About 40 s on the 2-core machine (debug build), most of it the 2,000-VM scale lab's plan.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{SimServer, output_text};

/// The example labs the README lists, each with its one endpoint.
const EXAMPLES: &[&str] = &[
    "seed-000.yaml",
    "seed-001.yaml",
    "seed-002.yaml",
    "seed-003.yaml",
    "seed-004.yaml",
];

fn example(name: &str) -> String {
    format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_readme_recipe_works_for_every_example_lab() {
    for name in EXAMPLES {
        let home = tempfile::tempdir().unwrap();
        let lab = example(name);
        let simulator = SimServer::start(&["--lab", &lab, "--time-scale", "0"]);
        let applied = simulator.labform(
            home.path(),
            &["apply", "--yes", "--skip-clusters", "--no-lock", &lab],
        );
        assert!(
            applied.status.success(),
            "{name}: {}",
            output_text(&applied)
        );
        let again = simulator.labform(home.path(), &["plan", "--no-lock", &lab]);
        assert!(again.status.success(), "{name}: {}", output_text(&again));
        assert!(
            output_text(&again).contains("0 to create, 0 to update, 0 to replace, 0 to delete"),
            "{name}: {}",
            output_text(&again)
        );
    }
    // The 2,000-VM lab: its nodes and storages exist, so the plan against the simulator is every
    // VM to create and nothing refused (its apply, about 6 minutes, is measured by bench/).
    let home = tempfile::tempdir().unwrap();
    let lab = example("scale/lab.yaml");
    let simulator = SimServer::start(&["--lab", &lab, "--time-scale", "0"]);
    let planned = simulator.labform(home.path(), &["plan", "--json", "--no-lock", &lab]);
    assert!(planned.status.success(), "{}", output_text(&planned));
    let value: serde_json::Value = serde_json::from_slice(&planned.stdout).unwrap();
    let creates = value["changes"]["changes"]
        .as_array()
        .expect("the changes list the VMs")
        .iter()
        .filter(|change| change["action"]["action"] == "create")
        .count();
    assert!(creates >= 2000, "{creates} creates");
}

#[test]
fn a_state_directory_keeps_the_lab_and_the_certificate_across_a_restart() {
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("sim");
    let state = state.to_str().unwrap();
    let lab = example("seed-001.yaml");
    let simulator = SimServer::start(&["--lab", &lab, "--time-scale", "0", "--state", state]);
    let applied = simulator.labform(
        home.path(),
        &["apply", "--yes", "--skip-clusters", "--no-lock", &lab],
    );
    assert!(applied.status.success(), "{}", output_text(&applied));
    let fingerprint = simulator.fingerprint.clone();
    simulator.kill();

    // Restarted without --lab: the shape, the VMs and the certificate come from the directory.
    let simulator = SimServer::start(&["--time-scale", "0", "--state", state]);
    assert_eq!(
        simulator.fingerprint, fingerprint,
        "the pinned certificate is kept"
    );
    let again = simulator.labform(home.path(), &["plan", "--no-lock", &lab]);
    assert!(
        output_text(&again).contains("0 to create, 0 to update, 0 to replace, 0 to delete"),
        "{}",
        output_text(&again)
    );
    let drift = simulator.labform(
        home.path(),
        &["drift", "--skip-clusters", "--no-lock", &lab],
    );
    assert_eq!(drift.status.code(), Some(0), "{}", output_text(&drift));
}

fn embedded(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labform"))
        .args(args)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("LABFORM_DATA_DIR", home.join("data"))
        .output()
        .unwrap()
}

#[test]
fn the_built_in_simulator_keeps_its_state_between_commands() {
    let home = tempfile::tempdir().unwrap();
    let lab = example("seed-001.yaml");
    let applied = embedded(home.path(), &["apply", "--sim", "--yes", "--no-lock", &lab]);
    assert!(applied.status.success(), "{}", output_text(&applied));

    let status = embedded(home.path(), &["status", "--sim", "--no-lock", &lab]);
    assert!(status.status.success(), "{}", output_text(&status));
    let shown = output_text(&status);
    assert!(!shown.contains("missing"), "{shown}");
    assert!(
        shown.contains("home-server-0") && shown.contains("running"),
        "{shown}"
    );

    let drift = embedded(home.path(), &["drift", "--sim", "--no-lock", &lab]);
    assert_eq!(drift.status.code(), Some(0), "{}", output_text(&drift));
    assert!(
        output_text(&drift).contains("No drift"),
        "{}",
        output_text(&drift)
    );

    let again = embedded(home.path(), &["apply", "--sim", "--yes", "--no-lock", &lab]);
    assert!(again.status.success(), "{}", output_text(&again));
    assert!(
        output_text(&again).contains("Nothing to do."),
        "{}",
        output_text(&again)
    );

    let destroyed = embedded(
        home.path(),
        &["destroy", "--sim", "--yes", "--no-lock", &lab],
    );
    assert!(destroyed.status.success(), "{}", output_text(&destroyed));
    let status = embedded(home.path(), &["status", "--sim", "--no-lock", &lab]);
    assert!(
        output_text(&status).contains("missing"),
        "{}",
        output_text(&status)
    );

    // Built again, then cleared: the next status starts from an empty simulator.
    let applied = embedded(home.path(), &["apply", "--sim", "--yes", "--no-lock", &lab]);
    assert!(applied.status.success(), "{}", output_text(&applied));
    let reset = embedded(home.path(), &["sim", "reset", &lab]);
    assert!(reset.status.success(), "{}", output_text(&reset));
    let status = embedded(home.path(), &["status", "--sim", "--no-lock", &lab]);
    assert!(
        output_text(&status).contains("missing"),
        "{}",
        output_text(&status)
    );
}
