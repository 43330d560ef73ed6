//! Tasks: spawning a worker with its UPID, log and exit status (injected
//! task failures included), and the task endpoints (status, log).

use super::*;
use labform_proxmox::endpoint;

/// Handle given to a task worker to write its log.
#[derive(Clone)]
pub struct TaskLog {
    sim: Simulator,
    upid: String,
}

impl TaskLog {
    /// A log for work done outside a task (a synchronous endpoint): its lines go nowhere.
    pub(super) fn discarded(sim: &Simulator) -> Self {
        Self {
            sim: sim.clone(),
            upid: String::new(),
        }
    }

    /// Appends a line to the task log.
    pub fn log(&self, line: impl Into<String>) {
        let mut logs = self
            .sim
            .inner
            .logs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(l) = logs.get_mut(&self.upid) {
            l.push(line.into());
            self.sim
                .inner
                .changes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

impl SimClient {
    /// Whether the caller may see task `upid`: its own, else `Sys.Audit` on its node.
    pub(super) fn check_task_access(
        &self,
        st: &State,
        upid: &Upid,
    ) -> std::result::Result<(), ApiError> {
        let (user, _) = upid.user_and_token();
        let own =
            upid.user == self.who.full() || (self.who.token.is_none() && user == self.who.user);
        if own {
            Ok(())
        } else {
            self.check(st, &format!("/nodes/{}", upid.node), "Sys.Audit")
        }
    }
}

impl Simulator {
    /// Starts a task worker. The worker's error becomes `TASK ERROR: ...`.
    pub(crate) fn spawn_task<F, Fut>(
        &self,
        node: &str,
        task_type: &str,
        id: &str,
        who: &Identity,
        work: F,
    ) -> Upid
    where
        F: FnOnce(TaskLog) -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<(), String>> + Send + 'static,
    {
        let upid = {
            let mut st = self.lock();
            st.next_pid += 1 + (st.rng.next_u64() % 64) as u32;
            let pid = st.next_pid;
            let pstart = 0x0100_0000 + (st.rng.next_u64() % 0x00FF_FFFF);
            let upid = Upid::new(node, pid, pstart, unix_now(), task_type, id, &who.full());
            st.tasks.insert(
                upid.to_string(),
                TaskRecord {
                    upid: upid.clone(),
                    exitstatus: None,
                    endtime: None,
                },
            );
            upid
        };
        self.inner
            .logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(upid.to_string(), Vec::new());
        let injected = self.inner.faults.for_task(task_type);
        let log = TaskLog {
            sim: self.clone(),
            upid: upid.to_string(),
        };
        let sim = self.clone();
        let key = upid.to_string();
        let worker = tokio::spawn(async move {
            let result = match injected {
                Some(msg) => Err(msg),
                None => work(log).await,
            };
            let (status, last) = match result {
                Ok(()) => ("OK".to_owned(), "TASK OK".to_owned()),
                Err(e) => {
                    let e = e.trim_end().replace('\n', " ");
                    let line = format!("TASK ERROR: {e}");
                    (e, line)
                }
            };
            {
                let mut st = sim.lock();
                // A task its node's outage already ended keeps that end.
                let Some(t) = st.tasks.get_mut(&key).filter(|t| t.exitstatus.is_none()) else {
                    return;
                };
                t.endtime = Some(unix_now());
                t.exitstatus = Some(status);
                if let Some(l) = sim
                    .inner
                    .logs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_mut(&key)
                {
                    l.push(last);
                }
            }
            sim.inner
                .workers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
            if let Err(error) = sim.commit().await {
                eprintln!("simulator: the end of task {key} was not saved: {error}");
            }
        });
        let mut workers = self.inner.workers.lock().unwrap_or_else(|p| p.into_inner());
        if !worker.is_finished() {
            workers.insert(upid.to_string(), worker.abort_handle());
        }
        upid
    }
}

pub(super) async fn task_status(client: &SimClient, upid: &Upid) -> Result<TaskStatus> {
    client
        .run(&endpoint::tasks::TASK_STATUS, &[&upid.node, &upid], async {
            client.on_node(&upid.node).read(|st| {
                let t = st
                    .tasks
                    .get(upid.as_str())
                    .ok_or_else(|| e500("no such task"))?;
                client.check_task_access(st, upid)?;
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
        })
        .await
}

pub(super) async fn task_log(
    client: &SimClient,
    upid: &Upid,
    start: u64,
    limit: u64,
) -> Result<types::TaskLog> {
    client
        .run(&endpoint::tasks::TASK_LOG, &[&upid.node, &upid], async {
            client.on_node(&upid.node).read(|st| {
                st.tasks
                    .get(upid.as_str())
                    .ok_or_else(|| e500("no such task"))?;
                client.check_task_access(st, upid)
            })?;
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
