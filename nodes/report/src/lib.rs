//! emoflow standard nodes: reports and sinks.
//!
//! | kind | file |
//! |---|---|
//! | `report.table` | [`table`] — metrics pivoted into a Markdown and CSV table |
//! | `report.plot` | [`plot`] — labels against predictions over time, PNG and SVG (Figure 3) |
//! | `io.write` | [`write`] — node outputs as Arrow IPC, CSV or AVEC-style ARFF |

#![forbid(unsafe_code)]

pub mod plot;
pub mod table;
pub mod write;

// io.write before report.plot: the order of a bundle's outputs.
emoflow_sdk::export_plugin!(table::spec, write::spec, plot::spec);
