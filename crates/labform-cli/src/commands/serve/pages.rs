//! The dashboard's HTML pages, built into the binary: one layout (title, navigation, a little
//! CSS, no script), and one function per page. Every text from the lab or from Proxmox is
//! escaped.

use std::fmt::Write as _;

use labform_diagram::{Format, Live, Status, View};
use labform_executor::journal::format_time;

use labform_executor::journal::RunRecord;

use super::controller::{ApplyPolicy, Commit, ControllerStatus};
use crate::commands::history::History;
use crate::reality::Against;

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
nav a{margin-right:1em}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left}\
th{background:#f4f4f4}\
pre{background:#f8f8f8;padding:.8em;overflow:auto}\
.status{border-radius:3px;padding:0 .4em}";

/// `text` with HTML's special characters escaped.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · labform</title>\
         <style>{STYLE}</style></head><body>\n<nav><a href=\"/\">Status</a><a href=\"/plan\">Plan</a>\
         <a href=\"/drift\">Drift</a><a href=\"/history\">History</a><a href=\"/diagram\">Diagram</a><a href=\"/controller\">Controller</a><a href=\"/metrics\">Metrics</a></nav>\n\
         <h1>{title}</h1>\n{body}</body></html>\n",
        title = escape(title)
    )
}

fn status_cell(status: Status) -> String {
    format!(
        "<td><span class=\"status status-{0}\" style=\"background:{1};border:1px solid {2}\">{0}</span></td>",
        status.name(),
        status.fill(),
        status.stroke()
    )
}

/// `/login`: the form asking for the dashboard's bearer token (a browser signs in with it once;
/// the session cookie carries it from then on). The page holds no token.
pub fn login(error: Option<&str>) -> String {
    let mut body = String::new();
    if let Some(error) = error {
        let _ = writeln!(body, "<p id=\"login-error\">{}</p>", escape(error));
    }
    body.push_str(
        "<p>This dashboard needs its bearer token (<code>LABFORM_SERVE_TOKEN</code>).</p>\n\
         <form method=\"post\" action=\"/login\"><label>Token \
         <input id=\"token\" type=\"password\" name=\"token\" autocomplete=\"current-password\" required></label> \
         <button id=\"sign-in\" type=\"submit\">Sign in</button></form>\n",
    );
    layout("Sign in", &body)
}

/// A page saying why the dashboard cannot show the lab.
pub fn failure(text: &str) -> String {
    layout(
        "labform cannot show the lab",
        &format!("<pre>{}</pre>\n", escape(text)),
    )
}

/// `/`: what exists, per cluster, VM and tenant.
pub fn status(against: &Against) -> String {
    let plan = &against.plan;
    let live = Live::from_reconciliation(plan, &against.reconciliation);
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<p>Lab <b>{}</b> (scope <code>{}</code>) on {}.</p>",
        escape(&plan.lab),
        escape(&plan.scope),
        escape(&against.connected.description)
    );
    let counts = live.vm_counts(plan);
    body.push_str("<table id=\"summary\"><tr><th>state</th><th>VMs and templates</th></tr>");
    for state in Status::ALL {
        let _ = write!(
            body,
            "<tr>{}<td>{}</td></tr>",
            status_cell(state),
            counts.count(state)
        );
    }
    body.push_str("</table>\n");
    let vm_table = |body: &mut String, title: &str, vms: Vec<&labform_planner::plan::PlannedVm>| {
        if vms.is_empty() {
            return;
        }
        let _ = writeln!(body, "<h2>{}</h2>", escape(title));
        body.push_str(
            "<table class=\"vms\"><tr><th>VM</th><th>ID</th><th>node</th><th>address</th><th>role</th><th>state</th></tr>",
        );
        for vm in vms {
            let address = vm
                .nic
                .address
                .map(|address| address.to_string())
                .unwrap_or_else(|| "-".to_owned());
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
                escape(&vm.name),
                vm.vm_id,
                escape(vm.node.as_ref()),
                address,
                escape(&vm.role),
                status_cell(live.vm(&vm.endpoint, vm.vm_id))
            );
        }
        body.push_str("</table>\n");
    };
    for cluster in &plan.clusters {
        let vms: Vec<_> = plan
            .vms
            .iter()
            .filter(|vm| vm.cluster.as_deref() == Some(cluster.name.as_str()))
            .collect();
        let mut counts = labform_diagram::status::StatusCounts::default();
        for vm in &vms {
            counts.add(live.vm(&vm.endpoint, vm.vm_id));
        }
        vm_table(
            &mut body,
            &format!(
                "Cluster {} ({} {}): {}",
                cluster.name,
                cluster.distribution,
                cluster.version,
                counts.summary()
            ),
            vms,
        );
    }
    vm_table(
        &mut body,
        "VMs",
        plan.vms.iter().filter(|vm| vm.cluster.is_none()).collect(),
    );
    if !plan.templates.is_empty() {
        body.push_str("<h2>Templates</h2><table><tr><th>template</th><th>ID</th><th>node</th><th>state</th></tr>");
        for template in &plan.templates {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
                escape(&template.name),
                template.vm_id,
                escape(template.node.as_ref()),
                status_cell(live.vm(&template.endpoint, template.vm_id))
            );
        }
        body.push_str("</table>\n");
    }
    if !live.extra().is_empty() {
        body.push_str("<h2>Owned but no longer in the lab (apply deletes them)</h2><table><tr><th>VM</th><th>ID</th><th>node</th></tr>");
        for extra in live.extra() {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&extra.name),
                extra.vm_id,
                escape(&extra.node)
            );
        }
        body.push_str("</table>\n");
    }
    if !plan.tenants.is_empty() {
        body.push_str("<h2>Tenants</h2><table><tr><th>tenant</th><th>pool</th><th>clusters</th><th>access</th></tr>");
        for tenant in &plan.tenants {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
                escape(&tenant.name),
                escape(tenant.pool.as_ref()),
                escape(&tenant.clusters.join(", ")),
                status_cell(live.tenant(&tenant.name))
            );
        }
        body.push_str("</table>\n");
    }
    layout(&format!("Lab {}", plan.lab), &body)
}

/// `/plan`: the changes apply would make, then the whole plan.
pub fn plan(against: &Against) -> String {
    let body = format!(
        "<h2>Changes to {}</h2>\n<pre id=\"changes\">{}</pre>\n<h2>Plan</h2>\n<pre id=\"plan\">{}</pre>\n",
        escape(&against.connected.description),
        escape(&labform_planner::render::render_changes(
            &against.plan,
            &against.reconciliation
        )),
        escape(&labform_planner::render(&against.plan, false))
    );
    layout(&format!("Plan of lab {}", against.plan.lab), &body)
}

/// `/drift`: what was changed by hand on Proxmox, field by field, and tenants' access.
pub fn drift(against: &Against, drift: &crate::commands::drift::ProxmoxDrift) -> String {
    let mut body = String::new();
    if drift.drifted.is_empty() && drift.tenants.is_empty() {
        let _ = writeln!(
            body,
            "<p id=\"no-drift\">No drift on {}.</p>",
            escape(&against.connected.description)
        );
    }
    if !drift.drifted.is_empty() {
        body.push_str("<table id=\"vm-drift\"><tr><th>VM</th><th>ID</th><th>node</th><th>field</th><th>lab</th><th>Proxmox</th></tr>");
        for (change, fields) in &drift.drifted {
            for field in fields {
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&change.name),
                    change.vm_id,
                    escape(change.node.as_ref()),
                    escape(&field.field),
                    escape(field.desired.as_deref().unwrap_or("(unset)")),
                    escape(field.observed.as_deref().unwrap_or("(unset)"))
                );
            }
        }
        body.push_str("</table>\n<p><code>labform apply</code> puts them back.</p>\n");
    }
    if !drift.tenants.is_empty() {
        body.push_str("<h2>Tenants' access changed outside labform</h2><table id=\"tenant-drift\"><tr><th>change</th><th>target</th><th>endpoint</th></tr>");
        for change in &drift.tenants {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(change.step.kind()),
                escape(&change.step.target()),
                escape(change.endpoint.as_ref())
            );
        }
        body.push_str("</table>\n");
    }
    for conflict in &against.reconciliation.tenant_conflicts {
        let _ = writeln!(
            body,
            "<p>tenant <b>{}</b> on {}: {}</p>",
            escape(&conflict.tenant),
            escape(conflict.endpoint.as_ref()),
            escape(&conflict.to_string())
        );
    }
    if drift.pending > 0 {
        let _ = writeln!(
            body,
            "<p>{} change(s) from the lab itself are waiting for <code>labform apply</code> (see <a href=\"/plan\">Plan</a>).</p>",
            drift.pending
        );
    }
    body.push_str("<p>The clusters' nodes (files, services, add-on manifests, over SSH) are not looked at here: <code>labform drift</code> does.</p>\n");
    layout("Drift", &body)
}

/// What a replica that does not hold the Lease says above its runs: it follows, who leads, and
/// that the leader's journal has the runs.
pub fn follower_note(status: &ControllerStatus) -> String {
    if status.leader || status.lease.is_none() {
        return String::new();
    }
    format!(
        "<p id=\"follower\">This replica (<code>{}</code>) is not the leader: it applies nothing \
         and records no runs. The leader, <code>{}</code>, records them in its own journal: see \
         its dashboard. The runs below are the ones this replica made while it led.</p>\n",
        escape(status.identity.as_deref().unwrap_or("")),
        escape(status.holder.as_deref().unwrap_or("none at the moment"))
    )
}

/// `/history`: the journal's runs, and the actions of one with their Proxmox tasks; `note` on
/// top (a follower's [`follower_note`]).
pub fn history(history: &History, note: &str) -> String {
    let mut body = note.to_owned();
    if history.runs.is_empty() {
        body.push_str("<p>No runs recorded.</p>\n");
        return layout("History", &body);
    }
    runs_table(&mut body, &history.runs);
    if let Some(run) = history.chosen {
        let _ = writeln!(body, "<h2>Actions of run #{run}</h2>");
        body.push_str("<table id=\"actions\"><tr><th>#</th><th>action</th><th>target</th><th>status</th><th>Proxmox task</th><th>detail</th></tr>");
        for action in &history.actions {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                action.sequence,
                escape(&action.kind),
                escape(&action.target),
                escape(&action.status),
                escape(action.upid.as_deref().unwrap_or("")),
                escape(action.detail.as_deref().unwrap_or(""))
            );
        }
        body.push_str("</table>\n");
    }
    layout("History", &body)
}

/// The journal's runs as a table: number (linking to its actions), start, command, the commit it
/// came from, outcome.
fn runs_table(body: &mut String, runs: &[RunRecord]) {
    body.push_str(
        "<table id=\"runs\"><tr><th>run</th><th>started</th><th>command</th><th>commit</th><th>outcome</th></tr>",
    );
    for run in runs {
        let _ = write!(
            body,
            "<tr><td><a href=\"/history?run={0}\">#{0}</a></td><td>{1}</td><td>{2}</td><td><code>{3}</code></td><td>{4}</td></tr>",
            run.id,
            escape(&format_time(run.started)),
            escape(&run.command),
            escape(run.revision.as_deref().map(short).unwrap_or("")),
            escape(&run.outcome)
        );
    }
    body.push_str("</table>\n");
}

/// A commit's first 12 characters.
fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

fn commit_text(commit: &Commit) -> String {
    format!(
        "<code>{}</code> {}",
        escape(short(&commit.commit)),
        escape(&commit.subject)
    )
}

/// `/controller`: the repository followed, the commit in use, a refused commit with its located
/// errors, the changes waiting for approval with the Approve button, and the runs with their
/// commits.
pub fn controller(status: &ControllerStatus, runs: &[RunRecord]) -> String {
    let mut body = String::new();
    let policy = match status.policy {
        ApplyPolicy::Automatic => "applies every change at once",
        ApplyPolicy::Approval => "applies changes once they are approved here",
    };
    let _ = writeln!(
        body,
        "<p>Following <code>{}</code>, branch <code>{}</code>, lab file <code>{}</code>, every {} s; {policy}.</p>",
        escape(&status.repository),
        escape(&status.branch),
        escape(&status.path),
        status.interval_seconds
    );
    if let Some(lease) = &status.lease {
        let _ = writeln!(
            body,
            "<p id=\"leader\">Lease <code>{}</code>, this replica <code>{}</code>: {}.</p>",
            escape(lease),
            escape(status.identity.as_deref().unwrap_or("")),
            if status.leader {
                "the leader, it applies and records the runs"
            } else {
                "not the leader, it only shows what it sees"
            }
        );
        body.push_str(&follower_note(status));
    }
    for (label, error) in [
        ("Leader election failed", &status.lease_error),
        ("The repository cannot be fetched", &status.fetch_error),
        ("The lab cannot be planned", &status.plan_error),
    ] {
        if let Some(error) = error {
            let _ = writeln!(body, "<h2>{label}</h2><pre>{}</pre>", escape(error));
        }
    }
    body.push_str("<table id=\"commits\">");
    for (label, commit) in [
        ("branch", status.fetched.as_ref()),
        ("in use", status.current.as_ref()),
    ] {
        let _ = write!(
            body,
            "<tr><th>{label}</th><td>{}</td></tr>",
            commit.map(commit_text).unwrap_or_else(|| "-".to_owned())
        );
    }
    if let Some(last) = &status.last_apply {
        let _ = write!(
            body,
            "<tr><th>last apply</th><td>{}: {}</td></tr>",
            commit_text(&last.commit),
            escape(&last.outcome)
        );
    }
    let _ = writeln!(
        body,
        "<tr><th>drift</th><td>{} change(s) made by hand</td></tr></table>",
        status.drift
    );
    if let Some(refused) = &status.refused {
        let _ = writeln!(
            body,
            "<h2>Commit refused</h2>\n<p>{} has errors; the lab stays as it was.</p>\n<pre id=\"refused\">{}</pre>",
            commit_text(&refused.commit),
            escape(&refused.errors)
        );
    }
    if let Some(report) = &status.drift_report {
        let _ = writeln!(
            body,
            "<h2>Drift between commits</h2>\n<p id=\"drift-commit\">Changed by hand while the lab stayed at {}{}, seen {}:</p>\n<ul id=\"drift-report\">{}</ul>\n<p>{}</p>",
            commit_text(&report.commit),
            match &report.applied {
                Some(applied) if *applied == report.commit.commit => " (as applied)".to_owned(),
                Some(applied) =>
                    format!(" (last applied: <code>{}</code>)", escape(short(applied))),
                None => String::new(),
            },
            escape(&format_time(report.seen)),
            report
                .changes
                .iter()
                .map(|line| format!("<li>{}</li>", escape(line)))
                .collect::<String>(),
            match status.policy {
                ApplyPolicy::Automatic => "The controller puts it back.",
                ApplyPolicy::Approval =>
                    "Putting it back waits for approval with the other changes.",
            }
        );
    }
    if let Some(pending) = &status.pending {
        let _ = writeln!(
            body,
            "<h2>Waiting for approval</h2>\n<p>{} ({} of them put back changes made by hand):</p>\n<pre id=\"pending\">{}</pre>\n\
             <form method=\"post\" action=\"/controller/approve?commit={}\"><button id=\"approve\" type=\"submit\">Approve</button></form>",
            commit_text(&pending.commit),
            pending.drift,
            escape(&pending.changes),
            escape(&pending.commit.commit)
        );
    }
    body.push_str("<h2>Runs</h2>\n");
    runs_table(&mut body, runs);
    layout("Controller", &body)
}

/// `/diagram`: the live diagrams, drawn by labform (the SVG inline, and links to each view).
pub fn diagram(against: &Against) -> String {
    let svg = labform_diagram::render(
        &against.plan,
        Some(&against.reconciliation),
        View::All,
        Format::Svg,
    );
    let body = format!(
        "<p>Each view alone: <a href=\"/diagram/clusters\">clusters</a>, \
         <a href=\"/diagram/infrastructure\">infrastructure</a>.</p>\n<div id=\"diagram\">{svg}</div>\n"
    );
    layout(&format!("Diagram of lab {}", against.plan.lab), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
