//! Progress events of an apply: what started, what finished and how, and the summary. The CLI
//! prints them for people (one line per action) or as JSON lines (`--json`).

use serde::Serialize;

/// Something that happened during an apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The run began.
    RunStarted {
        /// Journal run number.
        run: i64,
        /// VMs and templates to act on.
        jobs: usize,
    },
    /// An action began.
    ActionStarted {
        /// Order in the run.
        sequence: i64,
        /// Kind (`download-image`, `clone-vm`, ...).
        kind: String,
        /// What it acts on.
        target: String,
    },
    /// An action ended.
    ActionFinished {
        /// Order in the run.
        sequence: i64,
        /// Kind.
        kind: String,
        /// What it acted on.
        target: String,
        /// `ok` or `failed`.
        outcome: String,
        /// Seconds it took.
        seconds: f64,
        /// The Proxmox task, if one ran.
        upid: Option<String>,
        /// The error or a note.
        detail: Option<String>,
    },
    /// A job (everything for one VM) ended.
    JobFinished {
        /// VM or template name.
        name: String,
        /// Jobs finished so far.
        done: usize,
        /// Jobs in total.
        total: usize,
    },
    /// The run ended.
    RunFinished {
        /// `ok`, `failed` or `interrupted`.
        outcome: String,
        /// Seconds since the start.
        seconds: f64,
        /// VMs created.
        created: usize,
        /// VMs changed in place.
        updated: usize,
        /// VMs replaced.
        replaced: usize,
        /// VMs deleted.
        deleted: usize,
        /// Jobs that failed.
        failed: usize,
        /// VMs with changes waiting for a reboot.
        pending_reboot: Vec<String>,
    },
}

/// Where events go.
pub trait EventSink: Send + Sync {
    /// Receives one event.
    fn emit(&self, event: Event);
}

/// Discards events.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl EventSink for Silent {
    fn emit(&self, _: Event) {}
}

/// Collects events in memory (tests).
#[derive(Debug, Default)]
pub struct Collect(pub std::sync::Mutex<Vec<Event>>);

impl EventSink for Collect {
    fn emit(&self, event: Event) {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(event);
    }
}
