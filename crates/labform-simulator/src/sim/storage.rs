//! Storage endpoints: a node's storages, their content, uploads,
//! `download-url` and deleting volumes.

use super::*;
use labform_proxmox::endpoint;

impl SimClient {
    /// `GET /nodes/{node}/storage/{storage}/content` with its filters (`content`, `vmid`).
    pub async fn storage_content_of(
        &self,
        node: &NodeName,
        storage: &StorageName,
        query: &ContentQuery,
    ) -> Result<Vec<StorageVolume>> {
        storage_content(self, node, storage, query).await
    }
}

pub(super) async fn upload(
    client: &SimClient,
    node: &NodeName,
    storage: &StorageName,
    file: &Upload,
) -> Result<Upid> {
    client
        .upload_data(
            node.as_str(),
            storage.as_str(),
            &file.content,
            &file.filename,
            file.data.clone(),
        )
        .await
}

pub(super) async fn node_storages(client: &SimClient, node: &NodeName) -> Result<Vec<NodeStorage>> {
    let node = node.as_str();
    client
        .run(&endpoint::storage::NODE_STORAGES, &[&node], async {
            client.on_node(node).read(|st| {
                Ok(client
                    .sim
                    .inner
                    .config
                    .storages
                    .iter()
                    .filter(|s| s.nodes.is_empty() || s.nodes.iter().any(|n| n == node))
                    .filter(|s| {
                        let p = format!("/storage/{}", s.id);
                        st.has(&client.who, &p, "Datastore.Audit")
                            || st.has(&client.who, &p, "Datastore.AllocateSpace")
                    })
                    .map(|s| {
                        let used = Simulator::used_bytes(st, &Simulator::store_key(s, node));
                        NodeStorage {
                            storage: s.id.clone(),
                            kind: s.kind.as_str().into(),
                            content: s.content.join(","),
                            active: Some(true),
                            enabled: Some(true),
                            shared: Some(s.shared),
                            total: Some(s.capacity),
                            used: Some(used),
                            avail: Some(s.capacity.saturating_sub(used)),
                        }
                    })
                    .collect())
            })
        })
        .await
}

/// `GET /nodes/{node}/storage/{storage}/content` as pve-storage answers it (`Content.pm`'s
/// index over `PVE::Storage::volume_list` and the plugin's `list_volumes`): only content types
/// the storage holds; with `vmid`, that guest's images and backups (ISOs and container templates
/// left out, snippets and imports kept); each entry's `content` its type, a backup's `subtype`
/// its guest type and `notes` their first line, a linked clone's `parent` on a directory
/// storage; sorted by volume ID, any case.
pub(super) async fn storage_content(
    client: &SimClient,
    node: &NodeName,
    storage: &StorageName,
    query: &ContentQuery,
) -> Result<Vec<StorageVolume>> {
    let node = node.as_str();
    let storage = storage.as_str();
    client
        .run(&endpoint::storage::CONTENT, &[&node, &storage], async {
            client.on_node(node).read(|st| {
                client.check_any(
                    st,
                    &format!("/storage/{storage}"),
                    &["Datastore.Audit", "Datastore.AllocateSpace"],
                )?;
                let spec = client.sim.storage_on(storage, node)?;
                let key = Simulator::store_key(spec, node);
                let mut out = Vec::new();
                for (name, v) in st.volumes.get(&key).into_iter().flatten() {
                    if !spec.content.contains(&v.content)
                        || query.content.as_ref().is_some_and(|c| *c != v.content)
                    {
                        continue;
                    }
                    if let Some(vmid) = query.vmid {
                        let listed = match v.content.as_str() {
                            "iso" | "vztmpl" => false,
                            "images" | "rootdir" => v.vmid == Some(vmid.get()),
                            "backup" => name.contains(&format!("-{vmid}-")),
                            _ => true,
                        };
                        if !listed {
                            continue;
                        }
                    }
                    if let Some(id) = v.vmid
                        && !st.has(&client.who, &format!("/vms/{id}"), "VM.Audit")
                    {
                        continue;
                    }
                    let archive = st
                        .datacenter
                        .backup_archives
                        .get(&crate::datacenter::archive_key(&key, name));
                    let backup = v.content == "backup";
                    // A directory's linked clone `9000/base-9000-disk-0.qcow2/101/vm-101-disk-0.qcow2`
                    // is a qcow2 file backed by `../9000/base-9000-disk-0.qcow2`.
                    let parent = match name.split('/').collect::<Vec<_>>().as_slice() {
                        [base_vmid, base, _, _] if spec.kind.is_file_based() => {
                            Some(format!("../{base_vmid}/{base}"))
                        }
                        _ => None,
                    };
                    out.push(StorageVolume {
                        volid: format!("{storage}:{name}"),
                        content: v.content.clone(),
                        format: v.format.clone(),
                        size: v.size,
                        vmid: v.vmid.map(u64::from),
                        ctime: Some(v.ctime),
                        parent,
                        subtype: backup.then(|| "qemu".to_owned()),
                        notes: archive.and_then(|a| {
                            a.notes
                                .as_ref()
                                .and_then(|n| n.lines().next())
                                .map(str::to_owned)
                        }),
                        protected: archive.filter(|a| a.protected).map(|_| true),
                    });
                }
                out.sort_by_key(|volume| volume.volid.to_lowercase());
                Ok(out)
            })
        })
        .await
}

/// What Proxmox checks of a download-url request before it starts the download: the file name's
/// extension for the content type (ST `Storage.pm`'s regexes), a plain file name, and that the
/// storage holds that content. Pre-seeded images go through it too.
pub(crate) fn check_download_request(
    spec: &crate::config::StorageSpec,
    storage: &str,
    content: &str,
    filename: &str,
) -> std::result::Result<(), ApiError> {
    let ok_ext = match content {
        "iso" => [".iso", ".img"].iter().any(|e| filename.ends_with(e)),
        "import" => [".qcow2", ".raw", ".vmdk", ".ova"]
            .iter()
            .any(|e| filename.ends_with(e)),
        "vztmpl" => [".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2", ".tar"]
            .iter()
            .any(|e| filename.ends_with(e)),
        other => {
            return Err(ApiError::param(
                "content",
                format!(
                    "value '{other}' does not have a value in the enumeration 'iso, vztmpl, import'"
                ),
            ));
        }
    };
    if !ok_ext {
        return Err(ApiError::param("filename", "wrong file extension"));
    }
    if filename.contains('/') {
        return Err(ApiError::param("filename", "invalid filename"));
    }
    if !spec.content.iter().any(|held| held == content) {
        return Err(e500(format!(
            "storage '{storage}' does not support content-type '{content}'"
        )));
    }
    Ok(())
}

pub(super) async fn download_url(
    client: &SimClient,
    node: &NodeName,
    storage: &StorageName,
    req: &DownloadUrl,
) -> Result<Upid> {
    let node = node.as_str();
    let storage = storage.as_str();
    client
        .run(
            &endpoint::storage::DOWNLOAD_URL,
            &[&node, &storage],
            async {
                let call = client
                    .on_node(node)
                    .privilege(format!("/storage/{storage}"), "Datastore.AllocateTemplate");
                call.read(|st| {
                    let sys = st.has(&client.who, "/", "Sys.Audit")
                        && st.has(&client.who, "/", "Sys.Modify");
                    if !sys {
                        client.check(st, &format!("/nodes/{node}"), "Sys.AccessNetwork")?;
                    }
                    let spec = client.sim.storage_on(storage, node)?;
                    check_download_request(spec, storage, &req.content, &req.filename)?;
                    Ok(())
                })?;
                let req = req.clone();
                let storage = storage.to_owned();
                Ok(call.task("download", "", move |task| async move {
                    task.sim
                        .download_worker(&task.node, &storage, &req, &task.log)
                        .await
                }))
            },
        )
        .await
}

pub(super) async fn delete_volume(
    client: &SimClient,
    node: &NodeName,
    storage: &StorageName,
    volume: &str,
) -> Result<Upid> {
    let node = node.as_str();
    let storage = storage.as_str();
    client
        .run(
            &endpoint::storage::DELETE_VOLUME,
            &[&node, &storage, &volume],
            async {
                let name = volume
                    .strip_prefix(&format!("{storage}:"))
                    .unwrap_or(volume)
                    .to_owned();
                let call = client.on_node(node);
                let owner = call.read(|st| {
                    let spec = client.sim.storage_on(storage, node)?;
                    let vol = st
                        .volumes
                        .get(&Simulator::store_key(spec, node))
                        .and_then(|m| m.get(&name))
                        .ok_or_else(|| e500(format!("volume '{storage}:{name}' does not exist")))?;
                    match vol.vmid {
                        Some(id) => client.check(st, &format!("/vms/{id}"), "VM.Config.Disk")?,
                        None => client.check(
                            st,
                            &format!("/storage/{storage}"),
                            "Datastore.Allocate",
                        )?,
                    }
                    let volid = format!("{storage}:{name}");
                    if Simulator::volume_in_use_as_base(st, &volid) {
                        return Err(e500(format!(
                            "base volume '{volid}' is still in use by linked cloned"
                        )));
                    }
                    Ok(vol.vmid)
                })?;
                let id = format!("{}@{storage}", owner.unwrap_or(0));
                let storage_s = storage.to_owned();
                Ok(call.task("imgdel", &id, move |task| async move {
                    let NodeTask {
                        sim,
                        node: node_s,
                        log,
                        ..
                    } = task;
                    let t = sim.inner.config.timing;
                    let spec = sim
                        .storage_on(&storage_s, &node_s)
                        .map_err(|e| e.message)?
                        .clone();
                    let _g = sim.lock_storage(&spec).await?;
                    tokio::time::sleep(t.dur(t.storage_op_secs)).await;
                    let removed = sim
                        .lock()
                        .volumes
                        .get_mut(&Simulator::store_key(&spec, &node_s))
                        .and_then(|m| m.remove(&name));
                    if removed.is_none() {
                        return Err(format!("volume '{storage_s}:{name}' does not exist"));
                    }
                    let file = VolumeFile::new(Simulator::store_key(&spec, &node_s), name.clone());
                    sim.on_backend(move |b| b.remove_volume(&file)).await?;
                    log.log(format!("removed volume '{storage_s}:{name}'"));
                    Ok(())
                }))
            },
        )
        .await
}
