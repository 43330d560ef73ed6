//! The journal: an embedded, crash-safe record (SQLite in WAL mode, `synchronous=FULL`) of every
//! run and every action, with its task UPID and outcome. `labform history` reads it.
//!
//! The journal is a record, not state: what exists is read back from Proxmox on every run, so a
//! lost journal loses history, never the lab. The one exception is a node replacement's
//! progress ([`ReplacementRecord`]): with it, the next run finishes a killed `labform replace`
//! (uncordons the node); without it, apply still recreates a missing VM with the same identity.
//! It never holds secrets: action targets are VM names and IDs, details are API error texts. A
//! run may name the revision of the lab it came from (`labform serve --git` records each run's
//! commit), and records the Proxmox API calls it made, by endpoint and method, with their errors
//! (`labform serve`'s `/metrics` adds them up, whichever process made the run).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::error::ExecuteError;
use crate::metered::CallCount;

/// A journal file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    connection: Mutex<Connection>,
}

/// One run, as `history` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    /// Run number.
    pub id: i64,
    /// Lab name.
    pub lab: String,
    /// Scope.
    pub scope: String,
    /// Command (`apply`, `destroy`).
    pub command: String,
    /// Start, seconds since the epoch.
    pub started: i64,
    /// End, if it ended.
    pub finished: Option<i64>,
    /// `ok`, `failed: ...`, `interrupted`, or `running` (killed if not the current one).
    pub outcome: String,
    /// The revision of the lab the run came from (a Git commit), when it is known.
    pub revision: Option<String>,
}

/// A node replacement (`labform replace`) and the steps of it that are done, so a killed one
/// is finished by the next `replace` or `apply`. Like the rest of the journal it names VMs and
/// steps only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplacementRecord {
    /// Its number.
    pub id: i64,
    /// The VM being replaced.
    pub vm: String,
    /// Whether the cluster steps (cordon, drain, leave, rejoin, uncordon) are part of it.
    pub cluster_steps: bool,
    /// The names of the steps done, in order (`cordon`, `drain`, ...).
    pub done: Vec<String>,
}

/// The Proxmox API calls the runs of one command made on one endpoint through one method,
/// added up over the journal ([`Journal::call_totals`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallTotal {
    /// The runs' command (`apply`).
    pub command: String,
    /// The lab's endpoint.
    pub endpoint: String,
    /// The API's method (`clone_vm`).
    pub call: String,
    /// Calls made.
    pub calls: u64,
    /// Calls that failed.
    pub errors: u64,
}

/// One action of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionRecord {
    /// Order in the run.
    pub sequence: i64,
    /// Kind (`clone-vm`, `configure-vm`, ...).
    pub kind: String,
    /// What it acted on.
    pub target: String,
    /// Proxmox task, if one ran.
    pub upid: Option<String>,
    /// `running`, `ok`, `failed`.
    pub status: String,
    /// Error text or note.
    pub detail: Option<String>,
    /// Start.
    pub started: i64,
    /// End.
    pub finished: Option<i64>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0)
}

impl Journal {
    /// Opens (or creates) the journal at `path`.
    pub fn open(path: &Path) -> Result<Self, ExecuteError> {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let connection = Connection::open(path).map_err(|source| Self::failed(path, source))?;
        let journal = Self {
            path: path.to_path_buf(),
            connection: Mutex::new(connection),
        };
        journal.migrate()?;
        Ok(journal)
    }

    /// A journal in memory (tests, `--no-journal`).
    pub fn in_memory() -> Self {
        let journal = Self {
            path: PathBuf::from(":memory:"),
            connection: Mutex::new(Connection::open_in_memory().expect("SQLite opens in memory")),
        };
        journal.migrate().expect("in-memory migration");
        journal
    }

    fn failed(path: &Path, source: rusqlite::Error) -> ExecuteError {
        ExecuteError::Journal {
            path: path.display().to_string(),
            source: Box::new(source),
        }
    }

    fn with<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, ExecuteError> {
        let connection = self
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        work(&connection).map_err(|source| Self::failed(&self.path, source))
    }

    fn migrate(&self) -> Result<(), ExecuteError> {
        self.with(|connection| {
            let _: String =
                connection.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
            connection.execute_batch(
                "PRAGMA synchronous=FULL;
                 CREATE TABLE IF NOT EXISTS runs (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     lab TEXT NOT NULL, scope TEXT NOT NULL, command TEXT NOT NULL,
                     started INTEGER NOT NULL, finished INTEGER, outcome TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS actions (
                     run INTEGER NOT NULL REFERENCES runs(id), sequence INTEGER NOT NULL,
                     kind TEXT NOT NULL, target TEXT NOT NULL, upid TEXT, status TEXT NOT NULL,
                     detail TEXT, started INTEGER NOT NULL, finished INTEGER,
                     PRIMARY KEY (run, sequence));
                 CREATE TABLE IF NOT EXISTS replacements (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     scope TEXT NOT NULL, vm TEXT NOT NULL, cluster_steps INTEGER NOT NULL,
                     done TEXT NOT NULL DEFAULT '', started INTEGER NOT NULL, finished INTEGER);",
            )?;
            // Version 2: the revision a run came from.
            let has_revision = connection
                .prepare("SELECT 1 FROM pragma_table_info('runs') WHERE name = 'revision'")?
                .exists([])?;
            if !has_revision {
                connection.execute_batch("ALTER TABLE runs ADD COLUMN revision TEXT;")?;
            }
            // Version 3: node replacements' progress (the table above).
            // Version 4: each run's Proxmox calls.
            connection.execute_batch(
                "CREATE TABLE IF NOT EXISTS calls (
                     run INTEGER NOT NULL REFERENCES runs(id), endpoint TEXT NOT NULL,
                     call TEXT NOT NULL, calls INTEGER NOT NULL, errors INTEGER NOT NULL,
                     PRIMARY KEY (run, endpoint, call));
                 PRAGMA user_version = 4;",
            )
        })
    }

    /// Starts a run; earlier runs of the scope still marked `running` were killed.
    pub fn begin(&self, lab: &str, scope: &str, command: &str) -> Result<i64, ExecuteError> {
        self.begin_from(lab, scope, command, None)
    }

    /// Starts a run of the lab at `revision` (a Git commit), like [`Journal::begin`].
    pub fn begin_from(
        &self,
        lab: &str,
        scope: &str,
        command: &str,
        revision: Option<&str>,
    ) -> Result<i64, ExecuteError> {
        self.with(|connection| {
            connection.execute(
                "UPDATE runs SET outcome = 'killed (no end recorded)' WHERE scope = ?1 AND outcome = 'running'",
                params![scope],
            )?;
            connection.execute(
                "UPDATE actions SET status = 'unknown (run killed)' WHERE status = 'running'
                 AND run IN (SELECT id FROM runs WHERE scope = ?1)",
                params![scope],
            )?;
            connection.execute(
                "INSERT INTO runs (lab, scope, command, started, outcome, revision)
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
                params![lab, scope, command, now(), revision],
            )?;
            Ok(connection.last_insert_rowid())
        })
    }

    /// Records that action `sequence` of `run` started.
    pub fn started(
        &self,
        run: i64,
        sequence: i64,
        kind: &str,
        target: &str,
    ) -> Result<(), ExecuteError> {
        self.with(|connection| {
            connection.execute(
                "INSERT OR REPLACE INTO actions (run, sequence, kind, target, status, started)
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
                params![run, sequence, kind, target, now()],
            )?;
            Ok(())
        })
    }

    /// Records the Proxmox task of an action.
    pub fn task(&self, run: i64, sequence: i64, upid: &str) -> Result<(), ExecuteError> {
        self.with(|connection| {
            connection.execute(
                "UPDATE actions SET upid = ?3 WHERE run = ?1 AND sequence = ?2",
                params![run, sequence, upid],
            )?;
            Ok(())
        })
    }

    /// Records how an action ended.
    pub fn finished(
        &self,
        run: i64,
        sequence: i64,
        status: &str,
        detail: Option<&str>,
    ) -> Result<(), ExecuteError> {
        self.with(|connection| {
            connection.execute(
                "UPDATE actions SET status = ?3, detail = ?4, finished = ?5 WHERE run = ?1 AND sequence = ?2",
                params![run, sequence, status, detail, now()],
            )?;
            Ok(())
        })
    }

    /// Records how a run ended.
    pub fn end(&self, run: i64, outcome: &str) -> Result<(), ExecuteError> {
        self.with(|connection| {
            connection.execute(
                "UPDATE runs SET outcome = ?2, finished = ?3 WHERE id = ?1",
                params![run, outcome, now()],
            )?;
            Ok(())
        })
    }

    /// Records that the replacement of `vm` in `scope` starts (`labform replace`), with or
    /// without its cluster steps. Its steps are recorded as they are done
    /// ([`Journal::replacement_step_done`]) until it is finished.
    pub fn begin_replacement(
        &self,
        scope: &str,
        vm: &str,
        cluster_steps: bool,
    ) -> Result<ReplacementRecord, ExecuteError> {
        self.with(|connection| {
            connection.execute(
                "INSERT INTO replacements (scope, vm, cluster_steps, started) VALUES (?1, ?2, ?3, ?4)",
                params![scope, vm, cluster_steps, now()],
            )?;
            Ok(ReplacementRecord {
                id: connection.last_insert_rowid(),
                vm: vm.to_owned(),
                cluster_steps,
                done: Vec::new(),
            })
        })
    }

    /// Records that step `step` (its name) of replacement `id` is done.
    pub fn replacement_step_done(&self, id: i64, step: &str) -> Result<(), ExecuteError> {
        self.with(|connection| {
            connection.execute(
                "UPDATE replacements SET done = CASE WHEN done = '' THEN ?2 ELSE done || ',' || ?2 END
                 WHERE id = ?1",
                params![id, step],
            )?;
            Ok(())
        })
    }

    /// Records that replacement `id` is finished.
    pub fn finish_replacement(&self, id: i64) -> Result<(), ExecuteError> {
        self.with(|connection| {
            connection.execute(
                "UPDATE replacements SET finished = ?2 WHERE id = ?1",
                params![id, now()],
            )?;
            Ok(())
        })
    }

    /// The replacement of `scope` that was started and never finished (a killed `replace`),
    /// the oldest first if there are several.
    pub fn unfinished_replacement(
        &self,
        scope: &str,
    ) -> Result<Option<ReplacementRecord>, ExecuteError> {
        self.with(|connection| {
            let mut statement = connection.prepare(
                "SELECT id, vm, cluster_steps, done FROM replacements
                 WHERE scope = ?1 AND finished IS NULL ORDER BY id LIMIT 1",
            )?;
            let mut rows = statement.query_map(params![scope], |row| {
                let done: String = row.get(3)?;
                Ok(ReplacementRecord {
                    id: row.get(0)?,
                    vm: row.get(1)?,
                    cluster_steps: row.get(2)?,
                    done: done
                        .split(',')
                        .filter(|name| !name.is_empty())
                        .map(str::to_owned)
                        .collect(),
                })
            })?;
            rows.next().transpose()
        })
    }

    /// Records the Proxmox calls `run` made on `endpoint`, by method (added to what was
    /// recorded before for the same run, endpoint and method).
    pub fn record_calls(
        &self,
        run: i64,
        endpoint: &str,
        counts: &std::collections::BTreeMap<&'static str, CallCount>,
    ) -> Result<(), ExecuteError> {
        self.with(|connection| {
            for (call, count) in counts {
                connection.execute(
                    "INSERT INTO calls (run, endpoint, call, calls, errors) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (run, endpoint, call) DO UPDATE SET
                     calls = calls + excluded.calls, errors = errors + excluded.errors",
                    params![run, endpoint, call, count.calls as i64, count.errors as i64],
                )?;
            }
            Ok(())
        })
    }

    /// The Proxmox calls of every run of `scope` in the journal, added up by command, endpoint
    /// and method.
    pub fn call_totals(&self, scope: &str) -> Result<Vec<CallTotal>, ExecuteError> {
        self.with(|connection| {
            let mut statement = connection.prepare(
                "SELECT runs.command, calls.endpoint, calls.call, SUM(calls.calls), SUM(calls.errors)
                 FROM calls JOIN runs ON runs.id = calls.run WHERE runs.scope = ?1
                 GROUP BY runs.command, calls.endpoint, calls.call
                 ORDER BY runs.command, calls.endpoint, calls.call",
            )?;
            let rows = statement.query_map(params![scope], |row| {
                Ok(CallTotal {
                    command: row.get(0)?,
                    endpoint: row.get(1)?,
                    call: row.get(2)?,
                    calls: row.get::<_, i64>(3)? as u64,
                    errors: row.get::<_, i64>(4)? as u64,
                })
            })?;
            rows.collect()
        })
    }

    /// Every ended run of `scope`: its command and how long it took, in seconds, oldest first.
    pub fn durations(&self, scope: &str) -> Result<Vec<(String, i64)>, ExecuteError> {
        self.with(|connection| {
            let mut statement = connection.prepare(
                "SELECT command, finished - started FROM runs
                 WHERE scope = ?1 AND finished IS NOT NULL ORDER BY id",
            )?;
            let rows = statement.query_map(params![scope], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
    }

    /// The latest `limit` runs of `scope`, newest first.
    pub fn runs(&self, scope: &str, limit: usize) -> Result<Vec<RunRecord>, ExecuteError> {
        self.with(|connection| {
            let mut statement = connection.prepare(
                "SELECT id, lab, scope, command, started, finished, outcome, revision FROM runs
                 WHERE scope = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = statement.query_map(params![scope, limit as i64], |row| {
                Ok(RunRecord {
                    id: row.get(0)?,
                    lab: row.get(1)?,
                    scope: row.get(2)?,
                    command: row.get(3)?,
                    started: row.get(4)?,
                    finished: row.get(5)?,
                    outcome: row.get(6)?,
                    revision: row.get(7)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The actions of run `run`, in order.
    pub fn actions(&self, run: i64) -> Result<Vec<ActionRecord>, ExecuteError> {
        self.with(|connection| {
            let mut statement = connection.prepare(
                "SELECT sequence, kind, target, upid, status, detail, started, finished FROM actions
                 WHERE run = ?1 ORDER BY sequence",
            )?;
            let rows = statement.query_map(params![run], |row| {
                Ok(ActionRecord {
                    sequence: row.get(0)?,
                    kind: row.get(1)?,
                    target: row.get(2)?,
                    upid: row.get(3)?,
                    status: row.get(4)?,
                    detail: row.get(5)?,
                    started: row.get(6)?,
                    finished: row.get(7)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The latest run of `scope`, if any.
    pub fn latest(&self, scope: &str) -> Result<Option<RunRecord>, ExecuteError> {
        Ok(self.runs(scope, 1)?.into_iter().next())
    }

    /// Whether the journal is a file (not in memory).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A UTC timestamp, `2026-11-21 10:22:47`, from seconds since the epoch.
pub fn format_time(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_actions_round_trip_and_killed_runs_are_marked() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("journal.sqlite");
        let journal = Journal::open(&path).unwrap();
        let run = journal.begin("lab", "scope", "apply").unwrap();
        journal.started(run, 0, "clone-vm", "a (1000)").unwrap();
        journal
            .task(
                run,
                0,
                "UPID:pve1:0000:0000:00000000:qmclone:1000:root@pam:",
            )
            .unwrap();
        drop(journal);
        // A new process opens the journal of a run that never ended.
        let journal = Journal::open(&path).unwrap();
        let second = journal.begin("lab", "scope", "apply").unwrap();
        journal.end(second, "ok").unwrap();
        let runs = journal.runs("scope", 10).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].outcome, "ok");
        assert_eq!(runs[1].outcome, "killed (no end recorded)");
        let actions = journal.actions(run).unwrap();
        assert_eq!(actions[0].status, "unknown (run killed)");
        assert!(actions[0].upid.as_deref().unwrap().starts_with("UPID:pve1"));
        assert_eq!(journal.latest("other").unwrap(), None);
        assert_eq!(runs[0].revision, None);
        let from_git = journal
            .begin_from("lab", "scope", "apply", Some("0123abcd"))
            .unwrap();
        assert_eq!(
            journal
                .latest("scope")
                .unwrap()
                .map(|run| (run.id, run.revision)),
            Some((from_git, Some("0123abcd".to_owned())))
        );
    }

    #[test]
    fn runs_calls_add_up_by_command_endpoint_and_method() {
        let journal = Journal::in_memory();
        let count = |calls, errors| CallCount { calls, errors };
        let first = journal.begin("lab", "scope", "apply").unwrap();
        journal
            .record_calls(
                first,
                "pve",
                &[("clone_vm", count(3, 0)), ("delete_vm", count(1, 1))].into(),
            )
            .unwrap();
        journal.end(first, "failed").unwrap();
        let second = journal.begin("lab", "scope", "apply").unwrap();
        journal
            .record_calls(second, "pve", &[("clone_vm", count(2, 0))].into())
            .unwrap();
        journal.end(second, "ok").unwrap();
        let elsewhere = journal.begin("lab", "other", "apply").unwrap();
        journal
            .record_calls(elsewhere, "pve", &[("clone_vm", count(9, 0))].into())
            .unwrap();
        let total = |call: &str, calls, errors| CallTotal {
            command: "apply".into(),
            endpoint: "pve".into(),
            call: call.into(),
            calls,
            errors,
        };
        assert_eq!(
            journal.call_totals("scope").unwrap(),
            vec![total("clone_vm", 5, 0), total("delete_vm", 1, 1)]
        );
        let durations = journal.durations("scope").unwrap();
        assert_eq!(durations.len(), 2, "both ended runs");
        assert!(
            durations
                .iter()
                .all(|(command, seconds)| command == "apply" && *seconds >= 0)
        );
    }

    #[test]
    fn an_unfinished_replacement_is_found_with_its_steps_until_finished() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("journal.sqlite");
        let journal = Journal::open(&path).unwrap();
        assert_eq!(journal.unfinished_replacement("scope").unwrap(), None);
        let record = journal
            .begin_replacement("scope", "k-agent-0", true)
            .unwrap();
        journal.replacement_step_done(record.id, "cordon").unwrap();
        journal.replacement_step_done(record.id, "drain").unwrap();
        drop(journal);
        let journal = Journal::open(&path).unwrap();
        let found = journal.unfinished_replacement("scope").unwrap().unwrap();
        assert_eq!(found.vm, "k-agent-0");
        assert!(found.cluster_steps);
        assert_eq!(found.done, ["cordon", "drain"]);
        assert_eq!(journal.unfinished_replacement("other").unwrap(), None);
        journal.finish_replacement(found.id).unwrap();
        assert_eq!(journal.unfinished_replacement("scope").unwrap(), None);
    }

    #[test]
    fn times_format_as_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_795_256_567), "2026-11-21 10:22:47");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00");
    }
}
