//! Graph files as an experimenter writes them: a stage swapped in one line
//! keeps its wiring, shared settings by kind, required parameters, fragments
//! that say what they need, `--set` typos caught. Each through the binary,
//! on the repository's graphs where the promise is about them.

use std::path::{Path, PathBuf};

use emoflow_faults::{Scratch, emoflow, repo_root, run, status, stderr};

/// A graph file extending the repository's `graphs/BASE` with `body`.
fn extending(dir: &Scratch, name: &str, base: &str, body: &str) -> PathBuf {
    let file = dir.join(name);
    let base = repo_root().join("graphs").join(base);
    std::fs::write(
        &file,
        format!("[graph]\nextends = \"{}\"\n{body}", base.display()),
    )
    .unwrap();
    file
}

fn check(file: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = emoflow()
        .arg("check")
        .arg(file)
        .args(extra)
        .output()
        .unwrap();
    (out.status.code(), stderr(&out))
}

#[test]
fn swapping_the_discretizer_in_one_line_keeps_its_wiring_and_runs_the_demo_test_preset() {
    for kind in ["cluster.quantile", "cluster.kmeans"] {
        let dir = Scratch::new("compose", kind);
        let file = extending(
            &dir,
            "swap.toml",
            "demo.toml",
            &format!("[nodes.discretize]\nkind = \"{kind}\"\n"),
        );
        let (code, err) = check(&file, &[]);
        assert_eq!(code, Some(0), "{err}");
        let expected = format!(
            "{}:4:8: node `discretize` is now {kind} (was cluster.optimal1d): kept inputs `labels`, parameters `fit_splits`, `k`; dropped nothing",
            file.display()
        );
        assert!(err.contains(&expected), "missing `{expected}` in:\n{err}");

        let (out, report) = run(&file, &dir, &["--preset-test"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&expected),
            "run logs the swap: {}",
            stderr(&out)
        );
        assert_eq!(report["nodes"]["discretize"]["kind"], kind);
        assert_eq!(status(&report, "discretize"), "ran");
    }
}

#[test]
fn swapping_the_decoder_for_viterbi_needs_exactly_its_classes_input() {
    let dir = Scratch::new("compose", "viterbi");
    let swap = "[nodes.raw]\nkind = \"decode.viterbi\"\n";
    let without = extending(&dir, "without.toml", "demo.toml", swap);
    let (code, err) = check(&without, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("node `raw` is now decode.viterbi (was decode.argmax): kept inputs `codebook`, `posteriors`; dropped nothing"), "{err}");
    assert!(
        err.contains(&format!(
            "{}:3:8: error: input `classes` of node `raw` is not wired",
            without.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("wire it: inputs.classes = \"NODE.PORT\""),
        "{err}"
    );
    assert!(
        err.contains("1 error found"),
        "only the missing input: {err}"
    );

    let with = extending(
        &dir,
        "with.toml",
        "demo.toml",
        &format!("{swap}inputs.classes = \"discretize.classes\"\n"),
    );
    let (out, report) = run(&with, &dir, &["--preset-test"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // `raw` reads the swept classifier: one copy per trial.
    let raws: Vec<_> = report["nodes"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(n, _)| n.starts_with("raw["))
        .collect();
    assert!(
        !raws.is_empty() && raws.iter().all(|(_, n)| n["kind"] == "decode.viterbi"),
        "{raws:?}"
    );
}

#[test]
fn a_swap_drops_what_the_new_kind_does_not_take_and_says_so() {
    let dir = Scratch::new("compose", "dropped");
    // The RECOLA reader's `root` means nothing to the synthetic source, and
    // with it goes the only use of the required `data`.
    let file = extending(
        &dir,
        "synthetic.toml",
        "paper/table2.toml",
        "[nodes.corpus]\nkind = \"source.synthetic\"\n",
    );
    let (code, err) = check(&file, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("node `corpus` is now source.synthetic (was source.avec2016): kept nothing; dropped parameters `root`"), "{err}");
}

#[test]
fn the_paper_graph_without_its_data_stops_before_any_node_runs_naming_the_parameter() {
    let dir = Scratch::new("compose", "required");
    let table2 = repo_root().join("graphs/paper/table2.toml");
    let (out, report) = run(&table2, &dir, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error: set `data` (an AVEC 2016 RECOLA copy): --set data=VALUE"),
        "{err}"
    );
    assert!(
        err.contains("graphs/common/recola.toml:7:1"),
        "at its declaration, the corpus fragment: {err}"
    );
    assert!(
        report.is_null() && !dir.join("cache").exists(),
        "nothing ran"
    );

    let (code, err) = check(&table2, &["--set", "data=some/RECOLA"]);
    assert_eq!(code, Some(0), "a plain path is a string: {err}");
}

#[test]
fn a_set_value_that_starts_like_toml_but_does_not_parse_is_an_error() {
    let demo = repo_root().join("graphs/demo.toml");
    let (code, err) = check(&demo, &["--set", "alphas=[0.0,"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--set:1:")
            && err.contains("error: `--set` value is not valid TOML: unclosed array"),
        "{err}"
    );
}

#[test]
fn defaults_by_kind_reach_every_node_of_the_kind_and_a_node_overrides_them() {
    let dir = Scratch::new("compose", "defaults");
    let file = dir.join("defaults.toml");
    std::fs::write(
        &file,
        "[defaults.\"test.source\"]\nrows = 2\nvalues = 2\n\n\
         [nodes.one]\nkind = \"test.source\"\n\n\
         [nodes.two]\nkind = \"test.source\"\nrows = 3\noffset = 10.0\n\n\
         [nodes.both]\nkind = \"test.sum\"\ninputs = { in = [\"one.out\", \"two.out\"] }\n",
    )
    .unwrap();
    let (out, report) = run(&file, &dir, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // 2 rows of (0 + 1) and 3 rows of (10 + 11), as if each node said so.
    let sum = report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["node"] == "both")
        .unwrap();
    assert_eq!(sum["value"], 2.0 + 63.0);

    std::fs::write(
        &file,
        "[defaults.\"test.sourc\"]\nrows = 2\n\n[nodes.one]\nkind = \"test.source\"\n",
    )
    .unwrap();
    let (code, err) = check(&file, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:1:11: error: defaults for `test.sourc`, but no node is of that kind",
            file.display()
        )),
        "{err}"
    );
    assert!(err.contains("did you mean `test.source`?"), "{err}");
}

#[test]
fn extending_a_fragment_without_the_node_it_requires_is_reported_in_the_extending_file() {
    let dir = Scratch::new("compose", "requires");
    let file = extending(&dir, "no_corpus.toml", "common/frontend.toml", "");
    let (code, err) = check(&file, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:2:11: error: ", file.display())),
        "at the `extends` line: {err}"
    );
    assert!(
        err.contains("frontend.toml needs a node `corpus` with outputs `audio`, `labels`"),
        "{err}"
    );
    assert!(
        err.contains("source.avec2016") && err.contains("source.synthetic"),
        "kinds that fit: {err}"
    );
    assert!(
        err.contains("1 error found"),
        "nothing inside the fragment: {err}"
    );
}

#[test]
fn tied_sweep_parameters_read_as_a_list_and_the_comma_joined_key_still_works() {
    let nodes = "[nodes.a]\nkind = \"test.source\"\nrows = 2\n\n[nodes.b]\nkind = \"test.source\"\nrows = 2\n\n\
                 [nodes.sa]\nkind = \"test.sum\"\ninputs = { in = \"a.out\" }\n\n[nodes.sb]\nkind = \"test.sum\"\ninputs = { in = \"b.out\" }\n\n\
                 [sweep]\nselect = { node = \"sa\", metric = \"sum\", split = \"train\", goal = \"min\" }\n";
    let trials_and_nodes = |grid: &str| {
        let dir = Scratch::new("compose", "tied");
        let file = dir.join("tied.toml");
        std::fs::write(&file, format!("{nodes}{grid}\n")).unwrap();
        let (out, report) = run(&file, &dir, &[]);
        assert!(out.status.success(), "{grid}: {}", stderr(&out));
        let trials: Vec<String> = report["sweep"]["trials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].to_string())
            .collect();
        let names: Vec<String> = report["nodes"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        (trials, names)
    };
    let (trials, names) = trials_and_nodes(
        "grid.offset = { params = [\"a.offset\", \"b.offset\"], values = [3.0, -1.0] }",
    );
    assert_eq!(trials, ["\"offset=3.0\"", "\"offset=-1.0\""]);
    assert!(names.contains(&"b[offset=-1.0]".to_string()), "{names:?}");
    assert_eq!(
        (trials, names),
        trials_and_nodes("grid = { \"a.offset,b.offset\" = [3.0, -1.0] }")
    );
}

#[test]
fn the_metric_parameter_once_called_labels_is_refused_under_that_name_naming_the_new_one() {
    let dir = Scratch::new("compose", "renamed");
    let file = extending(
        &dir,
        "old_name.toml",
        "demo.toml",
        "[nodes.raw_ccc]\nlabels = { system = \"CLS-Raw\" }\n",
    );
    let (code, err) = check(&file, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:4:1: error: parameter `labels` of node `raw_ccc` is now called `row_labels`",
            file.display()
        )),
        "{err}"
    );
    assert!(err.contains("rename it: row_labels = ..."), "{err}");
}

#[test]
fn a_test_preset_merges_with_the_one_of_the_file_it_extends() {
    let dir = Scratch::new("compose", "test-merge");
    std::fs::write(
        dir.join("base.toml"),
        "[params]\nrows = 5\n\n[nodes.source]\nkind = \"test.source\"\nrows = \"${rows}\"\nvalues = 2\n\n\
         [nodes.sum]\nkind = \"test.sum\"\ninputs = { in = \"source.out\" }\n\n\
         [test]\nparams = { rows = 2 }\nnodes.source = { offset = 10.0 }\n",
    )
    .unwrap();
    let file = dir.join("top.toml");
    std::fs::write(
        &file,
        "[graph]\nextends = \"base.toml\"\n\n[test]\nnodes.sum = { scale = 2.0 }\n",
    )
    .unwrap();
    let (out, report) = run(&file, &dir, &["--preset-test"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Both presets: 2 rows of (10 + 11), scaled by 2.
    let sum = report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["node"] == "sum")
        .unwrap();
    assert_eq!(sum["value"], 2.0 * 2.0 * 21.0);
}
