//! The Helm controller's manifest for clusters without K3s, as people review it (snapshot).
//! Its validation by kubernetes-validate is in `validators.rs`.

use labform_kubernetes::helm_controller_manifest;

#[test]
fn the_helm_controller_manifest_is_stable() {
    let text = helm_controller_manifest()
        .to_yaml("helm-controller")
        .expect("YAML");
    insta::assert_snapshot!("helm-controller", text);
}
