//! The emoflow host as a library: graph files, validation, plugin discovery,
//! the scheduler and cache. The `emoflow` binary (`main.rs`) is its command
//! line; the fuzz targets (`fuzz/`) drive the graph loader through it.

pub mod cache;
pub mod cache_cmd;
pub mod compare;
pub mod compose;
pub mod console;
pub mod diag;
pub mod doctor;
pub mod error;
pub mod export;
pub mod fingerprint;
pub mod graph;
pub mod graph_test;
pub mod libtorch;
pub mod lock;
pub mod places;
pub mod plugin_check;
pub mod plugin_new;
pub mod predict;
pub mod registry;
pub mod report;
pub mod run;
pub mod schema;
pub mod slurm;
pub mod sweep;
pub mod validate;
pub mod worker;
