//! `emoflow cache ls | du | verify | gc` on a cache a few runs filled: what
//! it lists, what it weighs, which entries are corrupt, and what gc keeps.

use std::process::Output;

use emoflow_faults::{Scratch, emoflow, run, source_and_sum, status, stderr};

fn cache(dir: &Scratch, args: &[&str]) -> (Option<i32>, String, String) {
    let out: Output = emoflow()
        .arg("cache")
        .args(args)
        .arg("--cache")
        .arg(dir.join("cache"))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    )
}

/// A key no run wrote.
const STALE: &str = "0123456789abcdef0123456789abcdef";

fn key(report: &serde_json::Value, node: &str) -> String {
    report["nodes"][node]["cache_key"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn ls_and_du_show_each_entry_with_its_node_kind_and_size() {
    let dir = Scratch::new("cache-cmd", "ls");
    let (out, report) = run(&source_and_sum(&dir, "graph.toml", 20), &dir, &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    let (code, listed, err) = cache(&dir, &["ls"]);
    assert_eq!(code, Some(0), "{err}");
    for (node, kind) in [("source", "test.source"), ("sum", "test.sum")] {
        let line = listed
            .lines()
            .find(|l| l.starts_with(&key(&report, node)))
            .unwrap_or_else(|| panic!("{node} listed:\n{listed}"));
        assert!(
            line.contains(node) && line.contains(kind) && line.contains("B  "),
            "a size: {line}"
        );
    }
    assert!(
        listed.lines().next().unwrap().contains("LAST USED"),
        "{listed}"
    );

    let (code, usage, err) = cache(&dir, &["du"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(usage.contains("total (2 entries"), "{usage}");
    assert!(
        usage.contains("test.source (1 entries)") && usage.contains("test.sum (1 entries)"),
        "{usage}"
    );
}

#[test]
fn verify_names_each_corrupt_entry_and_exits_non_zero() {
    let dir = Scratch::new("cache-cmd", "verify");
    let (out, report) = run(&source_and_sum(&dir, "graph.toml", 200), &dir, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, _, err) = cache(&dir, &["verify"]);
    assert_eq!(code, Some(0), "an intact cache: {err}");
    assert!(err.contains("2 entries, all intact"), "{err}");

    let file = dir
        .join("cache")
        .join(key(&report, "source"))
        .join("out.arrow");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    let (code, found, err) = cache(&dir, &["verify"]);
    assert_eq!(code, Some(1), "{found}{err}");
    assert!(
        found.contains(&format!(
            "corrupt {} (node `source`, test.source)",
            key(&report, "source")
        )),
        "{found}"
    );
    assert!(found.contains("out.arrow"), "the file is named: {found}");
    assert!(
        !found.contains(&key(&report, "sum")),
        "only the corrupt entry is named: {found}"
    );
    assert!(err.contains("1 of 2 entries corrupt"), "{err}");
}

#[test]
fn gc_keeps_the_entries_of_the_graphs_last_runs_and_removes_the_rest() {
    let dir = Scratch::new("cache-cmd", "gc");
    let graph = source_and_sum(&dir, "graph.toml", 20);
    let (_, old) = run(&graph, &dir, &[]);
    // The last run: another source parameter, so new entries for both nodes.
    let (out, last) = run(&graph, &dir, &["--set", "source.offset=1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cache_dir = dir.join("cache");
    // What a failed build and a finished one leave for gc.
    let (partial, lock) = (format!("{STALE}.partial"), format!("{STALE}.lock"));
    std::fs::create_dir_all(cache_dir.join(&partial).join("artifacts")).unwrap();
    std::fs::write(cache_dir.join(&partial).join("out.arrow"), [0u8; 4096]).unwrap();
    std::fs::write(cache_dir.join(&lock), "").unwrap();
    // Not the cache's: gc leaves it alone.
    std::fs::create_dir_all(cache_dir.join("notes")).unwrap();
    let out_dir = dir.join("out");
    let gc = |extra: &[&str]| {
        let mut args = vec![
            "gc",
            graph.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ];
        args.extend(extra);
        cache(&dir, &args)
    };

    let (code, listed, err) = gc(&["--dry-run"]);
    assert_eq!(code, Some(0), "{err}");
    for node in ["source", "sum"] {
        assert!(
            listed.contains(&format!(
                "would remove entry {} (node `{node}`",
                key(&old, node)
            )),
            "{listed}"
        );
        assert!(
            !listed.contains(&format!("entry {}", key(&last, node))),
            "the last run's entries are kept: {listed}"
        );
    }
    assert!(
        listed.contains(&format!("would remove unfinished build {partial}, 4.0 KiB")),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("would remove stale lock {lock}")),
        "{listed}"
    );
    assert!(
        err.contains("would free") && err.contains("kept 2 entries"),
        "{err}"
    );
    assert!(
        cache_dir.join(key(&old, "source")).exists(),
        "a dry run removes nothing"
    );

    let (code, removed, err) = gc(&[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        removed.contains(&format!("removed entry {}", key(&old, "source"))),
        "{removed}"
    );
    assert!(err.contains("freed"), "{err}");
    assert!(
        cache_dir.join("notes").exists(),
        "what the cache did not write stays"
    );
    for gone in [key(&old, "source"), key(&old, "sum"), partial, lock] {
        assert!(!cache_dir.join(&gone).exists(), "{gone} removed");
    }
    let (_, again) = run(&graph, &dir, &["--set", "source.offset=1"]);
    assert_eq!(
        (status(&again, "source"), status(&again, "sum")),
        ("cached", "cached"),
        "what the last run used is still there"
    );
}

#[test]
fn gc_without_a_last_run_to_keep_removes_nothing() {
    let dir = Scratch::new("cache-cmd", "gc-no-run");
    let graph = source_and_sum(&dir, "graph.toml", 20);
    let (_, report) = run(&graph, &dir, &[]);
    let elsewhere = dir.join("never-ran");
    let (code, _, err) = cache(
        &dir,
        &[
            "gc",
            graph.to_str().unwrap(),
            "--out",
            elsewhere.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&elsewhere.join("run.json").display().to_string())
            && err.contains("nothing removed"),
        "{err}"
    );
    assert!(dir.join("cache").join(key(&report, "source")).exists());
}
