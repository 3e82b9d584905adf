//! The one error type of the SDK, which crosses the boundary as
//! [`FFI_Error`](crate::ffi::FFI_Error) (a code and a message).

use crate::arrow;

/// What kind of failure an [`Error`] is; crosses the ABI as an `i32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ErrorCode {
    /// The node failed (a catch-all for errors the other codes do not fit).
    Failed = 1,
    /// Invalid parameters, ports or usage.
    Invalid = 2,
    /// Input data that breaks a convention or cannot be used.
    Data = 3,
    /// A file could not be read or written.
    Io = 4,
    /// The host asked the node to stop.
    Cancelled = 5,
    /// The node panicked; the shim caught it.
    Panic = 6,
}

impl ErrorCode {
    pub fn from_i32(code: i32) -> Self {
        match code {
            2 => Self::Invalid,
            3 => Self::Data,
            4 => Self::Io,
            5 => Self::Cancelled,
            6 => Self::Panic,
            _ => Self::Failed,
        }
    }
}

/// An error with a message meant for the person running the graph: say what
/// is wrong, where (file, line, utterance, port), and how to fix it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Ends the message of every error that can only be the node's own fault,
/// whatever its input (an undeclared port read or written, a declared
/// output not produced): `emoflow plugin check` fails a kind on it.
pub const NODE_BUG: &str = "(a bug in the node)";

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Failed, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Invalid, message)
    }
    pub fn data(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Data, message)
    }
    /// An I/O error naming the file.
    pub fn io(path: impl AsRef<std::path::Path>, error: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::Io,
            format!("{}: {error}", path.as_ref().display()),
        )
    }
    pub fn cancelled() -> Self {
        Self::new(ErrorCode::Cancelled, "cancelled")
    }
    /// Prefixes the message with where it happened.
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        Self {
            code: self.code,
            message: format!("{context}: {}", self.message),
        }
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        match e {
            arrow::error::ArrowError::ExternalError(inner) => match inner.downcast::<Error>() {
                Ok(ours) => *ours,
                Err(other) => Self::data(other.to_string()),
            },
            arrow::error::ArrowError::CDataInterface(message) => {
                Self::data(producer_message(&message))
            }
            other => Self::data(other.to_string()),
        }
    }
}

/// The producer's own words in an error read from a C stream: arrow wraps a
/// node's error as "Cannot get next batch from input stream. Error code: N.
/// Producer error: External error: WORDS", which tells the user nothing.
fn producer_message(message: &str) -> String {
    match message.split_once("Producer error: ") {
        Some((_, produced)) => produced
            .strip_prefix("External error: ")
            .unwrap_or(produced)
            .to_string(),
        None => message.to_string(),
    }
}

impl From<Error> for arrow::error::ArrowError {
    fn from(e: Error) -> Self {
        arrow::error::ArrowError::ExternalError(Box::new(e))
    }
}

/// `.context(...)` on results, for errors that should say where they happened.
pub trait ResultExt<T> {
    fn context(self, context: impl std::fmt::Display) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn context(self, context: impl std::fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }
}
