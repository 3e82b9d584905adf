//! emoflow standard nodes: reports and sinks.
//!
//! | kind | file |
//! |---|---|
//! | `report.table` | [`table`] — metrics pivoted into a Markdown and CSV table |
//! | `io.write` | [`write`] — node outputs as Arrow IPC, CSV or AVEC-style ARFF |

pub mod table;
pub mod write;

emoflow_sdk::export_plugin!(table::spec, write::spec);
