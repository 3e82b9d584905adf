//! The cache under a killed run and under a write that fails part-way: no
//! half-written output is ever taken for a result, and a rerun completes.

use std::time::Duration;

use emoflow_faults::{Scratch, entries_ending, graph, run, run_command, status, stderr, wait_for};

#[test]
fn a_run_killed_during_a_cache_write_leaves_no_valid_entry() {
    let dir = Scratch::new("faults", "kill");
    let mut child = run_command(&graph("slow.toml"), &dir).spawn().unwrap();
    // Wait until the output file is being written, then SIGKILL.
    let partial = wait_for(Duration::from_secs(60), "the cache write", || {
        entries_ending(&dir.join("cache"), ".partial").into_iter().find(|p| p.join(".out.arrow.tmp").exists())
    });
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    let key = partial.file_stem().unwrap().to_str().unwrap().to_string();
    assert!(!dir.join("cache").join(&key).exists(), "no committed entry after the kill");
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
    assert!(err.contains("File too large") || err.contains("file too large"), "the system's reason: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let committed: Vec<_> = entries_ending(&dir.join("cache"), "").into_iter().filter(|e| e.join("manifest.json").exists()).collect();
    assert!(committed.is_empty(), "no entry was committed: {committed:?}");

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
    let (a, b) = (Scratch::new("faults", "shared-a"), Scratch::new("faults", "shared-b"));
    let start = |out: &Scratch| {
        let mut command = emoflow_faults::emoflow();
        command.arg("run").arg(graph("slow.toml")).arg("--out").arg(out.join("out")).arg("--cache").arg(a.join("cache"));
        command.output()
    };
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| start(&a).unwrap());
        let second = s.spawn(|| start(&b).unwrap());
        (first.join().unwrap(), second.join().unwrap())
    });
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(second.status.success(), "{}", stderr(&second));
    let statuses = [status(&emoflow_faults::report(&a), "source").to_string(), status(&emoflow_faults::report(&b), "source").to_string()];
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(sorted, ["cached", "ran"], "one ran, the other took its entry: {statuses:?}");
}
