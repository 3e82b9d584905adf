//! emoflow standard nodes: model family.
//!
//! `model.blstm`: the paper's deep bidirectional LSTM (step 2), as a
//! multi-task classifier over discretized labels or as a regressor, trained
//! with its two-stage early stopping, on libtorch through `tch`.
//!
//! * [`network`]: the network, equal to PyTorch's `nn.LSTM` + `nn.Linear`
//!   heads with the same weights and parameter names.
//! * [`adam`]: Adam with saveable moments.
//! * [`train`]: the training protocol; [`checkpoint`]: its atomic,
//!   resumable checkpoints.
//! * [`readout`]: prior scaling and class means -> continuous values; the
//!   dev CCC.
//! * [`device`]: `auto` | `cpu` | `cuda:N`.
//! * [`error`]: the family's one error type, and the ABI code of each of
//!   its variants.
//! * [`blstm`]: the `model.blstm` node kind over all of the above, with
//!   its training problem (`problem`), ensemble predictions (`ensemble`)
//!   and saved models (`model_card`).
//!
//! Linking: build.rs gives the library an rpath to the libtorch it was built
//! against and keeps `libtorch_cuda.so` linked, so CUDA is found without
//! LD_LIBRARY_PATH (tests/linking.rs).

#![forbid(unsafe_code)]

pub mod adam;
pub mod blstm;
pub mod checkpoint;
pub mod device;
mod ensemble;
pub mod error;
mod model_card;
pub mod network;
mod problem;
pub mod readout;
pub mod train;

pub use error::Error;

emoflow_sdk::export_plugin!(blstm::spec);
