//! SSH host keys made by labform: ed25519, generated with the operating system's random number
//! generator, kept in the secret store, and written into a VM's user data before it first boots.

use std::fmt;

use labform_secrets::{ExposeSecret as _, SecretKey, SecretStore, SecretString};
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey};

use crate::error::CloudInitError;

/// An ed25519 host key pair in OpenSSH formats. `Debug` shows the public half only.
#[derive(Clone)]
pub struct HostKeyPair {
    private_openssh: SecretString,
    public_openssh: String,
    fingerprint: String,
}

impl fmt::Debug for HostKeyPair {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("HostKeyPair")
            .field("public_openssh", &self.public_openssh)
            .field("private_openssh", &"[redacted]")
            .finish()
    }
}

impl HostKeyPair {
    /// A new random ed25519 key for `vm` (the name is the key's comment).
    pub fn generate(vm: &str) -> Result<Self, CloudInitError> {
        let wrap = |source| CloudInitError::HostKey {
            vm: vm.to_owned(),
            source,
        };
        let mut key =
            PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519).map_err(wrap)?;
        key.set_comment(vm);
        Self::from_key(vm, &key)
    }

    /// Reads a private key in OpenSSH format (`-----BEGIN OPENSSH PRIVATE KEY-----`).
    pub fn from_private_openssh(vm: &str, text: &SecretString) -> Result<Self, CloudInitError> {
        let key = PrivateKey::from_openssh(text.expose_secret()).map_err(|source| {
            CloudInitError::HostKey {
                vm: vm.to_owned(),
                source,
            }
        })?;
        Self::from_key(vm, &key)
    }

    fn from_key(vm: &str, key: &PrivateKey) -> Result<Self, CloudInitError> {
        let wrap = |source| CloudInitError::HostKey {
            vm: vm.to_owned(),
            source,
        };
        let private = key.to_openssh(LineEnding::LF).map_err(wrap)?;
        let mut public_key = key.public_key().clone();
        // The comment is not part of the key; leave it out so the text compares as the key.
        public_key.set_comment("");
        let public_openssh = public_key.to_openssh().map_err(wrap)?.trim().to_owned();
        Ok(HostKeyPair {
            private_openssh: SecretString::from(private.as_str()),
            public_openssh,
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        })
    }

    /// The private key in OpenSSH format.
    pub fn private_openssh(&self) -> &SecretString {
        &self.private_openssh
    }

    /// The public key as one `ssh-ed25519 AAAA...` line, without comment (the known_hosts form).
    pub fn public_openssh(&self) -> &str {
        &self.public_openssh
    }

    /// The SHA-256 fingerprint (`SHA256:...`), as `ssh-keygen -l` shows it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// Where keys come from when rendering: one stable host key pair per VM, and the key labform
/// itself logs in with.
pub trait HostKeySource {
    /// The host key of `vm`, made on first request and the same on every later one.
    fn host_key(&self, vm: &str) -> Result<HostKeyPair, CloudInitError>;

    /// The key labform logs in to the lab's VMs with (to install K3s and deliver add-ons); its
    /// public half is authorised for the login user of every cloud-init VM. Made on first
    /// request, the same on every later one.
    fn login_key(&self) -> Result<HostKeyPair, CloudInitError>;
}

/// The comment of labform's login key in `authorized_keys`.
pub fn login_key_comment(scope: &str) -> String {
    format!("labform@{scope}")
}

/// The key under which labform's login key for the lab scope `scope` is stored.
pub fn login_key_store_key(scope: &str) -> Result<SecretKey, CloudInitError> {
    SecretKey::new(format!("login-key/{scope}")).map_err(|source| CloudInitError::StoreKey {
        vm: format!("(login key of scope {scope})"),
        source,
    })
}

/// The key under which the host key of `vm` in the lab scope `scope` is stored.
pub fn host_key_store_key(scope: &str, vm: &str) -> Result<SecretKey, CloudInitError> {
    SecretKey::new(format!("host-key/{scope}/{vm}")).map_err(|source| CloudInitError::StoreKey {
        vm: vm.to_owned(),
        source,
    })
}

/// Host keys kept in labform's secret store under [`host_key_store_key`], generated on first use.
#[derive(Debug)]
pub struct StoredHostKeys<'store> {
    store: &'store SecretStore,
    scope: String,
}

impl<'store> StoredHostKeys<'store> {
    /// Host keys of the lab scope `scope` in `store`.
    pub fn new(store: &'store SecretStore, scope: impl Into<String>) -> Self {
        StoredHostKeys {
            store,
            scope: scope.into(),
        }
    }
}

impl StoredHostKeys<'_> {
    /// The pair stored under `key`, or a new one (commented `comment`) stored there.
    fn stored(&self, key: &SecretKey, comment: &str) -> Result<HostKeyPair, CloudInitError> {
        let store_error = |source| CloudInitError::HostKeyStore {
            vm: comment.to_owned(),
            source,
        };
        if let Some(text) = self.store.get(key).map_err(store_error)? {
            return HostKeyPair::from_private_openssh(comment, &text);
        }
        let pair = HostKeyPair::generate(comment)?;
        self.store
            .put(key, pair.private_openssh())
            .map_err(store_error)?;
        Ok(pair)
    }
}

impl HostKeySource for StoredHostKeys<'_> {
    fn host_key(&self, vm: &str) -> Result<HostKeyPair, CloudInitError> {
        self.stored(&host_key_store_key(&self.scope, vm)?, vm)
    }

    fn login_key(&self) -> Result<HostKeyPair, CloudInitError> {
        self.stored(
            &login_key_store_key(&self.scope)?,
            &login_key_comment(&self.scope),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_and_differ() {
        let first = HostKeyPair::generate("node-1").expect("generate");
        let second = HostKeyPair::generate("node-1").expect("generate");
        assert_ne!(first.public_openssh(), second.public_openssh());
        assert!(first.public_openssh().starts_with("ssh-ed25519 AAAA"));
        assert!(first.fingerprint().starts_with("SHA256:"));
        let again =
            HostKeyPair::from_private_openssh("node-1", first.private_openssh()).expect("parse");
        assert_eq!(again.public_openssh(), first.public_openssh());
        let printed = format!("{first:?}");
        assert!(!printed.contains("PRIVATE KEY"), "{printed}");
    }
}
