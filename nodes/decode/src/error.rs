//! Errors are the SDK's [`Error`]; problems with input data carry the `Data`
//! code and a message naming the file, line, utterance or dimension/task.

pub use emoflow_sdk::{Error, Result};

/// `return Err(Error::data(format!(...)))`.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::data(format!($($arg)*)))
    };
}
pub(crate) use bail;
