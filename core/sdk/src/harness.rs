//! Runs a node in-process through the real ABI, for tests.
//!
//! The harness wraps the plugin's own table (the `emoflow_plugin()` function
//! that [`export_plugin!`](crate::export_plugin) generates), so a test goes
//! through the same shims, panic guards and edge checks as a graph run:
//!
//! ```ignore
//! let out = Harness::new(my_plugin::emoflow_plugin(), "cluster.uniform")
//!     .param("k", [4, 6])
//!     .input("labels", vec![SeriesRow::write(&labels)?])
//!     .run()?;
//! let codebook: Vec<CodebookRow> = out.rows("codebook")?;
//! ```

use std::ffi::c_void;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::record_batch::{RecordBatch, RecordBatchIterator};

use crate::arrow;
use crate::conventions::PortRows;
use crate::ffi::FFI_Plugin;
use crate::foreign::{ForeignPlugin, Host, InputStream, RunSettings};
use crate::{Error, Result};

/// A node under test: its kind, parameters, inputs and settings.
pub struct Harness {
    plugin: Arc<ForeignPlugin>,
    others: Vec<Arc<ForeignPlugin>>,
    kind: String,
    params: serde_json::Map<String, serde_json::Value>,
    inputs: Vec<(String, Vec<RecordBatch>)>,
    threads: u32,
    cancel: Arc<AtomicBool>,
    artifact_dir: Option<PathBuf>,
}

impl Harness {
    /// A node of `kind` from the plugin whose table is `plugin`.
    pub fn new(plugin: &'static FFI_Plugin, kind: &str) -> Self {
        let plugin = ForeignPlugin::from_table(plugin, "(in-process plugin)")
            .unwrap_or_else(|e| panic!("the plugin under test does not load: {e}"));
        Self {
            plugin: Arc::new(plugin),
            others: Vec::new(),
            kind: kind.to_string(),
            params: serde_json::Map::new(),
            inputs: Vec::new(),
            threads: 1,
            cancel: Arc::new(AtomicBool::new(false)),
            artifact_dir: None,
        }
    }

    /// Sets a parameter.
    pub fn param(mut self, key: &str, value: impl serde::Serialize) -> Self {
        let value = serde_json::to_value(value).expect("parameters serialize to JSON");
        self.params.insert(key.to_string(), value);
        self
    }

    /// Feeds an input port.
    pub fn input(mut self, port: &str, batches: Vec<RecordBatch>) -> Self {
        self.inputs.push((port.to_string(), batches));
        self
    }

    /// Feeds an input port with typed rows (one batch).
    pub fn rows<R: PortRows>(self, port: &str, rows: &[R]) -> Self {
        let batch = R::write(rows).expect("fixture rows form a batch");
        self.input(port, vec![batch])
    }

    /// Makes another plugin's tensor functions (losses) callable by the node.
    pub fn with_plugin(mut self, plugin: &'static FFI_Plugin) -> Self {
        let plugin = ForeignPlugin::from_table(plugin, "(in-process plugin)")
            .unwrap_or_else(|e| panic!("the helper plugin does not load: {e}"));
        self.others.push(Arc::new(plugin));
        self
    }

    pub fn threads(mut self, threads: u32) -> Self {
        self.threads = threads;
        self
    }

    /// Runs with the cancel flag already set.
    pub fn cancelled(self) -> Self {
        self.cancel.store(true, Ordering::Relaxed);
        self
    }

    /// Uses `dir` as the node's artifact directory (default: a fresh one
    /// under the system's temporary directory).
    pub fn artifact_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.artifact_dir = Some(dir.into());
        self
    }

    /// Creates and runs the node; collects every output.
    pub fn run(self) -> Result<HarnessOutput> {
        let cleanup = Cleanup(self.artifact_dir.is_none().then(fresh_dir));
        let artifact_dir = self
            .artifact_dir
            .or_else(|| cleanup.0.clone())
            .expect("one of the two is set");
        std::fs::create_dir_all(&artifact_dir).map_err(|e| Error::io(&artifact_dir, e))?;
        let mut node = self
            .plugin
            .create(&self.kind, &serde_json::Value::Object(self.params.clone()))?;
        let description = node.description().clone();
        if let Some((port, _)) = self
            .inputs
            .iter()
            .find(|(port, _)| description.input(port).is_none())
        {
            return Err(Error::invalid(format!(
                "`{}` has no input `{port}`",
                self.kind
            )));
        }
        let mut inputs = self.inputs;
        let streams: Vec<Option<InputStream>> = description
            .inputs
            .iter()
            .map(|port| {
                let at = inputs.iter().position(|(name, _)| name == &port.name)?;
                let (_, batches) = inputs.swap_remove(at);
                let schema = batches.first()?.schema();
                Some(Box::new(RecordBatchIterator::new(
                    batches.into_iter().map(Ok),
                    schema,
                )) as InputStream)
            })
            .collect();
        let host = Recorder {
            others: self.others,
            ..Recorder::default()
        };
        let settings = RunSettings {
            node_name: format!("test_{}", self.kind.replace('.', "_")),
            device: "cpu".into(),
            threads: self.threads,
            artifact_dir: artifact_dir.clone(),
            cancel: self.cancel,
        };
        let outputs = node.run(&host, &settings, streams)?;
        let mut collected = Vec::new();
        for stream in outputs {
            let port = stream.port().to_string();
            let batches = stream.collect::<std::result::Result<Vec<_>, _>>()?;
            collected.push((port, batches));
        }
        Ok(HarnessOutput {
            outputs: collected,
            logs: host.logs.into_inner().unwrap(),
            progress: host.progress.into_inner().unwrap(),
            artifact_dir,
            _cleanup: cleanup,
        })
    }
}

/// Removes the harness's own artifact directory when dropped (one a test
/// chose with [`Harness::artifact_dir`] is the test's to keep).
#[derive(Debug)]
struct Cleanup(Option<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn fresh_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("emoflow-harness-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// What a node produced, logged and reported.
#[derive(Debug)]
pub struct HarnessOutput {
    outputs: Vec<(String, Vec<RecordBatch>)>,
    /// Log lines as (level, message).
    pub logs: Vec<(tracing::Level, String)>,
    /// Progress reports as (position, total).
    pub progress: Vec<(u64, u64)>,
    /// Where the node wrote its artifacts; removed with this output unless
    /// the test chose it.
    pub artifact_dir: PathBuf,
    _cleanup: Cleanup,
}

impl HarnessOutput {
    /// The batches of an output port.
    pub fn batches(&self, port: &str) -> &[RecordBatch] {
        self.outputs
            .iter()
            .find(|(name, _)| name == port)
            .map(|(_, b)| b.as_slice())
            .unwrap_or_else(|| panic!("no output port `{port}`"))
    }

    /// The typed rows of an output port.
    pub fn rows<R: PortRows>(&self, port: &str) -> Result<Vec<R>> {
        R::read_all(self.batches(port))
    }

    /// Whether some log line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.logs.iter().any(|(_, line)| line.contains(needle))
    }
}

#[derive(Default)]
struct Recorder {
    others: Vec<Arc<ForeignPlugin>>,
    logs: Mutex<Vec<(tracing::Level, String)>>,
    progress: Mutex<Vec<(u64, u64)>>,
}

impl Host for Recorder {
    fn log(&self, level: tracing::Level, _target: &str, message: &str) {
        self.logs.lock().unwrap().push((level, message.to_string()));
    }

    fn progress(&self, position: u64, total: u64, _message: &str) {
        self.progress.lock().unwrap().push((position, total));
    }

    unsafe fn call_tensor_fn(
        &self,
        kind: &str,
        params: &str,
        inputs: &[*mut c_void],
    ) -> Result<*mut c_void> {
        let plugin = self
            .others
            .iter()
            .find(|p| p.kind(kind).is_some_and(|k| k.tensor_fn))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "no plugin given to the harness (Harness::with_plugin) provides `{kind}`"
                ))
            })?;
        // SAFETY: forwarded from the node, which upholds the contract.
        unsafe { plugin.call_tensor_fn(kind, params, inputs) }
    }
}
