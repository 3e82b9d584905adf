//! emoflow standard nodes: audio family.
//!
//! Sources (`source.avec2016`, `source.csv`, `source.synthetic`,
//! `source.wav`) and the feature front end (`feature.fbank`,
//! `feature.stack`, `feature.znorm`, `feature.resample`), and
//! `io.synthetic_corpus`, which writes the synthetic corpus to disk (`emoflow
//! synth`). Each kind's algorithm is a plain module usable without the
//! engine.

#![forbid(unsafe_code)]

pub mod arff;
pub mod avec2016;
pub mod corpus;
pub mod error;
pub mod fbank;
mod parallel;
mod ports;
pub mod resample;
pub mod source_csv;
pub mod source_wav;
pub mod stack;
pub mod synthetic;
pub mod synthetic_corpus;
pub mod wav;
pub mod znorm;

pub use error::{Error, Result};

emoflow_sdk::export_plugin!(
    avec2016::kind,
    source_csv::kind,
    source_wav::kind,
    synthetic::kind,
    synthetic_corpus::kind,
    fbank::kind,
    stack::kind,
    znorm::kind,
    resample::kind,
);
