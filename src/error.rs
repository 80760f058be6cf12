//! Errors that cross the Node-API boundary.

use std::fmt;

/// Everything a run can fail with before it produces a result.
#[derive(Debug)]
pub enum Error {
    /// An option has the wrong type or value; JavaScript sees a `TypeError`
    /// whose message names the field.
    InvalidInput {
        /// The option's name as the caller wrote it (`timeoutMs`, `env.FOO`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The runtime process could not be started.
    Spawn(String),
    /// The child failed at a stage of its set-up before `exec`; `stage` and
    /// `errno` as reported on its failure channel (see
    /// `process::spawn::Stage`).
    Start {
        /// The `Stage` number.
        stage: u32,
        /// The errno at that stage.
        errno: i32,
    },
    /// Staging the run's files failed.
    Io(std::io::Error),
}

impl Error {
    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidInput { field, message } => write!(f, "{field}: {message}"),
            Error::Spawn(m) => write!(f, "scriptcage: could not start the script process: {m}"),
            Error::Start { stage, errno } => write!(
                f,
                "scriptcage: could not start the script process: {}",
                crate::process::spawn::Stage::describe(*stage, *errno)
            ),
            Error::Io(e) => write!(f, "scriptcage: could not stage the script: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<Error> for napi::Error {
    fn from(e: Error) -> Self {
        let status = match e {
            Error::InvalidInput { .. } => napi::Status::InvalidArg,
            _ => napi::Status::GenericFailure,
        };
        napi::Error::new(status, e.to_string())
    }
}
