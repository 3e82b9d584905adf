//! A node of a Python kind: the Python object made by `_host.create`, run
//! on Arrow C streams.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrow::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use emoflow_sdk::{Context, Error, ErrorCode, Inputs, Node, Outputs, Result};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::Interpreter;

pub struct PyNode {
    kind: &'static str,
    node: Py<PyAny>,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

/// Creates a node of `kind`: parses its parameters in Python (the host has
/// validated them against the kind's schema).
pub fn create(kind: &'static str, params: &serde_json::Value) -> Result<Box<dyn Node>> {
    let python = Interpreter::get()?;
    Python::attach(|py| {
        let host = python.host(py);
        let node = host.call_method1("create", (kind, params.to_string()))?;
        let (inputs, outputs): (Vec<String>, Vec<String>) =
            host.call_method1("ports", (&node,))?.extract()?;
        Ok(Box::new(PyNode {
            kind,
            node: node.unbind(),
            inputs,
            outputs,
        }) as Box<dyn Node>)
    })
    .map_err(|e: PyErr| Error::invalid(format!("creating a `{kind}` node: {e}")))
}

/// The running node's [`Context`], while `run` lasts: Python keeps the
/// [`HostContext`] object as long as it likes, so its address is cleared
/// when `run` returns.
#[derive(Default)]
struct Live(Mutex<Option<usize>>);

impl Live {
    fn with<T>(&self, f: impl FnOnce(&Context) -> T) -> Option<T> {
        let address = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the address is that of the `Context` of the `run` in
        // progress; `run` clears it under this lock, which is held while `f`
        // uses it, before that `Context` ends.
        address.map(|a| f(unsafe { &*(a as *const Context) }))
    }
}

/// What a Python node sees of its host (`emoflow_sdk.Context` wraps it).
#[pyclass(frozen)]
struct HostContext {
    #[pyo3(get)]
    node_name: String,
    #[pyo3(get)]
    threads: usize,
    #[pyo3(get)]
    device: String,
    #[pyo3(get)]
    artifact_dir: String,
    live: Arc<Live>,
}

#[pymethods]
impl HostContext {
    /// Sends a log line to the host under the node's name (levels as the
    /// ABI numbers them: 1 error to 5 trace).
    fn log(&self, level: u32, message: &str) {
        let level = match level {
            1 => tracing::Level::ERROR,
            2 => tracing::Level::WARN,
            3 => tracing::Level::INFO,
            4 => tracing::Level::DEBUG,
            _ => tracing::Level::TRACE,
        };
        self.live.with(|ctx| ctx.log(level, message));
    }

    fn progress(&self, position: u64, total: u64, message: &str) {
        self.live.with(|ctx| ctx.progress(position, total, message));
    }

    fn is_cancelled(&self) -> bool {
        self.live.with(|ctx| ctx.is_cancelled()).unwrap_or(true)
    }
}

impl Node for PyNode {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let python = Interpreter::get()?;
        // Boxed so that their addresses stay put while Python fills or
        // empties them.
        let mut input_streams = Vec::new();
        for port in &self.inputs {
            if let Some(stream) = inputs.optional_stream(port)? {
                input_streams.push((
                    port.clone(),
                    Box::new(FFI_ArrowArrayStream::new(Box::new(stream))),
                ));
            }
        }
        let mut output_streams: Vec<(String, Box<FFI_ArrowArrayStream>)> = self
            .outputs
            .iter()
            .map(|port| (port.clone(), Box::new(FFI_ArrowArrayStream::empty())))
            .collect();
        let live = Arc::new(Live::default());
        *live.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(ctx as *const Context as usize);
        let host = HostContext {
            node_name: ctx.node_name().to_string(),
            threads: ctx.threads(),
            device: ctx.device().to_string(),
            artifact_dir: ctx.artifact_dir().display().to_string(),
            live: live.clone(),
        };
        let result = Python::attach(|py| -> PyResult<Option<String>> {
            let addresses = |streams: &mut Vec<(String, Box<FFI_ArrowArrayStream>)>| -> PyResult<Bound<'_, PyDict>> {
                let dict = PyDict::new(py);
                for (port, stream) in streams.iter_mut() {
                    dict.set_item(port.as_str(), &mut **stream as *mut FFI_ArrowArrayStream as usize)?;
                }
                Ok(dict)
            };
            let (ins, outs) = (
                addresses(&mut input_streams)?,
                addresses(&mut output_streams)?,
            );
            python
                .host(py)
                .call_method1("run", (self.node.bind(py), host, ins, outs))?
                .extract()
        });
        *live.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let kind = self.kind;
        match result {
            Err(e) => {
                return Err(Error::new(
                    ErrorCode::Failed,
                    format!("running the Python kind `{kind}`: {e}"),
                ));
            }
            Ok(Some(traceback)) => {
                return Err(Error::new(
                    ErrorCode::Failed,
                    format!("the Python kind `{kind}` raised an exception:\n{traceback}"),
                ));
            }
            Ok(None) => {}
        }
        let mut outputs = Outputs::new();
        for (port, stream) in output_streams {
            let reader = RecordBatchStreamReader::try_new(*stream).map_err(|e| {
                Error::from(e).context(format!("the Python kind `{kind}`'s output `{port}`"))
            })?;
            outputs = outputs.with_stream(&port, Box::new(reader));
        }
        Ok(outputs)
    }

    /// The kind's module and what it imports from its own directory: the
    /// cache reruns the node when one of them is edited.
    fn input_files(&self) -> Result<Vec<PathBuf>> {
        let python = Interpreter::get()?;
        Python::attach(|py| {
            python
                .host(py)
                .call_method1("files", (self.node.bind(py),))?
                .extract::<Vec<PathBuf>>()
        })
        .map_err(|e| {
            Error::invalid(format!(
                "listing the files of the Python kind `{}`: {e}",
                self.kind
            ))
        })
    }
}
