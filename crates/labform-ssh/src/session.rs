//! An open session to one node: commands with exit status and streamed output, and uploads.

use std::fmt;
use std::time::Duration;

use russh::ChannelMsg;
use russh::client::Handle;
use tokio::sync::OwnedSemaphorePermit;

use crate::client::{NodeName, PinnedHostKeys};
use crate::error::SshError;

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// How a remote command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(u32),
    /// It was killed by this signal.
    Signal(String),
}

impl ExitStatus {
    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        *self == ExitStatus::Code(0)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Code(code) => write!(formatter, "exit code {code}"),
            ExitStatus::Signal(signal) => write!(formatter, "signal {signal}"),
        }
    }
}

/// The collected output of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// How it ended.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

/// Bytes of standard error kept in [`SshError::CommandFailed`].
const STDERR_TAIL: usize = 2_000;

/// A session to one node; it holds one of the client's session slots until dropped.
pub struct Session {
    node: NodeName,
    handle: Handle<PinnedHostKeys>,
    command_timeout: Duration,
    _slot: OwnedSemaphorePermit,
}

impl fmt::Debug for Session {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Session")
            .field("node", &self.node)
            .field("command_timeout", &self.command_timeout)
            .finish_non_exhaustive()
    }
}

/// Quotes `text` for a POSIX shell: single quotes, with each `'` written as `'\''`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

impl Session {
    pub(crate) fn new(
        node: NodeName,
        handle: Handle<PinnedHostKeys>,
        slot: OwnedSemaphorePermit,
        command_timeout: Duration,
    ) -> Self {
        Session {
            node,
            handle,
            command_timeout,
            _slot: slot,
        }
    }

    /// The node.
    pub fn node(&self) -> &NodeName {
        &self.node
    }

    /// Changes the limit for each later command.
    pub fn set_command_timeout(&mut self, timeout: Duration) {
        self.command_timeout = timeout;
    }

    /// Runs `command`, passing each chunk of output to `on_output` as it arrives, and returns
    /// how it ended. A non-zero exit is not an error here (see [`Session::exec_checked`]).
    pub async fn exec(
        &self,
        command: &str,
        on_output: impl FnMut(OutputStream, &[u8]),
    ) -> Result<ExitStatus, SshError> {
        self.run(command, None, on_output).await
    }

    /// Waits until cloud-init has finished on the node (it may still be installing packages
    /// or restarting sshd); its own verdict is not taken, only that it stopped.
    pub async fn wait_for_cloud_init(&self) -> Result<(), SshError> {
        self.exec_captured("sudo -n cloud-init status --wait > /dev/null 2>&1; true")
            .await
            .map(drop)
    }

    /// Runs `command` and collects its output.
    pub async fn exec_captured(&self, command: &str) -> Result<CommandOutput, SshError> {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let status = self
            .run(command, None, |stream, bytes| match stream {
                OutputStream::Stdout => stdout.extend_from_slice(bytes),
                OutputStream::Stderr => stderr.extend_from_slice(bytes),
            })
            .await?;
        Ok(CommandOutput {
            status,
            stdout,
            stderr,
        })
    }

    /// Runs `command`; an unsuccessful end is [`SshError::CommandFailed`] with the end of its
    /// standard error.
    pub async fn exec_checked(&self, command: &str) -> Result<CommandOutput, SshError> {
        let output = self.exec_captured(command).await?;
        if output.status.success() {
            return Ok(output);
        }
        let start = output.stderr.len().saturating_sub(STDERR_TAIL);
        Err(SshError::CommandFailed {
            node: self.node.clone(),
            command: command.to_owned(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr[start..])
                .trim()
                .to_owned(),
        })
    }

    /// Writes `contents` to `path` on the node with permission bits `mode`, atomically: into a
    /// temporary file in the same directory (created with umask 077), then renamed. The contents
    /// travel in the SSH channel's data, never in the command line, so secrets may be uploaded.
    pub async fn upload(&self, path: &str, contents: &[u8], mode: u32) -> Result<(), SshError> {
        self.upload_as(path, contents, mode, false).await
    }

    /// Like [`Session::upload`], but as root through `sudo -n` (the login user needs
    /// password-less sudo, as labform's cloud-init gives it), creating missing parent
    /// directories (mode 0755). The file is owned by root.
    pub async fn upload_as_root(
        &self,
        path: &str,
        contents: &[u8],
        mode: u32,
    ) -> Result<(), SshError> {
        self.upload_as(path, contents, mode, true).await
    }

    async fn upload_as(
        &self,
        path: &str,
        contents: &[u8],
        mode: u32,
        as_root: bool,
    ) -> Result<(), SshError> {
        let upload_error = |reason: String| SshError::Upload {
            node: self.node.clone(),
            path: path.to_owned(),
            reason,
        };
        if !path.starts_with('/') || path.ends_with('/') {
            return Err(upload_error("the path must be absolute".to_owned()));
        }
        let quoted = shell_quote(path);
        let script = format!(
            "set -e; target={quoted}; {make_parent}umask 077; \
             temporary=$(mktemp \"$(dirname \"$target\")/.labform-upload.XXXXXX\"); \
             trap 'rm -f \"$temporary\"' EXIT; \
             cat > \"$temporary\"; \
             test \"$(wc -c < \"$temporary\")\" -eq {length}; \
             chmod {mode:o} \"$temporary\"; \
             mv -f \"$temporary\" \"$target\"; trap - EXIT",
            length = contents.len(),
            make_parent = if as_root {
                "(umask 022; mkdir -p \"$(dirname \"$target\")\"); "
            } else {
                ""
            },
        );
        let command = if as_root {
            format!("sudo -n sh -c {}", shell_quote(&script))
        } else {
            script
        };
        let mut stderr = Vec::new();
        let status = self
            .run(&command, Some(contents), |stream, bytes| {
                if stream == OutputStream::Stderr {
                    stderr.extend_from_slice(bytes);
                }
            })
            .await
            .map_err(|error| match error {
                // The upload command is long and not what the caller asked for; name the path.
                SshError::ConnectionLost { node, .. } => SshError::ConnectionLost {
                    node,
                    command: format!("upload of {path}"),
                },
                SshError::CommandTimeout { node, after, .. } => SshError::CommandTimeout {
                    node,
                    command: format!("upload of {path}"),
                    after,
                },
                other => other,
            })?;
        if status.success() {
            Ok(())
        } else {
            Err(upload_error(format!(
                "{status}: {}",
                String::from_utf8_lossy(&stderr).trim()
            )))
        }
    }

    /// Ends the session politely.
    pub async fn close(self) -> Result<(), SshError> {
        self.handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await
            .map_err(|source| SshError::Session {
                node: self.node.clone(),
                doing: "disconnecting".to_owned(),
                source: Box::new(source),
            })
    }

    async fn run(
        &self,
        command: &str,
        input: Option<&[u8]>,
        mut on_output: impl FnMut(OutputStream, &[u8]),
    ) -> Result<ExitStatus, SshError> {
        let session_error = |doing: &str, source| SshError::Session {
            node: self.node.clone(),
            doing: format!("{doing} `{command}`"),
            source: Box::new(source),
        };
        let work = async {
            let mut channel = self
                .handle
                .channel_open_session()
                .await
                .map_err(|source| session_error("opening a channel for", source))?;
            channel
                .exec(true, command)
                .await
                .map_err(|source| session_error("starting", source))?;
            if let Some(input) = input {
                channel
                    .data(input)
                    .await
                    .map_err(|source| session_error("sending input to", source))?;
            }
            channel
                .eof()
                .await
                .map_err(|source| session_error("closing input of", source))?;
            let mut status = None;
            while let Some(message) = channel.wait().await {
                match message {
                    ChannelMsg::Data { data } => on_output(OutputStream::Stdout, &data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        on_output(OutputStream::Stderr, &data);
                    }
                    ChannelMsg::ExitStatus { exit_status } => {
                        status = Some(ExitStatus::Code(exit_status));
                    }
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        status = Some(ExitStatus::Signal(format!("{signal_name:?}")));
                    }
                    ChannelMsg::Failure => {
                        return Err(SshError::CommandFailed {
                            node: self.node.clone(),
                            command: command.to_owned(),
                            status: ExitStatus::Code(255),
                            stderr: "the server refused to run the command".to_owned(),
                        });
                    }
                    _ => {}
                }
            }
            status.ok_or_else(|| SshError::ConnectionLost {
                node: self.node.clone(),
                command: command.to_owned(),
            })
        };
        tokio::time::timeout(self.command_timeout, work)
            .await
            .map_err(|_| SshError::CommandTimeout {
                node: self.node.clone(),
                command: command.to_owned(),
                after: self.command_timeout,
            })?
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(64))]

        /// Whatever the text, the shell reads the quoted form back as exactly that text.
        #[test]
        fn quoted_text_reaches_the_command_unchanged(text in "[^\\x00]{0,40}") {
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", shell_quote(&text)))
                .output()
                .expect("run sh");
            proptest::prop_assert!(output.status.success());
            proptest::prop_assert_eq!(String::from_utf8(output.stdout).expect("utf-8"), text);
        }
    }
}
