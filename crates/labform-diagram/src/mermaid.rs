//! The diagram as a Mermaid flowchart, for people who put it in their docs: one subgraph per
//! group, one node per box (its lines joined by `<br/>`), edges with their labels, and one class
//! per live status.

use std::fmt::Write as _;

use crate::graph::{Diagram, DiagramBox, Group};
use crate::status::Status;

/// Renders `diagram` as a Mermaid flowchart.
pub fn render(diagram: &Diagram) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "---\ntitle: \"{}\"\n---", escape(&diagram.title));
    out.push_str("flowchart TB\n");
    for view in &diagram.views {
        group(&mut out, view, 1);
    }
    for edge in &diagram.edges {
        let _ = writeln!(
            out,
            "  {} -->|\"{}\"| {}",
            edge.from,
            escape(&edge.label),
            edge.to
        );
    }
    if diagram.live {
        for status in Status::ALL {
            let _ = writeln!(
                out,
                "  classDef {} fill:{},stroke:{}",
                status.name(),
                status.fill(),
                status.stroke()
            );
        }
        for status in Status::ALL {
            let ids: Vec<String> = diagram
                .views
                .iter()
                .flat_map(|view| view.all_boxes())
                .filter(|diagram_box| diagram_box.status == Some(status))
                .map(|diagram_box| diagram_box.id.to_string())
                .collect();
            if !ids.is_empty() {
                let _ = writeln!(out, "  class {} {}", ids.join(","), status.name());
            }
        }
    }
    out
}

fn group(out: &mut String, group_: &Group, depth: usize) {
    let indent = "  ".repeat(depth);
    let _ = writeln!(
        out,
        "{indent}subgraph {}[\"{}\"]",
        group_.id,
        escape(&group_.label)
    );
    for inner in &group_.groups {
        group(out, inner, depth + 1);
    }
    for diagram_box in &group_.boxes {
        node(out, diagram_box, depth + 1);
    }
    let _ = writeln!(out, "{indent}end");
}

fn node(out: &mut String, diagram_box: &DiagramBox, depth: usize) {
    let indent = "  ".repeat(depth);
    let text: Vec<String> = diagram_box.lines.iter().map(|line| escape(line)).collect();
    let _ = writeln!(
        out,
        "{indent}{}[\"{}\"]",
        diagram_box.id,
        text.join("<br/>")
    );
}

/// Mermaid's entity codes for what would end a label or read as markup.
fn escape(text: &str) -> String {
    text.replace('#', "#35;")
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}
