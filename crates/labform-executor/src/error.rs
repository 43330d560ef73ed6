//! Errors of discovery and apply, each saying what labform was doing and on which VM.

/// Why an apply or a discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// A Proxmox API call failed.
    #[error("could not {action}")]
    Api {
        /// What labform was doing.
        action: String,
        /// The API error.
        #[source]
        source: Box<labform_proxmox::Error>,
    },
    /// The plan wants VM IDs that other VMs hold.
    #[error("{count} planned VM ID(s) are held by VMs this lab does not own: {details}")]
    Conflicts {
        /// How many.
        count: usize,
        /// Which, one per line.
        details: String,
    },
    /// The reconciliation compared VMs by the spec hash their tags record, without reading their
    /// configs (`plan --no-refresh`): it says what changed, not how, and cannot be carried out.
    #[error(
        "{count} VM(s) were compared by the spec hash their tags record, without reading their configs; apply needs a plan that reads them"
    )]
    NotRead {
        /// How many.
        count: usize,
    },
    /// The guest agent did not report the planned address in time.
    #[error(
        "VM `{vm}` did not report address {address} through the guest agent within {seconds} s"
    )]
    AgentTimeout {
        /// VM name.
        vm: String,
        /// Planned address.
        address: String,
        /// How long labform waited.
        seconds: u64,
    },
    /// A protected VM would have to be deleted or replaced.
    #[error("VM `{vm}` ({vm_id}) is protected; {what} refused")]
    Protected {
        /// VM name.
        vm: String,
        /// VM ID.
        vm_id: u32,
        /// What was refused.
        what: String,
    },
    /// The journal could not be written.
    #[error("the journal at {path} failed")]
    Journal {
        /// Journal file.
        path: String,
        /// The SQLite error.
        #[source]
        source: Box<rusqlite::Error>,
    },
    /// Apply was interrupted (Ctrl-C) before every action ran.
    #[error("interrupted: {finished} of {total} actions finished; run apply again to converge")]
    Interrupted {
        /// Actions finished.
        finished: usize,
        /// Actions planned.
        total: usize,
    },
    /// Several actions failed.
    #[error("{} action(s) failed:\n{}", .0.len(), .0.join("\n"))]
    Failed(Vec<String>),
}

impl ExecuteError {
    /// An API error while doing `action`.
    pub fn api(action: impl Into<String>, source: labform_proxmox::Error) -> Self {
        Self::Api {
            action: action.into(),
            source: Box::new(source),
        }
    }
}

/// The error and its causes on one line, for journals and progress output.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
