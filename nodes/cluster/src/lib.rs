//! emoflow standard nodes: cluster family, the label discretizers
//! `cluster.optimal1d`, `cluster.kmeans`, `cluster.quantile` and
//! `cluster.uniform`.
//!
//! Every discretizer turns continuous labels into classes per (dim, task),
//! one task per number of classes k. The methods differ only in how they place
//! the class thresholds on the fit data ([`optimal1d`], [`kmeans`],
//! [`quantile`], [`uniform`]); what they output, a codebook and class
//! sequences, and the node around them are the SDK's
//! ([`emoflow_sdk::families::cluster`], through [`discretize`]), and so the
//! same for plugin discretizers; their input form is [`weighted`].

pub mod codebook;
pub mod discretize;
pub mod kmeans;
pub mod optimal1d;
pub mod quantile;
pub mod uniform;
pub mod weighted;

/// Errors of the discretizers; messages name the parameter, or the
/// utterance, dim or task.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Parameters or settings that cannot work (`k` listed twice, `dims`
    /// naming a dimension the labels lack).
    #[error("{0}")]
    Invalid(String),
    /// Labels that cannot be discretized as they are.
    #[error("{0}")]
    Data(String),
    #[error("{location}: not a finite number ({value})")]
    NonFinite { location: String, value: f64 },
    #[error("no label values to fit")]
    EmptyFitData,
    #[error("k = {k} classes requested but the fit data has only {distinct} distinct value(s)")]
    TooFewDistinct { k: usize, distinct: usize },
}

impl Error {
    /// The ABI code that says whose problem it is.
    fn code(&self) -> emoflow_sdk::ErrorCode {
        match self {
            Error::Invalid(_) => emoflow_sdk::ErrorCode::Invalid,
            Error::Data(_)
            | Error::NonFinite { .. }
            | Error::EmptyFitData
            | Error::TooFewDistinct { .. } => emoflow_sdk::ErrorCode::Data,
        }
    }
}

impl From<Error> for emoflow_sdk::Error {
    fn from(e: Error) -> Self {
        emoflow_sdk::Error::new(e.code(), e.to_string())
    }
}

emoflow_sdk::export_plugin!(optimal1d::spec, kmeans::spec, quantile::spec, uniform::spec);
