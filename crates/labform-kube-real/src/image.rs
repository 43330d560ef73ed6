//! The one container image the node has, since no registry can be reached: Debian's static
//! busybox as `/bin/busybox`, in the docker-archive layout `ctr images import` reads (a tar of
//! one layer tar, the image config named after its SHA-256, and `manifest.json`). It is tagged
//! as the sandbox ("pause") image and as the image the tests' pods run; its entrypoint sleeps,
//! which is all a sandbox does.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::StartError;
use crate::release::{hex, sha256_file};

/// The sandbox image the containerd configuration names.
pub(crate) const PAUSE_IMAGE: &str = "labform.test/pause:1";

/// The image the tests' pods run (`/bin/busybox` with its applets, no shell links: commands
/// start with `/bin/busybox`).
pub const BUSYBOX_IMAGE: &str = "labform.test/busybox:1";

/// The static busybox Debian's `busybox-static` installs.
const BUSYBOX: &str = "/bin/busybox";

fn failed(detail: impl Into<String>) -> StartError {
    StartError::Image {
        detail: detail.into(),
    }
}

fn tar(arguments: &[&str], directory: &Path) -> Result<(), StartError> {
    let output = std::process::Command::new("tar")
        .args(arguments)
        .current_dir(directory)
        .output()
        .map_err(|error| failed(format!("cannot run tar: {error}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(failed(format!(
            "tar {} failed: {}",
            arguments.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Whether an ELF64 file names a program interpreter (a `PT_INTERP` program header): a
/// dynamically linked program, which needs a C library the image does not have.
fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let read_u16 = |at: usize| {
        elf.get(at..at + 2)
            .map(|bytes| u16::from_le_bytes([bytes[0], bytes[1]]))
    };
    let read_u32 = |at: usize| {
        elf.get(at..at + 4)
            .map(|bytes| u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    let read_u64 = |at: usize| {
        elf.get(at..at + 8).map(|bytes| {
            let mut array = [0_u8; 8];
            array.copy_from_slice(bytes);
            u64::from_le_bytes(array)
        })
    };
    if !elf.starts_with(b"\x7fELF") {
        return false;
    }
    let (Some(offset), Some(size), Some(count)) = (read_u64(32), read_u16(54), read_u16(56)) else {
        return false;
    };
    let Ok(offset) = usize::try_from(offset) else {
        return false;
    };
    (0..usize::from(count))
        .any(|index| read_u32(offset + index * usize::from(size)) == Some(PT_INTERP))
}

/// Builds the image archive in `directory` and returns its path.
pub(crate) fn build(directory: &Path) -> Result<PathBuf, StartError> {
    let busybox =
        fs::read(BUSYBOX).map_err(|error| failed(format!("cannot read {BUSYBOX}: {error}")))?;
    if has_interpreter(&busybox) {
        return Err(failed(format!(
            "{BUSYBOX} is linked dynamically and cannot run in an image without a C library \
             (install Debian's busybox-static instead of busybox)"
        )));
    }
    let root = directory.join("rootfs");
    fs::create_dir_all(root.join("bin"))
        .map_err(|error| failed(format!("cannot create {}: {error}", root.display())))?;
    let target = root.join("bin/busybox");
    fs::write(&target, &busybox)
        .map_err(|error| failed(format!("cannot write {}: {error}", target.display())))?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755))
            .map_err(|error| failed(format!("cannot make busybox executable: {error}")))?;
    }
    tar(
        &["--owner=0", "--group=0", "-cf", "../layer.tar", "bin"],
        &root,
    )?;
    let layer_hash = sha256_file(&directory.join("layer.tar"))
        .map_err(|error| failed(format!("cannot read the layer: {error}")))?;
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/bin/busybox", "sleep", "2147483647"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_hash}")]},
    })
    .to_string();
    let config_name = format!("{}.json", hex(&Sha256::digest(config.as_bytes())));
    fs::write(directory.join(&config_name), &config)
        .map_err(|error| failed(format!("cannot write the image config: {error}")))?;
    let manifest = json!([{
        "Config": config_name,
        "Layers": ["layer.tar"],
        "RepoTags": [PAUSE_IMAGE, BUSYBOX_IMAGE],
    }])
    .to_string();
    fs::write(directory.join("manifest.json"), manifest)
        .map_err(|error| failed(format!("cannot write manifest.json: {error}")))?;
    tar(
        &[
            "--owner=0",
            "--group=0",
            "-cf",
            "image.tar",
            "manifest.json",
            &config_name,
            "layer.tar",
        ],
        directory,
    )?;
    Ok(directory.join("image.tar"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamically_linked_programs_are_told_apart() {
        let shell = fs::read("/bin/sh").expect("/bin/sh");
        assert!(has_interpreter(&shell), "/bin/sh is linked dynamically");
        assert!(!has_interpreter(b"#!/bin/sh\n"));
    }
}
