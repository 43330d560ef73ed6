//! The add-ons' side of converging a cluster: the Secrets they read, with the values of the
//! plan's references, and their manifests kept in the servers' auto-deploy directory.

use labform_kubernetes::AddonManifests;
use labform_kubernetes::cluster_api::WantedSecret;
use labform_ssh::Session;

use crate::delivery::{self, Manifest};
use crate::error::ClusterError;

use super::work::{ClusterNode, Work};

/// What the add-on delivery did across servers.
#[derive(Default)]
pub(super) struct Delivered {
    /// Files written, by name.
    pub(super) written: Vec<String>,
    /// labform files the lab no longer has, with their contents.
    pub(super) stale: Vec<(String, String)>,
}

impl Work<'_> {
    /// The add-on manifests in apply order and the Secrets they read, with the values of the
    /// plan's references.
    pub(super) fn addons(&self) -> Result<(Vec<Manifest>, Vec<WantedSecret>), ClusterError> {
        let context = self.context;
        let (wanted, manifests) = self.manifests()?;
        let secrets = manifests
            .wanted_secrets(context.resolve_secret)
            .map_err(|detail| self.unsupported(detail))?;
        Ok((wanted, secrets))
    }

    /// The add-on manifest files in apply order, and what they were rendered from.
    pub(super) fn manifests(&self) -> Result<(Vec<Manifest>, &AddonManifests), ClusterError> {
        let mut wanted = Vec::new();
        for (index, file) in self.addons.files.iter().enumerate() {
            let text = file
                .to_yaml(&self.cluster.name)
                .map_err(|error| self.unsupported(error.to_string()))?;
            wanted.push(Manifest::new(index, &file.name, text));
        }
        Ok((wanted, self.addons))
    }

    /// Brings the add-on manifests of `servers` to `wanted`; records what was written and the
    /// contents of labform files the lab no longer has (their objects are deleted later).
    pub(super) async fn deliver(
        &self,
        servers: &[&ClusterNode],
        sessions: &[(String, Session)],
        wanted: &[Manifest],
        delivered: &mut Delivered,
    ) -> Result<(), ClusterError> {
        for server in servers {
            let session = &sessions
                .iter()
                .find(|(name, _)| name == &server.name)
                .expect("every node connected")
                .1;
            let present = delivery::present(session).await.map_err(
                self.node_error(format!("listing the add-on manifests on {}", server.name)),
            )?;
            let changes = delivery::changes(wanted, &present);
            for name in &changes.remove {
                if !delivered.stale.iter().any(|(stale, _)| stale == name) {
                    let text = delivery::read(session, name)
                        .await
                        .map_err(self.node_error(format!("reading {name} on {}", server.name)))?;
                    delivered.stale.push((name.clone(), text));
                }
            }
            if !changes.write.is_empty() {
                self.report(
                    &server.name,
                    &format!("write {} add-on manifest(s)", changes.write.len()),
                );
            }
            delivery::write(session, wanted, &changes)
                .await
                .map_err(self.node_error(format!("writing add-on manifests on {}", server.name)))?;
            delivery::remove(session, &changes.remove).await.map_err(
                self.node_error(format!("removing add-on manifests on {}", server.name)),
            )?;
            for name in changes.write {
                if !delivered.written.contains(&name) {
                    delivered.written.push(name);
                }
            }
        }
        Ok(())
    }
}
