//! `cloud_init:` of node groups and plain VMs: packages, files, first-boot commands and the
//! user-data fragment merged with labform's.

use super::*;

/// Keys of the user data labform writes itself; a fragment may not set them.
pub const LABFORM_USER_DATA_KEYS: [&str; 11] = [
    "hostname",
    "fqdn",
    "prefer_fqdn_over_hostname",
    "manage_etc_hosts",
    "timezone",
    "users",
    "disable_root",
    "ssh_pwauth",
    "ssh_deletekeys",
    "ssh_keys",
    "package_update",
];

/// Keys of the user data whose lists a fragment extends.
pub const LIST_USER_DATA_KEYS: [&str; 3] = ["packages", "runcmd", "write_files"];

impl<'a> Checker<'a> {
    pub(super) fn cloud_init_additions(&mut self, at: &Source, additions: &CloudInitAdditions) {
        for (index, package) in additions.packages.iter().enumerate() {
            if package.trim().is_empty() || package.contains(char::is_whitespace) {
                self.push(
                    Diagnostic::error(
                        "invalid-cloud-init",
                        &at.at("packages").index(index),
                        format!("`{package}` is not a package name"),
                    )
                    .hint("write one package name per item"),
                );
            }
        }
        let mut paths = std::collections::BTreeSet::new();
        for (index, file) in additions.files.iter().enumerate() {
            let file_at = at.at("files").index(index);
            if !file.path.starts_with('/') || file.path.ends_with('/') {
                self.push(
                    Diagnostic::error(
                        "invalid-cloud-init",
                        &file_at.at("path"),
                        format!("`{}` is not an absolute file path", file.path),
                    )
                    .hint("write the file's full path, e.g. `/etc/dnsmasq.d/lab.conf`"),
                );
            } else if !paths.insert(file.path.as_str()) {
                self.push(
                    Diagnostic::error(
                        "invalid-cloud-init",
                        &file_at.at("path"),
                        format!("`{}` is written twice", file.path),
                    )
                    .hint("keep one entry per file"),
                );
            }
            if let Some(mode) = &file.mode {
                let digits = mode.strip_prefix('0').unwrap_or(mode);
                let valid = (3..=4).contains(&mode.len())
                    && !digits.is_empty()
                    && mode.bytes().all(|byte| (b'0'..=b'7').contains(&byte));
                if !valid {
                    self.push(
                        Diagnostic::error(
                            "invalid-cloud-init",
                            &file_at.at("mode"),
                            format!("`{mode}` is not an octal file mode"),
                        )
                        .hint("write it quoted, in octal, e.g. `\"0644\"` or `\"0755\"`"),
                    );
                }
            }
            if let Some(owner) = &file.owner {
                let valid = owner.split(':').count() <= 2
                    && owner.split(':').all(|part| {
                        !part.is_empty()
                            && part.bytes().all(|byte| {
                                byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.')
                            })
                    });
                if !valid {
                    self.push(
                        Diagnostic::error(
                            "invalid-cloud-init",
                            &file_at.at("owner"),
                            format!("`{owner}` is not an owner"),
                        )
                        .hint("write `user` or `user:group`, e.g. `root:root`"),
                    );
                }
            }
        }
        for (index, command) in additions.commands.iter().enumerate() {
            let empty = match command {
                GuestCommand::Shell(line) => line.trim().is_empty(),
                GuestCommand::Program(arguments) => {
                    arguments.first().is_none_or(|program| program.is_empty())
                }
            };
            if empty {
                self.push(
                    Diagnostic::error(
                        "invalid-cloud-init",
                        &at.at("commands").index(index),
                        "the command is empty",
                    )
                    .hint("write a shell command line, or a list of the program and its arguments"),
                );
            }
        }
        if let Some(fragment) = &additions.user_data {
            for (key, value) in fragment {
                let key_at = at.at("user_data").at(key);
                if LABFORM_USER_DATA_KEYS.contains(&key.as_str()) {
                    self.push(
                        Diagnostic::error(
                            "cloud-init-conflict",
                            &key_at,
                            format!("labform writes `{key}` in the user data itself"),
                        )
                        .hint("set it through the lab (`defaults`, the network, the VM's name), or leave it out; lists such as `packages`, `runcmd` and `write_files` may be extended"),
                    );
                } else if LIST_USER_DATA_KEYS.contains(&key.as_str()) && !value.is_array() {
                    self.push(
                        Diagnostic::error(
                            "invalid-cloud-init",
                            &key_at,
                            format!("`{key}` must be a list: it extends labform's"),
                        )
                        .hint(format!("write `{key}:` as a list")),
                    );
                }
            }
        }
    }
}
