//! `labform sim serve` as a product of its own, through the binary over HTTPS: the README's
//! simulator recipe (`sim serve --lab FILE`, then `apply --proxmox`) for every example lab; a
//! state directory that survives a restart (VMs, users, tokens, the pinned certificate); a
//! simulator killed (SIGKILL) in the middle of clones and restarted on its state directory, which
//! comes back as a Proxmox node does after a crash and from which labform's next apply converges;
//! and the embedded `--sim` target keeping its state between commands (`apply`, `status`,
//! `drift`, a second `apply`, `destroy`, `sim reset`).
//!
//! About 30 s on the 2-core machine (debug build).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{SimServer, output_text};

/// Every example lab of one file (`examples/*.yaml`, each with its one endpoint), read from the
/// directory so a new example is tried too. (The split labs of `examples/seed-000-split/` are
/// applied to one `sim serve --lab` by `shared_proxmox.rs`; the scale lab is planned below.)
fn examples() -> Vec<String> {
    let directory = format!("{}/../../examples", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .expect("the examples directory")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "examples: {names:?}");
    names
}

fn example(name: &str) -> String {
    format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_readme_recipe_works_for_every_example_lab() {
    for name in &examples() {
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

/// The real client, pinned to `simulator`'s certificate, as root@pam.
fn client_for(simulator: &SimServer) -> std::sync::Arc<dyn labform_proxmox::ProxmoxApi> {
    use labform_proxmox::tls::{Fingerprint, TlsTrust};
    use labform_proxmox::{Auth, Client, ClientOptions, Secret};
    std::sync::Arc::new(
        Client::new(ClientOptions::new(
            simulator.url.clone(),
            Auth::Password {
                username: "root@pam".into(),
                password: Secret::new(common::SIM_PASSWORD),
            },
            TlsTrust::Fingerprint(Fingerprint::parse(&simulator.fingerprint).unwrap()),
        ))
        .unwrap(),
    )
}

/// One guest as the API shows it.
#[derive(Debug)]
struct Guest {
    vmid: u32,
    name: Option<String>,
    lock: Option<String>,
    /// Its config's keys (the digest left out).
    keys: Vec<String>,
}

/// What a simulator restarted after a kill holds: every guest and every task (type, running,
/// exit status).
#[derive(Debug)]
struct Found {
    guests: Vec<Guest>,
    tasks: Vec<labform_proxmox::types::TaskEntry>,
    running: Vec<String>,
}

fn look(simulator: &SimServer) -> Found {
    use labform_proxmox::types::ResourceType;
    let api = client_for(simulator);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let resources = api.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
            let mut guests = Vec::new();
            let mut running = Vec::new();
            for resource in resources {
                let vmid = resource.vmid.unwrap() as u32;
                let node = labform_ids::NodeName::new(resource.node.clone().unwrap());
                let config = api
                    .vm_config(&node, labform_ids::VmId::new(vmid).unwrap(), false)
                    .await
                    .unwrap();
                let keys: Vec<String> = config
                    .values
                    .keys()
                    .filter(|key| *key != "digest")
                    .cloned()
                    .collect();
                if resource.status.as_deref() == Some("running") {
                    running.extend(resource.name.clone());
                }
                guests.push(Guest {
                    vmid,
                    name: resource.name,
                    lock: resource.lock,
                    keys,
                });
            }
            let tasks = api.cluster_tasks().await.unwrap();
            Found {
                guests,
                tasks,
                running,
            }
        })
}

#[test]
fn a_simulator_killed_in_the_middle_of_clones_comes_back_consistent_and_apply_converges() {
    use std::io::BufRead as _;
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("sim");
    let state = state.to_str().unwrap();
    let lab = example("seed-001.yaml");
    // Every operation on local-lvm (the template's import, each linked clone) holds the storage
    // for 4 s, so clones are in flight for long enough to be killed in the middle of.
    let simulator = SimServer::start(&[
        "--lab",
        &lab,
        "--state",
        state,
        "--time-scale",
        "0.2",
        "--slow-storage",
        "local-lvm=20",
    ]);
    let mut apply = Command::new(env!("CARGO_BIN_EXE_labform"))
        .args(["apply", "--yes", "--skip-clusters", "--no-lock", &lab])
        .arg("--proxmox")
        .arg(&simulator.url)
        .arg("--fingerprint")
        .arg(&simulator.fingerprint)
        .env("LABFORM_PVE_USER", "root@pam")
        .env("LABFORM_PVE_PASSWORD", common::SIM_PASSWORD)
        .env_remove("LABFORM_PVE_TOKEN")
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("LABFORM_DATA_DIR", home.path().join("data"))
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(apply.stderr.take().unwrap());
    let mut seen = String::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("start  clone-vm") {
            break;
        }
    }
    assert!(
        seen.contains("start  clone-vm"),
        "no clone started:\n{seen}"
    );
    // Half-way through the first clone's storage operation.
    std::thread::sleep(std::time::Duration::from_secs(2));
    simulator.kill();
    // The apply cannot reach Proxmox any more and fails on its own (or is stopped).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while apply.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let _ = apply.kill();
    let status = apply.wait().unwrap();
    assert!(!status.success(), "an apply whose Proxmox died succeeded");

    // Restarted on the same directory, at full speed.
    let simulator = SimServer::start(&["--lab", &lab, "--state", state, "--time-scale", "0"]);
    let found = look(&simulator);
    assert!(
        found.tasks.iter().all(|task| !task.is_running()),
        "no task runs after a restart: {found:#?}"
    );
    let interrupted: Vec<_> = found
        .tasks
        .iter()
        .filter(|task| task.task_type == "qmclone")
        .filter(|task| task.status.as_deref() == Some("unexpected status"))
        .collect();
    assert!(
        !interrupted.is_empty(),
        "the clone in flight ended with 'unexpected status': {found:#?}"
    );
    // A VM in the middle of its clone is absent, or its config is Proxmox's temporary file.
    let unfinished: Vec<u32> = found
        .guests
        .iter()
        .filter(|guest| guest.lock.as_deref() == Some("clone"))
        .map(|guest| {
            assert_eq!(
                guest.name, None,
                "an unfinished clone has no name yet: {found:#?}"
            );
            assert_eq!(guest.keys, ["lock"], "{}: {found:#?}", guest.vmid);
            guest.vmid
        })
        .collect();
    assert!(
        found
            .guests
            .iter()
            .all(|guest| guest.lock.is_none() || guest.lock.as_deref() == Some("clone")),
        "{found:#?}"
    );

    // labform's next apply builds the whole lab; it leaves the unfinished clones as Proxmox does.
    let applied = simulator.labform(
        home.path(),
        &["apply", "--yes", "--skip-clusters", "--no-lock", &lab],
    );
    assert!(applied.status.success(), "{}", output_text(&applied));
    let found = look(&simulator);
    let mut running = found.running.clone();
    running.sort();
    assert_eq!(
        running,
        [
            "home-server-0",
            "home-server-1",
            "home-server-2",
            "home-worker-0",
            "home-worker-1"
        ],
        "every VM of the lab runs, once: {found:#?}\n{}",
        output_text(&applied)
    );
    let still_unfinished: Vec<u32> = found
        .guests
        .iter()
        .filter(|guest| guest.lock.as_deref() == Some("clone"))
        .map(|guest| guest.vmid)
        .collect();
    assert_eq!(still_unfinished, unfinished, "labform never touches them");
    let again = simulator.labform(
        home.path(),
        &["apply", "--yes", "--skip-clusters", "--no-lock", &lab],
    );
    assert!(
        again.status.success() && output_text(&again).contains("Nothing to do."),
        "{}",
        output_text(&again)
    );
}

/// `download-url` through `labform sim serve` as Proxmox answers it (ST
/// `API2/Storage/Status.pm` and `Storage.pm`): a compressed disk image kept under its own name
/// is refused for `import` content by its file name; Proxmox decompresses only ISOs, so asking
/// it to decompress anything else fails the download's task, as does a compressor it does not
/// know; Image Factory's uncompressed raw image, which labform plans for Talos nodes, downloads
/// and is listed as an import.
#[test]
fn download_url_refuses_what_proxmox_refuses() {
    use labform_ids::{NodeName, StorageName};
    use labform_proxmox::api::ProxmoxApi as _;
    use labform_proxmox::task::{WaitOptions, wait_for_task};
    use labform_proxmox::types::DownloadUrl;

    let port = common::serve_file(b"not really a Talos disk image".to_vec());
    let simulator = SimServer::start(&["--nodes", "1", "--time-scale", "0"]);
    let api = simulator.root_client();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let node = NodeName::new("pve1");
    let storage = StorageName::new("local");
    let request = |filename: &str, content: &str, compression: Option<&str>| DownloadUrl {
        url: format!("http://127.0.0.1:{port}/v1.8.3/{filename}"),
        content: content.to_owned(),
        filename: filename.to_owned(),
        checksum: None,
        compression: compression.map(str::to_owned),
    };
    // The task's end: its exit status when it failed.
    let task_failure = |request: DownloadUrl| {
        runtime.block_on(async {
            let upid = api
                .download_url(&node, &storage, &request)
                .await
                .expect("the request is accepted; its task decides");
            match wait_for_task(&api, &upid, WaitOptions::default()).await {
                Ok(_) => None,
                Err(labform_proxmox::Error::TaskFailed { exitstatus, .. }) => Some(exitstatus),
                Err(other) => panic!("{other}"),
            }
        })
    };

    let refused = runtime
        .block_on(api.download_url(
            &node,
            &storage,
            &request("nocloud-amd64.raw.xz", "import", None),
        ))
        .expect_err("a compressed import is refused by its name");
    let refused = refused.api().expect("an API error");
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(
        refused.errors.get("filename").map(String::as_str),
        Some("wrong file extension")
    );
    assert_eq!(
        task_failure(request("nocloud-amd64.raw", "import", Some("zst"))).as_deref(),
        Some("decompression not supported for import")
    );
    assert_eq!(
        task_failure(request("talos.iso", "iso", Some("xz"))).as_deref(),
        Some("no decompression method found")
    );
    assert_eq!(
        task_failure(request("nocloud-amd64.raw", "import", None)),
        None,
        "the uncompressed raw image downloads"
    );
    let listed = runtime
        .block_on(api.storage_content(&node, &storage, Some("import")))
        .unwrap();
    assert!(
        listed
            .iter()
            .any(|entry| entry.volid == "local:import/nocloud-amd64.raw"),
        "{listed:?}"
    );
}
