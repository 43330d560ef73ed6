//! The `environments` section: overlays of clusters and networks per environment.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn environments(&mut self) {
        let cluster_names: Vec<&str> = self.lab.clusters.iter().map(|c| c.name.as_str()).collect();
        for environment in &self.lab.environments {
            let at = &environment.source;
            self.dns_name(&at.at("name"), "environment", &environment.name);
            if let Some(network) = &environment.network {
                self.reference(&at.at("network"), "network", network, self.network_names());
            }
            let mut seen: Vec<&str> = Vec::new();
            for (index, overlay) in environment.clusters.iter().enumerate() {
                let overlay_at = at.at("clusters").index(index);
                if !self.reference(
                    &overlay_at.at("cluster"),
                    "cluster",
                    &overlay.cluster,
                    cluster_names.iter().copied(),
                ) {
                    continue;
                }
                if seen.contains(&overlay.cluster.as_str()) {
                    self.push(
                        Diagnostic::error(
                            "duplicate-name",
                            &overlay_at.at("cluster"),
                            format!(
                                "environment `{}` changes cluster `{}` twice",
                                environment.name, overlay.cluster
                            ),
                        )
                        .hint("merge the two overlays"),
                    );
                }
                seen.push(&overlay.cluster);
                let cluster = self
                    .lab
                    .clusters
                    .iter()
                    .find(|c| c.name == overlay.cluster)
                    .expect("found above");
                if !cluster.environments.is_empty()
                    && !cluster.environments.contains(&environment.name)
                {
                    self.push(
                        Diagnostic::error(
                            "overlay-unused",
                            &overlay_at.at("cluster"),
                            format!(
                                "cluster `{}` does not exist in environment `{}`",
                                cluster.name, environment.name
                            ),
                        )
                        .hint(format!(
                            "add `{}` to the cluster's `environments`, or remove this overlay",
                            environment.name
                        )),
                    );
                }
                if let Some(network) = &overlay.network {
                    self.reference(
                        &overlay_at.at("network"),
                        "network",
                        network,
                        self.network_names(),
                    );
                }
                if let Some(servers) = &overlay.servers {
                    if servers.name.is_some() {
                        self.push(
                            Diagnostic::error(
                                "ignored-field",
                                &overlay_at.at("servers.name"),
                                "the server group has no name to change",
                            )
                            .hint("remove `name` from this overlay's `servers`"),
                        );
                    }
                    if servers.count == Some(0) {
                        self.push(
                            Diagnostic::error(
                                "no-servers",
                                &overlay_at.at("servers.count"),
                                "a cluster needs at least one server",
                            )
                            .hint("set the count to 1 or more"),
                        );
                    }
                    let count = servers.count.unwrap_or(cluster.servers.count);
                    if cluster.datastore == Datastore::EmbeddedEtcd
                        && count > 1
                        && count.is_multiple_of(2)
                    {
                        self.push(
                            Diagnostic::error("etcd-quorum", &overlay_at.at("servers.count"), format!("{count} servers with embedded etcd in `{}`: an even number adds no fault tolerance", environment.name))
                                .hint(format!("use {} or {} servers", count - 1, count + 1)),
                        );
                    }
                    if count > 1 && cluster.api_vip.is_none() && overlay.api_vip.is_none() {
                        self.push(
                            Diagnostic::error(
                                "missing-api-vip",
                                &overlay_at.at("servers.count"),
                                format!("{count} servers in `{}` but no API VIP", environment.name),
                            )
                            .hint("give the cluster (or this overlay) an `api_vip`"),
                        );
                    }
                    if let Some(memory) = servers.memory {
                        self.sizes(&overlay_at.at("servers"), servers.cpu.unwrap_or(1), memory);
                    }
                }
                let group_names: Vec<&str> = cluster
                    .agents
                    .iter()
                    .map(|g| g.name.as_deref().unwrap_or("agent"))
                    .collect();
                for (agent_index, agents) in overlay.agents.iter().enumerate() {
                    let agent_at = overlay_at.at("agents").index(agent_index);
                    let name = agents.name.as_deref().unwrap_or("agent");
                    self.reference(
                        &agent_at.at("name"),
                        "agent group",
                        name,
                        group_names.iter().copied(),
                    );
                }
            }
        }
    }
}
