//! The simulator's state directory: what a restart keeps (VMs, volumes, tasks and their logs,
//! users, tokens, ACL entries, pools), how tasks that were running end, and that two
//! simulators never share a directory.

use labform_ids::{NodeName, VmId};
use labform_proxmox::api::ProxmoxApi;
use labform_proxmox::task::{WaitOptions, wait_for_task};
use labform_proxmox::types::*;
use labform_proxmox::{Secret, Upid};
use labform_simulator::faults::FaultConfig;
use labform_simulator::persist::{INTERRUPTED_TASK_STATUS, PersistError, StateDirectory};
use labform_simulator::{SimConfig, Simulator, Timing};
use std::path::Path;
use std::time::Duration;

fn node() -> NodeName {
    NodeName::new("pve1")
}

fn id(n: u32) -> VmId {
    VmId::new(n).expect("valid VM ID")
}

fn config(timing: Timing) -> SimConfig {
    let mut config = SimConfig::cluster(2, Secret::new("first password"));
    config.timing = timing;
    config
}

/// A simulator kept in `directory`, coming back with what it holds.
fn open(directory: &Path, timing: Timing) -> Simulator {
    let state = StateDirectory::open(directory).expect("the directory opens");
    let saved = state.load().expect("the state loads");
    Simulator::restore(config(timing), FaultConfig::default(), state, saved, None)
        .expect("the simulator starts")
}

async fn finish(api: &dyn ProxmoxApi, upid: Upid) -> TaskStatus {
    let options = WaitOptions {
        initial_interval: Duration::from_millis(5),
        deadline: Duration::from_secs(60),
        ..Default::default()
    };
    wait_for_task(api, &upid, options)
        .await
        .expect("the task ends well")
}

/// Runs `work` on a runtime of its own, which ends with it: tasks still running are dropped, as
/// when the simulator's process is killed.
fn in_process<T>(work: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(work)
}

#[test]
fn a_restart_keeps_vms_volumes_tasks_and_access() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let created_upid = in_process(async {
        let simulator = open(directory.path(), Timing::instant());
        let api = simulator.root();
        let request = CreateVm::new(id(100))
            .with("name", "web1")
            .with("memory", "1024")
            .with("scsi0", "local-lvm:4")
            .with("net0", "virtio,bridge=vmbr0");
        let created_upid = api.create_vm(&node(), &request).await.expect("create");
        finish(&api, created_upid.clone()).await;
        api.create_pool("lab", Some("the lab")).await.expect("pool");
        api.create_user(&CreateUser {
            userid: "tenant@pve".into(),
            password: None,
            comment: Some("labform:lab".into()),
        })
        .await
        .expect("user");
        let token = api
            .create_token("tenant@pve", "labform", &CreateToken::default())
            .await
            .expect("token");
        assert!(!token.value.expose().is_empty());
        api.update_acl(&AclUpdate {
            path: "/pool/lab".into(),
            roles: vec!["PVEVMAdmin".into()],
            users: vec!["tenant@pve".into()],
            tokens: vec![],
            propagate: true,
            delete: false,
        })
        .await
        .expect("ACL");
        // No explicit save: every change was saved before it was answered.
        created_upid
    });
    in_process(async {
        let simulator = open(directory.path(), Timing::instant());
        let api = simulator.root();
        let config = api
            .vm_config(&node(), id(100), false)
            .await
            .expect("the VM is back");
        assert_eq!(config.get("name"), Some("web1"));
        assert!(
            config
                .get("scsi0")
                .is_some_and(|disk| disk.starts_with("local-lvm:vm-100-disk-0"))
        );
        let status = api
            .task_status(&created_upid)
            .await
            .expect("the task is back");
        assert_eq!(status.exitstatus.as_deref(), Some("OK"));
        let log = api
            .task_log(&created_upid, 0, 50)
            .await
            .expect("the log is back");
        assert_eq!(
            log.lines.last().map(|line| line.t.as_str()),
            Some("TASK OK")
        );
        assert!(
            api.pools()
                .await
                .expect("pools")
                .iter()
                .any(|pool| pool.poolid == "lab")
        );
        let users = api.users().await.expect("users");
        assert!(users.iter().any(|user| user.userid == "tenant@pve"));
        let tokens = api.user_tokens("tenant@pve").await.expect("tokens");
        assert_eq!(tokens.len(), 1);
        let acl = api.acl().await.expect("ACL");
        assert!(acl.iter().any(|entry| entry.path == "/pool/lab"));
        assert!(simulator.check_password("root@pam", "first password"));
    });
}

#[test]
fn tasks_running_at_a_kill_end_as_after_a_node_went_down() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let upid = in_process(async {
        // Slow enough that the create is still running when the simulator goes away.
        let simulator = open(directory.path(), Timing::scaled(1000.0));
        let api = simulator.root();
        let request = CreateVm::new(id(101))
            .with("name", "slow")
            .with("scsi0", "local-lvm:4");
        let upid = api.create_vm(&node(), &request).await.expect("create");
        let status = api.task_status(&upid).await.expect("status");
        assert_eq!(status.status, TaskState::Running);
        upid
    });
    in_process(async {
        let simulator = open(directory.path(), Timing::instant());
        let api = simulator.root();
        let status = api.task_status(&upid).await.expect("the task is back");
        assert_eq!(status.status, TaskState::Stopped);
        assert_eq!(status.exitstatus.as_deref(), Some(INTERRUPTED_TASK_STATUS));
        let log = api.task_log(&upid, 0, 50).await.expect("log");
        assert!(
            log.lines.iter().all(|line| !line.t.starts_with("TASK ")),
            "a task that was cut off has no final line: {:?}",
            log.lines
        );
    });
}

#[test]
fn a_state_directory_serves_one_simulator_at_a_time() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let _first = StateDirectory::open(directory.path()).expect("the first opens");
    assert!(matches!(
        StateDirectory::open(directory.path()),
        Err(PersistError::InUse { .. })
    ));
}

#[test]
fn a_half_written_temporary_file_is_ignored() {
    let directory = tempfile::tempdir().expect("temporary directory");
    {
        let _simulator = open(directory.path(), Timing::instant());
    }
    // A kill during a save leaves at most a partial temporary file beside the state file.
    std::fs::write(
        directory.path().join("state.json.tmp"),
        b"{\"format\": 1, \"sha",
    )
    .expect("write");
    let state = StateDirectory::open(directory.path()).expect("opens");
    assert!(state.load().expect("the state file loads").is_some());
}

#[test]
fn a_damaged_state_file_is_an_error_not_an_empty_cluster() {
    let directory = tempfile::tempdir().expect("temporary directory");
    std::fs::write(
        directory.path().join("state.json"),
        b"{\"format\": 1, \"sha",
    )
    .expect("write");
    let state = StateDirectory::open(directory.path()).expect("opens");
    assert!(matches!(state.load(), Err(PersistError::Parse { .. })));
}
