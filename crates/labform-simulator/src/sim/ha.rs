//! High availability as pve-ha-manager's API has it (`API2/HA/Resources.pm`,
//! `API2/HA/Groups.pm`): resources (`vm:<vmid>`) with their requested state,
//! groups (refused, as on every Proxmox VE 9 cluster whose groups were
//! migrated to rules, unless some exist), and a small HA manager that
//! carries the requested state out the way the local resource manager does:
//! it starts or stops the guest and migrates it on request, each as a task
//! of `root@pam` on the guest's node. Requests are the typed `HaResourceRequest`
//! and `HaGroupRequest` the endpoints' declarations decode.

use super::*;
use crate::datacenter::{Section, SectionFile, section_options};
use labform_proxmox::endpoint;

/// What groups are refused with, per endpoint, once they were migrated to rules.
fn groups_migrated(action: &str) -> ApiError {
    e500(format!(
        "cannot {action}: ha groups have been migrated to rules"
    ))
}

/// `PVE::HA::Config::parse_sid`: `vm:100`, or a bare VMID of an existing guest.
fn parse_sid(st: &State, sid: &str) -> std::result::Result<(String, String, String), ApiError> {
    if !sid.is_empty() && sid.chars().all(|c| c.is_ascii_digit()) {
        return match sid.parse::<u32>().ok().filter(|id| st.vms.contains_key(id)) {
            Some(_) => Ok((format!("vm:{sid}"), "vm".into(), sid.into())),
            None => Err(e500(format!(
                "unable to detect SID from VMID - VM/CT {sid} does not exist"
            ))),
        };
    }
    match sid.split_once(':') {
        Some((kind, name))
            if !kind.is_empty() && !name.is_empty() && !sid.contains(char::is_whitespace) =>
        {
            Ok((sid.to_owned(), kind.to_owned(), name.to_owned()))
        }
        _ => Err(e500(format!("unable to parse service id '{sid}'"))),
    }
}

/// `PVE::SectionConfig::assert_if_modified`.
fn assert_digest(file: &SectionFile, digest: Option<&str>) -> std::result::Result<(), ApiError> {
    match digest {
        Some(d) if d != file.digest() => Err(e500(
            "detected modified configuration - file changed by other user? Try again.",
        )),
        _ => Ok(()),
    }
}

/// A section as the HA API answers it: its options, `type`, its id under
/// `id_key` and the file's digest; integers and booleans typed.
fn ha_entry(section: &Section, id_key: &str, file: &SectionFile) -> serde_json::Value {
    let mut entry: serde_json::Map<String, serde_json::Value> = section
        .options
        .iter()
        .map(|(k, v)| {
            let typed = matches!(
                k.as_str(),
                "max_restart" | "max_relocate" | "failback" | "restricted" | "nofailback"
            );
            let value = match v.parse::<i64>() {
                Ok(n) if typed => n.into(),
                _ => v.clone().into(),
            };
            (k.clone(), value)
        })
        .collect();
    entry.insert("type".into(), section.kind.clone().into());
    entry.insert(id_key.into(), section.id.clone().into());
    entry.insert("digest".into(), file.digest().into());
    entry.into()
}

impl SimClient {
    /// `GET /cluster/ha/resources[?type=]` (`Sys.Audit` on `/`).
    pub async fn ha_resource_index(&self, kind: Option<&str>) -> Result<Vec<serde_json::Value>> {
        self.run(&endpoint::ha::RESOURCES, &[], async {
            let st = self.sim.lock();
            self.check(&st, "/", "Sys.Audit")?;
            let file = &st.datacenter.ha_resources;
            Ok(file
                .sections
                .iter()
                .filter(|r| kind.is_none_or(|k| k == r.kind))
                .map(|r| ha_entry(r, "sid", file))
                .collect())
        })
        .await
    }

    /// `GET /cluster/ha/resources/{sid}`.
    pub async fn ha_resource_read(&self, sid: &str) -> Result<serde_json::Value> {
        self.run(&endpoint::ha::RESOURCE, &[&sid], async {
            let st = self.sim.lock();
            self.check(&st, "/", "Sys.Audit")?;
            let (sid, _, _) = parse_sid(&st, sid)?;
            let file = &st.datacenter.ha_resources;
            file.get(&sid)
                .map(|r| ha_entry(r, "sid", file))
                .ok_or_else(|| e500(format!("no such resource '{sid}'")))
        })
        .await
    }

    /// `POST /cluster/ha/resources`: the guest becomes HA managed (`Sys.Console` on `/`).
    pub async fn ha_resource_create(&self, request: &HaResourceRequest) -> Result<()> {
        self.run(&endpoint::ha::CREATE_RESOURCE, &[], async {
            let sid = {
                let mut st = self.sim.lock();
                self.check(&st, "/", "Sys.Console")?;
                let (sid, kind, name) = parse_sid(&st, &request.sid)?;
                if request.kind.as_ref().is_some_and(|given| *given != kind) {
                    return Err(e500("types does not match"));
                }
                self.check_ha_group(&st, request.group.as_ref())?;
                if kind != "vm" {
                    return Err(e500(format!("unknown resource type '{kind}'")));
                }
                let vmid: Option<u32> = name.parse().ok();
                if vmid.is_none_or(|id| !st.vms.contains_key(&id)) {
                    return Err(e500(format!("resource '{sid}' does not exist in cluster")));
                }
                if st.datacenter.ha_resources.get(&sid).is_some() {
                    return Err(e500(format!(
                        "create resource failed: resource ID '{sid}' already defined"
                    )));
                }
                st.datacenter.ha_resources.sections.push(Section {
                    kind,
                    id: sid.clone(),
                    options: section_options(request, &["sid", "type"]),
                });
                sid
            };
            self.sim.ha_converge(&sid);
            Ok(())
        })
        .await
    }

    /// `PUT /cluster/ha/resources/{sid}`: options set and `delete`d, guarded by `digest`.
    pub async fn ha_resource_update(&self, request: &HaResourceRequest) -> Result<()> {
        let sid = request.sid.as_str();
        self.run(&endpoint::ha::UPDATE_RESOURCE, &[&sid], async {
            let sid = {
                let mut st = self.sim.lock();
                self.check(&st, "/", "Sys.Console")?;
                let (sid, _, _) = parse_sid(&st, sid)?;
                if let Some(group) = &request.group {
                    if st.datacenter.ha_groups.sections.is_empty() {
                        return Err(e500(
                            "invalid parameter 'group': ha groups have been migrated to rules",
                        ));
                    }
                    if st.datacenter.ha_groups.get(group).is_none() {
                        return Err(e500(format!("HA group '{group}' does not exist")));
                    }
                }
                let failed = |text: String| e500(format!("update resources config failed: {text}"));
                assert_digest(&st.datacenter.ha_resources, request.digest.as_deref())
                    .map_err(|e| failed(e.message))?;
                let resource = st
                    .datacenter
                    .ha_resources
                    .get_mut(&sid)
                    .ok_or_else(|| failed(format!("no such resource '{sid}'")))?;
                for key in &request.delete {
                    resource.options.remove(key);
                }
                resource.options.extend(section_options(
                    request,
                    &["sid", "type", "delete", "digest"],
                ));
                sid
            };
            self.sim.ha_converge(&sid);
            Ok(())
        })
        .await
    }

    /// `DELETE /cluster/ha/resources/{sid}`: the guest is no longer HA managed.
    pub async fn ha_resource_delete(&self, sid: &str) -> Result<()> {
        self.run(&endpoint::ha::DELETE_RESOURCE, &[&sid], async {
            let mut st = self.sim.lock();
            self.check(&st, "/", "Sys.Console")?;
            let (sid, _, _) = parse_sid(&st, sid)?;
            if !st.datacenter.ha_resources.remove(&sid) {
                return Err(e500(format!(
                    "cannot delete service '{sid}', not HA managed!"
                )));
            }
            st.datacenter.ha_service_state.remove(&sid);
            Ok(())
        })
        .await
    }

    /// `POST /cluster/ha/resources/{sid}/migrate`: the HA manager moves the
    /// guest to `target` (online when it runs); `{sid, requested-node}`.
    pub async fn ha_resource_migrate(&self, sid: &str, target: &str) -> Result<serde_json::Value> {
        self.run(&endpoint::ha::MIGRATE_RESOURCE, &[&sid], async {
            let sid = {
                let st = self.sim.lock();
                self.check(&st, "/", "Sys.Console")?;
                let (sid, _, _) = parse_sid(&st, sid)?;
                if st.datacenter.ha_resources.get(&sid).is_none() {
                    return Err(e500(format!("resource '{sid}' is not HA managed")));
                }
                if st
                    .datacenter
                    .ha_service_state
                    .get(&sid)
                    .is_some_and(|s| s == "error")
                {
                    return Err(e500(format!(
                        "service '{sid}' in error state, must be disabled and fixed first"
                    )));
                }
                sid
            };
            self.sim.ha_migrate(&sid, target);
            Ok(serde_json::json!({ "sid": sid, "requested-node": target }))
        })
        .await
    }

    /// Refuses `group` where Proxmox does.
    fn check_ha_group(
        &self,
        st: &State,
        group: Option<&String>,
    ) -> std::result::Result<(), ApiError> {
        if group.is_some() && st.datacenter.ha_groups.sections.is_empty() {
            return Err(e500(
                "invalid parameter 'group': ha groups have been migrated to rules",
            ));
        }
        Ok(())
    }

    /// `GET /cluster/ha/groups`.
    pub async fn ha_group_index(&self) -> Result<Vec<serde_json::Value>> {
        self.run(&endpoint::ha::GROUPS, &[], async {
            let st = self.sim.lock();
            self.check(&st, "/", "Sys.Audit")?;
            let file = &st.datacenter.ha_groups;
            if file.sections.is_empty() {
                return Err(groups_migrated("index groups"));
            }
            Ok(file
                .sections
                .iter()
                .map(|g| ha_entry(g, "group", file))
                .collect())
        })
        .await
    }

    /// `GET /cluster/ha/groups/{group}`.
    pub async fn ha_group_read(&self, group: &str) -> Result<serde_json::Value> {
        self.run(&endpoint::ha::GROUP, &[&group], async {
            let st = self.sim.lock();
            self.check(&st, "/", "Sys.Audit")?;
            let file = &st.datacenter.ha_groups;
            if file.sections.is_empty() {
                return Err(groups_migrated("read group"));
            }
            file.get(group)
                .map(|g| ha_entry(g, "group", file))
                .ok_or_else(|| e500(format!("no such ha group '{group}'")))
        })
        .await
    }

    /// `POST /cluster/ha/groups`.
    pub async fn ha_group_create(&self, request: &HaGroupRequest) -> Result<()> {
        let group = request.group.as_str();
        self.run(&endpoint::ha::CREATE_GROUP, &[], async {
            let mut st = self.sim.lock();
            self.check(&st, "/", "Sys.Console")?;
            if st.datacenter.ha_groups.sections.is_empty() {
                return Err(groups_migrated("create group"));
            }
            if request.kind.as_ref().is_some_and(|given| given != "group") {
                return Err(e500("types does not match"));
            }
            if st.datacenter.ha_groups.get(group).is_some() {
                return Err(e500(format!(
                    "create ha group failed: ha group ID '{group}' already defined"
                )));
            }
            st.datacenter.ha_groups.sections.push(Section {
                kind: "group".into(),
                id: group.to_owned(),
                options: section_options(request, &["group", "type"]),
            });
            Ok(())
        })
        .await
    }

    /// `PUT /cluster/ha/groups/{group}`.
    pub async fn ha_group_update(&self, request: &HaGroupRequest) -> Result<()> {
        let group = request.group.as_str();
        self.run(&endpoint::ha::UPDATE_GROUP, &[&group], async {
            let mut st = self.sim.lock();
            self.check(&st, "/", "Sys.Console")?;
            if st.datacenter.ha_groups.sections.is_empty() {
                return Err(groups_migrated("update group"));
            }
            let failed = |text: String| e500(format!("update ha group failed: {text}"));
            assert_digest(&st.datacenter.ha_groups, request.digest.as_deref())
                .map_err(|e| failed(e.message))?;
            let section = st
                .datacenter
                .ha_groups
                .get_mut(group)
                .ok_or_else(|| failed(format!("no such ha group '{group}'")))?;
            for key in &request.delete {
                if key == "nodes" {
                    return Err(failed(format!("unable to delete required option '{key}'")));
                }
                section.options.remove(key);
            }
            section.options.extend(section_options(
                request,
                &["group", "type", "delete", "digest"],
            ));
            Ok(())
        })
        .await
    }

    /// `DELETE /cluster/ha/groups/{group}`: only groups no resource uses.
    pub async fn ha_group_delete(&self, group: &str) -> Result<()> {
        self.run(&endpoint::ha::DELETE_GROUP, &[&group], async {
            let mut st = self.sim.lock();
            self.check(&st, "/", "Sys.Console")?;
            if st.datacenter.ha_groups.sections.is_empty() {
                return Err(groups_migrated("delete group"));
            }
            let failed = |text: String| e500(format!("delete ha group failed: {text}"));
            if st.datacenter.ha_groups.get(group).is_none() {
                return Err(failed(format!("no such ha group '{group}'")));
            }
            if let Some(user) = st
                .datacenter
                .ha_resources
                .sections
                .iter()
                .find(|r| r.options.get("group").is_some_and(|g| g == group))
            {
                return Err(failed(format!("ha group is used by service '{}'", user.id)));
            }
            st.datacenter.ha_groups.remove(group);
            Ok(())
        })
        .await
    }
}

impl Simulator {
    /// Adds an HA group of a cluster whose groups were not migrated to rules
    /// yet (an upgraded one), with its `nodes` and other options.
    pub fn define_ha_group(&self, group: &str, options: &[(&str, &str)]) {
        let mut st = self.lock();
        st.datacenter.ha_groups.remove(group);
        st.datacenter.ha_groups.sections.push(Section {
            kind: "group".into(),
            id: group.to_owned(),
            options: options
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        });
    }

    /// The HA manager's reaction to resource `sid`'s requested state
    /// (default `started`): start or stop the guest where it lives.
    pub(crate) fn ha_converge(&self, sid: &str) {
        let (vmid, node, requested, running) = {
            let st = self.lock();
            let Some(resource) = st.datacenter.ha_resources.get(sid) else {
                return;
            };
            let Some(vm) = sid
                .strip_prefix("vm:")
                .and_then(|id| id.parse::<u32>().ok())
                .and_then(|id| st.vms.get(&id))
            else {
                return;
            };
            let requested = resource
                .options
                .get("state")
                .cloned()
                .unwrap_or_else(|| "started".into());
            (vm.vmid, vm.node.clone(), requested, vm.running)
        };
        let state = match requested.as_str() {
            "started" | "enabled" => "started",
            "ignored" => "ignored",
            "disabled" => "disabled",
            _ => "stopped",
        };
        self.lock()
            .datacenter
            .ha_service_state
            .insert(sid.to_owned(), state.to_owned());
        let Ok(id) = VmId::new(vmid) else { return };
        let root = self.root();
        let node = NodeName::new(node);
        let action = match (state, running) {
            ("started", false) => VmAction::Start,
            ("stopped" | "disabled", true) => VmAction::Stop,
            _ => return,
        };
        tokio::spawn(async move {
            // The resource manager's own request; what it logs is the task's.
            let _ = root.vm_action(&node, id, action).await;
        });
    }

    /// The HA manager's migration of resource `sid` to `target`: online when
    /// the guest runs; the service reports `migrate` until it is done.
    pub(crate) fn ha_migrate(&self, sid: &str, target: &str) {
        let (vmid, node, running) = {
            let st = self.lock();
            let Some(vm) = sid
                .strip_prefix("vm:")
                .and_then(|id| id.parse::<u32>().ok())
                .and_then(|id| st.vms.get(&id))
            else {
                return;
            };
            (vm.vmid, vm.node.clone(), vm.running)
        };
        if node == target {
            return;
        }
        let Ok(id) = VmId::new(vmid) else { return };
        self.lock()
            .datacenter
            .ha_service_state
            .insert(sid.to_owned(), "migrate".into());
        let sim = self.clone();
        let root = self.root();
        let (node, target, sid) = (NodeName::new(node), NodeName::new(target), sid.to_owned());
        tokio::spawn(async move {
            let ended = match root.migrate_vm(&node, id, &target, running).await {
                Ok(upid) => loop {
                    match root.task_status(&upid).await {
                        Ok(status) if status.status == TaskState::Stopped => break status.is_ok(),
                        Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                        Err(_) => break false,
                    }
                },
                Err(_) => false,
            };
            if ended {
                sim.ha_converge(&sid);
            } else {
                let mut st = sim.lock();
                if st.datacenter.ha_resources.get(&sid).is_some() {
                    st.datacenter
                        .ha_service_state
                        .insert(sid, "error".to_owned());
                }
            }
        });
    }
}
