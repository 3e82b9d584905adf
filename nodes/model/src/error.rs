//! The one error type of the model family: training, checkpoints and model
//! cards. Each variant reaches the host with the ABI code that says whose
//! problem it is.

use std::path::PathBuf;

use tch::TchError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Torch(#[from] TchError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("training data: {0}")]
    Data(String),
    #[error("loss is {value} in epoch {epoch} on utterance {utterance}")]
    NonFinite {
        epoch: usize,
        utterance: String,
        value: f64,
    },
    /// Settings that cannot work.
    #[error("{0}")]
    Invalid(String),
    #[error("training cancelled in epoch {epoch}; the checkpoint holds the epochs before it")]
    Cancelled { epoch: usize },
}

impl From<Error> for emoflow_sdk::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Cancelled { .. } => emoflow_sdk::Error::cancelled(),
            Error::Io { path, source } => emoflow_sdk::Error::io(path, source),
            Error::Invalid(message) => emoflow_sdk::Error::invalid(message),
            Error::Data(_) | Error::NonFinite { .. } => emoflow_sdk::Error::data(error.to_string()),
            Error::Torch(_) | Error::Checkpoint { .. } => {
                emoflow_sdk::Error::failed(error.to_string())
            }
        }
    }
}
