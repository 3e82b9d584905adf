//! Tensor functions: losses as plugins.
//!
//! A loss kind is a function of libtorch tensors that a trainer calls
//! through the plugin ABI, so that autograd flows through a loss the trainer
//! was not compiled with. Both sides link the same libtorch; tensors cross as
//! `at::Tensor*` handles: inputs borrowed for the call, the output owned by
//! the caller.
//!
//! In a graph a loss is a node with one output `loss` (port type `loss`)
//! holding its kind and parameters; a trainer wires it to its `loss` input,
//! reads the [`LossRow`](crate::conventions::LossRow) and calls
//! [`Context::tensor_fn`]. The host routes the call to the plugin that
//! provides the kind.

use std::ffi::c_void;

use serde::de::DeserializeOwned;
use tch::Tensor;

use crate::conventions::{LossRow, PortRows, port};
use crate::ffi::{FFI_Error, FFI_Str, STATUS_OK};
use crate::node::{KindSpec, PortSpec, parse_params, params_schema};
use crate::{Context, Error, Inputs, Node, Outputs, Result};

pub(crate) type LocalTensorFn = Box<dyn Fn(&str, &[Tensor]) -> Result<Tensor> + Send + Sync>;

impl KindSpec {
    /// Makes the kind a tensor function `f(params, inputs) -> output` with
    /// parameters `P`. The kind gets one output, `loss`, describing itself.
    pub fn tensor_fn<P, F>(mut self, f: F) -> Self
    where
        P: DeserializeOwned + schemars::JsonSchema + 'static,
        F: Fn(&P, &[Tensor]) -> Result<Tensor> + Send + Sync + 'static,
    {
        let kind = self.kind;
        self.params_schema = params_schema::<P>();
        self.outputs = vec![PortSpec {
            name: "loss",
            port_type: port::LOSS,
            doc: "this tensor function with its parameters, for a trainer's `loss` input",
            optional: false,
        }];
        self.create = Box::new(move |value| {
            parse_params::<P>(kind, value.clone())?;
            Ok(Box::new(DescribeSelf { kind, params: value.to_string() }) as Box<dyn Node>)
        });
        self.tensor_fn = Some(Box::new(move |params, inputs| {
            let value = serde_json::from_str(params).map_err(|e| {
                Error::invalid(format!("parameters of `{kind}` are not JSON: {e}"))
            })?;
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
        let row = LossRow { kind: self.kind.to_string(), params: self.params.clone() };
        Ok(Outputs::new().with_batch("loss", LossRow::write(&[row])?))
    }
}

/// Calls a tensor function of this library (the plugin side of
/// `call_tensor_fn`, wired by `export_plugin!(tensor_fns: ...)`); returns an
/// owned handle for the caller.
pub fn call_local(spec: &KindSpec, params: &str, handles: &[*mut c_void]) -> Result<*mut c_void> {
    let f = spec
        .tensor_fn
        .as_ref()
        .ok_or_else(|| Error::invalid(format!("`{}` is not a tensor function", spec.kind)))?;
    let inputs: Vec<Tensor> = handles
        .iter()
        // SAFETY: the caller passes valid `at::Tensor*` handles; each shallow
        // clone is a new handle we own and free, sharing storage and autograd.
        .map(|&h| unsafe { Tensor::clone_from_ptr(h.cast()) })
        .collect();
    let mut output = f(params, &inputs)?;
    let handle = output.as_mut_ptr();
    // Ownership of the handle passes to the caller.
    std::mem::forget(output);
    Ok(handle.cast())
}

/// A tensor function of some plugin, callable during [`Node::run`].
pub struct TensorFn<'a> {
    ctx: &'a Context<'a>,
    kind: String,
    params: String,
}

impl<'a> Context<'a> {
    /// The tensor function `kind` with `params` (a JSON object), as a
    /// [`LossRow`] names them.
    pub fn tensor_fn(&'a self, kind: &str, params: &str) -> TensorFn<'a> {
        TensorFn { ctx: self, kind: kind.to_string(), params: params.to_string() }
    }
}

impl TensorFn<'_> {
    /// Calls the function. The output keeps its autograd graph.
    pub fn call(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let raw = self.ctx.raw();
        let handles: Vec<*mut c_void> =
            inputs.iter().map(|t| t.as_ptr().cast_mut().cast()).collect();
        let mut output = std::ptr::null_mut();
        let mut err = FFI_Error::empty();
        // SAFETY: the context is valid during `run`; handles are live tensors
        // borrowed for the call; strings and slots valid for the call.
        let status = unsafe {
            (raw.call_tensor_fn)(
                raw.host,
                FFI_Str::new(&self.kind),
                FFI_Str::new(&self.params),
                handles.as_ptr(),
                handles.len(),
                &mut output,
                &mut err,
            )
        };
        if status != STATUS_OK {
            // SAFETY: a failed call filled `err`; the host frees it.
            let error = unsafe { err.to_error() };
            // SAFETY: as above.
            unsafe { (raw.free_error)(&mut err) };
            return Err(error.context(format!("calling `{}`", self.kind)));
        }
        // SAFETY: on success the callee handed us ownership of a valid handle.
        Ok(unsafe { Tensor::from_ptr(output.cast()) })
    }
}
