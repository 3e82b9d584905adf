//! Errors are the SDK's [`Error`], whose code says whose problem it is:
//! `Error::invalid` for parameters that cannot work (an even median window,
//! a negative `alpha`), `Error::data` for inputs that break a rule (a
//! codebook, posteriors, an ARPA file), `Error::io` for files; messages name
//! the parameter, file, line, utterance or dimension/task.

pub use emoflow_sdk::{Error, Result};
