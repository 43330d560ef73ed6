//! `GET /nodes/{node}/tasks` with pve-manager's filters (`Tasks.pm`,
//! `node_tasks`): running tasks come from the active list (`source=active`
//! or `all`), finished ones from the archive (`archive`, the default), each
//! filtered by user, type, guest, start time and status, then paged.

use super::*;
use labform_proxmox::endpoint;

/// A task's status as `upid_normalize_status_type` classifies it.
fn status_type(status: Option<&str>) -> &'static str {
    match status {
        None | Some("") | Some("unexpected status") => "unknown",
        Some("OK") => "ok",
        Some(s) if s.starts_with("WARNINGS: ") => "warning",
        Some(_) => "error",
    }
}

impl SimClient {
    /// `GET /nodes/{node}/tasks`: the page of tasks `filter` selects, and how
    /// many it selects in all (the answer's `total`).
    pub async fn node_tasks(
        &self,
        node: &str,
        filter: &TaskFilter,
    ) -> Result<(Vec<serde_json::Value>, u64)> {
        self.run(&endpoint::tasks::NODE_TASKS, &[&node], async {
            self.on_node(node).read(|st| {
                let mut allowed = BTreeMap::from(
                    ["ok", "warning", "error", "unknown"].map(|k| (k.to_owned(), true)),
                );
                match (&filter.statusfilter, filter.errors) {
                    (Some(list), false) => {
                        allowed.values_mut().for_each(|v| *v = false);
                        for item in list {
                            allowed.insert(item.to_lowercase(), true);
                        }
                    }
                    (_, true) => {
                        allowed.insert("ok".into(), false);
                    }
                    _ => {}
                }
                let mut tasks: Vec<&TaskRecord> =
                    st.tasks.values().filter(|t| t.upid.node == node).collect();
                tasks.sort_by_key(|t| std::cmp::Reverse((t.upid.starttime, t.upid.pid)));
                let (running, finished): (Vec<&TaskRecord>, Vec<&TaskRecord>) =
                    tasks.into_iter().partition(|t| t.exitstatus.is_none());
                let mut listed: Vec<&TaskRecord> = Vec::new();
                if matches!(filter.source, TaskSource::Active | TaskSource::All) {
                    listed.extend(running);
                }
                if filter.source != TaskSource::Active {
                    listed.extend(finished);
                }
                let mut count = 0u64;
                let mut limit = filter.limit.unwrap_or(50);
                let mut out = Vec::new();
                for task in listed {
                    let upid = &task.upid;
                    if let Some(text) = &filter.userfilter
                        && !upid.user.to_lowercase().contains(&text.to_lowercase())
                    {
                        continue;
                    }
                    if self.check_task_access(st, upid).is_err() {
                        continue;
                    }
                    if filter
                        .typefilter
                        .as_ref()
                        .is_some_and(|t| *t != upid.task_type)
                    {
                        continue;
                    }
                    if filter.vmid.is_some_and(|v| upid.id != v.to_string()) {
                        continue;
                    }
                    let started = i64::try_from(upid.starttime).unwrap_or(i64::MAX);
                    if filter.since.is_some_and(|s| started < s)
                        || filter.until.is_some_and(|u| started > u)
                    {
                        continue;
                    }
                    if !allowed
                        .get(status_type(task.exitstatus.as_deref()))
                        .copied()
                        .unwrap_or(false)
                    {
                        continue;
                    }
                    count += 1;
                    if count <= filter.start || limit == 0 {
                        continue;
                    }
                    limit -= 1;
                    out.push(task_entry(task));
                }
                Ok((out, count))
            })
        })
        .await
    }
}

/// A task as the task lists show it (`status` `RUNNING` while it runs).
pub(super) fn task_entry(task: &TaskRecord) -> serde_json::Value {
    let upid = &task.upid;
    let (user, token) = upid.user_and_token();
    let mut e = serde_json::json!({
        "upid": upid.to_string(), "node": upid.node, "pid": upid.pid, "pstart": upid.pstart,
        "starttime": upid.starttime, "type": upid.task_type, "id": upid.id, "user": user,
    });
    if let Some(token) = token {
        e["tokenid"] = token.into();
    }
    match (&task.exitstatus, task.endtime) {
        (Some(status), Some(end)) => {
            e["status"] = status.clone().into();
            e["endtime"] = end.into();
        }
        _ => e["status"] = "RUNNING".into(),
    }
    e
}
