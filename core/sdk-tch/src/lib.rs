//! # emoflow-sdk-tch: tensor functions over `tch` tensors
//!
//! Losses are node kinds whose real work is a function of libtorch tensors,
//! called by a trainer in another plugin so that autograd flows through a
//! loss the trainer was not compiled with. The SDK moves the tensors as raw
//! `at::Tensor*` handles (and so never links libtorch); this crate gives both
//! sides typed `tch::Tensor`s:
//!
//! * a loss plugin builds its kind with [`KindSpecExt::tensor_fn`];
//! * a trainer calls it with [`ContextExt::tensor_fn`], by the kind and
//!   parameters its `loss` input names.
//!
//! ```ignore
//! use emoflow_sdk::prelude::*;
//! use emoflow_sdk_tch::KindSpecExt;
//!
//! fn mse() -> KindSpec {
//!     KindSpec::new("loss.mse", file!())
//!         .doc("Mean squared error.")
//!         .tensor_fn(|_: &NoParams, inputs: &[tch::Tensor]| {
//!             Ok((&inputs[0] - &inputs[1]).square().mean(tch::Kind::Float))
//!         })
//! }
//! ```

use std::ffi::c_void;

use emoflow_sdk::{Context, KindSpec, Result};
use serde::de::DeserializeOwned;
use tch::Tensor;

/// Tensor-function kinds.
pub trait KindSpecExt {
    /// Makes the kind a tensor function `f(params, inputs) -> output` with
    /// parameters `P`. The kind gets one output, `loss`, describing itself.
    fn tensor_fn<P, F>(self, f: F) -> Self
    where
        P: DeserializeOwned + schemars::JsonSchema + 'static,
        F: Fn(&P, &[Tensor]) -> Result<Tensor> + Send + Sync + 'static;
}

impl KindSpecExt for KindSpec {
    fn tensor_fn<P, F>(self, f: F) -> Self
    where
        P: DeserializeOwned + schemars::JsonSchema + 'static,
        F: Fn(&P, &[Tensor]) -> Result<Tensor> + Send + Sync + 'static,
    {
        let raw = move |params: &P, handles: &[*mut c_void]| {
            let inputs: Vec<Tensor> = handles
                .iter()
                // SAFETY: the SDK passes valid `at::Tensor*` handles borrowed
                // for the call; each shallow clone is a new handle we own and
                // free, sharing storage and autograd.
                .map(|&h| unsafe { Tensor::clone_from_ptr(h.cast()) })
                .collect();
            let mut output = f(params, &inputs)?;
            let handle = output.as_mut_ptr();
            // Ownership of the handle passes to the caller.
            std::mem::forget(output);
            Ok(handle.cast::<c_void>())
        };
        // SAFETY: `raw` reads the handles only during the call and returns
        // an owned one, as `raw_tensor_fn` requires.
        unsafe { self.raw_tensor_fn(raw) }
    }
}

/// Calling tensor functions from a running node.
pub trait ContextExt {
    /// The tensor function `kind` with `params` (a JSON object), as a
    /// `LossRow` names them.
    fn tensor_fn(&self, kind: &str, params: &str) -> TensorFn<'_>;
}

impl<'c> ContextExt for Context<'c> {
    fn tensor_fn(&self, kind: &str, params: &str) -> TensorFn<'_> {
        TensorFn {
            ctx: self,
            kind: kind.to_string(),
            params: params.to_string(),
        }
    }
}

/// A tensor function of some plugin, callable during `Node::run`.
pub struct TensorFn<'a> {
    ctx: &'a Context<'a>,
    kind: String,
    params: String,
}

impl TensorFn<'_> {
    /// Calls the function. The output keeps its autograd graph.
    pub fn call(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let handles: Vec<*mut c_void> = inputs
            .iter()
            .map(|t| t.as_ptr().cast_mut().cast())
            .collect();
        // SAFETY: the handles are live tensors, borrowed for the call.
        let output = unsafe {
            self.ctx
                .call_raw_tensor_fn(&self.kind, &self.params, &handles)?
        };
        // SAFETY: on success the callee handed us ownership of a valid handle.
        Ok(unsafe { Tensor::from_ptr(output.cast()) })
    }
}
