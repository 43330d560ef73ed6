//! The store on disk: `identity.txt` (the age x25519 identity, mode 0600) and one age file per
//! value under `secrets/`.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use age::x25519::Identity;
use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroize as _;

use crate::key::SecretKey;

/// File name of the identity inside the store directory.
const IDENTITY_FILE: &str = "identity.txt";
/// Directory of the encrypted values inside the store directory.
const VALUES_DIRECTORY: &str = "secrets";
/// Extension of an encrypted value.
const VALUE_EXTENSION: &str = "age";

/// Errors of the secret store. None of them carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretStoreError {
    /// No data directory could be found for the default store.
    #[error(
        "cannot find a data directory for the secret store: set LABFORM_DATA_DIR, XDG_DATA_HOME or HOME"
    )]
    NoDataDirectory,
    /// A file or directory of the store could not be read or written.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done (`read`, `create`, ...).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The identity file may be read by other users.
    #[error(
        "{} is readable by other users (mode {mode:o}); run `chmod 600 {}` and rotate the secrets it protects",
        path.display(),
        path.display()
    )]
    IdentityTooOpen {
        /// The identity file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The identity file does not hold an age x25519 identity.
    #[error("{} does not hold an age x25519 identity (AGE-SECRET-KEY-1...)", path.display())]
    InvalidIdentity {
        /// The identity file.
        path: PathBuf,
    },
    /// A value could not be encrypted.
    #[error("cannot encrypt the secret `{key}`")]
    Encrypt {
        /// The key.
        key: SecretKey,
        /// The cause.
        #[source]
        source: Box<age::EncryptError>,
    },
    /// A value could not be decrypted (another identity, or a damaged file).
    #[error("cannot decrypt the secret `{key}` with the store's identity")]
    Decrypt {
        /// The key.
        key: SecretKey,
        /// The cause.
        #[source]
        source: Box<age::DecryptError>,
    },
    /// A decrypted value is not UTF-8 text.
    #[error("the secret `{key}` is not UTF-8 text")]
    NotText {
        /// The key.
        key: SecretKey,
    },
    /// A key is not a valid secret key.
    #[error(transparent)]
    InvalidKey(#[from] crate::key::InvalidSecretKey),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

/// An age-encrypted store of secrets in one directory.
pub struct SecretStore {
    directory: PathBuf,
    identity: Identity,
}

impl fmt::Debug for SecretStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SecretStore")
            .field("directory", &self.directory)
            .field("identity", &"[redacted]")
            .finish()
    }
}

impl SecretStore {
    /// The default store directory: `$LABFORM_DATA_DIR`, else `$XDG_DATA_HOME/labform`, else
    /// `$HOME/.local/share/labform`.
    pub fn default_directory() -> Result<PathBuf, SecretStoreError> {
        let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
        if let Some(directory) = non_empty("LABFORM_DATA_DIR") {
            return Ok(PathBuf::from(directory));
        }
        if let Some(directory) = non_empty("XDG_DATA_HOME") {
            return Ok(PathBuf::from(directory).join("labform"));
        }
        if let Some(home) = non_empty("HOME") {
            return Ok(PathBuf::from(home).join(".local/share/labform"));
        }
        Err(SecretStoreError::NoDataDirectory)
    }

    /// Opens the store in [`SecretStore::default_directory`].
    pub fn open_default() -> Result<Self, SecretStoreError> {
        Self::open(&Self::default_directory()?)
    }

    /// Opens the store in `directory`, creating the directory (mode 0700) and the identity
    /// (mode 0600) on first use. An identity file readable by group or others is refused.
    pub fn open(directory: &Path) -> Result<Self, SecretStoreError> {
        create_private_directory(directory)?;
        let identity_path = directory.join(IDENTITY_FILE);
        let identity = match fs::metadata(&identity_path) {
            Ok(metadata) => {
                let mode = metadata.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(SecretStoreError::IdentityTooOpen {
                        path: identity_path,
                        mode,
                    });
                }
                read_identity(&identity_path)?
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let identity = Identity::generate();
                let mut text = format!(
                    "# labform secret store identity; public key: {}\n{}\n",
                    identity.to_public(),
                    identity.to_string().expose_secret()
                );
                let written = write_private_file(directory, &identity_path, text.as_bytes());
                text.zeroize();
                match written {
                    Ok(()) => identity,
                    // Another process created it first: use theirs.
                    Err(SecretStoreError::Io { source, .. })
                        if source.kind() == io::ErrorKind::AlreadyExists =>
                    {
                        read_identity(&identity_path)?
                    }
                    Err(error) => return Err(error),
                }
            }
            Err(source) => {
                return Err(SecretStoreError::Io {
                    action: "read",
                    path: identity_path,
                    source,
                });
            }
        };
        Ok(SecretStore {
            directory: directory.to_owned(),
            identity,
        })
    }

    /// The store's directory.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// The public key values are encrypted to (`age1...`).
    pub fn recipient(&self) -> String {
        self.identity.to_public().to_string()
    }

    fn value_path(&self, key: &SecretKey) -> PathBuf {
        self.directory
            .join(VALUES_DIRECTORY)
            .join(format!("{}.{VALUE_EXTENSION}", key.as_str()))
    }

    /// Stores `value` under `key`, replacing an earlier value atomically.
    pub fn put(&self, key: &SecretKey, value: &SecretString) -> Result<(), SecretStoreError> {
        let encrypted = age::encrypt(&self.identity.to_public(), value.expose_secret().as_bytes())
            .map_err(|source| SecretStoreError::Encrypt {
                key: key.clone(),
                source: Box::new(source),
            })?;
        let path = self.value_path(key);
        let parent = path.parent().expect("a value path has a parent");
        create_private_directory(parent)?;
        let temporary = parent.join(format!(
            ".{}.tmp-{}",
            path.file_name()
                .expect("a value path has a file name")
                .to_string_lossy(),
            std::process::id()
        ));
        // A stale temporary file of a crashed run with the same process ID is replaced.
        let _ = fs::remove_file(&temporary);
        write_private_file(parent, &temporary, &encrypted)?;
        fs::rename(&temporary, &path).map_err(|source| SecretStoreError::Io {
            action: "replace",
            path: path.clone(),
            source,
        })
    }

    /// The value stored under `key`, if any.
    pub fn get(&self, key: &SecretKey) -> Result<Option<SecretString>, SecretStoreError> {
        let path = self.value_path(key);
        let encrypted = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SecretStoreError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        let plaintext = age::decrypt(&self.identity, &encrypted).map_err(|source| {
            SecretStoreError::Decrypt {
                key: key.clone(),
                source: Box::new(source),
            }
        })?;
        match String::from_utf8(plaintext) {
            Ok(text) => Ok(Some(SecretString::from(text))),
            Err(error) => {
                let mut bytes = error.into_bytes();
                bytes.zeroize();
                Err(SecretStoreError::NotText { key: key.clone() })
            }
        }
    }

    /// The value under `key`; when there is none, `generate` makes one, which is stored first.
    pub fn get_or_create(
        &self,
        key: &SecretKey,
        generate: impl FnOnce() -> Result<SecretString, SecretStoreError>,
    ) -> Result<SecretString, SecretStoreError> {
        if let Some(value) = self.get(key)? {
            return Ok(value);
        }
        let value = generate()?;
        self.put(key, &value)?;
        Ok(value)
    }

    /// Removes the value under `key`; whether there was one.
    pub fn remove(&self, key: &SecretKey) -> Result<bool, SecretStoreError> {
        let path = self.value_path(key);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(SecretStoreError::Io {
                action: "remove",
                path,
                source,
            }),
        }
    }

    /// Every key in the store, sorted.
    pub fn keys(&self) -> Result<Vec<SecretKey>, SecretStoreError> {
        let root = self.directory.join(VALUES_DIRECTORY);
        let mut keys = Vec::new();
        collect_keys(&root, "", &mut keys)?;
        keys.sort();
        Ok(keys)
    }
}

/// A random token of `bytes` random bytes, written as lowercase hexadecimal (K3s join tokens,
/// passwords labform makes itself).
pub fn generate_token(bytes: usize) -> Result<SecretString, SecretStoreError> {
    let mut random = vec![0_u8; bytes];
    getrandom::fill(&mut random).map_err(|error| SecretStoreError::Random(error.to_string()))?;
    let mut text = String::with_capacity(bytes * 2);
    for byte in &random {
        text.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        text.push(char::from(b"0123456789abcdef"[usize::from(byte & 0x0f)]));
    }
    random.zeroize();
    Ok(SecretString::from(text))
}

fn collect_keys(
    directory: &Path,
    prefix: &str,
    keys: &mut Vec<SecretKey>,
) -> Result<(), SecretStoreError> {
    let entries = match fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(SecretStoreError::Io {
                action: "list",
                path: directory.to_owned(),
                source,
            });
        }
    };
    for entry in entries {
        let entry = entry.map_err(|source| SecretStoreError::Io {
            action: "list",
            path: directory.to_owned(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_dir() {
            collect_keys(&path, &format!("{prefix}{name}/"), keys)?;
        } else if let Some(stem) = name.strip_suffix(".age")
            && let Ok(key) = SecretKey::new(format!("{prefix}{stem}"))
        {
            keys.push(key);
        }
    }
    Ok(())
}

fn read_identity(path: &Path) -> Result<Identity, SecretStoreError> {
    let mut text = fs::read_to_string(path).map_err(|source| SecretStoreError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    let identity = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .and_then(|line| Identity::from_str(line).ok());
    text.zeroize();
    identity.ok_or_else(|| SecretStoreError::InvalidIdentity {
        path: path.to_owned(),
    })
}

fn create_private_directory(directory: &Path) -> Result<(), SecretStoreError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(directory)
        .map_err(|source| SecretStoreError::Io {
            action: "create",
            path: directory.to_owned(),
            source,
        })
}

/// Creates `path` (which must not exist) with mode 0600 and writes `bytes`, flushed to disk.
fn write_private_file(directory: &Path, path: &Path, bytes: &[u8]) -> Result<(), SecretStoreError> {
    let io_error = |action, source| SecretStoreError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| io_error("create", source))?;
    file.write_all(bytes)
        .map_err(|source| io_error("write", source))?;
    file.sync_all()
        .map_err(|source| io_error("write", source))?;
    // Make the new directory entry durable too; failure here is not worth failing the write.
    if let Ok(directory) = fs::File::open(directory) {
        let _ = directory.sync_all();
    }
    Ok(())
}
