//! The diagram as data: nested groups of boxes and the edges between boxes. The views build it
//! from the plan ([`crate::clusters`], [`crate::infrastructure`]); the formats draw it
//! ([`crate::mermaid`], [`crate::dot`], [`crate::svg`]), so every format shows the same thing.

use crate::status::Status;

/// An identifier of a box or group, unique in one diagram, made of ASCII letters, digits and
/// underscores only (every format accepts it unquoted).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ElementId(String);

impl ElementId {
    /// An identifier from parts: every character other than an ASCII letter or digit becomes an
    /// underscore, and the parts are joined by a double underscore.
    pub fn new(parts: &[&str]) -> Self {
        let mut text = String::new();
        for (index, part) in parts.iter().enumerate() {
            if index > 0 {
                text.push_str("__");
            }
            text.extend(part.chars().map(|character| {
                if character.is_ascii_alphanumeric() {
                    character
                } else {
                    '_'
                }
            }));
        }
        ElementId(text)
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ElementId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a box stands for (the formats style them apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BoxKind {
    /// One VM or template.
    Vm,
    /// Several VMs drawn as one box (a count and an ID range).
    VmGroup,
    /// A cluster instance, or several alike drawn as one.
    Cluster,
    /// A tenant, or several alike drawn as one.
    Tenant,
    /// A network (bridge and VLAN).
    Network,
    /// A storage.
    Storage,
}

impl BoxKind {
    /// The kind's name, as a CSS class and DOT shape chooser use it.
    pub fn name(self) -> &'static str {
        match self {
            BoxKind::Vm => "vm",
            BoxKind::VmGroup => "vm-group",
            BoxKind::Cluster => "cluster",
            BoxKind::Tenant => "tenant",
            BoxKind::Network => "network",
            BoxKind::Storage => "storage",
        }
    }
}

/// One box.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DiagramBox {
    /// Its identifier.
    pub id: ElementId,
    /// What it stands for.
    pub kind: BoxKind,
    /// Its text, one entry per line (the first is its name).
    pub lines: Vec<String>,
    /// What it stands for in full, for a tooltip: every VM of a collapsed group, every cluster
    /// of a group of clusters. Empty when the lines say it all.
    pub members: Vec<String>,
    /// What exists of it (live diagrams only).
    pub status: Option<Status>,
}

/// A group of boxes and groups, drawn as a frame with a title.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Group {
    /// Its identifier.
    pub id: ElementId,
    /// Its title.
    pub label: String,
    /// Groups inside it.
    pub groups: Vec<Group>,
    /// Boxes inside it.
    pub boxes: Vec<DiagramBox>,
}

impl Group {
    /// An empty group.
    pub fn new(id: ElementId, label: impl Into<String>) -> Self {
        Group {
            id,
            label: label.into(),
            groups: Vec::new(),
            boxes: Vec::new(),
        }
    }

    /// Every box in this group and the groups inside it, depth first.
    pub fn all_boxes(&self) -> Vec<&DiagramBox> {
        let mut found: Vec<&DiagramBox> = self.boxes.iter().collect();
        for group in &self.groups {
            found.extend(group.all_boxes());
        }
        found
    }
}

/// An arrow from one box to another.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Edge {
    /// Where it starts.
    pub from: ElementId,
    /// Where it points.
    pub to: ElementId,
    /// What it says.
    pub label: String,
}

/// A whole diagram: one or more views, each a top-level group, and the edges between boxes.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Diagram {
    /// The title (lab and scope).
    pub title: String,
    /// Whether boxes carry a live status (a legend is drawn).
    pub live: bool,
    /// The views, each a group.
    pub views: Vec<Group>,
    /// The edges.
    pub edges: Vec<Edge>,
}
