//! A Proxmox client nobody here wrote: PyPI's proxmoxer (the version of
//! `labform_test_tiers::PROXMOXER_VERSION`, in the virtual environment `scripts/test.sh` makes)
//! drives `labform sim serve` over HTTPS, verifying it against the certificate the simulator
//! writes with `--certificate-out`: pools, storage, users and tokens, tasks and their filters,
//! backup jobs, vzdump and restore, and HA (`tests/proxmoxer/drive.py`). Takes a few seconds.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use labform_test_tiers::KillOnDrop;

const PASSWORD: &str = "proxmoxer-test-password";

#[test]
fn proxmoxer_drives_the_simulator() {
    if !labform_test_tiers::PROXMOXER.available() {
        return;
    }
    let directory = tempfile::tempdir().unwrap();
    let certificate = directory.path().join("simulator.pem");
    let mut served = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_labform"))
            .args(["sim", "serve", "--listen", "127.0.0.1:0", "--nodes", "2"])
            .args(["--time-scale", "0.001", "--certificate-out"])
            .arg(&certificate)
            .env("LABFORM_SIM_ROOT_PASSWORD", PASSWORD)
            .env("XDG_STATE_HOME", directory.path().join("state"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("labform sim serve starts"),
    );
    let mut lines = BufReader::new(served.0.stdout.take().expect("stdout is piped")).lines();
    let mut address = None;
    loop {
        let line = lines
            .next()
            .expect("the simulator writes its certificate")
            .expect("the simulator's output is text");
        if let Some(rest) = line.strip_prefix("Proxmox VE simulator listening on https://") {
            address = Some(rest.trim_end_matches("/api2/json").to_owned());
        }
        if line.starts_with("certificate written to ") {
            break;
        }
    }
    // The simulator keeps printing nothing, but its stdout stays open while it runs.
    std::thread::spawn(move || lines.for_each(drop));
    let address = address.expect("the simulator printed its address");
    let (host, port) = address.rsplit_once(':').expect("host:port");
    let output = Command::new(labform_test_tiers::proxmoxer_python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/proxmoxer/drive.py"
        ))
        .args([host, port])
        .arg(&certificate)
        .env("LABFORM_SIM_ROOT_PASSWORD", PASSWORD)
        .output()
        .expect("the virtual environment's Python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "proxmoxer failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(
        stdout.trim(),
        "proxmoxer drove pools, storage, users, tasks, backups and HA"
    );
}
