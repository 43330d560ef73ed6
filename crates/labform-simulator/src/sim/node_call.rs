//! The opening that Proxmox's node endpoints share, written once: the node
//! answers (else Proxmox's 595 or hostname text), the caller holds a
//! privilege (else Proxmox's 403 text), the endpoint's own checks run under
//! the state lock; then a task on the node with its UPID and log, whose
//! worker is given the simulator, the caller and the node.
//!
//! ```text
//! let call = client.on_node(node).privilege(format!("/storage/{storage}"), "Datastore.AllocateTemplate");
//! let prepared = call.read(|state| { /* more checks */ Ok(prepared) })?;
//! Ok(call.task("download", "", move |task| async move { /* the work */ }))
//! ```
//!
//! VM endpoints open with [`super::vm_call`], which spawns its tasks through
//! [`NodeCall::task`].

use super::*;

/// One call on one node, built by [`SimClient::on_node`].
pub(super) struct NodeCall<'a> {
    client: &'a SimClient,
    node: &'a str,
    /// The ACL path and privilege the caller needs, checked after the node answers.
    required: Option<(String, &'a str)>,
}

/// What a node task's worker is given.
pub(super) struct NodeTask {
    /// The simulator.
    pub(super) sim: Simulator,
    /// Who started the task.
    pub(super) who: Identity,
    /// The node the task runs on.
    pub(super) node: String,
    /// The task's log.
    pub(super) log: TaskLog,
}

impl NodeTask {
    /// A client acting as whoever started the task.
    pub(super) fn client(&self) -> SimClient {
        self.sim.client(self.who.clone())
    }
}

impl SimClient {
    /// Starts a call on `node`.
    pub(super) fn on_node<'a>(&'a self, node: &'a str) -> NodeCall<'a> {
        NodeCall {
            client: self,
            node,
            required: None,
        }
    }
}

impl<'a> NodeCall<'a> {
    /// The caller needs `privilege` on ACL path `path`, checked right after the node answers.
    pub(super) fn privilege(mut self, path: String, privilege: &'a str) -> Self {
        self.required = Some((path, privilege));
        self
    }

    /// The opening's checks against `state`, in Proxmox's order.
    pub(super) fn open(&self, state: &State) -> std::result::Result<(), ApiError> {
        self.client.check_node(state, self.node)?;
        if let Some((path, privilege)) = &self.required {
            self.client.check(state, path, privilege)?;
        }
        Ok(())
    }

    /// Opens the call and reads under the state lock.
    pub(super) fn read<T>(
        &self,
        read: impl FnOnce(&State) -> std::result::Result<T, ApiError>,
    ) -> std::result::Result<T, ApiError> {
        let state = self.client.sim.lock();
        self.open(&state)?;
        read(&state)
    }

    /// Opens the call and changes the state under its lock (a guest reserved
    /// with `lock: create`, for instance).
    pub(super) fn change<T>(
        &self,
        change: impl FnOnce(&mut State) -> std::result::Result<T, ApiError>,
    ) -> std::result::Result<T, ApiError> {
        let mut state = self.client.sim.lock();
        self.open(&state)?;
        change(&mut state)
    }

    /// Spawns task `task_type` (with task id `id`, `""` for none) on the node,
    /// started by the caller; the worker's error becomes `TASK ERROR: ...`.
    pub(super) fn task<Work, Done>(&self, task_type: &str, id: &str, work: Work) -> Upid
    where
        Work: FnOnce(NodeTask) -> Done + Send + 'static,
        Done: Future<Output = std::result::Result<(), String>> + Send + 'static,
    {
        let sim = self.client.sim.clone();
        let who = self.client.who.clone();
        let node = self.node.to_owned();
        self.client
            .sim
            .spawn_task(self.node, task_type, id, &self.client.who, move |log| {
                work(NodeTask {
                    sim,
                    who,
                    node,
                    log,
                })
            })
    }
}
