//! Tensor functions: losses as plugins, over raw libtorch handles.
//!
//! A loss kind is a function of libtorch tensors that a trainer calls
//! through the plugin ABI, so that autograd flows through a loss the trainer
//! was not compiled with. Both sides link the same libtorch; tensors cross as
//! `at::Tensor*` handles: inputs borrowed for the call, the output owned by
//! the caller.
//!
//! This module only moves handles, so the SDK itself never links libtorch:
//! plugins and hosts without tensor functions load on machines without it.
//! Plugin authors use the typed wrappers of the `emoflow-sdk-tch` crate
//! (`KindSpecExt::tensor_fn`, `ContextExt::tensor_fn`).
//!
//! In a graph a loss is a node with one output `loss` (port type `loss`)
//! holding its kind and parameters; a trainer wires it to its `loss` input,
//! reads the [`LossRow`](crate::conventions::LossRow) and calls the function
//! through its [`Context`]. The host routes the call to the plugin that
//! provides the kind.

use std::ffi::c_void;

use serde::de::DeserializeOwned;

use crate::conventions::{LossRow, PortRows, port};
use crate::ffi::{FFI_Error, FFI_Str, STATUS_OK};
use crate::node::{KindSpec, PortSpec, params_schema, parse_params};
use crate::{Context, Error, Inputs, Node, Outputs, Result};

/// A tensor function on raw handles: `(params JSON, borrowed inputs) ->
/// owned output`.
pub(crate) type RawTensorFn =
    Box<dyn Fn(&str, &[*mut c_void]) -> Result<*mut c_void> + Send + Sync>;

impl KindSpec {
    /// Makes the kind a tensor function with parameters `P`, over raw
    /// handles. The kind gets one output, `loss`, describing itself.
    ///
    /// # Safety
    /// `f` receives `at::Tensor*` handles valid and borrowed for the call,
    /// and must return a valid `at::Tensor*` whose ownership passes to the
    /// caller. `emoflow_sdk_tch::KindSpecExt::tensor_fn` upholds this.
    pub unsafe fn raw_tensor_fn<P, F>(mut self, f: F) -> Self
    where
        P: DeserializeOwned + schemars::JsonSchema + 'static,
        F: Fn(&P, &[*mut c_void]) -> Result<*mut c_void> + Send + Sync + 'static,
    {
        let kind = self.kind;
        self.params_schema = params_schema::<P>();
        self.outputs = vec![PortSpec {
            name: "loss",
            port_type: port::LOSS,
            doc: "this tensor function with its parameters, for a trainer's `loss` input",
            optional: false,
            shows: None,
        }];
        self.create = Box::new(move |value| {
            parse_params::<P>(kind, value.clone())?;
            Ok(Box::new(DescribeSelf {
                kind,
                params: value.to_string(),
            }) as Box<dyn Node>)
        });
        self.tensor_fn = Some(Box::new(move |params, inputs| {
            let value = serde_json::from_str(params)
                .map_err(|e| Error::invalid(format!("parameters of `{kind}` are not JSON: {e}")))?;
            f(&parse_params::<P>(kind, value)?, inputs)
        }));
        self
    }
}

/// The node of a tensor-function kind: emits its kind and parameters.
struct DescribeSelf {
    kind: &'static str,
    params: String,
}

impl Node for DescribeSelf {
    fn run(&mut self, _ctx: &Context, _inputs: Inputs) -> Result<Outputs> {
        let row = LossRow {
            kind: self.kind.to_string(),
            params: self.params.clone(),
        };
        Ok(Outputs::new().with_batch("loss", LossRow::write(&[row])?))
    }
}

impl Context<'_> {
    /// Calls the tensor function `kind` with `params` (a JSON object, as a
    /// [`LossRow`] names them) through the host; returns a handle owned by
    /// the caller.
    ///
    /// # Safety
    /// Every input must be a valid `at::Tensor*` of the libtorch this
    /// process shares with the plugins, alive for the call.
    pub unsafe fn call_raw_tensor_fn(
        &self,
        kind: &str,
        params: &str,
        inputs: &[*mut c_void],
    ) -> Result<*mut c_void> {
        let raw = self.raw();
        let mut output = std::ptr::null_mut();
        let mut err = FFI_Error::empty();
        // SAFETY: the context is valid during `run`; the caller guarantees
        // the handles; strings and slots are valid for the call.
        let status = unsafe {
            (raw.call_tensor_fn)(
                raw.host,
                FFI_Str::new(kind),
                FFI_Str::new(params),
                inputs.as_ptr(),
                inputs.len(),
                &mut output,
                &mut err,
            )
        };
        if status != STATUS_OK {
            // SAFETY: a failed call filled `err`; the host frees it.
            let error = unsafe { err.to_error() };
            // SAFETY: as above.
            unsafe { (raw.free_error)(&mut err) };
            return Err(error.context(format!("calling `{kind}`")));
        }
        Ok(output)
    }
}
