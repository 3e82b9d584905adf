//! `emoflow`: runs, checks and inspects emoflow graphs.
//!
//! Exit status: 0 success, 1 a node failed, 2 invalid graph or usage.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use clap::{Parser, Subcommand};
use indicatif::{MultiProgress, ProgressDrawTarget};

use emoflow_engine::diag::{self, Diagnostic, Sources};
// std's print macros panic on a closed pipe (`emoflow plugins | head -1`);
// these write the same and never panic.
use emoflow_engine::{eprint, eprintln, print, println};
use emoflow_engine::registry::Registry;
use emoflow_engine::validate::{self, Plan};
use emoflow_engine::{
    cache_cmd, compare, compose, doctor, export, graph, graph_test, lock, places, plugin_check, plugin_new, predict, report, run, sweep,
};

#[derive(Parser)]
#[command(name = "emoflow", version, about = "Dataflow graphs for continuous speech emotion recognition")]
struct Cli {
    /// Extra plugin directory (searched before EMOFLOW_PLUGIN_PATH and the
    /// standard nodes next to the executable); repeatable.
    #[arg(long = "plugin-path", global = true, value_name = "DIR")]
    plugin_path: Vec<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct GraphArgs {
    /// The graph file.
    graph: PathBuf,
    /// Override a graph parameter (KEY=VALUE) or a node parameter (NODE.PARAM=VALUE).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Apply the graph's [test] preset (small data, few epochs).
    #[arg(long)]
    preset_test: bool,
}

/// Where and how a graph runs here.
#[derive(clap::Args)]
struct ExecArgs {
    /// Output directory (run.json, reports); default out/GRAPH_NAME.
    #[arg(long)]
    out: Option<PathBuf>,
    /// cpu, cuda:N or auto (CUDA when available).
    #[arg(long, default_value = "auto")]
    device: String,
    /// Threads for the run (default: the cores): nodes run in parallel
    /// within it; a training holds its `threads` (default 1) while it runs.
    #[arg(long, default_value_t = default_jobs())]
    jobs: usize,
    /// Cache directory (default: .emoflow/cache, or EMOFLOW_CACHE).
    #[arg(long)]
    cache: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Validate and run a graph.
    Run {
        #[command(flatten)]
        graph: GraphArgs,
        #[command(flatten)]
        exec: ExecArgs,
        /// Run every node; neither read nor write the cache.
        #[arg(long)]
        no_cache: bool,
        /// Refuse to run unless every plugin the graph uses matches the
        /// graph's lock file (GRAPH with extension .lock; `emoflow lock`).
        #[arg(long)]
        locked: bool,
        /// Where the work runs: here, or as Slurm jobs (a sweep's trials as
        /// one job array, then the selection and reports) sharing --cache.
        #[arg(long, value_enum, default_value = "local")]
        executor: Executor,
        /// An sbatch option for the Slurm executor (repeatable), after the
        /// graph's [slurm] table: --sbatch=--partition=gpu
        #[arg(long = "sbatch", value_name = "OPTION", allow_hyphen_values = true)]
        sbatch: Vec<String>,
        /// Run only trial I of the graph's sweep (what a Slurm array task runs).
        #[arg(long, value_name = "I")]
        trial: Option<usize>,
    },
    /// Export a trained system as a bundle for `emoflow predict`: runs the
    /// graph (from the cache when it has run) and writes BUNDLE.
    Export {
        #[command(flatten)]
        graph: GraphArgs,
        /// The node whose predictions the bundle gives, e.g. `decoded`; after
        /// a sweep, for each dimension the trial its select rule chose.
        #[arg(long)]
        system: String,
        /// The bundle directory to write (an earlier bundle there is replaced).
        bundle: PathBuf,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Apply an exported system to recordings: arousal and valence every
    /// 40 ms of each, as CSV, AVEC-style ARFF and a plot.
    Predict {
        /// A bundle written by `emoflow export`.
        bundle: PathBuf,
        /// WAV files, or directories of them (their *.wav files).
        #[arg(required = true)]
        audio: Vec<PathBuf>,
        /// Output directory: csv/, arff/, plot/ and predict.json.
        #[arg(long, default_value = "out/predict")]
        out: PathBuf,
        /// cpu, cuda:N or auto (CUDA when available).
        #[arg(long, default_value = "auto")]
        device: String,
        #[arg(long, default_value_t = default_jobs())]
        jobs: usize,
    },
    /// Pin the plugins a graph uses: write GRAPH's lock file (same name,
    /// extension .lock) with each plugin's hash, for `run --locked`.
    Lock {
        #[command(flatten)]
        graph: GraphArgs,
    },
    /// Validate graphs only: exit 0 when valid, 2 when not.
    Check {
        graphs: Vec<PathBuf>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// List the node kinds the plugins provide.
    Plugins {
        /// Machine-readable: ports, parameter schemas, docs, files.
        #[arg(long)]
        json: bool,
    },
    /// CI graph tests: validate every graph, run its [test] preset, check
    /// its [[expect]] assertions. Prints `N passed, N failed`.
    Test {
        /// Graph files or directories (searched recursively for .toml).
        #[arg(default_value = "graphs")]
        paths: Vec<PathBuf>,
        /// Where each graph's run goes (OUT/GRAPH_NAME).
        #[arg(long, default_value = "out/test")]
        out: PathBuf,
        #[arg(long, default_value_t = default_jobs())]
        jobs: usize,
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// Write the deterministic synthetic corpus in the AVEC 2016 layout.
    Synth {
        out_dir: PathBuf,
        /// Seconds per recording.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Recordings per split (train, dev, test).
        #[arg(long, default_value_t = 3)]
        per_split: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Audio sample rate in Hz (8000 to 96000; AVEC 2016's audio is 44100).
        #[arg(long, default_value_t = 16000)]
        sample_rate: u32,
    },
    /// Plugin tools.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Inspect the cache, verify it, remove what no graph uses.
    Cache {
        /// Cache directory (default: .emoflow/cache, or EMOFLOW_CACHE).
        #[arg(long, global = true)]
        cache: Option<PathBuf>,
        #[command(subcommand)]
        command: cache_cmd::CacheCommand,
    },
    /// What this machine can do and what to fix: plugins, libtorch, CUDA,
    /// the cache's disk, Slurm. Exit 0 when the demo can run.
    Doctor {
        /// The cache directory to check (default as for `run`).
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Also check that Slurm answers (for --executor slurm).
        #[arg(long)]
        slurm: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `emoflow man > emoflow.1`.
    Man,
    /// Runs one node for `emoflow run` (started by it, not by hand).
    #[command(hide = true)]
    Worker,
    /// Redraw OUT/index.html, the run's page, from OUT/run.json and the cache.
    Report {
        /// A run's --out directory.
        out: PathBuf,
    },
    /// Graph parameters that differ between runs and every metric side by
    /// side with its difference from the first run; also as a page.
    Compare {
        /// Run --out directories; the first is the baseline.
        #[arg(required = true, num_args = 2..)]
        runs: Vec<PathBuf>,
        /// Where to write the page (default: FIRST_RUN/compare.html).
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Only the metrics that moved (or are missing from a run).
        #[arg(long)]
        changed: bool,
    },
    /// Print a graph's DAG.
    Graph {
        #[command(flatten)]
        graph: GraphArgs,
        /// As Graphviz DOT.
        #[arg(long)]
        dot: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Executor {
    Local,
    Slurm,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Conformance of a built plugin: handshake, description, each kind run
    /// on fixtures from its declared schemas, buffers released.
    Check {
        /// The plugin library (.so).
        library: PathBuf,
        /// Parameters to run a kind with, as JSON (repeatable):
        /// --params 'decode.median={"window": 5}'
        #[arg(long = "params", value_name = "KIND=JSON")]
        params: Vec<String>,
    },
    /// A new plugin project outside the tree: one kind of a family with
    /// harness tests, and a graph that puts it in the demo.
    New(plugin_new::NewArgs),
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The progress bars, shared with the log writer so lines do not tear them.
fn progress() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(|| {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        MultiProgress::with_draw_target(target)
    })
}

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        progress().suspend(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EMOFLOW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_target(false)
        .compact()
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Worker => ExitCode::from(emoflow_engine::worker::serve()),
        // Rendered in memory, then printed by the pipe-safe macro.
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "emoflow", &mut script);
            print!("{}", String::from_utf8_lossy(&script));
            ExitCode::SUCCESS
        }
        Command::Man => {
            let mut page = Vec::new();
            match clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut page) {
                Ok(()) => {
                    print!("{}", String::from_utf8_lossy(&page));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Doctor { cache, slurm } => {
            let registry = Registry::discover(&cli.plugin_path);
            let opts = doctor::Options { cache_dir: cache_dir(cache), slurm };
            let checks = doctor::checks(&registry, &opts);
            for check in &checks {
                println!("{} {:<9} {}", if check.ok { "ok  " } else { "FAIL" }, check.name, check.found);
                if let Some(fix) = &check.fix {
                    println!("     {:<9} fix: {fix}", "");
                }
            }
            if checks.iter().all(|c| c.ok) { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Command::Run { graph, exec: ExecArgs { out, device, jobs, cache }, no_cache, locked, executor, sbatch, trial } => {
            let (plan, registry) = match prepare(&graph, &cli.plugin_path) {
                Ok(p) => p,
                Err(code) => return code,
            };
            if locked && let Err(problems) = lock::check(&graph.graph, &plan, &registry) {
                for p in problems {
                    eprintln!("error: {p}");
                }
                return ExitCode::from(2);
            }
            let out = out.unwrap_or_else(|| PathBuf::from("out").join(&plan.graph.name));
            if let Err(code) = check_places(&out, (!no_cache).then_some(&cache)) {
                return code;
            }
            let cache_dir = cache_dir(cache);
            if executor == Executor::Slurm {
                if no_cache {
                    eprintln!("error: the Slurm executor passes results between jobs through the cache: drop --no-cache");
                    return ExitCode::from(2);
                }
                return run_on_slurm(&plan, &graph, &cli.plugin_path, &out, &cache_dir, &device, jobs, sbatch);
            }
            let only = match (trial, &plan.sweep) {
                (None, _) => None,
                (Some(t), Some(sweep)) if t < sweep.trials.len() => Some(sweep.trial_nodes(&plan, t)),
                (Some(t), sweep) => {
                    eprintln!(
                        "error: --trial {t}: the graph has {} trials",
                        sweep.as_ref().map_or(0, |s| s.trials.len())
                    );
                    return ExitCode::from(2);
                }
            };
            let cancel = Arc::new(AtomicBool::new(false));
            install_ctrl_c(cancel.clone());
            let opts = run::RunOptions { only, ..local_run(&out, cache_dir, !no_cache, jobs, device, cancel) };
            let report = run::run(&plan, &registry, &opts);
            print_reports(&report);
            match run::write_report(&out, &report) {
                Ok(path) => eprintln!("{}: {} in {:.1} s; wrote {}", plan.graph.name, report.status, report.seconds, path.display()),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            }
            if report.succeeded() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Command::Export { graph, system, bundle, exec: ExecArgs { out, device, jobs, cache } } => {
            let (plan, registry) = match prepare(&graph, &cli.plugin_path) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let out = out.unwrap_or_else(|| PathBuf::from("out").join(&plan.graph.name));
            if let Err(code) = check_places(&out, Some(&cache)) {
                return code;
            }
            let cancel = Arc::new(AtomicBool::new(false));
            install_ctrl_c(cancel.clone());
            let opts = local_run(&out, cache_dir(cache), true, jobs, device, cancel);
            let report = run::run(&plan, &registry, &opts);
            if let Err(e) = run::write_report(&out, &report) {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
            let request = export::ExportRequest {
                system: &system,
                bundle: &bundle,
                graph_path: &graph.graph,
                sets: &graph.set,
                preset_test: graph.preset_test,
            };
            match export::export(&plan, &registry, &report, &request) {
                Ok(manifest) => {
                    for s in &manifest.selection {
                        eprintln!("{}: {}", s.group, s.node);
                    }
                    eprintln!("wrote bundle {} ({} nodes, {} files)", bundle.display(), manifest.nodes.len(), manifest.files.len());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: export of `{system}`: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Predict { bundle, audio, out, device, jobs } => predict(&bundle, &audio, &out, device, jobs, &cli.plugin_path),
        Command::Lock { graph } => {
            let (plan, registry) = match prepare(&graph, &cli.plugin_path) {
                Ok(p) => p,
                Err(code) => return code,
            };
            match lock::write(&graph.graph, &plan, &registry) {
                Ok(path) => {
                    eprintln!("wrote {}", path.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Check { graphs, set } => {
            if graphs.is_empty() {
                eprintln!("error: name at least one graph file");
                return ExitCode::from(2);
            }
            let registry = discover(&cli.plugin_path);
            let mut ok = true;
            for path in graphs {
                let args = GraphArgs { graph: path.clone(), set: set.clone(), preset_test: false };
                match build_plan(&args, &registry) {
                    Ok(plan) => eprintln!("{}: valid ({} nodes)", path.display(), plan.nodes.len()),
                    Err(()) => ok = false,
                }
            }
            if ok { ExitCode::SUCCESS } else { ExitCode::from(2) }
        }
        Command::Test { paths, out, jobs, cache } => {
            if let Err(code) = check_places(&out, Some(&cache)) {
                return code;
            }
            let registry = discover(&cli.plugin_path);
            let cancel = Arc::new(AtomicBool::new(false));
            install_ctrl_c(cancel.clone());
            let (mut passed, mut failed) = (0usize, 0usize);
            for path in graph_test::collect(&paths) {
                if graph::load(&path, &mut Sources::default()).is_ok_and(|g| g.fragment) {
                    eprintln!("ok   {}: a fragment (read, not run)", path.display());
                    passed += 1;
                    continue;
                }
                let args = GraphArgs { graph: path.clone(), set: Vec::new(), preset_test: true };
                let Ok(plan) = build_plan(&args, &registry) else {
                    eprintln!("FAIL {}: invalid graph", path.display());
                    failed += 1;
                    continue;
                };
                if plan.graph.test.is_none() {
                    eprintln!("ok   {}: valid (no [test] preset to run)", path.display());
                    passed += 1;
                    continue;
                }
                let run_out = out.join(&plan.graph.name);
                let opts = local_run(&run_out, cache_dir(cache.clone()), true, jobs, "auto".into(), cancel.clone());
                let report = run::run(&plan, &registry, &opts);
                let _ = run::write_report(&run_out, &report);
                let mut problems = Vec::new();
                if !report.succeeded() {
                    problems.push(format!("the run {}", report.status));
                }
                for expect in &plan.graph.expects {
                    match graph_test::check(expect, &report, &run_out) {
                        Ok(line) => eprintln!("       {line}"),
                        Err(problem) => problems.push(problem),
                    }
                }
                if problems.is_empty() {
                    eprintln!("ok   {} ({} expectations, {:.1} s)", path.display(), plan.graph.expects.len(), report.seconds);
                    passed += 1;
                } else {
                    eprintln!("FAIL {}:", path.display());
                    for p in problems {
                        eprintln!("       {p}");
                    }
                    failed += 1;
                }
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
            }
            println!("{passed} passed, {failed} failed");
            if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Command::Plugin { command: PluginCommand::Check { library, params } } => {
            let mut by_kind = std::collections::BTreeMap::new();
            for given in &params {
                let parsed = given.split_once('=').ok_or("expected KIND=JSON").and_then(|(kind, json)| {
                    serde_json::from_str::<serde_json::Value>(json).map(|v| (kind.to_string(), v)).map_err(|_| "the JSON does not parse")
                });
                match parsed {
                    Ok((kind, value)) => {
                        by_kind.insert(kind, value);
                    }
                    Err(why) => {
                        eprintln!("error: --params {given}: {why}");
                        return ExitCode::from(2);
                    }
                }
            }
            plugin_check_report(&library, &by_kind)
        }
        Command::Plugin { command: PluginCommand::New(args) } => plugin_new::main(&args),
        Command::Synth { out_dir, seconds, per_split, seed, sample_rate } => {
            use emoflow_audio::synthetic::{SynthOptions, write_corpus};
            let opts = SynthOptions { seconds, per_split, seed, sample_rate, ..SynthOptions::default() };
            match write_corpus(&out_dir, &opts) {
                Ok(summary) => {
                    eprintln!("wrote {} recordings ({} files) to {}", summary.recordings, summary.files.len(), out_dir.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Cache { cache, command } => cache_cmd::run(&cache_dir(cache), command),
        Command::Report { out } => match report::write(&out) {
            Ok(path) => {
                eprintln!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Compare { runs, html, changed } => {
            let comparison = match compare::compare(&runs) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            print!("{}", comparison.text(changed));
            let path = html.unwrap_or_else(|| compare::default_html(&runs[0]));
            match emoflow_engine::cache::write_atomic(&path, comparison.html(changed).as_bytes()) {
                Ok(()) => {
                    eprintln!("wrote {}", path.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Plugins { json } => {
            let registry = discover(&cli.plugin_path);
            list_plugins(&registry, json);
            ExitCode::SUCCESS
        }
        Command::Graph { graph, dot } => {
            let (plan, _) = match prepare(&graph, &cli.plugin_path) {
                Ok(p) => p,
                Err(code) => return code,
            };
            if dot {
                print!("{}", plan.dot());
            } else {
                for node in &plan.nodes {
                    let inputs: Vec<String> = node
                        .provider
                        .kind
                        .inputs
                        .iter()
                        .zip(&node.inputs)
                        .flat_map(|(p, w)| w.iter().map(|(from, port)| format!("{} <- {}.{}", p.name, plan.nodes[*from].name, port)))
                        .collect();
                    println!("{} ({}): {}", node.name, node.provider.kind.kind, inputs.join(", "));
                }
            }
            ExitCode::SUCCESS
        }
    }
}

/// `emoflow plugin check`: a line per kind, exit 1 when any failed.
fn plugin_check_report(library: &Path, params: &std::collections::BTreeMap<String, serde_json::Value>) -> ExitCode {
    let results = match plugin_check::check(library, params) {
        Ok(results) => results,
        Err(e) => {
            eprintln!("FAIL {}: {e}", library.display());
            return ExitCode::from(1);
        }
    };
    for r in &results {
        match (&r.skipped, r.problems.is_empty()) {
            (_, false) => {
                println!("FAIL {}:", r.kind);
                for p in &r.problems {
                    println!("       {p}");
                }
            }
            (Some(why), true) => println!("skip {}: not run: {why}", r.kind),
            (None, true) => println!("ok   {}: {}", r.kind, r.note),
        }
    }
    let failed = results.iter().filter(|r| !r.problems.is_empty()).count();
    let skipped = results.iter().filter(|r| r.problems.is_empty() && r.skipped.is_some()).count();
    println!("{} passed, {failed} failed, {skipped} not run", results.len() - failed - skipped);
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// The Slurm executor: the same `emoflow run` as jobs, absolute paths.
#[allow(clippy::too_many_arguments)]
fn run_on_slurm(
    plan: &Plan,
    graph: &GraphArgs,
    plugin_paths: &[PathBuf],
    out: &Path,
    cache: &Path,
    device: &str,
    jobs: usize,
    sbatch: Vec<String>,
) -> ExitCode {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string();
    let mut run_args = vec![std::env::current_exe().map_or_else(|_| "emoflow".into(), |e| absolute(&e))];
    for dir in plugin_paths {
        run_args.extend(["--plugin-path".into(), absolute(dir)]);
    }
    run_args.extend(["run".into(), absolute(&graph.graph)]);
    for set in &graph.set {
        run_args.extend(["--set".into(), set.clone()]);
    }
    if graph.preset_test {
        run_args.push("--preset-test".into());
    }
    run_args.extend(["--cache".into(), absolute(cache), "--device".into(), device.into(), "--jobs".into(), jobs.to_string()]);
    let mut options = match emoflow_engine::slurm::graph_options(plan.graph.slurm.as_ref()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {}: {e}", graph.graph.display());
            return ExitCode::from(2);
        }
    };
    options.extend(sbatch);
    let job = emoflow_engine::slurm::SlurmJob { plan, run_args, out: std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf()), sbatch: options };
    match emoflow_engine::slurm::run(&job) {
        Ok(true) => {
            eprintln!("{}: ok on Slurm; wrote {}", plan.graph.name, out.join("run.json").display());
            ExitCode::SUCCESS
        }
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn local_run(out: &Path, cache_dir: PathBuf, use_cache: bool, jobs: usize, device: String, cancel: Arc<AtomicBool>) -> run::RunOptions {
    run::RunOptions {
        out: out.to_path_buf(),
        cache_dir,
        use_cache,
        jobs: jobs.max(1),
        device,
        cancel,
        progress: progress().clone(),
        only: None,
    }
}

/// `emoflow predict`: the bundle's graph once per recording, so that a
/// recording that fails (too short, unreadable) costs only its own outputs.
fn predict(bundle: &Path, audio: &[PathBuf], out: &Path, device: String, jobs: usize, plugin_paths: &[PathBuf]) -> ExitCode {
    let (manifest, files) = match predict::open_bundle(bundle).and_then(|m| Ok((m, predict::recordings(audio)?))) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let absolute = |p: &Path| toml::Value::from(std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string()).to_string();
    let registry = discover(plugin_paths);
    let cancel = Arc::new(AtomicBool::new(false));
    install_ctrl_c(cancel.clone());
    let bar = progress().add(indicatif::ProgressBar::new(files.len() as u64));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} recordings {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix("predict");
    let mut results = Vec::new();
    for file in &files {
        bar.set_message(file.display().to_string());
        let args = GraphArgs {
            graph: bundle.join(export::GRAPH),
            set: vec![format!("audio=[{}]", absolute(file)), format!("bundle={}", absolute(bundle))],
            preset_test: false,
        };
        let outcome = match build_plan(&args, &registry) {
            Err(()) => Err("the bundle's graph is invalid with this emoflow's plugins".to_string()),
            Ok(plan) => {
                let opts = local_run(out, out.join(".work"), false, jobs, device.clone(), cancel.clone());
                let report = run::run(&plan, &registry, &opts);
                if report.succeeded() {
                    Ok(report.files)
                } else {
                    let failed = report.nodes.iter().filter_map(|(n, r)| Some(format!("node `{n}`: {}", r.error.as_ref()?)));
                    Err(failed.collect::<Vec<_>>().join("; ")).map_err(|e| if e.is_empty() { report.status.to_string() } else { e })
                }
            }
        };
        if let Err(e) = &outcome {
            progress().suspend(|| eprintln!("error: {}: {e}", file.display()));
        }
        results.push(serde_json::json!({
            "recording": file.display().to_string(),
            "status": if outcome.is_ok() { "ok" } else { "failed" },
            "files": outcome.as_ref().map(|f| f.iter().map(|f| f.path.clone()).collect::<Vec<_>>()).unwrap_or_default(),
            "error": outcome.as_ref().err(),
        }));
        bar.inc(1);
        if cancel.load(Ordering::Relaxed) {
            break;
        }
    }
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(out.join(".work"));
    let ok = results.iter().filter(|r| r["status"] == "ok").count();
    let summary = serde_json::json!({ "bundle": bundle.display().to_string(), "system": manifest.system, "recordings": results });
    let path = out.join("predict.json");
    if let Err(e) = emoflow_engine::cache::write_atomic(&path, &serde_json::to_vec_pretty(&summary).expect("JSON")) {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    eprintln!(
        "predicted {ok} of {} recordings with `{}`: {}/csv, {}/arff, {}/plot; wrote {}",
        files.len(),
        manifest.system,
        out.display(),
        out.display(),
        out.display(),
        path.display()
    );
    if ok == files.len() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// Checks `--out` and, when the cache is used, `--cache` before anything
/// runs: exit 2 naming the flag and the path.
fn check_places(out: &Path, cache_flag: Option<&Option<PathBuf>>) -> Result<(), ExitCode> {
    let checked = places::check_out(out, "--out").and_then(|()| {
        let Some(flag) = cache_flag else { return Ok(()) };
        let origin = match (flag, std::env::var_os("EMOFLOW_CACHE")) {
            (Some(_), _) => "--cache",
            (None, Some(_)) => "EMOFLOW_CACHE",
            (None, None) => "the default --cache",
        };
        places::check_cache(&cache_dir(flag.clone()), origin)
    });
    checked.map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

fn cache_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os("EMOFLOW_CACHE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".emoflow/cache"))
}

fn install_ctrl_c(cancel: Arc<AtomicBool>) {
    let _ = ctrlc::set_handler(move || {
        if cancel.swap(true, Ordering::SeqCst) {
            // A second Ctrl-C: stop now.
            std::process::exit(130);
        }
        eprintln!("\nstopping: waiting for running nodes to save and stop (Ctrl-C again to abort)");
    });
}

fn discover(plugin_paths: &[PathBuf]) -> Registry {
    let registry = Registry::discover(plugin_paths);
    for problem in &registry.problems {
        tracing::warn!("{problem}");
    }
    registry
}

fn prepare(args: &GraphArgs, plugin_paths: &[PathBuf]) -> Result<(Plan, Registry), ExitCode> {
    let registry = discover(plugin_paths);
    let plan = build_plan(args, &registry).map_err(|()| ExitCode::from(2))?;
    Ok((plan, registry))
}

/// Loads, composes and validates a graph; prints every problem.
fn build_plan(args: &GraphArgs, registry: &Registry) -> Result<Plan, ()> {
    let mut sources = Sources::default();
    let result = (|| {
        let mut graph = graph::load(&args.graph, &mut sources)?;
        let mut diags = Vec::new();
        if args.preset_test {
            diags.extend(graph::apply_test_preset(&mut graph));
        }
        diags.extend(graph::apply_sets(&mut graph, &args.set, &mut sources));
        for swap in compose::resolve_swaps(&mut graph, registry) {
            tracing::info!("{}", swap.describe(&sources));
        }
        diags.extend(graph::apply_defaults(&mut graph));
        diags.extend(compose::check_requirements(&graph, registry));
        diags.extend(graph::substitute_params(&mut graph));
        if !diags.is_empty() {
            return Err(diags);
        }
        if graph.name.is_empty() {
            graph.name = args.graph.file_stem().and_then(|s| s.to_str()).unwrap_or("graph").to_string();
        }
        if graph.sweep.is_none() {
            return validate::validate(graph, registry);
        }
        // Once as written, so that a mistake is reported once, not per trial;
        // then expanded, which checks the swept values.
        validate::validate(graph.clone(), registry)?;
        let expanded = sweep::expand(&mut graph)?;
        let mut plan = validate::validate(graph, registry)?;
        plan.sweep = expanded.map(|e| e.resolve(&plan));
        Ok(plan)
    })();
    result.map_err(|diags| report(&sources, &diags))
}

fn report(sources: &Sources, diags: &[Diagnostic]) {
    let color = std::io::stderr().is_terminal();
    eprint!("{}", diag::render(sources, diags, color));
    eprintln!("{} error{} found", diags.len(), if diags.len() == 1 { "" } else { "s" });
}

fn list_plugins(registry: &Registry, json: bool) {
    if json {
        let kinds: Vec<serde_json::Value> = registry
            .kinds()
            .map(|p| {
                let mut v = serde_json::to_value(&p.kind).expect("descriptions serialize");
                v["library"] = p.plugin.path().display().to_string().into();
                v["plugin"] = p.plugin.description().name.clone().into();
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&kinds).expect("JSON"));
        return;
    }
    for p in registry.kinds() {
        let k = &p.kind;
        let first_line = k.doc.lines().next().unwrap_or("");
        println!("{:<24} {first_line}", k.kind);
        let ports = |ports: &[emoflow_sdk::describe::PortDescription]| {
            ports.iter().map(|p| format!("{}: {}{}", p.name, p.port_type, if p.optional { "?" } else { "" })).collect::<Vec<_>>().join(", ")
        };
        println!("{:<24}   in  ({})  out ({})", "", ports(&k.inputs), ports(&k.outputs));
        if let Some(props) = k.params.get("properties").and_then(|p| p.as_object()) {
            let names: Vec<&str> = props.keys().map(String::as_str).collect();
            if !names.is_empty() {
                println!("{:<24}   params: {}", "", names.join(", "));
            }
        }
        println!("{:<24}   {} ({})", "", k.source_file, file_name(p.plugin.path()));
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Prints the Markdown reports written by report nodes.
fn print_reports(report: &run::RunReport) {
    for file in report.files.iter().filter(|f| f.format == "md") {
        if let Ok(text) = std::fs::read_to_string(&file.path) {
            println!("{text}");
        }
    }
}
