//! The host side of the C ABI: loading a plugin library, the version
//! handshake, and running its nodes through the table.
//!
//! [`ForeignPlugin`] wraps a loaded table ([`FFI_Plugin`]); [`ForeignNode`] a
//! node created by it. Everything the engine does with a plugin goes through
//! these two types, which check what crosses: the handshake before any other
//! call, the declared ports against the streams, and every output batch
//! against its port type's conventions.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow::record_batch::{RecordBatch, RecordBatchReader};

use crate::arrow;
use crate::conventions;
use crate::describe::{KindDescription, PluginDescription};
use crate::ffi::{
    ABI_MAJOR, ABI_MINOR, FFI_Error, FFI_Plugin, FFI_PushPath, FFI_RunContext, FFI_Str, STATUS_OK,
    entry_symbols, level,
};
use crate::{Error, Result};

/// A loaded plugin. Libraries are never unloaded: Arrow release callbacks
/// and tensor deleters may point into them for as long as the process lives.
pub struct ForeignPlugin {
    path: PathBuf,
    /// A copy of the plugin's table, completed with the host's stand-ins
    /// for fields an older minor lacks (see [`copy_table`]).
    table: FFI_Plugin,
    description: PluginDescription,
}

impl std::fmt::Debug for ForeignPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForeignPlugin")
            .field("path", &self.path)
            .finish()
    }
}

/// The smallest table a host of this major can use: the fields of minor 0,
/// which end where minor 1's `input_files` begins.
const MIN_TABLE_SIZE: usize = std::mem::offset_of!(FFI_Plugin, input_files);

/// The size of a table of `minor`, as far as this host knows the fields: a
/// newer minor than the host's needs at least the host's.
fn table_size_of_minor(minor: u32) -> usize {
    match minor {
        0 => MIN_TABLE_SIZE,
        _ => std::mem::offset_of!(FFI_Plugin, input_files) + std::mem::size_of::<*const c_void>(),
    }
}

/// A copy of the table at `table`, `size` bytes long: the fields of minor 0
/// and, of those appended since, each one `size` covers whole; the others get
/// the host's stand-in (a plugin of minor 0 declares no input files).
///
/// # Safety
/// `table` must point to `size` readable bytes, at least [`MIN_TABLE_SIZE`],
/// laid out as the start of an [`FFI_Plugin`].
unsafe fn copy_table(table: *const FFI_Plugin, size: usize) -> FFI_Plugin {
    // Every appended field is a function pointer.
    let covers = |offset: usize| size >= offset + std::mem::size_of::<*const c_void>();
    let mut copy = std::mem::MaybeUninit::<FFI_Plugin>::uninit();
    let to = copy.as_mut_ptr();
    // SAFETY: guaranteed by the caller; only fields within `size` are read,
    // and every field of `copy` is written before `assume_init`.
    unsafe {
        std::ptr::copy_nonoverlapping(table.cast::<u8>(), to.cast::<u8>(), MIN_TABLE_SIZE);
        let input_files = if covers(MIN_TABLE_SIZE) {
            std::ptr::addr_of!((*table).input_files).read()
        } else {
            no_input_files
        };
        std::ptr::addr_of_mut!((*to).input_files).write(input_files);
        copy.assume_init()
    }
}

/// The stand-in `input_files` of a plugin of minor 0: no files.
unsafe extern "C" fn no_input_files(
    _node: *mut c_void,
    _sink: *mut c_void,
    _push: FFI_PushPath,
    _err: *mut FFI_Error,
) -> i32 {
    STATUS_OK
}

impl ForeignPlugin {
    /// Loads the plugin library at `path` and checks its ABI version before
    /// calling anything else in it.
    ///
    /// Plugins are trusted code, like any shared library a user asks a
    /// program to load: their initialisers run on load.
    pub fn load(path: &Path) -> Result<Self> {
        // SAFETY: loading runs the library's initialisers; plugins are trusted
        // code chosen by the user (see above).
        let library = unsafe { libloading::Library::new(path) }.map_err(|e| {
            // libloading keeps the loader's own message (`invalid ELF header`, a missing
            // dependency) in the source.
            let why = std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string());
            Error::invalid(format!("cannot load plugin {}: {why}", path.display()))
        })?;
        let symbols = entry_symbols(path);
        let entry = symbols
            .iter()
            // SAFETY: the entry symbol's type is fixed by every ABI version: a
            // C function without arguments returning a pointer to the table.
            .find_map(|s| unsafe {
                library
                    .get::<unsafe extern "C" fn() -> *const FFI_Plugin>(s.as_bytes())
                    .ok()
            })
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{} is not an emoflow plugin: it exports neither `{}` nor `{}` \
                     (did you forget `emoflow_sdk::export_plugin!`, or rename the library?)",
                    path.display(),
                    symbols[0],
                    symbols[1]
                ))
            })?;
        // SAFETY: calling the entry point has no preconditions.
        let table = unsafe { entry() };
        // Never unload: see the type's documentation.
        std::mem::forget(library);
        // SAFETY: the entry point returns a pointer to a static table; its
        // first two fields are the same in every ABI version.
        unsafe { Self::from_raw(table, path) }
    }

    /// Wraps a table of a plugin linked into this process (the harness).
    pub fn from_table(table: &'static FFI_Plugin, origin: &str) -> Result<Self> {
        // SAFETY: a `&'static FFI_Plugin` is a valid static table.
        unsafe { Self::from_raw(table, Path::new(origin)) }
    }

    /// Wraps a table found at `path`, after the version handshake.
    ///
    /// # Safety
    /// `table` must be null or point to static memory starting with
    /// `abi_major: u32, struct_size: u32`, followed, when those match this
    /// host, by the rest of an [`FFI_Plugin`] of `struct_size` bytes (of
    /// this or another minor).
    pub unsafe fn from_raw(table: *const FFI_Plugin, path: &Path) -> Result<Self> {
        if table.is_null() {
            return Err(Error::invalid(format!(
                "plugin {}: entry point returned null",
                path.display()
            )));
        }
        // SAFETY: the first two u32 fields exist in every version.
        let (major, size) = unsafe {
            let head = table.cast::<u32>();
            (head.read(), head.add(1).read())
        };
        if major != ABI_MAJOR {
            return Err(Error::invalid(format!(
                "plugin {} speaks emoflow plugin ABI {major}, this emoflow speaks ABI {ABI_MAJOR}: \
                 rebuild the plugin against emoflow-sdk {} (ABI {ABI_MAJOR}.{ABI_MINOR})",
                path.display(),
                env!("CARGO_PKG_VERSION"),
            )));
        }
        if (size as usize) < MIN_TABLE_SIZE {
            return Err(Error::invalid(format!(
                "plugin {}: its table is {size} bytes, ABI {ABI_MAJOR} needs at least \
                 {MIN_TABLE_SIZE}: it was not built with emoflow-sdk",
                path.display()
            )));
        }
        // SAFETY: major and size checked: the table holds the fields of minor
        // 0 and `size` bytes in all.
        let table = unsafe { copy_table(table, size as usize) };
        // A table must hold every field its minor has: one cut short (a
        // hand-written plugin that forgot one) would otherwise run with the
        // host's stand-ins in silence.
        let needed = table_size_of_minor(table.abi_minor);
        if (size as usize) < needed {
            return Err(Error::invalid(format!(
                "plugin {}: it claims ABI {ABI_MAJOR}.{} but its table is {size} bytes, \
                 {ABI_MAJOR}.{} has {needed}: fill in every field of FFI_Plugin up to its \
                 minor, or claim the minor it has",
                path.display(),
                table.abi_minor,
                table.abi_minor.min(ABI_MINOR),
            )));
        }
        // SAFETY: `describe` returns a string that lives as long as the plugin.
        let json = unsafe { (table.describe)().to_str() }
            .map_err(|e| e.context(format!("plugin {}, its description", path.display())))?;
        let description: PluginDescription = serde_json::from_str(json).map_err(|e| {
            let reason = serde_json::from_str::<serde_json::Value>(json)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or_else(|| e.to_string());
            Error::invalid(format!(
                "plugin {} cannot describe itself: {reason}",
                path.display()
            ))
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            table,
            description,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn description(&self) -> &PluginDescription {
        &self.description
    }

    pub fn kind(&self, kind: &str) -> Option<&KindDescription> {
        self.description.kinds.iter().find(|k| k.kind == kind)
    }

    /// Creates a node of `kind` with parameters `params` (a JSON object).
    pub fn create(self: &Arc<Self>, kind: &str, params: &serde_json::Value) -> Result<ForeignNode> {
        let description = self.kind(kind).cloned().ok_or_else(|| {
            Error::invalid(format!(
                "plugin {} has no kind `{kind}`",
                self.path.display()
            ))
        })?;
        let params = params.to_string();
        let mut handle = std::ptr::null_mut();
        let mut err = FFI_Error::empty();
        // SAFETY: valid strings for the call, valid out-pointers.
        let status = unsafe {
            (self.table.create)(
                FFI_Str::new(kind),
                FFI_Str::new(&params),
                &mut handle,
                &mut err,
            )
        };
        self.check(status, &mut err)?;
        Ok(ForeignNode {
            plugin: self.clone(),
            description,
            handle,
        })
    }

    /// Turns a status and error slot into a result, freeing the error.
    fn check(&self, status: i32, err: &mut FFI_Error) -> Result<()> {
        if status == STATUS_OK {
            return Ok(());
        }
        // SAFETY: a failing call filled the slot; the plugin frees it.
        let error = unsafe { err.to_error() };
        // SAFETY: as above.
        unsafe { (self.table.free_error)(err) };
        Err(error)
    }

    /// Calls the tensor function `kind` with borrowed libtorch tensor
    /// handles; returns a new handle owned by the caller. Used by
    /// [`Host::call_tensor_fn`] implementations to route a node's call.
    ///
    /// # Safety
    /// Every input must be a valid `at::Tensor*` of the libtorch this process
    /// and the plugin share, alive for the call.
    pub unsafe fn call_tensor_fn(
        &self,
        kind: &str,
        params: &str,
        inputs: &[*mut c_void],
    ) -> Result<*mut c_void> {
        let mut output = std::ptr::null_mut();
        let mut err = FFI_Error::empty();
        // SAFETY: guaranteed by the caller; strings and slots valid for the call.
        let status = unsafe {
            (self.table.call_tensor_fn)(
                FFI_Str::new(kind),
                FFI_Str::new(params),
                inputs.as_ptr(),
                inputs.len(),
                &mut output,
                &mut err,
            )
        };
        self.check(status, &mut err)?;
        Ok(output)
    }
}

/// What the host does for a running node: render its logs and progress, and
/// route tensor-function calls to the plugin that provides them.
pub trait Host: Send + Sync {
    fn log(&self, level: tracing::Level, target: &str, message: &str);
    fn progress(&self, position: u64, total: u64, message: &str);
    /// Calls a tensor function (a loss) by kind. The default has none.
    ///
    /// # Safety
    /// As [`ForeignPlugin::call_tensor_fn`].
    unsafe fn call_tensor_fn(
        &self,
        kind: &str,
        _params: &str,
        _inputs: &[*mut c_void],
    ) -> Result<*mut c_void> {
        Err(Error::invalid(format!(
            "no plugin provides the tensor function `{kind}`"
        )))
    }
}

/// The settings of one node run.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub node_name: String,
    /// `auto`, `cpu` or `cuda:N`.
    pub device: String,
    pub threads: u32,
    pub artifact_dir: PathBuf,
    pub cancel: Arc<AtomicBool>,
}

/// A node created in a plugin; destroyed on drop.
pub struct ForeignNode {
    plugin: Arc<ForeignPlugin>,
    description: KindDescription,
    handle: *mut c_void,
}

// SAFETY: a node handle is used by one thread at a time (`run` takes
// `&mut self`), and `Node: Send` on the plugin side.
unsafe impl Send for ForeignNode {}

impl Drop for ForeignNode {
    fn drop(&mut self) {
        // SAFETY: the handle came from `create` and is dropped once.
        unsafe { (self.plugin.table.destroy)(self.handle) }
    }
}

/// An input stream handed to a node.
pub type InputStream = Box<dyn RecordBatchReader + Send>;

impl ForeignNode {
    pub fn description(&self) -> &KindDescription {
        &self.description
    }

    /// The files the node will read when it runs, as the node lists them
    /// ([`crate::Node::input_files`]); none for a plugin of ABI minor 0.
    pub fn input_files(&self) -> Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = Vec::new();
        let mut err = FFI_Error::empty();
        // SAFETY: the handle came from `create`; the sink is `files`, alive
        // for the call, which is what `push_path` expects.
        let status = unsafe {
            (self.plugin.table.input_files)(
                self.handle,
                (&raw mut files).cast(),
                push_path,
                &mut err,
            )
        };
        self.plugin.check(status, &mut err)?;
        Ok(files)
    }

    /// Runs the node. `inputs` has one entry per declared input, in order
    /// (`None` for an unwired optional input). Returns one stream per
    /// declared output; each checks its batches against the port type and
    /// names the node and port in its errors.
    pub fn run(
        &mut self,
        host: &dyn Host,
        settings: &RunSettings,
        inputs: Vec<Option<InputStream>>,
    ) -> Result<Vec<OutputStream>> {
        let kind = self.description.kind.clone();
        let node = settings.node_name.clone();
        if inputs.len() != self.description.inputs.len() {
            return Err(Error::invalid(format!(
                "node `{node}` ({kind}): {} input streams for {} declared inputs",
                inputs.len(),
                self.description.inputs.len()
            )));
        }
        let mut input_streams: Vec<FFI_ArrowArrayStream> = inputs
            .into_iter()
            .map(|s| s.map_or_else(FFI_ArrowArrayStream::empty, FFI_ArrowArrayStream::new))
            .collect();
        let mut output_streams: Vec<FFI_ArrowArrayStream> = self
            .description
            .outputs
            .iter()
            .map(|_| FFI_ArrowArrayStream::empty())
            .collect();
        let artifact_dir = settings.artifact_dir.to_string_lossy().into_owned();
        // A thin pointer to the fat `&dyn Host`, for the callbacks.
        let host_ref: &dyn Host = host;
        let host_ptr: *const &dyn Host = &host_ref;
        let ctx = FFI_RunContext {
            struct_size: std::mem::size_of::<FFI_RunContext>() as u32,
            threads: settings.threads.max(1),
            host: host_ptr.cast(),
            node_name: FFI_Str::new(&settings.node_name),
            device: FFI_Str::new(&settings.device),
            artifact_dir: FFI_Str::new(&artifact_dir),
            cancel: Arc::as_ptr(&settings.cancel),
            log: host_log,
            progress: host_progress,
            call_tensor_fn: host_call_tensor_fn,
            free_error: crate::ffi::free_error,
        };
        let mut err = FFI_Error::empty();
        // SAFETY: every pointer is valid for the call: the context and the
        // strings it borrows live on this frame, the stream arrays have the
        // declared lengths, and the handle came from `create`.
        let status = unsafe {
            (self.plugin.table.run)(
                self.handle,
                &ctx,
                input_streams.as_mut_ptr(),
                input_streams.len(),
                output_streams.as_mut_ptr(),
                output_streams.len(),
                &mut err,
            )
        };
        self.plugin.check(status, &mut err)?;
        output_streams
            .into_iter()
            .zip(&self.description.outputs)
            .map(|(stream, port)| {
                let reader = RecordBatchStreamReader::try_new(stream).map_err(|e| {
                    Error::data(format!(
                        "node `{node}` ({kind}), output `{}`: {e}",
                        port.name
                    ))
                })?;
                let schema = reader.schema();
                let checked = OutputStream {
                    node: node.clone(),
                    port: port.name.clone(),
                    port_type: port.port_type.clone(),
                    schema,
                    reader,
                };
                conventions::check_schema(&port.port_type, &checked.schema)
                    .map_err(|e| checked.error(&e))?;
                Ok(checked)
            })
            .collect()
    }
}

/// Part of every error about an output that breaks its port type's
/// conventions (the plugin's fault, not its input's).
pub const CONVENTIONS_BROKEN: &str = "broke the conventions of its output";

/// An output stream of a node, checked against its port type batch by batch.
pub struct OutputStream {
    node: String,
    port: String,
    port_type: String,
    schema: SchemaRef,
    reader: RecordBatchStreamReader,
}

impl OutputStream {
    fn error(&self, problem: &str) -> Error {
        Error::data(format!(
            "node `{}` {CONVENTIONS_BROKEN} `{}` (port type `{}`): {problem}",
            self.node, self.port, self.port_type
        ))
    }

    pub fn port(&self) -> &str {
        &self.port
    }
}

impl Iterator for OutputStream {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.reader.next()? {
            Ok(batch) => match conventions::check_batch(&self.port_type, &batch) {
                Ok(()) => Ok(batch),
                Err(e) => Err(self.error(&e).into()),
            },
            Err(e) => Err(Error::from(e)
                .context(format!("node `{}`, output `{}`", self.node, self.port))
                .into()),
        })
    }
}

impl RecordBatchReader for OutputStream {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// # Safety
/// `host` is the `*const &dyn Host` set by [`ForeignNode::run`], alive
/// during the run.
unsafe fn host<'a>(host: *const c_void) -> &'a dyn Host {
    // SAFETY: guaranteed by the caller.
    unsafe { *host.cast::<&dyn Host>() }
}

/// Runs a host callback body, dropping a panic instead of unwinding into
/// the plugin.
fn callback(f: impl FnOnce()) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
}

unsafe extern "C" fn host_log(h: *const c_void, lvl: u32, target: FFI_Str, message: FFI_Str) {
    callback(|| {
        let lvl = match lvl {
            level::ERROR => tracing::Level::ERROR,
            level::WARN => tracing::Level::WARN,
            level::INFO => tracing::Level::INFO,
            level::DEBUG => tracing::Level::DEBUG,
            _ => tracing::Level::TRACE,
        };
        // SAFETY: the plugin passes our host pointer and strings valid for the call.
        unsafe { host(h).log(lvl, target.as_str(), message.as_str()) }
    })
}

/// The `push` of [`ForeignNode::input_files`].
///
/// # Safety
/// `sink` is the `Vec<PathBuf>` of that call; `path` is valid for this call.
unsafe extern "C" fn push_path(sink: *mut c_void, path: FFI_Str) {
    // SAFETY: guaranteed by the caller. A path that is not UTF-8 is kept
    // as its replacement, which names no file: fingerprinting reports it.
    callback(|| unsafe { (*sink.cast::<Vec<PathBuf>>()).push(PathBuf::from(path.as_str())) })
}

unsafe extern "C" fn host_progress(h: *const c_void, position: u64, total: u64, message: FFI_Str) {
    // SAFETY: as in `host_log`.
    callback(|| unsafe { host(h).progress(position, total, message.as_str()) })
}

unsafe extern "C" fn host_call_tensor_fn(
    h: *const c_void,
    kind: FFI_Str,
    params: FFI_Str,
    inputs: *const *mut c_void,
    n_inputs: usize,
    output: *mut *mut c_void,
    err: *mut FFI_Error,
) -> i32 {
    let result = crate::ffi::guard("the host's tensor-function router", || {
        // SAFETY: the plugin passes our host pointer, strings valid for the
        // call and `n_inputs` tensor handles.
        unsafe {
            let inputs = std::slice::from_raw_parts(inputs, n_inputs);
            host(h).call_tensor_fn(kind.as_str(), params.as_str(), inputs)
        }
    });
    match result {
        Ok(handle) => {
            // SAFETY: the plugin passes a valid out-pointer.
            unsafe { output.write(handle) };
            STATUS_OK
        }
        Err(e) => {
            // SAFETY: the plugin passes a valid error slot; freed by our `free_error`.
            unsafe { FFI_Error::write(err, &e) };
            crate::ffi::STATUS_ERROR
        }
    }
}
