//! kubeadm's etcd snapshots: the timer, service and script each control plane of seed 003 gets
//! (snapshots: what `labform render` shows), checked by systemd itself (`systemd-analyze verify`
//! on the units, `systemd-analyze calendar` on the timer's events, which must fire when the
//! lab's cron schedule does) and by `sh -n` for the script's syntax; workers get none, and the
//! reset script stops the timer.

mod common;

use std::process::Command;

use common::{only_cluster, planned};
use labform_kubeadm::etcd_snapshots::{
    self, SNAPSHOT_SCRIPT, SNAPSHOT_SERVICE, SNAPSHOT_TIMER, TIMER_UNIT,
};
use labform_planner::plan::{PlannedCluster, SystemdTimer};

fn seed_003() -> PlannedCluster {
    only_cluster(&planned("examples/seed-003")).clone()
}

#[test]
fn every_control_plane_gets_the_timer_and_no_worker_does() {
    let cluster = seed_003();
    let snapshots = cluster
        .etcd_snapshots
        .as_ref()
        .expect("seed 003 snapshots etcd");
    assert_eq!(snapshots.schedule.as_deref(), Some("0 2 * * *"));
    assert_eq!(
        snapshots.systemd_timer,
        Some(SystemdTimer::Calendar(vec!["*-*-* 02:00:00".to_owned()]))
    );
    let mut text = String::new();
    for node in &cluster.nodes {
        let files = etcd_snapshots::files(&cluster, node);
        if !node.role.is_server() {
            assert!(files.is_empty(), "worker {} got {files:?}", node.vm);
            continue;
        }
        let paths: Vec<&str> = files.iter().map(|(path, _, _)| *path).collect();
        assert_eq!(paths, [SNAPSHOT_SCRIPT, SNAPSHOT_SERVICE, SNAPSHOT_TIMER]);
        if text.is_empty() {
            for (path, contents, mode) in &files {
                text.push_str(&format!("=== {path} ({mode:o})\n{contents}\n"));
            }
        }
        let script = &files[0].1;
        assert!(script.contains("keep=14"), "{script}");
        assert!(
            script.contains(&format!("labform-etcd-snapshot-{}-", node.vm)),
            "{script}"
        );
    }
    insta::assert_snapshot!("seed-003-etcd-snapshots", text);
    assert!(labform_kubeadm::node::reset_script().contains(&format!("disable --now {TIMER_UNIT}")));
}

#[test]
fn the_units_pass_systemd_and_fire_when_cron_would() {
    if !labform_test_tiers::SYSTEMD.available() {
        return;
    }
    let cluster = seed_003();
    let files = etcd_snapshots::files(&cluster, &cluster.nodes[0]);
    let directory = tempfile::tempdir().unwrap();
    // The service starts the script where the node has it; here it is in the test's directory.
    let script = directory.path().join("etcd-snapshot.sh");
    std::fs::write(&script, &files[0].1).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let service = directory.path().join("labform-etcd-snapshot.service");
    std::fs::write(
        &service,
        files[1]
            .1
            .replace(SNAPSHOT_SCRIPT, script.to_str().unwrap()),
    )
    .unwrap();
    let timer = directory.path().join(TIMER_UNIT);
    std::fs::write(&timer, &files[2].1).unwrap();
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&timer)
        .arg(&service)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&verified.stderr);
    assert!(
        verified.status.success(),
        "systemd-analyze verify: {stderr}"
    );
    // systemd only warns about what it ignores (an event it cannot parse, an unknown key).
    assert!(stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");

    let syntax = Command::new("sh").arg("-n").arg(&script).output().unwrap();
    assert!(
        syntax.status.success(),
        "sh -n: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );

    // The events systemd reads fire at cron's times, from Saturday 2026-01-03 23:30 UTC.
    let events: Vec<&str> = files[2]
        .1
        .lines()
        .filter_map(|line| line.strip_prefix("OnCalendar="))
        .collect();
    assert_eq!(events, ["*-*-* 02:00:00"]);
    for (cron, expected) in [
        (
            "0 2 * * *",
            [
                "2026-01-04 02:00:00",
                "2026-01-05 02:00:00",
                "2026-01-06 02:00:00",
            ],
        ),
        (
            "0 */6 * * *",
            [
                "2026-01-04 00:00:00",
                "2026-01-04 06:00:00",
                "2026-01-04 12:00:00",
            ],
        ),
        (
            "30 1 * * sun",
            [
                "Sun 2026-01-04 01:30:00",
                "Sun 2026-01-11 01:30:00",
                "Sun 2026-01-18 01:30:00",
            ],
        ),
        (
            "*/20 9-10 * 1 mon-fri",
            [
                "Mon 2026-01-05 09:00:00",
                "Mon 2026-01-05 09:20:00",
                "Mon 2026-01-05 09:40:00",
            ],
        ),
    ] {
        let SystemdTimer::Calendar(events) = planned_timer(cron) else {
            panic!("{cron} is a calendar");
        };
        assert_eq!(events.len(), 1, "{cron}: {events:?}");
        let output = Command::new("systemd-analyze")
            .arg("calendar")
            .arg("--iterations=3")
            .arg("--base-time=2026-01-03 23:30:00 UTC")
            .args(&events)
            .env("TZ", "UTC")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{cron} as {events:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let elapses: Vec<&str> = text
            .lines()
            .filter(|line| line.contains("Next elapse:") || line.contains("Iter. #"))
            .collect();
        assert_eq!(elapses.len(), 3, "{text}");
        for (line, expected) in elapses.iter().zip(&expected) {
            assert!(
                line.contains(expected),
                "{cron}: `{line}` is not {expected}"
            );
        }
    }
}

/// The plan's systemd form of `cron`, as the planner makes it for kubeadm.
fn planned_timer(cron: &str) -> SystemdTimer {
    labform_model::schedule::systemd_timer(cron).unwrap()
}
