//! Malformed graphs: `emoflow check` (and `run`, which validates first)
//! reports every problem at once, each at file:line:column with a
//! suggestion, and exits 2 before anything runs.

use emoflow_faults::{Scratch, emoflow, graph, stderr};

fn check(file: &std::path::Path) -> (Option<i32>, String) {
    let out = emoflow().arg("check").arg(file).output().unwrap();
    (out.status.code(), stderr(&out))
}

#[test]
fn typos_and_bad_values_are_all_reported_with_their_place_and_a_suggestion() {
    let (code, err) = check(&graph("typos.toml"));
    assert_eq!(code, Some(2), "{err}");
    let file = graph("typos.toml").display().to_string();
    for expected in [
        format!("{file}:7:1: error: node `source` has no parameter `colour`"),
        format!("{file}:6:8: error: parameter `rows` of node `source` must be at least 1"),
        format!("{file}:10:8: error: unknown node kind `test.summ`"),
        "did you mean `test.sum`?".to_string(),
        format!("{file}:15:12: error: `test.pass` has no input port `inn`"),
        "did you mean `in`?".to_string(),
        format!("{file}:15:18: error: node `source` (test.source) has no output port `outt`"),
        "did you mean `out`?".to_string(),
        "input `in` of node `pass` is not wired".to_string(),
    ] {
        assert!(err.contains(&expected), "missing `{expected}` in:\n{err}");
    }
}

#[test]
fn a_cycle_is_reported_with_the_nodes_in_it() {
    let (code, err) = check(&graph("cycle.toml"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cycle between nodes `a`, `b`"), "{err}");
}

#[test]
fn a_toml_syntax_error_names_its_line_and_column() {
    let dir = Scratch::new("faults", "syntax");
    let file = dir.join("broken.toml");
    std::fs::write(
        &file,
        "[nodes.source]\nkind = \"test.source\"\nrows = [1, 2\n",
    )
    .unwrap();
    let (code, err) = check(&file);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:3:", file.display())),
        "the line is named: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn wiring_a_port_to_one_of_another_type_is_refused_naming_both_types() {
    let dir = Scratch::new("faults", "types");
    let file = dir.join("types.toml");
    std::fs::write(
        &file,
        "[nodes.source]\nkind = \"test.source\"\n\n[nodes.sum]\nkind = \"test.sum\"\ninputs = { in = \"source.out\" }\n\n\
         [nodes.pass]\nkind = \"test.pass\"\ninputs = { in = \"sum.metrics\" }\n",
    )
    .unwrap();
    let (code, err) = check(&file);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:10:", file.display())),
        "the wiring's line: {err}"
    );
    assert!(
        err.contains("metrics") && err.contains("series"),
        "both port types: {err}"
    );
}

#[test]
fn extending_a_missing_file_names_it() {
    let dir = Scratch::new("faults", "extends");
    let file = dir.join("child.toml");
    std::fs::write(&file, "[graph]\nextends = \"missing-parent.toml\"\n").unwrap();
    let (code, err) = check(&file);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("missing-parent.toml"), "{err}");
}

#[test]
fn a_parameter_rule_only_the_node_knows_is_reported_at_that_parameter_before_anything_runs() {
    let dir = Scratch::new("faults", "constructor");
    let file = dir.join("median.toml");
    std::fs::write(
        &file,
        "[nodes.source]\nkind = \"test.source\"\nrows = 3\n\n[nodes.smooth]\nkind = \"smooth.median\"\ninputs = { series = \"source.out\" }\nwindow = 4\n",
    )
    .unwrap();
    let (code, err) = check(&file);
    assert_eq!(code, Some(2), "{err}");
    let expected = format!(
        "{}:8:10: error: node `smooth` (smooth.median) refuses its parameters: window = 4 must be odd",
        file.display()
    );
    assert!(err.contains(&expected), "missing `{expected}` in:\n{err}");
    // `run` validates the same way: nothing runs, nothing is cached.
    let run = emoflow()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--cache")
        .arg(dir.join("cache"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(stderr(&run).contains(&expected), "{}", stderr(&run));
    assert!(
        !dir.join("out/run.json").exists() && !dir.join("cache").exists(),
        "nothing ran"
    );
}

#[test]
fn a_graph_without_nodes_is_refused_by_check_and_run_naming_the_file() {
    let dir = Scratch::new("faults", "empty");
    let file = dir.join("empty.toml");
    std::fs::write(&file, "[graph]\nname = \"empty\"\n").unwrap();
    let (code, err) = check(&file);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:1:1: error: the graph has no nodes",
            file.display()
        )),
        "{err}"
    );
    let run = emoflow()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--cache")
        .arg(dir.join("cache"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("the graph has no nodes"),
        "{}",
        stderr(&run)
    );
}
