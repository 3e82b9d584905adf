//! An out-of-tree emoflow plugin with one node kind, `decode.hysteresis`.
//!
//! Built only against `emoflow-sdk`; see `README.md` and the repository's
//! `docs/plugins.md`, which uses this crate as its worked example.

pub mod hysteresis;

emoflow_sdk::export_plugin!(hysteresis::spec);
