//! The command line's own faults: a reader that closes the pipe early, and
//! `--out` or `--cache` pointing where nothing can be written, refused
//! before anything runs.

use emoflow_faults::{Scratch, emoflow, graph, source_and_sum, stderr};

/// A pipe whose reader is already gone: every write to it fails with EPIPE,
/// as `| head -1` makes the writes after the first line fail.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

#[test]
fn output_into_a_closed_pipe_ends_quietly_without_a_panic() {
    let typos = graph("typos.toml");
    let slow = graph("slow.toml");
    let stdout_cases: [&[&str]; 3] = [
        &["plugins"],
        &["plugins", "--json"],
        &["graph", slow.to_str().unwrap()],
    ];
    for args in stdout_cases {
        let out = emoflow().args(args).stdout(closed_pipe()).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
    }
    // `emoflow check G 2>&1 | head -1`: the diagnostics go to the closed pipe.
    let status = emoflow()
        .arg("check")
        .arg(&typos)
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(2),
        "the check's own verdict, not a panic's 101"
    );
}

fn run_with(graph: &std::path::Path, place: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let out = emoflow()
        .arg("run")
        .arg(graph)
        .args(place)
        .output()
        .unwrap();
    (out.status.code(), stderr(&out))
}

#[test]
fn out_or_cache_where_nothing_can_be_written_is_refused_before_anything_runs() {
    let dir = Scratch::new("faults", "places");
    let graph = source_and_sum(&dir, "graph.toml", 10);
    let file = dir.join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let below_file = file.join("out");
    let (cache, out) = (dir.join("cache"), dir.join("out"));
    let cases = [
        (
            "--out",
            &file,
            vec![file.as_os_str(), cache.as_os_str()],
            "a file, not a directory",
        ),
        (
            "--out",
            &below_file,
            vec![below_file.as_os_str(), cache.as_os_str()],
            "cannot create this directory",
        ),
        (
            "--cache",
            &file,
            vec![out.as_os_str(), file.as_os_str()],
            "a file, not a directory",
        ),
    ];
    for (flag, path, dirs, why) in cases {
        let place = [
            std::ffi::OsStr::new("--out"),
            dirs[0],
            std::ffi::OsStr::new("--cache"),
            dirs[1],
        ];
        let (code, err) = run_with(&graph, &place);
        assert_eq!(code, Some(2), "{flag} {}: {err}", path.display());
        assert!(
            err.contains(&format!("error: {flag} {}: {why}", path.display())),
            "{err}"
        );
        assert!(!err.contains("running"), "nothing ran: {err}");
    }
    assert!(
        !dir.join("cache").exists(),
        "no node ran, so nothing was cached"
    );

    // `export` and `test` check theirs the same way.
    let export = emoflow()
        .arg("export")
        .arg(&graph)
        .args(["--system", "sum"])
        .arg(dir.join("bundle"))
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(export.status.code(), Some(2), "{}", stderr(&export));
    assert!(
        stderr(&export).contains(&format!("--out {}", file.display())),
        "{}",
        stderr(&export)
    );
    let test = emoflow()
        .arg("test")
        .arg(&graph)
        .arg("--out")
        .arg(&out)
        .arg("--cache")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(test.status.code(), Some(2), "{}", stderr(&test));
    assert!(
        stderr(&test).contains(&format!("--cache {}", file.display())),
        "{}",
        stderr(&test)
    );
}
