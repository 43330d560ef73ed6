//! What `labform plan` says of a kubeadm cluster (the v1.20 lab: three control planes with a
//! taint, workers with `api_labels`): every step apply takes, among them the groups'
//! `api_labels` set through the API once the nodes are Ready and what a changed kubeadm
//! configuration does on nodes already in the cluster, with the rules the plan carries for
//! apply to look up.

mod common;

use common::{only_cluster, planned};
use labform_kubeadm::reconfigure::{ConfigurationPart, KubeadmSettings, ReconfigurationEffect};
use labform_planner::plan::DistributionSettings;

#[test]
fn the_plan_says_the_api_labels_and_the_reapply_rules() {
    let plan = planned("tests/kubeadm-v1-20");
    let cluster = only_cluster(&plan);
    let text = labform_planner::render(&plan, true);
    let steps: Vec<String> = cluster
        .steps
        .iter()
        .map(|step| match &step.target {
            Some(target) => format!("{} [{target}]", step.action),
            None => step.action.clone(),
        })
        .collect();
    for step in &steps {
        assert!(
            text.contains(step.as_str()),
            "the rendered plan shows {step}"
        );
    }
    insta::assert_snapshot!("kubeadm-v1-20-steps", steps.join("\n"));

    let labelled = steps
        .iter()
        .find(|step| step.starts_with("label group worker through the API"))
        .expect("the api_labels step");
    assert!(
        labelled.ends_with("node-role.kubernetes.io/worker=true [kube-worker-0, kube-worker-1]")
    );
    let ready = steps
        .iter()
        .position(|step| step.starts_with("wait until the API answers"))
        .expect("readiness");
    let labelling = steps
        .iter()
        .position(|step| step == labelled)
        .expect("labelling");
    assert!(
        ready < labelling,
        "labels through the API once the nodes are Ready"
    );

    // The rules are the plan's: apply reads them from here.
    let DistributionSettings::Kubeadm(settings) = &cluster.settings else {
        panic!("kubeadm settings");
    };
    assert_eq!(*settings, KubeadmSettings::planned());
    for (part, effect) in [
        (
            ConfigurationPart::NodeLabels,
            ReconfigurationEffect::ThroughApi,
        ),
        (
            ConfigurationPart::NodeTaints,
            ReconfigurationEffect::ThroughApi,
        ),
        (
            ConfigurationPart::ControlPlaneDefaultTaint,
            ReconfigurationEffect::Refused,
        ),
        (
            ConfigurationPart::KubernetesVersion,
            ReconfigurationEffect::Upgrade,
        ),
        (
            ConfigurationPart::ControlPlaneWait,
            ReconfigurationEffect::NextKubeadmRun,
        ),
        (
            ConfigurationPart::ClusterShape,
            ReconfigurationEffect::Refused,
        ),
    ] {
        assert_eq!(settings.effect(part), effect, "{part:?}");
        let said = part.describe();
        assert!(text.contains(said), "the plan names {said}");
    }
    let json = serde_json::to_value(cluster).expect("JSON");
    assert_eq!(
        json["settings"]["kubeadm"]["reconfiguration"][1],
        serde_json::json!({"part": "node-taints", "effect": "through-api"})
    );
}
