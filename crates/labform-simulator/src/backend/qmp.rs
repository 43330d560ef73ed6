//! The two JSON-per-line protocols a QEMU VM speaks on unix sockets: QMP (the
//! monitor: power-down, quit, block resize) and QGA (the guest agent inside
//! the VM, reached through a virtio-serial port).

use super::BackendError;
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One connection, one JSON object per line each way.
struct Channel {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Channel {
    fn open(path: &Path, timeout: Duration) -> Result<Self, BackendError> {
        let stream = UnixStream::connect(path).map_err(|source| BackendError::Io {
            action: "connecting to",
            path: path.to_owned(),
            source,
        })?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .map_err(|source| BackendError::Io {
                action: "configuring",
                path: path.to_owned(),
                source,
            })?;
        let writer = stream.try_clone().map_err(|source| BackendError::Io {
            action: "cloning",
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            reader: BufReader::new(stream),
            writer,
        })
    }

    fn send(&mut self, message: &Value) -> Result<(), BackendError> {
        let mut line = message.to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .map_err(|e| BackendError::Protocol(format!("writing to the socket: {e}")))
    }

    /// The next JSON object, or `None` when the read timed out.
    fn receive(&mut self) -> Result<Option<Value>, BackendError> {
        let mut line = String::new();
        loop {
            line.clear();
            match self.reader.read_line(&mut line) {
                Ok(0) => return Err(BackendError::Protocol("the socket was closed".into())),
                Ok(_) => {
                    // The agent may send a 0xFF sync marker or blank lines.
                    let text = line.trim_matches(|c: char| c.is_whitespace() || c == '\u{FFFD}');
                    if text.is_empty() {
                        continue;
                    }
                    return serde_json::from_str(text).map(Some).map_err(|e| {
                        BackendError::Protocol(format!("invalid JSON '{text}': {e}"))
                    });
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(BackendError::Protocol(format!("reading the socket: {e}"))),
            }
        }
    }
}

fn answer(message: Value) -> Result<Value, BackendError> {
    if let Some(error) = message.get("error") {
        let text = error
            .get("desc")
            .and_then(Value::as_str)
            .unwrap_or("unknown error");
        return Err(BackendError::Protocol(text.to_owned()));
    }
    Ok(message.get("return").cloned().unwrap_or(Value::Null))
}

/// Runs one QMP command on the monitor socket at `path`.
pub fn qmp_command(
    path: &Path,
    command: &str,
    arguments: Option<Value>,
) -> Result<Value, BackendError> {
    let mut channel = Channel::open(path, Duration::from_secs(10))?;
    let timeout = || BackendError::Protocol(format!("QMP '{command}' timed out"));
    // Greeting, then capabilities negotiation.
    channel.receive()?.ok_or_else(timeout)?;
    channel.send(&json!({"execute": "qmp_capabilities"}))?;
    loop {
        let message = channel.receive()?.ok_or_else(timeout)?;
        if message.get("event").is_none() {
            answer(message)?;
            break;
        }
    }
    let mut request = json!({ "execute": command });
    if let Some(arguments) = arguments {
        request["arguments"] = arguments;
    }
    channel.send(&request)?;
    loop {
        let message = channel.receive()?.ok_or_else(timeout)?;
        if message.get("event").is_none() {
            return answer(message);
        }
    }
}

static SYNC_ID: AtomicU64 = AtomicU64::new(1);

/// Runs one guest agent command on the agent socket at `path`, after a
/// `guest-sync` that proves the agent is there and drops stale answers.
/// `expect_answer` is false for commands after which the agent goes away
/// (`guest-shutdown`).
pub fn agent_command(
    path: &Path,
    command: &str,
    arguments: Option<Value>,
    expect_answer: bool,
) -> Result<Value, BackendError> {
    let wait = Duration::from_secs(3);
    let mut channel = Channel::open(path, Duration::from_millis(500))
        .map_err(|_| BackendError::AgentNotRunning)?;
    let id = SYNC_ID.fetch_add(1, Ordering::Relaxed) + u64::from(std::process::id()) * 1_000_000;
    channel.send(&json!({"execute": "guest-sync", "arguments": {"id": id}}))?;
    let deadline = Instant::now() + wait;
    loop {
        if Instant::now() > deadline {
            return Err(BackendError::AgentNotRunning);
        }
        match channel.receive() {
            Ok(Some(message)) if message.get("return") == Some(&json!(id)) => break,
            Ok(_) => {}
            Err(BackendError::Protocol(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let mut request = json!({ "execute": command });
    if let Some(arguments) = arguments {
        request["arguments"] = arguments;
    }
    channel.send(&request)?;
    if !expect_answer {
        // No answer is success (the agent is going away); an error answer
        // (the guest refused) comes within a moment.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            match channel.receive() {
                Ok(Some(message)) => return answer(message),
                Ok(None) => {}
                Err(_) => break,
            }
        }
        return Ok(Value::Null);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if Instant::now() > deadline {
            return Err(BackendError::Protocol(format!(
                "guest agent command '{command}' timed out"
            )));
        }
        if let Some(message) = channel.receive()? {
            return answer(message);
        }
    }
}
