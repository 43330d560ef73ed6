//! Waiting for Proxmox tasks: poll the status with exponential backoff until
//! the task stops or a deadline passes; on failure, fetch the task log.

use crate::api::ProxmoxApi;
use crate::error::{Error, Result};
use crate::types::{TaskState, TaskStatus};
use crate::upid::Upid;
use std::time::Duration;

/// How to wait for a task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaitOptions {
    /// First poll interval.
    pub initial_interval: Duration,
    /// Longest poll interval.
    pub max_interval: Duration,
    /// Give up after this long.
    pub deadline: Duration,
    /// Lines of the task log to attach to a failure.
    pub log_lines: u64,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_millis(200),
            max_interval: Duration::from_secs(5),
            deadline: Duration::from_secs(600),
            log_lines: 50,
        }
    }
}

/// Polls `upid` until it stops. Returns the final status if the task
/// succeeded (`OK` or `WARNINGS: n`), [`Error::TaskFailed`] with the exit
/// status and the end of the log otherwise, and [`Error::TaskTimeout`] at
/// the deadline.
pub async fn wait_for_task(
    api: &dyn ProxmoxApi,
    upid: &Upid,
    opts: WaitOptions,
) -> Result<TaskStatus> {
    let start = tokio::time::Instant::now();
    let mut interval = opts.initial_interval;
    loop {
        let status = api.task_status(upid).await?;
        if status.status == TaskState::Stopped {
            if status.is_ok() {
                return Ok(status);
            }
            let log = fetch_tail(api, upid, opts.log_lines).await;
            return Err(Error::TaskFailed {
                upid: upid.to_string(),
                exitstatus: status
                    .exitstatus
                    .unwrap_or_else(|| "unexpected status".into()),
                log,
            });
        }
        let waited = start.elapsed();
        if waited >= opts.deadline {
            return Err(Error::TaskTimeout {
                upid: upid.to_string(),
                waited,
            });
        }
        let sleep = interval.min(opts.deadline - waited);
        tokio::time::sleep(sleep).await;
        interval = (interval * 2).min(opts.max_interval);
    }
}

async fn fetch_tail(api: &dyn ProxmoxApi, upid: &Upid, lines: u64) -> Vec<String> {
    // First page tells us the total; then read the tail.
    match api.task_log(upid, 0, lines).await {
        Ok(first) if first.total > lines => {
            match api.task_log(upid, first.total - lines, lines).await {
                Ok(tail) => tail.lines.into_iter().map(|l| l.t).collect(),
                Err(_) => first.lines.into_iter().map(|l| l.t).collect(),
            }
        }
        Ok(first) => first.lines.into_iter().map(|l| l.t).collect(),
        Err(_) => Vec::new(),
    }
}
