//! The add-ons of a kubeadm cluster, through the Kubernetes API: their Secrets, then each
//! manifest that differs from the copy kept on the first control plane (the Helm controller's
//! first; its CRDs Established before a HelmChart is applied), and the objects of manifests the lab
//! dropped deleted. Air-gapped, without the Helm controller's image, nothing is delivered and
//! labform says why (the controller could never start, and its CRDs never come).

use labform_kubernetes::cluster_api::{ClusterApi, SecretChanges, WantedSecret};
use labform_kubernetes::distribution::ClusterContext;
use labform_kubernetes::{AddonManifests, HELM_CONTROLLER_IMAGE, HELM_CRDS};
use labform_planner::plan::PlannedCluster;
use labform_ssh::{Session, shell_quote};

use super::{ClusterNode, Installation, Work};
use crate::air_gap::{self, NodeImages};
use crate::error::{ClusterError, KubeadmError};
use crate::node::{self, MANIFESTS_DIRECTORY, NodeFacts, PackageSource};

/// What the add-on delivery changed: the Secrets, the manifests written and those removed.
pub(super) type Delivered = (SecretChanges, Vec<String>, Vec<String>);

impl Work<'_> {
    /// Delivers the add-ons `addons` through `api`, keeping the manifests on the first control
    /// plane `first` (whose facts are `facts`); `images` is what an air-gapped first control
    /// plane holds, when it was read already.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn deliver_addons(
        &self,
        api: &ClusterApi,
        first: &ClusterNode,
        session: &Session,
        facts: &NodeFacts,
        installation: &Installation,
        addons: &AddonManifests,
        images: Option<NodeImages>,
    ) -> Result<Delivered, ClusterError> {
        let wanted_secrets = wanted_secrets(self.context, self.cluster, addons)?;
        let secret_changes: SecretChanges = api
            .converge_secrets(&wanted_secrets)
            .await
            .map_err(self.api_error("making the Secrets the add-ons read"))?;
        let mut manifests = manifest_files(self.cluster, addons)?;
        let mut kept_manifests = facts.manifests.as_slice();
        if installation.source == PackageSource::AirGap {
            let images = match images {
                Some(images) => images,
                None => self
                    .air_gap_check(installation, first, session)
                    .await?
                    .0
                    .unwrap_or_default(),
            };
            if !manifests.is_empty() && !images.has(HELM_CONTROLLER_IMAGE) {
                self.report(
                    &self.cluster.name,
                    &format!(
                        "add-ons not delivered: the air-gap directory has no {} (the Helm controller that installs them); import it and apply again",
                        air_gap::normalized(HELM_CONTROLLER_IMAGE)
                    ),
                );
                manifests.clear();
                kept_manifests = &[];
            }
        }
        let mut written = Vec::new();
        for (name, text) in &manifests {
            let path = format!("{MANIFESTS_DIRECTORY}/{name}");
            let digest = node::sha256_hex(text.as_bytes());
            if facts.digests.get(&path) == Some(&digest) {
                continue;
            }
            self.report(&first.name, &format!("apply add-on manifest {name}"));
            if text.contains("kind: HelmChart") {
                // The Helm controller (applied first) creates its CRDs when it starts.
                api.wait_crds_established(
                    &HELM_CRDS,
                    self.context.options.ready_timeout,
                    self.context.options.poll,
                )
                .await
                .map_err(self.api_error("waiting for the Helm controller's CRDs"))?;
            }
            api.apply_manifest(name, text)
                .await
                .map_err(self.api_error(format!("applying {name}")))?;
            session
                .upload_as_root(&path, text.as_bytes(), 0o644)
                .await
                .map_err(self.node_error(&first.name, format!("keeping {name}")))?;
            written.push(name.clone());
        }
        let mut removed = Vec::new();
        for stale in kept_manifests {
            if manifests.iter().any(|(name, _)| name == stale) {
                continue;
            }
            let path = format!("{MANIFESTS_DIRECTORY}/{stale}");
            let text = self
                .run(
                    first,
                    session,
                    &format!("reading {stale}"),
                    &format!("cat {}", shell_quote(&path)),
                )
                .await?;
            self.report(&first.name, &format!("remove add-on {stale}"));
            api.delete_objects(&text)
                .await
                .map_err(self.api_error(format!("removing the objects of {stale}")))?;
            self.run(
                first,
                session,
                &format!("removing {stale}"),
                &format!("rm -f {}", shell_quote(&path)),
            )
            .await?;
            removed.push(stale.clone());
        }
        Ok((secret_changes, written, removed))
    }
}

/// The add-on manifests as files `NN-NAME.yaml` with their text.
pub(super) fn manifest_files(
    cluster: &PlannedCluster,
    addons: &AddonManifests,
) -> Result<Vec<(String, String)>, ClusterError> {
    addons.numbered_files(&cluster.name).map_err(|error| {
        ClusterError::Kubeadm(KubeadmError::Unsupported {
            cluster: cluster.name.clone(),
            detail: error.to_string(),
        })
    })
}

/// The Secrets the add-ons read, with the values of the plan's references.
fn wanted_secrets(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
    addons: &AddonManifests,
) -> Result<Vec<WantedSecret>, ClusterError> {
    addons
        .wanted_secrets(context.resolve_secret)
        .map_err(|detail| {
            ClusterError::Kubeadm(KubeadmError::Unsupported {
                cluster: cluster.name.clone(),
                detail,
            })
        })
}
