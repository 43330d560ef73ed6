//! Routing a checked request to the simulated cluster: one arm per declared
//! endpoint (`labform_proxmox::endpoint`), turning parameters into the typed
//! request and the answer into its JSON; and `background_delay`, which waits
//! for a task before answering.

use super::params::{flag, get, parse_upid, vmid};
use super::response::{api_err, to_json};
use super::*;
use labform_proxmox::endpoint::form::{FormError, decode, extra_params};
use labform_proxmox::endpoint::{
    access, agent, cloudinit, cluster, pools, power, qemu, snapshots, storage, tasks,
};
use serde::de::DeserializeOwned;

/// The typed request the checked parameters `map` of `route` make, by its declaration; what
/// does not fit is refused as Proxmox refuses a parameter (400 `Parameter verification
/// failed.` with the parameter's error).
pub(super) fn request<T: DeserializeOwned>(
    route: &'static Endpoint,
    map: &BTreeMap<String, String>,
) -> Result<T, Outcome> {
    decode(route, map).map_err(|error| Outcome::err(&form_error(error)))
}

/// A request that does not fit its declaration as Proxmox's parameter error.
fn form_error(error: FormError) -> ApiError {
    match error {
        FormError::Type { name, problem, .. } => ApiError::param(&name, problem),
        FormError::Missing { name, .. } => {
            ApiError::param(&name, "property is missing and it is not optional")
        }
        FormError::Undeclared { name, .. } | FormError::InPath { name, .. } => ApiError::param(
            &name,
            "property is not defined in schema and the schema does not allow additional properties",
        ),
        FormError::NotNamed { .. } | FormError::Serde { .. } => {
            let text = match std::error::Error::source(&error) {
                Some(source) => format!("{error} - {source}"),
                None => error.to_string(),
            };
            ApiError::params(BTreeMap::from([("_root".to_owned(), text)]))
        }
    }
}

/// Answers a checked request for `route` as `c`.
pub(super) async fn dispatch(
    c: &SimClient,
    route: &'static Endpoint,
    map: &BTreeMap<String, String>,
    upload: Option<(String, Vec<u8>)>,
) -> Outcome {
    let node = NodeName::new(get(map, "node").unwrap_or(""));
    let res: Result<Outcome, Outcome> = async {
        Ok(match route {
            &cluster::VERSION => to_json(c.version().await),
            &cluster::NODES => to_json(c.nodes().await),
            &cluster::CLUSTER_STATUS => to_json(c.cluster_status().await),
            &cluster::NODE_STATUS => to_json(c.node_status(node.as_str()).await),
            &tasks::CLUSTER_TASKS => to_json(c.list_tasks(None).await),
            &storage::STORAGE_STATUS => {
                to_json(c.storage_status(node.as_str(), get(map, "storage").unwrap_or("")).await)
            }
            &access::ACL => to_json(c.acl_list().await),
            &access::ROLES => to_json(c.roles_list().await),
            &access::PERMISSIONS => to_json(c.permissions(get(map, "path"), get(map, "userid")).await),
            &access::USERS => to_json(c.users_list(flag(map, "full")).await),
            &access::TOKENS => to_json(c.tokens_list(get(map, "userid").unwrap_or("")).await),
            &cloudinit::CLOUDINIT_PENDING => {
                to_json(c.cloudinit_pending(node.as_str(), vmid(map, "vmid")?.get()).await)
            }
            &cloudinit::REGENERATE_CLOUDINIT => {
                to_json(c.cloudinit_regenerate(node.as_str(), vmid(map, "vmid")?.get()).await)
            }
            &cloudinit::CLOUDINIT_DUMP => to_json(
                c.cloudinit_dump(node.as_str(), vmid(map, "vmid")?.get(), get(map, "type").unwrap_or("user")).await,
            ),
            &cluster::RESOURCES => {
                let kind = match get(map, "type") {
                    Some("vm") => Some(ResourceType::Vm),
                    Some("storage") => Some(ResourceType::Storage),
                    Some("node") => Some(ResourceType::Node),
                    Some("sdn") => Some(ResourceType::Sdn),
                    Some(_) => return Ok(Outcome::ok(serde_json::json!([]))),
                    None => None,
                };
                to_json(c.cluster_resources(kind).await)
            }
            &cluster::NEXT_ID => {
                let check = match get(map, "vmid") {
                    Some(_) => Some(vmid(map, "vmid")?),
                    None => None,
                };
                match c.next_vmid(check).await {
                    Ok(v) => Outcome::ok(v.get().into()),
                    Err(e) => api_err(e),
                }
            }
            &access::CREATE_USER => to_json(c.create_user(&request::<CreateUser>(route, map)?).await),
            &access::CREATE_TOKEN => {
                let req: CreateToken = request(route, map)?;
                match c.create_token(get(map, "userid").unwrap_or(""), get(map, "tokenid").unwrap_or(""), &req).await {
                    Ok(t) => Outcome::ok(serde_json::json!({
                        "full-tokenid": t.full_tokenid,
                        "info": {"privsep": u8::from(req.privsep.unwrap_or(true)), "expire": req.expire.unwrap_or(0)},
                        "value": t.value.expose(),
                    })),
                    Err(e) => api_err(e),
                }
            }
            &access::DELETE_USER => to_json(c.delete_user(get(map, "userid").unwrap_or("")).await),
            &access::DELETE_TOKEN => to_json(
                c.delete_token(get(map, "userid").unwrap_or(""), get(map, "tokenid").unwrap_or("")).await,
            ),
            &access::UPDATE_ACL => to_json(c.update_acl(&request::<AclUpdate>(route, map)?).await),
            &agent::PING => match c.agent_ping(&node, vmid(map, "vmid")?).await {
                Ok(()) => Outcome::ok(serde_json::json!({ "result": {} })),
                Err(e) => api_err(e),
            },
            &storage::DELETE_VOLUME => {
                let storage = match (get(map, "storage"), get(map, "volume").and_then(|v| v.split_once(':'))) {
                    (Some(s), _) => s.to_owned(),
                    (None, Some((s, _))) => s.to_owned(),
                    (None, None) => return Ok(Outcome::err(&ApiError::param("storage", "property is missing and it is not optional"))),
                };
                match c.delete_volume(&node, &StorageName::new(storage), get(map, "volume").unwrap_or("")).await {
                    Ok(upid) => match get(map, "delay").and_then(|d| d.parse::<u64>().ok()) {
                        Some(d) => background_wait(c, upid, d).await,
                        None => Outcome::ok(upid.to_string().into()),
                    },
                    Err(e) => api_err(e),
                }
            }
            &pools::CREATE_POOL => match c.create_pool(get(map, "poolid").unwrap_or(""), get(map, "comment")).await {
                Ok(()) => Outcome::ok(serde_json::Value::Null),
                Err(e) => api_err(e),
            },
            &qemu::VMS => match c.list_vms(node.as_str(), flag(map, "full")).await {
                Ok(v) => Outcome::ok(v.into()),
                Err(e) => api_err(e),
            },
            &qemu::CREATE_VM if map.contains_key("archive") => {
                super::dispatch_cluster::restore(c, route, map).await
            }
            &qemu::CREATE_VM => {
                let req = CreateVm { config: extra_params(route, map), ..request(route, map)? };
                to_json(c.create_vm(&node, &req).await)
            }
            &qemu::CONFIG => {
                match c.config_json(node.as_str(), vmid(map, "vmid")?.get(), flag(map, "current"), get(map, "snapshot")).await {
                    Ok(j) => Outcome::ok(j.into()),
                    Err(e) => api_err(e),
                }
            }
            &qemu::UPDATE_CONFIG | &qemu::UPDATE_CONFIG_SYNC => {
                let update = ConfigUpdate { set: extra_params(route, map), ..request(route, map)? };
                let id = vmid(map, "vmid")?;
                if route == &qemu::UPDATE_CONFIG_SYNC {
                    match c.update_vm_config_sync(&node, id, &update).await {
                        Ok(()) => Outcome::ok(serde_json::Value::Null),
                        Err(e) => api_err(e),
                    }
                } else {
                    match c.update_vm_config(&node, id, &update).await {
                        Ok(upid) => match get(map, "background_delay").and_then(|d| d.parse::<u64>().ok()) {
                            Some(d) => background_wait(c, upid, d).await,
                            None => Outcome::ok(upid.to_string().into()),
                        },
                        Err(e) => api_err(e),
                    }
                }
            }
            &qemu::PENDING => match c.pending_json(node.as_str(), vmid(map, "vmid")?.get()).await {
                Ok(j) => Outcome::ok(j.into()),
                Err(e) => api_err(e),
            },
            &qemu::RESIZE => {
                to_json(c.resize_disk(&node, vmid(map, "vmid")?, &request::<ResizeDisk>(route, map)?).await)
            }
            &qemu::TEMPLATE => to_json(c.convert_to_template(&node, vmid(map, "vmid")?).await),
            &qemu::CLONE => {
                let req: CloneVm = request(route, map)?;
                to_json(c.clone_vm(&node, vmid(map, "vmid")?, &req).await)
            }
            &power::STATUS => to_json(c.vm_status(&node, vmid(map, "vmid")?).await),
            &power::START | &power::STOP | &power::SHUTDOWN | &power::REBOOT => {
                let action = match *route {
                    power::START => VmAction::Start,
                    power::STOP => VmAction::Stop,
                    power::SHUTDOWN => VmAction::Shutdown,
                    _ => VmAction::Reboot,
                };
                to_json(c.vm_action(&node, vmid(map, "vmid")?, action).await)
            }
            &qemu::DELETE_VM => to_json(c.delete_vm(&node, vmid(map, "vmid")?, request(route, map)?).await),
            &qemu::MIGRATE => to_json(
                c.migrate_vm(&node, vmid(map, "vmid")?, &NodeName::new(get(map, "target").unwrap_or("")), flag(map, "online"))
                    .await,
            ),
            &snapshots::SNAPSHOTS => {
                to_json(c.list_snapshots(&node, vmid(map, "vmid")?).await)
            }
            &snapshots::CREATE_SNAPSHOT => to_json(
                c.create_snapshot(&node, vmid(map, "vmid")?, get(map, "snapname").unwrap_or(""), get(map, "description"))
                    .await,
            ),
            &snapshots::DELETE_SNAPSHOT => {
                to_json(c.delete_snapshot(&node, vmid(map, "vmid")?, get(map, "snapname").unwrap_or("")).await)
            }
            &snapshots::ROLLBACK => {
                let id = vmid(map, "vmid")?;
                let snap = get(map, "snapname").unwrap_or("");
                to_json(c.rollback_snapshot(&node, id, snap).await)
            }
            &agent::NETWORK_INTERFACES => {
                match c.agent_network_interfaces(&node, vmid(map, "vmid")?).await {
                    Ok(ifs) => Outcome::ok(serde_json::json!({ "result": ifs })),
                    Err(e) => api_err(e),
                }
            }
            &tasks::TASK_STATUS => match parse_upid(map) {
                Ok(u) => to_json(c.task_status(&u).await),
                Err(o) => o,
            },
            &tasks::TASK_LOG => match parse_upid(map) {
                Ok(u) => {
                    let query: TaskLogQuery = request(route, map)?;
                    let (start, limit) = (query.start.unwrap_or(0), query.limit.unwrap_or(50));
                    match c.task_log(&u, start, limit).await {
                        Ok(l) => Outcome::ok_total(serde_json::to_value(l.lines).unwrap_or_default(), l.total),
                        Err(e) => api_err(e),
                    }
                }
                Err(o) => o,
            },
            &storage::NODE_STORAGES => {
                match c.node_storages(&node).await {
                    Ok(mut v) => {
                        if let Some(ct) = get(map, "content") {
                            v.retain(|s| s.content.split(',').any(|x| ct.split(',').any(|w| w == x)));
                        }
                        if let Some(s) = get(map, "storage") {
                            v.retain(|x| x.storage == s);
                        }
                        to_json::<Vec<NodeStorage>>(Ok(v))
                    }
                    Err(e) => api_err(e),
                }
            }
            &storage::CONTENT => {
                let storage = StorageName::new(get(map, "storage").unwrap_or(""));
                let query: ContentQuery = request(route, map)?;
                to_json(c.storage_content_of(&node, &storage, &query).await)
            }
            &storage::DOWNLOAD_URL => {
                let storage = StorageName::new(get(map, "storage").unwrap_or(""));
                if map.contains_key("checksum-algorithm") != map.contains_key("checksum") {
                    return Ok(Outcome::err(&ApiError::param(
                        "checksum",
                        "'checksum' and 'checksum-algorithm' must be given together",
                    )));
                }
                let req: DownloadUrl = request(route, map)?;
                to_json(c.download_url(&node, &storage, &req).await)
            }
            &storage::UPLOAD => {
                let Some((_, data)) = upload else {
                    return Ok(Outcome::err(&ApiError::param("filename", "missing file upload")));
                };
                match c
                    .upload_data(
                        node.as_str(),
                        get(map, "storage").unwrap_or(""),
                        get(map, "content").unwrap_or(""),
                        get(map, "filename").unwrap_or(""),
                        data,
                    )
                    .await
                {
                    Ok(u) => Outcome::ok(u.to_string().into()),
                    Err(e) => api_err(e),
                }
            }
            _ => match super::dispatch_cluster::dispatch(c, route, map).await {
                Some(outcome) => outcome,
                None => Outcome::err(&ApiError::new(
                    501,
                    format!("Method '{} {}' not implemented", route.method, route.path),
                )),
            },
        })
    }
    .await;
    res.unwrap_or_else(|o| o)
}

/// Waits up to `delay` seconds (at most 30) for task `upid`: `null` when it ended well, its error when it failed, else its UPID.
pub(super) async fn background_wait(c: &SimClient, upid: Upid, delay: u64) -> Outcome {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(delay.min(30));
    loop {
        match c.task_status(&upid).await {
            Ok(s) if s.status == TaskState::Stopped && s.is_ok() => {
                return Outcome::ok(serde_json::Value::Null);
            }
            Ok(s) if s.status == TaskState::Stopped => {
                return Outcome::err(&ApiError::new(500, s.exitstatus.unwrap_or_default()));
            }
            _ if tokio::time::Instant::now() >= deadline => {
                return Outcome::ok(upid.to_string().into());
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labform_proxmox::endpoint::ALL;

    /// A value of parameter `param`'s type (path parameters as the two-node cluster has them).
    fn value(param: &labform_proxmox::endpoint::Param) -> String {
        match (param.name, param.ty) {
            ("node" | "target", _) => "pve1".into(),
            ("upid", _) => "UPID:pve1:00001000:00000001:00000001:qmstart:100:root@pam:".into(),
            (_, Ty::Int(minimum)) => minimum.unwrap_or(1).max(100).to_string(),
            (_, Ty::Bool) => "0".into(),
            (_, Ty::Enum(values)) => values[0].into(),
            _ => "labform".into(),
        }
    }

    /// Every declared endpoint has an arm in the simulator's router: called with its required
    /// parameters, none falls through to the router's "not implemented". (`/access/ticket`, the
    /// public one, is answered before the router, by the login.)
    #[tokio::test]
    async fn every_declared_endpoint_is_routed() {
        let sim = Simulator::new(SimConfig::cluster(
            2,
            labform_proxmox::Secret::new("root-password"),
        ));
        let root = sim.root();
        let mut unrouted = Vec::new();
        for route in ALL.iter().filter(|route| !route.public) {
            let map: BTreeMap<String, String> = route
                .params
                .iter()
                .filter(|param| param.required)
                .map(|param| (param.name.to_owned(), value(param)))
                .collect();
            let upload = Some(("labform.iso".to_owned(), Vec::new()));
            let outcome = dispatch(&root, route, &map, upload).await;
            if outcome.status == 501 && outcome.reason.starts_with("Method '") {
                unrouted.push(route.key());
            }
        }
        assert!(unrouted.is_empty(), "not routed: {unrouted:?}");
    }
}
