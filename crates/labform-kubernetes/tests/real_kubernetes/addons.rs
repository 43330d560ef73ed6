//! Add-on manifests on the real server: a dropped add-on's objects deleted (K3s's kinds as
//! CRDs), a broken manifest deleting nothing, and manifests applied server-side as kubeadm
//! clusters get them.

use super::*;

/// K3s's `HelmChart` and `Addon` kinds, as CRDs (as K3s itself serves them).
const K3S_CRDS: &str = r"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: helmcharts.helm.cattle.io
spec:
  group: helm.cattle.io
  scope: Namespaced
  names: {kind: HelmChart, plural: helmcharts, singular: helmchart, listKind: HelmChartList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: addons.k3s.cattle.io
spec:
  group: k3s.cattle.io
  scope: Namespaced
  names: {kind: Addon, plural: addons, singular: addon, listKind: AddonList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
";

const METALLB: &str = r"# MetalLB, as labform renders it
apiVersion: v1
kind: Namespace
metadata:
  name: labform-metallb
---
apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata:
  name: metallb
  namespace: kube-system
spec:
  chart: metallb
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: metallb-settings
  namespace: labform-metallb
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: never-created
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: labform
  namespace: labform-metallb
---
apiVersion: v1
kind: Frobnicator
metadata:
  name: x
";

#[tokio::test]
async fn removing_an_addon_deletes_its_objects_from_the_real_server() {
    let Some(cluster) = real_cluster() else {
        return;
    };
    apply(cluster, K3S_CRDS);
    kubectl(
        cluster,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=600s",
            "crd/helmcharts.helm.cattle.io",
            "crd/addons.k3s.cattle.io",
        ],
    );
    let _ = cluster.kubectl(&["delete", "namespace", "labform-metallb", "--wait=true"]);
    apply(
        cluster,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: labform-metallb\n---\n\
         apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata:\n  name: metallb\n  namespace: kube-system\nspec:\n  chart: metallb\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: metallb-settings\n  namespace: labform-metallb\n---\n\
         apiVersion: k3s.cattle.io/v1\nkind: Addon\nmetadata:\n  name: 40-metallb\n  namespace: kube-system\nspec:\n  source: /var/lib/rancher/k3s/server/manifests/40-metallb.yaml\n---\n\
         apiVersion: k3s.cattle.io/v1\nkind: Addon\nmetadata:\n  name: 50-cert-manager\n  namespace: kube-system\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: labform-metallb\n  finalizers: [labform.dev/hold]\n",
    );
    let api = connect(cluster).await;

    let report = api.remove_addon("40-metallb.yaml", METALLB).await.unwrap();
    insta::assert_snapshot!(report.to_string(), @r"
    not deleted: Frobnicator x (v1): the cluster serves API version v1 but no kind Frobnicator in it
    not deleted: IPAddressPool labform-metallb/labform (metallb.io/v1beta1): the cluster does not serve API version metallb.io/v1beta1
    already absent: ConfigMap never-created (v1)
    deleted ConfigMap labform-metallb/metallb-settings (v1)
    deleted HelmChart kube-system/metallb (helm.cattle.io/v1)
    deleted Namespace labform-metallb (v1)
    deleted Addon kube-system/40-metallb (k3s.cattle.io/v1)
    ");
    let gone = |arguments: &[&str]| {
        cluster
            .kubectl(arguments)
            .is_err_and(|error| error.contains("NotFound"))
    };
    assert!(gone(&["-n", "kube-system", "get", "helmchart", "metallb"]));
    assert!(gone(&["-n", "kube-system", "get", "addon", "40-metallb"]));
    assert!(!gone(&[
        "-n",
        "kube-system",
        "get",
        "addon",
        "50-cert-manager"
    ]));

    // Running it again while the namespace is still being emptied (a finalizer holds one of
    // its ConfigMaps) fails on nothing: the server accepts a second deletion of a namespace
    // that is terminating.
    let again = api.remove_addon("40-metallb.yaml", METALLB).await.unwrap();
    insta::assert_snapshot!(again.to_string(), @r"
    not deleted: Frobnicator x (v1): the cluster serves API version v1 but no kind Frobnicator in it
    not deleted: IPAddressPool labform-metallb/labform (metallb.io/v1beta1): the cluster does not serve API version metallb.io/v1beta1
    already absent: ConfigMap never-created (v1)
    already absent: ConfigMap labform-metallb/metallb-settings (v1)
    already absent: HelmChart kube-system/metallb (helm.cattle.io/v1)
    deleted Namespace labform-metallb (v1)
    already absent: Addon kube-system/40-metallb (k3s.cattle.io/v1)
    ");
    kubectl(
        cluster,
        &[
            "-n",
            "labform-metallb",
            "patch",
            "configmap",
            "held",
            "--type=merge",
            "-p",
            "{\"metadata\":{\"finalizers\":null}}",
        ],
    );
    eventually("namespace labform-metallb to be gone", || {
        gone(&["get", "namespace", "labform-metallb"]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_broken_manifest_deletes_nothing_on_the_real_server() {
    let Some(cluster) = real_cluster() else {
        return;
    };
    apply(
        cluster,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: labform-kept\n  namespace: default\n",
    );
    let api = connect(cluster).await;
    let error = api
        .delete_objects("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: labform-kept\n  namespace: default\n---\nkind: ConfigMap\nmetadata:\n  name: b\n")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "manifest manifest, document 2: an object has no apiVersion"
    );
    kubectl(
        cluster,
        &["-n", "default", "get", "configmap", "labform-kept"],
    );
}

/// What kubeadm clusters get through the API instead of K3s's auto-deploy directory: a
/// manifest applied server-side (a CRD among its objects) and applied again with a change, the
/// CRD Established and an object of it applied, a kind the server does not serve refused with
/// the manifest and document named, and a node label set.
#[tokio::test]
async fn manifests_are_applied_server_side_on_the_real_server() {
    let Some(cluster) = real_cluster() else {
        return;
    };
    let api = connect(cluster).await;
    let namespace = "labform-apply";
    let crd = "widgets.apply.labform.dev";
    let _ = cluster.kubectl(&["delete", "namespace", namespace, "--wait=true"]);
    let _ = cluster.kubectl(&["delete", "crd", crd, "--wait=true"]);
    let manifest = |colour: &str| {
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {namespace}\ndata:\n  colour: {colour}\n---\n\
             apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: {crd}\n\
             spec:\n  group: apply.labform.dev\n  scope: Namespaced\n  names:\n    plural: widgets\n    singular: widget\n    kind: Widget\n\
             \x20 versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n"
        )
    };
    assert_eq!(
        api.apply_manifest("00-settings.yaml", &manifest("blue"))
            .await
            .expect("applied"),
        3
    );
    let colour = || {
        kubectl(
            cluster,
            &[
                "-n",
                namespace,
                "get",
                "configmap",
                "settings",
                "-o",
                "jsonpath={.data.colour}",
            ],
        )
    };
    assert_eq!(colour(), "blue");
    let managers = kubectl(
        cluster,
        &[
            "-n",
            namespace,
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ],
    );
    assert!(
        managers.split(' ').any(|manager| manager == "labform"),
        "{managers}"
    );
    api.apply_manifest("00-settings.yaml", &manifest("green"))
        .await
        .expect("applied again");
    assert_eq!(colour(), "green");

    api.wait_crds_established(&[crd], PATIENCE, POLL)
        .await
        .expect("the CRD is Established");
    let widget = format!(
        "apiVersion: apply.labform.dev/v1\nkind: Widget\nmetadata:\n  name: first\n  namespace: {namespace}\nsize: 3\n"
    );
    assert_eq!(
        api.apply_manifest("01-widget.yaml", &widget)
            .await
            .expect("the new kind is served"),
        1
    );
    assert_eq!(
        kubectl(
            cluster,
            &[
                "-n",
                namespace,
                "get",
                "widgets",
                "first",
                "-o",
                "jsonpath={.size}"
            ]
        ),
        "3"
    );

    let error = api
        .apply_manifest(
            "02-gadget.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: labform-apply\n---\napiVersion: apply.labform.dev/v9\nkind: Gadget\nmetadata:\n  name: x\n",
        )
        .await
        .expect_err("no such kind")
        .to_string();
    assert!(
        error.starts_with("manifest 02-gadget.yaml, document 2:") && error.contains("v9"),
        "{error}"
    );

    api.label_node(NODE_NAME, "apply.labform.dev/tested", "true")
        .await
        .expect("labelled");
    assert_eq!(
        kubectl(
            cluster,
            &[
                "get",
                "node",
                NODE_NAME,
                "-o",
                "jsonpath={.metadata.labels.apply\\.labform\\.dev/tested}"
            ],
        ),
        "true"
    );
    let _ = cluster.kubectl(&["label", "node", NODE_NAME, "apply.labform.dev/tested-"]);
    let _ = cluster.kubectl(&["delete", "namespace", namespace, "--wait=false"]);
    let _ = cluster.kubectl(&["delete", "crd", crd, "--wait=false"]);
}
