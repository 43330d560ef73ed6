//! The `addons` key of a cluster. Each add-on checks its own options in `labform-addons`
//! (dependencies between add-ons, a load-balancer provider, its own fields); this module gives
//! those checks what they read from the lab, resolves the pools add-ons name like every other
//! pool reference, and anchors each problem at its field in the lab file.

use labform_addons::{CheckContext, PathStep, PoolFacts, Problem};

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn addons(&mut self, cluster: &Cluster, network: Option<&Network>) {
        let at = cluster.source.at("addons");
        let addons = &cluster.addons;
        if let Some(network) = network {
            for (kind, addon) in addons.installed() {
                if let Some(pool) = addon.load_balancer_pool() {
                    self.pool_reference(
                        &at.at(kind.key()).at("pool"),
                        network,
                        pool,
                        PoolPurpose::LoadBalancers,
                    );
                }
            }
        }
        let pools: Option<Vec<PoolFacts>> = network.map(|network| {
            network
                .pools
                .iter()
                .map(|pool| PoolFacts {
                    name: pool.name.clone(),
                    first: pool.range.first,
                    last: pool.range.last,
                })
                .collect()
        });
        // K3s brings a load-balancer provider (servicelb) and an ingress (Traefik) of its own.
        let k3s = cluster.distribution == Distribution::K3s;
        let context = CheckContext {
            distribution: cluster.distribution.as_str(),
            packaged_load_balancer: k3s,
            packaged_ingress: k3s,
            nodes: cluster.servers.count
                + cluster.agents.iter().map(|group| group.count).sum::<u32>(),
            pools: pools.as_deref(),
            addons,
        };
        for problem in addons.check(&context) {
            self.push(located(&at, problem));
        }
    }
}

/// An add-on's problem as a diagnostic at its field below `addons`.
fn located(addons: &Source, problem: Problem) -> Diagnostic {
    let mut at = addons.clone();
    for step in &problem.path.0 {
        at = match step {
            PathStep::Key(key) => at.at(key),
            PathStep::Index(index) => at.index(*index),
        };
    }
    let diagnostic = Diagnostic::error(problem.code, &at, problem.message);
    match problem.hint {
        Some(hint) => diagnostic.hint(hint),
        None => diagnostic,
    }
}
