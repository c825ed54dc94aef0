//! Why the agent's work failed; each message says what to do.

/// An agent failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel command line lacks what parc's boot script puts there.
    #[error("{0}")]
    Orders(String),
    /// The server refused or could not be reached.
    #[error(transparent)]
    Server(#[from] parc_client::Error),
    /// Capture or restore failed.
    #[error("{what}: {cause}")]
    Imaging {
        /// What was being done (`restoring golden onto /dev/vda`).
        what: String,
        /// Why (deliberately not a `source`: it is in the message).
        cause: parc_imaging::Error,
    },
    /// A post-install hook failed.
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    /// The machine's disks or filesystems are not as the task needs.
    #[error("{0}")]
    Disk(String),
    /// A system call failed.
    #[error("{what}: {cause}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        cause: std::io::Error,
    },
}

/// Agent results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `Error::Io` with what was being done.
pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |cause| Error::Io { what, cause }
}
