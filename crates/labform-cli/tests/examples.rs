//! Every example lab validates and plans; its plan (text and JSON) is snapshotted, and planning it
//! against its committed lock file changes nothing (allocations are stable across releases).

use std::path::{Path, PathBuf};

use labform_model::diagnostic::render_all;
use labform_model::{RealFileSystem, Severity, load};
use labform_planner::Allocations;

fn examples() -> Vec<PathBuf> {
    let root = Path::new("../../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("examples/ exists")
        .map(|entry| entry.expect("readable").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    files.push(root.join("scale/lab.yaml"));
    files.sort();
    files
}

#[test]
fn every_reference_lab_has_an_example() {
    let names: Vec<String> = examples()
        .iter()
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for seed in ["seed-000", "seed-001", "seed-002", "seed-003", "seed-004"] {
        assert!(
            names.iter().any(|name| name == seed),
            "examples/{seed}.yaml is missing"
        );
    }
}

#[test]
fn examples_validate_plan_and_match_their_snapshots() {
    for path in examples() {
        let loaded = load(&RealFileSystem, &path);
        let rendered = render_all(&loaded.diagnostics, &loaded.sources);
        let lab = loaded
            .lab
            .unwrap_or_else(|| panic!("{} does not load:\n{rendered}", path.display()));
        let planned = labform_planner::plan(&lab, &Allocations::empty());
        let errors: Vec<_> = planned
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        assert!(
            errors.is_empty(),
            "{} has errors:\n{}",
            path.display(),
            render_all(&planned.diagnostics, &loaded.sources)
        );
        let plan = planned.plan.expect("no errors, so a plan");
        let name = path
            .to_string_lossy()
            .trim_start_matches("../../examples/")
            .replace(['/', '.'], "-");
        if name.starts_with("scale") {
            assert_eq!(plan.summary.vms, 2000, "the scale lab has 2,000 VMs");
            assert!(plan.clusters.len() >= 100 && plan.tenants.len() >= 100);
            // Too large for a readable snapshot: a digest of the JSON pins it instead.
            let json = serde_json::to_string(&plan).unwrap();
            insta::assert_snapshot!(
                name.as_str(),
                format!("{} bytes of JSON\nsummary: {:?}", json.len(), plan.summary)
            );
        } else {
            insta::assert_snapshot!(
                format!("{name}-text").as_str(),
                labform_planner::render(&plan, true)
            );
            insta::assert_json_snapshot!(format!("{name}-json").as_str(), plan);
        }
        // The committed lock file records these allocations: planning with it changes nothing.
        let lock_path = path.with_extension("lock");
        let lock: Allocations = serde_json::from_str(
            &std::fs::read_to_string(&lock_path)
                .unwrap_or_else(|_| panic!("{} is missing", lock_path.display())),
        )
        .expect("valid lock file");
        let replanned = labform_planner::plan(&lab, &lock);
        assert_eq!(
            replanned.allocations,
            lock,
            "{} is stale",
            lock_path.display()
        );
        assert_eq!(
            replanned.plan.as_ref(),
            Some(&plan),
            "planning with the lock changed the plan"
        );
    }
}
