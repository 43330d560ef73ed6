//! `labform plan --no-refresh` (issue 14 item 8) against `labform sim serve`: the plan trusts the
//! spec hash each VM's tags record instead of reading its config. Seed 001 (with a spare agent
//! group) is applied, then changed: one more worker, the spare group gone, the servers' memory
//! raised. The plan without refresh plans the same creation and deletion as the plan that reads
//! every config, shows the servers as outdated where the full plan shows their memory, makes
//! fewer calls (counted by the simulator: no config read of a VM, only the template's), and says
//! in its header what it read and what it cannot see (snapshot). Drift made by hand is not seen
//! without refresh and is seen with it.

mod common;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;

use common::{SIM_PASSWORD, SimServer, output_text};
use labform_proxmox::ProxmoxApi as _;
use labform_proxmox::types::{ConfigUpdate, ResourceType};

fn example(name: &str) -> String {
    format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Seed 001 with a spare agent group of one VM.
fn base_lab() -> String {
    let seed = std::fs::read_to_string(example("seed-001.yaml")).expect("seed 001");
    let agents = "    agents:\n      - name: worker\n        count: 2\n        cpu: 4\n        memory: 8GiB\n        disks: [{size: 40GiB}, {size: 100GiB}]\n";
    assert!(
        seed.contains(agents),
        "seed 001's agents as this test knows them"
    );
    seed.replace(
        agents,
        &format!("{agents}      - name: spare\n        count: 1\n        cpu: 1\n        memory: 2GiB\n        disks: [{{size: 10GiB}}]\n"),
    )
}

/// The base lab changed: three workers, no spare group, servers with 6 GiB.
fn changed_lab() -> String {
    let seed = std::fs::read_to_string(example("seed-001.yaml")).expect("seed 001");
    let changed = seed
        .replace(
            "      - name: worker\n        count: 2\n",
            "      - name: worker\n        count: 3\n",
        )
        .replace(
            "      cpu: 2\n      memory: 4GiB\n",
            "      cpu: 2\n      memory: 6GiB\n",
        );
    assert_ne!(changed, seed);
    changed
}

/// An HTTP/1.1 request with a form body to `address`; the status and the body.
fn request(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    let mut text = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        text.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    (status, body.to_owned())
}

/// The simulator's request counts, by `METHOD PATH`.
fn requests(simulator: &SimServer) -> BTreeMap<String, u64> {
    let address = simulator
        .plain
        .as_deref()
        .expect("started with --http-listen");
    let (status, body) = request(
        address,
        "POST",
        "/api2/json/access/ticket",
        &[],
        &format!("username=root%40pam&password={SIM_PASSWORD}"),
    );
    assert_eq!(status, 200, "{body}");
    let login: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let ticket = login["data"]["ticket"].as_str().expect("a ticket");
    let cookie = format!("PVEAuthCookie={ticket}");
    let (status, body) = request(
        address,
        "GET",
        "/simulator/requests",
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let counts: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    counts["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|entry| {
            (
                format!(
                    "{} {}",
                    entry["method"].as_str().unwrap(),
                    entry["path"].as_str().unwrap()
                ),
                entry["calls"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// What `run` asked of the simulator: requests by `METHOD PATH` (the login included).
fn counted(simulator: &SimServer, run: impl FnOnce()) -> BTreeMap<String, u64> {
    let before = requests(simulator);
    run();
    let after = requests(simulator);
    after
        .into_iter()
        .filter_map(|(key, calls)| {
            let added = calls - before.get(&key).copied().unwrap_or(0);
            // Reading the counts is itself a login.
            let added = if key == "POST /access/ticket" {
                added - 1
            } else {
                added
            };
            (added > 0).then_some((key, added))
        })
        .collect()
}

/// `(name, action)` of every VM change in `plan --json` output.
fn actions(output: &std::process::Output) -> BTreeMap<String, String> {
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    value["changes"]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|change| {
            (
                change["name"].as_str().unwrap().to_owned(),
                change["action"]["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const CONFIG: &str = "GET /nodes/{node}/qemu/{vmid}/config";

#[test]
fn no_refresh_plans_creations_and_deletions_with_fewer_calls_and_says_what_it_cannot_see() {
    let home = tempfile::tempdir().expect("temporary directory");
    let lab = home.path().join("lab.yaml");
    std::fs::write(&lab, base_lab()).unwrap();
    let lab = lab.to_str().unwrap().to_owned();
    let simulator = SimServer::start(&[
        "--lab",
        &lab,
        "--time-scale",
        "0",
        "--http-listen",
        "127.0.0.1:0",
    ]);
    let applied = simulator.labform(
        home.path(),
        &["apply", "--yes", "--skip-clusters", "--no-lock", &lab],
    );
    assert!(applied.status.success(), "{}", output_text(&applied));

    // Unchanged: both plans find nothing to do; without refresh, no VM's config is read.
    let mut full = None;
    let full_calls = counted(&simulator, || {
        full = Some(simulator.labform(home.path(), &["plan", "--no-lock", "--json", &lab]));
    });
    let full = full.unwrap();
    assert!(full.status.success(), "{}", output_text(&full));
    let mut trusting = None;
    let trusting_calls = counted(&simulator, || {
        trusting = Some(simulator.labform(
            home.path(),
            &["plan", "--no-lock", "--no-refresh", "--json", &lab],
        ));
    });
    let trusting = trusting.unwrap();
    assert!(trusting.status.success(), "{}", output_text(&trusting));
    assert!(
        actions(&full).values().all(|action| action == "unchanged"),
        "{}",
        output_text(&full)
    );
    assert_eq!(actions(&trusting), actions(&full));
    // Seed 001 with the spare group: 6 VMs and one template, each config read by the full plan;
    // without refresh only the template's (its allocation key is not in its tags).
    assert_eq!(full_calls.get(CONFIG), Some(&7), "{full_calls:?}");
    assert_eq!(trusting_calls.get(CONFIG), Some(&1), "{trusting_calls:?}");
    let total = |calls: &BTreeMap<String, u64>| calls.values().sum::<u64>();
    assert_eq!(
        total(&full_calls) - total(&trusting_calls),
        6,
        "{full_calls:?}\n{trusting_calls:?}"
    );
    let json: serde_json::Value = serde_json::from_slice(&trusting.stdout).unwrap();
    assert_eq!(json["refresh"]["configs_read"], false);
    assert_eq!(json["refresh"]["vms_trusted"], 6);
    assert_eq!(json["refresh"]["calls"]["vm_config"], 1);

    // Changed lab: the same creation and deletion; the servers outdated instead of updated.
    let changed = home.path().join("changed.yaml");
    std::fs::write(&changed, changed_lab()).unwrap();
    let changed = changed.to_str().unwrap().to_owned();
    let full = simulator.labform(home.path(), &["plan", "--no-lock", "--json", &changed]);
    assert!(full.status.success(), "{}", output_text(&full));
    let trusting = simulator.labform(
        home.path(),
        &["plan", "--no-lock", "--no-refresh", "--json", &changed],
    );
    assert!(trusting.status.success(), "{}", output_text(&trusting));
    let (full, trusting) = (actions(&full), actions(&trusting));
    let expected = |update: &str| -> BTreeMap<String, String> {
        [
            ("tpl-debian-12-pve", "unchanged"),
            ("home-server-0", update),
            ("home-server-1", update),
            ("home-server-2", update),
            ("home-worker-0", "unchanged"),
            ("home-worker-1", "unchanged"),
            ("home-worker-2", "create"),
            ("home-spare-0", "delete"),
        ]
        .into_iter()
        .map(|(name, action)| (name.to_owned(), action.to_owned()))
        .collect()
    };
    assert_eq!(full, expected("update"));
    assert_eq!(trusting, expected("outdated"));

    // The header says what was read, what was not and what cannot be seen.
    let text = simulator.labform(
        home.path(),
        &["plan", "--no-lock", "--no-refresh", &changed],
    );
    assert!(text.status.success(), "{}", output_text(&text));
    let stdout = String::from_utf8_lossy(&text.stdout).to_string();
    let (header, changes) = stdout
        .split_once("Changes to ")
        .expect("a header, then the changes");
    insta::assert_snapshot!("no_refresh_header", header);
    assert!(
        changes.contains("  ~ outdated home-server-0 (") && changes.contains("(config not read)"),
        "{changes}"
    );

    // Drift made by hand: a plan that reads configs sees it, one that trusts the tags cannot.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let api = simulator.root_client();
    let resources = runtime
        .block_on(api.cluster_resources(Some(ResourceType::Vm)))
        .unwrap();
    let worker = resources
        .iter()
        .find(|resource| resource.name.as_deref() == Some("home-worker-0"))
        .expect("home-worker-0");
    let node = labform_ids::NodeName::new(worker.node.clone().unwrap());
    let vm_id = labform_ids::VmId::new(worker.vmid.unwrap() as u32).unwrap();
    let mut update = ConfigUpdate::default();
    update.set.insert("cores".into(), "1".into());
    runtime
        .block_on(api.update_vm_config_sync(&node, vm_id, &update))
        .unwrap();
    let full = simulator.labform(home.path(), &["plan", "--no-lock", "--json", &lab]);
    let trusting = simulator.labform(
        home.path(),
        &["plan", "--no-lock", "--no-refresh", "--json", &lab],
    );
    assert_eq!(actions(&full)["home-worker-0"], "update");
    assert_eq!(actions(&trusting)["home-worker-0"], "unchanged");
}

#[test]
fn no_refresh_needs_a_target() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_labform"))
        .args([
            "plan",
            "--no-refresh",
            "--no-lock",
            &example("seed-001.yaml"),
        ])
        .output()
        .expect("labform runs");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("--no-refresh is for a plan against a target"),
        "{}",
        output_text(&output)
    );
}

#[test]
fn help_of_plan() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_labform"))
        .args(["plan", "--help"])
        .output()
        .expect("labform runs");
    assert!(output.status.success());
    insta::assert_snapshot!("plan_help", String::from_utf8_lossy(&output.stdout));
}
