//! Plugins that misbehave: a panic, an error return, output that breaks its
//! declared schema, another ABI major, a library without the entry point,
//! a file that is no library at all. Each is named; nothing crashes the host.

use std::path::{Path, PathBuf};
use std::process::Command;

use emoflow_faults::{
    Scratch, bin_dir, emoflow, graph, one_node_graph, repo_root, run, status, stderr,
};

#[test]
fn a_panicking_node_fails_alone_and_the_run_exits_1_naming_it() {
    let dir = Scratch::new("faults", "panic");
    let (out, report) = run(&graph("panic.toml"), &dir, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("node `boom` (test.panic) failed"),
        "{}",
        stderr(&out)
    );
    assert!(
        report["nodes"]["boom"]["error"]
            .as_str()
            .unwrap()
            .contains("this node always panics")
    );
    assert_eq!(status(&report, "boom"), "failed");
    assert_eq!(status(&report, "after_boom"), "skipped");
    assert_eq!(status(&report, "sum"), "ran", "independent nodes still run");
}

#[test]
fn a_node_returning_an_error_fails_with_its_message_and_nothing_downstream_runs() {
    let dir = Scratch::new("faults", "error");
    let (out, report) = run(&one_node_graph(&dir, "test.fail"), &dir, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("node `node` (test.fail) failed"), "{err}");
    assert!(
        err.contains("utterance `train_3` has no frames"),
        "the plugin's own message: {err}"
    );
    assert_eq!(status(&report, "after"), "skipped");
    assert_eq!(status(&report, "sum"), "ran");
    // Nothing of the failed node is in the cache for a rerun to take.
    let (_, again) = run(&one_node_graph(&dir, "test.fail"), &dir, &[]);
    assert_eq!(status(&again, "node"), "failed");
}

/// `emoflow plugin check` on the fixture plugin, with EXTRA arguments.
fn plugin_check(extra: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(bin_dir().join("emoflow"))
        .args(["plugin", "check"])
        .arg(bin_dir().join("libfixture_nodes.so"))
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn plugin_check_fails_each_author_mistake_naming_the_kind_and_port() {
    let (code, text) = plugin_check(&[]);
    assert_eq!(code, Some(1), "{text}");
    for (kind, says) in [
        ("test.bad_schema", "output `out` (port type `series`)"),
        ("test.panic", "this node always panics"),
        (
            "test.reads_undeclared",
            "`test.reads_undeclared` has no input port `labels` (a bug in the node)",
        ),
        (
            "test.writes_undeclared",
            "produced output `extra`, which it does not declare (a bug in the node)",
        ),
    ] {
        let block = text
            .split("FAIL ")
            .find(|b| b.starts_with(kind))
            .unwrap_or_else(|| panic!("no FAIL {kind}:\n{text}"));
        assert!(
            block.contains(says),
            "FAIL {kind} should say `{says}`:\n{text}"
        );
    }
    assert!(text.contains("ok   test.pass"), "{text}");
}

#[test]
fn plugin_check_does_not_invent_a_required_parameter() {
    let (_, text) = plugin_check(&[]);
    assert!(
        text.contains(
            "skip test.needs_param: not run: required parameter `window` has no default or example"
        ),
        "{text}"
    );
    let (_, text) = plugin_check(&["--params", r#"test.needs_param={"window": 3}"#]);
    assert!(
        text.contains(r#"ok   test.needs_param: ran on fixtures with {"window":3}"#),
        "{text}"
    );
}

#[test]
fn output_that_breaks_its_schema_fails_the_run_naming_node_and_port() {
    let dir = Scratch::new("faults", "schema");
    let file = dir.join("graph.toml");
    std::fs::write(&file, "[nodes.bad]\nkind = \"test.bad_schema\"\n\n[nodes.sum]\nkind = \"test.sum\"\ninputs = { in = \"bad.out\" }\n")
        .unwrap();
    let (out, report) = run(&file, &dir, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("node `bad` (test.bad_schema) failed"), "{err}");
    assert!(err.contains("`out`"), "the port is named: {err}");
    assert_eq!(status(&report, "sum"), "skipped");
}

/// Builds an out-of-tree plugin project of this repository (its own Cargo
/// project, not a workspace member) into `target/out-of-tree` and copies its
/// library into `into/plugins`.
fn out_of_tree_plugin(project: &str, lib: &str, into: &Scratch) -> PathBuf {
    let target = repo_root().join("target/out-of-tree");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(repo_root().join(project).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .unwrap();
    assert!(built.success(), "building {project} failed");
    let dir = into.join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(target.join("release").join(lib), dir.join(lib)).unwrap();
    dir
}

/// `emoflow --plugin-path PLUGINS check` of a one-node graph of `kind`.
fn check_with(plugins: &Path, dir: &Scratch, kind: &str) -> (Option<i32>, String) {
    let graph_file = dir.join("one.toml");
    std::fs::write(&graph_file, format!("[nodes.n]\nkind = \"{kind}\"\n")).unwrap();
    let out = emoflow()
        .arg("--plugin-path")
        .arg(plugins)
        .arg("check")
        .arg(&graph_file)
        .output()
        .unwrap();
    (out.status.code(), stderr(&out))
}

#[test]
fn a_plugin_built_separately_for_another_abi_major_is_refused_by_name() {
    let dir = Scratch::new("faults", "abi-next");
    let plugins = out_of_tree_plugin("tests/abi-next-plugin", "libabi_next_plugin.so", &dir);
    let (code, err) = check_with(&plugins, &dir, "test.abi_next");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("libabi_next_plugin.so"),
        "the file is named: {err}"
    );
    assert!(
        err.contains("speaks emoflow plugin ABI 2, this emoflow speaks ABI 1"),
        "both versions: {err}"
    );
    assert!(
        err.contains("1 plugin library could not be loaded"),
        "the kind error points at it: {err}"
    );
}

#[test]
fn a_library_without_the_entry_point_is_named_when_its_kind_is_missing() {
    let dir = Scratch::new("faults", "no-entry");
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    // A real shared library that is not a plugin: the C library's math part.
    let libm = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("libm.so.6");
    std::fs::copy(libm, plugins.join("libmy_decoder.so")).unwrap();
    let (code, err) = check_with(&plugins, &dir, "decode.mine");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("libmy_decoder.so") && err.contains("export_plugin!"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_no_library_is_refused_with_the_loaders_reason() {
    let dir = Scratch::new("faults", "not-elf");
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("libgarbage.so"), b"not a shared library").unwrap();
    let (code, err) = check_with(&plugins, &dir, "decode.mine");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("cannot load plugin") && err.contains("libgarbage.so"),
        "{err}"
    );
    assert!(
        err.contains("invalid ELF header") || err.contains("file too short"),
        "the loader's reason: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
