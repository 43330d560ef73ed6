//! The in-process simulator for the state-machine tests (a two-node cluster), and waiting for
//! its tasks.

use labform_ids::{NodeName, VmId};
use labform_proxmox::Secret;
use labform_proxmox::api::ProxmoxApi;
use labform_proxmox::task::{WaitOptions, wait_for_task};
use labform_proxmox::types::*;
use labform_simulator::{SimConfig, Simulator};
use std::time::Duration;

pub fn sim() -> Simulator {
    Simulator::new(SimConfig::cluster(2, Secret::new("pw")))
}

pub fn n1() -> NodeName {
    NodeName::new("pve1")
}

pub fn id(n: u32) -> VmId {
    VmId::new(n).unwrap()
}

pub fn wait() -> WaitOptions {
    WaitOptions {
        initial_interval: Duration::from_millis(100),
        deadline: Duration::from_secs(3600),
        ..Default::default()
    }
}

pub async fn ok(api: &dyn ProxmoxApi, upid: labform_proxmox::Upid) -> TaskStatus {
    wait_for_task(api, &upid, wait()).await.unwrap()
}

/// Creates the VM `request` describes on pve1 and waits for its task to succeed.
pub async fn create(api: &dyn ProxmoxApi, request: &CreateVm) {
    let upid = api.create_vm(&n1(), request).await.unwrap();
    ok(api, upid).await;
}

pub async fn make_template(api: &dyn ProxmoxApi, vmid: u32) {
    let req = CreateVm::new(id(vmid))
        .with("name", "tmpl")
        .with("memory", "2048")
        .with("cores", "2")
        .with("scsi0", "local-lvm:12,discard=on")
        .with("ide2", "local-lvm:cloudinit")
        .with("net0", "virtio,bridge=vmbr0,firewall=1")
        .with("agent", "1");
    create(api, &req).await;
    let u = api.convert_to_template(&n1(), id(vmid)).await.unwrap();
    ok(api, u).await;
}
