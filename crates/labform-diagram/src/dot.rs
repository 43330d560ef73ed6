//! The diagram as Graphviz DOT: one `cluster_` subgraph per group, one box per box (its
//! members in the tooltip), edges with their labels, fill colours by live status.

use std::fmt::Write as _;

use crate::graph::{Diagram, DiagramBox, Group};
use crate::status::Status;

/// Renders `diagram` as a DOT digraph.
pub fn render(diagram: &Diagram) -> String {
    let mut out = String::new();
    out.push_str("digraph labform {\n");
    let _ = writeln!(
        out,
        "  graph [label=\"{}\", labelloc=t, fontname=\"sans-serif\", rankdir=TB, newrank=true];",
        escape(&diagram.title)
    );
    out.push_str(
        "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"sans-serif\", fontsize=10];\n",
    );
    out.push_str("  edge [fontname=\"sans-serif\", fontsize=9];\n");
    for view in &diagram.views {
        group(&mut out, view, 1);
    }
    for edge in &diagram.edges {
        let _ = writeln!(
            out,
            "  {} -> {} [label=\"{}\"];",
            edge.from,
            edge.to,
            escape(&edge.label)
        );
    }
    if diagram.live {
        out.push_str("  subgraph cluster_legend {\n    label=\"legend\";\n");
        for status in Status::ALL {
            let _ = writeln!(
                out,
                "    legend_{0} [label=\"{0}\", fillcolor=\"{1}\", color=\"{2}\"];",
                status.name(),
                status.fill(),
                status.stroke()
            );
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    out
}

fn group(out: &mut String, group_: &Group, depth: usize) {
    let indent = "  ".repeat(depth);
    let _ = writeln!(out, "{indent}subgraph cluster_{} {{", group_.id);
    let _ = writeln!(out, "{indent}  label=\"{}\";", escape(&group_.label));
    for inner in &group_.groups {
        group(out, inner, depth + 1);
    }
    for diagram_box in &group_.boxes {
        node(out, diagram_box, depth + 1);
    }
    let _ = writeln!(out, "{indent}}}");
}

fn node(out: &mut String, diagram_box: &DiagramBox, depth: usize) {
    let indent = "  ".repeat(depth);
    let label: Vec<String> = diagram_box.lines.iter().map(|line| escape(line)).collect();
    let mut attributes = format!("label=\"{}\"", label.join("\\n"));
    if !diagram_box.members.is_empty() {
        let members: Vec<String> = diagram_box
            .members
            .iter()
            .map(|member| escape(member))
            .collect();
        let _ = write!(attributes, ", tooltip=\"{}\"", members.join("\\n"));
    }
    if let Some(status) = diagram_box.status {
        let _ = write!(
            attributes,
            ", fillcolor=\"{}\", color=\"{}\"",
            status.fill(),
            status.stroke()
        );
    }
    let _ = writeln!(out, "{indent}{} [{attributes}];", diagram_box.id);
}

/// A DOT double-quoted string's escapes.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
