//! A real OpenSSH server on loopback for the tests of tier [`crate::REAL_SSHD`].

use std::path::Path;
use std::process::{Command, Stdio};

use crate::locations::find_program;

/// Starts Debian's `sshd` (tier [`crate::REAL_SSHD`]) on a free loopback port with its configuration in
/// `directory`: host key `host_key`, public keys from `authorized_keys`, only `user` let in, by
/// key. The process (the caller stops it) and its port, once it accepts connections.
///
/// # Panics
///
/// When sshd cannot be found or does not start in five attempts.
pub fn start_sshd(
    directory: &Path,
    host_key: &Path,
    authorized_keys: &Path,
    user: &str,
) -> (std::process::Child, u16) {
    let sshd = find_program("sshd").expect("the real-sshd tier has sshd");
    // sshd refuses to start without its privilege separation directory.
    let _ = std::fs::create_dir_all("/run/sshd");
    for _attempt in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let config = directory.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                 AuthorizedKeysFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nAllowUsers {user}\nLogLevel ERROR\n",
                host_key.display(),
                directory.join("sshd.pid").display(),
                authorized_keys.display()
            ),
        )
        .expect("write sshd_config");
        let mut child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("sshd starts");
        // Wait until it accepts connections, or gives up (a port taken in between).
        for _ in 0..100 {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (child, port);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("sshd did not start (see its messages above)");
}
