//! The `tenants` section: names, pools, the clusters each owns (one owner per cluster) and the
//! central services each uses (which the providing cluster must run).

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn tenants(&mut self) {
        let cluster_names: Vec<&str> = self.lab.clusters.iter().map(|c| c.name.as_str()).collect();
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for tenant in &self.lab.tenants {
            let at = &tenant.source;
            self.dns_name(&at.at("name"), "tenant", &tenant.name);
            if let Some(pool) = &tenant.pool {
                self.dns_name(&at.at("pool"), "Proxmox pool", pool);
            }
            for (index, cluster) in tenant.clusters.iter().enumerate() {
                let cluster_at = at.at("clusters").index(index);
                if !self.reference(
                    &cluster_at,
                    "cluster",
                    cluster,
                    cluster_names.iter().copied(),
                ) {
                    continue;
                }
                if let Some(previous) = owner.insert(cluster, &tenant.name) {
                    self.push(
                        Diagnostic::error(
                            "tenant-conflict",
                            &cluster_at,
                            format!("cluster `{cluster}` belongs to tenant `{previous}` already"),
                        )
                        .hint("a cluster has one owner; give each tenant its own cluster"),
                    );
                }
            }
            for (index, access) in tenant.uses.iter().enumerate() {
                let access_at = at.at("uses").index(index);
                if !self.reference(
                    &access_at.at("cluster"),
                    "cluster",
                    &access.cluster,
                    cluster_names.iter().copied(),
                ) {
                    continue;
                }
                let provider = self
                    .lab
                    .clusters
                    .iter()
                    .find(|c| c.name == access.cluster)
                    .expect("found above");
                for (service_index, service) in access.services.iter().enumerate() {
                    let provided = provider.addons.has((*service).into());
                    if !provided {
                        self.push(
                            Diagnostic::error(
                                "service-not-provided",
                                &access_at.at("services").index(service_index),
                                format!(
                                    "cluster `{}` does not run {}",
                                    access.cluster,
                                    service.as_str()
                                ),
                            )
                            .hint(format!(
                                "add `{}` to the add-ons of cluster `{}`",
                                service.as_str(),
                                access.cluster
                            )),
                        );
                    }
                }
            }
        }
    }
}
