//! Runs a validated plan: independent nodes in parallel within `--jobs`,
//! outputs through the cache, a tracing span and a progress bar per node,
//! and a clean stop on Ctrl-C. Ends with `run.json`.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;

use emoflow_sdk::conventions::{FileRow, MetricRow, PortRows, port};
use emoflow_sdk::foreign::{Host, InputStream, RunSettings};
use emoflow_sdk::{Error, ErrorCode, Result};

use crate::cache::{self, Cache, Entry};
use crate::graph::canonical_json;
use crate::registry::Registry;
use crate::validate::Plan;

pub struct RunOptions {
    pub out: PathBuf,
    pub cache_dir: PathBuf,
    pub use_cache: bool,
    pub jobs: usize,
    pub device: String,
    pub cancel: Arc<AtomicBool>,
    pub progress: MultiProgress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ran,
    Cached,
    Failed,
    /// Not run because an input failed or the run was cancelled.
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub kind: String,
    pub status: Status,
    pub seconds: f64,
    pub cache_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where its outputs are (a cache entry, or the run's work directory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricReport {
    pub node: String,
    pub name: String,
    pub dim: String,
    pub split: String,
    pub value: f64,
    #[serde(flatten)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub node: String,
    pub path: String,
    pub format: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub emoflow_version: String,
    pub graph: String,
    pub name: String,
    pub status: String,
    pub seconds: f64,
    pub params: serde_json::Value,
    pub nodes: BTreeMap<String, NodeReport>,
    pub metrics: Vec<MetricReport>,
    pub files: Vec<FileReport>,
}

impl RunReport {
    pub fn succeeded(&self) -> bool {
        self.status == "ok"
    }
}

/// The cache key of every node, in plan order: keys depend only on the
/// plugin, kind, parameters and upstream keys, so they are known up front.
pub fn cache_keys(plan: &Plan, registry: &Registry) -> Vec<String> {
    let mut keys: Vec<String> = Vec::with_capacity(plan.nodes.len());
    for node in &plan.nodes {
        let inputs: Vec<(String, String, String)> = node
            .provider
            .kind
            .inputs
            .iter()
            .zip(&node.inputs)
            .filter_map(|(port, input)| {
                input.as_ref().map(|(from, from_port)| (port.name.clone(), keys[*from].clone(), from_port.clone()))
            })
            .collect();
        let hash = registry.file_hash(node.provider.plugin.path());
        keys.push(cache::key(&hash, &node.provider.kind.kind, &canonical_json(&node.params), &inputs));
    }
    keys
}

struct Done {
    index: usize,
    result: Result<(Status, Entry)>,
    seconds: f64,
}

pub fn run(plan: &Plan, registry: &Registry, opts: &RunOptions) -> RunReport {
    let started = Instant::now();
    let keys = cache_keys(plan, registry);
    let cache = Cache::new(&opts.cache_dir);
    let work = Cache::new(opts.out.join(".work"));
    let n = plan.nodes.len();
    let mut entries: Vec<Option<Entry>> = vec![None; n];
    let mut reports: Vec<Option<NodeReport>> = vec![None; n];
    let mut launched = vec![false; n];
    let overall = opts.progress.add(ProgressBar::new(n as u64));
    overall.set_style(ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} nodes {msg}").unwrap().progress_chars("=> "));
    overall.set_prefix(plan.graph.name.clone());

    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Done>();
        let mut running = 0usize;
        loop {
            // Skip what can no longer run, launch what is ready.
            for i in 0..n {
                if launched[i] {
                    continue;
                }
                let inputs = &plan.nodes[i].inputs;
                let upstream_failed = inputs.iter().flatten().any(|(from, _)| {
                    reports[*from].as_ref().is_some_and(|r| matches!(r.status, Status::Failed | Status::Skipped))
                });
                if upstream_failed || opts.cancel.load(Ordering::Relaxed) {
                    launched[i] = true;
                    reports[i] = Some(NodeReport {
                        kind: plan.nodes[i].provider.kind.kind.clone(),
                        status: Status::Skipped,
                        seconds: 0.0,
                        cache_key: keys[i].clone(),
                        error: None,
                        outputs: None,
                    });
                    overall.inc(1);
                    continue;
                }
                let ready = inputs.iter().flatten().all(|(from, _)| entries[*from].is_some());
                if !ready || running >= opts.jobs.max(1) {
                    continue;
                }
                launched[i] = true;
                running += 1;
                let input_entries: Vec<Option<(Entry, String)>> = inputs
                    .iter()
                    .map(|w| w.as_ref().map(|(from, port)| (entries[*from].clone().unwrap(), port.clone())))
                    .collect();
                let threads = (opts.jobs.max(1) / running).max(1) as u32;
                let tx = tx.clone();
                let (cache, work, key) = (&cache, &work, keys[i].clone());
                scope.spawn(move || {
                    let t0 = Instant::now();
                    let result = execute(plan, i, &key, input_entries, registry, opts, cache, work, threads);
                    let _ = tx.send(Done { index: i, result, seconds: t0.elapsed().as_secs_f64() });
                });
            }
            if running == 0 {
                break;
            }
            let done = rx.recv().expect("a node thread reports before exiting");
            running -= 1;
            overall.inc(1);
            let node = &plan.nodes[done.index];
            let (status, error, outputs) = match done.result {
                Ok((status, entry)) => {
                    let dir = entry.dir.clone();
                    entries[done.index] = Some(entry);
                    (status, None, Some(dir))
                }
                Err(e) => {
                    let message = e.to_string();
                    if e.code == ErrorCode::Cancelled {
                        tracing::warn!(node = %node.name, "cancelled");
                    } else {
                        opts.progress.suspend(|| eprintln!("error: node `{}` ({}) failed: {message}", node.name, node.provider.kind.kind));
                    }
                    (Status::Failed, Some(message), None)
                }
            };
            reports[done.index] = Some(NodeReport {
                kind: node.provider.kind.kind.clone(),
                status,
                seconds: done.seconds,
                cache_key: keys[done.index].clone(),
                error,
                outputs,
            });
        }
    });
    overall.finish_and_clear();

    let mut report = RunReport {
        emoflow_version: env!("CARGO_PKG_VERSION").to_string(),
        graph: plan.graph.path.display().to_string(),
        name: plan.graph.name.clone(),
        status: String::new(),
        seconds: 0.0,
        params: plan.graph.params.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect(),
        nodes: BTreeMap::new(),
        metrics: Vec::new(),
        files: Vec::new(),
    };
    for (i, node) in plan.nodes.iter().enumerate() {
        let node_report = reports[i].take().expect("every node ends with a report");
        if let Some(entry) = &entries[i] {
            collect_outputs(&node.name, &node.provider.kind, entry, &mut report);
        }
        report.nodes.insert(node.name.clone(), node_report);
    }
    let failed = report.nodes.values().any(|r| r.status == Status::Failed);
    report.status = if opts.cancel.load(Ordering::Relaxed) {
        "cancelled".into()
    } else if failed {
        "failed".into()
    } else {
        "ok".into()
    };
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// Runs (or fetches from the cache) one node.
#[allow(clippy::too_many_arguments)]
fn execute(
    plan: &Plan,
    index: usize,
    key: &str,
    inputs: Vec<Option<(Entry, String)>>,
    registry: &Registry,
    opts: &RunOptions,
    cache: &Cache,
    work: &Cache,
    threads: u32,
) -> Result<(Status, Entry)> {
    let node = &plan.nodes[index];
    let kind = &node.provider.kind;
    let span = tracing::info_span!("node", name = %node.name, kind = %kind.kind);
    let _guard = span.enter();
    let cacheable = opts.use_cache && kind.cacheable;
    if cacheable {
        if let Some(entry) = cache.lookup(key) {
            tracing::info!("cached");
            return Ok((Status::Cached, entry));
        }
    }
    let store = if cacheable { cache } else { work };
    let stage_key = if cacheable { key.to_string() } else { node.name.clone() };
    let mut staging = store.stage(&stage_key)?;
    let artifact_dir = if kind.cacheable { staging.artifact_dir() } else { opts.out.join(&node.name) };
    std::fs::create_dir_all(&artifact_dir).map_err(|e| Error::io(&artifact_dir, e))?;

    let streams: Vec<Option<InputStream>> = inputs
        .into_iter()
        .map(|w| w.map(|(entry, port)| entry.open(&port)).transpose())
        .collect::<Result<_>>()?;
    let bar = opts.progress.add(ProgressBar::new(0));
    bar.set_style(ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}").unwrap().progress_chars("=> "));
    bar.set_prefix(node.name.clone());
    let host = EngineHost { node: node.name.clone(), bar: bar.clone(), registry };
    let settings = RunSettings {
        node_name: node.name.clone(),
        device: opts.device.clone(),
        threads,
        artifact_dir: artifact_dir.clone(),
        cancel: opts.cancel.clone(),
    };
    tracing::info!("running");
    let result = (|| {
        let mut foreign = node.provider.plugin.create(&kind.kind, &node.params)?;
        let outputs = foreign.run(&host, &settings, streams)?;
        for stream in outputs {
            let port = stream.port().to_string();
            staging.write_port(&port, stream)?;
        }
        Ok(())
    })();
    bar.finish_and_clear();
    opts.progress.remove(&bar);
    result.map_err(|e: Error| e.context(format!("node `{}`", node.name)))?;
    let entry = staging.commit(&node.name, &kind.kind, store)?;
    Ok((Status::Ran, entry))
}

/// Gathers metric values and written files into the report.
fn collect_outputs(node: &str, kind: &emoflow_sdk::describe::KindDescription, entry: &Entry, report: &mut RunReport) {
    for output in &kind.outputs {
        let read = |port: &str| -> Result<Vec<arrow::record_batch::RecordBatch>> {
            entry.open(port)?.collect::<std::result::Result<Vec<_>, _>>().map_err(Error::from)
        };
        match output.port_type.as_str() {
            port::METRICS => match read(&output.name).and_then(|b| MetricRow::read_all(&b)) {
                Ok(rows) => report.metrics.extend(rows.into_iter().map(|r| MetricReport {
                    node: node.to_string(),
                    name: r.name,
                    dim: r.dim,
                    split: r.split,
                    value: r.value,
                    labels: r.labels.into_iter().collect(),
                })),
                Err(e) => tracing::warn!("cannot read metrics of `{node}`: {e}"),
            },
            port::FILES => match read(&output.name).and_then(|b| FileRow::read_all(&b)) {
                Ok(rows) => report.files.extend(rows.into_iter().map(|r| FileReport {
                    node: node.to_string(),
                    path: r.path,
                    format: r.format,
                })),
                Err(e) => tracing::warn!("cannot read files of `{node}`: {e}"),
            },
            _ => {}
        }
    }
}

struct EngineHost<'a> {
    node: String,
    bar: ProgressBar,
    registry: &'a Registry,
}

impl Host for EngineHost<'_> {
    fn log(&self, level: tracing::Level, target: &str, message: &str) {
        // The log writer already keeps lines clear of the progress bars.
        let node = &self.node;
        match level {
            tracing::Level::ERROR => tracing::error!(node, target, "{message}"),
            tracing::Level::WARN => tracing::warn!(node, target, "{message}"),
            tracing::Level::INFO => tracing::info!(node, target, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(node, target, "{message}"),
            tracing::Level::TRACE => tracing::trace!(node, target, "{message}"),
        }
    }

    fn progress(&self, position: u64, total: u64, message: &str) {
        if total > 0 {
            self.bar.set_length(total);
        }
        self.bar.set_position(position);
        if !message.is_empty() {
            self.bar.set_message(message.to_string());
        }
    }

    unsafe fn call_tensor_fn(&self, kind: &str, params: &str, inputs: &[*mut c_void]) -> Result<*mut c_void> {
        let provider = self
            .registry
            .get(kind)
            .filter(|p| p.kind.tensor_fn)
            .ok_or_else(|| Error::invalid(format!("no plugin provides the tensor function `{kind}`")))?;
        // SAFETY: forwarded from the node, which upholds the contract.
        unsafe { provider.plugin.call_tensor_fn(kind, params, inputs) }
    }
}

/// Writes `run.json` atomically.
pub fn write_report(out: &Path, report: &RunReport) -> Result<PathBuf> {
    let path = out.join("run.json");
    let json = serde_json::to_vec_pretty(report).expect("reports serialize");
    cache::write_atomic(&path, &json)?;
    Ok(path)
}
