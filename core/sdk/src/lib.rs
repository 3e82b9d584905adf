//! # emoflow-sdk: writing emoflow node plugins
//!
//! An emoflow experiment is a TOML graph of nodes; every node kind lives in a
//! plugin, a shared library (`cdylib`) that exchanges Apache Arrow data with
//! the host through a versioned C ABI. This crate is all a plugin author
//! depends on, and the only place where the plugin boundary is crossed:
//!
//! * [`Node`], [`KindSpec`]: a node kind in safe Rust — its ports, its
//!   parameters (a serde struct whose JSON Schema is derived with `schemars`),
//!   and a constructor. [`export_plugin!`] exports a list of kinds as a plugin.
//! * [`Context`]: what the host gives a running node — logging (`tracing`
//!   events are forwarded to the host), progress, a cancel flag, the device,
//!   a thread budget and an artifact directory.
//! * [`conventions`]: the port types and their columns (utterance id, split,
//!   dimension, frame period, feature lists), defined once here and checked by
//!   the host on every edge, with typed readers and writers.
//! * [`families`]: the rules of the discretizer, decoder and metric
//!   families (codebook and priors, prior scaling and the average over
//!   tasks, matching predictions with labels), which the standard nodes use
//!   too: a plugin of one of these families writes only its own idea.
//! * [`harness`]: runs a node in-process through the real ABI on Arrow
//!   fixtures, for unit tests.
//! * [`ffi`] (plugin side) and [`foreign`] (host side): the C ABI itself.
//!
//! A minimal plugin:
//!
//! ```ignore
//! use emoflow_sdk::prelude::*;
//!
//! /// Parameters of `example.scale`.
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct Params {
//!     /// Factor applied to every value.
//!     #[serde(default = "one")]
//!     factor: f32,
//! }
//! fn one() -> f32 { 1.0 }
//!
//! struct Scale(Params);
//!
//! impl Node for Scale {
//!     fn run(&mut self, _ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
//!         let mut rows = SeriesRow::read_all(&inputs.batches("in")?)?;
//!         for row in &mut rows {
//!             row.values.iter_mut().for_each(|v| *v *= self.0.factor);
//!         }
//!         Ok(Outputs::new().with_batch("out", SeriesRow::write(&rows)?))
//!     }
//! }
//!
//! fn scale() -> KindSpec {
//!     KindSpec::new("example.scale", file!())
//!         .doc("Multiplies a series by a constant.")
//!         .input("in", port::SERIES, "the series to scale")
//!         .output("out", port::SERIES, "the scaled series")
//!         .create(|p: Params| Ok(Scale(p)))
//! }
//!
//! emoflow_sdk::export_plugin!(scale);
//! ```
//!
//! See `docs/plugins.md` in the repository for the whole walk-through.

pub mod conventions;
pub mod describe;
mod error;
pub mod families;
pub mod ffi;
pub mod files;
pub mod foreign;
pub mod harness;
mod log;
mod node;
mod tensor;

pub use describe::{ExportRole, FittedExport, ModelExport, SourceExport};
pub use error::{Error, ErrorCode, NODE_BUG, Result, ResultExt};
pub use node::{Context, Inputs, KindSpec, Node, Outputs, PluginSpec, PortSpec};

pub mod arrow;
pub use schemars;
pub use serde_json;
pub use tracing;

/// What a node file usually needs.
pub mod prelude {
    pub use crate::conventions::{
        AudioRow, ClassesRow, CodebookRow, FeatureRow, FileRow, LossRow, MetricRow, PortRows,
        PosteriorsRow, SeriesRow, Split, port,
    };
    pub use crate::{
        Context, Error, ErrorCode, FittedExport, Inputs, KindSpec, ModelExport, Node, Outputs,
        Result, ResultExt, SourceExport,
    };
}

/// Exports node kinds as an emoflow plugin.
///
/// Takes the paths of functions returning a [`KindSpec`], or `kinds = f`
/// with `f` a function returning `Result<Vec<KindSpec>, String>`, for a
/// plugin whose kinds are found when it loads (the Python plugin: its kinds
/// are the modules in the plugin path). `f` is called once, on the first
/// `describe`; its error becomes the plugin's load error. The kinds'
/// strings are `'static`, so such a plugin leaks the few it builds.
/// Generates the C
/// entry point hosts look up, `emoflow_plugin_entry_<crate name>` (see
/// [`ffi::entry_symbols`]: named after the crate so that several plugin
/// crates can be linked into one test binary), and a safe
/// `pub fn emoflow_plugin()` returning the same table for in-process use
/// (the [`harness`]). Use it once per library crate, at its root.
#[macro_export]
macro_rules! export_plugin {
    (kinds = $kinds:path) => {
        fn __emoflow_exported() -> &'static $crate::ffi::Exported {
            static EXPORTED: ::std::sync::OnceLock<$crate::ffi::Exported> =
                ::std::sync::OnceLock::new();
            EXPORTED.get_or_init(|| {
                let (name, version) = (env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
                match $kinds() {
                    Ok(kinds) => $crate::ffi::Exported::new($crate::PluginSpec { name, version, kinds }),
                    Err(why) => $crate::ffi::Exported::failed(name, version, &why),
                }
            })
        }

        unsafe extern "C" fn __emoflow_describe() -> $crate::ffi::FFI_Str {
            $crate::ffi::describe_shim(__emoflow_exported)
        }

        /// # Safety
        /// See [`FFI_Plugin::create`]($crate::ffi::FFI_Plugin::create).
        unsafe extern "C" fn __emoflow_create(
            kind: $crate::ffi::FFI_Str,
            params: $crate::ffi::FFI_Str,
            node: *mut *mut ::std::ffi::c_void,
            err: *mut $crate::ffi::FFI_Error,
        ) -> i32 {
            // SAFETY: forwarded unchanged; the host upholds the contract.
            unsafe { $crate::ffi::create_shim(__emoflow_exported, kind, params, node, err) }
        }

        /// # Safety
        /// See [`FFI_Plugin::call_tensor_fn`]($crate::ffi::FFI_Plugin::call_tensor_fn).
        unsafe extern "C" fn __emoflow_call_tensor_fn(
            kind: $crate::ffi::FFI_Str,
            params: $crate::ffi::FFI_Str,
            inputs: *const *mut ::std::ffi::c_void,
            n_inputs: usize,
            output: *mut *mut ::std::ffi::c_void,
            err: *mut $crate::ffi::FFI_Error,
        ) -> i32 {
            // SAFETY: forwarded unchanged; the caller upholds the contract.
            unsafe {
                $crate::ffi::call_tensor_fn_shim(
                    __emoflow_exported, kind, params, inputs, n_inputs, output, err,
                )
            }
        }

        static __EMOFLOW_PLUGIN: $crate::ffi::FFI_Plugin = $crate::ffi::plugin_table(
            __emoflow_describe,
            __emoflow_create,
            __emoflow_call_tensor_fn,
        );

        /// The C entry point hosts look up with `dlsym`.
        #[unsafe(export_name = concat!("emoflow_plugin_entry_", env!("CARGO_CRATE_NAME")))]
        pub extern "C" fn emoflow_plugin_entry() -> *const $crate::ffi::FFI_Plugin {
            &__EMOFLOW_PLUGIN
        }

        /// This plugin's table, for running its nodes in-process (tests).
        pub fn emoflow_plugin() -> &'static $crate::ffi::FFI_Plugin {
            &__EMOFLOW_PLUGIN
        }
    };
    ($($spec:path),+ $(,)?) => {
        fn __emoflow_kinds() -> ::std::result::Result<::std::vec::Vec<$crate::KindSpec>, ::std::string::String> {
            Ok(vec![$($spec()),+])
        }
        $crate::export_plugin!(kinds = __emoflow_kinds);
    };
}
