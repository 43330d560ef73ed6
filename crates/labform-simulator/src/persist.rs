//! State that lasts: the simulated cluster saved in a state directory, so that
//! `labform sim serve --state DIR` and the embedded `--sim` target of labform's
//! commands come back after a restart with every VM, volume, task and its log,
//! user, token, ACL entry and pool.
//!
//! How it works:
//!
//! - Everything in [`crate::sim::State`] (which derives `Serialize` and
//!   `Deserialize`), the task logs and the cluster's shape ([`SavedShape`]) go
//!   into one JSON file, `DIR/state.json`. It is written crash-safely: to
//!   `state.json.tmp`, flushed to disk, renamed over `state.json`, and the
//!   directory flushed, so a SIGKILL at any moment leaves either the old or
//!   the new file, both complete.
//! - Every acquisition of the state's mutex counts as a possible change.
//!   [`Simulator::commit`] waits until a save that includes every change made
//!   so far is on disk; one writer thread saves for all waiters at once
//!   (group commit). The simulator commits after every request that is not a
//!   `GET` (in `SimClient::run`, and again in the HTTP server for endpoints
//!   that do not go through it) and when a task ends, so what a client was
//!   told has happened survives a kill.
//! - `DIR/lock` is held (`flock`) for as long as the simulator runs: two
//!   simulators never share a state directory.
//! - On loading, tasks that were running when the simulator stopped are
//!   ended like the tasks of a Proxmox node that went down: their log has no
//!   `TASK OK`/`TASK ERROR` line, so their exit status is
//!   `unexpected status` (`../shared/pve-api/BEHAVIOUR.md` §6.2, from
//!   pve-common's `upid_read_status`). Guests keep their power state: the
//!   simulator's restart is its management stack's, not a power cut of its
//!   VMs (the QEMU backend's VMs, whose processes end with the simulator, are
//!   found stopped).
//!
//! **Adding state:** put it in [`crate::sim::State`] (or a type below it) with
//! `#[serde(default)]`, and it is saved and loaded with everything else, by
//! the same commits. State kept anywhere else is lost at a restart. Instants
//! are saved as wall-clock time with [`instant_as_unix_time`].

use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

use crate::config::{NodeSpec, SimConfig, StorageSpec};
use crate::sim::{Inner, Simulator, State, unix_now};

/// The state file's name in the state directory.
pub const STATE_FILE: &str = "state.json";
/// The lock file's name in the state directory.
pub const LOCK_FILE: &str = "lock";
/// The format of the state file this version writes and reads.
pub const FORMAT: u32 = 1;
/// The exit status of a task that was running when its node went down.
pub const INTERRUPTED_TASK_STATUS: &str = "unexpected status";

/// Errors of saving and loading the simulator's state.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The directory cannot be made.
    #[error("cannot create the simulator's state directory {path}")]
    CreateDirectory {
        /// The directory.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Another simulator holds the directory.
    #[error(
        "the simulator's state directory {path} is in use by another simulator (or labform command)"
    )]
    InUse {
        /// The directory.
        path: PathBuf,
    },
    /// Locking failed for another reason.
    #[error("cannot lock the simulator's state directory {path}")]
    Lock {
        /// The directory.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The state file cannot be read.
    #[error("cannot read the simulator's state file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not valid.
    #[error("{path} is not a simulator state file labform can read")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// The state file is of a format this version does not read.
    #[error(
        "{path} has state format {found}; this labform reads format {FORMAT} (`labform sim reset` clears it)"
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// Its format.
        found: u32,
    },
    /// The state cannot be encoded.
    #[error("cannot encode the simulator's state")]
    Encode(#[source] serde_json::Error),
    /// The state file cannot be written.
    #[error("cannot write the simulator's state file {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// The cluster's shape, saved with its state so that a restart without a lab
/// or node count comes back with the same nodes and storages.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedShape {
    /// Nodes.
    pub nodes: Vec<NodeSpec>,
    /// Storages.
    pub storages: Vec<StorageSpec>,
    /// Cluster name.
    pub cluster_name: String,
    /// Bridges per node.
    #[serde(default)]
    pub bridges: Vec<crate::config::NetworkBridge>,
    /// Whether `download-url` records instead of fetching.
    #[serde(default)]
    pub offline_downloads: bool,
}

impl SavedShape {
    /// The shape of `config`.
    pub fn of(config: &SimConfig) -> Self {
        Self {
            nodes: config.nodes.clone(),
            storages: config.storages.clone(),
            cluster_name: config.cluster_name.clone(),
            bridges: config.bridges.clone(),
            offline_downloads: config.offline_downloads,
        }
    }

    /// Puts this shape into `config`.
    pub fn apply_to(&self, config: &mut SimConfig) {
        config.nodes = self.nodes.clone();
        config.storages = self.storages.clone();
        config.cluster_name = self.cluster_name.clone();
        config.bridges = self.bridges.clone();
        config.offline_downloads = self.offline_downloads;
    }
}

/// A state file as read.
#[derive(Debug, serde::Deserialize)]
pub struct SavedState {
    format: u32,
    /// The cluster's shape when it was saved.
    pub shape: SavedShape,
    state: State,
    #[serde(default)]
    task_logs: HashMap<String, Vec<String>>,
}

impl SavedState {
    /// The number of VMs in the saved state.
    pub fn vm_count(&self) -> usize {
        self.state.vms.len()
    }
}

#[derive(serde::Serialize)]
struct SavedStateRef<'a> {
    format: u32,
    shape: SavedShape,
    state: &'a State,
    task_logs: &'a HashMap<String, Vec<String>>,
}

/// A state directory, locked for as long as this value lives.
#[derive(Debug)]
pub struct StateDirectory {
    path: PathBuf,
    _lock: File,
}

impl StateDirectory {
    /// Opens (creating it if needed) and locks `path`; [`PersistError::InUse`] if another
    /// process holds it.
    pub fn open(path: &Path) -> Result<Self, PersistError> {
        Self::open_with(path, None)
    }

    /// Opens and locks `path`, waiting for another process that holds it (after calling
    /// `waiting` once), for commands that take turns on one state.
    pub fn open_waiting(path: &Path, waiting: &mut dyn FnMut()) -> Result<Self, PersistError> {
        Self::open_with(path, Some(waiting))
    }

    fn open_with(path: &Path, waiting: Option<&mut dyn FnMut()>) -> Result<Self, PersistError> {
        std::fs::create_dir_all(path).map_err(|source| PersistError::CreateDirectory {
            path: path.to_owned(),
            source,
        })?;
        let lock_path = path.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| PersistError::Lock {
                path: path.to_owned(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => match waiting {
                None => {
                    return Err(PersistError::InUse {
                        path: path.to_owned(),
                    });
                }
                Some(waiting) => {
                    waiting();
                    lock.lock().map_err(|source| PersistError::Lock {
                        path: path.to_owned(),
                        source,
                    })?;
                }
            },
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(PersistError::Lock {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        Ok(Self {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state, if the directory has one.
    pub fn load(&self) -> Result<Option<SavedState>, PersistError> {
        let file = self.path.join(STATE_FILE);
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(PersistError::Read { path: file, source }),
        };
        #[derive(serde::Deserialize)]
        struct Header {
            format: u32,
        }
        let header: Header =
            serde_json::from_slice(&bytes).map_err(|source| PersistError::Parse {
                path: file.clone(),
                source,
            })?;
        if header.format != FORMAT {
            return Err(PersistError::Format {
                path: file,
                found: header.format,
            });
        }
        let saved: SavedState =
            serde_json::from_slice(&bytes).map_err(|source| PersistError::Parse {
                path: file.clone(),
                source,
            })?;
        debug_assert_eq!(saved.format, FORMAT);
        Ok(Some(saved))
    }

    /// Removes the saved state (the directory and its lock stay).
    pub fn clear(&self) -> Result<(), PersistError> {
        for name in [STATE_FILE, "state.json.tmp"] {
            let file = self.path.join(name);
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(PersistError::Write { path: file, source }),
            }
        }
        Ok(())
    }

    /// Writes `bytes` as the state file: temporary file, flush, rename, flush of the directory.
    fn write(&self, bytes: &[u8]) -> Result<(), PersistError> {
        let temporary = self.path.join("state.json.tmp");
        let file = self.path.join(STATE_FILE);
        let error = |source| PersistError::Write {
            path: file.clone(),
            source,
        };
        {
            // The state holds root@pam's password and token secrets: owner only.
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut out = File::options()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&temporary)
                .map_err(error)?;
            out.write_all(bytes).map_err(error)?;
            out.sync_all().map_err(error)?;
        }
        std::fs::rename(&temporary, &file).map_err(error)?;
        File::open(&self.path)
            .and_then(|directory| directory.sync_all())
            .map_err(error)?;
        Ok(())
    }
}

/// How far the writer has come.
#[derive(Debug, Clone, Default)]
struct WriteMark {
    /// The change count of the last save attempted.
    attempted: u64,
    /// The change count of the last save that reached the disk.
    saved: u64,
    /// Why the last attempt failed.
    error: Option<Arc<str>>,
}

/// The saving side of a simulator with a state directory (the directory's lock lives as long as
/// the simulator: the writer thread holds it only weakly).
pub(crate) struct Persistence {
    directory: StateDirectory,
    wake: Mutex<std::sync::mpsc::Sender<()>>,
    written: tokio::sync::watch::Sender<WriteMark>,
}

impl std::fmt::Debug for Persistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persistence")
            .field("directory", &self.directory.path)
            .finish()
    }
}

fn encode(inner: &Inner) -> Result<Vec<u8>, PersistError> {
    let state = inner.state.lock().unwrap_or_else(|p| p.into_inner());
    let logs = inner.logs.lock().unwrap_or_else(|p| p.into_inner());
    serde_json::to_vec(&SavedStateRef {
        format: FORMAT,
        shape: SavedShape::of(&inner.config),
        state: &state,
        task_logs: &logs,
    })
    .map_err(PersistError::Encode)
}

impl Persistence {
    /// Starts the writer thread for `inner` (which it holds weakly: it ends with the simulator).
    fn start(inner: &Arc<Inner>, directory: StateDirectory) -> Self {
        let (wake, requests) = std::sync::mpsc::channel::<()>();
        let (written, _) = tokio::sync::watch::channel(WriteMark::default());
        let publish = written.clone();
        let weak: Weak<Inner> = Arc::downgrade(inner);
        std::thread::Builder::new()
            .name("labform-sim-state".into())
            .spawn(move || {
                while requests.recv().is_ok() {
                    // Every request waiting now is served by this one save.
                    while requests.try_recv().is_ok() {}
                    let Some(inner) = weak.upgrade() else { break };
                    let target = inner.changes.load(Ordering::SeqCst);
                    let result = match inner.persistence.get() {
                        Some(persistence) => {
                            encode(&inner).and_then(|bytes| persistence.directory.write(&bytes))
                        }
                        None => Ok(()),
                    };
                    // Let go of the simulator before anyone is told: whoever drops it last
                    // then releases the state directory at once.
                    drop(inner);
                    publish.send_modify(|mark| {
                        mark.attempted = mark.attempted.max(target);
                        match &result {
                            Ok(()) => {
                                mark.saved = mark.saved.max(target);
                                mark.error = None;
                            }
                            Err(error) => {
                                mark.error = Some(crate::error_text(error).into());
                            }
                        }
                    });
                }
            })
            .expect("the simulator's state writer thread starts");
        Self {
            directory,
            wake: Mutex::new(wake),
            written,
        }
    }
}

impl Simulator {
    /// A simulator of `config` kept in `directory`: the saved state when `saved` is given (read
    /// by [`StateDirectory::load`]; its interrupted tasks are ended as after a node went down),
    /// else a new cluster. The state is saved at once and after every change from then on.
    ///
    /// The cluster's shape is `config`'s; use [`SavedShape::apply_to`] first to come back with
    /// the saved one.
    pub fn restore(
        config: SimConfig,
        faults: crate::faults::FaultConfig,
        directory: StateDirectory,
        saved: Option<SavedState>,
        root_password: Option<labform_proxmox::Secret>,
    ) -> Result<Self, PersistError> {
        let simulator = Self::with_faults(config, faults);
        if let Some(saved) = saved {
            let mut state = saved.state;
            let mut logs = saved.task_logs;
            end_interrupted_tasks(&mut state, &mut logs);
            for node in &simulator.inner.config.nodes {
                state.online.entry(node.name.clone()).or_insert(node.online);
            }
            *simulator.lock() = state;
            *simulator
                .inner
                .logs
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = logs;
        }
        if let Some(password) = root_password {
            simulator.set_root_password(password);
        }
        let persistence = Persistence::start(&simulator.inner, directory);
        simulator
            .inner
            .persistence
            .set(persistence)
            .expect("a new simulator has no persistence yet");
        simulator.save()?;
        Ok(simulator)
    }

    /// Sets root@pam's password.
    pub fn set_root_password(&self, password: labform_proxmox::Secret) {
        let mut state = self.lock();
        if let Some(root) = state.access.users.get_mut("root@pam") {
            root.password = Some(password);
        }
    }

    /// The state directory, if the simulator keeps its state.
    pub fn state_directory(&self) -> Option<&Path> {
        self.inner
            .persistence
            .get()
            .map(|persistence| persistence.directory.path())
    }

    /// Saves the state now, on this thread (for the end of a command, or a server's shutdown).
    pub fn save(&self) -> Result<(), PersistError> {
        let Some(persistence) = self.inner.persistence.get() else {
            return Ok(());
        };
        let target = self.inner.changes.load(Ordering::SeqCst);
        let result = encode(&self.inner).and_then(|bytes| persistence.directory.write(&bytes));
        if result.is_ok() {
            persistence.written.send_modify(|mark| {
                mark.attempted = mark.attempted.max(target);
                mark.saved = mark.saved.max(target);
            });
        }
        result
    }

    /// Waits until every change made so far is saved (at once without a state directory).
    /// Errors carry the cause's text: the change itself has been made.
    pub async fn commit(&self) -> Result<(), String> {
        let Some(persistence) = self.inner.persistence.get() else {
            return Ok(());
        };
        let target = self.inner.changes.load(Ordering::SeqCst);
        let mut marks = persistence.written.subscribe();
        if marks.borrow().saved >= target {
            return Ok(());
        }
        {
            let wake = persistence.wake.lock().unwrap_or_else(|p| p.into_inner());
            if wake.send(()).is_err() {
                return Err("the simulator's state writer has stopped".into());
            }
        }
        let mark = marks
            .wait_for(|mark| mark.attempted >= target)
            .await
            .map_err(|_| "the simulator's state writer has stopped".to_owned())?
            .clone();
        if mark.saved >= target {
            Ok(())
        } else {
            Err(mark
                .error
                .map(|error| error.to_string())
                .unwrap_or_else(|| "the state was not saved".into()))
        }
    }
}

/// Ends the tasks `state` shows running: stopped now, with no final line in their log.
fn end_interrupted_tasks(state: &mut State, logs: &mut HashMap<String, Vec<String>>) {
    let now = unix_now();
    for (upid, task) in state.tasks.iter_mut() {
        if task.exitstatus.is_none() {
            task.exitstatus = Some(INTERRUPTED_TASK_STATUS.to_owned());
            task.endtime = Some(now);
            logs.entry(upid.clone()).or_default();
        }
    }
}

/// Serde for `Option<tokio::time::Instant>` as Unix time in milliseconds, so that a restart keeps
/// how long ago something happened (a VM's uptime, how long it has been listed).
pub mod instant_as_unix_time {
    use serde::{Deserialize as _, Deserializer, Serializer};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    use tokio::time::Instant;

    fn wall_millis() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    fn to_millis(instant: Instant) -> u64 {
        let now = Instant::now();
        let wall = wall_millis();
        if instant <= now {
            wall.saturating_sub(now.duration_since(instant).as_millis() as u64)
        } else {
            wall.saturating_add(instant.duration_since(now).as_millis() as u64)
        }
    }

    fn from_millis(millis: u64) -> Instant {
        let now = Instant::now();
        let wall = wall_millis();
        if millis <= wall {
            now.checked_sub(Duration::from_millis(wall - millis))
                .unwrap_or(now)
        } else {
            now + Duration::from_millis(millis - wall)
        }
    }

    /// Serialises an optional instant.
    pub fn serialize<S: Serializer>(value: &Option<Instant>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(instant) => s.serialize_some(&to_millis(*instant)),
            None => s.serialize_none(),
        }
    }

    /// Deserialises an optional instant.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Instant>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(from_millis))
    }

    /// The same for an instant that is always there.
    pub mod required {
        use super::*;

        /// Serialises an instant.
        pub fn serialize<S: Serializer>(value: &Instant, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_u64(to_millis(*value))
        }

        /// Deserialises an instant.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Instant, D::Error> {
            Ok(from_millis(u64::deserialize(d)?))
        }
    }
}
