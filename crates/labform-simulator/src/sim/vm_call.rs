//! The opening that Proxmox's VM endpoints share, written once: the node
//! answers, the caller holds a privilege on `/vms/{vmid}` (else Proxmox's 403
//! text), the VM's config exists on that node; then a read, a change, or a
//! task whose worker runs under the VM's config lock (Proxmox's flock timeout
//! text when it cannot be taken) with its UPID and log, spawned through
//! [`super::node_call`].
//!
//! ```text
//! client.on_vm(node, vmid)
//!     .privilege("VM.Snapshot")
//!     .spawn("qmsnapshot", |state, vm| { /* more checks */ Ok(prepared) },
//!            |task, prepared| async move { /* the work, config lock held */ })
//! ```

use super::*;

/// The privileges an endpoint asks for on `/vms/{vmid}`.
#[derive(Clone, Copy)]
enum Required<'a> {
    /// None here: the endpoint checks its own (after the VM lookup, or per key).
    Nothing,
    /// This one.
    One(&'a str),
    /// Any of these (the 403 text names them joined by `|`).
    Any(&'a [&'a str]),
}

/// One call on one VM, built by [`SimClient::on_vm`].
pub(super) struct VmCall<'a> {
    client: &'a SimClient,
    node: &'a str,
    vmid: u32,
    required: Required<'a>,
    unsupported_on_qemu: Option<&'static str>,
    config_lock: bool,
}

/// What a VM task's worker is given.
pub(super) struct VmTask {
    /// The simulator.
    pub(super) sim: Simulator,
    /// Who started the task.
    pub(super) who: Identity,
    /// The VM's node.
    pub(super) node: String,
    /// The VM.
    pub(super) vmid: u32,
    /// The task's log.
    pub(super) log: TaskLog,
}

impl SimClient {
    /// Starts a call on VM `vmid` of `node`.
    pub(super) fn on_vm<'a>(&'a self, node: &'a str, vmid: u32) -> VmCall<'a> {
        VmCall {
            client: self,
            node,
            vmid,
            required: Required::Nothing,
            unsupported_on_qemu: None,
            config_lock: true,
        }
    }
}

impl Simulator {
    /// Takes VM `vmid`'s config lock exclusively, waiting as long as Proxmox
    /// does; a timeout gives Proxmox's flock text.
    pub(crate) async fn lock_vm_config(&self, vmid: u32) -> std::result::Result<LockGuard, String> {
        let t = self.inner.config.timing;
        self.inner
            .locks
            .exclusive(&vm_lock_path(vmid), t.dur(t.config_lock_timeout_secs))
            .await
    }

    /// Takes the lock of storage `spec` (a flock, or a cluster lock for a
    /// shared storage), waiting as long as Proxmox does.
    pub(crate) async fn lock_storage(
        &self,
        spec: &StorageSpec,
    ) -> std::result::Result<LockGuard, String> {
        let t = self.inner.config.timing;
        let guard = self
            .inner
            .locks
            .storage(&spec.id, spec.shared, t.dur(t.storage_lock_timeout_secs))
            .await?;
        // A slow storage holds its lock longer for every operation.
        if let Some(extra) = self.inner.config.slow_storages.get(&spec.id) {
            tokio::time::sleep(t.dur(*extra)).await;
        }
        Ok(guard)
    }
}

impl VmTask {
    /// The VM in `state`; the task fails with Proxmox's text when it has gone.
    pub(super) fn vm<'s>(&self, state: &'s State) -> std::result::Result<&'s Vm, String> {
        SimClient::vm(state, &self.node, self.vmid).map_err(|e| e.message)
    }

    /// The VM in `state`, to change.
    pub(super) fn vm_mut<'s>(
        &self,
        state: &'s mut State,
    ) -> std::result::Result<&'s mut Vm, String> {
        SimClient::vm_mut(state, &self.node, self.vmid).map_err(|e| e.message)
    }
}

impl<'a> VmCall<'a> {
    /// The caller needs `privilege` on `/vms/{vmid}`, checked before the VM is looked up.
    pub(super) fn privilege(mut self, privilege: &'a str) -> Self {
        self.required = Required::One(privilege);
        self
    }

    /// The caller needs one of `privileges` on `/vms/{vmid}`.
    pub(super) fn any_privilege(mut self, privileges: &'a [&'a str]) -> Self {
        self.required = Required::Any(privileges);
        self
    }

    /// Answers 501 with `text` when the backend runs real VMs (checked after
    /// the privilege, before the VM is looked up).
    pub(super) fn unsupported_on_qemu(mut self, text: &'static str) -> Self {
        self.unsupported_on_qemu = Some(text);
        self
    }

    /// The task's worker does not run under the VM's config lock: it takes
    /// the locks it needs itself (start, clone) or none (stop).
    pub(super) fn without_config_lock(mut self) -> Self {
        self.config_lock = false;
        self
    }

    /// The opening's checks against `state`, in Proxmox's order; the VM.
    pub(super) fn open<'s>(&self, state: &'s State) -> std::result::Result<&'s Vm, ApiError> {
        self.client.on_node(self.node).open(state)?;
        let path = format!("/vms/{}", self.vmid);
        match self.required {
            Required::Nothing => {}
            Required::One(privilege) => self.client.check(state, &path, privilege)?,
            Required::Any(privileges) => self.client.check_any(state, &path, privileges)?,
        }
        if let Some(text) = self.unsupported_on_qemu
            && self.client.sim.backend().runs_vms()
        {
            return Err(ApiError::new(501, text));
        }
        SimClient::vm(state, self.node, self.vmid)
    }

    /// Opens the call and reads under the state lock.
    pub(super) fn read<T>(
        &self,
        read: impl FnOnce(&State, &Vm) -> std::result::Result<T, ApiError>,
    ) -> std::result::Result<T, ApiError> {
        let state = self.client.sim.lock();
        let vm = self.open(&state)?;
        read(&state, vm)
    }

    /// Opens the call and changes the VM under the state lock.
    pub(super) fn update<T>(
        &self,
        change: impl FnOnce(&mut Vm) -> std::result::Result<T, ApiError>,
    ) -> std::result::Result<T, ApiError> {
        let mut state = self.client.sim.lock();
        self.open(&state)?;
        change(SimClient::vm_mut(&mut state, self.node, self.vmid)?)
    }

    /// Opens the call, runs the endpoint's own `check` (what it returns goes
    /// to the worker), and spawns task `task_type` on the VM; its worker runs
    /// under the VM's config lock unless [`Self::without_config_lock`].
    pub(super) fn spawn<Prepared, Work, Done>(
        self,
        task_type: &str,
        check: impl FnOnce(&State, &Vm) -> std::result::Result<Prepared, ApiError>,
        work: Work,
    ) -> std::result::Result<Upid, ApiError>
    where
        Prepared: Send + 'static,
        Work: FnOnce(VmTask, Prepared) -> Done + Send + 'static,
        Done: Future<Output = std::result::Result<(), String>> + Send + 'static,
    {
        let prepared = self.read(check)?;
        let (vmid, config_lock) = (self.vmid, self.config_lock);
        let call = self.client.on_node(self.node);
        Ok(
            call.task(task_type, &vmid.to_string(), move |task| async move {
                let _config_lock = match config_lock {
                    true => Some(task.sim.lock_vm_config(vmid).await?),
                    false => None,
                };
                let NodeTask {
                    sim,
                    who,
                    node,
                    log,
                } = task;
                let task = VmTask {
                    sim,
                    who,
                    node,
                    vmid,
                    log,
                };
                work(task, prepared).await
            }),
        )
    }
}

impl SimClient {
    /// Refuses a change made against another version of the VM's config.
    pub(super) fn check_digest(vm: &Vm, digest: Option<&str>) -> std::result::Result<(), ApiError> {
        match digest {
            Some(digest) if digest != vm.digest() => {
                Err(e500("checksum mismatch (file change by other user?)"))
            }
            _ => Ok(()),
        }
    }
}
