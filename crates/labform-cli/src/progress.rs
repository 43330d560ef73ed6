//! Printing apply progress: one line per action as it starts and ends, jobs done out of total,
//! elapsed time, and the summary; or one JSON object per line with `--json`.

use std::io::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use labform_executor::events::{Event, EventSink};

/// Prints events for people (stderr) or machines (stdout, JSON lines).
pub struct Printer {
    json: bool,
    started: Instant,
    lock: Mutex<()>,
}

impl Printer {
    /// A printer.
    pub fn new(json: bool) -> Self {
        Self {
            json,
            started: Instant::now(),
            lock: Mutex::new(()),
        }
    }
}

impl EventSink for Printer {
    fn emit(&self, event: Event) {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string(&event).expect("events serialise")
            );
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let mut out = std::io::stderr().lock();
        let _ = match &event {
            Event::RunStarted { jobs, .. } => {
                writeln!(out, "[{elapsed:6.1}s] applying: {jobs} VM job(s)")
            }
            Event::ActionStarted { kind, target, .. } => {
                writeln!(out, "[{elapsed:6.1}s]   start  {kind:<20} {target}")
            }
            Event::ActionFinished {
                kind,
                target,
                outcome,
                seconds,
                detail,
                ..
            } => {
                let note = detail
                    .as_deref()
                    .map(|detail| format!(" ({detail})"))
                    .unwrap_or_default();
                let mark = if outcome == "ok" { "ok    " } else { "FAILED" };
                writeln!(
                    out,
                    "[{elapsed:6.1}s]   {mark} {kind:<20} {target} in {seconds:.1}s{note}"
                )
            }
            Event::JobFinished { name, done, total } => {
                writeln!(out, "[{elapsed:6.1}s] [{done}/{total}] {name} done")
            }
            Event::RunFinished {
                outcome,
                seconds,
                created,
                updated,
                replaced,
                deleted,
                failed,
                pending_reboot,
            } => {
                let _ = writeln!(
                    out,
                    "[{elapsed:6.1}s] {outcome} in {seconds:.1}s: {created} created, {updated} updated, {replaced} replaced, {deleted} deleted, {failed} failed"
                );
                if pending_reboot.is_empty() {
                    Ok(())
                } else {
                    writeln!(
                        out,
                        "           changes wait for a reboot on: {} (rerun with --reboot to reboot them)",
                        pending_reboot.join(", ")
                    )
                }
            }
        };
    }
}
