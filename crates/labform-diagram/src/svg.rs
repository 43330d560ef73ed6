//! The diagram as SVG, laid out by labform itself (no outside program): each group's boxes and
//! groups flow left to right in rows no wider than the group allows, groups nest as frames with
//! their title, edges are straight arrows between box centres. Every box has a `<title>` with
//! its lines and members, so a collapsed box still names each VM it stands for (a tooltip in a
//! browser, text for a test).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::graph::{Diagram, DiagramBox, ElementId, Group};
use crate::status::Status;

/// Width of a character of the monospace font at 12 pixels, rounded up.
const CHARACTER_WIDTH: f64 = 7.3;
/// Height of a line of text.
const LINE_HEIGHT: f64 = 15.0;
/// Space around a box's text.
const BOX_PADDING: f64 = 7.0;
/// Space inside a group's frame, and between what it holds.
const GROUP_PADDING: f64 = 10.0;
/// Height of a group's title.
const GROUP_HEADER: f64 = 22.0;
/// The widest a top-level view grows before wrapping.
const VIEW_WIDTH: f64 = 2400.0;
/// The widest a group nested two deep grows before wrapping (a Proxmox node).
const INNER_WIDTH: f64 = 640.0;

/// Something placed, relative to its parent's top-left corner.
struct Placed<'a> {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    item: Item<'a>,
}

enum Item<'a> {
    Box(&'a DiagramBox),
    Group {
        group: &'a Group,
        children: Vec<Placed<'a>>,
    },
}

fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHARACTER_WIDTH
}

fn place_box(diagram_box: &DiagramBox) -> Placed<'_> {
    let widest = diagram_box
        .lines
        .iter()
        .map(|line| text_width(line))
        .fold(0.0, f64::max);
    Placed {
        x: 0.0,
        y: 0.0,
        width: (widest + 2.0 * BOX_PADDING).ceil(),
        height: diagram_box.lines.len() as f64 * LINE_HEIGHT + 2.0 * BOX_PADDING,
        item: Item::Box(diagram_box),
    }
}

fn place_group(group: &Group, depth: usize) -> Placed<'_> {
    let limit = if depth >= 2 { INNER_WIDTH } else { VIEW_WIDTH };
    let mut children: Vec<Placed> = group
        .groups
        .iter()
        .map(|inner| place_group(inner, depth + 1))
        .chain(group.boxes.iter().map(place_box))
        .collect();
    let mut x = GROUP_PADDING;
    let mut y = GROUP_HEADER;
    let mut row_height: f64 = 0.0;
    let mut width = text_width(&group.label) + 2.0 * GROUP_PADDING;
    for child in &mut children {
        if x > GROUP_PADDING && x + child.width + GROUP_PADDING > limit {
            x = GROUP_PADDING;
            y += row_height + GROUP_PADDING;
            row_height = 0.0;
        }
        child.x = x;
        child.y = y;
        x += child.width + GROUP_PADDING;
        row_height = row_height.max(child.height);
        width = width.max(x);
    }
    let height = if children.is_empty() {
        GROUP_HEADER + GROUP_PADDING
    } else {
        y + row_height + GROUP_PADDING
    };
    Placed {
        x: 0.0,
        y: 0.0,
        width: width.ceil(),
        height,
        item: Item::Group { group, children },
    }
}

/// Renders `diagram` as a standalone SVG document.
pub fn render(diagram: &Diagram) -> String {
    let margin = 10.0;
    let title_height = 30.0;
    let legend_height = if diagram.live { 36.0 } else { 0.0 };
    let mut views: Vec<Placed> = diagram
        .views
        .iter()
        .map(|view| place_group(view, 0))
        .collect();
    let mut y = margin + title_height + legend_height;
    let mut width = text_width(&diagram.title) + 2.0 * margin;
    for view in &mut views {
        view.x = margin;
        view.y = y;
        y += view.height + margin * 2.0;
        width = width.max(view.width + 2.0 * margin);
    }
    let height = y;

    let mut body = String::new();
    let mut centres: BTreeMap<&ElementId, (f64, f64, f64, f64)> = BTreeMap::new();
    for view in &views {
        draw(&mut body, view, 0.0, 0.0, &mut centres);
    }
    let mut edges = String::new();
    for edge in &diagram.edges {
        let (Some(from), Some(to)) = (centres.get(&edge.from), centres.get(&edge.to)) else {
            continue;
        };
        let (x1, y1) = border_point(*from, (to.0, to.1));
        let (x2, y2) = border_point(*to, (from.0, from.1));
        let _ = writeln!(
            edges,
            "<g class=\"edge\"><title>{} → {}: {}</title><line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" marker-end=\"url(#arrow)\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            escape(edge.from.as_str()),
            escape(edge.to.as_str()),
            escape(&edge.label),
            (x1 + x2) / 2.0 + 4.0,
            (y1 + y2) / 2.0,
            escape(&edge.label)
        );
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"monospace\" font-size=\"12\">"
    );
    let _ = writeln!(out, "<title>{}</title>", escape(&diagram.title));
    out.push_str(STYLE);
    out.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n");
    let _ = writeln!(
        out,
        "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n<text class=\"diagram-title\" x=\"{margin}\" y=\"{}\">{}</text>",
        margin + 16.0,
        escape(&diagram.title)
    );
    if diagram.live {
        out.push_str("<g class=\"legend\">");
        let mut x = margin;
        for status in Status::ALL {
            let label_width = text_width(status.name()) + 2.0 * BOX_PADDING;
            let _ = write!(
                out,
                "<g class=\"status-{0}\"><rect x=\"{x:.1}\" y=\"{1:.1}\" width=\"{label_width:.1}\" height=\"22\" rx=\"4\" fill=\"{2}\" stroke=\"{3}\"/><text x=\"{4:.1}\" y=\"{5:.1}\">{0}</text></g>",
                status.name(),
                margin + title_height,
                status.fill(),
                status.stroke(),
                x + BOX_PADDING,
                margin + title_height + 15.0
            );
            x += label_width + 6.0;
        }
        out.push_str("</g>\n");
    }
    out.push_str(&body);
    out.push_str(&edges);
    out.push_str("</svg>\n");
    out
}

const STYLE: &str = "<style>\n\
.group > rect { fill: #fafafa; stroke: #9e9e9e; }\n\
.group > text { font-weight: bold; }\n\
.box > rect { fill: #ffffff; stroke: #424242; }\n\
.box.cluster > rect { fill: #e3f2fd; }\n\
.box.tenant > rect { fill: #f3e5f5; }\n\
.box.network > rect, .box.storage > rect { fill: #f1f8e9; }\n\
.box.vm-group > rect { stroke-dasharray: 4 2; }\n\
.edge line { stroke: #555; stroke-width: 1.2; }\n\
.edge text { fill: #333; font-size: 10px; paint-order: stroke; stroke: #ffffff; stroke-width: 3px; }\n\
.diagram-title { font-size: 16px; font-weight: bold; }\n\
</style>\n";

/// Where the line from the centre of `rect` towards `towards` leaves the rectangle.
fn border_point(rect: (f64, f64, f64, f64), towards: (f64, f64)) -> (f64, f64) {
    let (cx, cy, half_width, half_height) = rect;
    let (dx, dy) = (towards.0 - cx, towards.1 - cy);
    if dx == 0.0 && dy == 0.0 {
        return (cx, cy);
    }
    let scale_x = if dx == 0.0 {
        f64::INFINITY
    } else {
        half_width / dx.abs()
    };
    let scale_y = if dy == 0.0 {
        f64::INFINITY
    } else {
        half_height / dy.abs()
    };
    let scale = scale_x.min(scale_y).min(1.0);
    (cx + dx * scale, cy + dy * scale)
}

fn draw<'a>(
    out: &mut String,
    placed: &Placed<'a>,
    offset_x: f64,
    offset_y: f64,
    centres: &mut BTreeMap<&'a ElementId, (f64, f64, f64, f64)>,
) {
    let x = offset_x + placed.x;
    let y = offset_y + placed.y;
    match &placed.item {
        Item::Group { group, children } => {
            let _ = writeln!(
                out,
                "<g class=\"group\" id=\"{}\"><title>{}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"6\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                escape(group.id.as_str()),
                escape(&group.label),
                placed.width,
                placed.height,
                x + GROUP_PADDING,
                y + 15.0,
                escape(&group.label)
            );
            for child in children {
                draw(out, child, x, y, centres);
            }
            out.push_str("</g>\n");
        }
        Item::Box(diagram_box) => {
            centres.insert(
                &diagram_box.id,
                (
                    x + placed.width / 2.0,
                    y + placed.height / 2.0,
                    placed.width / 2.0,
                    placed.height / 2.0,
                ),
            );
            let mut classes = format!("box {}", diagram_box.kind.name());
            let mut colours = String::new();
            if let Some(status) = diagram_box.status {
                let _ = write!(classes, " status-{}", status.name());
                let _ = write!(
                    colours,
                    " style=\"fill: {}; stroke: {}\"",
                    status.fill(),
                    status.stroke()
                );
            }
            let mut tooltip = diagram_box.lines.join("\n");
            if !diagram_box.members.is_empty() {
                tooltip.push('\n');
                tooltip.push_str(&diagram_box.members.join("\n"));
            }
            let _ = write!(
                out,
                "<g class=\"{classes}\" id=\"{}\"><title>{}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"4\"{colours}/><text>",
                escape(diagram_box.id.as_str()),
                escape(&tooltip),
                placed.width,
                placed.height
            );
            for (index, line) in diagram_box.lines.iter().enumerate() {
                let _ = write!(
                    out,
                    "<tspan x=\"{:.1}\" y=\"{:.1}\"{}>{}</tspan>",
                    x + BOX_PADDING,
                    y + BOX_PADDING + 11.0 + index as f64 * LINE_HEIGHT,
                    if index == 0 {
                        " font-weight=\"bold\""
                    } else {
                        ""
                    },
                    escape(line)
                );
            }
            out.push_str("</text></g>\n");
        }
    }
}

/// XML's five escapes.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}
