//! Everything labform would put on machines, as a file tree for review and outside validators:
//! `vms/VM/` (`user-data`, `meta-data`, `network-config`, `host-key.pub`, and `config.yaml` for
//! K3s nodes) and `clusters/CLUSTER/` (numbered manifests in apply order and the list of Secrets
//! apply creates). No secret is written: host keys appear as public keys, the join token as the
//! path K3s reads it from, secrets as the names of Kubernetes Secrets and their lab references.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use labform_cloudinit::{HostKeySource, node_context, render_for_review};
use labform_planner::Plan;
use serde_json::json;

use crate::addons::addon_manifests;
use crate::distribution::Distributions;
use crate::error::RenderError;
use crate::manifest::to_yaml;
use crate::token::TOKEN_FILE;

/// One file of a render, relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Path relative to the output directory (`vms/home-server-0/user-data`).
    pub path: PathBuf,
    /// Contents.
    pub contents: String,
}

/// The marker file that identifies a render directory, so a later render may replace it.
const MARKER: &str = ".labform-render";

fn file(path: impl Into<PathBuf>, contents: impl Into<String>) -> RenderedFile {
    RenderedFile {
        path: path.into(),
        contents: contents.into(),
    }
}

/// Renders the whole lab from its plan: every VM's cloud-init (and the node files of its
/// cluster's distribution, from `distributions`), every cluster's manifests. Sorted by path; the
/// same plan and host keys give the same files. Clusters whose distribution labform does not
/// act on get a note instead.
pub fn render_lab(
    plan: &Plan,
    host_keys: &dyn HostKeySource,
    distributions: &Distributions,
) -> Result<Vec<RenderedFile>, RenderError> {
    let mut files = vec![file(
        "README.txt",
        format!(
            "labform render of lab {lab_name} (scope {scope}).\n\n\
             vms/VM/        cloud-init NoCloud files (user-data, meta-data, network-config), the VM's\n\
             \x20              public SSH host key (host-key.pub) and, for K3s nodes, config.yaml (for\n\
             \x20              kubeadm nodes, kubeadm.yaml; for Talos nodes, talos-machine-config.yaml,\n\
             \x20              each secret a placeholder)\n\
             clusters/NAME/ manifests in apply order (NN-*.yaml) and required-secrets.yaml\n\n\
             Nothing secret is written here. Private host keys go only into the VMs' seed images;\n\
             the K3s join token is made by labform, kept in its encrypted secret store and uploaded\n\
             to {TOKEN_FILE}; a kubeadm cluster's CA, bootstrap token and certificate key likewise\n\
             (kubeadm.yaml names them); secrets of add-ons are Kubernetes Secrets apply creates from the\n\
             lab's references (listed in required-secrets.yaml, by reference only).\n",
            lab_name = plan.lab,
            scope = plan.scope,
        ),
    )];
    for vm in &plan.vms {
        let directory = PathBuf::from("vms").join(&vm.name);
        if vm.cloud_init.is_none() {
            files.push(file(
                directory.join("NOT-RENDERED.txt"),
                format!(
                    "VM {} boots with `{}`: labform renders no cloud-init for it.\n",
                    vm.name, vm.boot
                ),
            ));
            continue;
        }
        let context = node_context(plan, vm)?;
        let review = render_for_review(&context, host_keys)?;
        files.push(file(directory.join("user-data"), review.user_data));
        files.push(file(directory.join("meta-data"), review.meta_data));
        files.push(file(
            directory.join("network-config"),
            review.network_config,
        ));
        files.push(file(
            directory.join("host-key.pub"),
            format!("{} {}\n", review.host_public_key, vm.name),
        ));
    }
    for cluster in &plan.clusters {
        let directory = PathBuf::from("clusters").join(&cluster.name);
        let Some(distribution) = distributions.for_cluster(cluster) else {
            files.push(file(
                directory.join("NOT-AUTOMATED.txt"),
                format!(
                    "Cluster {} uses {} {}: labform does not automate its bootstrap yet.\n\
                     Only the cloud-init of its VMs is rendered (under vms/); no node configuration\n\
                     and no add-on manifests are written for it.\n",
                    cluster.name, cluster.distribution, cluster.version
                ),
            ));
            continue;
        };
        let node_files = distribution.node_files(plan, cluster)?;
        for node_file in node_files.files {
            files.push(file(
                PathBuf::from("vms")
                    .join(&node_file.vm)
                    .join(&node_file.name),
                node_file.contents,
            ));
        }
        let manifests = addon_manifests(plan, cluster)?;
        for (index, manifest) in manifests.files.iter().enumerate() {
            files.push(file(
                directory.join(format!("{index:02}-{}.yaml", manifest.name)),
                manifest.to_yaml(&cluster.name)?,
            ));
        }
        let mut secrets = Vec::new();
        for secret in &node_files.secrets {
            let mut entry = json!({"what": secret.what, "node_path": secret.node_path});
            if let Some(generated_by) = &secret.generated_by {
                entry["generated_by"] = json!(generated_by);
            }
            if let Some(store_key) = &secret.store_key {
                entry["store_key"] = json!(store_key);
            }
            if let Some(from) = &secret.from {
                entry["from"] = json!(from);
            }
            secrets.push(entry);
        }
        for secret in &manifests.secrets {
            let mut entry = json!({
                "what": secret.purpose,
                "namespace": secret.namespace,
                "name": secret.name,
                "key": secret.key,
                "from": secret.from.to_string(),
            });
            if !secret.literals.is_empty() {
                entry["literal_keys"] = json!(
                    secret
                        .literals
                        .iter()
                        .map(|(key, value)| json!({"key": key, "value": value}))
                        .collect::<Vec<_>>()
                );
            }
            if !secret.labels.is_empty() {
                entry["labels"] = secret
                    .labels
                    .iter()
                    .map(|(key, value)| (key.clone(), json!(value)))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
            secrets.push(entry);
        }
        let mut text = String::from(
            "# Secrets of this cluster, by reference only: apply resolves each reference and creates\n\
             # the Kubernetes Secret (or node file) before the manifests that need it. No values here.\n",
        );
        let body = to_yaml(&json!(secrets)).map_err(|message| RenderError::Yaml {
            cluster: cluster.name.clone(),
            document: "required-secrets.yaml".to_owned(),
            message,
        })?;
        let _ = write!(text, "{body}");
        files.push(file(directory.join("required-secrets.yaml"), text));
    }
    files.sort_by(|left, right| left.path.cmp(&right.path));
    Ok(files)
}

/// Writes `files` under `directory`. A directory from an earlier render (it holds the marker file
/// `.labform-render`) is replaced; any other non-empty directory is refused.
pub fn write_rendered(directory: &Path, files: &[RenderedFile]) -> Result<(), RenderError> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| RenderError::Write { path, source }
    };
    if directory.exists() {
        let mut entries = std::fs::read_dir(directory).map_err(write_error(directory))?;
        let non_empty = entries.next().is_some();
        if non_empty {
            if !directory.join(MARKER).exists() {
                return Err(RenderError::Write {
                    path: directory.to_owned(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "the directory is not empty and holds no earlier labform render",
                    ),
                });
            }
            for entry in std::fs::read_dir(directory).map_err(write_error(directory))? {
                let path = entry.map_err(write_error(directory))?.path();
                if path.is_dir() {
                    std::fs::remove_dir_all(&path).map_err(write_error(&path))?;
                } else {
                    std::fs::remove_file(&path).map_err(write_error(&path))?;
                }
            }
        }
    }
    std::fs::create_dir_all(directory).map_err(write_error(directory))?;
    let marker = directory.join(MARKER);
    std::fs::write(&marker, "").map_err(write_error(&marker))?;
    for rendered in files {
        let path = directory.join(&rendered.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_error(parent))?;
        }
        std::fs::write(&path, &rendered.contents).map_err(write_error(&path))?;
    }
    Ok(())
}
