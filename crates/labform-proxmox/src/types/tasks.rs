//! Tasks: their status, exit status and log.

use super::*;

/// Task state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Still running.
    Running,
    /// Finished (see `exitstatus`).
    Stopped,
}

/// Which tasks `GET /nodes/{node}/tasks` lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskSource {
    /// Finished tasks (the default).
    #[default]
    Archive,
    /// Running tasks.
    Active,
    /// Both.
    All,
}

/// The filters of `GET /nodes/{node}/tasks` (pve-manager's `Tasks.pm`, `node_tasks`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFilter {
    /// Running tasks, finished ones (the default) or both.
    #[serde(default)]
    pub source: TaskSource,
    /// Only tasks of this type (`qmclone`, `vzdump`, ...).
    pub typefilter: Option<String>,
    /// Only tasks of this guest.
    pub vmid: Option<labform_ids::VmId>,
    /// Only tasks whose user contains this text (any case).
    pub userfilter: Option<String>,
    /// Only tasks started at or after this unix time.
    pub since: Option<i64>,
    /// Only tasks started at or before this unix time.
    pub until: Option<i64>,
    /// Only tasks with these statuses (`ok`, `warning`, `error`, `unknown`, any case); an empty
    /// list selects none.
    #[serde(default, with = "optional_comma_list")]
    pub statusfilter: Option<Vec<String>>,
    /// Only failed tasks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub errors: bool,
    /// Tasks to skip.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start: u64,
    /// Tasks to list at most (default 50).
    pub limit: Option<u64>,
}

/// Whether `n` is 0 (left out of a request).
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `GET /nodes/{node}/tasks/{upid}/log`: which lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLogQuery {
    /// Lines to skip (default 0).
    pub start: Option<u64>,
    /// Lines to list at most (default 50).
    pub limit: Option<u64>,
    /// The whole log as a file.
    pub download: Option<bool>,
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The UPID.
    pub upid: String,
    /// Node.
    pub node: String,
    /// Worker pid.
    #[serde(deserialize_with = "lenient::u64")]
    pub pid: u64,
    /// Worker start ticks.
    #[serde(deserialize_with = "lenient::u64")]
    pub pstart: u64,
    /// Start time.
    #[serde(deserialize_with = "lenient::u64")]
    pub starttime: u64,
    /// Task type.
    #[serde(rename = "type")]
    pub task_type: String,
    /// Task id.
    pub id: String,
    /// User (without token part).
    pub user: String,
    /// Token name, for token tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenid: Option<String>,
    /// Running or stopped.
    pub status: TaskState,
    /// `OK`, `WARNINGS: n` or the error, once stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exitstatus: Option<String>,
}

impl TaskStatus {
    /// Whether the task stopped successfully (`OK` or `WARNINGS: n`).
    pub fn is_ok(&self) -> bool {
        self.status == TaskState::Stopped
            && self.exitstatus.as_deref().is_some_and(exit_status_is_ok)
    }
}

/// One entry of `GET /cluster/tasks`: a recent task of any node. Running tasks have neither
/// `endtime` nor `status`; finished ones have both (`status` is the exit status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEntry {
    /// The UPID.
    pub upid: String,
    /// The node it runs on.
    pub node: String,
    /// Task type (`qmclone`, `qmcreate`, ...).
    #[serde(rename = "type")]
    pub task_type: String,
    /// Task id (`qmclone`'s is the source VM's ID, `qmcreate`'s the new VM's).
    #[serde(default)]
    pub id: String,
    /// User (without token part).
    pub user: String,
    /// Start time.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub starttime: Option<u64>,
    /// End time, once finished.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub endtime: Option<u64>,
    /// Exit status, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl TaskEntry {
    /// Whether the task is still running.
    pub fn is_running(&self) -> bool {
        self.endtime.is_none() && self.status.is_none()
    }
}

/// Whether an exit status means success.
pub fn exit_status_is_ok(s: &str) -> bool {
    s == "OK"
        || s.strip_prefix("WARNINGS: ")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// One line of a task log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLogLine {
    /// Line number, from 1.
    #[serde(deserialize_with = "lenient::u64")]
    pub n: u64,
    /// Text.
    pub t: String,
}

/// A page of a task log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLog {
    /// Lines.
    pub lines: Vec<TaskLogLine>,
    /// Total number of lines.
    pub total: u64,
}
