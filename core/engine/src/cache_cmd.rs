//! `emoflow cache ls | du | verify | gc`: what a cache holds, what it
//! weighs, whether its entries are intact, and removing what the given
//! graphs' last runs did not use (as `dvc gc` does).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use crate::cache::{self, Cache, Entry, Lookup};
use crate::diag::Sources;
use crate::error::{Error, Result};
use crate::{eprintln, println};

#[derive(clap::Subcommand)]
pub enum CacheCommand {
    /// The entries: key, node, kind, size, created, last used (oldest use first).
    Ls,
    /// The cache's size, in all and per node kind.
    Du,
    /// Hash every entry's files against its manifest; exit 1 naming each
    /// corrupt entry (a run that needs one rebuilds it).
    Verify,
    /// Keep the entries the given graphs' last runs used (their run.json);
    /// remove every other entry, unfinished build and stale lock.
    Gc {
        /// The graphs whose last runs' entries are kept.
        #[arg(required = true)]
        graphs: Vec<PathBuf>,
        /// The output directory of each graph's run, in the graphs' order,
        /// as given to `emoflow run --out` (default out/GRAPH_NAME).
        #[arg(long, value_name = "DIR")]
        out: Vec<PathBuf>,
        /// List what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `emoflow cache`: `Ok` with the outcome of a command that ran (1: a
/// verify found bad entries, a removal failed).
pub fn run(root: &Path, command: CacheCommand) -> Result<ExitCode> {
    let contents = Contents::scan(root)?;
    Ok(match command {
        CacheCommand::Ls => ls(&contents),
        CacheCommand::Du => du(&contents),
        CacheCommand::Verify => verify(root, &contents),
        CacheCommand::Gc {
            graphs,
            out,
            dry_run,
        } => gc(&contents, &kept_keys(&graphs, &out)?, dry_run),
    })
}

/// What a cache directory holds.
struct Contents {
    entries: Vec<Stored>,
    /// `KEY.partial/`: builds that failed or were killed.
    partials: Vec<PathBuf>,
    locks: Vec<PathBuf>,
    /// `.used/KEY` marks.
    marks: Vec<PathBuf>,
}

/// A committed entry as found on disk, readable or not.
struct Stored {
    key: String,
    dir: PathBuf,
    entry: std::result::Result<Entry, String>,
    bytes: u64,
    created: Option<SystemTime>,
    last_used: Option<SystemTime>,
}

impl Stored {
    fn node(&self) -> &str {
        self.entry
            .as_ref()
            .map_or("?", |e| e.manifest.node.as_str())
    }

    fn kind(&self) -> &str {
        self.entry
            .as_ref()
            .map_or("(unreadable)", |e| e.manifest.kind.as_str())
    }
}

impl Contents {
    fn scan(root: &Path) -> Result<Contents> {
        let names = std::fs::read_dir(root)
            .map_err(|e| Error::Usage(format!("cache {}: {e}", root.display())))?;
        let mut contents = Contents {
            entries: Vec::new(),
            partials: Vec::new(),
            locks: Vec::new(),
            marks: Vec::new(),
        };
        let used = root.join(cache::USED);
        // Only names the cache writes count, so that a mistyped --cache
        // never has gc remove someone's directories.
        for item in names.flatten() {
            let (path, name) = (item.path(), item.file_name().to_string_lossy().into_owned());
            let is_dir = item.file_type().is_ok_and(|t| t.is_dir());
            let (stem, suffix) = name.split_once('.').unwrap_or((&name, ""));
            if name == cache::USED {
                contents.marks.extend(
                    std::fs::read_dir(&path)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|m| m.path()),
                );
            } else if !is_key(stem) {
                continue;
            } else if suffix == "partial" && is_dir {
                contents.partials.push(path);
            } else if suffix == "lock" && !is_dir {
                contents.locks.push(path);
            } else if suffix.is_empty() && is_dir {
                let entry = Entry::read(&path).map_err(|e| e.to_string());
                let created = std::fs::metadata(path.join(cache::MANIFEST))
                    .and_then(|m| m.modified())
                    .ok();
                let marked = std::fs::metadata(used.join(&name))
                    .and_then(|m| m.modified())
                    .ok();
                contents.entries.push(Stored {
                    bytes: size(&path),
                    last_used: created.max(marked),
                    created,
                    entry,
                    dir: path,
                    key: name,
                });
            }
        }
        contents
            .entries
            .sort_by(|a, b| (a.last_used, &a.key).cmp(&(b.last_used, &b.key)));
        contents.partials.sort();
        contents.locks.sort();
        Ok(contents)
    }
}

fn ls(contents: &Contents) -> ExitCode {
    println!(
        "{:<32}  {:<24}  {:<20}  {:>10}  {:<16}  {:<16}",
        "KEY", "NODE", "KIND", "SIZE", "CREATED", "LAST USED"
    );
    for s in &contents.entries {
        println!(
            "{:<32}  {:<24}  {:<20}  {:>10}  {:<16}  {:<16}",
            s.key,
            s.node(),
            s.kind(),
            human(s.bytes),
            date(s.created),
            date(s.last_used)
        );
    }
    for partial in &contents.partials {
        println!(
            "{:<32}  (an unfinished build, {})",
            file_name(partial),
            human(size(partial))
        );
    }
    ExitCode::SUCCESS
}

fn du(contents: &Contents) -> ExitCode {
    let mut by_kind: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for s in &contents.entries {
        let slot = by_kind.entry(s.kind()).or_default();
        slot.0 += 1;
        slot.1 += s.bytes;
    }
    let partial_bytes: u64 = contents.partials.iter().map(|p| size(p)).sum();
    let total = contents.entries.iter().map(|s| s.bytes).sum::<u64>() + partial_bytes;
    println!(
        "{:>10}  total ({} entries, {} unfinished builds)",
        human(total),
        contents.entries.len(),
        contents.partials.len()
    );
    for (kind, (count, bytes)) in &by_kind {
        println!("{:>10}  {kind} ({count} entries)", human(*bytes));
    }
    if !contents.partials.is_empty() {
        println!(
            "{:>10}  unfinished builds (KEY.partial; `emoflow cache gc` removes them)",
            human(partial_bytes)
        );
    }
    ExitCode::SUCCESS
}

fn verify(root: &Path, contents: &Contents) -> ExitCode {
    let cache = Cache::new(root);
    let mut corrupt = 0usize;
    for s in &contents.entries {
        if let Lookup::Corrupt(why) = cache.lookup(&s.key) {
            corrupt += 1;
            println!(
                "corrupt {} (node `{}`, {}): {why}",
                s.key,
                s.node(),
                s.kind()
            );
        }
    }
    let checked = contents.entries.len();
    if corrupt == 0 {
        eprintln!("{}: {checked} entries, all intact", root.display());
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "{}: {corrupt} of {checked} entries corrupt; a run that needs one rebuilds it, `emoflow cache gc` removes those no graph uses",
        root.display()
    );
    ExitCode::from(1)
}

/// The cache keys in each graph's last run.json.
fn kept_keys(graphs: &[PathBuf], outs: &[PathBuf]) -> Result<BTreeSet<String>> {
    if !outs.is_empty() && outs.len() != graphs.len() {
        return Err(Error::Usage(format!(
            "{} graphs but {} --out directories: give one --out per graph, in order, or none",
            graphs.len(),
            outs.len()
        )));
    }
    let mut keep = BTreeSet::new();
    for (i, graph) in graphs.iter().enumerate() {
        let out = match outs.get(i) {
            Some(out) => out.clone(),
            None => PathBuf::from("out").join(graph_name(graph)?),
        };
        let path = out.join("run.json");
        let report: serde_json::Value = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
            .map_err(|e| {
                Error::Usage(format!(
                    "{}: {e}: no last run of {} to keep the entries of; run it first, or give its --out (nothing removed)",
                    path.display(),
                    graph.display()
                ))
            })?;
        let nodes = report["nodes"].as_object().into_iter().flatten();
        keep.extend(
            nodes
                .filter_map(|(_, node)| node["cache_key"].as_str())
                .filter(|k| !k.is_empty())
                .map(String::from),
        );
    }
    Ok(keep)
}

/// A graph's name as `emoflow run` names its output: `[graph] name`, else
/// the file stem.
fn graph_name(path: &Path) -> Result<String> {
    let graph = crate::graph::load(path, &mut Sources::default()).map_err(|diags| {
        Error::Usage(format!(
            "{}: {}",
            path.display(),
            diags
                .first()
                .map_or("invalid graph", |d| d.message.as_str())
        ))
    })?;
    Ok(if graph.name.is_empty() {
        path.file_stem()
            .map_or("graph".into(), |s| s.to_string_lossy().into_owned())
    } else {
        graph.name
    })
}

fn gc(contents: &Contents, keep: &BTreeSet<String>, dry_run: bool) -> ExitCode {
    // A held lock is a build in progress: its key is left alone.
    let building: BTreeSet<String> = contents
        .locks
        .iter()
        .filter(|l| is_held(l))
        .map(|l| stem(l))
        .collect();
    let mut doomed: Vec<(PathBuf, String, u64)> = Vec::new();
    for s in contents
        .entries
        .iter()
        .filter(|s| !keep.contains(&s.key) && !building.contains(&s.key))
    {
        doomed.push((
            s.dir.clone(),
            format!("entry {} (node `{}`, {})", s.key, s.node(), s.kind()),
            s.bytes,
        ));
    }
    for partial in contents
        .partials
        .iter()
        .filter(|p| !building.contains(&stem(p)))
    {
        doomed.push((
            partial.clone(),
            format!("unfinished build {}", file_name(partial)),
            size(partial),
        ));
    }
    for lock in contents
        .locks
        .iter()
        .filter(|l| !building.contains(&stem(l)))
    {
        doomed.push((lock.clone(), format!("stale lock {}", file_name(lock)), 0));
    }
    let live: BTreeSet<&String> = contents
        .entries
        .iter()
        .map(|s| &s.key)
        .filter(|k| keep.contains(*k) || building.contains(*k))
        .collect();
    let orphan_marks = contents
        .marks
        .iter()
        .filter(|m| !live.contains(&file_name(m)));

    let verb = if dry_run { "would remove" } else { "removed" };
    let (mut freed, mut failed) = (0u64, 0usize);
    for (path, what, bytes) in &doomed {
        if !dry_run && let Err(e) = remove(path) {
            eprintln!("error: cannot remove {}: {e}", path.display());
            failed += 1;
            continue;
        }
        freed += *bytes;
        println!("{verb} {what}, {}", human(*bytes));
    }
    if !dry_run {
        for mark in orphan_marks {
            let _ = std::fs::remove_file(mark);
        }
    }
    eprintln!(
        "{} {}; kept {} entries the graphs' last runs used{}",
        if dry_run { "would free" } else { "freed" },
        human(freed),
        live.len(),
        if building.is_empty() {
            String::new()
        } else {
            format!(" and {} being built", building.len())
        }
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Whether `name` is a cache key: 32 hex digits.
fn is_key(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether another process holds this lock (builds its entry now).
fn is_held(lock: &Path) -> bool {
    File::open(lock).is_ok_and(|f| f.try_lock().is_err())
}

fn remove(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

/// Bytes under `path`, links not followed.
fn size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| size(&e.path()))
        .sum()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// The key a `KEY.lock` or `KEY.partial` belongs to.
fn stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn date(time: Option<SystemTime>) -> String {
    time.map_or_else(
        || "-".into(),
        |t| {
            chrono::DateTime::<chrono::Local>::from(t)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        },
    )
}
