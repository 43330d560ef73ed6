//! The cloud-init drive of a started VM: a NoCloud ISO (volume id `cidata`)
//! with `user-data`, `meta-data` and `network-config`, made with genisoimage
//! exactly as qemu-server makes it at every start.

use super::{BackendError, CloudInitSeed};
use std::path::Path;
use std::process::Command;

/// Writes the seed's documents to `work_dir` and the ISO to `iso`.
pub fn write_seed_iso(
    seed: &CloudInitSeed,
    work_dir: &Path,
    iso: &Path,
) -> Result<(), BackendError> {
    if work_dir.exists() {
        std::fs::remove_dir_all(work_dir).map_err(|source| BackendError::Io {
            action: "clearing",
            path: work_dir.to_owned(),
            source,
        })?;
    }
    std::fs::create_dir_all(work_dir).map_err(|source| BackendError::Io {
        action: "creating",
        path: work_dir.to_owned(),
        source,
    })?;
    for (name, text) in [
        ("user-data", &seed.user_data),
        ("meta-data", &seed.meta_data),
        ("network-config", &seed.network_config),
    ] {
        let path = work_dir.join(name);
        std::fs::write(&path, text).map_err(|source| BackendError::Io {
            action: "writing",
            path,
            source,
        })?;
    }
    let output = Command::new("genisoimage")
        .args(["-quiet", "-iso-level", "3", "-R", "-V", "cidata", "-o"])
        .arg(iso)
        .arg(work_dir)
        .output()
        .map_err(|e| BackendError::Command {
            command: "genisoimage".into(),
            detail: format!("{e} (install genisoimage)"),
        })?;
    if !output.status.success() {
        return Err(BackendError::Command {
            command: "genisoimage".into(),
            detail: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(())
}
