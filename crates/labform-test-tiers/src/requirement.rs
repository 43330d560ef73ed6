//! What a tier can need from the machine ([`Requirement`]) and how each need is checked, with
//! what to install when it is not met.

use std::process::{Command, Stdio};

use crate::locations::{
    KUBERNETES_RELEASE_TARBALL, PROXMOXER_REQUESTS_VERSION, PROXMOXER_VERSION, find_program,
    kubernetes_release_dir, mermaid_cli, node_image_build_script, proxmoxer_python,
};

/// Something a tier needs from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// The tests run as root (network namespaces, tap devices, `sudo` without a password, files
    /// owned by root).
    Root,
    /// A program, found on `PATH` or in `/usr/sbin` or `/sbin`, and the Debian package that has it.
    Program {
        /// The program's file name, or an absolute path.
        name: &'static str,
        /// The Debian package that installs it.
        package: &'static str,
    },
    /// Python modules that an interpreter can import.
    PythonModules {
        /// The interpreter: `python3` from `PATH`, or an absolute path such as Debian's
        /// `/usr/bin/python3` (where Debian's `cloud-init` puts its modules).
        interpreter: &'static str,
        /// The modules' import names.
        modules: &'static [&'static str],
        /// How to install them.
        install: &'static str,
    },
    /// The node image build script of the real-VM tests: see [`node_image_build_script`].
    NodeImageBuildScript,
    /// The Kubernetes release tarball and its `SHA256SUMS`: see [`kubernetes_release_dir`].
    KubernetesRelease,
    /// The virtual environment with PyPI's proxmoxer at [`PROXMOXER_VERSION`]: see
    /// [`proxmoxer_python`].
    Proxmoxer,
    /// mermaid-cli's `mmdc` (npm `@mermaid-js/mermaid-cli`): see [`mermaid_cli`].
    MermaidCli,
}

impl Requirement {
    /// `Ok` when the machine meets the requirement, else why not (and what to install).
    pub fn check(&self) -> Result<(), String> {
        match self {
            Self::Root => match effective_user_id() {
                Some(0) => Ok(()),
                Some(user) => Err(format!("needs root (running as user ID {user})")),
                None => Err("needs root (the user ID could not be read)".to_owned()),
            },
            Self::Program { name, package } => match find_program(name) {
                Some(_) => Ok(()),
                None => Err(format!(
                    "`{name}` is missing (Debian package {package}: apt-get install {package})"
                )),
            },
            Self::PythonModules {
                interpreter,
                modules,
                install,
            } => {
                let imported = Command::new(interpreter)
                    .arg("-c")
                    .arg(format!("import {}", modules.join(", ")))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success());
                if imported {
                    Ok(())
                } else {
                    Err(format!(
                        "`{interpreter}` cannot import {} ({install})",
                        modules.join(", ")
                    ))
                }
            }
            Self::NodeImageBuildScript => {
                let script = node_image_build_script();
                if script.is_file() {
                    Ok(())
                } else {
                    Err(format!(
                        "the node image build script is missing at {} (set LABFORM_VM_IMAGE_BUILD)",
                        script.display()
                    ))
                }
            }
            Self::Proxmoxer => {
                let python = proxmoxer_python();
                let found = Command::new(&python)
                    .arg("-c")
                    .arg("import proxmoxer, requests; print(proxmoxer.__version__, requests.__version__)")
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .output()
                    .ok()
                    .filter(|output| output.status.success())
                    .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
                let wanted = format!("{PROXMOXER_VERSION} {PROXMOXER_REQUESTS_VERSION}");
                match found {
                    Some(versions) if versions == wanted => Ok(()),
                    Some(versions) => Err(format!(
                        "{} has proxmoxer and requests {versions}, not {wanted} (bash scripts/test.sh makes it)",
                        python.display()
                    )),
                    None => Err(format!(
                        "no proxmoxer {PROXMOXER_VERSION} at {} (bash scripts/test.sh makes the virtual environment; or set LABFORM_PROXMOXER_PYTHON)",
                        python.display()
                    )),
                }
            }
            Self::MermaidCli => match mermaid_cli() {
                Some(_) => Ok(()),
                None => Err(
                    "mermaid-cli's `mmdc` is missing (npm install @mermaid-js/mermaid-cli; \
                     set LABFORM_MERMAID_CLI to its `mmdc`, or put it on PATH)"
                        .to_owned(),
                ),
            },
            Self::KubernetesRelease => {
                let directory = kubernetes_release_dir();
                let missing: Vec<&str> = [KUBERNETES_RELEASE_TARBALL, "SHA256SUMS"]
                    .into_iter()
                    .filter(|file| !directory.join(file).is_file())
                    .collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "the Kubernetes release is missing in {} ({}; set LABFORM_KUBERNETES_RELEASE)",
                        directory.display(),
                        missing.join(", ")
                    ))
                }
            }
        }
    }
}

/// The process's effective user ID: the owner of `/proc/self` on Linux, else what `id -u` says.
fn effective_user_id() -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    if let Ok(metadata) = std::fs::metadata("/proc/self") {
        return Some(metadata.uid());
    }
    let output = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_say_what_is_missing_and_how_to_install_it() {
        let program = Requirement::Program {
            name: "labform-no-such-program",
            package: "labform-no-such-package",
        };
        assert_eq!(
            program.check(),
            Err(
                "`labform-no-such-program` is missing (Debian package labform-no-such-package: \
                 apt-get install labform-no-such-package)"
                    .to_owned()
            )
        );
        assert_eq!(
            Requirement::Program {
                name: "sh",
                package: "dash"
            }
            .check(),
            Ok(())
        );
        let modules = Requirement::PythonModules {
            interpreter: "/nonexistent/python3",
            modules: &["a", "b"],
            install: "pip install a b",
        };
        assert_eq!(
            modules.check(),
            Err("`/nonexistent/python3` cannot import a, b (pip install a b)".to_owned())
        );
    }
}
