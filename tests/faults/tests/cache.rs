//! The cache under a killed run, a write that fails part-way, a corrupt
//! entry and a read-only directory: no half-written or damaged output is
//! ever taken for a result, no temporary file outlives a failure, a rerun
//! completes, and a complete cache serves its hits without writing.

use std::path::Path;
use std::time::Duration;

use emoflow_faults::{
    Scratch, entries_ending, graph, paths_under, run, run_command, source_and_sum, status, stderr,
    wait_for,
};

#[test]
fn a_run_killed_during_a_cache_write_leaves_no_valid_entry() {
    let dir = Scratch::new("faults", "kill");
    let mut child = run_command(&graph("slow.toml"), &dir).spawn().unwrap();
    // Wait until the output file is being written, then SIGKILL.
    let partial = wait_for(Duration::from_secs(60), "the cache write", || {
        entries_ending(&dir.join("cache"), ".partial")
            .into_iter()
            .find(|p| p.join(".out.arrow.tmp").exists())
    });
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    let key = partial.file_stem().unwrap().to_str().unwrap().to_string();
    assert!(
        !dir.join("cache").join(&key).exists(),
        "no committed entry after the kill"
    );
    // A rerun does not take the half-written output for a result.
    let (out, report) = run(&graph("slow.toml"), &dir, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(status(&report, "source"), "ran");
    assert_eq!(report["nodes"]["source"]["cache_key"], key);
    let (_, again) = run(&graph("slow.toml"), &dir, &[]);
    assert_eq!(status(&again, "source"), "cached");
}

/// A full disk, as far as it can be simulated without privileges: the file
/// size limit (RLIMIT_FSIZE, with SIGXFSZ ignored) makes every write past
/// 64 KiB fail, as writes fail on a full disk.
#[test]
fn a_cache_write_that_fails_part_way_is_an_error_and_a_rerun_completes() {
    let dir = Scratch::new("faults", "full");
    let big = dir.join("big.toml");
    std::fs::write(&big, "[nodes.source]\nkind = \"test.source\"\nrows = 20000\nvalues = 100\n\n[nodes.sum]\nkind = \"test.sum\"\ninputs = { in = \"source.out\" }\n")
        .unwrap();
    let command = run_command(&big, &dir);
    let starved = std::process::Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 128; exec \"$0\" \"$@\"")
        .arg(command.get_program())
        .args(command.get_args())
        .output()
        .unwrap();
    let err = stderr(&starved);
    assert_eq!(starved.status.code(), Some(1), "{err}");
    assert!(err.contains("node `source` (test.source) failed"), "{err}");
    assert!(
        err.contains("File too large") || err.contains("file too large"),
        "the system's reason: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let committed: Vec<_> = entries_ending(&dir.join("cache"), "")
        .into_iter()
        .filter(|e| e.join("manifest.json").exists())
        .collect();
    assert!(
        committed.is_empty(),
        "no entry was committed: {committed:?}"
    );
    // The failed write keeps nothing: no temporary, no staging directory
    // (the source saved no checkpoint worth resuming from).
    let leftovers: Vec<_> = [dir.join("cache"), dir.join("out")]
        .iter()
        .flat_map(|d| paths_under(d))
        .filter(|p| {
            p.to_string_lossy().contains(".tmp") || p.to_string_lossy().ends_with(".partial")
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "left behind after the failure: {leftovers:?}"
    );

    let (out, report) = run(&big, &dir, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(status(&report, "source"), "ran");
    // 20000 rows of 0..100.
    assert_eq!(report["metrics"][0]["value"], 20000.0 * 4950.0);
    let (_, again) = run(&big, &dir, &[]);
    assert_eq!(status(&again, "source"), "cached");
}

/// Processes sharing a cache (a sweep's Slurm array tasks) may reach the
/// same node at once: one computes it, the other waits and takes the entry.
#[test]
fn two_runs_sharing_a_cache_compute_a_node_once() {
    let (a, b) = (
        Scratch::new("faults", "shared-a"),
        Scratch::new("faults", "shared-b"),
    );
    let start = |out: &Scratch| {
        let mut command = emoflow_faults::emoflow();
        command
            .arg("run")
            .arg(graph("slow.toml"))
            .arg("--out")
            .arg(out.join("out"))
            .arg("--cache")
            .arg(a.join("cache"));
        command.output()
    };
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| start(&a).unwrap());
        let second = s.spawn(|| start(&b).unwrap());
        (first.join().unwrap(), second.join().unwrap())
    });
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(second.status.success(), "{}", stderr(&second));
    let statuses = [
        status(&emoflow_faults::report(&a), "source").to_string(),
        status(&emoflow_faults::report(&b), "source").to_string(),
    ];
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["cached", "ran"],
        "one ran, the other took its entry: {statuses:?}"
    );
}

/// The committed entry of `node` in the last run's report.
fn entry_dir(dir: &Scratch, report: &serde_json::Value, node: &str) -> std::path::PathBuf {
    dir.join("cache")
        .join(report["nodes"][node]["cache_key"].as_str().unwrap())
}

fn flip_a_bit_halfway(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(file, bytes).unwrap();
}

fn cut_short(file: &Path) {
    let bytes = std::fs::read(file).unwrap();
    std::fs::write(file, &bytes[..bytes.len() - 100]).unwrap();
}

/// A manifest as written before entries were hashed.
fn drop_the_hashes(entry: &Path) {
    let path = entry.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for port in manifest["ports"].as_array_mut().unwrap() {
        port.as_object_mut().unwrap().remove("blake3");
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

/// Damages a committed entry (its directory) in place.
type Damage = fn(&Path);

#[test]
fn a_corrupt_cache_entry_is_reported_by_key_and_node_and_rebuilt_never_used() {
    let damages: [(&str, Damage); 3] = [
        ("flipped", |entry| {
            flip_a_bit_halfway(&entry.join("out.arrow"))
        }),
        ("truncated", |entry| cut_short(&entry.join("out.arrow"))),
        ("unhashed", drop_the_hashes),
    ];
    for (name, damage) in damages {
        let dir = Scratch::new("faults", &format!("corrupt-{name}"));
        let file = source_and_sum(&dir, "graph.toml", 500);
        let (first, report) = run(&file, &dir, &[]);
        assert!(first.status.success(), "{}", stderr(&first));
        let entry = entry_dir(&dir, &report, "source");
        let key = entry.file_name().unwrap().to_str().unwrap().to_string();
        damage(&entry);

        let (out, rerun) = run(&file, &dir, &[]);
        let err = stderr(&out);
        assert!(out.status.success(), "{name}: {err}");
        assert!(
            err.contains(&format!("cache entry {key} of node `source` is corrupt")),
            "{name}: the entry is named: {err}"
        );
        assert!(
            err.contains("out.arrow") && err.contains("rebuilding"),
            "{name}: the file is named: {err}"
        );
        assert_eq!(status(&rerun, "source"), "ran", "{name}: rebuilt, not used");
        // 500 rows of 0..10: the rebuilt output, not the damaged one.
        assert_eq!(rerun["metrics"][0]["value"], 500.0 * 45.0, "{name}");
        let (_, again) = run(&file, &dir, &[]);
        assert_eq!(
            status(&again, "source"),
            "cached",
            "{name}: the rebuilt entry is intact"
        );
    }
}

/// Root ignores permissions, so the reading run is another user's.
fn as_nobody(command: &std::process::Command) -> std::process::Command {
    let mut nobody = std::process::Command::new("setpriv");
    nobody
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(command.get_program())
        .args(command.get_args());
    nobody
}

#[test]
fn a_complete_cache_on_a_read_only_directory_serves_every_hit() {
    let dir = Scratch::new("faults", "read-only");
    let file = source_and_sum(&dir, "graph.toml", 50);
    let (first, _) = run(&file, &dir, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    // The cache stays root's and unwritable for the reader; only its
    // output directory is the reader's.
    let out = dir.join("reader-out");
    std::fs::create_dir(&out).unwrap();
    if let Err(e) = std::os::unix::fs::chown(&out, Some(65534), Some(65534)) {
        eprintln!("skipped: cannot hand {} to uid 65534 ({e})", out.display());
        return;
    }
    let mut command = emoflow_faults::emoflow();
    command
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .arg("--cache")
        .arg(dir.join("cache"));
    let read = match as_nobody(&command).output() {
        Ok(read) => read,
        Err(e) => {
            eprintln!("skipped: setpriv is not available ({e})");
            return;
        }
    };
    let err = stderr(&read);
    assert!(read.status.success(), "{err}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    for node in ["source", "sum"] {
        assert_eq!(status(&report, node), "cached", "{node}: {err}");
    }
    assert!(!err.contains("Permission denied"), "{err}");
}
