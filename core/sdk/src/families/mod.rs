//! Helpers for the node families plugin authors extend most, used by the
//! standard nodes themselves (one copy of each rule):
//!
//! * [`cluster`]: a [`Discretizer`](cluster::Discretizer) only places class
//!   thresholds and means on the fit values; the SDK builds the codebook,
//!   the train priors and the classes of every split by the documented rule.
//! * [`decode`]: codebook lookup, prior scaling and the average over tasks,
//!   around a decoder that maps one task's posteriors to a class per frame.
//! * [`metric`]: predictions matched with labels and scored per split and
//!   dimension, around a statistic over (prediction, label) frames.

pub mod cluster;
pub mod decode;
pub mod metric;
