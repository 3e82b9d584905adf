//! The safe side of a plugin: node kinds, their ports and parameters, and
//! what a running node receives.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ffi_stream::RecordBatchStreamReader;
use arrow::record_batch::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use serde::de::DeserializeOwned;

use crate::arrow;
use crate::describe::{BundleOutput, ExportRole};
use crate::ffi::{FFI_RunContext, FFI_Str, level};
use crate::{Error, ErrorCode, NODE_BUG, Result};

/// A node: created once per graph node from its parameters, then run.
pub trait Node: Send {
    /// Consumes the inputs and returns one stream (or batch list) per
    /// declared output. Call [`Context::check_cancelled`] between units of
    /// work so that Ctrl-C stops the graph promptly.
    fn run(&mut self, ctx: &Context, inputs: Inputs) -> Result<Outputs>;

    /// The files `run` will read, asked after construction and before
    /// running: the host keys its cache on their contents, so that editing,
    /// adding or removing one reruns the node. List them with the same scan
    /// `run` uses (a directory source lists what its scan finds now). The
    /// default reads no files.
    fn input_files(&self) -> Result<Vec<PathBuf>> {
        Ok(Vec::new())
    }
}

/// A port of a node kind.
#[derive(Debug, Clone)]
pub struct PortSpec {
    pub name: &'static str,
    /// A port type of [`conventions::port`](crate::conventions::port), or a
    /// plugin's own name (matched by equality); inputs may use `any`.
    pub port_type: &'static str,
    pub doc: &'static str,
    /// An optional input may be left unwired.
    pub optional: bool,
    /// How a run's report presents the output ([`KindSpec::shows`]).
    pub shows: Option<&'static str>,
}

type Factory = Box<dyn Fn(serde_json::Value) -> Result<Box<dyn Node>> + Send + Sync>;

/// One node kind: name, documentation, ports, parameters and constructor.
pub struct KindSpec {
    pub kind: &'static str,
    pub doc: &'static str,
    /// The source file that implements the kind (`file!()`).
    pub source_file: &'static str,
    pub inputs: Vec<PortSpec>,
    pub outputs: Vec<PortSpec>,
    /// The JSON Schema of the parameters (derived from the parameter type).
    pub params_schema: serde_json::Value,
    /// Whether the host may reuse cached outputs. Sinks that write files
    /// outside the cache are not cacheable.
    pub cacheable: bool,
    /// See [`KindSpec::own_process`].
    pub own_process: bool,
    /// See [`KindSpec::threads_param`].
    pub threads_param: Option<&'static str>,
    /// See [`KindSpec::export`].
    pub export: ExportRole,
    /// See [`KindSpec::bundle_output`].
    pub bundle_outputs: Vec<BundleOutput>,
    pub(crate) create: Factory,
    pub(crate) tensor_fn: Option<crate::tensor::RawTensorFn>,
}

impl KindSpec {
    /// Starts a kind; `source_file` is `file!()` of the file implementing it.
    pub fn new(kind: &'static str, source_file: &'static str) -> Self {
        Self {
            kind,
            doc: "",
            source_file,
            inputs: Vec::new(),
            outputs: Vec::new(),
            params_schema: serde_json::json!({"type": "object"}),
            cacheable: true,
            own_process: false,
            threads_param: None,
            export: ExportRole::Applied,
            bundle_outputs: Vec::new(),
            create: Box::new(move |_| {
                Err(Error::invalid(format!(
                    "`{kind}` has no constructor (KindSpec::create)"
                )))
            }),
            tensor_fn: None,
        }
    }

    pub fn doc(mut self, doc: &'static str) -> Self {
        self.doc = doc;
        self
    }

    pub fn input(mut self, name: &'static str, port_type: &'static str, doc: &'static str) -> Self {
        self.inputs.push(PortSpec {
            name,
            port_type,
            doc,
            optional: false,
            shows: None,
        });
        self
    }

    pub fn optional_input(
        mut self,
        name: &'static str,
        port_type: &'static str,
        doc: &'static str,
    ) -> Self {
        self.inputs.push(PortSpec {
            name,
            port_type,
            doc,
            optional: true,
            shows: None,
        });
        self
    }

    pub fn output(
        mut self,
        name: &'static str,
        port_type: &'static str,
        doc: &'static str,
    ) -> Self {
        self.outputs.push(PortSpec {
            name,
            port_type,
            doc,
            optional: false,
            shows: None,
        });
        self
    }

    /// Declares how a run's report presents the output declared last, e.g.
    /// [`conventions::shows::CURVES`](crate::conventions::shows::CURVES): the
    /// host draws from this declaration and the port type, never from the
    /// kind's name.
    pub fn shows(mut self, view: &'static str) -> Self {
        self.outputs
            .last_mut()
            .expect("`shows` follows the `output` it describes")
            .shows = Some(view);
        self
    }

    /// Marks the kind as a sink whose effects (files written outside the
    /// cache) must happen on every run.
    pub fn not_cacheable(mut self) -> Self {
        self.cacheable = false;
        self
    }

    /// Asks the host to run each node of the kind in a worker process of its
    /// own. For kinds that keep process-wide state which concurrent nodes in
    /// one process would share (libtorch's thread settings), and
    /// for long work that Ctrl-C or a crash must stop alone. The host also
    /// starts such nodes first: they are the long work of a graph.
    pub fn own_process(mut self) -> Self {
        self.own_process = true;
        self
    }

    /// Names the integer parameter (default 1) that fixes how many threads a
    /// node of this kind uses. The host reserves that many of `--jobs` while
    /// the node runs and passes exactly it as [`Context::threads`], so the
    /// node's results do not depend on what else runs beside it. Without it
    /// a node gets a share of the free threads, and must give the same
    /// results whatever that share is.
    pub fn threads_param(mut self, name: &'static str) -> Self {
        self.threads_param = Some(name);
        self
    }

    /// Declares the kind's role in a bundle written by `emoflow export`
    /// ([`ExportRole`]); without it, [`ExportRole::Applied`].
    pub fn export(mut self, role: impl Into<ExportRole>) -> Self {
        self.export = role.into();
        self
    }

    /// Declares a node `emoflow export` puts over every bundle's
    /// predictions, named `name` (see [`BundleOutput`]), e.g. one writing
    /// them as CSV: `.bundle_output("csv", "data", json!({"format": "csv"}))`.
    pub fn bundle_output(mut self, name: &str, input: &str, params: serde_json::Value) -> Self {
        let serde_json::Value::Object(params) = params else {
            panic!("`bundle_output` takes its parameters as a JSON object");
        };
        self.bundle_outputs.push(BundleOutput {
            name: name.into(),
            input: input.into(),
            params,
        });
        self
    }

    /// Sets the constructor. The parameter type `P` gives the JSON Schema the
    /// host validates a graph against, and is deserialized from the node's
    /// parameters (unknown fields should be denied).
    pub fn create<P, N, F>(mut self, create: F) -> Self
    where
        P: DeserializeOwned + schemars::JsonSchema,
        N: Node + 'static,
        F: Fn(P) -> Result<N> + Send + Sync + 'static,
    {
        self.params_schema = params_schema::<P>();
        let kind = self.kind;
        self.create = Box::new(move |value| {
            let params = parse_params::<P>(kind, value)?;
            Ok(Box::new(create(params)?) as Box<dyn Node>)
        });
        self
    }
}

impl KindSpec {
    /// Sets the constructor of a kind whose parameters have no Rust type (a
    /// kind defined in another language): `schema` is their JSON Schema,
    /// which the host validates a graph against before `create` receives
    /// the parameters as JSON.
    pub fn create_with_schema<F>(mut self, schema: serde_json::Value, create: F) -> Self
    where
        F: Fn(serde_json::Value) -> Result<Box<dyn Node>> + Send + Sync + 'static,
    {
        self.params_schema = schema;
        self.create = Box::new(create);
        self
    }
}

/// The JSON Schema of a parameter type, with every subschema inlined so that
/// hosts validate without resolving references.
pub(crate) fn params_schema<P: schemars::JsonSchema>() -> serde_json::Value {
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|s| {
        s.inline_subschemas = true;
    });
    settings
        .into_generator()
        .into_root_schema_for::<P>()
        .to_value()
}

pub(crate) fn parse_params<P: DeserializeOwned>(kind: &str, value: serde_json::Value) -> Result<P> {
    serde_json::from_value(value)
        .map_err(|e| Error::invalid(format!("invalid parameters for `{kind}`: {e}")))
}

/// Everything a plugin exports.
pub struct PluginSpec {
    pub name: &'static str,
    pub version: &'static str,
    pub kinds: Vec<KindSpec>,
}

/// What the host gives a running node. Valid only during [`Node::run`]; it
/// may be shared with the node's worker threads.
pub struct Context<'a> {
    raw: &'a FFI_RunContext,
}

// SAFETY: the ABI requires every callback of `FFI_RunContext` to be callable
// from any thread while `run` has not returned, and the other fields are
// read-only for that time.
unsafe impl Send for Context<'_> {}
// SAFETY: as above.
unsafe impl Sync for Context<'_> {}

impl<'a> Context<'a> {
    pub(crate) fn from_raw(raw: &'a FFI_RunContext) -> Self {
        Self { raw }
    }

    pub(crate) fn raw(&self) -> &'a FFI_RunContext {
        self.raw
    }

    /// The node's name in the graph.
    pub fn node_name(&self) -> &str {
        // SAFETY: the host keeps its strings alive during `run`.
        unsafe { self.raw.node_name.as_str() }
    }

    /// The run's device as the user gave it: `auto`, `cpu` or `cuda:N`;
    /// a node that can use a GPU resolves `auto` itself.
    pub fn device(&self) -> &str {
        // SAFETY: as above.
        unsafe { self.raw.device.as_str() }
    }

    /// How many threads the node may use (at least 1).
    pub fn threads(&self) -> usize {
        self.raw.threads.max(1) as usize
    }

    /// A directory the node owns for artifacts (checkpoints, reports).
    pub fn artifact_dir(&self) -> &Path {
        // SAFETY: as above.
        Path::new(unsafe { self.raw.artifact_dir.as_str() })
    }

    pub fn is_cancelled(&self) -> bool {
        // SAFETY: the host keeps the flag alive during `run`.
        !self.raw.cancel.is_null() && unsafe { (*self.raw.cancel).load(Ordering::Relaxed) }
    }

    /// `Err(cancelled)` once the host asked the node to stop.
    pub fn check_cancelled(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::cancelled())
        } else {
            Ok(())
        }
    }

    /// Reports progress: `position` of `total` units (0 when unknown).
    pub fn progress(&self, position: u64, total: u64, message: &str) {
        // SAFETY: the callback and `host` are valid during `run`.
        unsafe { (self.raw.progress)(self.raw.host, position, total, FFI_Str::new(message)) }
    }

    /// Sends a log line to the host. `tracing` events inside `run` arrive
    /// there too; this is for threads the node spawns itself.
    pub fn log(&self, level: tracing::Level, message: &str) {
        self.log_with_target(level, self.node_name(), message)
    }

    pub(crate) fn log_with_target(&self, level: tracing::Level, target: &str, message: &str) {
        let level = match level {
            tracing::Level::ERROR => level::ERROR,
            tracing::Level::WARN => level::WARN,
            tracing::Level::INFO => level::INFO,
            tracing::Level::DEBUG => level::DEBUG,
            tracing::Level::TRACE => level::TRACE,
        };
        // SAFETY: the callback and `host` are valid during `run`.
        unsafe {
            (self.raw.log)(
                self.raw.host,
                level,
                FFI_Str::new(target),
                FFI_Str::new(message),
            )
        }
    }
}

/// The node's input streams, by port name.
pub struct Inputs {
    kind: &'static str,
    ports: Vec<(&'static str, Option<RecordBatchStreamReader>)>,
}

impl Inputs {
    pub(crate) fn new(
        kind: &'static str,
        ports: Vec<(&'static str, Option<RecordBatchStreamReader>)>,
    ) -> Self {
        Self { kind, ports }
    }

    fn slot(&mut self, port: &str) -> Result<&mut Option<RecordBatchStreamReader>> {
        let kind = self.kind;
        self.ports
            .iter_mut()
            .find(|(name, _)| *name == port)
            .map(|(_, s)| s)
            .ok_or_else(|| {
                Error::invalid(format!("`{kind}` has no input port `{port}` {NODE_BUG}"))
            })
    }

    /// Takes an optional input's stream: `None` when the port is unwired.
    pub fn optional_stream(&mut self, port: &str) -> Result<Option<RecordBatchStreamReader>> {
        Ok(self.slot(port)?.take())
    }

    /// Takes a required input's stream, to read batch by batch.
    pub fn stream(&mut self, port: &str) -> Result<RecordBatchStreamReader> {
        let kind = self.kind;
        self.optional_stream(port)?.ok_or_else(|| {
            Error::invalid(format!(
                "input `{port}` of `{kind}` is not wired (or was already taken)"
            ))
        })
    }

    /// Reads a required input whole.
    pub fn batches(&mut self, port: &str) -> Result<Vec<RecordBatch>> {
        collect(port, self.stream(port)?)
    }

    /// Reads an optional input whole; `None` when unwired.
    pub fn optional_batches(&mut self, port: &str) -> Result<Option<Vec<RecordBatch>>> {
        self.optional_stream(port)?
            .map(|s| collect(port, s))
            .transpose()
    }
}

fn collect(port: &str, stream: RecordBatchStreamReader) -> Result<Vec<RecordBatch>> {
    stream
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::from(e).context(format!("reading input `{port}`")))
}

/// The node's outputs, one stream per declared output port.
#[derive(Default)]
pub struct Outputs {
    ports: Vec<(String, Box<dyn RecordBatchReader + Send>)>,
}

impl Outputs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets an output to a stream the host pulls after `run` returns (it may
    /// compute lazily; it cannot use the [`Context`]).
    pub fn with_stream(mut self, port: &str, stream: Box<dyn RecordBatchReader + Send>) -> Self {
        self.ports.push((port.to_string(), stream));
        self
    }

    /// Sets an output to batches in memory (possibly none) of `schema`.
    pub fn with_batches(self, port: &str, schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
        self.with_stream(port, Box::new(reader))
    }

    /// Sets an output to a single batch.
    pub fn with_batch(self, port: &str, batch: RecordBatch) -> Self {
        self.with_batches(port, batch.schema(), vec![batch])
    }

    /// Orders the streams as the kind declares its outputs.
    pub(crate) fn into_ports(
        mut self,
        spec: &KindSpec,
    ) -> Result<Vec<Box<dyn RecordBatchReader + Send>>> {
        if let Some((name, _)) = self
            .ports
            .iter()
            .find(|(name, _)| !spec.outputs.iter().any(|o| o.name == name))
        {
            return Err(Error::invalid(format!(
                "`{}` produced output `{name}`, which it does not declare {NODE_BUG}",
                spec.kind
            )));
        }
        spec.outputs
            .iter()
            .map(|port| {
                let at = self
                    .ports
                    .iter()
                    .position(|(name, _)| name == port.name)
                    .ok_or_else(|| {
                        Error::invalid(format!(
                            "`{}` did not produce its output `{}` {NODE_BUG}",
                            spec.kind, port.name
                        ))
                    })?;
                Ok(self.ports.swap_remove(at).1)
            })
            .collect()
    }
}

/// Wraps an output stream so that a panic while the host pulls it becomes an
/// error instead of unwinding into the host.
pub(crate) struct CatchPanics {
    kind: &'static str,
    inner: Box<dyn RecordBatchReader + Send>,
}

impl CatchPanics {
    pub(crate) fn new(kind: &'static str, inner: Box<dyn RecordBatchReader + Send>) -> Self {
        Self { kind, inner }
    }
}

impl Iterator for CatchPanics {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let kind = self.kind;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.inner.next())) {
            Ok(item) => item,
            Err(payload) => Some(Err(Error::new(
                ErrorCode::Panic,
                format!(
                    "node kind `{kind}` panicked while streaming its output: {}",
                    crate::ffi::panic_message(&payload)
                ),
            )
            .into())),
        }
    }
}

impl RecordBatchReader for CatchPanics {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}
