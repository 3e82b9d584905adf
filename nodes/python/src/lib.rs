//! # emoflow-python: node kinds written in Python
//!
//! Embeds CPython (PyO3) and offers the kinds declared with the Python SDK
//! (`python/emoflow_sdk`) as ordinary kinds. When the host loads this
//! plugin, it imports the kind modules of the host's plugin directories
//! (`--plugin-path`, `EMOFLOW_PLUGIN_PATH`: the host publishes them in
//! `EMOFLOW_PLUGIN_DIRS` before loading plugins) and describes each kind
//! with its ports, parameter schema and source file. Without kind modules
//! in those directories it offers no kind and never starts Python.
//!
//! Data crosses through the Arrow C stream interface without copying:
//! each input stream is handed to `pyarrow.RecordBatchReader._import_from_c`
//! and each output comes back through `_export_to_c` into a stream the host
//! pulls and checks like any other plugin's. A Python exception fails the
//! node with its traceback. Python kinds run in worker processes of their
//! own by default (`own_process`), so that the GIL does not serialise
//! parallel nodes.
//!
//! See docs/python.md.

mod interpreter;
mod node;

use std::path::PathBuf;

use emoflow_sdk::{Error, KindSpec};
use pyo3::prelude::*;

pub use interpreter::Interpreter;

/// The variable the host sets to its plugin directories
/// (core/engine/src/registry.rs `SEARCH_PATH_VAR`).
const SEARCH_PATH_VAR: &str = "EMOFLOW_PLUGIN_DIRS";

/// The directories to look for kind modules in: the host's, else (a test
/// loading the plugin by itself) `EMOFLOW_PLUGIN_PATH`.
fn plugin_dirs() -> Vec<PathBuf> {
    let var = std::env::var_os(SEARCH_PATH_VAR).or_else(|| std::env::var_os("EMOFLOW_PLUGIN_PATH"));
    var.map(|v| {
        std::env::split_paths(&v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect()
    })
    .unwrap_or_default()
}

/// Whether a directory holds a Python kind module: a top-level `.py` file
/// (not a test) that uses the SDK. The same rule as `_host._kind_files`,
/// checked here first so that a host without Python kinds never starts
/// the interpreter.
fn has_kind_modules(dir: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .any(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".py")
                && !["test_", "conftest", "setup"]
                    .iter()
                    .any(|p| name.starts_with(p))
                && std::fs::read_to_string(&path).is_ok_and(|text| text.contains("emoflow_sdk"))
        })
}

/// Leaks a string: kind descriptions are `'static`, built once per process.
fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn text<'a>(value: &'a serde_json::Value, key: &str) -> &'a str {
    value.get(key).and_then(|v| v.as_str()).unwrap_or("")
}

/// One kind from its description by `_host.discover`.
fn spec(description: &serde_json::Value) -> KindSpec {
    let kind = leak(text(description, "kind"));
    let mut spec = KindSpec::new(kind, leak(text(description, "source_file")))
        .doc(leak(text(description, "doc")));
    let ports = |key: &str| {
        description
            .get(key)
            .and_then(|p| p.as_array())
            .cloned()
            .unwrap_or_default()
    };
    for port in ports("inputs") {
        let (name, port_type, doc) = (
            leak(text(&port, "name")),
            leak(text(&port, "type")),
            leak(text(&port, "doc")),
        );
        spec = if port
            .get("optional")
            .and_then(|o| o.as_bool())
            .unwrap_or(false)
        {
            spec.optional_input(name, port_type, doc)
        } else {
            spec.input(name, port_type, doc)
        };
    }
    for port in ports("outputs") {
        spec = spec.output(
            leak(text(&port, "name")),
            leak(text(&port, "type")),
            leak(text(&port, "doc")),
        );
    }
    if description
        .get("own_process")
        .and_then(|o| o.as_bool())
        .unwrap_or(true)
    {
        spec = spec.own_process();
    }
    if !description
        .get("cacheable")
        .and_then(|o| o.as_bool())
        .unwrap_or(true)
    {
        spec = spec.not_cacheable();
    }
    let schema = description
        .get("params")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({"type": "object"}));
    spec.create_with_schema(schema, move |params| node::create(kind, &params))
}

/// The plugin's kinds: those of the kind modules in the plugin directories.
/// A module that fails to import, or a Python that cannot start, fails the
/// description with the reason (the host lists it among the plugins that
/// did not load).
fn kinds() -> Result<Vec<KindSpec>, String> {
    let dirs: Vec<PathBuf> = plugin_dirs()
        .into_iter()
        .filter(|d| has_kind_modules(d))
        .collect();
    if dirs.is_empty() {
        return Ok(Vec::new());
    }
    discover(&dirs).map_err(|e| e.message)
}

fn discover(dirs: &[PathBuf]) -> Result<Vec<KindSpec>, Error> {
    let python = Interpreter::get()?;
    let json: String = Python::attach(|py| -> PyResult<String> {
        let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        python.host(py).call_method1("discover", (dirs,))?.extract()
    })
    .map_err(|e| Error::invalid(format!("the Python plugin could not list its kinds: {e}")))?;
    let found: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| Error::invalid(e.to_string()))?;
    let problems: Vec<&str> = found["problems"]
        .as_array()
        .map(|p| p.iter().filter_map(|p| p.as_str()).collect())
        .unwrap_or_default();
    if !problems.is_empty() {
        return Err(Error::invalid(format!(
            "Python kind modules failed to load:\n{}",
            problems.join("\n")
        )));
    }
    Ok(found["kinds"]
        .as_array()
        .map(|kinds| kinds.iter().map(spec).collect())
        .unwrap_or_default())
}

emoflow_sdk::export_plugin!(kinds = kinds);
