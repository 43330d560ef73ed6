//! A cluster's manifests in apply order: kube-vip (HA API VIP), the namespaces add-ons and their
//! Secrets live in, tenants' access, the CNI when it replaces flannel, then each add-on's parts
//! as `labform-addons` renders them, in the registry's order.
//!
//! The add-ons themselves (their values, objects and the Secrets they read) live one module per
//! add-on in `labform-addons`; this module gives them the cluster's facts and writes what they
//! return as Helm controller objects: a chart becomes a `HelmChart` in `kube-system`, values of a
//! chart the distribution ships a `HelmChartConfig`. Secrets are references only: each one an
//! add-on needs is a [`RequiredSecret`] that apply creates before the chart is installed.

use labform_addons::{Addons, Chart, ChartValues, ClusterFacts, ManifestPart, Objects, TenantUse};
use labform_planner::Plan;
use labform_planner::plan::SecretRef;
use labform_planner::plan::{Cni, Distribution, PlannedCluster};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::cluster_api::WantedSecret;

use crate::error::RenderError;
use crate::kube_vip::kube_vip_documents;
use crate::manifest::{ManifestFile, to_yaml};
use crate::tenant_access::{TenantAccess, access_documents};

pub use labform_addons::RequiredSecret;

/// A cluster's manifests and the Secrets they reference.
#[derive(Debug, Clone, PartialEq)]
pub struct AddonManifests {
    /// Files in apply order.
    pub files: Vec<ManifestFile>,
    /// Secrets apply creates first.
    pub secrets: Vec<RequiredSecret>,
}

impl AddonManifests {
    /// The manifests as the files distributions without K3s's auto-deploy directory apply
    /// (`NN-NAME.yaml`, `NN` the apply order), with their text.
    ///
    /// # Errors
    ///
    /// [`RenderError`] when a manifest cannot be written as YAML.
    pub fn numbered_files(&self, cluster: &str) -> Result<Vec<(String, String)>, RenderError> {
        self.files
            .iter()
            .enumerate()
            .map(|(index, file)| {
                Ok((
                    format!("{index:02}-{}.yaml", file.name),
                    file.to_yaml(cluster)?,
                ))
            })
            .collect()
    }

    /// The Secrets the add-ons read, one per namespace and name, with the values of the plan's
    /// references as `resolve` gives them.
    ///
    /// # Errors
    ///
    /// What cannot be read, naming the reference and the Secret (never a value).
    pub fn wanted_secrets(
        &self,
        resolve: &(dyn Fn(&SecretRef) -> Result<SecretString, String> + Sync),
    ) -> Result<Vec<WantedSecret>, String> {
        let mut secrets: Vec<WantedSecret> = Vec::new();
        for required in &self.secrets {
            let value = resolve(&required.from).map_err(|reason| {
                format!(
                    "cannot read `{}` for Secret {}/{} ({}): {reason}",
                    required.from, required.namespace, required.name, required.purpose
                )
            })?;
            let index = match secrets.iter().position(|secret| {
                secret.namespace == required.namespace && secret.name == required.name
            }) {
                Some(index) => index,
                None => {
                    secrets.push(WantedSecret {
                        namespace: required.namespace.clone(),
                        name: required.name.clone(),
                        data: Default::default(),
                        labels: Default::default(),
                    });
                    secrets.len() - 1
                }
            };
            let secret = &mut secrets[index];
            secret.data.insert(required.key.clone(), value);
            for (key, literal) in &required.literals {
                secret
                    .data
                    .insert(key.clone(), SecretString::from(literal.clone()));
            }
            secret.labels.extend(required.labels.iter().cloned());
        }
        Ok(secrets)
    }
}

/// Chart versions of the CNIs labform installs in place of flannel.
mod versions {
    pub const CALICO: &str = "v3.29.1";
    pub const CILIUM: &str = "1.16.5";
}

/// The `HelmChart` installing `chart`.
fn chart_document(cluster: &str, chart: &Chart) -> Result<Value, RenderError> {
    let values = to_yaml(&chart.values).map_err(|message| RenderError::Yaml {
        cluster: cluster.to_owned(),
        document: format!("values of {}", chart.name),
        message,
    })?;
    let mut spec = json!({
        "chart": chart.chart,
        "version": chart.version,
        "targetNamespace": chart.namespace,
        "createNamespace": true,
        "valuesContent": values,
    });
    if let Some(repo) = &chart.repo {
        spec["repo"] = json!(repo);
    }
    if chart.bootstrap {
        spec["bootstrap"] = json!(true);
    }
    Ok(json!({
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": chart.name, "namespace": "kube-system"},
        "spec": spec,
    }))
}

/// The `HelmChartConfig` giving a shipped chart its values.
fn chart_values_document(cluster: &str, values: &ChartValues) -> Result<Value, RenderError> {
    let text = to_yaml(&values.values).map_err(|message| RenderError::Yaml {
        cluster: cluster.to_owned(),
        document: format!("values of {}", values.name),
        message,
    })?;
    Ok(json!({
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChartConfig",
        "metadata": {"name": values.name, "namespace": "kube-system"},
        "spec": {"valuesContent": text},
    }))
}

/// One part of an add-on's manifests as a file.
fn manifest_file(cluster: &str, part: ManifestPart) -> Result<ManifestFile, RenderError> {
    Ok(match part {
        ManifestPart::Chart(chart) => ManifestFile {
            documents: vec![chart_document(cluster, &chart)?],
            name: chart.name,
            comments: vec![chart.comment],
        },
        ManifestPart::ChartValues(values) => ManifestFile {
            documents: vec![chart_values_document(cluster, &values)?],
            name: values.name,
            comments: vec![values.comment],
        },
        ManifestPart::Objects(Objects {
            name,
            comments,
            documents,
        }) => ManifestFile {
            name,
            comments,
            documents,
        },
    })
}

/// A tenant's access as the add-ons read it.
fn tenant_use(access: &TenantAccess) -> TenantUse {
    TenantUse {
        tenant: access.tenant.clone(),
        namespace: access.namespace.clone(),
        services: access.services.clone(),
    }
}

/// Every manifest of `cluster`, a cluster of `plan`, in apply order, with the Secrets they need.
pub fn addon_manifests(
    plan: &Plan,
    cluster: &PlannedCluster,
) -> Result<AddonManifests, RenderError> {
    let addons = Addons::from_settings(cluster.addons.iter().map(|addon| &addon.settings));
    let name = cluster.name.as_str();
    // K3s has its own Helm controller and auto-deploy directory; kubeadm clusters get the same
    // controller as a Deployment (applied first) and their API VIP from static pods on the
    // control planes (`labform-kubeadm`), so no kube-vip DaemonSet. K3s's flannel and Traefik
    // come with K3s; on kubeadm labform installs neither. Talos's control planes hold the VIP
    // themselves (their machine configuration).
    let kubeadm = cluster.distribution == Distribution::Kubeadm;
    // Neither kubeadm nor Talos runs K3s's Helm controller or ships its Traefik.
    let without_k3s = cluster.distribution != Distribution::K3s;
    if kubeadm && cluster.cni == Cni::Flannel {
        return Err(RenderError::Unsupported {
            cluster: name.to_owned(),
            detail: "flannel comes with K3s; labform installs no flannel on kubeadm clusters\n  hint: set `cni: calico` or `cni: cilium`".to_owned(),
        });
    }
    let mut files = Vec::new();
    let mut push = |name: &str, comments: Vec<String>, documents: Vec<Value>| {
        files.push(ManifestFile {
            name: name.to_owned(),
            comments,
            documents,
        });
    };

    // The API VIP first: joining servers and agents reach the API through it (kube-vip on K3s
    // only: kubeadm's comes from static pods, Talos holds its own).
    if cluster.api_vip && cluster.distribution == Distribution::K3s {
        let vip = cluster.api_address;
        push(
            "kube-vip",
            vec![format!(
                "kube-vip announces the API VIP {vip} by ARP on {} of the servers (leader election; services stay with MetalLB).",
                labform_cloudinit::INTERFACE_NAME
            )],
            kube_vip_documents(vip, labform_cloudinit::INTERFACE_NAME),
        );
    }

    // Namespaces of every add-on, so apply can create their Secrets before the charts run.
    let mut namespaces: Vec<&str> = Vec::new();
    if cluster.cni == Cni::Calico {
        namespaces.push("tigera-operator");
    }
    for namespace in addons.namespaces() {
        if !namespaces.contains(&namespace) {
            namespaces.push(namespace);
        }
    }
    if !namespaces.is_empty() {
        let documents = namespaces
            .iter()
            .map(|namespace| {
                json!({
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {
                        "name": namespace,
                        "labels": {"app.kubernetes.io/managed-by": "labform"},
                    },
                })
            })
            .collect();
        push(
            "namespaces",
            vec![
                "Namespaces of the add-ons; apply creates the Secrets listed in secrets.yaml in them before installing the charts.".to_owned(),
            ],
            documents,
        );
    }

    // Tenants that use this cluster's central services: their own namespace and credentials.
    let tenants = &cluster.tenant_access;
    if !tenants.is_empty() {
        let names: Vec<&str> = tenants
            .iter()
            .map(|access| access.tenant.as_str())
            .collect();
        push(
            "tenant-access",
            vec![
                format!(
                    "Tenants using this cluster's services ({}): each gets a namespace tenant-NAME, a ServiceAccount with the edit role there only, and its token, from which apply makes the tenant's own kubeconfig context.",
                    names.join(", ")
                ),
                "GitLab and Vault accounts are not made by labform (their APIs need the services initialised first); MinIO users are (see the minio chart's values).".to_owned(),
            ],
            access_documents(tenants),
        );
    }

    // The CNI, when it replaces flannel; bootstrap charts run before any CNI exists.
    if let Some(chart) = cni_chart(cluster) {
        files.push(manifest_file(name, ManifestPart::Chart(chart))?);
    }

    let facts = ClusterFacts {
        instance: cluster.name.clone(),
        scope: plan.scope.clone(),
        api_address: Some(cluster.api_address),
        pod_cidr: cluster.pod_cidr.clone(),
        service_cidr: cluster.service_cidr.clone(),
        members: cluster.servers.len() + cluster.agents.len(),
        tenants: tenants.iter().map(tenant_use).collect(),
        node_software: labform_planner::distribution::distribution_plan(cluster.distribution)
            .node_software(),
    };
    let settings = cluster.addons.iter().map(|addon| &addon.settings);
    let manifests = labform_addons::manifests(settings, &facts).map_err(|failure| {
        RenderError::Unsupported {
            cluster: name.to_owned(),
            detail: failure.to_string(),
        }
    })?;
    for part in manifests.parts {
        if without_k3s && let ManifestPart::ChartValues(values) = &part {
            return Err(RenderError::Unsupported {
                cluster: name.to_owned(),
                detail: format!(
                    "add-on {} configures a chart K3s ships; {} clusters do not have it",
                    values.name, cluster.distribution
                ),
            });
        }
        files.push(manifest_file(name, part)?);
    }
    // Without K3s, the Helm controller comes first: kubeadm clusters always get it (their CNI
    // is a chart), Talos clusters when they have anything to install.
    if kubeadm || (without_k3s && !files.is_empty()) {
        files.insert(0, crate::helm_controller::helm_controller_manifest());
    }
    Ok(AddonManifests {
        files,
        secrets: manifests.secrets,
    })
}

/// What the CNI chart is to the cluster, for its comment.
fn cni_role(cluster: &PlannedCluster) -> &'static str {
    match cluster.distribution {
        Distribution::K3s => "replaces flannel (K3s runs with flannel-backend: none)",
        Distribution::Kubeadm | Distribution::Talos => {
            "is the cluster's network, installed before any other add-on's pods run"
        }
    }
}

/// The CNI chart when Calico or Cilium replaces flannel (K3s runs with `flannel-backend: none`).
fn cni_chart(cluster: &PlannedCluster) -> Option<Chart> {
    match cluster.cni {
        Cni::Flannel => None,
        Cni::Calico => Some(Chart {
            name: "calico".to_owned(),
            chart: "tigera-operator".to_owned(),
            repo: Some("https://docs.tigera.io/calico/charts".to_owned()),
            version: versions::CALICO.to_owned(),
            namespace: "tigera-operator".to_owned(),
            values: json!({
                "installation": {
                    "cni": {"type": "Calico"},
                    "calicoNetwork": {
                        "containerIPForwarding": "Enabled",
                        "ipPools": [{
                            "cidr": cluster.pod_cidr,
                            "encapsulation": "VXLAN",
                            "natOutgoing": "Enabled",
                            "nodeSelector": "all()",
                        }],
                    },
                },
            }),
            bootstrap: true,
            comment: format!(
                "Calico {}; pods in {}.",
                cni_role(cluster),
                cluster.pod_cidr
            ),
        }),
        Cni::Cilium => {
            let api = cluster.api_address;
            Some(Chart {
                name: "cilium".to_owned(),
                chart: "cilium".to_owned(),
                repo: Some("https://helm.cilium.io/".to_owned()),
                version: versions::CILIUM.to_owned(),
                namespace: "kube-system".to_owned(),
                values: json!({
                    "ipam": {
                        "mode": "cluster-pool",
                        "operator": {"clusterPoolIPv4PodCIDRList": [cluster.pod_cidr]},
                    },
                    "k8sServiceHost": api.to_string(),
                    "k8sServicePort": 6443,
                    "operator": {"replicas": 1},
                }),
                bootstrap: true,
                comment: format!(
                    "Cilium {}; pods in {}.",
                    cni_role(cluster),
                    cluster.pod_cidr
                ),
            })
        }
    }
}
