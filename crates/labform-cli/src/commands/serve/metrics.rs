//! `/metrics`: the lab in Prometheus's text exposition format (version 0.0.4, which
//! `promtool check metrics` reads): VMs by what exists of them, drift and pending changes, the
//! journal's last run (result, duration, time) and a histogram of run durations by command, and
//! labform's own work: how often the dashboard planned against the target, and the Proxmox calls
//! this process made (`labform_proxmox_*`: the dashboard's plans and the controller's plans and
//! applies, `caller`), by lab endpoint, read or write, and by API call with their errors; with
//! `--git`, the controller's state (leader, commits refused, changes waiting for approval,
//! drift, syncs).
//!
//! What another process did reaches `/metrics` through the journal, when it writes the journal
//! this dashboard reads (the same machine and scope, or `--journal`): its runs count in the last
//! run's metrics and the duration histogram, and the Proxmox calls each run recorded while acting
//! (not its planning's reads) in `labform_run_proxmox_calls_total` and
//! `labform_run_proxmox_call_errors_total`, by command, endpoint and API call. The controller's
//! own applies count in both: as this process's calls and as runs.
//!
//! Written by hand rather than with a client library: the Rust clients write OpenMetrics, whose
//! counters (`# TYPE x counter` with samples `x_total`) the Prometheus text parser of Debian's
//! promtool 2.42 rejects.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use labform_diagram::{Live, Status};
use labform_executor::inputs::DiscoveryError;
use labform_executor::journal::{CallTotal, RunRecord};
use labform_executor::metered::{CallCount, Metered};
use labform_planner::reconcile::VmAction;

use super::controller::ControllerStatus;
use crate::reality::Against;
use crate::target::Connected;

/// The upper bounds of the run duration histogram, in seconds.
const RUN_BUCKETS: [f64; 9] = [5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0];

/// Who made the Proxmox calls counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Caller {
    /// The dashboard's pages, planning the lab against its target.
    Dashboard,
    /// The controller (`--git`): its plans and its applies.
    Controller,
}

impl Caller {
    fn name(self) -> &'static str {
        match self {
            Caller::Dashboard => "dashboard",
            Caller::Controller => "controller",
        }
    }
}

/// The calls counted for one caller and endpoint.
#[derive(Default)]
struct Tally {
    reads: u64,
    writes: u64,
    by_call: BTreeMap<&'static str, CallCount>,
}

/// What the dashboard counts while it runs.
#[derive(Default)]
pub struct Counters {
    refreshes_ok: AtomicU64,
    refreshes_failed: AtomicU64,
    /// Per caller and endpoint: the calls of the connections settled so far.
    calls: Mutex<BTreeMap<(Caller, String), Tally>>,
    /// Per endpoint: discoveries that failed.
    errors: Mutex<BTreeMap<String, u64>>,
}

/// Settles the meters it holds when dropped, however the work that used them ended.
pub struct Settle<'a> {
    /// Where the calls are added.
    pub counters: &'a Counters,
    /// Who made them.
    pub caller: Caller,
    /// The meters of the connection.
    pub meters: Vec<(String, Arc<Metered>)>,
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        self.counters
            .settle(self.caller, std::mem::take(&mut self.meters));
    }
}

impl Counters {
    /// Counts a plan against the target that worked or not.
    pub fn refreshed(&self, ok: bool) {
        let counter = if ok {
            &self.refreshes_ok
        } else {
            &self.refreshes_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Puts a meter in front of every endpoint of `connected`; [`Counters::settle`] adds up
    /// what they counted once the connection is done with.
    pub fn meter(connected: &mut Connected) -> Vec<(String, Arc<Metered>)> {
        let mut meters = Vec::new();
        for endpoint in &mut connected.endpoints {
            let meter = Arc::new(Metered::new(endpoint.api.clone()));
            endpoint.api = meter.clone();
            meters.push((endpoint.name.clone(), meter));
        }
        meters
    }

    /// Adds the calls `meters` counted for `caller` to the totals.
    pub fn settle(&self, caller: Caller, meters: Vec<(String, Arc<Metered>)>) {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        for (endpoint, meter) in meters {
            let total = calls.entry((caller, endpoint)).or_default();
            total.reads += meter.reads();
            total.writes += meter.writes();
            for (call, count) in meter.by_call() {
                let sum = total.by_call.entry(call).or_default();
                sum.calls += count.calls;
                sum.errors += count.errors;
            }
        }
    }

    /// Counts a failed plan against the target on the endpoint it names, if any.
    pub fn failed(&self, error: &anyhow::Error) {
        let endpoint = error
            .chain()
            .find_map(|cause| cause.downcast_ref::<DiscoveryError>())
            .and_then(|error| match error {
                DiscoveryError::Vms { endpoint, .. } | DiscoveryError::Access { endpoint, .. } => {
                    Some(endpoint.clone())
                }
                _ => None,
            });
        if let Some(endpoint) = endpoint {
            *self
                .errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(endpoint)
                .or_default() += 1;
        }
    }
}

/// One metric family being written.
struct Family<'a> {
    out: &'a mut String,
}

fn family<'a>(out: &'a mut String, name: &str, kind: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    Family { out }
}

impl Family<'_> {
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (index, (label, text)) in labels.iter().enumerate() {
                if index > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"{}\"", escape_label(text));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// A label value's escapes: backslash, double quote and line feed.
fn escape_label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `ok`, `failed`, `interrupted` or `running`: the outcome without its detail.
fn result_of(run: &RunRecord) -> &str {
    run.outcome.split(':').next().unwrap_or(&run.outcome).trim()
}

/// What the metrics read from the journal.
#[derive(Debug, Default)]
pub struct JournalFigures {
    /// Its latest runs, newest first (the first is the last run's metrics).
    pub runs: Vec<RunRecord>,
    /// Every ended run's command and duration in seconds (the histogram counts all, so its
    /// buckets only grow).
    pub durations: Vec<(String, i64)>,
    /// The Proxmox calls the runs recorded.
    pub calls: Vec<CallTotal>,
}

/// The metrics: of the lab when it could be planned against its target (`against`), of the
/// journal (`journal`), of the dashboard's `counters`, and of the `controller`.
pub fn render(
    against: Option<&Against>,
    journal: &JournalFigures,
    counters: &Counters,
    controller: Option<&ControllerStatus>,
) -> String {
    let mut out = String::new();
    let (runs, recorded) = (&journal.runs, &journal.calls);
    if let Some(against) = against {
        let live = Live::from_reconciliation(&against.plan, &against.reconciliation);
        let counts = live.vm_counts(&against.plan);
        let mut vms = family(
            &mut out,
            "labform_vms",
            "gauge",
            "The lab's VMs and templates, and owned VMs no longer in it, by what exists of them.",
        );
        for state in Status::ALL {
            vms.sample(
                "labform_vms",
                &[("state", state.name())],
                counts.count(state) as f64,
            );
        }
        let reconciliation = &against.reconciliation;
        let drift = reconciliation
            .changes
            .iter()
            .map(|change| match &change.action {
                VmAction::Update { changes } => changes.iter().filter(|field| field.drift).count(),
                _ => 0,
            })
            .sum::<usize>()
            + reconciliation
                .tenants
                .iter()
                .filter(|change| change.drift)
                .count();
        family(
            &mut out,
            "labform_drift_changes",
            "gauge",
            "Changes made by hand on Proxmox that apply would put back (VM fields, tenants' access).",
        )
        .sample("labform_drift_changes", &[], drift as f64);
        let pending = reconciliation
            .changes
            .iter()
            .filter(|change| !matches!(change.action, VmAction::Unchanged))
            .count()
            + reconciliation.tenants.len();
        family(
            &mut out,
            "labform_pending_changes",
            "gauge",
            "Changes apply would make: VMs to create, change, start or delete, and tenants' access.",
        )
        .sample("labform_pending_changes", &[], pending as f64);
        family(
            &mut out,
            "labform_conflicts",
            "gauge",
            "VM IDs held by VMs the lab does not own, and tenants that cannot be made.",
        )
        .sample(
            "labform_conflicts",
            &[],
            (reconciliation.conflicts.len() + reconciliation.tenant_conflicts.len()) as f64,
        );
    }

    family(
        &mut out,
        "labform_lab_up",
        "gauge",
        "Whether the last page or scrape could plan the lab against its target (1) or not (0).",
    )
    .sample(
        "labform_lab_up",
        &[],
        if against.is_some() { 1.0 } else { 0.0 },
    );

    if let Some(last) = runs.first() {
        family(
            &mut out,
            "labform_last_run_info",
            "gauge",
            "The journal's latest run: its number, command and result (always 1).",
        )
        .sample(
            "labform_last_run_info",
            &[
                ("run", &last.id.to_string()),
                ("command", &last.command),
                ("result", result_of(last)),
            ],
            1.0,
        );
        family(
            &mut out,
            "labform_last_run_success",
            "gauge",
            "Whether the journal's latest run ended well (1) or not (0; still running counts as 0).",
        )
        .sample(
            "labform_last_run_success",
            &[],
            if result_of(last) == "ok" { 1.0 } else { 0.0 },
        );
        family(
            &mut out,
            "labform_last_run_start_time_seconds",
            "gauge",
            "When the journal's latest run started, in seconds since the epoch.",
        )
        .sample(
            "labform_last_run_start_time_seconds",
            &[],
            last.started as f64,
        );
        if let Some(finished) = last.finished {
            family(
                &mut out,
                "labform_last_run_duration_seconds",
                "gauge",
                "How long the journal's latest run took.",
            )
            .sample(
                "labform_last_run_duration_seconds",
                &[],
                (finished - last.started) as f64,
            );
        }
    }

    let mut by_command: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (command, seconds) in &journal.durations {
        by_command
            .entry(command.as_str())
            .or_default()
            .push(*seconds as f64);
    }
    let mut histogram = family(
        &mut out,
        "labform_run_duration_seconds",
        "histogram",
        "How long the journal's ended runs took, by command (apply, destroy, replace, drift, ...).",
    );
    for (command, durations) in &by_command {
        for bound in RUN_BUCKETS {
            let below = durations
                .iter()
                .filter(|duration| **duration <= bound)
                .count();
            histogram.sample(
                "labform_run_duration_seconds_bucket",
                &[("command", command), ("le", &bound.to_string())],
                below as f64,
            );
        }
        histogram.sample(
            "labform_run_duration_seconds_bucket",
            &[("command", command), ("le", "+Inf")],
            durations.len() as f64,
        );
        histogram.sample(
            "labform_run_duration_seconds_sum",
            &[("command", command)],
            durations.iter().sum(),
        );
        histogram.sample(
            "labform_run_duration_seconds_count",
            &[("command", command)],
            durations.len() as f64,
        );
    }

    for (name, help, errors) in [
        (
            "labform_run_proxmox_calls_total",
            "Proxmox API calls the journal's runs recorded (whichever labform process made them, while acting), by command, endpoint and API call.",
            false,
        ),
        (
            "labform_run_proxmox_call_errors_total",
            "Proxmox API calls the journal's runs recorded that failed, by command, endpoint and API call.",
            true,
        ),
    ] {
        let mut calls_family = family(&mut out, name, "counter", help);
        for total in recorded {
            calls_family.sample(
                name,
                &[
                    ("command", &total.command),
                    ("endpoint", &total.endpoint),
                    ("call", &total.call),
                ],
                (if errors { total.errors } else { total.calls }) as f64,
            );
        }
    }

    let mut refreshes = family(
        &mut out,
        "labform_dashboard_refreshes_total",
        "counter",
        "Times the dashboard planned the lab against its target, by result.",
    );
    for (result, counter) in [
        ("ok", &counters.refreshes_ok),
        ("failed", &counters.refreshes_failed),
    ] {
        refreshes.sample(
            "labform_dashboard_refreshes_total",
            &[("result", result)],
            counter.load(Ordering::Relaxed) as f64,
        );
    }

    let calls = counters.calls.lock().unwrap_or_else(|e| e.into_inner());
    let mut requests = family(
        &mut out,
        "labform_proxmox_requests_total",
        "counter",
        "Proxmox API calls this labform serve made (the dashboard's plans; the controller's plans and applies), by endpoint, kind (read or write) and caller.",
    );
    for ((caller, endpoint), tally) in calls.iter() {
        for (kind, count) in [("read", tally.reads), ("write", tally.writes)] {
            requests.sample(
                "labform_proxmox_requests_total",
                &[
                    ("endpoint", endpoint),
                    ("kind", kind),
                    ("caller", caller.name()),
                ],
                count as f64,
            );
        }
    }
    for (name, help, errors) in [
        (
            "labform_proxmox_calls_total",
            "Proxmox API calls this labform serve made, by endpoint, API call and caller.",
            false,
        ),
        (
            "labform_proxmox_call_errors_total",
            "Proxmox API calls that failed, by endpoint, API call and caller.",
            true,
        ),
    ] {
        let mut calls_family = family(&mut out, name, "counter", help);
        for ((caller, endpoint), tally) in calls.iter() {
            for (call, count) in &tally.by_call {
                calls_family.sample(
                    name,
                    &[
                        ("endpoint", endpoint),
                        ("call", call),
                        ("caller", caller.name()),
                    ],
                    (if errors { count.errors } else { count.calls }) as f64,
                );
            }
        }
    }
    drop(calls);
    let errors = counters.errors.lock().unwrap_or_else(|e| e.into_inner());
    let mut failures = family(
        &mut out,
        "labform_proxmox_errors_total",
        "counter",
        "Times this labform serve (its pages or its controller) could not read what exists on an endpoint.",
    );
    for (endpoint, count) in errors.iter() {
        failures.sample(
            "labform_proxmox_errors_total",
            &[("endpoint", endpoint)],
            *count as f64,
        );
    }
    drop(errors);
    if let Some(controller) = controller {
        controller_metrics(&mut out, controller);
    }
    out
}

/// The controller's state (`--git`).
fn controller_metrics(out: &mut String, status: &ControllerStatus) {
    let gauges: [(&str, &str, f64); 4] = [
        (
            "labform_controller_leader",
            "Whether this replica holds the Lease and may apply (1), or not (0).",
            if status.leader { 1.0 } else { 0.0 },
        ),
        (
            "labform_controller_pending_approval",
            "Whether changes wait for approval on /controller (1) or not (0).",
            if status.pending.is_some() { 1.0 } else { 0.0 },
        ),
        (
            "labform_controller_refused_commit",
            "Whether the branch's latest commit was refused because its lab has errors (1) or not (0).",
            if status.refused.is_some() { 1.0 } else { 0.0 },
        ),
        (
            "labform_controller_drift_changes",
            "Changes made by hand on Proxmox the controller's last plan found at the same commit.",
            status.drift as f64,
        ),
    ];
    for (name, help, value) in gauges {
        family(out, name, "gauge", help).sample(name, &[], value);
    }
    if let Some(current) = &status.current {
        family(
            out,
            "labform_controller_commit_info",
            "gauge",
            "The commit whose lab the controller applies (always 1).",
        )
        .sample(
            "labform_controller_commit_info",
            &[("commit", &current.commit)],
            1.0,
        );
    }
    family(
        out,
        "labform_controller_refused_commits_total",
        "counter",
        "Commits refused because their lab has errors.",
    )
    .sample(
        "labform_controller_refused_commits_total",
        &[],
        status.refusals as f64,
    );
    family(
        out,
        "labform_controller_drift_reports_total",
        "counter",
        "Drifts between commits reported: the lab changed by hand while its commit did not change.",
    )
    .sample(
        "labform_controller_drift_reports_total",
        &[],
        status.drift_reports as f64,
    );
    let mut syncs = family(
        out,
        "labform_controller_syncs_total",
        "counter",
        "Rounds of fetch, check and plan, by result.",
    );
    syncs.sample(
        "labform_controller_syncs_total",
        &[("result", "ok")],
        status.syncs.0 as f64,
    );
    syncs.sample(
        "labform_controller_syncs_total",
        &[("result", "failed")],
        status.syncs.1 as f64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn a_run_result_drops_its_detail() {
        let run = RunRecord {
            id: 1,
            lab: "lab".into(),
            scope: "lab".into(),
            command: "apply".into(),
            started: 10,
            finished: Some(12),
            outcome: "failed: 1 of 3 VMs".into(),
            revision: None,
        };
        assert_eq!(result_of(&run), "failed");
    }
}
