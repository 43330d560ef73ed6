//! The lab's Git repository, through the `git` program.
//!
//! **Why the `git` program.** It is what Argo CD and Flux's git bootstrap use, it speaks every
//! transport and credential the user's Git host does, and it adds nothing to labform's build
//! (the pure-Rust `gix` would add a large, fast-moving dependency tree for a fetch and a
//! checkout). So `labform serve --git` needs `git` on the machine (the container image has it).
//!
//! **Verified hosts, no switch to turn it off.** Only `https://`, `ssh://` (or scp-like
//! `user@host:path`) and local repositories (`file://` or a path) are accepted; `http://` and
//! `git://` are refused. HTTPS verifies the server against the system's roots, or only against
//! the CA file given (`http.sslCAInfo` and `GIT_SSL_CAINFO`); `http.sslVerify` is forced on
//! and `GIT_SSL_NO_VERIFY` is removed from git's environment. SSH runs OpenSSH with `StrictHostKeyChecking=yes` against
//! the known_hosts file given (required: nothing is trusted on first use), no user or global
//! configuration, and the private key given. Only the https, ssh and file protocols are allowed,
//! also for redirects and submodules.
//!
//! **Credentials** never reach a command line, a URL or an error: a URL with a password is
//! refused; an HTTPS password or token comes from the environment (`LABFORM_GIT_PASSWORD`, with
//! `LABFORM_GIT_USERNAME`), which git reads through a small askpass script that prints the
//! variable (Kubernetes puts a Secret there); an SSH key is a file (a mounted Secret).
//!
//! The repository is a bare clone (`repo.git`) in the controller's directory; [`Repository::fetch`]
//! fetches the branch and names its commit, and [`Repository::check_out`] puts a commit's files
//! into a directory of its own (a detached worktree), so a commit being checked never disturbs
//! the one in use.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The environment variable holding an HTTPS password or token for the repository.
pub const PASSWORD_VARIABLE: &str = "LABFORM_GIT_PASSWORD";
/// The environment variable holding the HTTPS user name (default `labform`).
pub const USERNAME_VARIABLE: &str = "LABFORM_GIT_USERNAME";

/// How the repository is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS, the server verified by its certificate.
    Https,
    /// SSH, the server verified by its pinned host key.
    Ssh,
    /// A repository on this machine (a path, or `file://`).
    Local,
}

/// Where the repository is and how its host is verified.
#[derive(Debug, Clone)]
pub struct GitSettings {
    /// The repository's URL.
    pub url: String,
    /// The branch to follow.
    pub branch: String,
    /// HTTPS: verify the server against this CA (PEM) alone instead of the system's roots.
    pub ca: Option<PathBuf>,
    /// SSH: the known_hosts file holding the server's host key.
    pub known_hosts: Option<PathBuf>,
    /// SSH: the private key to log in with.
    pub ssh_key: Option<PathBuf>,
}

/// A commit of the followed branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The commit's full hash.
    pub commit: String,
    /// The first line of its message.
    pub subject: String,
}

impl Revision {
    /// The first 12 characters of the hash, for people.
    pub fn short(&self) -> &str {
        &self.commit[..self.commit.len().min(12)]
    }
}

/// Why the repository cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The URL uses a transport without host verification, or carries a password.
    #[error("the repository {url} cannot be used: {reason}")]
    Refused {
        /// The URL (never one with a password: those are refused without being repeated).
        url: String,
        /// Why, with what to do instead.
        reason: String,
    },
    /// A file the settings name cannot be read, or the controller's directory cannot be written.
    #[error("{what} {path}: {source}")]
    File {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The `git` program is not there.
    #[error(
        "labform serve --git runs the `git` program, which cannot be started ({source}); install git (Debian's `git` package)"
    )]
    Program {
        /// The error starting it.
        #[source]
        source: std::io::Error,
    },
    /// git ran and failed.
    #[error("git {action} failed ({status}): {stderr}")]
    Failed {
        /// What labform asked git to do.
        action: String,
        /// git's exit status.
        status: String,
        /// The end of what git printed.
        stderr: String,
    },
}

/// The transport of `url`, or why it is refused.
pub fn transport(url: &str) -> Result<Transport, GitError> {
    let refused = |reason: &str| GitError::Refused {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority = rest.split('/').next().unwrap_or_default();
        if let Some((user_information, _)) = authority.rsplit_once('@')
            && user_information.contains(':')
        {
            return Err(GitError::Refused {
                url: "(a URL with a password, not repeated here)".to_owned(),
                reason: format!(
                    "it carries a password; give the URL without it and the password in {PASSWORD_VARIABLE}"
                ),
            });
        }
        return match scheme.to_ascii_lowercase().as_str() {
            "https" => Ok(Transport::Https),
            "ssh" | "git+ssh" | "ssh+git" => Ok(Transport::Ssh),
            "file" => Ok(Transport::Local),
            "http" => Err(refused(
                "plain http:// cannot verify the server; use https:// (with --git-ca for a private CA)",
            )),
            "git" => Err(refused(
                "the git:// protocol cannot verify the server; use https:// or ssh://",
            )),
            other => Err(refused(&format!(
                "the `{other}` transport is not one labform uses; use https://, ssh:// or a local path"
            ))),
        };
    }
    if url.starts_with('/') {
        return Ok(Transport::Local);
    }
    // scp-like `user@host:path`: a colon before any slash.
    match (url.find(':'), url.find('/')) {
        (Some(colon), slash) if slash.is_none_or(|slash| colon < slash) => Ok(Transport::Ssh),
        _ => Err(refused(
            "it is neither an https:// or ssh:// URL nor an absolute path",
        )),
    }
}

/// The lab's repository: a bare clone in the controller's directory.
#[derive(Debug)]
pub struct Repository {
    settings: GitSettings,
    transport: Transport,
    directory: PathBuf,
    askpass: Option<PathBuf>,
}

/// A path as a single-quoted word for the shell command git runs for SSH.
fn quoted(path: &Path) -> Result<String, GitError> {
    let text = path.display().to_string();
    if text.contains('\'') {
        return Err(GitError::Refused {
            url: path.display().to_string(),
            reason: "the path holds a single quote, which labform does not pass to ssh".to_owned(),
        });
    }
    Ok(format!("'{text}'"))
}

fn readable(what: &'static str, path: &Path) -> Result<(), GitError> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|source| GitError::File {
            what,
            path: path.display().to_string(),
            source,
        })
}

const ASKPASS: &str = "#!/bin/sh\n\
# Written by labform serve --git: git asks for the repository's credentials through it.\n\
case \"$1\" in\n\
Username*) printf '%s\\n' \"${LABFORM_GIT_USERNAME:-labform}\" ;;\n\
*) printf '%s\\n' \"$LABFORM_GIT_PASSWORD\" ;;\n\
esac\n";

impl Repository {
    /// The repository of `settings`, kept under `directory` (created when missing). Checks the
    /// URL's transport and that the files the settings name can be read.
    pub fn open(settings: GitSettings, directory: &Path) -> Result<Self, GitError> {
        let transport = transport(&settings.url)?;
        if transport == Transport::Ssh && settings.known_hosts.is_none() {
            return Err(GitError::Refused {
                url: settings.url.clone(),
                reason: "SSH needs the server's host key: give --git-known-hosts FILE (known_hosts lines, e.g. from `ssh-keyscan` checked against the server)".to_owned(),
            });
        }
        if let Some(ca) = &settings.ca {
            readable("cannot read the CA file", ca)?;
        }
        if let Some(known_hosts) = &settings.known_hosts {
            readable("cannot read the known_hosts file", known_hosts)?;
        }
        if let Some(key) = &settings.ssh_key {
            readable("cannot read the SSH key", key)?;
        }
        let create = |path: &Path| {
            std::fs::create_dir_all(path).map_err(|source| GitError::File {
                what: "cannot create the directory",
                path: path.display().to_string(),
                source,
            })
        };
        create(directory)?;
        let askpass = if std::env::var_os(PASSWORD_VARIABLE).is_some() {
            let path = directory.join("askpass.sh");
            let write = std::fs::write(&path, ASKPASS).and_then(|()| {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
            });
            write.map_err(|source| GitError::File {
                what: "cannot write",
                path: path.display().to_string(),
                source,
            })?;
            Some(path)
        } else {
            None
        };
        Ok(Self {
            settings,
            transport,
            directory: directory.to_path_buf(),
            askpass,
        })
    }

    /// How the repository is reached.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The settings it was opened with.
    pub fn settings(&self) -> &GitSettings {
        &self.settings
    }

    fn bare(&self) -> PathBuf {
        self.directory.join("repo.git")
    }

    /// Runs git with labform's verification settings; its standard output.
    async fn git(&self, action: &str, arguments: &[OsString]) -> Result<String, GitError> {
        let mut command = tokio::process::Command::new("git");
        command
            .args(["-c", "http.sslVerify=true"])
            .args(["-c", "protocol.allow=never"])
            .args(["-c", "protocol.https.allow=always"])
            .args(["-c", "protocol.ssh.allow=always"])
            .args(["-c", "protocol.file.allow=always"])
            .args(["-c", "credential.helper="]);
        if let Some(ca) = &self.settings.ca {
            // GIT_SSL_CAINFO wins over the configuration, so both name the CA given.
            command
                .arg("-c")
                .arg(format!("http.sslCAInfo={}", ca.display()))
                .env("GIT_SSL_CAINFO", ca)
                .env_remove("GIT_SSL_CAPATH");
        }
        command
            .args(arguments)
            .env_remove("GIT_SSL_NO_VERIFY")
            .env_remove("GIT_SSH")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_CONFIG_PARAMETERS")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match &self.askpass {
            Some(askpass) => command.env("GIT_ASKPASS", askpass),
            None => command.env_remove("GIT_ASKPASS"),
        };
        let mut ssh = String::from(
            "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null",
        );
        if let Some(known_hosts) = &self.settings.known_hosts {
            ssh.push_str(" -o UserKnownHostsFile=");
            ssh.push_str(&quoted(known_hosts)?);
        } else {
            ssh.push_str(" -o UserKnownHostsFile=/dev/null");
        }
        if let Some(key) = &self.settings.ssh_key {
            ssh.push_str(" -o IdentitiesOnly=yes -i ");
            ssh.push_str(&quoted(key)?);
        }
        command.env("GIT_SSH_COMMAND", ssh);
        let output = command
            .output()
            .await
            .map_err(|source| GitError::Program { source })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let lines: Vec<&str> = stderr.lines().filter(|line| !line.is_empty()).collect();
            let tail = lines[lines.len().saturating_sub(6)..].join("\n");
            return Err(GitError::Failed {
                action: action.to_owned(),
                status: output.status.to_string(),
                stderr: tail,
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Fetches the branch and names its commit.
    pub async fn fetch(&self) -> Result<Revision, GitError> {
        let bare = self.bare();
        if !bare.join("HEAD").exists() {
            self.git(
                "init",
                &[
                    "init".into(),
                    "--bare".into(),
                    "--quiet".into(),
                    bare.clone().into(),
                ],
            )
            .await?;
        }
        let git_dir: OsString = format!("--git-dir={}", bare.display()).into();
        let branch = &self.settings.branch;
        let reference = format!("refs/heads/{branch}");
        self.git(
            &format!("fetch of branch `{branch}` from {}", self.settings.url),
            &[
                git_dir.clone(),
                "fetch".into(),
                "--quiet".into(),
                "--no-tags".into(),
                "--force".into(),
                "--".into(),
                self.settings.url.clone().into(),
                format!("+{reference}:{reference}").into(),
            ],
        )
        .await?;
        let commit = self
            .git(
                "rev-parse",
                &[
                    git_dir.clone(),
                    "rev-parse".into(),
                    "--verify".into(),
                    format!("{reference}^{{commit}}").into(),
                ],
            )
            .await?;
        let subject = self
            .git(
                "log",
                &[
                    git_dir,
                    "log".into(),
                    "-1".into(),
                    "--format=%s".into(),
                    commit.clone().into(),
                ],
            )
            .await?;
        Ok(Revision { commit, subject })
    }

    /// Puts the files of `commit` into `into` (made anew), a detached worktree of the clone.
    pub async fn check_out(&self, commit: &str, into: &Path) -> Result<(), GitError> {
        let git_dir: OsString = format!("--git-dir={}", self.bare().display()).into();
        if into.exists() {
            self.remove(into).await?;
        }
        self.git(
            &format!("checkout of {commit}"),
            &[
                git_dir,
                "worktree".into(),
                "add".into(),
                "--force".into(),
                "--detach".into(),
                "--quiet".into(),
                into.into(),
                commit.into(),
            ],
        )
        .await?;
        Ok(())
    }

    /// Removes a checkout made by [`Repository::check_out`].
    pub async fn remove(&self, checkout: &Path) -> Result<(), GitError> {
        let _ = tokio::fs::remove_dir_all(checkout).await;
        let git_dir: OsString = format!("--git-dir={}", self.bare().display()).into();
        self.git(
            "worktree prune",
            &[git_dir, "worktree".into(), "prune".into()],
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_with_host_verification_are_the_only_ones() {
        assert_eq!(
            transport("https://git.example/lab.git").unwrap(),
            Transport::Https
        );
        assert_eq!(
            transport("ssh://git@git.example:2222/lab.git").unwrap(),
            Transport::Ssh
        );
        assert_eq!(
            transport("git@git.example:home/lab.git").unwrap(),
            Transport::Ssh
        );
        assert_eq!(transport("/srv/git/lab.git").unwrap(), Transport::Local);
        assert_eq!(
            transport("file:///srv/git/lab.git").unwrap(),
            Transport::Local
        );
        for insecure in ["http://git.example/lab.git", "git://git.example/lab.git"] {
            let refused = transport(insecure).unwrap_err().to_string();
            assert!(refused.contains("cannot verify the server"), "{refused}");
        }
        assert!(transport("lab.git").is_err());
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_being_repeated() {
        let refused = transport("https://me:hunter2@git.example/lab.git")
            .unwrap_err()
            .to_string();
        assert!(!refused.contains("hunter2"), "{refused}");
        assert!(refused.contains(PASSWORD_VARIABLE), "{refused}");
        // A user name alone is fine.
        assert_eq!(
            transport("https://me@git.example/lab.git").unwrap(),
            Transport::Https
        );
    }

    #[test]
    fn ssh_needs_a_known_hosts_file() {
        let directory = tempfile::tempdir().unwrap();
        let settings = GitSettings {
            url: "git@git.example:lab.git".to_owned(),
            branch: "main".to_owned(),
            ca: None,
            known_hosts: None,
            ssh_key: None,
        };
        let refused = Repository::open(settings, directory.path())
            .unwrap_err()
            .to_string();
        assert!(refused.contains("--git-known-hosts"), "{refused}");
    }
}
