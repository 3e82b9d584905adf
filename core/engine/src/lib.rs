//! The emoflow host as a library: graph files, validation, plugin discovery,
//! the scheduler and cache. The `emoflow` binary (`main.rs`) is its command
//! line; the fuzz targets (`fuzz/`) drive the graph loader through it.

pub mod cache;
pub mod compose;
pub mod diag;
pub mod export;
pub mod graph;
pub mod graph_test;
pub mod lock;
pub mod plugin_check;
pub mod predict;
pub mod registry;
pub mod run;
pub mod schema;
pub mod sweep;
pub mod slurm;
pub mod validate;
pub mod worker;
