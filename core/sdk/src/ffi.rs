//! The plugin side of the C ABI: the `#[repr(C)]` types that cross the
//! boundary and the `extern "C"` shims that a plugin exports.
//!
//! # Versioning
//!
//! A plugin exports one symbol, [`ENTRY_SYMBOL`], a function returning a
//! pointer to a static [`FFI_Plugin`]. The first two fields of that table,
//! `abi_major` and `struct_size`, keep their place in every ABI version, so a
//! host can read them from a plugin built against any version and refuse a
//! mismatch before it touches anything else. `abi_minor` grows when fields
//! are appended; a host accepts a newer minor of its own major and uses only
//! the fields it knows (`struct_size` says how many are there).
//!
//! # Ownership
//!
//! * Strings cross as borrowed UTF-8 [`FFI_Str`] valid for the duration of the
//!   call, except [`FFI_Plugin::describe`], whose string lives as long as the
//!   plugin (plugins are never unloaded).
//! * Errors ([`FFI_Error`]) are allocated by the side that produced them and
//!   freed by the same side's `free_error`: the plugin's
//!   [`FFI_Plugin::free_error`] for errors from the plugin, the host's
//!   [`FFI_RunContext::free_error`] for errors from host callbacks.
//! * Data crosses as Arrow C streams, moved: the receiver takes the stream
//!   (leaving a released one behind) and releases it when done.
//! * Node handles are opaque; the host destroys them with
//!   [`FFI_Plugin::destroy`].
//!
//! Every shim here catches panics and turns them into errors that name the
//! node kind, so a panicking node fails only itself.

#![allow(non_camel_case_types)] // FFI_ names mark the C side, as in arrow::ffi.

use std::any::Any;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;

use arrow::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};

use crate::arrow;
use crate::node::{Context, Inputs, KindSpec, PluginSpec};
use crate::{Error, ErrorCode};

/// ABI major version: bumped on any incompatible change of the types below.
pub const ABI_MAJOR: u32 = 1;
/// ABI minor version: bumped when fields are appended to [`FFI_Plugin`] or
/// [`FFI_RunContext`].
/// Minor 1 appended [`FFI_Plugin::input_files`].
pub const ABI_MINOR: u32 = 1;
/// The entry point a plugin exports: `emoflow_plugin_entry_<crate>` where
/// `lib<crate>.so` is the library cargo builds (what
/// [`export_plugin!`](crate::export_plugin) generates), or plain
/// `emoflow_plugin_entry` for a plugin written by hand. A crate-specific name
/// lets several plugin crates be linked into one binary (tests) without a
/// clash of symbols.
pub const ENTRY_SYMBOL: &str = "emoflow_plugin_entry";

/// The symbols a host tries for the library at `path`, in order.
pub fn entry_symbols(path: &std::path::Path) -> Vec<String> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let name = stem.strip_prefix("lib").unwrap_or(stem);
    vec![format!("{ENTRY_SYMBOL}_{name}"), ENTRY_SYMBOL.to_string()]
}

/// Status returned by the fallible entry points.
pub const STATUS_OK: i32 = 0;
/// Status returned when `err` was filled in.
pub const STATUS_ERROR: i32 = 1;

/// A borrowed UTF-8 string: pointer and length, no terminator.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FFI_Str {
    pub ptr: *const u8,
    pub len: usize,
}

impl FFI_Str {
    pub fn new(s: &str) -> Self {
        Self {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// The string, checked: a plugin written by hand in another language
    /// may hand over bytes that are not UTF-8.
    ///
    /// # Safety
    /// `self` must point to `len` bytes that outlive `'a` (or be null with
    /// `len == 0`).
    pub unsafe fn to_str<'a>(self) -> Result<&'a str, Error> {
        if self.ptr.is_null() || self.len == 0 {
            return Ok("");
        }
        // SAFETY: the caller guarantees `len` bytes live for 'a.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        std::str::from_utf8(bytes).map_err(|e| {
            Error::invalid(format!(
                "a string passed across the plugin boundary is not UTF-8: {e}"
            ))
        })
    }

    /// The string, or [`NOT_UTF8`] in its place where it is not UTF-8 (for
    /// logs and messages, which have nowhere to report the error).
    ///
    /// # Safety
    /// As [`FFI_Str::to_str`].
    pub unsafe fn as_str<'a>(self) -> &'a str {
        // SAFETY: guaranteed by the caller.
        unsafe { self.to_str() }.unwrap_or(NOT_UTF8)
    }
}

/// What [`FFI_Str::as_str`] gives for bytes that are not UTF-8.
pub const NOT_UTF8: &str = "<not UTF-8>";

/// An error crossing the boundary: a code and an owned UTF-8 message,
/// allocated by its producer and freed by the producer's `free_error`.
#[repr(C)]
#[derive(Debug)]
pub struct FFI_Error {
    pub code: i32,
    pub message: *mut u8,
    pub len: usize,
}

impl FFI_Error {
    /// An empty error slot for a callee to fill.
    pub fn empty() -> Self {
        Self {
            code: 0,
            message: std::ptr::null_mut(),
            len: 0,
        }
    }

    /// Fills `slot` with `error`, allocating the message on this side.
    ///
    /// # Safety
    /// `slot` must be null or valid for writes.
    pub unsafe fn write(slot: *mut FFI_Error, error: &Error) {
        if slot.is_null() {
            return;
        }
        let message = error.to_string().into_bytes().into_boxed_slice();
        let len = message.len();
        let message = Box::into_raw(message).cast::<u8>();
        // SAFETY: the caller guarantees `slot` is valid for writes.
        unsafe {
            slot.write(FFI_Error {
                code: error.code as i32,
                message,
                len,
            })
        };
    }

    /// Reads the error without taking ownership of its message.
    ///
    /// # Safety
    /// `self` must have been filled by [`FFI_Error::write`] (of either side).
    pub unsafe fn to_error(&self) -> Error {
        // SAFETY: `write` stores a boxed UTF-8 slice of `len` bytes.
        let message = unsafe {
            FFI_Str {
                ptr: self.message,
                len: self.len,
            }
            .as_str()
        };
        Error::new(ErrorCode::from_i32(self.code), message)
    }
}

/// Frees an error this side produced: the `free_error` of both tables.
///
/// # Safety
/// `err` must be null or an error filled by [`FFI_Error::write`] in this same
/// library, not freed before.
pub unsafe extern "C" fn free_error(err: *mut FFI_Error) {
    if err.is_null() {
        return;
    }
    // SAFETY: guaranteed by the caller; `write` allocated a boxed slice.
    unsafe {
        let e = &mut *err;
        if !e.message.is_null() {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                e.message, e.len,
            )));
        }
        e.message = std::ptr::null_mut();
        e.len = 0;
    }
}

/// Log levels of [`FFI_RunContext::log`].
pub mod level {
    pub const ERROR: u32 = 1;
    pub const WARN: u32 = 2;
    pub const INFO: u32 = 3;
    pub const DEBUG: u32 = 4;
    pub const TRACE: u32 = 5;
}

/// A host callback that calls a tensor function of another plugin.
pub type FFI_TensorFnCall = unsafe extern "C" fn(
    host: *const c_void,
    kind: FFI_Str,
    params: FFI_Str,
    inputs: *const *mut c_void,
    n_inputs: usize,
    output: *mut *mut c_void,
    err: *mut FFI_Error,
) -> i32;

/// The smallest run context a plugin of this major can use: the fields of
/// minor 0, which end with `free_error`. A host of an older minor passes a
/// context of its own `struct_size`; a field a later minor appends must be
/// read through an accessor that checks `struct_size` covers it, which the
/// assertion below enforces (it fails the build as soon as the struct grows
/// past this constant, which itself never grows).
pub const MIN_CONTEXT_SIZE: usize =
    std::mem::offset_of!(FFI_RunContext, free_error) + std::mem::size_of::<usize>();
const _: () = assert!(
    MIN_CONTEXT_SIZE == std::mem::size_of::<FFI_RunContext>(),
    "a field appended to FFI_RunContext needs an accessor that checks struct_size"
);

/// What the host gives a node for one run. Every callback may be called from
/// any thread of the plugin while `run` has not returned.
#[repr(C)]
pub struct FFI_RunContext {
    /// `size_of::<FFI_RunContext>()` as the host built it.
    pub struct_size: u32,
    /// Thread budget for the node (at least 1).
    pub threads: u32,
    /// Opaque host state passed back to every callback.
    pub host: *const c_void,
    /// The node's name in the graph.
    pub node_name: FFI_Str,
    /// `auto`, `cpu` or `cuda:N`; a node that uses a device resolves `auto`.
    pub device: FFI_Str,
    /// A directory the node owns for artifacts and scratch files.
    pub artifact_dir: FFI_Str,
    /// Set by the host to ask the node to stop; read with `Relaxed` loads.
    pub cancel: *const AtomicBool,
    pub log:
        unsafe extern "C" fn(host: *const c_void, level: u32, target: FFI_Str, message: FFI_Str),
    /// Progress of the node: `position` of `total` units (`total` 0 when unknown).
    pub progress:
        unsafe extern "C" fn(host: *const c_void, position: u64, total: u64, message: FFI_Str),
    /// Calls a tensor function (a loss) of whichever plugin provides `kind`.
    pub call_tensor_fn: FFI_TensorFnCall,
    /// Frees errors written by `call_tensor_fn`.
    pub free_error: unsafe extern "C" fn(err: *mut FFI_Error),
}

/// The table a plugin exports. `abi_major` and `struct_size` come first and
/// never move.
#[repr(C)]
pub struct FFI_Plugin {
    pub abi_major: u32,
    /// `size_of::<FFI_Plugin>()` in the plugin.
    pub struct_size: u32,
    pub abi_minor: u32,
    /// The SDK version the plugin was built with (informational).
    pub sdk_version: FFI_Str,
    /// The plugin's kinds as JSON (see [`crate::describe`]); lives as long as
    /// the plugin.
    pub describe: unsafe extern "C" fn() -> FFI_Str,
    /// Creates a node of `kind` from parameters (a JSON object).
    pub create: unsafe extern "C" fn(
        kind: FFI_Str,
        params: FFI_Str,
        node: *mut *mut c_void,
        err: *mut FFI_Error,
    ) -> i32,
    /// Runs a node once. `inputs` holds one stream per declared input, in
    /// declaration order (a released stream for an unwired optional input);
    /// the plugin moves them out. `outputs` holds one released stream per
    /// declared output, which the plugin fills.
    pub run: unsafe extern "C" fn(
        node: *mut c_void,
        ctx: *const FFI_RunContext,
        inputs: *mut FFI_ArrowArrayStream,
        n_inputs: usize,
        outputs: *mut FFI_ArrowArrayStream,
        n_outputs: usize,
        err: *mut FFI_Error,
    ) -> i32,
    pub destroy: unsafe extern "C" fn(node: *mut c_void),
    pub free_error: unsafe extern "C" fn(err: *mut FFI_Error),
    /// Calls the tensor function of `kind`: `inputs` are borrowed libtorch
    /// tensor handles (`at::Tensor*`); on success `*output` receives a new
    /// handle owned by the caller.
    pub call_tensor_fn: unsafe extern "C" fn(
        kind: FFI_Str,
        params: FFI_Str,
        inputs: *const *mut c_void,
        n_inputs: usize,
        output: *mut *mut c_void,
        err: *mut FFI_Error,
    ) -> i32,
    /// Since minor 1 (a host reads it only when `struct_size` covers it):
    /// lists the files a node will read when it runs
    /// ([`Node::input_files`](crate::Node::input_files)) by calling
    /// `push(sink, path)` once per file, with a UTF-8 path borrowed for that
    /// call; nothing is allocated across the boundary. `node` comes from
    /// `create` and is not running; `sink` is the host's, passed back
    /// untouched, and `push` is called only during this call.
    pub input_files: unsafe extern "C" fn(
        node: *mut c_void,
        sink: *mut c_void,
        push: FFI_PushPath,
        err: *mut FFI_Error,
    ) -> i32,
}

/// The host's receiver of [`FFI_Plugin::input_files`]: one path per call.
pub type FFI_PushPath = unsafe extern "C" fn(sink: *mut c_void, path: FFI_Str);

/// A node created by [`create`]: its spec and the user's node.
struct NodeBox {
    spec: &'static KindSpec,
    node: Box<dyn crate::Node>,
}

/// The plugin's kinds and description, built once from the exported spec.
pub struct Exported {
    spec: PluginSpec,
    describe_json: String,
}

impl Exported {
    pub fn new(spec: PluginSpec) -> Self {
        let describe_json = crate::describe::to_json(&spec);
        Self {
            spec,
            describe_json,
        }
    }

    /// A plugin that could not find its kinds (see
    /// [`export_plugin!`](crate::export_plugin)`(kinds = ...)`): it offers
    /// none and describes itself as `{"error": why}`, which hosts report as
    /// its load error.
    pub fn failed(name: &'static str, version: &'static str, why: &str) -> Self {
        Self {
            spec: PluginSpec {
                name,
                version,
                kinds: Vec::new(),
            },
            describe_json: serde_json::json!({ "error": why }).to_string(),
        }
    }

    fn kind(&'static self, kind: &str) -> Result<&'static KindSpec, Error> {
        self.spec
            .kinds
            .iter()
            .find(|k| k.kind == kind)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::Invalid,
                    format!("this plugin has no node kind `{kind}`"),
                )
            })
    }
}

// SAFETY: the table is immutable and its pointers point to static data.
unsafe impl Sync for FFI_Plugin {}
// SAFETY: as above; a host keeps its own copy of a plugin's table.
unsafe impl Send for FFI_Plugin {}

/// Builds the static table for [`export_plugin!`](crate::export_plugin) from
/// the three shims the macro instantiates for the plugin's spec.
pub const fn plugin_table(
    describe: unsafe extern "C" fn() -> FFI_Str,
    create: unsafe extern "C" fn(FFI_Str, FFI_Str, *mut *mut c_void, *mut FFI_Error) -> i32,
    call_tensor_fn: unsafe extern "C" fn(
        FFI_Str,
        FFI_Str,
        *const *mut c_void,
        usize,
        *mut *mut c_void,
        *mut FFI_Error,
    ) -> i32,
) -> FFI_Plugin {
    FFI_Plugin {
        // The test-only feature lets a separately built plugin claim the next
        // major, so that hosts' refusal is tested against a real library.
        abi_major: ABI_MAJOR + cfg!(feature = "test-next-abi-major") as u32,
        struct_size: std::mem::size_of::<FFI_Plugin>() as u32,
        abi_minor: ABI_MINOR,
        sdk_version: FFI_Str {
            ptr: SDK_VERSION.as_ptr(),
            len: SDK_VERSION.len(),
        },
        describe,
        create,
        run,
        destroy,
        free_error,
        call_tensor_fn,
        input_files,
    }
}

const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs `f`, turning a panic into an error that names `what`.
pub(crate) fn guard<T>(what: &str, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(Error::new(
            ErrorCode::Panic,
            format!("{what} panicked: {}", panic_message(&payload)),
        )),
    }
}

pub(crate) fn panic_message(payload: &Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

/// The accessor [`export_plugin!`](crate::export_plugin) generates: builds
/// the plugin's [`Exported`] on first use.
pub type ExportedFn = fn() -> &'static Exported;

/// Shim body of `describe`. A plugin whose spec cannot be built (its
/// constructor panicked) describes itself as `{"error": "..."}`.
pub fn describe_shim(exported: ExportedFn) -> FFI_Str {
    static FAILED: OnceLock<String> = OnceLock::new();
    match guard("describing the plugin", || Ok(exported())) {
        Ok(e) => FFI_Str::new(&e.describe_json),
        Err(e) => FFI_Str::new(
            FAILED.get_or_init(|| serde_json::json!({ "error": e.to_string() }).to_string()),
        ),
    }
}

/// Shim body of `create`.
///
/// # Safety
/// The arguments must satisfy [`FFI_Plugin::create`]'s contract.
pub unsafe fn create_shim(
    exported: ExportedFn,
    kind: FFI_Str,
    params: FFI_Str,
    node: *mut *mut c_void,
    err: *mut FFI_Error,
) -> i32 {
    // SAFETY: the host passes valid UTF-8 for the duration of the call.
    let (kind, params) = unsafe { (kind.as_str(), params.as_str()) };
    let result = guard(&format!("creating a `{kind}` node"), || {
        let spec = exported().kind(kind)?;
        let params: serde_json::Value = serde_json::from_str(params).map_err(|e| {
            Error::new(
                ErrorCode::Invalid,
                format!("parameters of `{kind}` are not JSON: {e}"),
            )
        })?;
        let node = (spec.create)(params)?;
        Ok(Box::into_raw(Box::new(NodeBox { spec, node })).cast::<c_void>())
    });
    match result {
        Ok(handle) => {
            // SAFETY: the host passes a valid out-pointer.
            unsafe { node.write(handle) };
            STATUS_OK
        }
        Err(e) => {
            // SAFETY: the host passes a valid error slot.
            unsafe { FFI_Error::write(err, &e) };
            STATUS_ERROR
        }
    }
}

/// The host's run context, once its `struct_size` is known to cover the
/// fields of minor 0 (all this plugin reads).
///
/// # Safety
/// `ctx` must point to a live context that starts with its `struct_size`
/// and is `struct_size` bytes long.
unsafe fn context_of_minor_0<'a>(ctx: *const FFI_RunContext) -> Result<&'a FFI_RunContext, Error> {
    // SAFETY: `struct_size` is the first field of every minor's context.
    let size = unsafe { ctx.cast::<u32>().read() } as usize;
    if size < MIN_CONTEXT_SIZE {
        return Err(Error::invalid(format!(
            "the host's run context is {size} bytes, ABI {ABI_MAJOR} needs at least {MIN_CONTEXT_SIZE}: \
             the host was not built with emoflow-sdk"
        )));
    }
    // SAFETY: the context holds every field of minor 0, which are all the
    // fields of `FFI_RunContext` (asserted at MIN_CONTEXT_SIZE).
    Ok(unsafe { &*ctx })
}

/// # Safety
/// The arguments must satisfy [`FFI_Plugin::run`]'s contract.
unsafe extern "C" fn run(
    node: *mut c_void,
    ctx: *const FFI_RunContext,
    inputs: *mut FFI_ArrowArrayStream,
    n_inputs: usize,
    outputs: *mut FFI_ArrowArrayStream,
    n_outputs: usize,
    err: *mut FFI_Error,
) -> i32 {
    // SAFETY: `node` came from `create` and is not shared during `run`.
    let node_box = unsafe { &mut *node.cast::<NodeBox>() };
    let kind = node_box.spec.kind;
    let result = guard(&format!("node kind `{kind}`"), || {
        // SAFETY: the host keeps the context alive for the call.
        let ctx = Context::from_raw(unsafe { context_of_minor_0(ctx) }?);
        let spec = node_box.spec;
        if n_inputs != spec.inputs.len() || n_outputs != spec.outputs.len() {
            return Err(Error::new(
                ErrorCode::Invalid,
                format!(
                    "`{kind}` declares {} inputs and {} outputs; the host passed {n_inputs} and {n_outputs}",
                    spec.inputs.len(),
                    spec.outputs.len()
                ),
            ));
        }
        let mut ports = Vec::with_capacity(n_inputs);
        for (i, port) in spec.inputs.iter().enumerate() {
            // SAFETY: `inputs` holds `n_inputs` valid streams; we move each out.
            let stream = unsafe { FFI_ArrowArrayStream::from_raw(inputs.add(i)) };
            let reader = if stream.release().is_none() {
                None
            } else {
                Some(RecordBatchStreamReader::try_new(stream).map_err(|e| {
                    Error::new(ErrorCode::Data, format!("input `{}`: {e}", port.name))
                })?)
            };
            ports.push((port.name, reader));
        }
        let produced =
            crate::log::forwarding(&ctx, || node_box.node.run(&ctx, Inputs::new(kind, ports)))?;
        let mut produced = produced.into_ports(spec)?;
        for (i, reader) in produced.drain(..).enumerate() {
            let stream =
                FFI_ArrowArrayStream::new(Box::new(crate::node::CatchPanics::new(kind, reader)));
            // SAFETY: `outputs` holds `n_outputs` released streams we may overwrite.
            unsafe { outputs.add(i).write(stream) };
        }
        Ok(())
    });
    // SAFETY: the host passes a valid error slot.
    unsafe { status(result, err) }
}

/// # Safety
/// The arguments must satisfy [`FFI_Plugin::input_files`]'s contract.
unsafe extern "C" fn input_files(
    node: *mut c_void,
    sink: *mut c_void,
    push: FFI_PushPath,
    err: *mut FFI_Error,
) -> i32 {
    // SAFETY: `node` came from `create`; listing its files only reads it.
    let node_box = unsafe { &*node.cast::<NodeBox>() };
    let kind = node_box.spec.kind;
    let result = guard(
        &format!("listing the input files of node kind `{kind}`"),
        || {
            for path in node_box.node.input_files()? {
                let utf8 = path.to_str().ok_or_else(|| {
                    Error::invalid(format!(
                        "`{kind}` reads {}, whose path is not UTF-8 (the plugin ABI carries UTF-8 \
                     paths): rename the file",
                        path.display()
                    ))
                })?;
                // SAFETY: the host passes a sink and callback valid for the call;
                // the string outlives the callback.
                unsafe { push(sink, FFI_Str::new(utf8)) };
            }
            Ok(())
        },
    );
    // SAFETY: the host passes a valid error slot.
    unsafe { status(result, err) }
}

/// The status of a call that returns nothing else, writing its error.
///
/// # Safety
/// `err` must be null or valid for writes.
unsafe fn status(result: Result<(), Error>, err: *mut FFI_Error) -> i32 {
    match result {
        Ok(()) => STATUS_OK,
        Err(e) => {
            // SAFETY: guaranteed by the caller.
            unsafe { FFI_Error::write(err, &e) };
            STATUS_ERROR
        }
    }
}

/// # Safety
/// `node` must come from `create` of this library and not be used afterwards.
unsafe extern "C" fn destroy(node: *mut c_void) {
    if node.is_null() {
        return;
    }
    // A panicking Drop must not unwind into the host.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: guaranteed by the caller.
        drop(unsafe { Box::from_raw(node.cast::<NodeBox>()) });
    }));
}

/// Shim body of `call_tensor_fn`: calls a kind's tensor function on
/// borrowed handles (see `tensor.rs`).
///
/// # Safety
/// The arguments must satisfy [`FFI_Plugin::call_tensor_fn`]'s contract.
#[allow(clippy::too_many_arguments)]
pub unsafe fn call_tensor_fn_shim(
    exported: ExportedFn,
    kind: FFI_Str,
    params: FFI_Str,
    inputs: *const *mut c_void,
    n_inputs: usize,
    output: *mut *mut c_void,
    err: *mut FFI_Error,
) -> i32 {
    // SAFETY: the caller passes valid UTF-8 for the duration of the call.
    let (kind, params) = unsafe { (kind.as_str(), params.as_str()) };
    let result = guard(&format!("tensor function `{kind}`"), || {
        let spec = exported().kind(kind)?;
        let Some(f) = &spec.tensor_fn else {
            return Err(Error::new(
                ErrorCode::Invalid,
                format!("`{}` is not a tensor function", spec.kind),
            ));
        };
        // SAFETY: the caller passes `n_inputs` valid tensor handles.
        f(params, unsafe {
            std::slice::from_raw_parts(inputs, n_inputs)
        })
    });
    match result {
        Ok(handle) => {
            // SAFETY: the caller passes a valid out-pointer.
            unsafe { output.write(handle) };
            STATUS_OK
        }
        Err(e) => {
            // SAFETY: the caller passes a valid error slot.
            unsafe { FFI_Error::write(err, &e) };
            STATUS_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn log(_: *const c_void, _: u32, _: FFI_Str, _: FFI_Str) {}
    unsafe extern "C" fn progress(_: *const c_void, _: u64, _: u64, _: FFI_Str) {}
    unsafe extern "C" fn call(
        _: *const c_void,
        _: FFI_Str,
        _: FFI_Str,
        _: *const *mut c_void,
        _: usize,
        _: *mut *mut c_void,
        _: *mut FFI_Error,
    ) -> i32 {
        STATUS_OK
    }

    /// A context as a host of `struct_size` bytes would pass it: the fields
    /// of minor 0, then whatever a newer minor appended (here: 16 bytes).
    #[repr(C)]
    struct NewerContext {
        minor_0: FFI_RunContext,
        appended: [u64; 2],
    }

    fn context(struct_size: usize) -> NewerContext {
        let cancel = AtomicBool::new(false);
        NewerContext {
            minor_0: FFI_RunContext {
                struct_size: struct_size as u32,
                threads: 3,
                host: std::ptr::null(),
                node_name: FFI_Str::new("node"),
                device: FFI_Str::new("cpu"),
                artifact_dir: FFI_Str::new("/tmp"),
                // Never read by these tests (the pointer dangles after return).
                cancel: &cancel,
                log,
                progress,
                call_tensor_fn: call,
                free_error,
            },
            appended: [7, 7],
        }
    }

    #[test]
    fn a_context_of_a_newer_or_the_same_minor_is_read_and_a_smaller_one_refused() {
        let newer = context(std::mem::size_of::<NewerContext>());
        // SAFETY: the context is live and `struct_size` bytes long.
        let read = unsafe { context_of_minor_0(&newer.minor_0) }.unwrap();
        assert_eq!(read.threads, 3, "the fields of minor 0 are where they were");
        let same = context(MIN_CONTEXT_SIZE);
        // SAFETY: as above.
        assert!(unsafe { context_of_minor_0(&same.minor_0) }.is_ok());
        let too_small = context(MIN_CONTEXT_SIZE - 8);
        // SAFETY: as above (it is longer than it says, which is allowed).
        let Err(err) = (unsafe { context_of_minor_0(&too_small.minor_0) }) else {
            panic!("a context smaller than minor 0's was read");
        };
        assert_eq!(err.code, ErrorCode::Invalid);
        assert!(
            err.message.contains(&format!(
                "{} bytes, ABI 1 needs at least {MIN_CONTEXT_SIZE}",
                MIN_CONTEXT_SIZE - 8
            )),
            "{err}"
        );
    }
}
