//! emoflow standard nodes: metric family.
//!
//! `metric.ccc` ([`ccc`]) and `metric.rmse` ([`rmse`]) score predictions
//! against labels, both through the SDK's matching and alignment rules
//! ([`emoflow_sdk::families::metric`], which plugin metrics use too); `metric.reconstruction` ([`reconstruction`]) scores labels
//! against their codebook reconstruction (the paper's Table 1). All
//! arithmetic is in f64.

#![forbid(unsafe_code)]

pub mod ccc;
pub mod reconstruction;
pub mod rmse;

/// Errors of the metric nodes; messages name the parameter, or the
/// utterance, split and dim.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Parameters that cannot work (`dims` naming a dimension the labels
    /// lack).
    #[error("{0}")]
    Invalid(String),
    /// Input that breaks the matching rules or a codebook's invariants.
    #[error("{0}")]
    Data(String),
    /// A metric that has no value on the data (e.g. CCC of two equal constants).
    #[error("{0}")]
    Undefined(String),
}

impl From<Error> for emoflow_sdk::Error {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::Invalid(_) => emoflow_sdk::ErrorCode::Invalid,
            Error::Data(_) | Error::Undefined(_) => emoflow_sdk::ErrorCode::Data,
        };
        emoflow_sdk::Error::new(code, e.to_string())
    }
}

emoflow_sdk::export_plugin!(ccc::spec, rmse::spec, reconstruction::spec);
