//! A node going down and coming back (a realism switch): while it is down,
//! requests for it answer 595 as pveproxy does for an unreachable node, its
//! running tasks end with `unexpected status` (their workers are gone, what
//! they had done so far stays, as after a power loss), and its VMs stop; when
//! it comes back, the VMs with `onboot: 1` start again, like `pve-guests`
//! does at boot.

use super::*;

impl Simulator {
    /// Takes `node` down now.
    pub fn node_down(&self, node: &str) {
        let now = unix_now();
        let mut st = self.lock();
        st.online.insert(node.to_owned(), false);
        let mut workers = self.inner.workers.lock().unwrap_or_else(|p| p.into_inner());
        for (upid, task) in st.tasks.iter_mut() {
            if task.upid.node == node && task.exitstatus.is_none() {
                if let Some(worker) = workers.remove(upid) {
                    worker.abort();
                }
                task.exitstatus = Some(crate::persist::INTERRUPTED_TASK_STATUS.to_owned());
                task.endtime = Some(now);
            }
        }
        drop(workers);
        for vm in st.vms.values_mut().filter(|vm| vm.node == node) {
            vm.running = false;
            vm.started_at = None;
        }
    }

    /// Brings `node` back: online, and its VMs with `onboot: 1` started.
    pub fn node_up(&self, node: &str) {
        let mut st = self.lock();
        st.online.insert(node.to_owned(), true);
        for vm in st.vms.values_mut().filter(|vm| vm.node == node) {
            if vm.conf.get("onboot").is_some_and(|value| value == "1") && !vm.is_template() {
                vm.apply_pending();
                vm.running = true;
                vm.started_at = Some(tokio::time::Instant::now());
            }
        }
    }

    /// Takes `node` down after `after` simulated seconds and brings it back `down` simulated
    /// seconds later (both scaled by the timing), in the background of the current runtime.
    pub fn schedule_node_outage(&self, node: &str, after: f64, down: f64) {
        let simulator = self.clone();
        let node = node.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(simulator.dur(after)).await;
            simulator.node_down(&node);
            let _ = simulator.commit().await;
            tokio::time::sleep(simulator.dur(down)).await;
            simulator.node_up(&node);
            let _ = simulator.commit().await;
        });
    }
}
