//! The one error type of the audio family. Every variant names what the user
//! has to look at: a file, a line of a file, or a recording.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused a file operation.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file as a whole is unusable (not a WAV, truncated, missing).
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// One line of a text file is unusable (1-based line number).
    #[error("{}:{line}: {message}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A recording's parts do not fit together (label and audio lengths).
    #[error("recording {recording}: {message}")]
    Recording { recording: String, message: String },
    /// Options or parameters that cannot work.
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        Error::File {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub fn line(path: &Path, line: usize, message: impl Into<String>) -> Self {
        Error::Line {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    pub fn recording(recording: &str, message: impl Into<String>) -> Self {
        Error::Recording {
            recording: recording.to_string(),
            message: message.into(),
        }
    }
}

impl From<Error> for emoflow_sdk::Error {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::Io { .. } => emoflow_sdk::ErrorCode::Io,
            Error::Invalid(_) => emoflow_sdk::ErrorCode::Invalid,
            Error::File { .. } | Error::Line { .. } | Error::Recording { .. } => {
                emoflow_sdk::ErrorCode::Data
            }
        };
        emoflow_sdk::Error::new(code, e.to_string())
    }
}
