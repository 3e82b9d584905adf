//! The `emoflow` command line, end to end, against the fixture plugin
//! (tests/fixture-nodes, built by `cargo test --workspace`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use emoflow_faults::Scratch;

fn emoflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_emoflow"))
}

/// The directory holding the fixture plugin, next to the binary.
fn fixtures() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_emoflow"))
        .parent()
        .unwrap()
        .to_path_buf();
    assert!(
        dir.join("libfixture_nodes.so").exists(),
        "the fixture plugin is not built in {}: run the tests with `cargo test --workspace`",
        dir.display()
    );
    dir
}

fn graph(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/graphs")
        .join(name)
}

fn scratch(name: &str) -> Scratch {
    Scratch::new("cli", name)
}

fn run(graph_file: &str, dir: &Path, extra: &[&str]) -> (Output, serde_json::Value) {
    let out = emoflow()
        .arg("--plugin-path")
        .arg(fixtures())
        .arg("run")
        .arg(graph(graph_file))
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--cache")
        .arg(dir.join("cache"))
        .args(extra)
        .output()
        .unwrap();
    let report = std::fs::read(dir.join("out/run.json"))
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or(serde_json::Value::Null);
    (out, report)
}

fn status<'a>(report: &'a serde_json::Value, node: &str) -> &'a str {
    report["nodes"][node]["status"]
        .as_str()
        .unwrap_or("missing")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_graph_of_plugin_nodes_runs_and_reports_its_metrics() {
    let dir = scratch("runs");
    let (out, report) = run("chain.toml", &dir, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["status"], "ok");
    for node in ["source", "pass", "sum", "other_sum"] {
        assert_eq!(status(&report, node), "ran", "{node}");
    }
    // 4 rows of 0..10: 4 * 45.
    let sums: Vec<f64> = report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_f64().unwrap())
        .collect();
    assert_eq!(sums, vec![180.0, 180.0]);
}

#[test]
fn a_second_run_is_all_cached_and_a_changed_parameter_reruns_only_its_descendants() {
    let dir = scratch("cache");
    run("chain.toml", &dir, &[]);
    let (_, again) = run("chain.toml", &dir, &[]);
    for node in ["source", "pass", "sum", "other_sum"] {
        assert_eq!(status(&again, node), "cached", "{node}");
    }
    let (out, changed) = run("chain.toml", &dir, &["--set", "pass.__never__=1"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown parameter is refused: {}",
        stderr(&out)
    );
    let _ = changed;
    // Change only the second sum's upstream: give `pass` a new input by
    // changing the source; everything below it reruns, nothing else exists.
    let (out, changed) = run("chain.toml", &dir, &["--set", "rows=5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for node in ["source", "pass", "sum", "other_sum"] {
        assert_eq!(status(&changed, node), "ran", "{node}");
    }
    let (_, back) = run("chain.toml", &dir, &["--set", "rows=4"]);
    for node in ["source", "pass", "sum", "other_sum"] {
        assert_eq!(
            status(&back, node),
            "cached",
            "{node}: the first entries are still valid"
        );
    }
}

#[test]
fn no_cache_runs_everything() {
    let dir = scratch("nocache");
    run("chain.toml", &dir, &[]);
    let (_, report) = run("chain.toml", &dir, &["--no-cache"]);
    assert_eq!(status(&report, "source"), "ran");
}

#[test]
fn plugins_lists_kinds_with_ports_and_parameters() {
    let out = emoflow()
        .arg("--plugin-path")
        .arg(fixtures())
        .args(["plugins", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let kinds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let source = kinds
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "test.source")
        .unwrap();
    assert_eq!(source["outputs"][0]["type"], "series");
    assert!(source["params"]["properties"]["rows"].is_object());
    assert!(
        source["library"]
            .as_str()
            .unwrap()
            .ends_with("libfixture_nodes.so")
    );
}

#[test]
fn graph_dot_draws_the_dag() {
    let out = emoflow()
        .arg("--plugin-path")
        .arg(fixtures())
        .arg("graph")
        .arg(graph("chain.toml"))
        .arg("--dot")
        .output()
        .unwrap();
    let dot = String::from_utf8(out.stdout).unwrap();
    assert!(dot.starts_with("digraph \"chain\""));
    assert!(
        dot.contains("\"source\" -> \"pass\" [label=\"out → in\"]"),
        "{dot}"
    );
}

#[test]
fn synth_writes_the_avec_layout_deterministically() {
    let dir = scratch("synth");
    for sub in ["a", "b"] {
        let out = emoflow()
            .args(["synth", "--seconds", "2", "--per-split", "1", "--seed", "7"])
            .arg(dir.join(sub))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    for file in [
        "recordings_audio/train_1.wav",
        "recordings_audio/test_1.wav",
        "ratings_gold_standard/arousal/dev_1.arff",
    ] {
        let (a, b) = (
            std::fs::read(dir.join("a").join(file)).unwrap(),
            std::fs::read(dir.join("b").join(file)).unwrap(),
        );
        assert_eq!(a, b, "{file} is the same for the same seed");
    }
}

#[test]
fn synth_refuses_an_out_of_range_option_by_its_flag() {
    let dir = scratch("synth-range");
    for (flag, value) in [
        ("--sample-rate", "100"),
        ("--seconds", "0.5"),
        ("--per-split", "0"),
    ] {
        let out = emoflow()
            .args(["synth", flag, value])
            .arg(dir.join("corpus"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flag} {value}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(&format!("'{value}' for '{flag}")),
            "{}",
            stderr(&out)
        );
    }
    assert!(!dir.join("corpus").exists(), "nothing written");
}

#[test]
fn run_locked_refuses_a_plugin_that_changed_since_the_lock_was_written() {
    let dir = scratch("locked");
    // A private copy of the fixture plugin, to change after locking.
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let lib = plugins.join("libfixture_nodes.so");
    std::fs::copy(fixtures().join("libfixture_nodes.so"), &lib).unwrap();
    let graph_file = dir.join("chain.toml");
    std::fs::copy(graph("chain.toml"), &graph_file).unwrap();
    let locked_run = || {
        emoflow()
            .arg("--plugin-path")
            .arg(&plugins)
            .args(["run", "--locked", "--no-cache", "--out"])
            .arg(dir.join("out"))
            .arg(&graph_file)
            .output()
            .unwrap()
    };

    let out = locked_run();
    assert_eq!(
        out.status.code(),
        Some(2),
        "no lock file yet: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("emoflow lock"), "{}", stderr(&out));

    let out = emoflow()
        .arg("--plugin-path")
        .arg(&plugins)
        .arg("lock")
        .arg(&graph_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lock = std::fs::read_to_string(dir.join("chain.lock")).unwrap();
    assert!(lock.contains("name = \"emoflow-fixture-nodes\""), "{lock}");
    let out = locked_run();
    assert!(
        out.status.success(),
        "the locked build runs: {}",
        stderr(&out)
    );

    // Same plugin, different bytes (appended data leaves it loadable).
    let mut bytes = std::fs::read(&lib).unwrap();
    bytes.extend_from_slice(b"rebuilt");
    std::fs::write(&lib, bytes).unwrap();
    let out = locked_run();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("plugin `emoflow-fixture-nodes` (libfixture_nodes.so) changed"),
        "{err}"
    );
}

#[test]
fn a_sweep_runs_every_trial_selects_on_the_metric_and_runs_on_selected_nodes_once() {
    let dir = scratch("sweep");
    let (out, report) = run("sweep.toml", &dir, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sweep = &report["sweep"];
    assert_eq!(
        sweep["trials"].as_array().unwrap().len(),
        6,
        "3 offsets x 2 scales: {sweep}"
    );
    // sum = scale x 2 rows x (0 + 1 + 2 + 3 x offset): 0 for offset -1 at
    // either scale; on a tie the first trial in grid order wins.
    assert_eq!(
        sweep["selected"]["sum"]["arousal"], "offset=-1.0,scale=1.0",
        "{sweep}"
    );
    // The source is copied per offset only; the parameter downstream does not reach it.
    let nodes = report["nodes"].as_object().unwrap();
    let sources: Vec<&String> = nodes.keys().filter(|k| k.starts_with("source")).collect();
    assert_eq!(
        sources,
        [
            "source[offset=-1.0]",
            "source[offset=2.0]",
            "source[offset=3.0]"
        ],
        "{sources:?}"
    );
    assert_eq!(nodes.keys().filter(|k| k.starts_with("sum[")).count(), 6);
    // `total` reads the selected trial's data once: 2 rows x (0 + 1 + 2 - 3).
    assert_eq!(status(&report, "total"), "ran");
    let total: Vec<f64> = report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["node"] == "total")
        .map(|m| m["value"].as_f64().unwrap())
        .collect();
    assert_eq!(total, [0.0]);
    // Every trial's metric carries its trial label.
    let labelled = report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["trial"].is_string())
        .count();
    assert_eq!(labelled, 6);
}

#[test]
fn changing_only_a_downstream_sweep_list_reruns_nothing_upstream() {
    let dir = scratch("sweep-rerun");
    let (out, _) = run("sweep.toml", &dir, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (out, report) = run("sweep.toml", &dir, &["--set", "offsets=[3.0, -1.0]"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (name, node) in report["nodes"].as_object().unwrap() {
        if name.starts_with("source") || name.starts_with("pass") || name.starts_with("sum") {
            assert_eq!(node["status"], "cached", "{name} reran");
        }
    }
    assert_eq!(report["sweep"]["trials"].as_array().unwrap().len(), 4);
}

#[test]
fn a_sweep_naming_a_missing_node_is_an_error_with_a_suggestion() {
    let dir = scratch("sweep-typo");
    let text = std::fs::read_to_string(graph("sweep.toml"))
        .unwrap()
        .replace("\"sum.scale\"", "\"summ.scale\"");
    let file = dir.join("typo.toml");
    std::fs::write(&file, text).unwrap();
    let out = emoflow()
        .arg("--plugin-path")
        .arg(fixtures())
        .arg("check")
        .arg(&file)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("typo.toml:"), "points at the file: {err}");
    assert!(
        err.contains("names node `summ`") && err.contains("sum"),
        "{err}"
    );
}

#[test]
fn an_input_wired_to_a_list_reads_every_source() {
    let dir = scratch("fanin");
    let (out, report) = run("fanin.toml", &dir, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // 2 rows of (0 + 1) and 3 rows of (10 + 11).
    let sum = report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["node"] == "both")
        .unwrap();
    assert_eq!(sum["value"], 2.0 + 63.0);
}

/// A graph of the repository, with the standard plugins next to the binary.
fn repo_graph(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

#[test]
fn a_new_alpha_list_reruns_the_decoders_and_retrains_no_blstm() {
    let dir = scratch("alpha-rerun");
    let run_decoded = |extra: &[&str]| {
        let out = emoflow()
            .args(["run", "--preset-test", "--out"])
            .arg(dir.join("out"))
            .arg("--cache")
            .arg(dir.join("cache"))
            .arg(repo_graph("graphs/paper/cls_decoded.toml"))
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(dir.join("out/run.json")).unwrap(),
        )
        .unwrap()
    };
    run_decoded(&[]);
    let report = run_decoded(&["--set", "alphas=[0.0, 6.0]"]);
    let nodes = report["nodes"].as_object().unwrap();
    let models: Vec<_> = nodes
        .iter()
        .filter(|(_, n)| n["kind"] == "model.blstm")
        .collect();
    assert!(!models.is_empty());
    for (name, node) in &models {
        assert_eq!(node["status"], "cached", "{name} was retrained");
    }
    let new_decoders = nodes
        .iter()
        .filter(|(name, n)| {
            n["kind"] == "decode.emotion_lm" && name.contains("alpha=6.0") && n["status"] == "ran"
        })
        .count();
    assert!(new_decoders > 0, "the new alpha was decoded");
}

#[test]
fn the_paper_graph_runs_on_a_corpus_in_the_avec_layout() {
    let dir = scratch("avec-layout");
    let synth = emoflow()
        .arg("synth")
        .arg(dir.join("corpus"))
        .args(["--seconds", "20", "--per-split", "2"])
        .output()
        .unwrap();
    assert!(synth.status.success(), "{}", stderr(&synth));
    let mut args: Vec<String> = ["run", "--out"].map(String::from).to_vec();
    args.push(dir.join("out").display().to_string());
    args.extend(["--cache".into(), dir.join("cache").display().to_string()]);
    args.push(repo_graph("graphs/paper/table2.toml").display().to_string());
    args.extend([
        "--set".into(),
        format!("data={}", dir.join("corpus").display()),
    ]);
    for set in ["layers=[1]", "l2=[0.0]", "orders=[2]", "alphas=[0.0, 4.0]"] {
        args.extend(["--set".into(), set.into()]);
    }
    for model in ["cls", "reg_mse", "reg_ccc"] {
        for set in ["hidden=8", "stage1_epochs=1", "max_epochs=2", "seeds=[1]"] {
            args.extend(["--set".into(), format!("{model}.{set}")]);
        }
    }
    let out = emoflow().args(&args).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let table = std::fs::read_to_string(dir.join("out/table/table2.md")).unwrap();
    for system in ["REG-MSE", "REG-CCC", "CLS-Raw", "CLS-Decoded"] {
        assert!(table.contains(&format!("| {system} |")), "{table}");
    }
    assert!(dir.join("out/figure/figure3.png").exists());
}
