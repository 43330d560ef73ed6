//! The `labform` binary end to end: exit codes, output streams, JSON, the lock file, the schema
//! command, and garbage input that must end in an error, never a panic.

use assert_cmd::Command;

fn labform() -> Command {
    Command::cargo_bin("labform").expect("the binary is built")
}

#[test]
fn help_lists_the_commands() {
    let output = labform().arg("--help").output().unwrap();
    assert!(output.status.success());
    insta::assert_snapshot!("help", String::from_utf8_lossy(&output.stdout));
}

#[test]
fn validate_reports_success_and_errors_with_exit_codes() {
    let output = labform()
        .args(["validate", "../../examples/seed-001.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("valid (5 VMs, 1 clusters)"));

    let output = labform()
        .args(["validate", "tests/broken/etcd-quorum.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error[etcd-quorum]"), "{stderr}");
    assert!(
        stderr.contains("tests/broken/etcd-quorum.yaml:10:14"),
        "{stderr}"
    );
}

#[test]
fn validate_checks_lab_files_that_share_a_proxmox_together() {
    // The seed 000 lab split into one repository per cluster: disjoint when planned together.
    let output = labform()
        .args([
            "validate",
            "--no-lock",
            "../../examples/seed-000-split/main.yaml",
            "../../examples/seed-000-split/alice.yaml",
            "../../examples/seed-000-split/bob.yaml",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("3 lab files together: no shared scope"),
        "{stdout}"
    );

    // Two repositories that take the same addresses: each clash at the later lab's entry.
    let output = labform()
        .args([
            "validate",
            "--no-lock",
            "tests/broken/_shared/main.yaml",
            "tests/broken/_shared/tenant.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(
        "validate-shared-clash",
        format!(
            "stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    );
}

#[test]
fn validate_json_names_file_line_column_and_field() {
    let output = labform()
        .args(["validate", "--json", "tests/broken/unknown-reference.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["valid"], false);
    let first = &report["diagnostics"][0];
    assert_eq!(first["code"], "unknown-reference");
    assert_eq!(first["file"], "tests/broken/unknown-reference.yaml");
    assert_eq!(first["line"], 8);
    assert_eq!(first["column"], 14);
    assert_eq!(first["field"], "clusters[0].network");
    assert_eq!(first["hint"], "did you mean `lan`?");
}

#[test]
fn plan_writes_a_lock_and_keeps_allocations_when_the_lab_grows() {
    let directory = tempfile::tempdir().unwrap();
    let lab = directory.path().join("lab.yaml");
    let original = std::fs::read_to_string("../../examples/seed-001.yaml").unwrap();
    std::fs::write(&lab, &original).unwrap();
    let first = labform()
        .args(["plan", "--json"])
        .arg(&lab)
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(directory.path().join("lab.lock").exists());
    let before: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();

    // A new agent group declared *before* the existing one would take its addresses without the lock.
    let grown = original.replace(
        "    agents:\n",
        "    agents:\n      - {name: gpu, count: 2, cpu: 2, memory: 4GiB}\n",
    );
    assert_ne!(grown, original);
    std::fs::write(&lab, &grown).unwrap();
    let locked = labform()
        .args(["plan", "--locked"])
        .arg(&lab)
        .output()
        .unwrap();
    assert_eq!(
        locked.status.code(),
        Some(1),
        "--locked refuses to change the lock"
    );
    let second = labform()
        .args(["plan", "--json"])
        .arg(&lab)
        .output()
        .unwrap();
    assert!(second.status.success());
    let after: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    for vm in before["vms"].as_array().unwrap() {
        let same = after["vms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|other| other["name"] == vm["name"])
            .unwrap();
        assert_eq!(same["vm_id"], vm["vm_id"], "{} kept its VM ID", vm["name"]);
        assert_eq!(
            same["nic"]["address"], vm["nic"]["address"],
            "{} kept its address",
            vm["name"]
        );
        assert_eq!(same["node"], vm["node"]);
        assert_eq!(same["nic"]["mac"], vm["nic"]["mac"]);
    }
    assert_eq!(after["vms"].as_array().unwrap().len(), 7);
    let locked = labform()
        .args(["plan", "--locked"])
        .arg(&lab)
        .output()
        .unwrap();
    assert_eq!(locked.status.code(), Some(0), "the lock is now up to date");
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let output = labform().arg("schema").output().unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let committed = std::fs::read_to_string("../../schema/lab.schema.json")
        .expect("schema/lab.schema.json is committed");
    assert!(
        printed == committed,
        "schema/lab.schema.json is stale: run `cargo run -- schema > schema/lab.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(schema["title"], "labform lab file");
    assert!(schema["properties"]["clusters"].is_object());
}

#[test]
fn garbage_never_panics() {
    let directory = tempfile::tempdir().unwrap();
    let mut inputs: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("random-bytes".into(), (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()),
        ("deep-sequences".into(), "[".repeat(100_000).into_bytes()),
        ("deep-mappings".into(), (0..5_000).map(|depth| format!("{}a:\n", " ".repeat(depth))).collect::<String>().into_bytes()),
        ("huge".into(), format!("lab: x\n# {}\n", "x".repeat(17 << 20)).into_bytes()),
        ("scalar".into(), b"42".to_vec()),
        ("sequence-root".into(), b"- a\n- b\n".to_vec()),
        ("anchors".into(), b"a: &a [*a]\n".to_vec()),
        ("billion-laughs".into(), b"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n".to_vec()),
        ("wrong-types".into(), b"lab: [1]\nproxmox: 3\nclusters: {a: b}\nnetworks: [[1]]\nimages: [1, 2]\n".to_vec()),
        ("wrong-nested".into(), b"lab: x\nclusters: [{name: a, servers: [1], agents: {x: 1}, addons: [metallb]}]\n".to_vec()),
        ("tabs".into(), b"lab:\tx\n\tclusters: 1\n".to_vec()),
        ("nul".into(), b"lab: \0\0\0\n".to_vec()),
    ];
    for (name, bytes) in inputs.drain(..) {
        let path = directory.path().join(format!("{name}.yaml"));
        std::fs::write(&path, &bytes).unwrap();
        for command in ["validate", "plan"] {
            let output = labform()
                .args(
                    [command, "--no-lock"]
                        .iter()
                        .filter(|arg| command == "plan" || **arg != "--no-lock"),
                )
                .arg(&path)
                .output()
                .unwrap();
            let code = output.status.code();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                !stderr.contains("panicked"),
                "{command} {name} panicked: {stderr}"
            );
            assert!(
                matches!(code, Some(1)),
                "{command} {name}: exit {code:?}, stderr {stderr}"
            );
            assert!(
                stderr.contains("error["),
                "{command} {name}: no diagnostic: {stderr}"
            );
        }
    }
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let output = labform()
        .args(["validate", "does-not-exist.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read does-not-exist.yaml: no such file"),
        "{stderr}"
    );
}

#[test]
fn drift_on_the_built_in_simulator_is_one_json_document_without_nodes() {
    // The in-process simulator starts empty: every VM is a pending change of the lab, not drift,
    // and its VMs do not boot, so no K3s node is looked at.
    let directory = tempfile::tempdir().unwrap();
    let output = labform()
        .args(["drift", "--sim", "--json", "../../examples/seed-001.yaml"])
        .env("LABFORM_DATA_DIR", directory.path().join("data"))
        // The built-in simulator's state (empty) lives with the test.
        .env("XDG_STATE_HOME", directory.path().join("state"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let value: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(value["drift"], serde_json::json!([]));
    assert!(
        value["lab_changes_pending"].as_u64().unwrap() > 0,
        "{value}"
    );
    assert!(value.get("clusters").is_none(), "{value}");
}

#[test]
fn every_planning_command_honours_the_lock_options() {
    let directory = tempfile::tempdir().unwrap();
    let lab = directory.path().join("lab.yaml");
    let original = std::fs::read_to_string("../../examples/seed-001.yaml").unwrap();
    std::fs::write(&lab, &original).unwrap();
    let run = |args: &[&str]| {
        labform()
            .args(args)
            .arg(&lab)
            .env("LABFORM_DATA_DIR", directory.path().join("data"))
            .env("XDG_STATE_HOME", directory.path().join("state"))
            .output()
            .unwrap()
    };
    assert!(run(&["plan"]).status.success());
    let lock = directory.path().join("lab.lock");
    let recorded = std::fs::read_to_string(&lock).unwrap();

    // The lab grows: the lock no longer records every decision, and --locked refuses everywhere.
    std::fs::write(
        &lab,
        original.replace(
            "    agents:\n",
            "    agents:\n      - {name: gpu, count: 1, cpu: 2, memory: 4GiB}\n",
        ),
    )
    .unwrap();
    let out = directory.path().join("rendered");
    let out = out.to_str().unwrap();
    for args in [
        &["plan", "--locked"][..],
        &["plan", "--sim", "--locked"],
        &["validate", "--locked"],
        &["render", "--locked", "--out", out],
        &["drift", "--sim", "--locked"],
        &["status", "--sim", "--locked"],
    ] {
        let output = run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("without --locked"), "{args:?}: {stderr}");
    }
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        recorded,
        "nothing wrote the lock file"
    );

    // --no-lock plans afresh, against a target too, and writes nothing.
    for args in [&["plan", "--no-lock"][..], &["plan", "--sim", "--no-lock"]] {
        let output = run(args);
        assert!(output.status.success(), "{args:?}: {output:?}");
    }
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), recorded);

    // --lock PATH is the lock a plan against a target reads: a VM ID recorded only there is kept.
    let mut other: serde_json::Value = serde_json::from_str(&recorded).unwrap();
    other["vm_ids"]["vm:home-server-0"] = serde_json::json!(4242);
    let other_path = directory.path().join("other.lock");
    std::fs::write(&other_path, other.to_string()).unwrap();
    let output = run(&[
        "plan",
        "--sim",
        "--json",
        "--lock",
        other_path.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let server = value["plan"]["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|vm| vm["name"] == "home-server-0")
        .expect("the first server is planned");
    assert_eq!(server["vm_id"], 4242, "{server}");
}
