//! Python kinds (nodes/python, python/emoflow_sdk): a raised exception, an
//! output of the wrong column type and a missing package each fail their
//! node with a clear message while the host goes on; an interpreter
//! without pyarrow is named with what to install; Python's `logging`
//! reaches the host's log; the Python `decode.argmax` of
//! plugins/python-example predicts what the Rust one does.
//!
//! They use the venv scripts/setup-python-plugins.sh makes (.venv-python).

use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float32Type;
use emoflow_faults::{Scratch, emoflow, one_node_graph, repo_root, status, stderr};

/// The interpreter of .venv-python, which has pyarrow.
fn venv_python() -> PathBuf {
    let python = repo_root().join(".venv-python/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup-python-plugins.sh",
        python.display()
    );
    python
}

fn fixture_kinds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// `emoflow run GRAPH EXTRA...` with the Python kinds of KINDS (and the
/// fixture plugin), on .venv-python.
fn run_with(
    kinds: &Path,
    graph: &Path,
    dir: &Scratch,
    extra: &[&str],
) -> (std::process::Output, serde_json::Value) {
    // Both plugin directories before the command: given after it, the
    // global option would replace the fixture plugin's directory.
    let out = emoflow()
        .arg("--plugin-path")
        .arg(kinds)
        .arg("run")
        .arg(graph)
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--cache")
        .arg(dir.join("cache"))
        .args(extra)
        .env("EMOFLOW_PYTHON", venv_python())
        .output()
        .unwrap();
    (out, emoflow_faults::report(dir))
}

fn run_python(graph: &Path, dir: &Scratch) -> (std::process::Output, serde_json::Value) {
    run_with(&fixture_kinds(), graph, dir, &[])
}

/// Runs KIND between the fixture nodes; checks that it alone failed and
/// returns stderr.
fn fails_alone(name: &str, kind: &str) -> String {
    let dir = Scratch::new("python", name);
    let (out, report) = run_python(&one_node_graph(&dir, kind), &dir);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("node `node` ({kind}) failed")),
        "{err}"
    );
    assert_eq!(status(&report, "node"), "failed", "{err}");
    assert_eq!(status(&report, "after"), "skipped");
    assert_eq!(status(&report, "sum"), "ran", "the host goes on: {err}");
    err
}

#[test]
fn a_python_exception_fails_its_node_with_the_traceback() {
    let err = fails_alone("raises", "pyfaults.raises");
    assert!(
        err.contains("the Python kind `pyfaults.raises` raised an exception"),
        "{err}"
    );
    assert!(err.contains("Traceback (most recent call last)"), "{err}");
    assert!(
        err.contains("pyfaults.py\", line") && err.contains("in _check"),
        "the frame that raised: {err}"
    );
    assert!(
        err.contains("ValueError: utterance has 2 rows, this kind always fails"),
        "{err}"
    );
}

#[test]
fn a_python_output_of_the_wrong_column_type_fails_naming_port_and_column() {
    let err = fails_alone("wrong-type", "pyfaults.wrong_type");
    assert!(err.contains("`out`"), "the port: {err}");
    assert!(
        err.contains("column `values` is List(") && err.contains("wants List<Float32>"),
        "{err}"
    );
}

#[test]
fn a_missing_python_package_fails_the_node_naming_what_to_install() {
    let err = fails_alone("missing-package", "pyfaults.missing_package");
    assert!(
        err.contains("No module named 'emoflow_package_nobody_installed'"),
        "{err}"
    );
    assert!(
        err.contains("-m pip install emoflow_package_nobody_installed"),
        "what to install: {err}"
    );
}

#[test]
fn an_interpreter_without_pyarrow_or_none_at_all_is_named_with_what_to_install() {
    let dir = Scratch::new("python", "no-pyarrow");
    // A bare venv of the embedded Python: no NumPy, no pyarrow.
    let venv = dir.join("bare");
    let made = Command::new("/usr/bin/python3.11")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(made.success());
    let out = emoflow()
        .arg("--plugin-path")
        .arg(fixture_kinds())
        .arg("check")
        .arg(one_node_graph(&dir, "pyfaults.raises"))
        .env("EMOFLOW_PYTHON", venv.join("bin/python"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("which EMOFLOW_PYTHON="),
        "names the interpreter: {err}"
    );
    assert!(
        err.contains("scripts/setup-python-plugins.sh"),
        "says what to install: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    // No interpreter at all.
    let out = emoflow()
        .arg("--plugin-path")
        .arg(fixture_kinds())
        .arg("check")
        .arg(one_node_graph(&dir, "pyfaults.raises"))
        .env("EMOFLOW_PYTHON", dir.join("no-such-python"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no-such-python cannot run")
            && err.contains("scripts/setup-python-plugins.sh"),
        "{err}"
    );
}

#[test]
fn python_logging_reaches_the_host_log_with_the_node_name() {
    let dir = Scratch::new("python", "logs");
    let (out, report) = run_python(&one_node_graph(&dir, "pyfaults.logs"), &dir);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(status(&report, "after"), "ran");
    let line = err
        .lines()
        .find(|l| l.contains("2 rows passed through Python"))
        .unwrap_or_else(|| panic!("no log line: {err}"));
    assert!(
        line.contains("WARN") && line.contains("node"),
        "level and node name: {line}"
    );
}

/// The rows of a node's port file in the cache.
fn port_rows(report: &serde_json::Value, node: &str, port: &str) -> Vec<RecordBatch> {
    let dir = PathBuf::from(
        report["nodes"][node]["outputs"]
            .as_str()
            .unwrap_or_else(|| panic!("{node} has no outputs")),
    );
    let file = std::fs::File::open(dir.join(format!("{port}.arrow"))).unwrap();
    arrow::ipc::reader::FileReader::try_new(file, None)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// (utterance, dimension, values) of a `series` port.
fn series(batches: &[RecordBatch]) -> Vec<(String, String, Vec<f32>)> {
    let mut rows = Vec::new();
    for batch in batches {
        let (utt, dim) = (
            batch.column_by_name("utt_id").unwrap().as_string::<i32>(),
            batch.column_by_name("dim").unwrap().as_string::<i32>(),
        );
        let values = batch.column_by_name("values").unwrap().as_list::<i32>();
        for i in 0..batch.num_rows() {
            let v = values.value(i);
            rows.push((
                utt.value(i).to_string(),
                dim.value(i).to_string(),
                v.as_primitive::<Float32Type>().values().to_vec(),
            ));
        }
    }
    rows
}

#[test]
fn the_python_argmax_decoder_predicts_what_decode_argmax_does_in_the_example_graph() {
    let dir = Scratch::new("python", "argmax");
    let example = repo_root().join("plugins/python-example");
    let (out, report) = run_with(
        &example,
        &example.join("graph.toml"),
        &dir,
        &["--preset-test"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (rust, python) = (
        series(&port_rows(&report, "raw", "predictions")),
        series(&port_rows(&report, "pyraw", "predictions")),
    );
    assert!(!rust.is_empty());
    assert_eq!(rust.len(), python.len());
    for (r, p) in rust.iter().zip(&python) {
        assert_eq!((&r.0, &r.1), (&p.0, &p.1));
        assert_eq!(
            r.2, p.2,
            "utterance {} ({}): the decoders disagree",
            r.0, r.1
        );
    }
    // The Python feature kind fed the model: three times the dimensions.
    let features = port_rows(&report, "delta", "features");
    let znorm = port_rows(&report, "znorm", "features");
    let dims = |b: &[RecordBatch]| match b[0]
        .schema()
        .field_with_name("features")
        .unwrap()
        .data_type()
    {
        arrow::datatypes::DataType::List(f) => match f.data_type() {
            arrow::datatypes::DataType::FixedSizeList(_, d) => *d,
            other => panic!("{other}"),
        },
        other => panic!("{other}"),
    };
    assert_eq!(dims(&features), 3 * dims(&znorm));
    assert!(features[0].column_by_name("features").unwrap().null_count() == 0);
}

#[test]
fn editing_a_python_kind_or_a_module_it_imports_reruns_its_node() {
    let dir = Scratch::new("python", "cache");
    let kinds = dir.join("kinds");
    std::fs::create_dir_all(&kinds).unwrap();
    std::fs::write(kinds.join("helper.py"), "FACTOR = 2.0\n").unwrap();
    let module = "import emoflow_sdk as ef\nfrom helper import FACTOR\n\n\
        @ef.kind(\"pycache.scale\", inputs=[ef.Input(\"in\", ef.port.SERIES)], outputs=[ef.Output(\"out\", ef.port.SERIES)])\n\
        def scale(ctx, params, inputs):\n    return {\"out\": inputs[\"in\"]}  # FACTOR: only read for the cache\n";
    std::fs::write(kinds.join("scale.py"), module).unwrap();
    let graph = dir.join("graph.toml");
    std::fs::write(
        &graph,
        "[nodes.source]\nkind = \"test.source\"\nrows = 2\n\n[nodes.node]\nkind = \"pycache.scale\"\ninputs = { in = \"source.out\" }\n",
    )
    .unwrap();
    let run = || {
        let (out, report) = run_with(&kinds, &graph, &dir, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        status(&report, "node").to_string()
    };
    assert_eq!(run(), "ran");
    assert_eq!(run(), "cached");
    std::fs::write(kinds.join("helper.py"), "FACTOR = 3.0\n").unwrap();
    assert_eq!(run(), "ran", "the imported module changed");
    assert_eq!(run(), "cached");
    std::fs::write(kinds.join("scale.py"), format!("{module}# edited\n")).unwrap();
    assert_eq!(run(), "ran", "the kind's module changed");
}

#[test]
fn a_kind_module_that_fails_to_import_is_named_with_its_traceback() {
    let dir = Scratch::new("python", "import");
    let kinds = dir.join("kinds");
    std::fs::create_dir_all(&kinds).unwrap();
    std::fs::write(
        kinds.join("broken.py"),
        "import emoflow_sdk\nimport emoflow_package_nobody_installed\n",
    )
    .unwrap();
    let out = emoflow()
        .arg("--plugin-path")
        .arg(&kinds)
        .arg("check")
        .arg(one_node_graph(&dir, "pyfaults.raises"))
        .env("EMOFLOW_PYTHON", venv_python())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("broken.py: importing it failed"),
        "the module: {err}"
    );
    assert!(
        err.contains("No module named 'emoflow_package_nobody_installed'"),
        "{err}"
    );
    assert!(
        err.contains("-m pip install emoflow_package_nobody_installed"),
        "{err}"
    );
}
