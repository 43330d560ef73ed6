//! A cluster's manifests in apply order: kube-vip (HA API VIP), the namespaces add-ons and their
//! Secrets live in, the CNI when it replaces flannel, then each add-on's K3s `HelmChart` (or the
//! `HelmChartConfig` of a packaged one) followed by the objects that need its CRDs.
//!
//! Values come from the lab: MetalLB pools from the plan's load-balancer block and reserved
//! addresses, cert-manager issuers, Traefik's service, retention and storage sizes, replicas,
//! ApplicationSets, External Secrets' ClusterSecretStore (Vault, or Bitwarden Secrets Manager
//! through the chart's SDK server, whose HTTPS certificate comes from a CA cert-manager makes in
//! the `external-secrets` namespace). Secrets are references only: each one an add-on needs is a
//! [`RequiredSecret`] that apply creates before the chart is installed.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use labform_model::addons::{ExternalSecrets, IssuerKind, SecretProvider, ServiceType};
use labform_model::{Cni, LabFile, SecretRef};
use labform_planner::plan::PlannedCluster;
use serde_json::{Value, json};

use crate::error::RenderError;
use crate::k3s::declared_cluster;
use crate::kube_vip::kube_vip_documents;
use crate::manifest::{ManifestFile, to_yaml};
use crate::tenant_access::{access_documents, minio_tenants, tenants_using};

/// A Kubernetes Secret apply creates from a secret reference before the add-ons are installed.
/// Rendered files only name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredSecret {
    /// Namespace.
    pub namespace: String,
    /// Secret name.
    pub name: String,
    /// The key that holds the referenced value.
    pub key: String,
    /// Where the value comes from.
    pub from: SecretRef,
    /// Further keys with fixed, non-secret values.
    pub literals: Vec<(String, String)>,
    /// Labels the Secret carries.
    pub labels: Vec<(String, String)>,
    /// Who reads it.
    pub purpose: String,
}

/// A cluster's manifests and the Secrets they reference.
#[derive(Debug, Clone, PartialEq)]
pub struct AddonManifests {
    /// Files in apply order.
    pub files: Vec<ManifestFile>,
    /// Secrets apply creates first.
    pub secrets: Vec<RequiredSecret>,
}

/// Default chart versions, used when the lab names none.
mod versions {
    pub const METALLB: &str = "0.14.9";
    pub const CERT_MANAGER: &str = "v1.16.2";
    pub const LONGHORN: &str = "1.7.2";
    pub const ENVOY_GATEWAY: &str = "v1.2.4";
    pub const EXTERNAL_SECRETS: &str = "0.18.2";
    pub const VAULT: &str = "0.29.1";
    pub const MINIO: &str = "5.3.0";
    pub const KUBE_PROMETHEUS_STACK: &str = "66.3.1";
    pub const ARGO_CD: &str = "7.7.11";
    pub const GITLAB: &str = "8.7.2";
    pub const TAILSCALE_OPERATOR: &str = "1.78.3";
    pub const CALICO: &str = "v3.29.1";
    pub const CILIUM: &str = "1.16.5";
}

const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// A K3s HelmChart in `kube-system` installing `chart` into `namespace`.
struct Chart<'a> {
    name: &'a str,
    chart: &'a str,
    repo: Option<&'a str>,
    version: &'a str,
    namespace: &'a str,
    values: Value,
    bootstrap: bool,
}

impl Chart<'_> {
    fn document(&self, cluster: &str) -> Result<Value, RenderError> {
        let values = to_yaml(&self.values).map_err(|message| RenderError::Yaml {
            cluster: cluster.to_owned(),
            document: format!("values of {}", self.name),
            message,
        })?;
        let mut spec = json!({
            "chart": self.chart,
            "version": self.version,
            "targetNamespace": self.namespace,
            "createNamespace": true,
            "valuesContent": values,
        });
        if let Some(repo) = self.repo {
            spec["repo"] = json!(repo);
        }
        if self.bootstrap {
            spec["bootstrap"] = json!(true);
        }
        Ok(json!({
            "apiVersion": "helm.cattle.io/v1",
            "kind": "HelmChart",
            "metadata": {"name": self.name, "namespace": "kube-system"},
            "spec": spec,
        }))
    }
}

/// Builds the file list.
struct Files<'a> {
    cluster: &'a str,
    files: Vec<ManifestFile>,
    secrets: Vec<RequiredSecret>,
}

impl Files<'_> {
    fn push(&mut self, name: &str, comments: Vec<String>, documents: Vec<Value>) {
        self.files.push(ManifestFile {
            name: name.to_owned(),
            comments,
            documents,
        });
    }

    fn chart(&mut self, chart: Chart<'_>, comment: String) -> Result<(), RenderError> {
        let document = chart.document(self.cluster)?;
        self.push(chart.name, vec![comment], vec![document]);
        Ok(())
    }

    fn secret(&mut self, secret: RequiredSecret) -> String {
        let name = secret.name.clone();
        self.secrets.push(secret);
        name
    }
}

fn parse_block(cluster: &PlannedCluster) -> Result<Option<(Ipv4Addr, Ipv4Addr)>, RenderError> {
    let Some(block) = &cluster.load_balancer_addresses else {
        return Ok(None);
    };
    let parsed = block.split_once('-').and_then(|(first, last)| {
        Some((
            first.trim().parse::<Ipv4Addr>().ok()?,
            last.trim().parse::<Ipv4Addr>().ok()?,
        ))
    });
    parsed.map(Some).ok_or_else(|| RenderError::Inconsistent {
        cluster: cluster.name.clone(),
        detail: format!("load-balancer block `{block}` is not FIRST-LAST"),
    })
}

/// The block without the reserved addresses, as MetalLB address ranges.
fn ranges_without(first: Ipv4Addr, last: Ipv4Addr, reserved: &BTreeSet<u32>) -> Vec<String> {
    let mut ranges = Vec::new();
    let mut start: Option<u32> = None;
    let (first, last) = (u32::from(first), u32::from(last));
    let close = |from: u32, to: u32, ranges: &mut Vec<String>| {
        if from == to {
            ranges.push(format!("{}/32", Ipv4Addr::from(from)));
        } else {
            ranges.push(format!("{}-{}", Ipv4Addr::from(from), Ipv4Addr::from(to)));
        }
    };
    for address in first..=last {
        if reserved.contains(&address) {
            if let Some(from) = start.take() {
                close(from, address - 1, &mut ranges);
            }
        } else if start.is_none() {
            start = Some(address);
        }
    }
    if let Some(from) = start {
        close(from, last, &mut ranges);
    }
    ranges
}

/// A DNS-label form of `namespace/name` for object names.
fn object_name(service: &str) -> String {
    service
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() {
                character.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Every manifest of `cluster` in apply order, with the Secrets they need.
pub fn addon_manifests(
    lab: &LabFile,
    cluster: &PlannedCluster,
) -> Result<AddonManifests, RenderError> {
    let declared = declared_cluster(lab, cluster)?;
    let addons = &declared.addons;
    let name = cluster.name.as_str();
    let mut files = Files {
        cluster: name,
        files: Vec::new(),
        secrets: Vec::new(),
    };
    let unsupported = |detail: String| RenderError::Unsupported {
        cluster: name.to_owned(),
        detail,
    };
    let k3s = cluster.distribution == "k3s";
    if !k3s {
        return Err(unsupported(format!(
            "{} bootstrap is not automated by labform; its add-ons are not rendered",
            cluster.distribution
        )));
    }

    // The API VIP first: joining servers and agents reach the API through it.
    if cluster.api_vip
        && let Some(vip) = cluster.api_address
    {
        files.push(
            "kube-vip",
            vec![format!(
                "kube-vip announces the API VIP {vip} by ARP on {} of the servers (leader election; services stay with MetalLB).",
                labform_cloudinit::INTERFACE_NAME
            )],
            kube_vip_documents(vip, labform_cloudinit::INTERFACE_NAME),
        );
    }

    let ingress_class = addons.traefik.as_ref().map(|_| "traefik");
    let first_issuer = addons
        .cert_manager
        .as_ref()
        .and_then(|cert_manager| cert_manager.issuers.first())
        .map(|issuer| issuer.name.clone());

    // Namespaces of every add-on, so apply can create their Secrets before the charts run.
    let mut namespaces: Vec<&str> = Vec::new();
    let mut add_namespace = |namespace: &'static str, present: bool| {
        if present && !namespaces.contains(&namespace) {
            namespaces.push(namespace);
        }
    };
    add_namespace("tigera-operator", declared.cni == Cni::Calico);
    add_namespace("metallb-system", addons.metallb.is_some());
    add_namespace("cert-manager", addons.cert_manager.is_some());
    add_namespace("longhorn-system", addons.longhorn.is_some());
    add_namespace("envoy-gateway-system", addons.envoy_gateway.is_some());
    add_namespace("external-secrets", addons.external_secrets.is_some());
    add_namespace("vault", addons.vault.is_some());
    add_namespace("minio", addons.minio.is_some());
    add_namespace("monitoring", addons.kube_prometheus_stack.is_some());
    add_namespace("argocd", addons.argocd.is_some());
    add_namespace("gitlab", addons.gitlab.is_some());
    add_namespace("tailscale", addons.tailscale_operator.is_some());
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
        files.push(
            "namespaces",
            vec![
                "Namespaces of the add-ons; apply creates the Secrets listed in secrets.yaml in them before installing the charts.".to_owned(),
            ],
            documents,
        );
    }

    // Tenants that use this cluster's central services: their own namespace and credentials.
    let tenants = tenants_using(lab, cluster);
    if !tenants.is_empty() {
        let names: Vec<&str> = tenants
            .iter()
            .map(|access| access.tenant.as_str())
            .collect();
        files.push(
            "tenant-access",
            vec![
                format!(
                    "Tenants using this cluster's services ({}): each gets a namespace tenant-NAME, a ServiceAccount with the edit role there only, and its token, from which apply makes the tenant's own kubeconfig context.",
                    names.join(", ")
                ),
                "GitLab and Vault accounts are not made by labform (their APIs need the services initialised first); MinIO users are (see the minio chart's values).".to_owned(),
            ],
            access_documents(&tenants),
        );
    }

    // The CNI, when it replaces flannel; bootstrap charts run before any CNI exists.
    match declared.cni {
        Cni::Flannel => {}
        Cni::Calico => files.chart(
            Chart {
                name: "calico",
                chart: "tigera-operator",
                repo: Some("https://docs.tigera.io/calico/charts"),
                version: versions::CALICO,
                namespace: "tigera-operator",
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
            },
            format!(
                "Calico replaces flannel (K3s runs with flannel-backend: none); pods in {}.",
                cluster.pod_cidr
            ),
        )?,
        Cni::Cilium => {
            let api = cluster
                .api_address
                .ok_or_else(|| RenderError::Inconsistent {
                    cluster: name.to_owned(),
                    detail: "Cilium needs the API address and the plan has none".to_owned(),
                })?;
            files.chart(
                Chart {
                    name: "cilium",
                    chart: "cilium",
                    repo: Some("https://helm.cilium.io/"),
                    version: versions::CILIUM,
                    namespace: "kube-system",
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
                },
                format!(
                    "Cilium replaces flannel (K3s runs with flannel-backend: none); pods in {}.",
                    cluster.pod_cidr
                ),
            )?;
        }
    }

    let reserved = addons
        .metallb
        .as_ref()
        .map(|metallb| metallb.reserved.clone())
        .unwrap_or_default();
    let reserved_for = |service: &str| {
        reserved
            .iter()
            .find(|reservation| reservation.service == service)
            .map(|reservation| reservation.address)
    };

    if let Some(metallb) = &addons.metallb {
        files.chart(
            Chart {
                name: "metallb",
                chart: "metallb",
                repo: Some("https://metallb.github.io/metallb"),
                version: metallb.version.as_deref().unwrap_or(versions::METALLB),
                namespace: "metallb-system",
                values: json!({}),
                bootstrap: false,
            },
            "MetalLB gives LoadBalancer services addresses from the lab's pool (K3s servicelb is disabled).".to_owned(),
        )?;
        let (first, last) = parse_block(cluster)?.ok_or_else(|| RenderError::Inconsistent {
            cluster: name.to_owned(),
            detail: "MetalLB is enabled but the plan has no load-balancer block".to_owned(),
        })?;
        let reserved_addresses: BTreeSet<u32> = metallb
            .reserved
            .iter()
            .map(|reservation| u32::from(reservation.address))
            .collect();
        let mut documents = vec![json!({
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "labform", "namespace": "metallb-system"},
            "spec": {
                "addresses": ranges_without(first, last, &reserved_addresses),
                "autoAssign": true,
            },
        })];
        let mut pool_names = vec![json!("labform")];
        for reservation in &metallb.reserved {
            let pool = format!("reserved-{}", object_name(&reservation.service));
            let namespace = reservation
                .service
                .split_once('/')
                .map_or("default", |(namespace, _)| namespace);
            documents.push(json!({
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": pool, "namespace": "metallb-system"},
                "spec": {
                    "addresses": [format!("{}/32", reservation.address)],
                    "autoAssign": false,
                    "serviceAllocation": {"namespaces": [namespace]},
                },
            }));
            pool_names.push(json!(pool));
        }
        documents.push(json!({
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": "labform", "namespace": "metallb-system"},
            "spec": {"ipAddressPools": pool_names},
        }));
        let mut comments = vec![format!(
            "MetalLB pools from the plan's block {first}-{last}, announced by ARP (layer 2)."
        )];
        for reservation in &metallb.reserved {
            comments.push(format!(
                "{} {} is reserved for service {}: annotate it with metallb.io/loadBalancerIPs: {}.",
                "Address", reservation.address, reservation.service, reservation.address
            ));
        }
        files.push("metallb-address-pools", comments, documents);
    }

    if let Some(cert_manager) = &addons.cert_manager {
        files.chart(
            Chart {
                name: "cert-manager",
                chart: "cert-manager",
                repo: Some("https://charts.jetstack.io"),
                version: cert_manager
                    .version
                    .as_deref()
                    .unwrap_or(versions::CERT_MANAGER),
                namespace: "cert-manager",
                values: json!({"crds": {"enabled": true}}),
                bootstrap: false,
            },
            "cert-manager with its CRDs; the ClusterIssuers follow.".to_owned(),
        )?;
        let mut issuers = Vec::new();
        for issuer in &cert_manager.issuers {
            let spec = match issuer.kind {
                // A CA of its own: a self-signed root certificate, then a CA issuer signing with
                // it, so every certificate of the lab chains to one root people can trust.
                IssuerKind::SelfSigned => {
                    let bootstrap = format!("{}-bootstrap", issuer.name);
                    let root = format!("{}-root", issuer.name);
                    issuers.push(json!({
                        "apiVersion": "cert-manager.io/v1",
                        "kind": "ClusterIssuer",
                        "metadata": {"name": bootstrap},
                        "spec": {"selfSigned": {}},
                    }));
                    issuers.push(json!({
                        "apiVersion": "cert-manager.io/v1",
                        "kind": "Certificate",
                        "metadata": {"name": root, "namespace": "cert-manager"},
                        "spec": {
                            "isCA": true,
                            "commonName": format!("{} ({name})", issuer.name),
                            "secretName": root,
                            "duration": "87600h",
                            "privateKey": {"algorithm": "ECDSA", "size": 256},
                            "issuerRef": {
                                "name": bootstrap,
                                "kind": "ClusterIssuer",
                                "group": "cert-manager.io",
                            },
                        },
                    }));
                    json!({"ca": {"secretName": root}})
                }
                IssuerKind::AcmeHttp01 | IssuerKind::AcmeDns01 => {
                    let email = issuer.email.as_deref().ok_or_else(|| {
                        unsupported(format!("ACME issuer `{}` has no email", issuer.name))
                    })?;
                    let solver = if issuer.kind == IssuerKind::AcmeHttp01 {
                        json!({"http01": {"ingress": {"ingressClassName": ingress_class.unwrap_or("traefik")}}})
                    } else {
                        let provider = issuer.dns_provider.as_deref().unwrap_or("");
                        let token = issuer.dns_token.clone().ok_or_else(|| {
                            unsupported(format!(
                                "DNS-01 issuer `{}` has no dns_token reference",
                                issuer.name
                            ))
                        })?;
                        let secret_name = format!("{}-dns-token", issuer.name);
                        let (solver, key) = match provider {
                            "cloudflare" => (
                                json!({"cloudflare": {"apiTokenSecretRef": {"name": secret_name, "key": "api-token"}}}),
                                "api-token",
                            ),
                            "digitalocean" => (
                                json!({"digitalocean": {"tokenSecretRef": {"name": secret_name, "key": "access-token"}}}),
                                "access-token",
                            ),
                            other => {
                                return Err(unsupported(format!(
                                    "DNS-01 provider `{other}` of issuer `{}` is not supported yet (cloudflare, digitalocean)",
                                    issuer.name
                                )));
                            }
                        };
                        files.secret(RequiredSecret {
                            namespace: "cert-manager".to_owned(),
                            name: secret_name,
                            key: key.to_owned(),
                            from: token,
                            literals: Vec::new(),
                            labels: Vec::new(),
                            purpose: format!(
                                "{provider} API token of ClusterIssuer {}",
                                issuer.name
                            ),
                        });
                        json!({"dns01": solver})
                    };
                    json!({"acme": {
                        "email": email,
                        "server": issuer.server.as_deref().unwrap_or(LETS_ENCRYPT),
                        "privateKeySecretRef": {"name": format!("{}-account-key", issuer.name)},
                        "solvers": [solver],
                    }})
                }
            };
            issuers.push(json!({
                "apiVersion": "cert-manager.io/v1",
                "kind": "ClusterIssuer",
                "metadata": {"name": issuer.name},
                "spec": spec,
            }));
        }
        if !issuers.is_empty() {
            files.push(
                "cert-manager-issuers",
                vec![
                    "ClusterIssuers (a self-signed one is a CA: bootstrap issuer, root Certificate, CA issuer); DNS-01 tokens are Secrets apply creates in cert-manager."
                        .to_owned(),
                ],
                issuers,
            );
        }
    }

    if let Some(longhorn) = &addons.longhorn {
        let replicas = longhorn.replicas.unwrap_or(3);
        files.chart(
            Chart {
                name: "longhorn",
                chart: "longhorn",
                repo: Some("https://charts.longhorn.io"),
                version: longhorn.version.as_deref().unwrap_or(versions::LONGHORN),
                namespace: "longhorn-system",
                values: json!({
                    "defaultSettings": {"defaultReplicaCount": replicas},
                    "persistence": {
                        "defaultClass": longhorn.default_storage_class,
                        "defaultClassReplicaCount": replicas,
                    },
                }),
                bootstrap: false,
            },
            format!(
                "Longhorn with {replicas} replicas per volume; its node prerequisite open-iscsi is installed by cloud-init."
            ),
        )?;
    }

    if let Some(traefik) = &addons.traefik {
        let mut service = json!({"type": match traefik.service_type {
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::NodePort => "NodePort",
            ServiceType::ClusterIP => "ClusterIP",
        }});
        if let Some(address) = reserved_for("kube-system/traefik") {
            service["annotations"] = json!({"metallb.io/loadBalancerIPs": address.to_string()});
        }
        let values = json!({
            "service": service,
            "ingressRoute": {"dashboard": {"enabled": traefik.dashboard}},
        });
        let values_text = to_yaml(&values).map_err(|message| RenderError::Yaml {
            cluster: name.to_owned(),
            document: "values of traefik".to_owned(),
            message,
        })?;
        files.push(
            "traefik",
            vec!["K3s ships Traefik; this HelmChartConfig sets its values.".to_owned()],
            vec![json!({
                "apiVersion": "helm.cattle.io/v1",
                "kind": "HelmChartConfig",
                "metadata": {"name": "traefik", "namespace": "kube-system"},
                "spec": {"valuesContent": values_text},
            })],
        );
    }

    if let Some(envoy) = &addons.envoy_gateway {
        files.chart(
            Chart {
                name: "envoy-gateway",
                chart: "oci://docker.io/envoyproxy/gateway-helm",
                repo: None,
                version: envoy.version.as_deref().unwrap_or(versions::ENVOY_GATEWAY),
                namespace: "envoy-gateway-system",
                values: json!({}),
                bootstrap: false,
            },
            "Envoy Gateway with the Gateway API CRDs; the GatewayClass and Gateway follow."
                .to_owned(),
        )?;
        let mut listener = json!({
            "name": "http",
            "protocol": "HTTP",
            "port": 80,
            "allowedRoutes": {"namespaces": {"from": "All"}},
        });
        if let Some(domain) = &envoy.domain {
            listener["hostname"] = json!(format!("*.{domain}"));
        }
        files.push(
            "envoy-gateway-gateway",
            vec!["The public Gateway; routes in any namespace attach to it.".to_owned()],
            vec![
                json!({
                    "apiVersion": "gateway.networking.k8s.io/v1",
                    "kind": "GatewayClass",
                    "metadata": {"name": "envoy"},
                    "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
                }),
                json!({
                    "apiVersion": "gateway.networking.k8s.io/v1",
                    "kind": "Gateway",
                    "metadata": {"name": "public", "namespace": "envoy-gateway-system"},
                    "spec": {"gatewayClassName": "envoy", "listeners": [listener]},
                }),
            ],
        );
    }

    if let Some(external_secrets) = &addons.external_secrets {
        let bitwarden = external_secrets.provider == SecretProvider::Bitwarden;
        // The SDK server mounts its certificate, so cert-manager issues it before the chart runs.
        if bitwarden {
            if addons.cert_manager.is_none() {
                return Err(unsupported(
                    "External Secrets with Bitwarden needs the cert_manager add-on: it issues the Bitwarden SDK server's certificate".to_owned(),
                ));
            }
            files.push(
                "external-secrets-bitwarden-certificates",
                vec![
                    format!(
                        "The Bitwarden SDK server serves only HTTPS: a CA of its own (self-signed bootstrap Issuer, CA Certificate, CA Issuer) signs its certificate for {BITWARDEN_SDK_SERVER_HOST}."
                    ),
                    format!(
                        "The chart mounts the Secret {BITWARDEN_TLS_SECRET} (tls.crt, tls.key, ca.crt); the ClusterSecretStore trusts the CA in {BITWARDEN_CA_SECRET}."
                    ),
                ],
                bitwarden_certificates(),
            );
        }
        let mut values = json!({"installCRDs": true});
        if bitwarden {
            values["bitwarden-sdk-server"] = json!({"enabled": true});
        }
        files.chart(
            Chart {
                name: "external-secrets",
                chart: "external-secrets",
                repo: Some("https://charts.external-secrets.io"),
                version: external_secrets
                    .version
                    .as_deref()
                    .unwrap_or(versions::EXTERNAL_SECRETS),
                namespace: "external-secrets",
                values,
                bootstrap: false,
            },
            if bitwarden {
                "External Secrets Operator with its CRDs and the Bitwarden SDK server; the ClusterSecretStore follows.".to_owned()
            } else {
                "External Secrets Operator with its CRDs; the ClusterSecretStore follows.".to_owned()
            },
        )?;
        match external_secrets.provider {
            SecretProvider::Vault => {
                let server = match (&external_secrets.url, &addons.vault) {
                    (Some(url), _) => url.clone(),
                    (None, Some(_)) => "http://vault.vault.svc:8200".to_owned(),
                    (None, None) => {
                        return Err(unsupported(
                            "external_secrets with the Vault provider needs a url when the cluster has no vault add-on".to_owned(),
                        ));
                    }
                };
                let secret = files.secret(RequiredSecret {
                    namespace: "external-secrets".to_owned(),
                    name: "vault-token".to_owned(),
                    key: "token".to_owned(),
                    from: external_secrets.access_token.clone(),
                    literals: Vec::new(),
                    labels: Vec::new(),
                    purpose: "Vault token of the ClusterSecretStore vault".to_owned(),
                });
                files.push(
                    "external-secrets-store",
                    vec!["The ClusterSecretStore; its token is the Secret external-secrets/vault-token, created by apply.".to_owned()],
                    vec![json!({
                        "apiVersion": "external-secrets.io/v1",
                        "kind": "ClusterSecretStore",
                        "metadata": {"name": "vault"},
                        "spec": {"provider": {"vault": {
                            "server": server,
                            "path": "secret",
                            "version": "v2",
                            "auth": {"tokenSecretRef": {
                                "name": secret,
                                "key": "token",
                                "namespace": "external-secrets",
                            }},
                        }}},
                    })],
                );
            }
            SecretProvider::Bitwarden => {
                let missing = |field: &str| {
                    unsupported(format!(
                        "External Secrets with Bitwarden needs `{field}` (the lab check reports it)"
                    ))
                };
                let organization = external_secrets
                    .organization_id
                    .as_deref()
                    .ok_or_else(|| missing("organization_id"))?;
                let project = external_secrets
                    .project_id
                    .as_deref()
                    .ok_or_else(|| missing("project_id"))?;
                let secret = files.secret(RequiredSecret {
                    namespace: "external-secrets".to_owned(),
                    name: "bitwarden-access-token".to_owned(),
                    key: "token".to_owned(),
                    from: external_secrets.access_token.clone(),
                    literals: Vec::new(),
                    labels: Vec::new(),
                    purpose:
                        "Bitwarden machine-account access token of the ClusterSecretStore bitwarden"
                            .to_owned(),
                });
                files.push(
                    "external-secrets-store",
                    vec![
                        format!("The ClusterSecretStore of Bitwarden Secrets Manager project {project}, through the SDK server; its machine-account token is the Secret external-secrets/{secret}, created by apply."),
                    ],
                    vec![json!({
                        "apiVersion": "external-secrets.io/v1",
                        "kind": "ClusterSecretStore",
                        "metadata": {"name": "bitwarden"},
                        "spec": {"provider": {"bitwardensecretsmanager": {
                            "apiURL": external_secrets
                                .api_url
                                .as_deref()
                                .unwrap_or(ExternalSecrets::BITWARDEN_API_URL),
                            "identityURL": external_secrets
                                .identity_url
                                .as_deref()
                                .unwrap_or(ExternalSecrets::BITWARDEN_IDENTITY_URL),
                            "bitwardenServerSDKURL": format!("https://{BITWARDEN_SDK_SERVER_HOST}:{BITWARDEN_SDK_SERVER_PORT}"),
                            "caProvider": {
                                "type": "Secret",
                                "name": BITWARDEN_CA_SECRET,
                                "key": "tls.crt",
                                "namespace": "external-secrets",
                            },
                            "organizationID": organization,
                            "projectID": project,
                            "auth": {"secretRef": {"credentials": {
                                "name": secret,
                                "key": "token",
                                "namespace": "external-secrets",
                            }}},
                        }}},
                    })],
                );
            }
        }
    }

    if let Some(vault) = &addons.vault {
        let replicas = vault.replicas.unwrap_or(1);
        let mut server = json!({
            "dataStorage": {"enabled": true, "size": vault.storage.map_or("10Gi".to_owned(), |size| kubernetes_quantity(size.bytes()))},
        });
        if replicas > 1 {
            server["ha"] =
                json!({"enabled": true, "replicas": replicas, "raft": {"enabled": true}});
        } else {
            server["standalone"] = json!({"enabled": true});
        }
        files.chart(
            Chart {
                name: "vault",
                chart: "vault",
                repo: Some("https://helm.releases.hashicorp.com"),
                version: vault.version.as_deref().unwrap_or(versions::VAULT),
                namespace: "vault",
                values: json!({"server": server}),
                bootstrap: false,
            },
            format!("HashiCorp Vault, {replicas} replica(s); initialising and unsealing it is a later step."),
        )?;
    }

    if let Some(minio) = &addons.minio {
        let mut values = json!({
            "mode": "standalone",
            "replicas": 1,
            "persistence": {"enabled": true, "size": minio.storage.map_or("10Gi".to_owned(), |size| kubernetes_quantity(size.bytes()))},
        });
        if let Some(password) = &minio.root_password {
            let secret = files.secret(RequiredSecret {
                namespace: "minio".to_owned(),
                name: "minio-root".to_owned(),
                key: "rootPassword".to_owned(),
                from: password.clone(),
                literals: vec![("rootUser".to_owned(), "admin".to_owned())],
                labels: Vec::new(),
                purpose: "MinIO root credentials".to_owned(),
            });
            values["existingSecret"] = json!(secret);
        }
        // Each tenant using MinIO: a user limited to its own bucket, password made by labform.
        let scope = lab
            .scope
            .clone()
            .or_else(|| lab.lab.clone())
            .unwrap_or_default();
        let (tenant_values, tenant_secrets) = minio_tenants(&scope, name, &tenants);
        for key in ["users", "policies", "buckets"] {
            if tenant_values[key]
                .as_array()
                .is_some_and(|list| !list.is_empty())
            {
                values[key] = tenant_values[key].clone();
            }
        }
        for secret in tenant_secrets {
            files.secret(secret);
        }
        files.chart(
            Chart {
                name: "minio",
                chart: "minio",
                repo: Some("https://charts.min.io/"),
                version: minio.version.as_deref().unwrap_or(versions::MINIO),
                namespace: "minio",
                values,
                bootstrap: false,
            },
            "MinIO object storage (standalone).".to_owned(),
        )?;
    }

    if let Some(stack) = &addons.kube_prometheus_stack {
        let mut prometheus_spec = json!({"retention": stack.retention.as_deref().unwrap_or("10d")});
        if let Some(storage) = stack.storage {
            prometheus_spec["storageSpec"] = json!({"volumeClaimTemplate": {"spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": kubernetes_quantity(storage.bytes())}},
            }}});
        }
        let mut grafana = json!({});
        if let Some(password) = &stack.grafana_admin_password {
            let secret = files.secret(RequiredSecret {
                namespace: "monitoring".to_owned(),
                name: "grafana-admin".to_owned(),
                key: "admin-password".to_owned(),
                from: password.clone(),
                literals: vec![("admin-user".to_owned(), "admin".to_owned())],
                labels: Vec::new(),
                purpose: "Grafana admin credentials".to_owned(),
            });
            grafana["admin"] = json!({
                "existingSecret": secret,
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            });
        }
        files.chart(
            Chart {
                name: "kube-prometheus-stack",
                chart: "kube-prometheus-stack",
                repo: Some("https://prometheus-community.github.io/helm-charts"),
                version: stack
                    .version
                    .as_deref()
                    .unwrap_or(versions::KUBE_PROMETHEUS_STACK),
                namespace: "monitoring",
                values: json!({
                    "prometheus": {"prometheusSpec": prometheus_spec},
                    "grafana": grafana,
                }),
                bootstrap: false,
            },
            "Prometheus, Grafana, node exporter and Alertmanager.".to_owned(),
        )?;
    }

    if let Some(argocd) = &addons.argocd {
        files.chart(
            Chart {
                name: "argocd",
                chart: "argo-cd",
                repo: Some("https://argoproj.github.io/argo-helm"),
                version: argocd.version.as_deref().unwrap_or(versions::ARGO_CD),
                namespace: "argocd",
                values: json!({"configs": {"params": {"server.insecure": true}}}),
                bootstrap: false,
            },
            "Argo CD with the ApplicationSet controller; the ApplicationSets follow.".to_owned(),
        )?;
        if let Some(credentials) = &argocd.repository_credentials {
            let mut prefixes: Vec<&str> = argocd
                .application_sets
                .iter()
                .map(|set| set.repository.as_str())
                .collect();
            prefixes.dedup();
            for (index, repository) in prefixes.iter().enumerate() {
                files.secret(RequiredSecret {
                    namespace: "argocd".to_owned(),
                    name: format!("labform-repository-{index}"),
                    key: "password".to_owned(),
                    from: credentials.clone(),
                    literals: vec![
                        ("type".to_owned(), "git".to_owned()),
                        ("url".to_owned(), (*repository).to_owned()),
                        ("username".to_owned(), "git".to_owned()),
                    ],
                    labels: vec![(
                        "argocd.argoproj.io/secret-type".to_owned(),
                        "repository".to_owned(),
                    )],
                    purpose: format!("Argo CD credentials of {repository}"),
                });
            }
        }
        let sets: Vec<Value> = argocd
            .application_sets
            .iter()
            .map(|set| {
                let revision = set.revision.as_deref().unwrap_or("HEAD");
                json!({
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "ApplicationSet",
                    "metadata": {"name": set.name, "namespace": "argocd"},
                    "spec": {
                        "goTemplate": true,
                        "goTemplateOptions": ["missingkey=error"],
                        "generators": [{"git": {
                            "repoURL": set.repository,
                            "revision": revision,
                            "directories": [{"path": set.directories}],
                        }}],
                        "template": {
                            "metadata": {"name": "{{.path.basename}}"},
                            "spec": {
                                "project": "default",
                                "source": {
                                    "repoURL": set.repository,
                                    "targetRevision": revision,
                                    "path": "{{.path.path}}",
                                },
                                "destination": {
                                    "server": "https://kubernetes.default.svc",
                                    "namespace": "{{.path.basename}}",
                                },
                                "syncPolicy": {
                                    "automated": {"prune": true, "selfHeal": true},
                                    "syncOptions": ["CreateNamespace=true"],
                                },
                            },
                        },
                    },
                })
            })
            .collect();
        if !sets.is_empty() {
            files.push(
                "argocd-applicationsets",
                vec![
                    "One Application per directory matching each ApplicationSet's glob.".to_owned(),
                ],
                sets,
            );
        }
    }

    if let Some(gitlab) = &addons.gitlab {
        let (first_label, parent) = gitlab
            .domain
            .split_once('.')
            .unwrap_or((gitlab.domain.as_str(), gitlab.domain.as_str()));
        let _ = first_label;
        let mut ingress = json!({"configureCertmanager": false});
        if let Some(class) = ingress_class {
            ingress["class"] = json!(class);
        }
        if let Some(issuer) = &first_issuer {
            ingress["annotations"] = json!({"cert-manager.io/cluster-issuer": issuer});
        }
        let mut global = json!({
            "edition": "ce",
            "hosts": {"domain": parent, "gitlab": {"name": gitlab.domain}},
            "ingress": ingress,
        });
        if let Some(password) = &gitlab.root_password {
            let secret = files.secret(RequiredSecret {
                namespace: "gitlab".to_owned(),
                name: "gitlab-initial-root-password".to_owned(),
                key: "password".to_owned(),
                from: password.clone(),
                literals: Vec::new(),
                labels: Vec::new(),
                purpose: "GitLab initial root password".to_owned(),
            });
            global["initialRootPassword"] = json!({"secret": secret, "key": "password"});
        }
        files.chart(
            Chart {
                name: "gitlab",
                chart: "gitlab",
                repo: Some("https://charts.gitlab.io/"),
                version: gitlab.version.as_deref().unwrap_or(versions::GITLAB),
                namespace: "gitlab",
                values: json!({
                    "global": global,
                    "installCertmanager": false,
                    "nginx-ingress": {"enabled": false},
                    "gitlab-runner": {"install": false},
                }),
                bootstrap: false,
            },
            format!("GitLab at {}, behind the cluster's ingress.", gitlab.domain),
        )?;
    }

    if let Some(tailscale) = &addons.tailscale_operator {
        files.secret(RequiredSecret {
            namespace: "tailscale".to_owned(),
            name: "operator-oauth".to_owned(),
            key: "client_secret".to_owned(),
            from: tailscale.oauth_client_secret.clone(),
            literals: Vec::new(),
            labels: Vec::new(),
            purpose: format!(
                "Tailscale operator OAuth client (client_id from {})",
                tailscale.oauth_client_id
            ),
        });
        files.chart(
            Chart {
                name: "tailscale-operator",
                chart: "tailscale-operator",
                repo: Some("https://pkgs.tailscale.com/helmcharts"),
                version: tailscale
                    .version
                    .as_deref()
                    .unwrap_or(versions::TAILSCALE_OPERATOR),
                namespace: "tailscale",
                values: json!({}),
                bootstrap: false,
            },
            "Tailscale operator; it reads its OAuth client from the Secret tailscale/operator-oauth (client_id, client_secret), created by apply.".to_owned(),
        )?;
    }

    Ok(AddonManifests {
        files: files.files,
        secrets: files.secrets,
    })
}

/// The Bitwarden SDK server's service address: the chart fixes its name, and it runs in the
/// External Secrets namespace.
const BITWARDEN_SDK_SERVER_HOST: &str = "bitwarden-sdk-server.external-secrets.svc.cluster.local";
/// The port the SDK server's service listens on (the chart's default).
const BITWARDEN_SDK_SERVER_PORT: u16 = 9998;
/// The Secret the SDK server chart mounts its TLS files from (`tls.crt`, `tls.key`, `ca.crt`).
const BITWARDEN_TLS_SECRET: &str = "bitwarden-tls-certs";
/// The Secret of the CA that signs the SDK server's certificate; the store trusts its `tls.crt`.
const BITWARDEN_CA_SECRET: &str = "bitwarden-sdk-server-ca";

/// cert-manager objects in `external-secrets` giving the Bitwarden SDK server its certificate:
/// a self-signed bootstrap Issuer makes a CA Certificate, a CA Issuer signs with it, and the
/// server Certificate lands in the Secret the chart mounts. Namespaced Issuers keep this CA from
/// signing anything outside the namespace.
fn bitwarden_certificates() -> Vec<Value> {
    let namespace = "external-secrets";
    let bootstrap = "bitwarden-sdk-server-bootstrap";
    let short_host = BITWARDEN_SDK_SERVER_HOST
        .strip_suffix(".cluster.local")
        .unwrap_or(BITWARDEN_SDK_SERVER_HOST);
    vec![
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": bootstrap, "namespace": namespace},
            "spec": {"selfSigned": {}},
        }),
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": BITWARDEN_CA_SECRET, "namespace": namespace},
            "spec": {
                "isCA": true,
                "commonName": "Bitwarden SDK server CA",
                "secretName": BITWARDEN_CA_SECRET,
                "duration": "87600h",
                "privateKey": {"algorithm": "ECDSA", "size": 256},
                "issuerRef": {"name": bootstrap, "kind": "Issuer", "group": "cert-manager.io"},
            },
        }),
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": BITWARDEN_CA_SECRET, "namespace": namespace},
            "spec": {"ca": {"secretName": BITWARDEN_CA_SECRET}},
        }),
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": BITWARDEN_TLS_SECRET, "namespace": namespace},
            "spec": {
                "secretName": BITWARDEN_TLS_SECRET,
                "dnsNames": [BITWARDEN_SDK_SERVER_HOST, short_host, "bitwarden-sdk-server"],
                "duration": "2160h",
                "privateKey": {"algorithm": "ECDSA", "size": 256, "encoding": "PKCS8", "rotationPolicy": "Always"},
                "usages": ["server auth", "digital signature"],
                "issuerRef": {"name": BITWARDEN_CA_SECRET, "kind": "Issuer", "group": "cert-manager.io"},
            },
        }),
    ]
}

/// A byte count as a Kubernetes quantity (`20Gi`), in the largest binary unit that divides it.
fn kubernetes_quantity(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (suffix, size) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{suffix}", bytes / size);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_addresses_split_the_block() {
        let first: Ipv4Addr = "10.0.0.200".parse().expect("address");
        let last: Ipv4Addr = "10.0.0.209".parse().expect("address");
        let reserved: BTreeSet<u32> = ["10.0.0.200", "10.0.0.203", "10.0.0.204", "10.0.0.209"]
            .iter()
            .map(|text| u32::from(text.parse::<Ipv4Addr>().expect("address")))
            .collect();
        assert_eq!(
            ranges_without(first, last, &reserved),
            vec!["10.0.0.201-10.0.0.202", "10.0.0.205-10.0.0.208"]
        );
        let single: BTreeSet<u32> = [u32::from(first) + 1].into_iter().collect();
        assert_eq!(
            ranges_without(first, first.saturating_add_one(), &single),
            vec!["10.0.0.200/32"]
        );
    }

    trait AddOne {
        fn saturating_add_one(self) -> Ipv4Addr;
    }

    impl AddOne for Ipv4Addr {
        fn saturating_add_one(self) -> Ipv4Addr {
            Ipv4Addr::from(u32::from(self).saturating_add(1))
        }
    }

    proptest::proptest! {
        /// The ranges and the reserved addresses inside the block cover the block exactly,
        /// without overlap, in ascending order.
        #[test]
        fn ranges_and_reservations_partition_the_block(
            start in 0_u32..1_000,
            length in 0_u32..64,
            reserved in proptest::collection::btree_set(0_u32..1_100, 0..20),
        ) {
            let base = u32::from(Ipv4Addr::new(10, 0, 0, 0));
            let first = base + start;
            let last = first + length;
            let reserved: BTreeSet<u32> = reserved.into_iter().map(|offset| base + offset).collect();
            let mut covered = Vec::new();
            for range in ranges_without(Ipv4Addr::from(first), Ipv4Addr::from(last), &reserved) {
                let (from, to) = match range.split_once('-') {
                    Some((from, to)) => (from.to_owned(), to.to_owned()),
                    None => {
                        let single = range.strip_suffix("/32").expect("a single address").to_owned();
                        (single.clone(), single)
                    }
                };
                let from = u32::from(from.parse::<Ipv4Addr>().expect("address"));
                let to = u32::from(to.parse::<Ipv4Addr>().expect("address"));
                proptest::prop_assert!(from <= to);
                covered.extend(from..=to);
            }
            let expected: Vec<u32> = (first..=last).filter(|address| !reserved.contains(address)).collect();
            proptest::prop_assert_eq!(covered, expected);
        }
    }

    #[test]
    fn quantities_use_binary_units() {
        assert_eq!(kubernetes_quantity(20 << 30), "20Gi");
        assert_eq!(kubernetes_quantity(1536 << 20), "1536Mi");
        assert_eq!(kubernetes_quantity(1 << 40), "1Ti");
        assert_eq!(kubernetes_quantity(1000), "1000");
    }
}
