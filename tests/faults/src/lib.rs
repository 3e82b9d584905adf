//! The fault suite's harness: the `emoflow` binary and the plugins built
//! beside it, scratch directories that a passing test removes, runs with a
//! deadline. Each file under `tests/` is one family of faults; every test
//! ends in a clear error or a correct resume, never in a half-written result
//! read as valid.
//!
//! The binary is the one built with the suite (`cargo nextest run
//! --workspace` builds both into the same profile directory).

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The profile directory (`target/release` or `target/debug`) holding
/// `emoflow`, the standard plugins and the fixture plugin.
pub fn bin_dir() -> PathBuf {
    // This test binary lives in `<profile>/deps/`.
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("a profile directory")
        .to_path_buf();
    for needed in ["emoflow", "libfixture_nodes.so"] {
        assert!(
            dir.join(needed).exists(),
            "{needed} is not built in {}: run the suite with `cargo nextest run --workspace`",
            dir.display()
        );
    }
    dir
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `emoflow --plugin-path <the fixture plugin's directory>`.
pub fn emoflow() -> Command {
    let dir = bin_dir();
    let mut command = Command::new(dir.join("emoflow"));
    command.arg("--plugin-path").arg(dir);
    command
}

/// A graph of this suite (`tests/faults/graphs/NAME`).
pub fn graph(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("graphs")
        .join(name)
}

/// Writes a mono 16-bit PCM WAV file: for a recording the synthetic corpus
/// cannot give (one too short for a frame).
pub fn write_wav(path: &Path, rate: u32, samples: &[i16]) {
    let data = (samples.len() * 2) as u32;
    let mut bytes = Vec::with_capacity(44 + data as usize);
    bytes.extend(b"RIFF");
    bytes.extend((36 + data).to_le_bytes());
    bytes.extend(b"WAVEfmt ");
    // PCM, one channel, the rate, bytes per second, block align, bits.
    bytes.extend(16u32.to_le_bytes());
    bytes.extend([1u16, 1].iter().flat_map(|v| v.to_le_bytes()));
    bytes.extend([rate, rate * 2].iter().flat_map(|v| v.to_le_bytes()));
    bytes.extend([2u16, 16].iter().flat_map(|v| v.to_le_bytes()));
    bytes.extend(b"data");
    bytes.extend(data.to_le_bytes());
    bytes.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh directory under the system's temporary directory, removed when
/// the test passes and kept for a look when it fails.
pub struct Scratch(PathBuf);

impl Scratch {
    /// `emoflow-PREFIX-PID-NAME` under the temporary directory.
    pub fn new(prefix: &str, name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("emoflow-{prefix}-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `emoflow run GRAPH --out DIR/out --cache DIR/cache EXTRA...`: its output
/// and run.json (null when none was written).
pub fn run(graph: &Path, dir: &Scratch, extra: &[&str]) -> (Output, serde_json::Value) {
    let out = run_command(graph, dir).args(extra).output().unwrap();
    (out, report(dir))
}

/// The command `run` runs, to spawn or adjust.
pub fn run_command(graph: &Path, dir: &Scratch) -> Command {
    let mut command = emoflow();
    command
        .arg("run")
        .arg(graph)
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--cache")
        .arg(dir.join("cache"));
    command
}

pub fn report(dir: &Scratch) -> serde_json::Value {
    std::fs::read(dir.join("out/run.json"))
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or(serde_json::Value::Null)
}

pub fn status<'a>(report: &'a serde_json::Value, node: &str) -> &'a str {
    report["nodes"][node]["status"]
        .as_str()
        .unwrap_or("missing")
}

/// Waits up to `limit` for `found` to return something.
pub fn wait_for<T>(limit: Duration, what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(t) = found() {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The entries of `dir` whose names end with `suffix`.
pub fn entries_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(suffix))
        })
        .collect()
}

/// The worker processes (`emoflow worker`) that process `parent` started
/// and that are still alive (not zombies).
pub fn worker_pids(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // `pid (comm) state ppid ...`; comm may hold spaces, so split after it.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map_or("", |(_, rest)| rest)
                .split_whitespace()
                .collect();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            fields.first().is_some_and(|state| *state != "Z")
                && fields.get(1) == Some(&parent.to_string().as_str())
                && cmdline.split(|b| *b == 0).any(|arg| arg == b"worker")
        })
        .collect()
}

/// Whether process `pid` still runs (exists and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// Sends `signal` (`INT`, `KILL`, ...) to process `pid`.
pub fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal} {pid}");
}

/// Every file and directory under `dir`, at any depth.
pub fn paths_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.is_dir() {
            found.extend(paths_under(&path));
        }
        found.push(path);
    }
    found
}

/// A graph of two fixture nodes, `source` (ROWS rows of 0..10) and `sum`
/// (their total as the metric `sum`), written as DIR/NAME.
pub fn source_and_sum(dir: &Scratch, name: &str, rows: u32) -> PathBuf {
    let file = dir.join(name);
    let text = format!(
        "[nodes.source]\nkind = \"test.source\"\nrows = {rows}\n\n[nodes.sum]\nkind = \"test.sum\"\ninputs = {{ in = \"source.out\" }}\n"
    );
    std::fs::write(&file, text).unwrap();
    file
}

/// A graph of one fixture node of `kind` reading `test.source`, beside an
/// independent `test.sum` of the same source.
pub fn one_node_graph(dir: &Scratch, kind: &str) -> PathBuf {
    let file = dir.join("graph.toml");
    std::fs::write(
        &file,
        format!(
            "[nodes.source]\nkind = \"test.source\"\nrows = 2\n\n\
             [nodes.node]\nkind = \"{kind}\"\ninputs = {{ in = \"source.out\" }}\n\n\
             [nodes.after]\nkind = \"test.sum\"\ninputs = {{ in = \"node.out\" }}\n\n\
             [nodes.sum]\nkind = \"test.sum\"\ninputs = {{ in = \"source.out\" }}\n"
        ),
    )
    .unwrap();
    file
}
