//! Worker processes. A node whose kind asks for a process of its own
//! (`own_process`: a training on libtorch) runs in `emoflow worker`, a
//! child of the running `emoflow`. libtorch's thread settings are
//! process-wide, so one training's threads cannot be fixed without touching
//! its neighbours'; a crash in libtorch should fail one node, not the run;
//! and Ctrl-C or a kill must reach a training alone. Why `--jobs 2` used to
//! be no faster than `--jobs 1` was the thread budget, though (see
//! `nodes/model/examples/concurrent_training.rs`): the first node to start
//! got every thread, and a 2-thread training beside a 1-thread one on two
//! cores left OpenMP workers spin-waiting for a core.
//!
//! The protocol is JSON lines:
//! * parent → worker (stdin): the [`Job`], then `cancel` when the run is
//!   asked to stop. The end of stdin means the parent is gone (killed, or a
//!   second Ctrl-C): nobody is left to take the result, so the worker exits
//!   at once.
//! * worker → parent (stdout): [`Event`]s, the node's logs and progress as
//!   they happen, then one `Finished` with the result and the worker's CPU
//!   time and peak memory.
//!
//! The worker writes the outputs into the staging directory the parent
//! prepared (`KEY.partial/`, where a training's checkpoints already are) and
//! reports the port files; the parent writes the manifest and commits, as
//! for a node run in process. The node's results are the same either way.

use std::ffi::c_void;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use emoflow_sdk::foreign::{Host, RunSettings};
use emoflow_sdk::{Error, ErrorCode, Result};

use crate::cache::{Entry, Manifest, PortFile, Staging};
use crate::registry::Registry;

/// One node to run, as the parent resolved it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Job {
    /// The parent's `--plugin-path` directories (the environment is inherited).
    pub plugin_paths: Vec<PathBuf>,
    /// The library the parent found the kind in; the worker must find the same.
    pub library: PathBuf,
    pub kind: String,
    pub params: serde_json::Value,
    pub node_name: String,
    pub device: String,
    pub threads: u32,
    pub artifact_dir: PathBuf,
    pub staging_dir: PathBuf,
    /// Per declared input, its sources (see `run::open_input`).
    pub inputs: Vec<Vec<InputSource>>,
}

/// An output of an earlier node: its stored entry, port and dimension filter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputSource {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub port: String,
    pub dim: Option<String>,
}

impl InputSource {
    pub fn new((entry, port, dim): &(Entry, String, Option<String>)) -> Self {
        Self {
            dir: entry.dir.clone(),
            manifest: entry.manifest.clone(),
            port: port.clone(),
            dim: dim.clone(),
        }
    }

    fn into_parts(self) -> (Entry, String, Option<String>) {
        (
            Entry {
                dir: self.dir,
                manifest: self.manifest,
            },
            self.port,
            self.dim,
        )
    }
}

/// What a worker's process used, for run.json.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
}

impl Usage {
    /// This process's CPU time and peak resident memory so far.
    pub fn of_self() -> Usage {
        usage(nix::sys::resource::UsageWho::RUSAGE_SELF)
    }

    /// The CPU time of this process's children that have been waited for.
    pub fn of_children() -> Usage {
        usage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
    }
}

fn usage(who: nix::sys::resource::UsageWho) -> Usage {
    match nix::sys::resource::getrusage(who) {
        Ok(u) => {
            let seconds =
                |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 * 1e-6;
            Usage {
                cpu_seconds: seconds(u.user_time()) + seconds(u.system_time()),
                // Linux reports kilobytes.
                peak_rss_bytes: u.max_rss().max(0) as u64 * 1024,
            }
        }
        Err(_) => Usage::default(),
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Event {
    Log {
        level: String,
        target: String,
        message: String,
    },
    Progress {
        position: u64,
        total: u64,
        message: String,
    },
    Finished {
        ports: std::result::Result<Vec<PortFile>, (i32, String)>,
        usage: Usage,
    },
}

const CANCEL: &str = "cancel";

/// The worker processes of a run. Starting one costs loading the plugins
/// (libtorch alone takes over a second), so a worker that finished a node
/// waits for the next; there are never more than the nodes running at once.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<Vec<Worker>>,
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

type Finished = (std::result::Result<Vec<PortFile>, (i32, String)>, Usage);

impl Worker {
    fn start() -> Result<Worker> {
        let exe = std::env::current_exe().map_err(|e| {
            Error::failed(format!(
                "cannot find the emoflow executable for a worker process: {e}"
            ))
        })?;
        let mut child = Command::new(&exe)
            .arg("worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                Error::failed(format!(
                    "cannot start a worker process ({}): {e}",
                    exe.display()
                ))
            })?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Ok(Worker {
            child,
            stdin,
            stdout,
        })
    }

    /// Ends the worker (the end of its stdin stops it) and waits for it.
    fn stop(self) {
        let Worker {
            mut child, stdin, ..
        } = self;
        drop(stdin);
        let _ = child.wait();
    }

    /// Why a worker that stopped reporting is gone.
    fn death(mut self, node: &str) -> Error {
        use std::os::unix::process::ExitStatusExt;
        let pid = self.child.id();
        drop(self.stdin);
        let how = match self.child.wait() {
            Ok(status) => match (status.signal(), status.code()) {
                (Some(signal), _) => format!("was killed by signal {signal}"),
                (None, Some(code)) => format!("exited with status {code} before finishing"),
                (None, None) => "ended before finishing".to_string(),
            },
            Err(e) => format!("was lost: {e}"),
        };
        Error::failed(format!(
            "the worker process of node `{node}` (pid {pid}) {how}"
        ))
    }
}

/// Reads a worker's events until its job's end (`Some`) or its own (`None`).
fn events(stdout: &mut BufReader<ChildStdout>, host: &dyn Host) -> Option<Finished> {
    let mut line = String::new();
    loop {
        line.clear();
        match stdout.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        match serde_json::from_str::<Event>(&line) {
            Ok(Event::Log {
                level,
                target,
                message,
            }) => host.log(
                level.parse().unwrap_or(tracing::Level::INFO),
                &target,
                &message,
            ),
            Ok(Event::Progress {
                position,
                total,
                message,
            }) => host.progress(position, total, &message),
            Ok(Event::Finished { ports, usage }) => return Some((ports, usage)),
            // Something else wrote to stdout (a library): show it.
            Err(_) => host.log(tracing::Level::INFO, "worker", line.trim_end()),
        }
    }
}

impl Pool {
    /// Runs `job` in an idle worker, or a new one; `host` renders its logs
    /// and progress. Returns the port files written into `job.staging_dir`
    /// and the worker's usage. A worker that dies fails its node alone.
    pub fn run(
        &self,
        job: &Job,
        host: &dyn Host,
        cancel: &AtomicBool,
    ) -> (Result<Vec<PortFile>>, Option<Usage>) {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut worker = match idle.map_or_else(Worker::start, Ok) {
            Ok(worker) => worker,
            Err(e) => return (Err(e), None),
        };
        let line = serde_json::to_string(job).expect("jobs serialize");
        // A worker that cannot take its job is dead: the read below says so.
        let _ = writeln!(worker.stdin, "{line}");
        let mut asked = false;
        let finished = std::thread::scope(|scope| {
            let (stdout, stdin) = (&mut worker.stdout, &mut worker.stdin);
            let reader = scope.spawn(move || events(stdout, host));
            while !reader.is_finished() {
                if !asked && cancel.load(Ordering::Relaxed) {
                    asked = true;
                    let _ = writeln!(stdin, "{CANCEL}");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            reader.join().unwrap_or(None)
        });
        match finished {
            Some((ports, usage)) => {
                // A worker asked to stop keeps its flag set: it is not reused.
                if asked {
                    worker.stop();
                } else {
                    self.idle
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(worker);
                }
                (
                    ports.map_err(|(code, message)| Error::new(ErrorCode::from_i32(code), message)),
                    Some(usage),
                )
            }
            None => (Err(worker.death(&job.node_name)), None),
        }
    }
}

impl Pool {
    /// Ends the idle workers and waits for them.
    pub fn shutdown(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        idle.into_iter().for_each(Worker::stop);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// `emoflow worker`: runs the [`Job`]s it reads on stdin one after another,
/// reporting on stdout, until stdin ends. Returns the exit status.
pub fn serve() -> u8 {
    let cancel = Arc::new(AtomicBool::new(false));
    let (jobs, next) = std::sync::mpsc::channel::<String>();
    let listener = cancel.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            match line {
                Ok(line) if line.trim() == CANCEL => listener.store(true, Ordering::SeqCst),
                Ok(line) => {
                    if jobs.send(line).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        // The parent closed stdin: it is done with this worker, or gone.
        std::process::exit(0);
    });
    // Ctrl-C in a terminal reaches the whole process group: stop as the
    // parent does, which also sends `cancel`.
    let on_signal = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if on_signal.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let mut registry = None;
    for line in next {
        let job: Job = match serde_json::from_str(&line) {
            Ok(job) => job,
            Err(e) => {
                crate::eprintln!(
                    "error: `emoflow worker` is started by `emoflow run`, with jobs on stdin: {e}"
                );
                return 2;
            }
        };
        let before = Usage::of_self();
        let registry = registry.get_or_insert_with(|| Registry::discover(&job.plugin_paths));
        let ports =
            work(&job, registry, &out, cancel.clone()).map_err(|e| (e.code as i32, e.message));
        let after = Usage::of_self();
        let usage = Usage {
            cpu_seconds: after.cpu_seconds - before.cpu_seconds,
            peak_rss_bytes: after.peak_rss_bytes,
        };
        send(&out, &Event::Finished { ports, usage });
    }
    0
}

fn send(out: &Mutex<std::io::Stdout>, event: &Event) {
    let line = serde_json::to_string(event).expect("events serialize");
    let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        // The parent is gone.
        std::process::exit(130);
    }
}

fn work(
    job: &Job,
    registry: &Registry,
    out: &Arc<Mutex<std::io::Stdout>>,
    cancel: Arc<AtomicBool>,
) -> Result<Vec<PortFile>> {
    let provider = registry.get(&job.kind).ok_or_else(|| {
        Error::invalid(format!(
            "the worker process finds no plugin providing `{}` (the run found it in {})",
            job.kind,
            job.library.display()
        ))
    })?;
    if provider.plugin.path() != job.library {
        return Err(Error::invalid(format!(
            "the worker process finds `{}` in {}, the run in {}",
            job.kind,
            provider.plugin.path().display(),
            job.library.display()
        )));
    }
    let inputs = job
        .inputs
        .iter()
        .map(|w| w.iter().cloned().map(InputSource::into_parts).collect())
        .collect();
    let host = WorkerHost {
        out: out.clone(),
        registry,
    };
    let settings = RunSettings {
        node_name: job.node_name.clone(),
        device: job.device.clone(),
        threads: job.threads,
        artifact_dir: job.artifact_dir.clone(),
        cancel,
    };
    let mut staging = Staging::writer(job.staging_dir.clone());
    let node = provider.plugin.create(&job.kind, &job.params)?;
    crate::run::run_node(node, inputs, &host, &settings, &mut staging)?;
    Ok(staging.into_ports())
}

/// A running node's host inside a worker: logs and progress go to the parent.
struct WorkerHost<'a> {
    out: Arc<Mutex<std::io::Stdout>>,
    registry: &'a Registry,
}

impl Host for WorkerHost<'_> {
    fn log(&self, level: tracing::Level, target: &str, message: &str) {
        let event = Event::Log {
            level: level.to_string(),
            target: target.to_string(),
            message: message.to_string(),
        };
        send(&self.out, &event);
    }

    fn progress(&self, position: u64, total: u64, message: &str) {
        send(
            &self.out,
            &Event::Progress {
                position,
                total,
                message: message.to_string(),
            },
        );
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
