//! `labform history FILE`: the journal of past applies and destroys of the lab's scope: each run,
//! and the actions of one run with their Proxmox tasks and outcomes.

use std::path::PathBuf;
use std::process::ExitCode;

use labform_executor::journal::format_time;

/// Arguments of `labform history`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// Show the actions of this run (default: the latest).
    #[arg(long)]
    pub run: Option<i64>,
    /// Runs to list.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// The journal of `--sim` runs.
    #[arg(long)]
    pub sim: bool,
    /// Journal file.
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The latest runs of a scope, and the actions of one of them.
pub struct History {
    /// The latest runs, newest first.
    pub runs: Vec<labform_executor::journal::RunRecord>,
    /// The run whose actions are shown: the one asked for, else the latest.
    pub chosen: Option<i64>,
    /// Its actions, in order.
    pub actions: Vec<labform_executor::journal::ActionRecord>,
}

impl History {
    /// Reads `limit` runs of `scope` and the actions of `run` (default: the latest).
    pub fn read(
        journal: &labform_executor::Journal,
        scope: &str,
        run: Option<i64>,
        limit: usize,
    ) -> anyhow::Result<Self> {
        let runs = journal.runs(scope, limit)?;
        let chosen = run.or_else(|| runs.first().map(|run| run.id));
        let actions = match chosen {
            Some(run) => journal.actions(run)?,
            None => Vec::new(),
        };
        Ok(History {
            runs,
            chosen,
            actions,
        })
    }

    /// `history --json` (`labform serve`'s `/history` answers the same).
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({ "runs": self.runs, "run": self.chosen, "actions": self.actions })
    }
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Only the scope is needed: the lab is loaded, not planned.
    let loaded = labform_model::load(&labform_model::RealFileSystem, &args.file);
    let Some(lab) = loaded.lab else {
        eprint!(
            "{}",
            labform_model::diagnostic::render_all(&loaded.diagnostics, &loaded.sources)
        );
        return Ok(ExitCode::from(1));
    };
    let scope = lab.scope().to_owned();
    let journal = crate::open_journal(args.journal.as_deref(), &scope, args.sim)?;
    let History {
        runs,
        chosen,
        actions,
    } = History::read(&journal, &scope, args.run, args.limit)?;
    if args.json {
        let history = History {
            runs,
            chosen,
            actions,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&history.json()).expect("serialisable")
        );
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        println!(
            "No runs recorded for scope `{scope}` in {}.",
            journal.path().display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Runs of scope `{scope}` (journal {}):",
        journal.path().display()
    );
    for run in &runs {
        let commit = run
            .revision
            .as_deref()
            .map(|commit| format!(" (commit {})", &commit[..commit.len().min(12)]))
            .unwrap_or_default();
        println!(
            "  #{:<4} {} {:<8} {}{commit}",
            run.id,
            format_time(run.started),
            run.command,
            run.outcome
        );
    }
    if let Some(run) = chosen {
        println!("\nActions of run #{run}:");
        for action in &actions {
            let detail = action
                .detail
                .as_deref()
                .map(|detail| format!(" ({detail})"))
                .unwrap_or_default();
            let task = action
                .upid
                .as_deref()
                .map(|upid| format!(" [{upid}]"))
                .unwrap_or_default();
            println!(
                "  {:>4} {:<20} {:<8} {}{task}{detail}",
                action.sequence, action.kind, action.status, action.target
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
