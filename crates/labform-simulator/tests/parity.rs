//! The same scenario through the in-process `SimClient` and through the
//! HTTPS client + server gives the same results: the server adds transport,
//! not behaviour.

mod common;

use common::Recorder;
use labform_ids::{NodeName, StorageName, VmId};
use labform_proxmox::api::ProxmoxApi;
use labform_proxmox::task::{WaitOptions, wait_for_task};
use labform_proxmox::tls::{Fingerprint, TlsTrust};
use labform_proxmox::types::*;
use labform_proxmox::{Auth, Client, ClientOptions, Error, Secret};
use labform_simulator::server::{ServerOptions, start};
use labform_simulator::{SimConfig, Simulator, Timing};
use std::fmt::Debug;
use std::time::Duration;

fn sim() -> Simulator {
    let mut cfg = SimConfig::cluster(2, Secret::new("pw"));
    cfg.timing = Timing::scaled(0.0005);
    cfg.seed = 42;
    Simulator::new(cfg)
}

fn outcome<T: Debug>(r: Result<T, Error>, show: impl Fn(&T) -> String) -> String {
    match r {
        Ok(v) => format!("ok {}", show(&v)),
        Err(Error::Api { source, .. }) => format!(
            "err {} {} {:?}",
            source.status, source.message, source.errors
        ),
        Err(Error::TaskFailed { exitstatus, .. }) => format!("task failed {exitstatus}"),
        Err(e) => format!("other {e}"),
    }
}

async fn scenario(api: &dyn ProxmoxApi) -> Vec<String> {
    let n = NodeName::new("pve1");
    let id = |v: u32| VmId::new(v).unwrap();
    let wait = WaitOptions {
        initial_interval: Duration::from_millis(1),
        max_interval: Duration::from_millis(5),
        ..Default::default()
    };
    let mut out = Vec::new();
    macro_rules! step {
        ($e:expr, $show:expr) => {
            out.push(outcome($e, $show))
        };
    }
    macro_rules! task {
        ($e:expr) => {{
            match $e {
                Ok(u) => out.push(outcome(wait_for_task(api, &u, wait).await, |s| {
                    format!("{} {:?}", s.task_type, s.exitstatus)
                })),
                Err(e) => out.push(outcome::<()>(Err(e), |_| String::new())),
            }
        }};
    }
    let cfg_show = |c: &VmConfig| {
        let mut v = c.values.clone();
        v.remove("meta");
        format!("{v:?}")
    };
    step!(api.version().await, |v| v.release.clone());
    step!(api.nodes().await, |v| format!("{}", v.len()));
    step!(api.next_vmid(None).await, |v| v.to_string());
    step!(api.vm_config(&n, id(999), false).await, cfg_show);
    let create = CreateVm::new(id(9000))
        .with("name", "tmpl")
        .with("scsi0", "local-lvm:2,ssd=yes")
        .with("ide2", "local-lvm:cloudinit")
        .with("net0", "virtio,bridge=vmbr0,firewall=on")
        .with("tags", "B,a");
    task!(api.create_vm(&n, &create).await);
    step!(api.create_vm(&n, &create).await, |u| u.task_type.clone());
    step!(api.vm_config(&n, id(9000), false).await, cfg_show);
    step!(
        api.update_vm_config_sync(
            &n,
            id(9000),
            &ConfigUpdate::new().set("cores", "x").set("nope", 1)
        )
        .await,
        |_| String::new()
    );
    step!(
        api.update_vm_config_sync(
            &n,
            id(9000),
            &ConfigUpdate::new().set("cores", 2).digest("0".repeat(40))
        )
        .await,
        |_| String::new()
    );
    task!(api.convert_to_template(&n, id(9000)).await);
    let mut bad = CloneVm::new(id(100));
    bad.storage = Some("local".into());
    step!(api.clone_vm(&n, id(9000), &bad).await, |u| u
        .task_type
        .clone());
    let mut c = CloneVm::new(id(100));
    c.name = Some("web".into());
    task!(api.clone_vm(&n, id(9000), &c).await);
    let mut linked = CloneVm::new(id(101));
    linked.full = Some(false);
    task!(api.clone_vm(&n, id(100), &linked).await);
    step!(api.vm_config(&n, id(100), false).await, cfg_show);
    task!(api.vm_action(&n, id(100), VmAction::Start).await);
    task!(api.vm_action(&n, id(100), VmAction::Start).await);
    step!(
        api.update_vm_config_sync(&n, id(100), &ConfigUpdate::new().set("cores", 4))
            .await,
        |_| String::new()
    );
    step!(api.vm_pending(&n, id(100)).await, |p| format!(
        "{:?}",
        p.iter().filter(|e| e.key != "meta").collect::<Vec<_>>()
    ));
    step!(api.vm_status(&n, id(100)).await, |s| format!(
        "{} {:?}",
        s.status, s.lock
    ));
    task!(api.create_snapshot(&n, id(100), "s1", Some("d")).await);
    step!(api.list_snapshots(&n, id(100)).await, |s| format!(
        "{:?}",
        s.iter().map(|x| (&x.name, &x.parent)).collect::<Vec<_>>()
    ));
    step!(api.delete_vm(&n, id(100), DeleteVm::default()).await, |u| u
        .task_type
        .clone());
    task!(api.vm_action(&n, id(100), VmAction::Stop).await);
    step!(api.cluster_resources(Some(ResourceType::Vm)).await, |r| {
        format!(
            "{:?}",
            r.iter()
                .map(|x| (&x.id, &x.name, &x.status, x.template, &x.tags))
                .collect::<Vec<_>>()
        )
    });
    step!(
        api.storage_content(&n, &StorageName::new("local-lvm"), None)
            .await,
        |v| {
            format!(
                "{:?}",
                v.iter()
                    .map(|x| (&x.volid, x.size, x.vmid))
                    .collect::<Vec<_>>()
            )
        }
    );
    task!(
        api.delete_vm(
            &n,
            id(100),
            DeleteVm {
                purge: true,
                destroy_unreferenced_disks: true
            }
        )
        .await
    );
    step!(api.next_vmid(Some(id(9000))).await, |v| v.to_string());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_and_https_agree() {
    let direct = scenario(&sim().root()).await;
    let rec = Recorder::default();
    let srv = start(
        sim(),
        ServerOptions {
            observer: Some(rec.observer()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let auth = Auth::Password {
        username: "root@pam".into(),
        password: Secret::new("pw"),
    };
    let pin = TlsTrust::Fingerprint(Fingerprint::parse(&srv.fingerprint).unwrap());
    let client = Client::new(ClientOptions::new(srv.https_url(), auth, pin)).unwrap();
    let remote = scenario(&client).await;
    assert_eq!(direct.len(), remote.len());
    for (i, (a, b)) in direct.iter().zip(&remote).enumerate() {
        assert_eq!(a, b, "step {i} differs");
    }
    // The scenario exercised both successes and failures.
    assert!(direct.iter().any(|s| s.starts_with("err 400")));
    assert!(direct.iter().any(|s| s.starts_with("err 500")));
    assert!(direct.iter().any(|s| s.starts_with("task failed")));
    rec.assert_contract();
}
