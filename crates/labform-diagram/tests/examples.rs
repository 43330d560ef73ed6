//! The diagrams of every example lab: Mermaid and DOT as snapshots (what people paste into their
//! docs), the SVG parsed by an XML parser and checked to name every VM and template, the DOT
//! laid out by Graphviz's `dot` and the Mermaid drawn by Mermaid itself (tiers `graphviz` and
//! `mermaid`), and a live diagram coloured from a hand-made reconciliation.

use std::path::{Path, PathBuf};

use labform_diagram::{Format, View};
use labform_planner::reconcile::{Conflict, FieldChange, Reconciliation, VmAction, VmChange};
use labform_planner::{Allocations, Plan};

/// Every example lab: its name for snapshots and its file, relative to `examples/`.
const EXAMPLES: [(&str, &str); 6] = [
    ("seed-000", "seed-000.yaml"),
    ("seed-001", "seed-001.yaml"),
    ("seed-002", "seed-002.yaml"),
    ("seed-003", "seed-003.yaml"),
    ("seed-004", "seed-004.yaml"),
    ("scale", "scale/lab.yaml"),
];

fn examples_directory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Loads and plans an example with its lock file.
fn planned(file: &str) -> Plan {
    let path = examples_directory().join(file);
    let loaded = labform_model::load(&labform_model::RealFileSystem, &path);
    let lab = loaded
        .lab
        .unwrap_or_else(|| panic!("{file} loads: {:?}", loaded.diagnostics));
    let lock = std::fs::read_to_string(path.with_extension("lock")).expect("lock file");
    let allocations: Allocations = serde_json::from_str(&lock).expect("lock parses");
    labform_planner::plan(&lab, &allocations)
        .plan
        .unwrap_or_else(|| panic!("{file} plans"))
}

#[test]
fn mermaid_of_every_example() {
    for (name, file) in EXAMPLES {
        let plan = planned(file);
        let text = labform_diagram::render(&plan, None, View::All, Format::Mermaid);
        insta::assert_snapshot!(format!("{name}.mermaid"), text);
    }
}

#[test]
fn dot_of_every_example() {
    for (name, file) in EXAMPLES {
        let plan = planned(file);
        let text = labform_diagram::render(&plan, None, View::All, Format::Dot);
        insta::assert_snapshot!(format!("{name}.dot"), text);
    }
}

/// Every text of the document: element text and `<title>`s, one string.
fn all_text(document: &roxmltree::Document) -> String {
    let mut text = String::new();
    for node in document.descendants().filter(|node| node.is_text()) {
        text.push_str(node.text().unwrap_or_default());
        text.push('\n');
    }
    text
}

/// Names in the text: whole lines, or what a collapsed group's member line starts with.
fn named(text: &str, name: &str) -> bool {
    text.lines().any(|line| {
        line == name
            || line
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(" (ID "))
    })
}

#[test]
fn svg_of_every_example_is_xml_and_names_every_vm() {
    for (name, file) in EXAMPLES {
        let plan = planned(file);
        for view in [View::All, View::Infrastructure] {
            let svg = labform_diagram::render(&plan, None, view, Format::Svg);
            let document = roxmltree::Document::parse(&svg)
                .unwrap_or_else(|error| panic!("{name}: the SVG is not XML: {error}"));
            let root = document.root_element();
            assert_eq!(root.tag_name().name(), "svg", "{name}");
            assert_eq!(
                root.tag_name().namespace(),
                Some("http://www.w3.org/2000/svg"),
                "{name}"
            );
            let text = all_text(&document);
            for vm in &plan.vms {
                assert!(
                    named(&text, &vm.name),
                    "{name}: VM {} is not named",
                    vm.name
                );
            }
            for template in &plan.templates {
                assert!(
                    named(&text, &template.name),
                    "{name}: template {} is not named",
                    template.name
                );
            }
        }
    }
}

#[test]
fn the_scale_example_is_collapsed() {
    let plan = planned("scale/lab.yaml");
    let diagram = labform_diagram::diagram(&plan, None, View::All);
    let boxes: usize = diagram
        .views
        .iter()
        .map(|view| view.all_boxes().len())
        .sum();
    assert!(plan.vms.len() >= 2000);
    assert!(
        boxes < 300,
        "{boxes} boxes for {} VMs is a hairball",
        plan.vms.len()
    );
    assert!(
        diagram.edges.len() < 20,
        "{} edges for the scale lab",
        diagram.edges.len()
    );
}

/// Graphviz lays the DOT of every example out as SVG (tier `graphviz`). About ten seconds for
/// all six.
#[test]
fn graphviz_reads_the_dot_of_every_example() {
    if !labform_test_tiers::GRAPHVIZ.available() {
        return;
    }
    let directory = tempfile_directory("graphviz");
    for (name, file) in EXAMPLES {
        let plan = planned(file);
        let dot = labform_diagram::render(&plan, None, View::All, Format::Dot);
        let input = directory.join(format!("{name}.dot"));
        std::fs::write(&input, dot).expect("write the DOT file");
        let output = std::process::Command::new("dot")
            .arg("-Tsvg")
            .arg(&input)
            .output()
            .expect("dot runs");
        assert!(
            output.status.success(),
            "{name}: dot refused the DOT: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let svg = String::from_utf8(output.stdout).expect("UTF-8");
        let options = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..roxmltree::ParsingOptions::default()
        };
        let document =
            roxmltree::Document::parse_with_options(&svg, options).expect("dot's SVG is XML");
        // Graphviz puts a box's tooltip (a collapsed group's members) in `xlink:title`.
        let mut text = all_text(&document);
        for node in document.descendants() {
            for attribute in node.attributes() {
                text.push_str(attribute.value());
                text.push('\n');
            }
        }
        for vm in plan.vms.iter().take(50) {
            assert!(
                text.contains(&vm.name),
                "{name}: dot's SVG lacks {}",
                vm.name
            );
        }
    }
    std::fs::remove_dir_all(&directory).expect("clean up");
}

/// Mermaid itself (mermaid-cli's `mmdc`, which renders in Debian's headless `chromium`) draws
/// the chart of every example and the live one, and every box's first line (a VM's name, or a
/// collapsed group's count) is in the SVG it draws (tier `mermaid`). About four seconds a chart.
#[test]
fn mermaid_draws_the_chart_of_every_example() {
    if !labform_test_tiers::MERMAID.available() {
        return;
    }
    let mmdc = labform_test_tiers::mermaid_cli().expect("the tier needs mmdc");
    let directory = tempfile_directory("mermaid");
    // Chromium refuses to start as root without --no-sandbox.
    let configuration = directory.join("puppeteer.json");
    std::fs::write(
        &configuration,
        serde_json::json!({"executablePath": "/usr/bin/chromium", "args": ["--no-sandbox"]})
            .to_string(),
    )
    .expect("write puppeteer's configuration");
    let seed_000 = planned("seed-000.yaml");
    let live = hand_made_reconciliation(&seed_000);
    let mut charts: Vec<(String, Plan, Option<Reconciliation>)> = EXAMPLES
        .iter()
        .map(|(name, file)| (name.to_string(), planned(file), None))
        .collect();
    charts.push(("seed-000.live".to_string(), seed_000, Some(live)));
    for (name, plan, reconciliation) in &charts {
        let diagram = labform_diagram::diagram(plan, reconciliation.as_ref(), View::All);
        let input = directory.join(format!("{name}.mmd"));
        let output = directory.join(format!("{name}.svg"));
        std::fs::write(&input, labform_diagram::draw(&diagram, Format::Mermaid))
            .expect("write the chart");
        let run = std::process::Command::new(&mmdc)
            .arg("--quiet")
            .arg("--puppeteerConfigFile")
            .arg(&configuration)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(&output)
            .output()
            .expect("mmdc runs");
        assert!(
            run.status.success(),
            "{name}: Mermaid refused the chart: {}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        let svg = std::fs::read_to_string(&output).expect("mmdc wrote the SVG");
        let document = roxmltree::Document::parse(&svg).expect("Mermaid's SVG is XML");
        let text = all_text(&document);
        for view in &diagram.views {
            for diagram_box in view.all_boxes() {
                let first = &diagram_box.lines[0];
                assert!(
                    text.contains(first.as_str()),
                    "{name}: Mermaid did not draw {first}"
                );
            }
        }
    }
    std::fs::remove_dir_all(&directory).expect("clean up");
}

/// A directory of this test process for the test `name`.
fn tempfile_directory(name: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("labform-diagram-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temporary directory");
    directory
}

/// A reconciliation of seed-000 where the first VM exists, the second drifted, the third is
/// missing, the fourth's ID is held by someone else, and an owned VM left the lab.
fn hand_made_reconciliation(plan: &Plan) -> Reconciliation {
    let mut changes = Vec::new();
    for template in &plan.templates {
        changes.push(VmChange {
            name: template.name.clone(),
            vm_id: template.vm_id,
            endpoint: template.endpoint.clone(),
            node: template.node.clone(),
            template: true,
            action: VmAction::Unchanged,
        });
    }
    for (index, vm) in plan.vms.iter().enumerate() {
        let action = match index {
            1 => VmAction::Update {
                changes: vec![FieldChange {
                    field: "memory".to_string(),
                    observed: Some("1024".to_string()),
                    desired: Some(vm.memory_mib.to_string()),
                    drift: true,
                    effect: labform_planner::reconcile::Effect::NextBoot,
                }],
            },
            2 | 3 => VmAction::Create,
            _ => VmAction::Unchanged,
        };
        changes.push(VmChange {
            name: vm.name.clone(),
            vm_id: vm.vm_id,
            endpoint: vm.endpoint.clone(),
            node: vm.node.clone(),
            template: false,
            action,
        });
    }
    let first = &plan.vms[0];
    changes.push(VmChange {
        name: "old-vm".to_string(),
        vm_id: labform_planner::plan::VmId::new(9999).expect("a VM ID"),
        endpoint: first.endpoint.clone(),
        node: first.node.clone(),
        template: false,
        action: VmAction::Delete { protected: false },
    });
    let fourth = &plan.vms[3];
    Reconciliation {
        changes,
        conflicts: vec![Conflict {
            endpoint: fourth.endpoint.clone(),
            vm_id: fourth.vm_id,
            planned: fourth.name.clone(),
            holder: "someone-else (not owned)".to_string(),
        }],
        tenants: Vec::new(),
        tenant_conflicts: Vec::new(),
        backup_jobs: Vec::new(),
        backup_job_conflicts: Vec::new(),
    }
}

#[test]
fn live_diagram_colours_by_what_exists() {
    let plan = planned("seed-000.yaml");
    let reconciliation = hand_made_reconciliation(&plan);
    let mermaid = labform_diagram::render(&plan, Some(&reconciliation), View::All, Format::Mermaid);
    insta::assert_snapshot!("seed-000.live.mermaid", mermaid);
    let dot = labform_diagram::render(&plan, Some(&reconciliation), View::All, Format::Dot);
    insta::assert_snapshot!("seed-000.live.dot", dot);
    let svg = labform_diagram::render(&plan, Some(&reconciliation), View::All, Format::Svg);
    let document = roxmltree::Document::parse(&svg).expect("XML");
    let class_of = |name: &str| {
        document
            .descendants()
            .filter(|node| node.has_tag_name("g"))
            .find(|node| {
                node.children()
                    .find(|child| child.has_tag_name("title"))
                    .and_then(|title| title.text())
                    .is_some_and(|text| text.lines().next() == Some(name))
            })
            .and_then(|node| node.attribute("class"))
            .unwrap_or_else(|| panic!("a box for {name}"))
            .to_string()
    };
    assert!(class_of(&plan.vms[0].name).contains("status-exists"));
    assert!(class_of(&plan.vms[1].name).contains("status-drifted"));
    assert!(class_of(&plan.vms[2].name).contains("status-missing"));
    assert!(class_of(&plan.vms[3].name).contains("status-conflict"));
    assert!(class_of("old-vm").contains("status-extra"));
}
