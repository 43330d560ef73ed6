//! Errors of cloud-init rendering and host keys; none carries a private key.

/// What went wrong while rendering a VM's cloud-init or handling its host key.
#[derive(Debug, thiserror::Error)]
pub enum CloudInitError {
    /// The VM is not configured by cloud-init (a Talos VM or an installer ISO).
    #[error("VM {vm} boots with `{boot}`, not cloud-init; labform renders no cloud-init for it")]
    NotCloudInit {
        /// The VM.
        vm: String,
        /// How it boots.
        boot: String,
    },
    /// A VM's secrets (its host key, labform's login key) cannot be named in the secret store:
    /// the scope or VM name holds characters store keys refuse.
    #[error("VM {vm}: its keys cannot be kept in the secret store")]
    StoreKey {
        /// The VM.
        vm: String,
        /// Why the key was refused.
        #[source]
        source: labform_secrets::InvalidSecretKey,
    },
    /// Seed images were asked of a run that makes none (`destroy`), or could not be made.
    #[error("VM {vm}: no seed image: {detail}")]
    NoSeed {
        /// The VM.
        vm: String,
        /// Why.
        detail: String,
    },
    /// A host key could not be generated or encoded.
    #[error("cannot make the SSH host key of VM {vm}")]
    HostKey {
        /// The VM.
        vm: String,
        /// The cause.
        #[source]
        source: ssh_key::Error,
    },
    /// A stored host key could not be read or written.
    #[error("cannot read or store the SSH host key of VM {vm}")]
    HostKeyStore {
        /// The VM.
        vm: String,
        /// The cause.
        #[source]
        source: labform_secrets::SecretStoreError,
    },
    /// A document could not be written as YAML.
    #[error("cannot write the {document} of VM {vm} as YAML: {message}")]
    Yaml {
        /// The VM.
        vm: String,
        /// Which document.
        document: &'static str,
        /// The serialiser's message (the documents hold no secret besides the host key, which is
        /// added as text after serialisation).
        message: String,
    },
    /// The distribution that configures the VM could not render its seed (a Talos node's
    /// machine configuration).
    #[error("cannot render the seed of VM {vm}: {message}")]
    Distribution {
        /// The VM.
        vm: String,
        /// Why (never a secret).
        message: String,
    },
}
