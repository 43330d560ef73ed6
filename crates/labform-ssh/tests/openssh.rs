//! The SSH layer against a real OpenSSH server (Debian's `openssh-server`) on 127.0.0.1.
//!
//! One `sshd` is started for this file, in a temporary directory with its own configuration and
//! a host key made by `labform-cloudinit` (so the test also proves OpenSSH loads the keys labform
//! puts into user data). The scenarios run one after another against it; the server is stopped
//! when the test ends, also on failure. Tier `real-sshd` (root, Debian's `openssh-server` and
//! `sudo`): see `labform-test-tiers`.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use labform_test_tiers::KillOnDrop;

use labform_cloudinit::HostKeyPair;
use labform_ssh::{
    ClientKey, ExitStatus, HostPublicKey, NodeName, OutputStream, SshClient, SshError, SshOptions,
    Target,
};
use secrecy::SecretString;

/// A running sshd, stopped when dropped.
struct Server {
    /// sshd, killed when the server is dropped.
    _process: KillOnDrop,
    port: u16,
    host_key: HostKeyPair,
    client_key: ClientKey,
    directory: tempfile::TempDir,
    user: String,
}

fn current_user() -> String {
    let output = Command::new("id").arg("-un").output().expect("run id");
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

fn start_server() -> Server {
    // sshd wants to be started by its absolute path.
    let sshd = labform_test_tiers::find_program("sshd").expect("the real-sshd tier has sshd");
    // sshd refuses to start without its privilege separation directory.
    let _ = std::fs::create_dir_all("/run/sshd");
    let directory = tempfile::tempdir().expect("temporary directory");
    let host_key = HostKeyPair::generate("sshd-under-test").expect("host key");
    let client_pair = HostKeyPair::generate("labform-test-client").expect("client key");
    let client_key = ClientKey::from_openssh(client_pair.private_openssh()).expect("client key");
    let host_key_path = directory.path().join("host_key");
    {
        use secrecy::ExposeSecret as _;
        write_private(&host_key_path, host_key.private_openssh().expose_secret());
    }
    let authorized = directory.path().join("authorized_keys");
    write_private(&authorized, &format!("{}\n", client_pair.public_openssh()));
    let user = current_user();
    for _attempt in 0..5 {
        let port = free_port();
        let config = directory.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {pid}\n\
                 AuthorizedKeysFile {authorized}\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nAllowUsers {user}\n\
                 LogLevel ERROR\n",
                host_key = host_key_path.display(),
                pid = directory.path().join("sshd.pid").display(),
                authorized = authorized.display(),
            ),
        )
        .expect("write config");
        let mut child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sshd");
        // Wait until it accepts connections, or gives up (a port taken in between).
        for _ in 0..100 {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Server {
                    _process: KillOnDrop(child),
                    port,
                    host_key,
                    client_key,
                    directory,
                    user,
                };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("sshd did not start (see its messages above)");
}

impl Server {
    fn target(&self, node: &str) -> Target {
        Target {
            node: NodeName::new(node),
            host: "127.0.0.1".to_owned(),
            port: self.port,
            user: self.user.clone(),
            host_keys: vec![
                HostPublicKey::from_openssh(self.host_key.public_openssh()).expect("host key"),
            ],
        }
    }

    fn client(&self, options: SshOptions) -> SshClient {
        SshClient::new(self.client_key.clone(), options)
    }

    fn scratch(&self, name: &str) -> PathBuf {
        self.directory.path().join(name)
    }
}

fn quick_options() -> SshOptions {
    SshOptions {
        max_sessions: 4,
        connect_timeout: Duration::from_secs(20),
        command_timeout: Duration::from_secs(60),
        keepalive_interval: Duration::from_secs(5),
    }
}

async fn exec_reports_exit_status_and_streams(server: &Server) {
    let client = server.client(quick_options());
    let session = client
        .connect(&server.target("node-a"))
        .await
        .expect("connect");
    let mut chunks = Vec::new();
    let status = session
        .exec(
            "printf 'one\\n'; printf 'warn\\n' >&2; printf 'two\\n'; exit 3",
            |stream, bytes| chunks.push((stream, bytes.to_vec())),
        )
        .await
        .expect("exec");
    assert_eq!(status, ExitStatus::Code(3));
    let collect = |wanted: OutputStream| -> String {
        chunks
            .iter()
            .filter(|(stream, _)| *stream == wanted)
            .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
            .collect()
    };
    assert_eq!(collect(OutputStream::Stdout), "one\ntwo\n");
    assert_eq!(collect(OutputStream::Stderr), "warn\n");

    // Several commands on one session, and a large output.
    let output = session
        .exec_captured("seq 1 20000")
        .await
        .expect("exec_captured");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("utf-8");
    assert_eq!(text.lines().count(), 20_000);
    assert_eq!(text.lines().last(), Some("20000"));

    let error = session
        .exec_checked("echo 'no such unit' >&2; exit 5")
        .await
        .expect_err("non-zero exit");
    assert!(
        matches!(&error, SshError::CommandFailed { status: ExitStatus::Code(5), stderr, .. } if stderr == "no such unit"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.starts_with("node node-a:"), "{message}");
    assert!(message.contains("exit code 5"), "{message}");

    let signalled = session
        .exec("kill -TERM $$", |_, _| {})
        .await
        .expect("exec");
    assert_eq!(signalled, ExitStatus::Signal("TERM".to_owned()));
    session.close().await.expect("close");
}

async fn upload_writes_atomically_with_mode(server: &Server) {
    let client = server.client(quick_options());
    let session = client
        .connect(&server.target("node-b"))
        .await
        .expect("connect");
    let contents: Vec<u8> = (0..300_000_u32).map(|index| (index % 251) as u8).collect();
    let path = server.scratch("uploaded file with 'quote' and space");
    let remote = path.to_str().expect("utf-8 path");
    session
        .upload(remote, &contents, 0o640)
        .await
        .expect("upload");
    assert_eq!(std::fs::read(&path).expect("read uploaded"), contents);
    let mode = std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o640);
    // Replacing keeps no temporary files behind.
    session
        .upload(remote, b"short\n", 0o600)
        .await
        .expect("replace");
    assert_eq!(std::fs::read(&path).expect("read"), b"short\n");
    let leftovers: Vec<_> = std::fs::read_dir(server.directory.path())
        .expect("list")
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .contains(".labform-upload")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let error = session
        .upload("/nonexistent-directory/file", b"x", 0o600)
        .await
        .expect_err("missing directory");
    let message = error.to_string();
    assert!(
        message.starts_with("node node-b: cannot upload /nonexistent-directory/file"),
        "{message}"
    );
    let relative = session
        .upload("relative", b"x", 0o600)
        .await
        .expect_err("relative");
    assert!(relative.to_string().contains("absolute"), "{relative}");

    // As root through sudo: missing parent directories are made (0755), the file is root's.
    let nested = server.scratch("etc/rancher/k3s/config.yaml");
    session
        .upload_as_root(nested.to_str().expect("utf-8"), b"node-name: a\n", 0o600)
        .await
        .expect("upload as root");
    assert_eq!(std::fs::read(&nested).expect("read"), b"node-name: a\n");
    let metadata = std::fs::metadata(&nested).expect("metadata");
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&metadata), 0);
    let parent = std::fs::metadata(nested.parent().expect("parent")).expect("parent metadata");
    assert_eq!(parent.permissions().mode() & 0o777, 0o755);
}

async fn wrong_host_key_is_refused(server: &Server) {
    let client = server.client(quick_options());
    let impostor = HostKeyPair::generate("impostor").expect("key");
    let mut target = server.target("node-c");
    target.host_keys = vec![HostPublicKey::from_openssh(impostor.public_openssh()).expect("key")];
    let error = client.connect(&target).await.expect_err("refused");
    match &error {
        SshError::HostKeyMismatch {
            node,
            presented,
            expected,
            ..
        } => {
            assert_eq!(node.as_str(), "node-c");
            assert_eq!(presented, server.host_key.fingerprint());
            assert_eq!(expected, &vec![impostor.fingerprint().to_owned()]);
        }
        other => panic!("expected a host key mismatch, got {other:?}"),
    }
    assert!(
        error.to_string().starts_with("node node-c (127.0.0.1:"),
        "{error}"
    );

    // Without any pinned key, nothing is trusted.
    target.host_keys.clear();
    let error = client.connect(&target).await.expect_err("refused");
    assert!(
        matches!(error, SshError::HostKeyMismatch { .. }),
        "{error:?}"
    );
}

async fn unknown_client_key_is_refused(server: &Server) {
    let stranger = HostKeyPair::generate("stranger").expect("key");
    let client = SshClient::new(
        ClientKey::from_openssh(stranger.private_openssh()).expect("key"),
        quick_options(),
    );
    let error = client
        .connect(&server.target("node-d"))
        .await
        .expect_err("refused");
    assert!(
        matches!(&error, SshError::AuthenticationRefused { node, .. } if node.as_str() == "node-d"),
        "{error:?}"
    );
}

async fn command_timeout_closes_the_channel_only(server: &Server) {
    let client = server.client(quick_options());
    let mut session = client
        .connect(&server.target("node-e"))
        .await
        .expect("connect");
    session.set_command_timeout(Duration::from_millis(300));
    let error = session
        .exec("sleep 30", |_, _| {})
        .await
        .expect_err("times out");
    assert!(
        matches!(&error, SshError::CommandTimeout { node, command, .. } if node.as_str() == "node-e" && command == "sleep 30"),
        "{error:?}"
    );
    session.set_command_timeout(Duration::from_secs(60));
    let output = session
        .exec_checked("echo still-here")
        .await
        .expect("session survives");
    assert_eq!(output.stdout, b"still-here\n");
}

async fn dropped_connection_is_reported(server: &Server) {
    let client = server.client(quick_options());
    let session = client
        .connect(&server.target("node-f"))
        .await
        .expect("connect");
    // The command's parent is the sshd process serving this connection; killing it drops the
    // connection before any exit status is sent.
    let error = session
        .exec("echo started; kill -9 $PPID; sleep 30", |_, _| {})
        .await
        .expect_err("connection lost");
    assert!(
        matches!(&error, SshError::ConnectionLost { node, .. } if node.as_str() == "node-f"),
        "{error:?}"
    );
}

async fn connect_failures_name_the_node(server: &Server) {
    // A listener that accepts but never speaks SSH.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_port = silent.local_addr().expect("address").port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let client = server.client(SshOptions {
        connect_timeout: Duration::from_millis(500),
        ..quick_options()
    });
    let mut target = server.target("node-g");
    target.port = silent_port;
    let error = client.connect(&target).await.expect_err("times out");
    assert!(
        matches!(&error, SshError::ConnectTimeout { node, .. } if node.as_str() == "node-g"),
        "{error:?}"
    );
    holder.abort();

    // Nobody listening.
    let closed = free_port();
    target.port = closed;
    target.node = NodeName::new("node-h");
    let error = client.connect(&target).await.expect_err("refused");
    assert!(matches!(&error, SshError::Connect { .. }), "{error:?}");
    assert!(
        error.to_string().starts_with("node node-h (127.0.0.1:"),
        "{error}"
    );
}

async fn sessions_are_bounded(server: &Server) {
    let client = server.client(SshOptions {
        max_sessions: 2,
        ..quick_options()
    });
    let marks = server.scratch("concurrency");
    std::fs::create_dir_all(&marks).expect("mkdir");
    let command = format!(
        "cd {} && touch $$ && ls | wc -l && sleep 0.3 && rm $$",
        labform_ssh::shell_quote(marks.to_str().expect("utf-8"))
    );
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..6 {
        let client = client.clone();
        let target = server.target(&format!("node-{index}"));
        let command = command.clone();
        tasks.spawn(async move {
            let session = client.connect(&target).await.expect("connect");
            let output = session.exec_checked(&command).await.expect("exec");
            session.close().await.expect("close");
            String::from_utf8(output.stdout)
                .expect("utf-8")
                .trim()
                .parse::<usize>()
                .expect("a count")
        });
    }
    let mut seen = Vec::new();
    while let Some(result) = tasks.join_next().await {
        seen.push(result.expect("task"));
    }
    assert_eq!(seen.len(), 6);
    assert!(
        seen.iter().all(|count| (1..=2).contains(count)),
        "at most two sessions at once, saw {seen:?}"
    );
}

#[test]
fn against_openssh_on_loopback() {
    if !labform_test_tiers::REAL_SSHD.available() {
        return;
    }
    let server = start_server();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        exec_reports_exit_status_and_streams(&server).await;
        upload_writes_atomically_with_mode(&server).await;
        wrong_host_key_is_refused(&server).await;
        unknown_client_key_is_refused(&server).await;
        command_timeout_closes_the_channel_only(&server).await;
        dropped_connection_is_reported(&server).await;
        connect_failures_name_the_node(&server).await;
        sessions_are_bounded(&server).await;
    });
}

#[test]
fn keys_are_parsed_and_debug_is_redacted() {
    let pair = HostKeyPair::generate("debug-check").expect("key");
    let client = ClientKey::from_openssh(pair.private_openssh()).expect("key");
    let printed = format!("{client:?}");
    assert!(printed.starts_with("ClientKey(SHA256:"), "{printed}");
    assert!(!printed.contains("PRIVATE"));
    assert_eq!(
        client.public_openssh().split(' ').nth(1),
        pair.public_openssh().split(' ').nth(1)
    );
    let error = HostPublicKey::from_openssh("ssh-ed25519 not-base64").expect_err("invalid");
    assert!(
        error.to_string().contains("not an SSH public key"),
        "{error}"
    );
    let error =
        ClientKey::from_openssh(&SecretString::from("garbage")).expect_err("invalid client key");
    assert!(!format!("{error:?}").contains("garbage"));
}
