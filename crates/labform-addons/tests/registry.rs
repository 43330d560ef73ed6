//! The registry and the plug-in seam as the callers use them: every add-on once, in
//! installation order, under its lab-file key; options carried through the plan unchanged;
//! checks located by path; facts flowing into plan lines and manifests.

use std::net::Ipv4Addr;

use labform_addons::{
    AddonDecisions, AddonError, AddonKind, AddonSettings, Addons, AddressBlock, CheckContext,
    ClusterFacts, ManifestPart, NodeSoftware, PoolFacts, Problem, TenantUse, manifests,
};
use labform_ids::cluster::CentralService;

/// Every add-on, with options that exercise their references between each other.
const EVERY_ADDON: &str = r#"
metallb: {pool: services, reserved: [{service: kube-system/traefik, address: 10.0.0.201}]}
traefik: {dashboard: true}
cert_manager: {issuers: [{name: lab-ca, kind: self-signed}]}
kube_prometheus_stack: {retention: 15d, storage: 20GiB}
longhorn: {replicas: 2}
argocd: {application_sets: [{name: apps, repository: "https://git.example/apps.git", directories: "apps/*"}]}
vault: {replicas: 3}
minio: {storage: 100GiB}
gitlab: {domain: git.lab.example}
external_secrets: {provider: vault, access_token: {env: VAULT_TOKEN}, url: "https://vault.example:8200"}
envoy_gateway: {domain: lab.example}
tailscale_operator: {oauth_client_id: {env: TS_ID}, oauth_client_secret: {env: TS_SECRET}}
"#;

fn every_addon() -> Addons {
    serde_saphyr::from_str(EVERY_ADDON).expect("every add-on parses")
}

fn facts() -> ClusterFacts {
    ClusterFacts {
        instance: "main".to_owned(),
        scope: "home".to_owned(),
        api_address: Some(Ipv4Addr::new(10, 0, 0, 10)),
        pod_cidr: "10.42.0.0/16".to_owned(),
        service_cidr: "10.43.0.0/16".to_owned(),
        members: 3,
        tenants: vec![TenantUse {
            tenant: "alice".to_owned(),
            namespace: "tenant-alice".to_owned(),
            services: vec![CentralService::Minio],
        }],
        node_software: NodeSoftware::CloudInitPackages,
    }
}

/// What the planner decided: the instance's block of the `services` pool.
fn decisions() -> AddonDecisions {
    AddonDecisions {
        load_balancer_block: Some(AddressBlock {
            first: Ipv4Addr::new(10, 0, 0, 200),
            last: Ipv4Addr::new(10, 0, 0, 207),
        }),
    }
}

/// The add-ons as the plan carries them.
fn planned(addons: &Addons) -> Vec<AddonSettings> {
    addons
        .settings(&decisions())
        .expect("every decision is made")
}

fn context<'a>(addons: &'a Addons, pools: &'a [PoolFacts], k3s: bool) -> CheckContext<'a> {
    CheckContext {
        distribution: if k3s { "k3s" } else { "kubeadm" },
        packaged_load_balancer: k3s,
        packaged_ingress: k3s,
        nodes: 3,
        pools: Some(pools),
        addons,
    }
}

fn services_pool() -> Vec<PoolFacts> {
    vec![PoolFacts {
        name: "services".to_owned(),
        first: Ipv4Addr::new(10, 0, 0, 200),
        last: Ipv4Addr::new(10, 0, 0, 250),
    }]
}

fn codes_and_paths(problems: &[Problem]) -> Vec<(String, String)> {
    problems
        .iter()
        .map(|problem| (problem.code.to_owned(), problem.path.to_string()))
        .collect()
}

#[test]
fn every_addon_is_listed_once_in_installation_order_under_its_key() {
    let addons = every_addon();
    assert_eq!(addons.enabled(), AddonKind::ALL);
    for kind in AddonKind::ALL {
        assert_eq!(
            serde_json::to_value(kind).expect("serialises"),
            serde_json::json!(kind.key()),
            "{kind:?}"
        );
    }
    let mut keys: Vec<&str> = AddonKind::ALL.iter().map(|kind| kind.key()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), AddonKind::ALL.len());
    // What an add-on requires is installed before it.
    for (position, kind) in AddonKind::ALL.iter().enumerate() {
        for required in kind.requires() {
            let before = AddonKind::ALL.iter().position(|other| other == required);
            assert!(before.is_some_and(|before| before < position), "{kind:?}");
        }
    }
}

#[test]
fn settings_carry_every_option_through_the_plan() {
    let addons = every_addon();
    let settings = planned(&addons);
    let kinds: Vec<AddonKind> = settings.iter().map(|setting| setting.kind()).collect();
    assert_eq!(kinds, AddonKind::ALL);
    assert_eq!(Addons::from_settings(&settings), addons);
    // The plan shows the options alone, secrets as references.
    let tailscale = serde_json::to_value(settings.last().expect("tailscale")).expect("JSON");
    assert_eq!(
        tailscale["oauth_client_secret"],
        serde_json::json!({"env": "TS_SECRET"})
    );
}

#[test]
fn a_valid_lab_has_no_problems_and_namespaces_follow_installation_order() {
    let addons = every_addon();
    let pools = services_pool();
    assert_eq!(addons.check(&context(&addons, &pools, true)), Vec::new());
    assert_eq!(
        addons.namespaces(),
        [
            "metallb-system",
            "cert-manager",
            "longhorn-system",
            "envoy-gateway-system",
            "external-secrets",
            "vault",
            "minio",
            "monitoring",
            "argocd",
            "gitlab",
            "tailscale"
        ]
    );
    assert_eq!(addons.node_packages(), ["open-iscsi", "nfs-common"]);
    assert_eq!(
        addons.image_extensions(),
        ["siderolabs/iscsi-tools", "siderolabs/util-linux-tools"]
    );
    assert_eq!(addons.kubelet_host_directories(), ["/var/lib/longhorn"]);
    for extension in addons.image_extensions() {
        assert!(labform_ids::is_extension_name(extension), "{extension}");
    }
}

#[test]
fn checks_name_the_field_below_addons() {
    let addons: Addons = serde_saphyr::from_str(
        "metallb: {pool: services, addresses: 0, reserved: [{service: a/b, address: 10.9.9.9}]}\n\
         longhorn: {replicas: 4}\n\
         gitlab: {domain: git.example}\n\
         traefik: {}\n",
    )
    .expect("parses");
    let pools = services_pool();
    assert_eq!(
        codes_and_paths(&addons.check(&context(&addons, &pools, true))),
        [
            ("invalid-size".to_owned(), "metallb.addresses".to_owned()),
            (
                "address-outside-pool".to_owned(),
                "metallb.reserved[0].address".to_owned()
            ),
            (
                "longhorn-replicas".to_owned(),
                "longhorn.replicas".to_owned()
            ),
            ("addon-dependency".to_owned(), "gitlab".to_owned()),
        ]
    );
}

#[test]
fn without_k3s_an_ingress_and_a_load_balancer_must_come_from_add_ons() {
    let addons: Addons =
        serde_saphyr::from_str("cert_manager: {}\ngitlab: {domain: git.example}\n")
            .expect("parses");
    let pools = services_pool();
    assert_eq!(
        codes_and_paths(&addons.check(&context(&addons, &pools, false))),
        [
            ("addon-needs-load-balancer".to_owned(), "gitlab".to_owned()),
            ("addon-dependency".to_owned(), "gitlab".to_owned()),
        ]
    );
    let provided: Addons = serde_saphyr::from_str(
        "metallb: {pool: services}\ncert_manager: {}\nenvoy_gateway: {}\ngitlab: {domain: git.example}\n",
    )
    .expect("parses");
    assert_eq!(
        provided.check(&context(&provided, &pools, false)),
        Vec::new()
    );
}

#[test]
fn plan_lines_read_the_facts() {
    let settings = planned(&every_addon());
    let line = |kind: AddonKind| {
        settings
            .iter()
            .find(|setting| setting.kind() == kind)
            .map(|setting| setting.plan_line(&facts()))
            .expect("present")
    };
    assert_eq!(
        line(AddonKind::Metallb),
        "L2 pool 10.0.0.200-10.0.0.207; dedicated kube-system/traefik=10.0.0.201"
    );
    assert_eq!(
        line(AddonKind::Gitlab),
        "at git.lab.example; groups for tenants alice"
    );
    assert_eq!(
        line(AddonKind::Longhorn),
        "2 replicas; open-iscsi on every node"
    );
    // Nodes without a package manager (Talos) get Longhorn's tools from their image.
    let longhorn = settings
        .iter()
        .find(|setting| setting.kind() == AddonKind::Longhorn)
        .expect("present");
    let image = ClusterFacts {
        node_software: NodeSoftware::ImageExtensions,
        ..facts()
    };
    assert_eq!(
        longhorn.plan_line(&image),
        "2 replicas; iSCSI and util-linux tools as system extensions of every node's image, /var/lib/longhorn mounted into the kubelet"
    );
}

#[test]
fn manifests_take_values_from_other_add_ons_and_list_their_secrets() {
    let manifests = manifests(&planned(&every_addon()), &facts()).expect("renders");
    let traefik = manifests
        .parts
        .iter()
        .find_map(|part| match part {
            ManifestPart::ChartValues(values) if values.name == "traefik" => Some(values),
            _ => None,
        })
        .expect("Traefik's values");
    assert_eq!(
        traefik.values["service"]["annotations"]["metallb.io/loadBalancerIPs"],
        "10.0.0.201"
    );
    let secrets: Vec<String> = manifests
        .secrets
        .iter()
        .map(|secret| format!("{}/{}", secret.namespace, secret.name))
        .collect();
    assert_eq!(
        secrets,
        [
            "external-secrets/vault-token",
            "minio/minio-tenant-alice",
            "tenant-alice/minio-credentials",
            "tailscale/operator-oauth"
        ]
    );
}

#[test]
fn an_addon_that_cannot_render_says_which() {
    let addons: Addons = serde_saphyr::from_str(
        "external_secrets: {provider: bitwarden, access_token: {env: BWS}, organization_id: x, project_id: y}\n",
    )
    .expect("parses");
    let failure = manifests(&planned(&addons), &facts()).expect_err("needs cert-manager");
    assert_eq!(failure.addon, AddonKind::ExternalSecrets);
    assert!(
        matches!(failure.error, AddonError::Unsupported(_)),
        "{failure}"
    );
    assert!(
        failure.to_string().starts_with("add-on external_secrets: "),
        "{failure}"
    );
}

#[test]
fn metallb_is_planned_only_with_its_block() {
    let metallb: Addons = serde_saphyr::from_str("metallb: {pool: services}\n").expect("parses");
    assert_eq!(
        metallb.settings(&AddonDecisions::default()),
        Err(AddonKind::Metallb),
        "no plan carries MetalLB without a block"
    );
    let settings = planned(&metallb);
    assert_eq!(
        serde_json::to_value(&settings[0]).expect("JSON"),
        serde_json::json!({"pool": "services", "block": "10.0.0.200-10.0.0.207"})
    );
    assert_eq!(Addons::from_settings(&settings), metallb);
}
