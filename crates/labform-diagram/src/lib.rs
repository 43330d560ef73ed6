//! The lab as pictures. From a plan (and, for a live diagram, the plan's reconciliation against
//! what exists) this crate builds a [`graph::Diagram`] of one or both views — clusters
//! ([`clusters`]: environments, add-ons, tenants and the central services they use) and
//! infrastructure ([`infrastructure`]: Proxmox endpoints, nodes, VMs with IDs and addresses,
//! storages, networks and VLANs) — and draws it as Mermaid, Graphviz DOT, or SVG laid out here,
//! or gives it as JSON.
//!
//! Big labs stay readable: alike clusters and tenants, and a busy node's VMs per role, are drawn
//! as one box with a count (and an ID range), which lists every member in its tooltip.
//!
//! Pure, like the planner: no I/O, the same plan gives the same text byte for byte.

pub mod clusters;
pub mod dot;
pub mod graph;
pub mod infrastructure;
pub mod mermaid;
pub mod status;
pub mod svg;

use labform_planner::Plan;
use labform_planner::reconcile::Reconciliation;

pub use graph::Diagram;
pub use status::{Live, Status};

/// Which view to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Clusters, environments, add-ons, tenants and central services.
    Clusters,
    /// Proxmox endpoints, nodes, VMs, storages and networks.
    Infrastructure,
    /// Both, one above the other.
    All,
}

/// How to draw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz DOT digraph.
    Dot,
    /// A standalone SVG document.
    Svg,
    /// The diagram as data (views, groups, boxes with their lines, members and status, edges),
    /// for programs.
    Json,
}

/// The diagram of `plan`'s `view`, coloured by what exists when `reconciliation` is given.
pub fn diagram(plan: &Plan, reconciliation: Option<&Reconciliation>, view: View) -> Diagram {
    let live = reconciliation.map(|reconciliation| Live::from_reconciliation(plan, reconciliation));
    let mut diagram = Diagram {
        title: format!("lab {} (scope {})", plan.lab, plan.scope),
        live: live.is_some(),
        views: Vec::new(),
        edges: Vec::new(),
    };
    if matches!(view, View::Clusters | View::All) && !plan.clusters.is_empty()
        || view == View::Clusters
    {
        let (group, edges) = clusters::view(plan, live.as_ref());
        diagram.views.push(group);
        diagram.edges = edges;
    }
    if matches!(view, View::Infrastructure | View::All) {
        diagram
            .views
            .push(infrastructure::view(plan, live.as_ref()));
    }
    diagram
}

/// Draws `diagram` in `format`.
pub fn draw(diagram: &Diagram, format: Format) -> String {
    match format {
        Format::Mermaid => mermaid::render(diagram),
        Format::Dot => dot::render(diagram),
        Format::Svg => svg::render(diagram),
        Format::Json => serde_json::to_string_pretty(diagram).expect("diagrams serialise") + "\n",
    }
}

/// The diagram of `plan`'s `view` in `format` (see [`diagram`] and [`draw`]).
pub fn render(
    plan: &Plan,
    reconciliation: Option<&Reconciliation>,
    view: View,
    format: Format,
) -> String {
    draw(&diagram(plan, reconciliation, view), format)
}
