//! One way in: everything the planner reads, gathered in one place and planned once.
//!
//! Every command (and the tests that drive a whole cycle) starts here: the lab file with its
//! includes, the lock file of earlier allocations (read, checked or ignored as the user asked),
//! and, against Proxmox, what discovery finds on every endpoint. [`Inputs::plan_offline`] and
//! [`plan_against_endpoints`] call the pure planner exactly once.

use std::path::{Path, PathBuf};

use labform_model::{Diagnostic, LabFile, RealFileSystem, SourceMap};
use labform_planner::inventory::Inventory;
use labform_planner::reconcile::{Reconciliation, reconcile};
use labform_planner::tenancy::TokenSecrets;
use labform_planner::{Allocations, Plan, Planned};
use labform_secrets::SecretStore;

use crate::engine::Endpoint;
use crate::tenants::{TokenSecretsError, token_secrets};
use crate::{ExecuteError, Refresh, discover_access, discover_with};

/// What a command does with the lab's lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockMode {
    /// Read it, and let commands that record decisions (`plan`, `apply`) write what changed.
    #[default]
    Update,
    /// Read it and fail when the plan would change it (CI's `--locked`).
    Locked,
    /// Neither read nor write it (`--no-lock`): every decision is made afresh.
    Ignore,
}

/// The lock file of a lab: decisions earlier plans made, kept by later ones.
#[derive(Debug, Clone)]
pub struct LockFile {
    path: PathBuf,
    mode: LockMode,
    recorded: Allocations,
}

/// What went wrong with a lock file.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The file exists but cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a lock file labform wrote.
    #[error("{} is not a labform lock file; delete it to start afresh", path.display())]
    Malformed {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The file cannot be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `--locked`, and the plan changes what the file records.
    #[error(
        "the plan changes allocations recorded in {}; run `labform plan {}` without --locked to update it",
        path.display(),
        lab.display()
    )]
    WouldChange {
        /// The lock file.
        path: PathBuf,
        /// The lab file.
        lab: PathBuf,
    },
}

impl LockFile {
    /// The lock file of `lab`: the same path with the extension `.lock`.
    pub fn default_path(lab: &Path) -> PathBuf {
        lab.with_extension("lock")
    }

    /// Opens the lock file at `path` (`None`: the lab's default) in `mode`; a missing file is
    /// an empty lock, and [`LockMode::Ignore`] reads nothing.
    pub fn open(lab: &Path, path: Option<&Path>, mode: LockMode) -> Result<Self, LockError> {
        let path = path.map_or_else(|| Self::default_path(lab), Path::to_path_buf);
        let recorded = match mode {
            LockMode::Ignore => Allocations::empty(),
            LockMode::Update | LockMode::Locked => read(&path)?,
        };
        Ok(Self {
            path,
            mode,
            recorded,
        })
    }

    /// The decisions recorded (none with [`LockMode::Ignore`]).
    pub fn recorded(&self) -> &Allocations {
        &self.recorded
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The mode it was opened in.
    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// Refuses, under [`LockMode::Locked`], a plan whose `allocations` differ from the file's.
    /// Commands that only read (drift, status, render, ...) call this and write nothing.
    pub fn check(&self, lab: &Path, allocations: &Allocations) -> Result<(), LockError> {
        if self.mode == LockMode::Locked && *allocations != self.recorded {
            return Err(LockError::WouldChange {
                path: self.path.clone(),
                lab: lab.to_path_buf(),
            });
        }
        Ok(())
    }

    /// Records `allocations` for commands that decide (`plan`, `apply`): written when they differ
    /// under [`LockMode::Update`], refused under [`LockMode::Locked`], skipped under
    /// [`LockMode::Ignore`]. Returns whether the file was written.
    pub fn record(&mut self, lab: &Path, allocations: &Allocations) -> Result<bool, LockError> {
        self.check(lab, allocations)?;
        if self.mode != LockMode::Update || *allocations == self.recorded {
            return Ok(false);
        }
        write(&self.path, allocations)?;
        self.recorded = allocations.clone();
        Ok(true)
    }
}

fn read(path: &Path) -> Result<Allocations, LockError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|source| LockError::Malformed {
            path: path.to_path_buf(),
            source,
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Allocations::empty()),
        Err(source) => Err(LockError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes atomically: a temporary file beside it, then a rename.
fn write(path: &Path, allocations: &Allocations) -> Result<(), LockError> {
    let mut text = serde_json::to_string_pretty(allocations).expect("allocations serialise");
    text.push('\n');
    let temporary = path.with_extension("lock.tmp");
    let failed = |source| LockError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&temporary, text).map_err(failed)?;
    std::fs::rename(&temporary, path).map_err(failed)
}

/// A lab file read with its includes, and its lock file.
#[derive(Debug)]
pub struct Inputs {
    /// The lab file given on the command line.
    pub path: PathBuf,
    /// The merged lab, when it loaded.
    pub lab: Option<LabFile>,
    /// Every file read, for rendering diagnostics.
    pub sources: SourceMap,
    /// Problems found while loading (planning adds its own to its result).
    pub diagnostics: Vec<Diagnostic>,
    /// The lock file.
    pub lock: LockFile,
}

impl Inputs {
    /// Loads the lab at `path` and opens its lock file (`lock`: another path) in `mode`.
    pub fn read(path: &Path, lock: Option<&Path>, mode: LockMode) -> Result<Self, LockError> {
        let lock = LockFile::open(path, lock, mode)?;
        let loaded = labform_model::load(&RealFileSystem, path);
        Ok(Self {
            path: path.to_path_buf(),
            lab: loaded.lab,
            sources: loaded.sources,
            diagnostics: loaded.diagnostics,
            lock,
        })
    }

    /// Whether loading found errors (then there is nothing to plan).
    pub fn failed(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The offline plan with the lock file's allocations: `None` when the lab did not load.
    pub fn plan_offline(&self) -> Option<Planned> {
        let lab = self.lab.as_ref().filter(|_| !self.failed())?;
        Some(labform_planner::plan(lab, self.lock.recorded()))
    }

    /// The plan against what `endpoints` hold, with the lock file's allocations under what
    /// Proxmox shows: `None` when the lab did not load.
    pub async fn plan_against(
        &self,
        endpoints: &[Endpoint],
        concurrency: usize,
        secrets: Option<&SecretStore>,
    ) -> Result<Option<Against>, DiscoveryError> {
        self.plan_against_with(endpoints, concurrency, secrets, Refresh::ReadConfigs)
            .await
    }

    /// [`Inputs::plan_against`], reading the VMs' configs as `refresh` says.
    pub async fn plan_against_with(
        &self,
        endpoints: &[Endpoint],
        concurrency: usize,
        secrets: Option<&SecretStore>,
        refresh: Refresh,
    ) -> Result<Option<Against>, DiscoveryError> {
        let Some(lab) = self.lab.as_ref().filter(|_| !self.failed()) else {
            return Ok(None);
        };
        plan_against_endpoints_with(
            lab,
            self.lock.recorded(),
            endpoints,
            concurrency,
            secrets,
            refresh,
        )
        .await
        .map(Some)
    }
}

/// What kept labform from knowing what exists.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The VMs of an endpoint could not be read.
    #[error("cannot read what exists on `{endpoint}`")]
    Vms {
        /// The endpoint.
        endpoint: String,
        /// Why.
        #[source]
        source: ExecuteError,
    },
    /// The users, tokens, ACL entries and pools of an endpoint could not be read.
    #[error("cannot read the users and pools of `{endpoint}`")]
    Access {
        /// The endpoint.
        endpoint: String,
        /// Why.
        #[source]
        source: ExecuteError,
    },
    /// The lab has tenants, whose token secrets live in labform's secret store, and no store was
    /// given.
    #[error("the lab has tenants, and their API token secrets need labform's secret store")]
    NoSecretStore,
    /// The secret store could not say which token secrets it holds.
    #[error(transparent)]
    TokenSecrets(#[from] TokenSecretsError),
}

/// A lab planned against what exists.
#[derive(Debug)]
pub struct Against {
    /// What planning produced: the plan (absent with errors), the allocations to record, and
    /// the planner's diagnostics.
    pub planned: Planned,
    /// What exists on every endpoint.
    pub inventory: Inventory,
    /// What to change, when there is a plan.
    pub reconciliation: Option<Reconciliation>,
}

impl Against {
    /// The plan, when planning found no errors.
    pub fn plan(&self) -> Option<&Plan> {
        self.planned.plan.as_ref()
    }
}

/// Discovers every endpoint, keeps the allocations the owned VMs show (over `previous`, the lock
/// file's), plans once against the VM IDs in use, reads the tenants' users, tokens, ACL entries
/// and pools and which token secrets `secrets` holds (needed only when the lab has tenants), and
/// reconciles.
pub async fn plan_against_endpoints(
    lab: &LabFile,
    previous: &Allocations,
    endpoints: &[Endpoint],
    concurrency: usize,
    secrets: Option<&SecretStore>,
) -> Result<Against, DiscoveryError> {
    plan_against_endpoints_with(
        lab,
        previous,
        endpoints,
        concurrency,
        secrets,
        Refresh::ReadConfigs,
    )
    .await
}

/// [`plan_against_endpoints`], reading the VMs' configs as `refresh` says (with
/// [`Refresh::TrustTags`], the allocations the owned VMs show are their VM IDs and nodes only;
/// addresses come from `previous`).
pub async fn plan_against_endpoints_with(
    lab: &LabFile,
    previous: &Allocations,
    endpoints: &[Endpoint],
    concurrency: usize,
    secrets: Option<&SecretStore>,
    refresh: Refresh,
) -> Result<Against, DiscoveryError> {
    let scope = lab.scope();
    let mut inventory = Inventory::default();
    for endpoint in endpoints {
        let found = discover_with(
            &endpoint.name,
            endpoint.api.clone(),
            scope,
            concurrency,
            refresh,
        )
        .await
        .map_err(|source| DiscoveryError::Vms {
            endpoint: endpoint.name.clone(),
            source,
        })?;
        inventory.vms.extend(found);
    }
    let previous = inventory.merge_into(scope, previous);
    let planned = labform_planner::plan_against(lab, &previous, &inventory.observed_ids(scope));
    let Some(plan) = planned.plan.as_ref() else {
        return Ok(Against {
            planned,
            inventory,
            reconciliation: None,
        });
    };
    for endpoint in endpoints {
        let access = discover_access(&endpoint.name, endpoint.api.clone(), plan)
            .await
            .map_err(|source| DiscoveryError::Access {
                endpoint: endpoint.name.clone(),
                source,
            })?;
        inventory.access.push(access);
    }
    let held = match (plan.tenants.is_empty(), secrets) {
        (true, _) => TokenSecrets::none(),
        (false, Some(store)) => token_secrets(plan, store)?,
        (false, None) => return Err(DiscoveryError::NoSecretStore),
    };
    let reconciliation = Some(reconcile(plan, &inventory, &held));
    Ok(Against {
        planned,
        inventory,
        reconciliation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allocations(vm: &str, id: u32) -> Allocations {
        let mut allocations = Allocations::empty();
        allocations
            .vm_ids
            .insert(labform_planner::AllocationKey::vm(vm), id);
        allocations
    }

    #[test]
    fn lock_modes_read_check_and_record_as_asked() {
        let directory = tempfile::tempdir().unwrap();
        let lab = directory.path().join("lab.yaml");
        let first = allocations("a", 1000);
        let second = allocations("b", 1001);

        let mut lock = LockFile::open(&lab, None, LockMode::Update).unwrap();
        assert_eq!(lock.path(), directory.path().join("lab.lock"));
        assert!(
            lock.recorded().is_empty(),
            "a missing file is an empty lock"
        );
        assert!(lock.record(&lab, &first).unwrap(), "written");
        assert!(
            !lock.record(&lab, &first).unwrap(),
            "unchanged: not written again"
        );

        let mut locked = LockFile::open(&lab, None, LockMode::Locked).unwrap();
        assert_eq!(locked.recorded(), &first);
        locked.check(&lab, &first).unwrap();
        let refused = locked.record(&lab, &second).unwrap_err();
        assert!(
            matches!(refused, LockError::WouldChange { .. }),
            "{refused}"
        );
        assert_eq!(
            LockFile::open(&lab, None, LockMode::Update)
                .unwrap()
                .recorded(),
            &first
        );

        let mut ignored = LockFile::open(&lab, None, LockMode::Ignore).unwrap();
        assert!(ignored.recorded().is_empty(), "--no-lock reads nothing");
        assert!(
            !ignored.record(&lab, &second).unwrap(),
            "--no-lock writes nothing"
        );
        assert_eq!(
            LockFile::open(&lab, None, LockMode::Update)
                .unwrap()
                .recorded(),
            &first
        );

        std::fs::write(directory.path().join("lab.lock"), "not json").unwrap();
        let malformed = LockFile::open(&lab, None, LockMode::Update).unwrap_err();
        assert!(
            malformed.to_string().contains("not a labform lock file"),
            "{malformed}"
        );
    }
}
