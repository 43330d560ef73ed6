//! A VM's status and power actions (start, stop, shutdown, reboot).

use super::*;
use labform_proxmox::endpoint;

pub(super) async fn vm_status(client: &SimClient, node: &NodeName, vmid: VmId) -> Result<VmStatus> {
    let node = node.as_str();
    let vmid = vmid.get();
    client
        .run(&endpoint::power::STATUS, &[&node, &vmid], async {
            let mut st = client.sim.lock();
            client.on_vm(node, vmid).privilege("VM.Audit").open(&st)?;
            client.sim.reap(&mut st, vmid);
            let vm = SimClient::vm(&st, node, vmid)?;
            Ok(VmStatus {
                vmid: u64::from(vmid),
                status: if vm.running { "running" } else { "stopped" }.into(),
                name: vm.conf.get("name").cloned(),
                lock: vm.lock().map(str::to_owned),
                qmpstatus: Some(if vm.running { "running" } else { "stopped" }.into()),
                uptime: Some(vm.started_at.map(|s| s.elapsed().as_secs()).unwrap_or(0)),
                template: vm.is_template().then_some(true),
                agent: agent_enabled(&vm.conf).then_some(true),
                cpus: Some(vm.cpus() as f64),
                maxmem: Some(vm.memory_mib() << 20),
                maxdisk: Some(0),
                ha: Some(serde_json::json!({ "managed": 0 })),
            })
        })
        .await
}

pub(super) async fn vm_action(
    client: &SimClient,
    node: &NodeName,
    vmid: VmId,
    action: VmAction,
) -> Result<Upid> {
    let node = node.as_str();
    let vmid = vmid.get();
    client
        .run(action.endpoint(), &[&node, &vmid], async {
            let call = client.on_vm(node, vmid).privilege("VM.PowerMgmt");
            call.without_config_lock().spawn(
                action.task_type(),
                |_, vm| {
                    if action == VmAction::Start && vm.is_template() {
                        return Err(e500("you can't start a vm if it's a template"));
                    }
                    if action != VmAction::Stop {
                        SimClient::check_lock(vm)?;
                    }
                    if action == VmAction::Reboot && !vm.running {
                        return Err(e500(format!("VM {vmid} not running")));
                    }
                    Ok(())
                },
                move |task, ()| async move {
                    let VmTask {
                        sim,
                        who,
                        node,
                        log,
                        ..
                    } = &task;
                    let c = sim.client(who.clone());
                    let t = c.sim.inner.config.timing;
                    match action {
                        VmAction::Start => c.do_start(node, vmid, log).await,
                        VmAction::Stop | VmAction::Shutdown => {
                            let (running, agent) =
                                c.sim.lock().vms.get(&vmid).map_or((false, false), |v| {
                                    (v.running, agent_enabled(&v.conf))
                                });
                            if running && !c.sim.backend().runs_vms() {
                                let secs = if action == VmAction::Stop {
                                    t.storage_op_secs
                                } else {
                                    t.shutdown_secs
                                };
                                tokio::time::sleep(t.dur(secs)).await;
                            }
                            if action == VmAction::Stop {
                                c.sim.on_backend(move |b| b.stop(vmid)).await?;
                            } else {
                                c.sim.on_backend(move |b| b.shutdown(vmid, agent)).await?;
                            }
                            let mut st = c.sim.lock();
                            let vm = task.vm_mut(&mut st)?;
                            vm.running = false;
                            vm.started_at = None;
                            Ok(())
                        }
                        VmAction::Reboot => {
                            if c.sim.backend().runs_vms() {
                                let agent = c
                                    .sim
                                    .lock()
                                    .vms
                                    .get(&vmid)
                                    .is_some_and(|v| agent_enabled(&v.conf));
                                c.sim.on_backend(move |b| b.shutdown(vmid, agent)).await?;
                            } else {
                                tokio::time::sleep(t.dur(t.shutdown_secs)).await;
                            }
                            {
                                let mut st = c.sim.lock();
                                let vm = task.vm_mut(&mut st)?;
                                vm.running = false;
                                vm.started_at = None;
                            }
                            c.do_start(node, vmid, log).await
                        }
                    }
                },
            )
        })
        .await
}
