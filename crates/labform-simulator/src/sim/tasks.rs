//! Task endpoints: a task's status and its log.

use super::*;

pub(super) async fn task_status(client: &SimClient, upid: &Upid) -> Result<TaskStatus> {
    let path = format!("/nodes/{}/tasks/{upid}/status", upid.node);
    client
        .run("GET", "/nodes/{node}/tasks/{upid}/status", path, async {
            let st = client.sim.lock();
            client.check_node(&st, &upid.node)?;
            let t = st
                .tasks
                .get(upid.as_str())
                .ok_or_else(|| e500("no such task"))?;
            client.check_task_access(&st, upid)?;
            let (user, tokenid) = upid.user_and_token();
            Ok(TaskStatus {
                upid: upid.to_string(),
                node: upid.node.clone(),
                pid: u64::from(upid.pid),
                pstart: upid.pstart,
                starttime: upid.starttime,
                task_type: upid.task_type.clone(),
                id: upid.id.clone(),
                user: user.to_owned(),
                tokenid: tokenid.map(str::to_owned),
                status: if t.exitstatus.is_some() {
                    TaskState::Stopped
                } else {
                    TaskState::Running
                },
                exitstatus: t.exitstatus.clone(),
            })
        })
        .await
}

pub(super) async fn task_log(
    client: &SimClient,
    upid: &Upid,
    start: u64,
    limit: u64,
) -> Result<types::TaskLog> {
    let path = format!("/nodes/{}/tasks/{upid}/log", upid.node);
    client
        .run("GET", "/nodes/{node}/tasks/{upid}/log", path, async {
            let st = client.sim.lock();
            client.check_node(&st, &upid.node)?;
            st.tasks
                .get(upid.as_str())
                .ok_or_else(|| e500("no such task"))?;
            client.check_task_access(&st, upid)?;
            drop(st);
            let logs = client
                .sim
                .inner
                .logs
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let log = logs.get(upid.as_str()).cloned().unwrap_or_default();
            let lines = log
                .iter()
                .enumerate()
                .skip(start as usize)
                .take(limit as usize)
                .map(|(i, l)| TaskLogLine {
                    n: i as u64 + 1,
                    t: l.clone(),
                })
                .collect();
            Ok(types::TaskLog {
                lines,
                total: log.len() as u64,
            })
        })
        .await
}
