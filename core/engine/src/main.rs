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
use emoflow_engine::error::{Error, Result};
// std's print macros panic on a closed pipe (`emoflow plugins | head -1`);
// these write the same and never panic.
use emoflow_engine::registry::Registry;
use emoflow_engine::validate::{self, Plan};
use emoflow_engine::{
    cache_cmd, compare, compose, doctor, export, graph, graph_test, lock, places, plugin_check,
    plugin_new, predict, report, run, sweep,
};
use emoflow_engine::{eprint, eprintln, print, println};

#[derive(Parser)]
#[command(
    name = "emoflow",
    version,
    about = "Dataflow graphs for continuous speech emotion recognition"
)]
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
        /// Seconds per recording (1 to 3600).
        #[arg(long, default_value_t = 60.0, value_parser = seconds_per_recording)]
        seconds: f64,
        /// Recordings per split (train, dev, test; 1 to 1000).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
        per_split: u64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Audio sample rate in Hz (8000 to 96000; AVEC 2016's audio is 44100).
        #[arg(long, default_value_t = 16000, value_parser = clap::value_parser!(u32).range(8000..=96000))]
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
    Completions { shell: clap_complete::Shell },
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

/// `synth --seconds`: checked here, as the writer's parameters are, so that
/// the error names the flag rather than the built-in graph.
fn seconds_per_recording(text: &str) -> std::result::Result<f64, String> {
    let seconds: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if (1.0..=3600.0).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(format!("{seconds} is not in 1..=3600"))
    }
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
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            print_error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs a subcommand. `Ok` carries the outcome of work that ran (1: a node
/// or a test failed, reported as it happened); `Err` what stopped it. Long
/// only by its count of subcommands: each arm unpacks one's arguments and
/// calls its function.
fn dispatch(cli: Cli) -> Result<ExitCode> {
    let plugin_paths = &cli.plugin_path;
    match cli.command {
        Command::Worker => Ok(ExitCode::from(emoflow_engine::worker::serve())),
        Command::Completions { shell } => {
            // Rendered in memory, then printed by the pipe-safe macro.
            let mut script = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "emoflow",
                &mut script,
            );
            print!("{}", String::from_utf8_lossy(&script));
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                .render(&mut page)
                .map_err(|e| Error::Failed(e.to_string()))?;
            print!("{}", String::from_utf8_lossy(&page));
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor { cache, slurm } => Ok(doctor_command(plugin_paths, cache, slurm)),
        Command::Run {
            graph,
            exec,
            no_cache,
            locked,
            executor,
            sbatch,
            trial,
        } => {
            let options = RunCommand {
                no_cache,
                locked,
                executor,
                sbatch,
                trial,
            };
            run_command(&graph, exec, options, plugin_paths)
        }
        Command::Export {
            graph,
            system,
            bundle,
            exec,
        } => export_command(&graph, &system, &bundle, exec, plugin_paths),
        Command::Predict {
            bundle,
            audio,
            out,
            device,
            jobs,
        } => predict(&bundle, &audio, &out, device, jobs, plugin_paths),
        Command::Lock { graph } => {
            let (plan, registry) = prepare(&graph, plugin_paths)?;
            let path = lock::write(&graph.graph, &plan, &registry)?;
            eprintln!("wrote {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { graphs, set } => check_command(&graphs, &set, plugin_paths),
        Command::Test {
            paths,
            out,
            jobs,
            cache,
        } => test_command(&paths, &out, jobs, cache, plugin_paths),
        Command::Plugin {
            command: PluginCommand::Check { library, params },
        } => plugin_check_command(&library, &params),
        Command::Plugin {
            command: PluginCommand::New(args),
        } => plugin_new::main(&args),
        Command::Synth {
            out_dir,
            seconds,
            per_split,
            seed,
            sample_rate,
        } => {
            let sets = [
                format!("out={}", toml::Value::from(out_dir.display().to_string())),
                format!("seconds={seconds}"),
                format!("per_split={per_split}"),
                format!("seed={seed}"),
                format!("sample_rate={sample_rate}"),
            ];
            synth(&out_dir, sets.to_vec(), plugin_paths)
        }
        Command::Cache { cache, command } => cache_cmd::run(&cache_dir(cache), command),
        Command::Report { out } => {
            // The run directory is the user's to fix: exit 2.
            let path = report::write(&out).map_err(|e| Error::Usage(e.message))?;
            eprintln!("wrote {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare {
            runs,
            html,
            changed,
        } => {
            let comparison = compare::compare(&runs).map_err(|e| Error::Usage(e.message))?;
            print!("{}", comparison.text(changed));
            let path = html.unwrap_or_else(|| compare::default_html(&runs[0]));
            emoflow_engine::cache::write_atomic(&path, comparison.html(changed).as_bytes())?;
            eprintln!("wrote {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugins { json } => {
            list_plugins(&discover(plugin_paths), json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Graph { graph, dot } => {
            let (plan, _) = prepare(&graph, plugin_paths)?;
            print_graph(&plan, dot);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints what stopped a command: a graph's problems at their places, any
/// other error on one line (each problem of a lock check on its own).
fn print_error(e: &Error) {
    match e {
        Error::Graph { sources, diags } => report(sources, diags),
        Error::Locked(problems) => problems.iter().for_each(|p| eprintln!("error: {p}")),
        _ => eprintln!("error: {e}"),
    }
}

/// `emoflow doctor`: a line per check, exit 1 when any failed.
fn doctor_command(plugin_paths: &[PathBuf], cache: Option<PathBuf>, slurm: bool) -> ExitCode {
    let registry = Registry::discover(plugin_paths);
    let opts = doctor::Options {
        cache_dir: cache_dir(cache),
        slurm,
    };
    let checks = doctor::checks(&registry, &opts);
    for check in &checks {
        println!(
            "{} {:<9} {}",
            if check.ok { "ok  " } else { "FAIL" },
            check.name,
            check.found
        );
        if let Some(fix) = &check.fix {
            println!("     {:<9} fix: {fix}", "");
        }
    }
    if checks.iter().all(|c| c.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `emoflow run`'s own flags.
struct RunCommand {
    no_cache: bool,
    locked: bool,
    executor: Executor,
    sbatch: Vec<String>,
    trial: Option<usize>,
}

/// `emoflow run`: validates, runs here or on Slurm, writes run.json.
fn run_command(
    graph: &GraphArgs,
    exec: ExecArgs,
    options: RunCommand,
    plugin_paths: &[PathBuf],
) -> Result<ExitCode> {
    let ExecArgs {
        out,
        device,
        jobs,
        cache,
    } = exec;
    let RunCommand {
        no_cache,
        locked,
        executor,
        sbatch,
        trial,
    } = options;
    let (plan, registry) = prepare(graph, plugin_paths)?;
    if locked {
        lock::check(&graph.graph, &plan, &registry)?;
    }
    let out = out.unwrap_or_else(|| PathBuf::from("out").join(&plan.graph.name));
    check_places(&out, (!no_cache).then_some(&cache))?;
    let cache_dir = cache_dir(cache);
    if executor == Executor::Slurm {
        if no_cache {
            return Err(Error::Usage(
                "the Slurm executor passes results between jobs through the cache: drop --no-cache"
                    .into(),
            ));
        }
        return run_on_slurm(
            &plan,
            graph,
            plugin_paths,
            &out,
            &cache_dir,
            &device,
            jobs,
            sbatch,
        );
    }
    let only = match (trial, &plan.sweep) {
        (None, _) => None,
        (Some(t), Some(sweep)) if t < sweep.trials.len() => Some(sweep.trial_nodes(&plan, t)),
        (Some(t), sweep) => {
            let trials = sweep.as_ref().map_or(0, |s| s.trials.len());
            return Err(Error::Usage(format!(
                "--trial {t}: the graph has {trials} trials"
            )));
        }
    };
    let cancel = Arc::new(AtomicBool::new(false));
    install_ctrl_c(cancel.clone());
    let opts = run::RunOptions {
        only,
        ..local_run(&out, cache_dir, !no_cache, jobs, device, cancel)
    };
    let report = run::run(&plan, &registry, &opts);
    print_reports(&report);
    let path = run::write_report(&out, &report)?;
    eprintln!(
        "{}: {} in {:.1} s; wrote {}",
        plan.graph.name,
        report.status,
        report.seconds,
        path.display()
    );
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `emoflow export`: runs the graph (from the cache when it has run), then
/// writes the bundle of `system`.
fn export_command(
    graph: &GraphArgs,
    system: &str,
    bundle: &Path,
    exec: ExecArgs,
    plugin_paths: &[PathBuf],
) -> Result<ExitCode> {
    let ExecArgs {
        out,
        device,
        jobs,
        cache,
    } = exec;
    let (plan, registry) = prepare(graph, plugin_paths)?;
    let out = out.unwrap_or_else(|| PathBuf::from("out").join(&plan.graph.name));
    check_places(&out, Some(&cache))?;
    let cancel = Arc::new(AtomicBool::new(false));
    install_ctrl_c(cancel.clone());
    let opts = local_run(&out, cache_dir(cache), true, jobs, device, cancel);
    let report = run::run(&plan, &registry, &opts);
    run::write_report(&out, &report)?;
    let request = export::ExportRequest {
        system,
        bundle,
        graph_path: &graph.graph,
        sets: &graph.set,
        preset_test: graph.preset_test,
    };
    let manifest = export::export(&plan, &registry, &report, &request)
        .map_err(|e| e.context(format!("export of `{system}`")))?;
    for s in &manifest.selection {
        eprintln!("{}: {}", s.group, s.node);
    }
    eprintln!(
        "wrote bundle {} ({} nodes, {} files)",
        bundle.display(),
        manifest.nodes.len(),
        manifest.files.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `emoflow check`: every graph validated, each one's problems printed.
fn check_command(graphs: &[PathBuf], set: &[String], plugin_paths: &[PathBuf]) -> Result<ExitCode> {
    if graphs.is_empty() {
        return Err(Error::Usage("name at least one graph file".into()));
    }
    let registry = discover(plugin_paths);
    let mut ok = true;
    for path in graphs {
        let args = GraphArgs {
            graph: path.clone(),
            set: set.to_vec(),
            preset_test: false,
        };
        match build_plan(&args, &registry) {
            Ok(plan) => eprintln!("{}: valid ({} nodes)", path.display(), plan.nodes.len()),
            Err(e) => {
                print_error(&e);
                ok = false;
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// `emoflow test`: each graph's [test] preset run and its expectations
/// checked; `N passed, N failed`.
fn test_command(
    paths: &[PathBuf],
    out: &Path,
    jobs: usize,
    cache: Option<PathBuf>,
    plugin_paths: &[PathBuf],
) -> Result<ExitCode> {
    check_places(out, Some(&cache))?;
    let registry = discover(plugin_paths);
    let cancel = Arc::new(AtomicBool::new(false));
    install_ctrl_c(cancel.clone());
    let (mut passed, mut failed) = (0usize, 0usize);
    for path in graph_test::collect(paths) {
        match test_graph(&path, out, jobs, &cache, &registry, &cancel) {
            Tested::Passed(line) => {
                eprintln!("ok   {}{line}", path.display());
                passed += 1;
            }
            Tested::Failed(line) => {
                eprintln!("FAIL {}{line}", path.display());
                failed += 1;
            }
        }
        if cancel.load(Ordering::Relaxed) {
            break;
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One graph of `emoflow test`, with the rest of its line (a failure's
/// problems below it).
enum Tested {
    Passed(String),
    Failed(String),
}

fn test_graph(
    path: &Path,
    out: &Path,
    jobs: usize,
    cache: &Option<PathBuf>,
    registry: &Registry,
    cancel: &Arc<AtomicBool>,
) -> Tested {
    if graph::load(path, &mut Sources::default()).is_ok_and(|g| g.fragment) {
        return Tested::Passed(": a fragment (read, not run)".into());
    }
    let args = GraphArgs {
        graph: path.to_path_buf(),
        set: Vec::new(),
        preset_test: true,
    };
    let plan = match build_plan(&args, registry) {
        Ok(plan) => plan,
        Err(e) => {
            print_error(&e);
            return Tested::Failed(": invalid graph".into());
        }
    };
    if plan.graph.test.is_none() {
        return Tested::Passed(": valid (no [test] preset to run)".into());
    }
    let run_out = out.join(&plan.graph.name);
    let opts = local_run(
        &run_out,
        cache_dir(cache.clone()),
        true,
        jobs,
        "auto".into(),
        cancel.clone(),
    );
    let report = run::run(&plan, registry, &opts);
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
        Tested::Passed(format!(
            " ({} expectations, {:.1} s)",
            plan.graph.expects.len(),
            report.seconds
        ))
    } else {
        Tested::Failed(
            problems
                .iter()
                .map(|p| format!("\n       {p}"))
                .fold(":".to_string(), |all, p| all + &p),
        )
    }
}

/// `emoflow plugin check`, its `--params` parsed first.
fn plugin_check_command(library: &Path, params: &[String]) -> Result<ExitCode> {
    let mut by_kind = std::collections::BTreeMap::new();
    for given in params {
        let (kind, json) = given
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--params {given}: expected KIND=JSON")))?;
        let value = serde_json::from_str::<serde_json::Value>(json)
            .map_err(|_| Error::Usage(format!("--params {given}: the JSON does not parse")))?;
        by_kind.insert(kind.to_string(), value);
    }
    Ok(plugin_check_report(library, &by_kind))
}

/// `emoflow graph`: each node with its wiring, or Graphviz DOT.
fn print_graph(plan: &Plan, dot: bool) {
    if dot {
        print!("{}", plan.dot());
        return;
    }
    for node in &plan.nodes {
        let inputs: Vec<String> = node
            .provider
            .kind
            .inputs
            .iter()
            .zip(&node.inputs)
            .flat_map(|(p, w)| {
                w.iter().map(|(from, port)| {
                    format!("{} <- {}.{}", p.name, plan.nodes[*from].name, port)
                })
            })
            .collect();
        println!(
            "{} ({}): {}",
            node.name,
            node.provider.kind.kind,
            inputs.join(", ")
        );
    }
}

/// `emoflow plugin check`: a line per kind, exit 1 when any failed.
fn plugin_check_report(
    library: &Path,
    params: &std::collections::BTreeMap<String, serde_json::Value>,
) -> ExitCode {
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
    let skipped = results
        .iter()
        .filter(|r| r.problems.is_empty() && r.skipped.is_some())
        .count();
    println!(
        "{} passed, {failed} failed, {skipped} not run",
        results.len() - failed - skipped
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
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
) -> Result<ExitCode> {
    let absolute = |p: &Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let mut run_args =
        vec![std::env::current_exe().map_or_else(|_| "emoflow".into(), |e| absolute(&e))];
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
    run_args.extend([
        "--cache".into(),
        absolute(cache),
        "--device".into(),
        device.into(),
        "--jobs".into(),
        jobs.to_string(),
    ]);
    let mut options = emoflow_engine::slurm::graph_options(plan.graph.slurm.as_ref())
        .map_err(|e| e.context(graph.graph.display().to_string()))?;
    options.extend(sbatch);
    let job = emoflow_engine::slurm::SlurmJob {
        plan,
        run_args,
        out: std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf()),
        sbatch: options,
    };
    if !emoflow_engine::slurm::run(&job)? {
        return Ok(ExitCode::from(1));
    }
    eprintln!(
        "{}: ok on Slurm; wrote {}",
        plan.graph.name,
        out.join("run.json").display()
    );
    Ok(ExitCode::SUCCESS)
}

fn local_run(
    out: &Path,
    cache_dir: PathBuf,
    use_cache: bool,
    jobs: usize,
    device: String,
    cancel: Arc<AtomicBool>,
) -> run::RunOptions {
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
fn predict(
    bundle: &Path,
    audio: &[PathBuf],
    out: &Path,
    device: String,
    jobs: usize,
    plugin_paths: &[PathBuf],
) -> Result<ExitCode> {
    let registry = discover(plugin_paths);
    let manifest = predict::open_bundle(bundle)?;
    let files = predict::recordings(&manifest, &registry, audio)?;
    let cancel = Arc::new(AtomicBool::new(false));
    install_ctrl_c(cancel.clone());
    let bar = progress().add(indicatif::ProgressBar::new(files.len() as u64));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} recordings {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix("predict");
    let mut results = Vec::new();
    for file in &files {
        bar.set_message(file.display().to_string());
        let recording = Recording {
            bundle,
            file,
            out,
            jobs,
            device: &device,
        };
        let outcome = predict_one(&recording, &registry, &cancel);
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
    emoflow_engine::cache::write_atomic(
        &path,
        &serde_json::to_vec_pretty(&summary).expect("JSON"),
    )?;
    let written: Vec<String> = manifest
        .nodes
        .iter()
        .filter(|n| n.role == export::Role::Output)
        .map(|n| format!("{}/{}", out.display(), n.name))
        .collect();
    eprintln!(
        "predicted {ok} of {} recordings with `{}`: {}; wrote {}",
        files.len(),
        manifest.system,
        written.join(", "),
        path.display()
    );
    Ok(if ok == files.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One recording of `emoflow predict`.
struct Recording<'a> {
    bundle: &'a Path,
    file: &'a Path,
    out: &'a Path,
    jobs: usize,
    device: &'a str,
}

/// Runs the bundle's graph on one recording: the files it wrote, or why it
/// failed (each failed node and its error).
fn predict_one(
    recording: &Recording,
    registry: &Registry,
    cancel: &Arc<AtomicBool>,
) -> std::result::Result<Vec<run::FileReport>, String> {
    let absolute = |p: &Path| {
        toml::Value::from(
            std::path::absolute(p)
                .unwrap_or_else(|_| p.to_path_buf())
                .display()
                .to_string(),
        )
        .to_string()
    };
    let args = GraphArgs {
        graph: recording.bundle.join(export::GRAPH),
        set: vec![
            format!("audio=[{}]", absolute(recording.file)),
            format!("bundle={}", absolute(recording.bundle)),
        ],
        preset_test: false,
    };
    let plan = build_plan(&args, registry).map_err(|e| {
        print_error(&e);
        "the bundle's graph is invalid with this emoflow's plugins".to_string()
    })?;
    let out = recording.out;
    let opts = local_run(
        out,
        out.join(".work"),
        false,
        recording.jobs,
        recording.device.to_string(),
        cancel.clone(),
    );
    let report = run::run(&plan, registry, &opts);
    if report.succeeded() {
        return Ok(report.files);
    }
    let failed: Vec<String> = report
        .nodes
        .iter()
        .filter_map(|(n, r)| Some(format!("node `{n}`: {}", r.error.as_ref()?)))
        .collect();
    Err(if failed.is_empty() {
        report.status.to_string()
    } else {
        failed.join("; ")
    })
}

/// Checks `--out` and, when the cache is used, `--cache` before anything
/// runs: exit 2 naming the flag and the path.
fn check_places(out: &Path, cache_flag: Option<&Option<PathBuf>>) -> Result<()> {
    places::check_out(out, "--out").and_then(|()| {
        let Some(flag) = cache_flag else {
            return Ok(());
        };
        let origin = match (flag, std::env::var_os("EMOFLOW_CACHE")) {
            (Some(_), _) => "--cache",
            (None, Some(_)) => "EMOFLOW_CACHE",
            (None, None) => "the default --cache",
        };
        places::check_cache(&cache_dir(flag.clone()), origin)
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

fn prepare(args: &GraphArgs, plugin_paths: &[PathBuf]) -> Result<(Plan, Registry)> {
    let registry = discover(plugin_paths);
    let plan = build_plan(args, &registry)?;
    Ok((plan, registry))
}

/// Loads, composes and validates a graph, with every problem.
fn build_plan(args: &GraphArgs, registry: &Registry) -> Result<Plan> {
    let mut sources = Sources::default();
    let result = graph::load(&args.graph, &mut sources)
        .and_then(|graph| plan_graph(graph, args, registry, &mut sources));
    result.map_err(|diags| Error::Graph {
        sources: Box::new(sources),
        diags,
    })
}

/// Composes and validates a loaded graph with `args`' settings.
fn plan_graph(
    mut graph: graph::Graph,
    args: &GraphArgs,
    registry: &Registry,
    sources: &mut Sources,
) -> std::result::Result<Plan, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    if args.preset_test {
        diags.extend(graph::apply_test_preset(&mut graph));
    }
    diags.extend(graph::apply_sets(&mut graph, &args.set, sources));
    for swap in compose::resolve_swaps(&mut graph, registry) {
        tracing::info!("{}", swap.describe(sources));
    }
    diags.extend(graph::apply_defaults(&mut graph));
    diags.extend(compose::check_requirements(&graph, registry));
    diags.extend(graph::substitute_params(&mut graph));
    if !diags.is_empty() {
        return Err(diags);
    }
    if graph.name.is_empty() {
        graph.name = args
            .graph
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("graph")
            .to_string();
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
}

/// The graph `emoflow synth` runs, built in so that the command works
/// wherever the executable is installed.
const SYNTH_GRAPH: &str = include_str!("../../../graphs/synth.toml");

/// `emoflow synth`: the built-in graph (`graphs/synth.toml`) with `sets`,
/// run with neither cache nor report, its scratch files in a temporary
/// directory.
fn synth(out_dir: &Path, sets: Vec<String>, plugin_paths: &[PathBuf]) -> Result<ExitCode> {
    let registry = discover(plugin_paths);
    let args = GraphArgs {
        graph: PathBuf::from("graphs/synth.toml"),
        set: sets,
        preset_test: false,
    };
    let mut sources = Sources::default();
    let planned = graph::load_text(&args.graph, SYNTH_GRAPH, &mut sources)
        .and_then(|graph| plan_graph(graph, &args, &registry, &mut sources));
    let plan = planned.map_err(|diags| Error::Graph {
        sources: Box::new(sources),
        diags,
    })?;
    let work = std::env::temp_dir().join(format!("emoflow-synth-{}", std::process::id()));
    let cancel = Arc::new(AtomicBool::new(false));
    install_ctrl_c(cancel.clone());
    let opts = local_run(&work, work.clone(), false, 1, "cpu".into(), cancel);
    let report = run::run(&plan, &registry, &opts);
    let _ = std::fs::remove_dir_all(&work);
    if !report.succeeded() {
        let errors: Vec<&String> = report
            .nodes
            .values()
            .filter_map(|n| n.error.as_ref())
            .collect();
        return Err(Error::Failed(
            errors
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ));
    }
    // The writer lists one `wav` file per recording.
    let recordings = report.files.iter().filter(|f| f.format == "wav").count();
    eprintln!(
        "wrote {recordings} recordings ({} files) to {}",
        report.files.len(),
        out_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn report(sources: &Sources, diags: &[Diagnostic]) {
    let color = std::io::stderr().is_terminal();
    eprint!("{}", diag::render(sources, diags, color));
    eprintln!(
        "{} error{} found",
        diags.len(),
        if diags.len() == 1 { "" } else { "s" }
    );
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
            ports
                .iter()
                .map(|p| {
                    format!(
                        "{}: {}{}",
                        p.name,
                        p.port_type,
                        if p.optional { "?" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "{:<24}   in  ({})  out ({})",
            "",
            ports(&k.inputs),
            ports(&k.outputs)
        );
        if let Some(props) = k.params.get("properties").and_then(|p| p.as_object()) {
            let names: Vec<&str> = props.keys().map(String::as_str).collect();
            if !names.is_empty() {
                println!("{:<24}   params: {}", "", names.join(", "));
            }
        }
        println!(
            "{:<24}   {} ({})",
            "",
            k.source_file,
            file_name(p.plugin.path())
        );
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Prints the Markdown reports written by report nodes.
fn print_reports(report: &run::RunReport) {
    for file in report.files.iter().filter(|f| f.format == "md") {
        if let Ok(text) = std::fs::read_to_string(&file.path) {
            println!("{text}");
        }
    }
}
