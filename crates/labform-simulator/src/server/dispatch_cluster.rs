//! Routing of the endpoints other clients use beside labform (proxmoxer,
//! Terraform's and Ansible's Proxmox modules): pools, the storage
//! configuration, one user, node networks, SDN, the task list's filters,
//! backups and HA. Like `dispatch`, one arm per declared endpoint.

use super::dispatch::request;
use super::params::{array, get};
use super::response::{api_err, to_json};
use super::*;
use crate::sim::Restore;
use labform_proxmox::endpoint::{access, agent, backup, ha, network, pools, storage, tasks};

/// Answers a checked request for one of these endpoints; `None` when the
/// endpoint is not one of them.
pub(super) async fn dispatch(
    c: &SimClient,
    route: &'static Endpoint,
    map: &BTreeMap<String, String>,
) -> Option<Outcome> {
    let node = get(map, "node").unwrap_or("");
    let number = |k: &str| get(map, k).and_then(|v| v.parse::<u64>().ok());
    let vmid = number("vmid")
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(0);
    Some(match route {
        &pools::POOLS => {
            let query: PoolQuery = match request(route, map) {
                Ok(query) => query,
                Err(outcome) => return Some(outcome),
            };
            to_json(
                c.pool_index(query.poolid.as_deref(), query.kind.as_deref())
                    .await,
            )
        }
        &pools::POOL => {
            let query: PoolQuery = match request(route, map) {
                Ok(query) => query,
                Err(outcome) => return Some(outcome),
            };
            let poolid = query.poolid.unwrap_or_default();
            to_json(c.pool_read(&poolid, query.kind.as_deref()).await)
        }
        &pools::UPDATE_POOLS | &pools::UPDATE_POOL => match request::<UpdatePool>(route, map) {
            Ok(update) => null_or_error(c.pool_update(route, &update).await),
            Err(outcome) => outcome,
        },
        &pools::DELETE_POOLS | &pools::DELETE_POOL => {
            null_or_error(c.pool_delete(route, get(map, "poolid").unwrap_or("")).await)
        }
        &storage::STORAGE_CONFIGURATIONS => to_json(c.storage_index(get(map, "type")).await),
        &storage::STORAGE_CONFIGURATION => {
            to_json(c.storage_read(get(map, "storage").unwrap_or("")).await)
        }
        &access::USER => to_json(c.user_read(get(map, "userid").unwrap_or("")).await),
        &network::NETWORK => to_json(c.network_index(node, get(map, "type")).await),
        &network::INTERFACE => to_json(c.network_read(node, get(map, "iface").unwrap_or("")).await),
        &network::SDN_ZONES => to_json(c.sdn_zone_index(get(map, "type")).await),
        &network::SDN_ZONE => to_json(c.sdn_zone_read(get(map, "zone").unwrap_or("")).await),
        &network::SDN_VNETS => to_json(c.sdn_vnet_index().await),
        &network::SDN_VNET => to_json(c.sdn_vnet_read(get(map, "vnet").unwrap_or("")).await),
        &tasks::NODE_TASKS => match request::<TaskFilter>(route, map) {
            Ok(filter) => match c.node_tasks(node, &filter).await {
                Ok((page, total)) => Outcome::ok_total(page.into(), total),
                Err(e) => api_err(e),
            },
            Err(outcome) => outcome,
        },
        &agent::OS_INFO => to_json(c.agent_osinfo(node, vmid).await),
        &agent::EXEC => {
            let command = array(map, "command");
            to_json(
                c.agent_exec(node, vmid, &command, get(map, "input-data"))
                    .await,
            )
        }
        &agent::EXEC_STATUS => to_json(
            c.agent_exec_status(node, vmid, number("pid").unwrap_or(0))
                .await,
        ),
        &backup::JOBS => to_json(c.backup_job_index().await),
        &backup::CREATE_JOB => match request::<BackupJobRequest>(route, map) {
            Ok(job) => null_or_error(c.backup_job_create(&job).await),
            Err(outcome) => outcome,
        },
        &backup::JOB => to_json(c.backup_job_read(get(map, "id").unwrap_or("")).await),
        &backup::UPDATE_JOB => match request::<BackupJobRequest>(route, map) {
            Ok(job) => null_or_error(
                c.backup_job_update(job.id.as_deref().unwrap_or(""), &job)
                    .await,
            ),
            Err(outcome) => outcome,
        },
        &backup::DELETE_JOB => {
            null_or_error(c.backup_job_delete(get(map, "id").unwrap_or("")).await)
        }
        &backup::VZDUMP => match request::<Vzdump>(route, map) {
            Ok(vzdump) => to_json(c.vzdump(node, &vzdump).await),
            Err(outcome) => outcome,
        },
        &ha::RESOURCES => to_json(c.ha_resource_index(get(map, "type")).await),
        &ha::CREATE_RESOURCE => match request::<HaResourceRequest>(route, map) {
            Ok(resource) => null_or_error(c.ha_resource_create(&resource).await),
            Err(outcome) => outcome,
        },
        &ha::RESOURCE => to_json(c.ha_resource_read(get(map, "sid").unwrap_or("")).await),
        &ha::UPDATE_RESOURCE => match request::<HaResourceRequest>(route, map) {
            Ok(resource) => null_or_error(c.ha_resource_update(&resource).await),
            Err(outcome) => outcome,
        },
        &ha::DELETE_RESOURCE => {
            null_or_error(c.ha_resource_delete(get(map, "sid").unwrap_or("")).await)
        }
        &ha::MIGRATE_RESOURCE => to_json(
            c.ha_resource_migrate(get(map, "sid").unwrap_or(""), node)
                .await,
        ),
        &ha::GROUPS => to_json(c.ha_group_index().await),
        &ha::CREATE_GROUP => match request::<HaGroupRequest>(route, map) {
            Ok(group) => null_or_error(c.ha_group_create(&group).await),
            Err(outcome) => outcome,
        },
        &ha::GROUP => to_json(c.ha_group_read(get(map, "group").unwrap_or("")).await),
        &ha::UPDATE_GROUP => match request::<HaGroupRequest>(route, map) {
            Ok(group) => null_or_error(c.ha_group_update(&group).await),
            Err(outcome) => outcome,
        },
        &ha::DELETE_GROUP => {
            null_or_error(c.ha_group_delete(get(map, "group").unwrap_or("")).await)
        }
        _ => return None,
    })
}

/// `POST /nodes/{node}/qemu` with `archive`: a restore.
pub(super) async fn restore(
    c: &SimClient,
    route: &'static Endpoint,
    map: &BTreeMap<String, String>,
) -> Outcome {
    let restore = match super::dispatch::request::<Restore>(route, map) {
        Ok(restore) => Restore {
            config: endpoint::form::extra_params(route, map),
            ..restore
        },
        Err(outcome) => return outcome,
    };
    match c.restore_vm(get(map, "node").unwrap_or(""), &restore).await {
        Ok(upid) => Outcome::ok(upid.to_string().into()),
        Err(e) => api_err(e),
    }
}

/// `null` on success (the `returns: null` endpoints), else the error.
fn null_or_error(r: Result<(), Error>) -> Outcome {
    match r {
        Ok(()) => Outcome::ok(serde_json::Value::Null),
        Err(e) => api_err(e),
    }
}
