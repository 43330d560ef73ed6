//! A kubeadm node's file layer against a real OpenSSH server on 127.0.0.1 (tier `real-sshd`:
//! root, Debian's `openssh-server` and `sudo`): the facts command reads what exists in one
//! command, only differing files are uploaded (as root, secrets with mode 0600), a second pass
//! uploads nothing, a file changed on the node is found again, and the secret's value never
//! appears in the command lines. The files live in a temporary directory, so the machine's own
//! `/etc` is not touched; paths are the only difference from a node.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use labform_test_tiers::KillOnDrop;

use labform_cloudinit::HostKeyPair;
use labform_kubeadm::node::{NodeFile, differing, facts_command, read_facts, upload};
use labform_secrets::{ExposeSecret as _, SecretString};
use labform_ssh::{ClientKey, HostPublicKey, NodeName, SshClient, SshOptions, Target};

/// A running sshd, stopped when dropped.
struct Server {
    /// sshd, killed when the server is dropped.
    _process: KillOnDrop,
    port: u16,
    host_key: HostKeyPair,
    client_key: ClientKey,
    _directory: tempfile::TempDir,
    user: String,
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn start_server() -> Server {
    let sshd = labform_test_tiers::find_program("sshd").expect("the real-sshd tier has sshd");
    let _ = std::fs::create_dir_all("/run/sshd");
    let directory = tempfile::tempdir().expect("temporary directory");
    let host_key = HostKeyPair::generate("kubeadm-node-under-test").expect("host key");
    let client_pair = HostKeyPair::generate("labform-test-client").expect("client key");
    let client_key = ClientKey::from_openssh(client_pair.private_openssh()).expect("client key");
    let host_key_path = directory.path().join("host_key");
    write_private(&host_key_path, host_key.private_openssh().expose_secret());
    let authorized = directory.path().join("authorized_keys");
    write_private(&authorized, &format!("{}\n", client_pair.public_openssh()));
    let output = Command::new("id").arg("-un").output().expect("id");
    let user = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    for _attempt in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let config = directory.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                 AuthorizedKeysFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nAllowUsers {user}\nLogLevel ERROR\n",
                host_key_path.display(),
                directory.path().join("sshd.pid").display(),
                authorized.display(),
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
                    _directory: directory,
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

#[tokio::test]
async fn node_files_converge_over_real_ssh() {
    if !labform_test_tiers::REAL_SSHD.available() {
        return;
    }
    let server = start_server();
    let client = SshClient::new(server.client_key.clone(), SshOptions::default());
    let target = Target {
        node: NodeName::new("kube-server-0"),
        host: "127.0.0.1".to_owned(),
        port: server.port,
        user: server.user.clone(),
        host_keys: vec![
            HostPublicKey::from_openssh(server.host_key.public_openssh()).expect("key"),
        ],
    };
    let session = client.connect(&target).await.expect("connect");

    let node = tempfile::tempdir().expect("the node's directory");
    let path = |name: &str| node.path().join(name).display().to_string();
    let secret_value = "abcdef.0123456789abcdef";
    let files = vec![
        NodeFile::public(
            path("labform/prepare.sh"),
            b"#!/bin/sh\ntrue\n".to_vec(),
            0o755,
        ),
        NodeFile::secret(
            path("labform/kubeadm.yaml"),
            SecretString::from(format!("token: {secret_value}\n")),
        ),
        NodeFile::public(path("pki/ca.crt"), b"certificate\n".to_vec(), 0o644),
    ];

    // Nothing there yet: every file differs.
    let facts = read_facts(&session, &files).await.expect("facts");
    assert!(!facts.joined);
    assert_eq!(differing(&files, &facts).len(), 3);
    upload(&session, &differing(&files, &facts))
        .await
        .expect("upload");

    // What was written is byte for byte labform's, with the modes asked for.
    let kubeadm_yaml = node.path().join("labform/kubeadm.yaml");
    assert_eq!(
        std::fs::read_to_string(&kubeadm_yaml).expect("read"),
        format!("token: {secret_value}\n")
    );
    let mode = |name: &str| {
        std::fs::metadata(node.path().join(name))
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("labform/kubeadm.yaml"), 0o600);
    assert_eq!(mode("labform/prepare.sh"), 0o755);

    // A second pass finds nothing to do.
    let facts = read_facts(&session, &files).await.expect("facts");
    assert!(differing(&files, &facts).is_empty(), "{facts:?}");

    // A file changed on the node is found, and only it.
    std::fs::write(node.path().join("pki/ca.crt"), "another certificate\n").expect("write");
    let facts = read_facts(&session, &files).await.expect("facts");
    let changed: Vec<&str> = differing(&files, &facts)
        .iter()
        .map(|file| file.path.as_str())
        .collect();
    assert_eq!(changed, [path("pki/ca.crt")]);

    // The secret travels in channel data only.
    let paths: Vec<&str> = files.iter().map(|file| file.path.as_str()).collect();
    assert!(!facts_command(&paths).contains(secret_value));
    let _ = session.close().await;
}
