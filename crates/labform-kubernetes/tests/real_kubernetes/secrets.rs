//! The Secrets add-ons read, made, updated and removed (only labform's), and tenants'
//! namespaces, ServiceAccounts and tokens as rendered from seed 000.

use super::*;

fn wanted_secret(namespace: &str, name: &str, pairs: &[(&str, &str)]) -> WantedSecret {
    WantedSecret {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        data: pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), SecretString::from(*value)))
            .collect(),
        labels: [("labform.dev/purpose".to_owned(), "test".to_owned())].into(),
    }
}

fn secret_field(cluster: &RealCluster, namespace: &str, name: &str, path: &str) -> String {
    kubectl(
        cluster,
        &[
            "-n",
            namespace,
            "get",
            "secret",
            name,
            "-o",
            &format!("jsonpath={path}"),
        ],
    )
}

#[tokio::test]
async fn secrets_are_made_updated_and_removed_on_the_real_server_and_only_labform_s() {
    let Some(cluster) = real_cluster() else {
        return;
    };
    let certificates = "labform-secrets-certs";
    let storage = "labform-secrets-minio";
    for namespace in [certificates, storage] {
        let _ = cluster.kubectl(&["delete", "namespace", namespace, "--wait=true"]);
    }
    apply(
        cluster,
        &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {certificates}\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata:\n  name: alice-token\n  namespace: {certificates}\n  labels:\n    app.kubernetes.io/managed-by: labform\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata:\n  name: theirs\n  namespace: {certificates}\ndata:\n  k: dmFsdWU=\n"
        ),
    );
    let api = connect(cluster).await;
    let wanted = vec![
        wanted_secret(
            certificates,
            "cloudflare-token",
            &[("api-token", "cf-secret-1")],
        ),
        wanted_secret(
            storage,
            "minio-root",
            &[("rootUser", "admin"), ("rootPassword", "pw-1")],
        ),
    ];
    let changes = api.converge_secrets(&wanted).await.expect("made");
    assert_eq!(
        changes.created,
        [
            format!("{certificates}/cloudflare-token"),
            format!("{storage}/minio-root")
        ]
    );
    assert_eq!(
        kubectl(
            cluster,
            &[
                "get",
                "namespace",
                storage,
                "-o",
                "jsonpath={.metadata.labels.app\\.kubernetes\\.io/managed-by}"
            ]
        ),
        "labform"
    );
    assert_eq!(
        secret_field(cluster, storage, "minio-root", "{.data.rootPassword}"),
        "cHctMQ=="
    );
    assert_eq!(
        secret_field(cluster, storage, "minio-root", "{.type}"),
        "Opaque"
    );
    let read = api
        .read_secret(storage, "minio-root")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read["rootUser"].expose_secret(), "admin");

    let again = api.converge_secrets(&wanted).await.expect("converged");
    assert!(!again.changed(), "{again:?}");
    assert_eq!(again.unchanged.len(), 2);

    let changed = vec![wanted_secret(
        storage,
        "minio-root",
        &[("rootPassword", "pw-2")],
    )];
    let changes = api.converge_secrets(&changed).await.expect("converged");
    assert_eq!(changes.updated, [format!("{storage}/minio-root")]);
    assert_eq!(
        changes.deleted,
        [format!("{certificates}/cloudflare-token")]
    );
    assert_eq!(
        secret_field(cluster, storage, "minio-root", "{.data}"),
        "{\"rootPassword\":\"cHctMg==\"}"
    );
    assert!(
        cluster
            .kubectl(&["-n", certificates, "get", "secret", "cloudflare-token"])
            .is_err_and(|error| error.contains("NotFound"))
    );
    kubectl(cluster, &["-n", certificates, "get", "secret", "theirs"]);
    kubectl(
        cluster,
        &["-n", certificates, "get", "secret", "alice-token"],
    );
    assert!(api.read_secret(storage, "absent").await.unwrap().is_none());

    for namespace in [certificates, storage] {
        kubectl(cluster, &["delete", "namespace", namespace, "--wait=false"]);
    }
}

#[tokio::test]
async fn tenants_get_their_namespace_service_account_and_token_on_the_real_server() {
    let Some(cluster) = real_cluster() else {
        return;
    };
    let (_, plan) = common::planned("examples/seed-000");
    let hosting = plan
        .clusters
        .iter()
        .find(|planned| !planned.tenant_access.is_empty())
        .expect("seed 000 has a cluster whose services tenants use");
    let manifests = labform_kubernetes::addon_manifests(&plan, hosting).unwrap();
    let access = manifests
        .files
        .iter()
        .find(|file| file.name == "tenant-access")
        .expect("a tenant-access manifest");
    // What K3s's deploy controller does with the file.
    apply(cluster, &access.to_yaml(&hosting.name).unwrap());

    let api = connect(cluster).await;
    for tenant in &hosting.tenant_access {
        // The token controller fills the token Secret in.
        eventually(&format!("{}'s token", tenant.tenant), || {
            let token = cluster
                .kubectl(&[
                    "-n",
                    &tenant.namespace,
                    "get",
                    "secret",
                    &tenant.token_secret,
                    "-o",
                    "jsonpath={.data.token}",
                ])
                .ok()?;
            (!token.is_empty()).then_some(())
        })
        .await;
        let data = api
            .read_secret(&tenant.namespace, &tenant.token_secret)
            .await
            .unwrap()
            .expect("the token Secret exists");
        assert!(!data["token"].expose_secret().is_empty());
        assert!(data.contains_key("ca.crt"));

        // `edit` in its own namespace, nothing elsewhere.
        let account = format!(
            "--as=system:serviceaccount:{}:{}",
            tenant.namespace, tenant.service_account
        );
        // `kubectl auth can-i` answers "no" with exit status 1.
        let can = |namespace: &str, verb: &str, resource: &str| match cluster
            .kubectl(&["auth", "can-i", verb, resource, "-n", namespace, &account])
        {
            Ok(answer) => answer.trim() == "yes",
            Err(error) => {
                assert!(!error.contains("error:"), "{error}");
                false
            }
        };
        assert!(can(&tenant.namespace, "create", "deployments"));
        assert!(can(&tenant.namespace, "delete", "configmaps"));
        assert!(!can("default", "create", "deployments"));
        assert!(!can("kube-system", "get", "secrets"));
        assert!(!can(&tenant.namespace, "create", "rolebindings"));
    }
}
