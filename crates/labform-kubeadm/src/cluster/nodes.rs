//! Each node of a kubeadm cluster as labform reaches it: its SSH target and the files it
//! should have (the preparation script, `kubeadm.yaml`, the CA on the first control plane,
//! kube-vip's static pod, the etcd snapshot timer, the air-gap files), connecting while it boots,
//! reading what it has, uploading what differs, preparing it, and what an air-gapped node holds.

use std::time::Duration;

use labform_cloudinit::{HostKeySource as _, StoredHostKeys};
use labform_planner::plan::{NodeRole, PlannedClusterNode};
use labform_secrets::SecretString;
use labform_ssh::{HostPublicKey, NodeName, Session, Target, shell_quote};

use super::{ClusterNode, Installation, Work};
use crate::air_gap::{self, NodeImages};
use crate::config::{CONFIG_PATH, JoinSecrets, node_configs};
use crate::error::ClusterError;
use crate::etcd_snapshots;
use crate::kube_vip::kube_vip_manifest;
use crate::node::{
    self, AIR_GAP_BINARIES, AIR_GAP_IMAGES, AIR_GAP_PACKAGES, CA_CERTIFICATE, CA_KEY,
    KUBE_VIP_MANIFEST, KUBELET_DROP_IN, KUBELET_UNIT, NodeFacts, NodeFile, PREPARE_SCRIPT,
    PackageSource, PrepareStage,
};

impl Work<'_> {
    /// Every node with its target and files, control planes first.
    pub(super) fn nodes(
        &self,
        installation: &Installation,
    ) -> Result<Vec<ClusterNode>, ClusterError> {
        let context = self.context;
        let configs = node_configs(
            self.cluster,
            &JoinSecrets::Values(&self.secrets),
            &installation.options,
        )?;
        let prepare = node::prepare_script(
            self.version,
            installation.source,
            installation.options.image_repository.as_deref(),
        );
        let host_keys = StoredHostKeys::new(context.store, context.plan.scope.clone());
        let mut nodes = Vec::new();
        for (config, planned) in configs.into_iter().zip(&self.cluster.nodes) {
            let user = planned.login_user.clone().ok_or_else(|| {
                self.failed(format!("`{}` is not configured by cloud-init", planned.vm))
            })?;
            let host_key = host_keys
                .host_key(&planned.vm)
                .map_err(|error| self.failed(format!("the host key of {}: {error}", planned.vm)))?;
            let host_key = HostPublicKey::from_openssh(host_key.public_openssh())
                .map_err(self.node_error(&planned.vm, "reading its host key"))?;
            let mut files = vec![
                NodeFile::public(PREPARE_SCRIPT, prepare.clone().into_bytes(), 0o755),
                NodeFile::secret(CONFIG_PATH, SecretString::from(config.text)),
            ];
            files.extend(self.role_files(planned)?);
            if let Some(air_gap) = &installation.air_gap {
                for binary in &air_gap.binaries {
                    files.push(NodeFile::verified(
                        format!("{AIR_GAP_BINARIES}/{}", binary.name),
                        binary,
                        0o755,
                    ));
                }
                files.push(NodeFile::public(
                    KUBELET_UNIT,
                    node::kubelet_unit().into_bytes(),
                    0o644,
                ));
                files.push(NodeFile::public(
                    KUBELET_DROP_IN,
                    node::kubelet_drop_in().into_bytes(),
                    0o644,
                ));
                for image in &air_gap.images {
                    if image.control_plane_only() && !planned.role.is_server() {
                        continue;
                    }
                    files.push(NodeFile::verified(
                        format!("{AIR_GAP_IMAGES}/{}", image.name),
                        image,
                        0o644,
                    ));
                }
                for package in &air_gap.packages {
                    files.push(NodeFile::verified(
                        format!("{AIR_GAP_PACKAGES}/{}", package.name),
                        package,
                        0o644,
                    ));
                }
            }
            nodes.push(ClusterNode {
                name: planned.vm.clone(),
                role: planned.role,
                target: Target {
                    node: NodeName::new(planned.vm.clone()),
                    host: planned.address.to_string(),
                    port: 22,
                    user,
                    host_keys: vec![host_key],
                },
                files,
            });
        }
        Ok(nodes)
    }

    /// The files only some nodes have: the CA on the first control plane, kube-vip's static
    /// pod on the control planes of a cluster with an API VIP, the etcd snapshot timer, its
    /// service and script on the control planes of a cluster with a snapshot schedule.
    pub(super) fn role_files(
        &self,
        planned: &PlannedClusterNode,
    ) -> Result<Vec<NodeFile>, ClusterError> {
        let mut files = Vec::new();
        if planned.role == NodeRole::FirstServer {
            files.push(NodeFile::public(
                CA_CERTIFICATE,
                self.secrets.ca_certificate.clone().into_bytes(),
                0o644,
            ));
            files.push(NodeFile::secret(CA_KEY, self.secrets.ca_key.clone()));
        }
        if self.cluster.api_vip && planned.role.is_server() {
            files.push(NodeFile::public(
                KUBE_VIP_MANIFEST,
                kube_vip_manifest(self.cluster, self.version, planned.role)?.into_bytes(),
                0o600,
            ));
        }
        for (path, contents, mode) in etcd_snapshots::files(self.cluster, planned) {
            files.push(NodeFile::public(path, contents.into_bytes(), mode));
        }
        Ok(files)
    }

    /// Connects to `node`, retrying while it boots, then waits for cloud-init.
    pub(super) async fn connect(&self, node: &ClusterNode) -> Result<Session, ClusterError> {
        let mut session = self
            .context
            .ssh
            .connect_while_booting(&node.target, self.context.options.ssh_ready_timeout)
            .await
            .map_err(self.node_error(&node.name, "connecting"))?;
        // kubeadm init and join, and package installs, take minutes.
        session.set_command_timeout(
            self.context
                .options
                .ready_timeout
                .max(Duration::from_secs(900)),
        );
        session
            .wait_for_cloud_init()
            .await
            .map_err(self.node_error(&node.name, "waiting for cloud-init"))?;
        Ok(session)
    }

    pub(super) async fn facts(
        &self,
        node: &ClusterNode,
        session: &Session,
    ) -> Result<NodeFacts, ClusterError> {
        node::read_facts(session, &node.files)
            .await
            .map_err(self.node_error(&node.name, "reading labform's files"))
    }

    /// Uploads the files of `node` that differ; returns how many. Before a join, kube-vip's
    /// static pod waits: `kubeadm join` refuses a node whose `/etc/kubernetes/manifests` is
    /// not empty.
    pub(super) async fn upload_files(
        &self,
        node: &ClusterNode,
        session: &Session,
        facts: &NodeFacts,
    ) -> Result<usize, ClusterError> {
        let joining = node.role != NodeRole::FirstServer && !facts.joined;
        let differing: Vec<&NodeFile> = node::differing(&node.files, facts)
            .into_iter()
            .filter(|file| !(joining && file.path == KUBE_VIP_MANIFEST))
            .collect();
        if !differing.is_empty() {
            node::upload(session, &differing)
                .await
                .map_err(self.node_error(&node.name, "uploading labform's files"))?;
        }
        Ok(differing.len())
    }

    pub(super) async fn prepare(
        &self,
        node: &ClusterNode,
        session: &Session,
        stage: PrepareStage,
    ) -> Result<(), ClusterError> {
        self.report(
            &node.name,
            &format!(
                "prepare for kubeadm {} ({})",
                self.version,
                stage.argument()
            ),
        );
        self.run(
            node,
            session,
            "preparing the node",
            &format!("sh {PREPARE_SCRIPT} {}", stage.argument()),
        )
        .await
        .map(|_| ())
    }

    /// On an air-gapped node (after its preparation): what containerd holds, with the images
    /// kubeadm names that it lacks reported on control planes, and the flag that skips
    /// kubeadm's preflight phase when `crictl` is not there (kubeadm's checks cannot run
    /// without it), reported too. Nothing and no flag with packages from the repository.
    pub(super) async fn air_gap_check(
        &self,
        installation: &Installation,
        node: &ClusterNode,
        session: &Session,
    ) -> Result<(Option<NodeImages>, &'static str), ClusterError> {
        if installation.source != PackageSource::AirGap {
            return Ok((None, ""));
        }
        let mut arguments = format!(
            "--kubernetes-version {}",
            shell_quote(&self.version.to_string())
        );
        if let Some(repository) = &installation.options.image_repository {
            arguments.push_str(&format!(" --image-repository {}", shell_quote(repository)));
        }
        let images = air_gap::read_images(session, &arguments)
            .await
            .map_err(self.node_error(&node.name, "reading the images containerd holds"))?;
        if node.role.is_server() {
            let missing = images.missing();
            if !missing.is_empty() {
                self.report(
                    &node.name,
                    &format!(
                        "not in the air-gap directory: {} (what runs them will not start until they are imported)",
                        missing.join(", ")
                    ),
                );
            }
        }
        let flag = if images.crictl {
            ""
        } else {
            self.report(
                &node.name,
                "kubeadm's preflight phase skipped: crictl (cri-tools) is not on the node and kubeadm runs its checks through it",
            );
            " --skip-phases=preflight"
        };
        Ok((Some(images), flag))
    }
}
