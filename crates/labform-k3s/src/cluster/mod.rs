//! One K3s cluster brought to its planned state over SSH and the Kubernetes API, in the order
//! K3s needs: the first server (which initialises embedded etcd or the external datastore), then
//! the joining servers one at a time, then the agents; then every node Ready, then the add-ons.
//!
//! A node already running K3s whose binary differs from the planned release is upgraded one
//! node at a time, servers before agents, so etcd keeps its quorum: cordon, drain, new files,
//! restart, Ready again, uncordon. Other changed files (configuration, unit) restart the node's
//! service in place. Nothing is uploaded or restarted on a node that already matches.
//!
//! The work is cut along its seams: `work` reaches the nodes (SSH with the planned host keys,
//! the API, readiness, one node's convergence with cordon and drain), `addons` the add-ons'
//! Secrets and manifests, and `reset` and `drift` take K3s off the nodes or compare them.

mod addons;
mod drift;
mod reset;
mod work;

pub use drift::drift;
pub use labform_kubernetes::distribution::{
    ClusterContext, ClusterOptions, ClusterOutcome, ClusterProgress, NodeDrift,
    kubeconfig_store_key, login_client, tenant_kubeconfig_store_key,
};
pub use reset::reset;

use labform_kubernetes::{AddonManifests, NodeRole};
use labform_planner::plan::PlannedCluster;
use labform_ssh::Session;

use crate::artifacts::K3sArtifacts;
use crate::delivery;
use crate::error::ClusterError;
use crate::kubeconfig::ClusterKubeconfig;
use crate::units::SERVER_KUBECONFIG;

use self::addons::Delivered;
use self::work::{ClusterNode, Work};

/// Brings `cluster` to its planned state with the verified release `artifacts` and the
/// cluster's add-on manifests `addons`.
pub async fn converge(
    context: &ClusterContext<'_>,
    cluster: &PlannedCluster,
    addons: &AddonManifests,
    artifacts: &K3sArtifacts,
) -> Result<ClusterOutcome, ClusterError> {
    let work = Work {
        context,
        cluster,
        addons,
    };
    if !cluster.bootstrap_supported {
        return Err(work.unsupported(format!(
            "{} clusters are not bootstrapped by labform yet (only K3s is); their VMs exist, nothing was installed on them",
            cluster.distribution
        )));
    }
    let nodes = work.nodes(artifacts)?;
    let (servers, agents): (Vec<&ClusterNode>, Vec<&ClusterNode>) =
        nodes.iter().partition(|node| node.role != NodeRole::Agent);
    let first = servers
        .first()
        .copied()
        .ok_or_else(|| work.unsupported("the cluster has no server"))?;

    work.report(&cluster.name, "connecting to the nodes");
    let connected = futures::future::join_all(nodes.iter().map(|node| work.connect(node))).await;
    let mut sessions = Vec::new();
    for (node, session) in nodes.iter().zip(connected) {
        sessions.push((node.name.clone(), session?));
    }
    let session_of = |name: &str| -> &Session {
        &sessions
            .iter()
            .find(|(node, _)| node == name)
            .expect("every node connected")
            .1
    };

    let mut outcome_changed = Vec::new();
    let mut upgraded = Vec::new();
    // The first server: the cluster exists once it runs.
    let first_facts = work.facts(first, session_of(&first.name)).await?;
    let fresh = !first_facts.running();
    let mut api = None;
    if !fresh {
        api = Some(work.api(session_of(&first.name), first).await?);
    }
    let (changed, was_upgraded) = work
        .converge_node(
            first,
            session_of(&first.name),
            api.as_ref().map(|(api, _)| api),
            Some(first_facts),
        )
        .await?;
    if changed {
        outcome_changed.push(first.name.clone());
    }
    if was_upgraded {
        upgraded.push(first.name.clone());
    }
    if api.is_none() {
        api = Some(work.api(session_of(&first.name), first).await?);
    }
    let (api, k3s_yaml) = api.expect("connected above");
    work.wait_ready(&api, &[first], &sessions).await?;

    // The add-ons' Secrets and manifests reach the first server as soon as it runs: kube-vip,
    // among them, brings up the API VIP the other nodes join through.
    let (wanted, wanted_secrets) = work.addons()?;
    let secret_changes = api
        .converge_secrets(&wanted_secrets)
        .await
        .map_err(work.api_error("making the Secrets the add-ons read"))?;
    if secret_changes.changed() {
        work.report(
            &cluster.name,
            &format!(
                "Secrets: {} created, {} updated, {} deleted",
                secret_changes.created.len(),
                secret_changes.updated.len(),
                secret_changes.deleted.len()
            ),
        );
    }
    let mut delivered = Delivered::default();
    work.deliver(&[first], &sessions, &wanted, &mut delivered)
        .await?;

    // Joining servers one at a time: etcd grows (and, when upgrading, keeps) its quorum.
    for server in servers.iter().skip(1) {
        let (changed, was_upgraded) = work
            .converge_node(server, session_of(&server.name), Some(&api), None)
            .await?;
        if changed {
            outcome_changed.push(server.name.clone());
            work.wait_ready(&api, &[server], &sessions).await?;
        }
        if was_upgraded {
            upgraded.push(server.name.clone());
        }
    }
    // Agents one at a time, so an upgrade never drains two at once.
    for agent in &agents {
        let (changed, was_upgraded) = work
            .converge_node(agent, session_of(&agent.name), Some(&api), None)
            .await?;
        if changed {
            outcome_changed.push(agent.name.clone());
        }
        if was_upgraded {
            upgraded.push(agent.name.clone());
        }
    }
    work.report(&cluster.name, "waiting for every node to be Ready");
    let all: Vec<&ClusterNode> = nodes.iter().collect();
    work.wait_ready(&api, &all, &sessions).await?;
    // Labels a node may not give itself at registration, set once it has joined.
    for line in api
        .set_api_labels(cluster)
        .await
        .map_err(work.api_error("labelling the nodes (api_labels)"))?
    {
        work.report(&cluster.name, &line);
    }
    work.deliver(&servers[1..], &sessions, &wanted, &mut delivered)
        .await?;
    let Delivered {
        written,
        stale: stale_contents,
    } = delivered;
    let mut removed = Vec::new();
    for (name, text) in &stale_contents {
        work.report(&cluster.name, &format!("remove add-on {name}"));
        let objects = delivery::objects_to_delete(std::slice::from_ref(text), &wanted);
        api.remove_addon(name, &objects)
            .await
            .map_err(work.api_error(format!("removing the objects of {name}")))?;
        removed.push(name.clone());
    }

    // The kubeconfig, pointed at the API address (the VIP when there is one).
    let api_address = cluster.api_address;
    let kubeconfig = ClusterKubeconfig::from_admin_kubeconfig(
        &format!("{}:{SERVER_KUBECONFIG}", first.name),
        &k3s_yaml,
        &cluster.kubeconfig_context,
        &format!("https://{api_address}:6443"),
        None,
    )
    .map_err(work.api_error("reading the first server's kubeconfig"))?;
    let key = kubeconfig_store_key(&context.plan.scope, &cluster.name)
        .map_err(|detail| work.unsupported(detail))?;
    context
        .store
        .put(&key, &kubeconfig.to_text())
        .map_err(|error| work.store_error(error))?;

    // Tenants' own contexts on this cluster, from their ServiceAccounts' tokens.
    let mut tenant_kubeconfigs = Vec::new();
    for access in &cluster.tenant_access {
        let token = work.tenant_token(&api, access).await?;
        let tenant_config = kubeconfig.with_token_user(
            &format!("{}-{}", cluster.kubeconfig_context, access.tenant),
            &token,
            &access.namespace,
        );
        let key = tenant_kubeconfig_store_key(&context.plan.scope, &cluster.name, &access.tenant)
            .map_err(|detail| work.unsupported(detail))?;
        context
            .store
            .put(&key, &tenant_config.to_text())
            .map_err(|error| work.store_error(error))?;
        tenant_kubeconfigs.push((access.tenant.clone(), tenant_config));
    }
    for (_, session) in sessions {
        let _ = session.close().await;
    }
    Ok(ClusterOutcome {
        cluster: cluster.name.clone(),
        changed_nodes: outcome_changed,
        upgraded_nodes: upgraded,
        manifests_written: written,
        manifests_removed: removed,
        secrets: secret_changes,
        kubeconfig,
        tenant_kubeconfigs,
    })
}
