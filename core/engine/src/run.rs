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

use emoflow_sdk::conventions::{self, FileRow, MetricRow, PortRows, port};
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
    /// Run only these nodes (by plan position), e.g. one trial of a sweep;
    /// no selection happens then.
    pub only: Option<Vec<bool>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ran,
    Cached,
    /// Outputs read from a `frozen` directory (a bundle's fitted state).
    Frozen,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepReport>,
    /// The plugin libraries loaded before the run, with their load times:
    /// part of the wall time that is neither the engine's nor a node's.
    pub plugin_loads: Vec<PluginLoad>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PluginLoad {
    pub library: String,
    pub seconds: f64,
}

/// The trials of a sweep and the ones selected.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub select: Vec<crate::sweep::Select>,
    pub trials: Vec<TrialReport>,
    /// Select rule (its node) → group (a dimension, or `all`) → the
    /// selected trial's id.
    pub selected: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialReport {
    pub id: String,
    pub params: BTreeMap<String, serde_json::Value>,
    /// Select rule (its node) → group → the selection metric's value.
    pub values: BTreeMap<String, BTreeMap<String, f64>>,
}

impl RunReport {
    pub fn succeeded(&self) -> bool {
        self.status == "ok"
    }
}

/// Where an input reads from: an output of an earlier node, restricted to
/// the rows of one dimension when a sweep selected per dimension.
#[derive(Debug, Clone)]
struct Source {
    from: usize,
    port: String,
    dim: Option<String>,
}

/// The sources of each input of node `i`; `None` while they depend on a
/// selection not made yet.
fn sources(plan: &Plan, i: usize, selection: Option<&Selection>) -> Option<Vec<Vec<Source>>> {
    let node = &plan.nodes[i];
    let selected = |slot: usize, source: usize| {
        plan.sweep.as_ref()?.selected_inputs.iter().find(|s| s.node == i && s.slot == slot && s.source == source)
    };
    let mut all = Vec::new();
    for (slot, wiring) in node.inputs.iter().enumerate() {
        let mut sources = Vec::new();
        for (source, (from, port)) in wiring.iter().enumerate() {
            let Some(input) = selected(slot, source) else {
                sources.push(Source { from: *from, port: port.clone(), dim: None });
                continue;
            };
            let rule = &plan.sweep.as_ref()?.rules[input.rule];
            sources.extend(selection?.chosen[input.rule].iter().map(|(group, (trial, _))| Source {
                from: input.producers[*trial],
                port: port.clone(),
                dim: (rule.per == "dim").then(|| group.clone()),
            }));
        }
        all.push(sources);
    }
    Some(all)
}

/// A node's cache key: from the plugin, kind, parameters and its sources'
/// keys, so it is known as soon as its inputs are.
fn node_key(plan: &Plan, registry: &Registry, i: usize, sources: &[Vec<Source>], keys: &[Option<String>]) -> String {
    let node = &plan.nodes[i];
    let inputs: Vec<(String, String, String)> = node
        .provider
        .kind
        .inputs
        .iter()
        .zip(sources)
        .flat_map(|(port, sources)| {
            sources.iter().map(|s| {
                let from = keys[s.from].clone().expect("inputs are keyed before their readers");
                let from_port = match &s.dim {
                    Some(dim) => format!("{}[dim={dim}]", s.port),
                    None => s.port.clone(),
                };
                (port.name.clone(), from, from_port)
            })
        })
        .collect();
    // A frozen node's outputs are its stored files, whatever plugin made them.
    let hash = match &node.frozen {
        Some(dir) => cache::content_hash(dir),
        None => registry.file_hash(node.provider.plugin.path()),
    };
    cache::key(&hash, &node.provider.kind.kind, &canonical_json(&node.params), &inputs)
}

/// For each select rule, the selected trial of each group, with its value.
struct Selection {
    chosen: Vec<BTreeMap<String, (usize, f64)>>,
    /// Rule → trial → group → value.
    values: Vec<Vec<BTreeMap<String, f64>>>,
}

/// Selects once every trial's select nodes have finished; trials whose
/// select node failed take no part.
fn select(plan: &Plan, entries: &[Option<Entry>]) -> Result<Selection> {
    let sweep = plan.sweep.as_ref().expect("only sweeps select");
    let mut selection = Selection { chosen: Vec::new(), values: Vec::new() };
    for (rule, nodes) in sweep.rules.iter().zip(&sweep.select_nodes) {
        let (chosen, values) = select_rule(plan, entries, rule, nodes)?;
        selection.chosen.push(chosen);
        selection.values.push(values);
    }
    Ok(selection)
}

type RuleSelection = (BTreeMap<String, (usize, f64)>, Vec<BTreeMap<String, f64>>);

fn select_rule(plan: &Plan, entries: &[Option<Entry>], rule: &crate::sweep::Select, nodes: &[usize]) -> Result<RuleSelection> {
    let mut values = Vec::new();
    for &node in nodes {
        let mut by_group = BTreeMap::new();
        if let Some(entry) = &entries[node] {
            let kind = &plan.nodes[node].provider.kind;
            for output in kind.outputs.iter().filter(|o| o.port_type == port::METRICS) {
                let batches = entry.open(&output.name)?.collect::<std::result::Result<Vec<_>, _>>()?;
                for row in MetricRow::read_all(&batches)? {
                    if row.name == rule.metric && row.split == rule.split && row.value.is_finite() {
                        let group = if rule.per == "dim" { row.dim } else { "all".into() };
                        by_group.insert(group, row.value);
                    }
                }
            }
        }
        values.push(by_group);
    }
    let mut chosen: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for (trial, by_group) in values.iter().enumerate() {
        for (group, &value) in by_group {
            let better = |best: &(usize, f64)| if rule.maximize { value > best.1 } else { value < best.1 };
            if chosen.get(group).is_none_or(better) {
                chosen.insert(group.clone(), (trial, value));
            }
        }
    }
    if chosen.is_empty() {
        return Err(Error::failed(format!(
            "no trial produced metric `{}` on split `{}` at node `{}`: nothing to select",
            rule.metric, rule.split, rule.node
        )));
    }
    Ok((chosen, values))
}

struct Done {
    index: usize,
    result: Result<(Status, Entry)>,
    seconds: f64,
}

pub fn run(plan: &Plan, registry: &Registry, opts: &RunOptions) -> RunReport {
    let started = Instant::now();
    let cache = Cache::new(&opts.cache_dir);
    let work = Cache::new(opts.out.join(".work"));
    let n = plan.nodes.len();
    let mut keys: Vec<Option<String>> = vec![None; n];
    let mut entries: Vec<Option<Entry>> = vec![None; n];
    let mut reports: Vec<Option<NodeReport>> = vec![None; n];
    // Nodes left out count as launched, so nothing waits for them.
    let mut launched: Vec<bool> = match &opts.only {
        Some(only) => only.iter().map(|keep| !keep).collect(),
        None => vec![false; n],
    };
    let mut selection: Option<std::result::Result<Selection, String>> = None;
    let overall = opts.progress.add(ProgressBar::new(n as u64));
    overall.set_style(ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} nodes {msg}").unwrap().progress_chars("=> "));
    overall.set_prefix(plan.graph.name.clone());
    overall.set_length(launched.iter().filter(|l| !**l).count() as u64);

    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Done>();
        let mut running = 0usize;
        loop {
            if let Some(sweep) = &plan.sweep
                && opts.only.is_none()
                && selection.is_none()
                && sweep.select_nodes.iter().flatten().all(|&s| reports[s].is_some())
            {
                selection = Some(select(plan, &entries).map_err(|e| e.to_string()));
            }
            // Skip what can no longer run, launch what is ready.
            for i in 0..n {
                if launched[i] {
                    continue;
                }
                let chosen = selection.as_ref().and_then(|s| s.as_ref().ok());
                // A node reading the selected trial fails when nothing could be selected.
                let selection_failed = selection.as_ref().and_then(|s| s.as_ref().err()).filter(|_| {
                    plan.sweep.as_ref().is_some_and(|sw| sw.selected_inputs.iter().any(|s| s.node == i))
                });
                let sources = match (selection_failed, sources(plan, i, chosen)) {
                    (Some(_), _) => Vec::new(),
                    (None, Some(sources)) => sources,
                    // Waiting on the selection.
                    (None, None) => continue,
                };
                let upstream_failed = sources.iter().flatten().any(|s| {
                    reports[s.from].as_ref().is_some_and(|r| matches!(r.status, Status::Failed | Status::Skipped))
                });
                if upstream_failed || selection_failed.is_some() || opts.cancel.load(Ordering::Relaxed) {
                    launched[i] = true;
                    reports[i] = Some(NodeReport {
                        kind: plan.nodes[i].provider.kind.kind.clone(),
                        status: if selection_failed.is_some() { Status::Failed } else { Status::Skipped },
                        seconds: 0.0,
                        cache_key: String::new(),
                        error: selection_failed.cloned(),
                        outputs: None,
                    });
                    overall.inc(1);
                    continue;
                }
                let ready = sources.iter().flatten().all(|s| entries[s.from].is_some());
                if !ready || running >= opts.jobs.max(1) {
                    continue;
                }
                launched[i] = true;
                running += 1;
                keys[i] = Some(node_key(plan, registry, i, &sources, &keys));
                let input_entries: Vec<Vec<(Entry, String, Option<String>)>> = sources
                    .into_iter()
                    .map(|w| w.into_iter().map(|s| (entries[s.from].clone().unwrap(), s.port, s.dim)).collect())
                    .collect();
                let threads = (opts.jobs.max(1) / running).max(1) as u32;
                let tx = tx.clone();
                let (cache, work, key) = (&cache, &work, keys[i].clone().unwrap());
                scope.spawn(move || {
                    let t0 = Instant::now();
                    let result = execute(plan, i, &key, input_entries, registry, opts, cache, work, threads);
                    let _ = tx.send(Done { index: i, result, seconds: t0.elapsed().as_secs_f64() });
                });
            }
            if running == 0 {
                if plan.sweep.is_some() && opts.only.is_none() && selection.is_none() && launched.iter().any(|l| !l) {
                    // Every select node has a report only once nothing more can run.
                    continue;
                }
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
                cache_key: keys[done.index].clone().unwrap_or_default(),
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
        sweep: None,
        plugin_loads: registry
            .loads
            .iter()
            .map(|(path, seconds)| PluginLoad { library: path.display().to_string(), seconds: *seconds })
            .collect(),
    };
    for (i, node) in plan.nodes.iter().enumerate() {
        if opts.only.as_ref().is_some_and(|only| !only[i]) {
            continue;
        }
        let node_report = reports[i].take().expect("every node ends with a report");
        if let Some(entry) = &entries[i] {
            let trial = plan.sweep.as_ref().and_then(|s| s.labels.get(&i));
            collect_outputs(&node.name, trial, &node.provider.kind, entry, &mut report);
        }
        report.nodes.insert(node.name.clone(), node_report);
    }
    if let Some(sweep) = plan.sweep.as_ref().filter(|_| opts.only.is_none()) {
        let chosen = selection.as_ref().and_then(|s| s.as_ref().ok());
        let rule_names: Vec<&String> = sweep.rules.iter().map(|r| &r.node).collect();
        report.sweep = Some(SweepReport {
            select: sweep.rules.clone(),
            trials: sweep
                .trials
                .iter()
                .enumerate()
                .map(|(t, trial)| TrialReport {
                    id: trial.id.clone(),
                    params: trial.params.clone(),
                    values: chosen
                        .map(|c| rule_names.iter().zip(&c.values).map(|(r, v)| (r.to_string(), v[t].clone())).collect())
                        .unwrap_or_default(),
                })
                .collect(),
            selected: chosen
                .map(|c| {
                    rule_names
                        .iter()
                        .zip(&c.chosen)
                        .map(|(r, chosen)| {
                            let by_group = chosen.iter().map(|(g, (t, _))| (g.clone(), sweep.trials[*t].id.clone())).collect();
                            (r.to_string(), by_group)
                        })
                        .collect()
                })
                .unwrap_or_default(),
        });
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
    inputs: Vec<Vec<(Entry, String, Option<String>)>>,
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
    if let Some(dir) = &node.frozen {
        return Ok((Status::Frozen, Entry::read(dir)?));
    }
    let cacheable = opts.use_cache && kind.cacheable;
    let _held = match cacheable.then(|| cache.claim(key, &node.name)).transpose()? {
        Some(cache::Claim::Hit(entry)) => {
            tracing::info!("cached");
            return Ok((Status::Cached, entry));
        }
        Some(cache::Claim::Build(lock)) => Some(lock),
        None => None,
    };
    let store = if cacheable { cache } else { work };
    let stage_key = if cacheable { key.to_string() } else { node.name.clone() };
    let mut staging = store.stage(&stage_key)?;
    let artifact_dir = if kind.cacheable { staging.artifact_dir() } else { opts.out.join(&node.name) };
    std::fs::create_dir_all(&artifact_dir).map_err(|e| Error::io(&artifact_dir, e))?;

    let streams: Vec<Option<InputStream>> = inputs.into_iter().map(open_input).collect::<Result<_>>()?;
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
    let result = (|| -> Result<()> {
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
    // The scheduler's report names the node.
    result?;
    let entry = staging.commit(&node.name, &kind.kind, store)?;
    Ok((Status::Ran, entry))
}

/// Opens one input: a single output as stored (no copy), or the outputs of
/// the selected trials, each restricted to its dimension's rows.
fn open_input(sources: Vec<(Entry, String, Option<String>)>) -> Result<Option<InputStream>> {
    match sources.as_slice() {
        [] => return Ok(None),
        [(entry, port, None)] => return entry.open(port).map(Some),
        _ => {}
    }
    let mut schema = None;
    let mut batches = Vec::new();
    // Outputs without a `dim` column are taken whole, once each.
    let mut whole = std::collections::HashSet::new();
    for (entry, port, dim) in &sources {
        let reader = entry.open(port)?;
        let has_dim = reader.schema().column_with_name(conventions::column::DIM).is_some();
        if !has_dim && !whole.insert((entry.dir.clone(), port.clone())) {
            continue;
        }
        schema.get_or_insert_with(|| reader.schema());
        for batch in reader {
            let batch = batch?;
            batches.push(match (dim, batch.column_by_name(conventions::column::DIM)) {
                (Some(dim), Some(column)) => {
                    let keep = arrow::compute::kernels::cmp::eq(column, &arrow::array::StringArray::new_scalar(dim.as_str()))?;
                    arrow::compute::filter_record_batch(&batch, &keep)?
                }
                _ => batch,
            });
        }
    }
    let schema = schema.expect("at least one source");
    Ok(Some(Box::new(arrow::record_batch::RecordBatchIterator::new(batches.into_iter().map(Ok), schema))))
}

/// Gathers metric values and written files into the report.
fn collect_outputs(
    node: &str,
    trial: Option<&String>,
    kind: &emoflow_sdk::describe::KindDescription,
    entry: &Entry,
    report: &mut RunReport,
) {
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
                    labels: r.labels.into_iter().chain(trial.map(|t| ("trial".to_string(), t.clone()))).collect(),
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
