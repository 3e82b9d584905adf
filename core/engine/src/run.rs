//! Runs a validated plan: independent nodes in parallel within `--jobs`,
//! outputs through the cache, a tracing span and a progress bar per node,
//! and a clean stop on Ctrl-C. Ends with `run.json`.
//!
//! `--jobs` is a budget of threads. A node whose kind fixes its thread count
//! (`threads_param`, e.g. a training kind's `threads`) holds that many while it
//! runs and gets exactly that, so its results do not depend on what runs
//! beside it; any other node gets an even share of the threads free when it
//! starts. Ready nodes start longest work first (see [`priorities`]). Nodes
//! of `own_process` kinds run in worker processes ([`crate::worker`]).

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;

use emoflow_sdk::conventions::{self, FileRow, MetricRow, PortRows, port};
use emoflow_sdk::foreign::{ForeignNode, Host, InputStream, RunSettings};
use emoflow_sdk::{Error, ErrorCode, Result};

use crate::cache::{self, Cache, Entry, Staging};
use crate::fingerprint::{Fingerprint, StatCache};
use crate::graph::canonical_json;
use crate::registry::Registry;
use crate::validate::{Plan, PlannedNode};
use crate::worker::{self, InputSource, Job, Usage};

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
    /// Not run because an input failed or was skipped or cancelled.
    Skipped,
    /// Stopped by Ctrl-C, or never started after it.
    Cancelled,
}

impl Status {
    /// Whether the node ended with outputs its readers can take.
    pub fn has_outputs(self) -> bool {
        matches!(self, Status::Ran | Status::Cached | Status::Frozen)
    }
}

/// How a whole run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Ok,
    Failed,
    Cancelled,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub kind: String,
    pub status: Status,
    /// When it started, in seconds since the run began.
    pub started: f64,
    pub seconds: f64,
    /// The threads of `--jobs` it was given (0: it did not start).
    pub threads: u32,
    pub cache_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where its outputs are (a cache entry, or the run's work directory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<PathBuf>,
    /// A node run in a worker process: that process's CPU time and peak memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<Usage>,
    /// A node that reads files (a source): how many, how many were hashed
    /// and how many the stat cache vouched for, and the seconds it took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_files: Option<Fingerprint>,
    /// The nodes it reads from (the page draws the graph from these).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// Output port → how the page presents it (`KindSpec::shows`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub shows: BTreeMap<String, String>,
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
    pub status: RunStatus,
    pub seconds: f64,
    pub params: serde_json::Value,
    pub nodes: BTreeMap<String, NodeReport>,
    pub metrics: Vec<MetricReport>,
    pub files: Vec<FileReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepReport>,
    pub utilisation: Utilisation,
    /// The plugin libraries loaded before the run, with their load times:
    /// part of the wall time that is neither the engine's nor a node's.
    pub plugin_loads: Vec<PluginLoad>,
}

/// How much of `--jobs` the run kept busy.
#[derive(Debug, Clone, Serialize)]
pub struct Utilisation {
    pub jobs: usize,
    pub wall_seconds: f64,
    /// CPU seconds of this process and its worker processes during the run.
    pub busy_core_seconds: f64,
    /// `busy_core_seconds / (wall_seconds * jobs)`.
    pub ratio: f64,
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
        self.status == RunStatus::Ok
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

/// How the inputs of a node stand.
enum Wiring {
    /// The sources of each input.
    Ready(Vec<Vec<Source>>),
    /// An input reads a selected trial, and its rule has not selected yet.
    WaitingForSelection,
    /// An input reads a selected trial, and its rule could select none.
    SelectionFailed(String),
}

/// The sources of each input of node `i`, given the rules decided so far.
fn sources(
    plan: &Plan,
    i: usize,
    rules: &[Option<std::result::Result<RuleSelection, String>>],
) -> Wiring {
    let node = &plan.nodes[i];
    let selected = |slot: usize, source: usize| {
        plan.sweep
            .as_ref()?
            .selected_inputs
            .iter()
            .find(|s| s.node == i && s.slot == slot && s.source == source)
    };
    let mut all = Vec::new();
    for (slot, wiring) in node.inputs.iter().enumerate() {
        let mut sources = Vec::new();
        for (source, (from, port)) in wiring.iter().enumerate() {
            let Some(input) = selected(slot, source) else {
                sources.push(Source {
                    from: *from,
                    port: port.clone(),
                    dim: None,
                });
                continue;
            };
            let rule = &plan
                .sweep
                .as_ref()
                .expect("selected inputs belong to a sweep")
                .rules[input.rule];
            let chosen = match rules.get(input.rule) {
                Some(Some(Ok((chosen, _)))) => chosen,
                Some(Some(Err(error))) => return Wiring::SelectionFailed(error.clone()),
                _ => return Wiring::WaitingForSelection,
            };
            sources.extend(chosen.iter().map(|(group, (trial, _))| Source {
                from: input.producers[*trial],
                port: port.clone(),
                dim: (rule.per == "dim").then(|| group.clone()),
            }));
        }
        all.push(sources);
    }
    Wiring::Ready(all)
}

/// A node's cache key: from the plugin, kind, parameters and its sources'
/// keys, so it is known as soon as its inputs are.
fn node_key(
    plan: &Plan,
    registry: &Registry,
    i: usize,
    sources: &[Vec<Source>],
    keys: &[Option<String>],
) -> String {
    let node = &plan.nodes[i];
    let inputs: Vec<(String, String, String)> = node
        .provider
        .kind
        .inputs
        .iter()
        .zip(sources)
        .flat_map(|(port, sources)| {
            sources.iter().map(|s| {
                let from = keys[s.from]
                    .clone()
                    .expect("inputs are keyed before their readers");
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
    cache::key(
        &hash,
        &node.provider.kind.kind,
        &canonical_json(&node.params),
        &inputs,
    )
}

/// A rule's selected trial for each group (a dimension, or `all`) with its
/// value, and every trial's values by group.
type RuleSelection = (BTreeMap<String, (usize, f64)>, Vec<BTreeMap<String, f64>>);

/// Selects once every trial's select node has ended; trials whose select
/// node failed take no part.
fn select_rule<'e>(
    plan: &Plan,
    entries: impl Fn(usize) -> Option<&'e Entry>,
    rule: &crate::sweep::Select,
    nodes: &[usize],
) -> Result<RuleSelection> {
    let mut values = Vec::new();
    for &node in nodes {
        let mut by_group = BTreeMap::new();
        if let Some(entry) = entries(node) {
            let kind = &plan.nodes[node].provider.kind;
            for output in kind.outputs.iter().filter(|o| o.port_type == port::METRICS) {
                let batches = entry
                    .open(&output.name)?
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                for row in MetricRow::read_all(&batches)? {
                    if row.name == rule.metric && row.split == rule.split && row.value.is_finite() {
                        let group = if rule.per == "dim" {
                            row.dim
                        } else {
                            "all".into()
                        };
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
            let better = |best: &(usize, f64)| {
                if rule.maximize {
                    value > best.1
                } else {
                    value < best.1
                }
            };
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

/// How much work a node of an `own_process` kind (a training) counts for
/// against any other node when ordering ready nodes: trainings take minutes
/// where the rest take seconds.
const HEAVY: u64 = 100;

/// The heaviest chain of work from each node to the end of the graph
/// (itself included): ready nodes start in this order, longest first.
fn priorities(plan: &Plan) -> Vec<u64> {
    let n = plan.nodes.len();
    let consumers = consumers(plan);
    let mut priority = vec![0; n];
    // Topological order: consumers come after their producers.
    for i in (0..n).rev() {
        let weight = if plan.nodes[i].provider.kind.own_process {
            HEAVY
        } else {
            1
        };
        priority[i] = weight + consumers[i].iter().map(|&c| priority[c]).max().unwrap_or(0);
    }
    priority
}

/// The nodes reading each node's outputs, a selected input reading every
/// trial's producer.
fn consumers(plan: &Plan) -> Vec<Vec<usize>> {
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); plan.nodes.len()];
    for (i, node) in plan.nodes.iter().enumerate() {
        for (from, _) in node.inputs.iter().flatten() {
            consumers[*from].push(i);
        }
    }
    for input in plan.sweep.iter().flat_map(|s| &s.selected_inputs) {
        for &producer in &input.producers {
            consumers[producer].push(input.node);
        }
    }
    consumers
}

/// The threads a node's kind fixes through its `threads_param`, if it does.
fn fixed_threads(node: &PlannedNode) -> Option<usize> {
    let name = node.provider.kind.threads_param.as_ref()?;
    Some(
        node.params
            .get(name)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(1)
            .max(1) as usize,
    )
}

/// What the scheduler's threads share.
struct Shared<'a> {
    plan: &'a Plan,
    registry: &'a Registry,
    opts: &'a RunOptions,
    cache: Cache,
    work: Cache,
    /// The thread budget: `--jobs`, at most the cores this process may use.
    jobs: usize,
    workers: worker::Pool,
    /// Sizes, times and hashes of the files nodes read, kept in the cache.
    stat_cache: StatCache,
    started: Instant,
}

/// Where one node of the plan stands.
enum Track {
    /// Not started: waiting for its inputs, a selection or threads.
    Waiting,
    /// Left out of this run (`--trial`): nothing waits for it.
    LeftOut,
    /// Started, holding `reserved` threads of `--jobs`.
    Running { reserved: usize },
    /// Ended, whether it ran or not: its key once it started, its stored
    /// outputs when it has them, and its report.
    Ended {
        key: Option<String>,
        entry: Option<Entry>,
        report: Box<NodeReport>,
    },
}

impl Track {
    fn waiting(&self) -> bool {
        matches!(self, Track::Waiting)
    }

    fn report(&self) -> Option<&NodeReport> {
        match self {
            Track::Ended { report, .. } => Some(report.as_ref()),
            _ => None,
        }
    }

    fn entry(&self) -> Option<&Entry> {
        match self {
            Track::Ended { entry, .. } => entry.as_ref(),
            _ => None,
        }
    }

    fn key(&self) -> Option<String> {
        match self {
            Track::Ended { key, .. } => key.clone(),
            _ => None,
        }
    }
}

/// A node to start: its inputs and thread budget.
struct Launch {
    index: usize,
    /// The key from plugin, kind, parameters and inputs.
    key: String,
    inputs: Vec<Vec<(Entry, String, Option<String>)>>,
    threads: u32,
}

/// A node's end, sent back to the scheduler.
struct Done {
    index: usize,
    threads: u32,
    executed: Executed,
    started: f64,
    seconds: f64,
}

/// What running (or fetching) a node gave.
struct Executed {
    /// Its key: the launch's, with the fingerprint of the files it reads.
    key: String,
    result: Result<(Status, Entry)>,
    worker: Option<Usage>,
    input_files: Option<Fingerprint>,
}

/// The scheduler's state between events.
struct Scheduler<'a> {
    shared: &'a Shared<'a>,
    nodes: Vec<Track>,
    /// Each select rule's selection once its select nodes have all ended.
    rules: Vec<Option<std::result::Result<RuleSelection, String>>>,
    priority: Vec<u64>,
    free: usize,
    running: usize,
    overall: ProgressBar,
}

impl<'a> Scheduler<'a> {
    fn new(shared: &'a Shared<'a>) -> Self {
        let (plan, opts) = (shared.plan, shared.opts);
        let left_out = |i: usize| opts.only.as_ref().is_some_and(|only| !only[i]);
        let nodes: Vec<Track> = (0..plan.nodes.len())
            .map(|i| {
                if left_out(i) {
                    Track::LeftOut
                } else {
                    Track::Waiting
                }
            })
            .collect();
        let overall = opts.progress.add(ProgressBar::new(
            nodes.iter().filter(|t| t.waiting()).count() as u64,
        ));
        overall.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} nodes {msg}")
                .unwrap()
                .progress_chars("=> "),
        );
        overall.set_prefix(plan.graph.name.clone());
        Scheduler {
            shared,
            nodes,
            rules: plan
                .sweep
                .as_ref()
                .map_or(Vec::new(), |s| s.rules.iter().map(|_| None).collect()),
            priority: priorities(plan),
            free: shared.jobs,
            running: 0,
            overall,
        }
    }

    /// Selects for every rule whose select nodes have all ended. Whether
    /// anything changed.
    fn decide_rules(&mut self) -> bool {
        let plan = self.shared.plan;
        let opts = self.shared.opts;
        // A cancelled run selects nothing: its unstarted nodes are cancelled.
        if opts.only.is_some() || opts.cancel.load(Ordering::Relaxed) {
            return false;
        }
        let Some(sweep) = &plan.sweep else {
            return false;
        };
        let mut changed = false;
        for (r, (rule, nodes)) in sweep.rules.iter().zip(&sweep.select_nodes).enumerate() {
            if self.rules[r].is_none() && nodes.iter().all(|&s| self.nodes[s].report().is_some()) {
                let entries = |i: usize| self.nodes[i].entry();
                self.rules[r] =
                    Some(select_rule(plan, entries, rule, nodes).map_err(|e| e.to_string()));
                changed = true;
            }
        }
        changed
    }

    /// Ends a node that will not start.
    fn end_unstarted(&mut self, i: usize, status: Status, error: Option<String>) {
        let report = NodeReport {
            kind: self.shared.plan.nodes[i].provider.kind.kind.clone(),
            status,
            started: 0.0,
            seconds: 0.0,
            threads: 0,
            cache_key: String::new(),
            error,
            outputs: None,
            worker: None,
            input_files: None,
            inputs: Vec::new(),
            shows: BTreeMap::new(),
        };
        self.nodes[i] = Track::Ended {
            key: None,
            entry: None,
            report: Box::new(report),
        };
        self.overall.inc(1);
    }

    /// Ends what can no longer run and returns what can start now, longest
    /// work first, within the free threads. Whether anything changed.
    fn start_ready(&mut self) -> (Vec<Launch>, bool) {
        let (plan, opts) = (self.shared.plan, self.shared.opts);
        let cancelled = opts.cancel.load(Ordering::Relaxed);
        let mut changed = false;
        let mut ready = Vec::new();
        for i in 0..plan.nodes.len() {
            if !self.nodes[i].waiting() {
                continue;
            }
            if cancelled {
                self.end_unstarted(i, Status::Cancelled, None);
                changed = true;
                continue;
            }
            let sources = match sources(plan, i, &self.rules) {
                Wiring::WaitingForSelection => continue,
                Wiring::SelectionFailed(error) => {
                    self.end_unstarted(i, Status::Failed, Some(error));
                    changed = true;
                    continue;
                }
                Wiring::Ready(sources) => sources,
            };
            let ended = |s: &Source| self.nodes[s.from].report().map(|r| r.status);
            if sources
                .iter()
                .flatten()
                .any(|s| ended(s).is_some_and(|status| !status.has_outputs()))
            {
                self.end_unstarted(i, Status::Skipped, None);
                changed = true;
            } else if sources
                .iter()
                .flatten()
                .all(|s| self.nodes[s.from].entry().is_some())
            {
                ready.push((i, sources));
            }
        }
        ready.sort_by_key(|(i, _)| std::cmp::Reverse(self.priority[*i]));
        let jobs = self.shared.jobs;
        let mut shares = ready
            .iter()
            .filter(|(i, _)| fixed_threads(&plan.nodes[*i]).is_none())
            .count();
        let mut launches = Vec::new();
        for (i, sources) in ready {
            let fixed = fixed_threads(&plan.nodes[i]);
            // Any other node gets an even share of what is free now.
            let threads = fixed.unwrap_or_else(|| (self.free / shares.max(1)).max(1));
            let reserve = threads.min(jobs);
            if fixed.is_none() {
                shares -= 1;
            }
            if reserve > self.free {
                continue;
            }
            self.free -= reserve;
            self.running += 1;
            self.nodes[i] = Track::Running { reserved: reserve };
            let keys: Vec<Option<String>> = self.nodes.iter().map(Track::key).collect();
            let key = node_key(plan, self.shared.registry, i, &sources, &keys);
            let inputs = sources
                .into_iter()
                .map(|w| {
                    w.into_iter()
                        .map(|s| {
                            (
                                self.nodes[s.from].entry().cloned().expect("ready"),
                                s.port,
                                s.dim,
                            )
                        })
                        .collect()
                })
                .collect();
            launches.push(Launch {
                index: i,
                key,
                inputs,
                threads: threads as u32,
            });
            changed = true;
        }
        (launches, changed)
    }

    /// Takes a node's end.
    fn finish(&mut self, done: Done) {
        let shared = self.shared;
        let node = &shared.plan.nodes[done.index];
        self.running -= 1;
        self.overall.inc(1);
        if let Track::Running { reserved } = self.nodes[done.index] {
            self.free += reserved;
        }
        let Executed {
            key,
            result,
            worker,
            input_files,
        } = done.executed;
        let mut stored = None;
        let (status, error, outputs) = match result {
            Ok((status, entry)) => {
                let dir = entry.dir.clone();
                stored = Some(entry);
                (status, None, Some(dir))
            }
            Err(e) if e.code == ErrorCode::Cancelled => {
                tracing::warn!(node = %node.name, "cancelled");
                (Status::Cancelled, Some(e.to_string()), None)
            }
            Err(e) => {
                let message = e.to_string();
                shared.opts.progress.suspend(|| {
                    crate::eprintln!(
                        "error: node `{}` ({}) failed: {message}",
                        node.name,
                        node.provider.kind.kind
                    )
                });
                (Status::Failed, Some(message), None)
            }
        };
        let report = NodeReport {
            kind: node.provider.kind.kind.clone(),
            status,
            started: done.started,
            seconds: done.seconds,
            threads: done.threads,
            cache_key: key.clone(),
            error,
            outputs,
            worker,
            input_files,
            inputs: Vec::new(),
            shows: BTreeMap::new(),
        };
        self.nodes[done.index] = Track::Ended {
            key: Some(key),
            entry: stored,
            report: Box::new(report),
        };
    }

    /// Ends every node still undecided: nothing can start them any more.
    fn end_stranded(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].waiting() {
                self.end_unstarted(
                    i,
                    Status::Skipped,
                    Some("its inputs never became available".into()),
                );
            }
        }
    }
}

pub fn run(plan: &Plan, registry: &Registry, opts: &RunOptions) -> RunReport {
    let started = Instant::now();
    let busy_before = busy_core_seconds();
    let shared = Shared {
        plan,
        registry,
        opts,
        cache: Cache::new(&opts.cache_dir),
        work: Cache::new(opts.out.join(".work")),
        jobs: thread_budget(opts.jobs),
        workers: worker::Pool::default(),
        stat_cache: StatCache::open(&opts.cache_dir),
        started,
    };
    let mut scheduler = Scheduler::new(&shared);
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Done>();
        loop {
            let decided = scheduler.decide_rules();
            let (launches, started) = scheduler.start_ready();
            for launch in launches {
                let (tx, shared) = (tx.clone(), &shared);
                scope.spawn(move || {
                    let t0 = Instant::now();
                    let (index, threads) = (launch.index, launch.threads);
                    let executed = execute(shared, launch);
                    let started = t0.duration_since(shared.started).as_secs_f64();
                    let _ = tx.send(Done {
                        index,
                        threads,
                        executed,
                        started,
                        seconds: t0.elapsed().as_secs_f64(),
                    });
                });
            }
            if scheduler.running == 0 {
                if decided || started {
                    continue;
                }
                scheduler.end_stranded();
                break;
            }
            let done = rx.recv().expect("a node thread reports before exiting");
            scheduler.finish(done);
        }
    });
    scheduler.overall.finish_and_clear();
    // Their CPU time counts below once they are reaped.
    shared.workers.shutdown();
    shared.stat_cache.save();
    let wall = started.elapsed().as_secs_f64();
    let jobs = shared.jobs;
    let busy = busy_core_seconds() - busy_before;
    let utilisation = Utilisation {
        jobs,
        wall_seconds: wall,
        busy_core_seconds: busy,
        ratio: busy / (wall * jobs as f64).max(1e-9),
    };
    report(&shared, scheduler, utilisation)
}

/// `--jobs`, capped at the cores this process may use: more threads than
/// cores only take turns, and each extra worker process loads libtorch
/// again (a sweep of 8 trainings ran 11 % slower at --jobs 4 than at
/// --jobs 2 on 2 cores before the cap).
fn thread_budget(jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if jobs > cores {
        tracing::info!("--jobs {jobs} on {cores} cores: at most {cores} threads run at once");
    }
    jobs.clamp(1, cores)
}

/// CPU seconds of this process and of its worker processes that ended.
fn busy_core_seconds() -> f64 {
    Usage::of_self().cpu_seconds + Usage::of_children().cpu_seconds
}

/// Builds run.json's report from the scheduler's final state.
fn report(shared: &Shared, scheduler: Scheduler, utilisation: Utilisation) -> RunReport {
    let (plan, registry, opts) = (shared.plan, shared.registry, shared.opts);
    let mut report = RunReport {
        emoflow_version: env!("CARGO_PKG_VERSION").to_string(),
        graph: plan.graph.path.display().to_string(),
        name: plan.graph.name.clone(),
        status: RunStatus::Ok,
        seconds: utilisation.wall_seconds,
        params: plan
            .graph
            .params
            .iter()
            .map(|(k, v)| (k.name.clone(), v.to_json()))
            .collect(),
        nodes: BTreeMap::new(),
        metrics: Vec::new(),
        files: Vec::new(),
        sweep: None,
        utilisation,
        plugin_loads: registry
            .loads
            .iter()
            .map(|(path, seconds)| PluginLoad {
                library: path.display().to_string(),
                seconds: *seconds,
            })
            .collect(),
    };
    let mut inputs: Vec<std::collections::BTreeSet<&str>> =
        vec![Default::default(); plan.nodes.len()];
    for (from, readers) in consumers(plan).into_iter().enumerate() {
        for reader in readers {
            inputs[reader].insert(&plan.nodes[from].name);
        }
    }
    for (i, (node, track)) in plan.nodes.iter().zip(scheduler.nodes).enumerate() {
        let Track::Ended {
            entry,
            report: ended,
            ..
        } = track
        else {
            continue;
        };
        let mut node_report = *ended;
        node_report.inputs = inputs[i].iter().map(|s| s.to_string()).collect();
        node_report.shows = node
            .provider
            .kind
            .outputs
            .iter()
            .filter_map(|o| Some((o.name.clone(), o.shows.clone()?)))
            .collect();
        if let Some(entry) = &entry {
            let trial = plan.sweep.as_ref().and_then(|s| s.labels.get(&i));
            collect_outputs(&node.name, trial, &node.provider.kind, entry, &mut report);
        }
        report.nodes.insert(node.name.clone(), node_report);
    }
    if let Some(sweep) = plan.sweep.as_ref().filter(|_| opts.only.is_none()) {
        report.sweep = Some(sweep_report(sweep, &scheduler.rules));
    }
    let statuses: Vec<Status> = report.nodes.values().map(|r| r.status).collect();
    report.status = if opts.cancel.load(Ordering::Relaxed) || statuses.contains(&Status::Cancelled)
    {
        RunStatus::Cancelled
    } else if statuses.contains(&Status::Failed) {
        RunStatus::Failed
    } else {
        RunStatus::Ok
    };
    report
}

/// run.json's `sweep`: every trial's values under each rule, and the trial
/// each rule chose per group.
fn sweep_report(
    sweep: &crate::sweep::Sweep,
    rules: &[Option<std::result::Result<RuleSelection, String>>],
) -> SweepReport {
    let decided: Vec<(&String, &RuleSelection)> = sweep
        .rules
        .iter()
        .zip(rules)
        .filter_map(|(r, s)| Some((&r.node, s.as_ref()?.as_ref().ok()?)))
        .collect();
    SweepReport {
        select: sweep.rules.clone(),
        trials: sweep
            .trials
            .iter()
            .enumerate()
            .map(|(t, trial)| TrialReport {
                id: trial.id.clone(),
                params: trial.params.clone(),
                values: decided
                    .iter()
                    .map(|(rule, (_, values))| (rule.to_string(), values[t].clone()))
                    .collect(),
            })
            .collect(),
        selected: decided
            .iter()
            .map(|(rule, (chosen, _))| {
                let by_group = chosen
                    .iter()
                    .map(|(g, (t, _))| (g.clone(), sweep.trials[*t].id.clone()))
                    .collect();
                (rule.to_string(), by_group)
            })
            .collect(),
    }
}

/// Runs (or fetches from the cache) one node: in this process, or in a
/// worker process when its kind asks for one.
fn execute(shared: &Shared, launch: Launch) -> Executed {
    let (plan, opts) = (shared.plan, shared.opts);
    let node = &plan.nodes[launch.index];
    let kind = &node.provider.kind;
    let span = tracing::info_span!("node", name = %node.name, kind = %kind.kind);
    let _guard = span.enter();
    let mut executed = Executed {
        key: launch.key.clone(),
        result: Err(Error::cancelled()),
        worker: None,
        input_files: None,
    };
    executed.result = (|| {
        if let Some(dir) = &node.frozen {
            return Ok((Status::Frozen, Entry::read(dir)?));
        }
        // The node says which files it will read; their contents are part of
        // its key, so an edited corpus is never served from the cache.
        let created = node.provider.plugin.create(&kind.kind, &node.params)?;
        let files = created.input_files()?;
        if !files.is_empty() {
            let fingerprint = shared.stat_cache.fingerprint(&files)?;
            executed.key = cache::with_files(&launch.key, &fingerprint.hash);
            executed.input_files = Some(fingerprint);
        }
        let key = &executed.key;
        let cacheable = opts.use_cache && kind.cacheable;
        let _held = match cacheable
            .then(|| shared.cache.claim(key, &node.name))
            .transpose()?
        {
            Some(cache::Claim::Hit(entry)) => {
                tracing::info!("cached");
                return Ok((Status::Cached, entry));
            }
            Some(cache::Claim::Build(lock)) => Some(lock),
            None => None,
        };
        let store = if cacheable {
            &shared.cache
        } else {
            &shared.work
        };
        let stage_key = if cacheable {
            key.to_string()
        } else {
            node.name.clone()
        };
        let mut staging = store.stage(&stage_key)?;
        let artifact_dir = if kind.cacheable {
            staging.artifact_dir()
        } else {
            opts.out.join(&node.name)
        };
        std::fs::create_dir_all(&artifact_dir).map_err(|e| Error::io(&artifact_dir, e))?;

        let bar = node_bar(&opts.progress, &node.name);
        let host = EngineHost {
            node: node.name.clone(),
            bar: bar.clone(),
            registry: shared.registry,
        };
        let settings = RunSettings {
            node_name: node.name.clone(),
            device: opts.device.clone(),
            threads: launch.threads,
            artifact_dir,
            cancel: opts.cancel.clone(),
        };
        tracing::info!("running");
        let result = if kind.own_process {
            drop(created);
            let job = worker_job(shared, node, &launch, &settings, staging.dir.clone());
            let (ports, usage) = shared.workers.run(&job, &host, &opts.cancel);
            executed.worker = usage;
            ports.map(|ports| staging.add_ports(ports))
        } else {
            run_node(created, launch.inputs, &host, &settings, &mut staging)
        };
        bar.finish_and_clear();
        opts.progress.remove(&bar);
        // The scheduler's report names the node.
        result?;
        let entry = staging.commit(&node.name, &kind.kind, store)?;
        Ok((Status::Ran, entry))
    })();
    executed
}

/// A node's progress bar under the run's.
fn node_bar(progress: &MultiProgress, name: &str) -> ProgressBar {
    let bar = progress.add(ProgressBar::new(0));
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    bar
}

/// What a worker process needs to run `node` into `staging_dir`.
fn worker_job(
    shared: &Shared,
    node: &PlannedNode,
    launch: &Launch,
    settings: &RunSettings,
    staging_dir: PathBuf,
) -> Job {
    Job {
        plugin_paths: shared.registry.plugin_paths.clone(),
        library: node.provider.plugin.path().to_path_buf(),
        kind: node.provider.kind.kind.clone(),
        params: node.params.clone(),
        node_name: settings.node_name.clone(),
        device: settings.device.clone(),
        threads: settings.threads,
        artifact_dir: settings.artifact_dir.clone(),
        staging_dir,
        inputs: launch
            .inputs
            .iter()
            .map(|w| w.iter().map(InputSource::new).collect())
            .collect(),
    }
}

/// Runs a created node in this process, writing its outputs into `staging`
/// (the engine's own nodes, and a worker process's one).
pub(crate) fn run_node(
    mut node: ForeignNode,
    inputs: Vec<Vec<(Entry, String, Option<String>)>>,
    host: &dyn Host,
    settings: &RunSettings,
    staging: &mut Staging,
) -> Result<()> {
    let streams: Vec<Option<InputStream>> =
        inputs.into_iter().map(open_input).collect::<Result<_>>()?;
    let outputs = node.run(host, settings, streams)?;
    for stream in outputs {
        let port = stream.port().to_string();
        staging.write_port(&port, stream)?;
    }
    Ok(())
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
        let has_dim = reader
            .schema()
            .column_with_name(conventions::column::DIM)
            .is_some();
        if !has_dim && !whole.insert((entry.dir.clone(), port.clone())) {
            continue;
        }
        schema.get_or_insert_with(|| reader.schema());
        for batch in reader {
            let batch = batch?;
            batches.push(
                match (dim, batch.column_by_name(conventions::column::DIM)) {
                    (Some(dim), Some(column)) => {
                        let keep = arrow::compute::kernels::cmp::eq(
                            column,
                            &arrow::array::StringArray::new_scalar(dim.as_str()),
                        )?;
                        arrow::compute::filter_record_batch(&batch, &keep)?
                    }
                    _ => batch,
                },
            );
        }
    }
    let schema = schema.expect("at least one source");
    Ok(Some(Box::new(
        arrow::record_batch::RecordBatchIterator::new(batches.into_iter().map(Ok), schema),
    )))
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
            entry
                .open(port)?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(Error::from)
        };
        match output.port_type.as_str() {
            port::METRICS => match read(&output.name).and_then(|b| MetricRow::read_all(&b)) {
                Ok(rows) => report.metrics.extend(rows.into_iter().map(|r| {
                    MetricReport {
                        node: node.to_string(),
                        name: r.name,
                        dim: r.dim,
                        split: r.split,
                        value: r.value,
                        labels: r
                            .labels
                            .into_iter()
                            .chain(trial.map(|t| ("trial".to_string(), t.clone())))
                            .collect(),
                    }
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

    unsafe fn call_tensor_fn(
        &self,
        kind: &str,
        params: &str,
        inputs: &[*mut c_void],
    ) -> Result<*mut c_void> {
        // SAFETY: forwarded from the node, which upholds the contract.
        unsafe { self.registry.call_tensor_fn(kind, params, inputs) }
    }
}

/// Writes `run.json` atomically, then the page drawn from it (`index.html`).
pub fn write_report(out: &Path, report: &RunReport) -> Result<PathBuf> {
    let path = out.join("run.json");
    let json = serde_json::to_vec_pretty(report).expect("reports serialize");
    cache::write_atomic(&path, &json)?;
    crate::report::write(out)?;
    Ok(path)
}
