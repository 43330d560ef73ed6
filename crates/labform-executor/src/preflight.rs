//! Preflight's reads: what each endpoint has, gathered before `apply` writes anything.
//!
//! Per endpoint: `GET /version`, `GET /nodes`, `GET /access/permissions`, and for every
//! online node `GET /nodes/{node}/storage` and `GET /nodes/{node}/network?type=any_bridge`,
//! the nodes read concurrently. Each call is made once: a failure here is reported, not
//! retried (discovery, just before, already proved the endpoint answers). The comparison with
//! the plan is the planner's pure [`labform_planner::preflight::check`].

use std::collections::BTreeSet;

use futures::future::try_join_all;
use labform_ids::{EndpointName, NodeName, StorageName};
use labform_model::Diagnostic;
use labform_model::lab::LabFile;
use labform_planner::Plan;
use labform_planner::preflight::{
    BridgeFacts, EndpointFacts, NodeFacts, StorageFacts, TargetFacts, check,
};
use labform_planner::reconcile::Reconciliation;

use crate::engine::Endpoint;

/// An endpoint whose facts could not be read.
#[derive(Debug, thiserror::Error)]
#[error("preflight: cannot {what} on `{endpoint}`")]
pub struct PreflightError {
    /// The endpoint.
    pub endpoint: String,
    /// The read that failed.
    pub what: String,
    /// Why.
    #[source]
    pub source: labform_proxmox::Error,
}

/// Reads what one endpoint has (messages name it by its `address`).
pub async fn gather(endpoint: &Endpoint) -> Result<EndpointFacts, PreflightError> {
    let api = endpoint.api.as_ref();
    let failed = |what: &str| {
        let endpoint = endpoint.name.clone();
        let what = what.to_owned();
        move |source| PreflightError {
            endpoint,
            what,
            source,
        }
    };
    let version = api
        .version()
        .await
        .map_err(failed("read the Proxmox VE version"))?;
    let nodes = api.nodes().await.map_err(failed("list the nodes"))?;
    let permissions = api
        .access_permissions()
        .await
        .map_err(failed("read the credentials' privileges"))?;
    let node_facts = try_join_all(nodes.iter().map(|entry| {
        let failed = &failed;
        async move {
            let name = NodeName::new(entry.node.clone());
            let online = entry.status == "online";
            let (storages, bridges) = if online {
                let storages = api.node_storages(&name).await.map_err(failed(&format!(
                    "list the storages of node `{}`",
                    entry.node
                )))?;
                let bridges = api.node_bridges(&name).await.map_err(failed(&format!(
                    "list the bridges of node `{}`",
                    entry.node
                )))?;
                (storages, bridges)
            } else {
                (Vec::new(), Vec::new())
            };
            Ok::<_, PreflightError>(NodeFacts {
                name,
                online,
                cpus: entry.maxcpu,
                memory: entry.maxmem,
                storages: storages
                    .into_iter()
                    .map(|storage| StorageFacts {
                        name: StorageName::new(storage.storage),
                        content: storage
                            .content
                            .split(',')
                            .map(str::trim)
                            .filter(|content| !content.is_empty())
                            .map(str::to_owned)
                            .collect::<BTreeSet<_>>(),
                        shared: storage.shared.unwrap_or(false),
                        active: storage.active.unwrap_or(true) && storage.enabled.unwrap_or(true),
                        available: storage.avail,
                    })
                    .collect(),
                bridges: bridges
                    .into_iter()
                    .map(|bridge| BridgeFacts {
                        name: bridge.iface,
                        vlan_aware: bridge.bridge_vlan_aware.unwrap_or(false),
                    })
                    .collect(),
            })
        }
    }))
    .await?;
    Ok(EndpointFacts {
        endpoint: EndpointName::new(endpoint.name.clone()),
        url: endpoint.address.clone(),
        version: version.version,
        nodes: node_facts,
        permissions: permissions.0,
    })
}

/// Reads every endpoint of `lab` (concurrently) and checks `plan`, about to be carried out as
/// `reconciliation`, against them: every problem at once, located in the lab file.
pub async fn preflight(
    lab: &LabFile,
    plan: &Plan,
    reconciliation: &Reconciliation,
    endpoints: &[Endpoint],
) -> Result<Vec<Diagnostic>, PreflightError> {
    let facts = try_join_all(endpoints.iter().map(gather)).await?;
    Ok(check(
        lab,
        plan,
        reconciliation,
        &TargetFacts { endpoints: facts },
    ))
}
