//! `emoflow export` and `emoflow predict`, end to end with the standard
//! nodes: a system trained by a graph, exported, applied to recordings.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use emoflow_faults::Scratch;

fn emoflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_emoflow"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The values of an AVEC-style ARFF (`name,time,value` rows).
fn arff_values(path: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let data = text.split("@data").nth(1).expect("an @data section");
    data.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.rsplit(',').next().unwrap().trim().parse().unwrap())
        .collect()
}

/// Trains the test graph on a synthetic corpus in the AVEC layout (the
/// first time; then from the cache) and exports `system`; returns the
/// corpus, the graph's output directory and the bundle.
fn trained_bundle(dir: &Path, system: &str) -> (PathBuf, PathBuf, PathBuf) {
    let corpus = dir.join("corpus");
    if !corpus.exists() {
        let synth = emoflow()
            .arg("synth")
            .arg(&corpus)
            .args(["--seconds", "20", "--per-split", "2"])
            .output()
            .unwrap();
        assert!(synth.status.success(), "{}", stderr(&synth));
    }
    let graph = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/graphs/predict.toml");
    let (out, bundle) = (dir.join("out"), dir.join(format!("bundle-{system}")));
    let export = export(
        emoflow(),
        &graph,
        system,
        &[format!("data={}", corpus.display())],
        dir,
        &bundle,
    );
    assert!(export.status.success(), "{}", stderr(&export));
    (corpus, out, bundle)
}

/// `command export GRAPH --system SYSTEM --set SET... BUNDLE` on the CPU,
/// with its output in DIR/out and its cache in DIR/cache.
fn export(
    mut command: Command,
    graph: &Path,
    system: &str,
    sets: &[String],
    dir: &Path,
    bundle: &Path,
) -> Output {
    command.arg("export").arg(graph);
    for set in sets {
        command.arg("--set").arg(set);
    }
    command
        .args(["--system", system, "--device", "cpu", "--out"])
        .arg(dir.join("out"))
        .arg("--cache")
        .arg(dir.join("cache"));
    command.arg(bundle).output().unwrap()
}

fn predict(bundle: &Path, out: &Path, audio: &[&Path]) -> Output {
    predict_with(emoflow(), bundle, out, audio)
}

fn predict_with(mut command: Command, bundle: &Path, out: &Path, audio: &[&Path]) -> Output {
    command
        .arg("predict")
        .arg(bundle)
        .args(audio)
        .arg("--out")
        .arg(out)
        .args(["--device", "cpu"])
        .output()
        .unwrap()
}

#[test]
fn an_exported_system_predicts_a_recording_as_the_graph_did_and_refuses_broken_bundles() {
    let dir = Scratch::new("predict", "equal");
    // CLS-Decoded and CLS-Raw, each dimension from the trial selected for
    // it, against the ARFFs the graph wrote of the same selection.
    for (system, written_by) in [("raw", "raw_predictions"), ("decoded", "predictions")] {
        let (corpus, graph_out, bundle) = trained_bundle(&dir, system);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
        let groups: Vec<&str> = manifest["selection"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["group"].as_str().unwrap())
            .collect();
        assert_eq!(
            groups,
            ["arousal", "valence"],
            "one selected system per dimension"
        );

        let wav = corpus.join("recordings_audio/test_1.wav");
        let out = dir.join(format!("predicted-{system}"));
        let run = predict(&bundle, &out, &[&wav]);
        assert!(run.status.success(), "{}", stderr(&run));
        for dim in ["arousal", "valence"] {
            let expected = arff_values(
                &graph_out.join(format!("{written_by}/{written_by}/{dim}/test_1.arff")),
            );
            let got = arff_values(&out.join(format!("arff/predictions/{dim}/test_1.arff")));
            assert_eq!(got.len(), expected.len(), "{system} {dim}: frames");
            assert_eq!(got.len(), 500, "{system} {dim}: 20 s at 40 ms");
            let worst = got
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(worst <= 1e-6, "{system} {dim}: largest difference {worst}");
        }
        let csv = std::fs::read_to_string(out.join("csv/predictions/test_1.csv")).unwrap();
        assert!(csv.starts_with("time,arousal,valence\n0,"), "{csv:.60}");
        assert!(out.join("plot/predictions-test_1.png").is_file());
    }
    let (corpus, _, bundle) = trained_bundle(&dir, "decoded");
    let wav = corpus.join("recordings_audio/test_1.wav");

    // A folder of new recordings, one of them too short for a frame: the
    // others are still predicted, the short one is named, the exit is 1.
    let new = dir.join("new");
    std::fs::create_dir_all(&new).unwrap();
    std::fs::copy(
        corpus.join("recordings_audio/dev_1.wav"),
        new.join("mine.wav"),
    )
    .unwrap();
    emoflow_faults::write_wav(&new.join("click.wav"), 16000, &[0; 160]);
    let run = predict(&bundle, &dir.join("new-out"), &[&new]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(stderr(&run).contains("click.wav"), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("gives no frame; feature.fbank needs at least 0.0250 s"),
        "{}",
        stderr(&run)
    );
    assert!(dir.join("new-out/csv/predictions/mine.csv").is_file());

    // Recordings at another rate are resampled to the training corpus's.
    let graph = std::fs::read_to_string(bundle.join("graph.toml")).unwrap();
    assert!(
        graph
            .contains("kind = \"feature.resample\"\ninputs.audio = \"corpus.audio\"\nrate = 16000"),
        "{graph}"
    );
    let corpus_32k = dir.join("corpus-32k");
    let synth = emoflow()
        .arg("synth")
        .arg(&corpus_32k)
        .args([
            "--seconds",
            "20",
            "--per-split",
            "1",
            "--sample-rate",
            "32000",
        ])
        .output()
        .unwrap();
    assert!(synth.status.success(), "{}", stderr(&synth));
    let wav_32k = dir.join("test_1_32k.wav");
    std::fs::copy(corpus_32k.join("recordings_audio/test_1.wav"), &wav_32k).unwrap();
    let run = predict(&bundle, &dir.join("32k"), &[&wav_32k]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(
        arff_values(&dir.join("32k/arff/predictions/arousal/test_1_32k.arff")).len(),
        500
    );

    // A bundle from another version, or missing a file: refused up front.
    let manifest_path = bundle.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(
        &manifest_path,
        text.replacen(
            &format!("\"{}\"", env!("CARGO_PKG_VERSION")),
            "\"0.0.1\"",
            1,
        ),
    )
    .unwrap();
    let run = predict(&bundle, &dir.join("other"), &[&wav]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains("exported by emoflow 0.0.1"),
        "{}",
        stderr(&run)
    );
    std::fs::write(&manifest_path, text).unwrap();
    let model = std::fs::read_dir(bundle.join("models"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_dir_all(&model).unwrap();
    let run = predict(&bundle, &dir.join("other"), &[&wav]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains("is missing models/"),
        "{}",
        stderr(&run)
    );
}

#[test]
fn export_names_an_unknown_system_and_refuses_a_node_that_fits_on_the_corpus_it_runs_on() {
    let dir = Scratch::new("predict", "refuse");
    let corpus = dir.join("corpus");
    let synth = emoflow()
        .arg("synth")
        .arg(&corpus)
        .args(["--seconds", "10", "--per-split", "1"])
        .output()
        .unwrap();
    assert!(synth.status.success(), "{}", stderr(&synth));
    let export = |system: &str| {
        emoflow()
            .arg("export")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/graphs/refit.toml"))
            .arg("--set")
            .arg(format!("data={}", corpus.display()))
            .args(["--system", system, "--device", "cpu", "--out"])
            .arg(dir.join("out"))
            .arg("--cache")
            .arg(dir.join("cache"))
            .arg(dir.join("bundle"))
            .output()
            .unwrap()
    };
    let typo = export("decodd");
    assert_eq!(typo.status.code(), Some(1));
    assert!(
        stderr(&typo).contains("no node `decodd` (did you mean `decoded`?)"),
        "{}",
        stderr(&typo)
    );
    let refit = export("calibrated");
    assert_eq!(refit.status.code(), Some(1));
    assert!(
        stderr(&refit).contains("node `calibrated` (post.avec) cannot be exported: its delay, bias and scale are fitted on dev"),
        "{}",
        stderr(&refit)
    );
    assert!(
        !dir.join("bundle").exists() && !dir.join("bundle.partial").exists(),
        "nothing half written"
    );
    // The same graph's `decoded` exports: the refusal is about the node.
    assert!(export("decoded").status.success());
    assert!(dir.join("bundle/manifest.json").is_file());
}

/// A model kind that is not `model.blstm` (the fixture plugin's
/// `test.mean_model`): export finds its weights parameter and artifact
/// files from its kind's declaration, and the bundle predicts a recording
/// as the graph did.
#[test]
fn a_model_kind_declaring_its_weights_exports_and_predicts_like_the_graph() {
    let dir = Scratch::new("predict", "fixture-model");
    let graph = dir.join("mean.toml");
    std::fs::write(
        &graph,
        r#"[graph]
name = "mean"

[nodes.corpus]
kind = "source.synthetic"
seconds = 4.0
per_split = 1

[nodes.fbank]
kind = "feature.fbank"
inputs = { audio = "corpus.audio" }

[nodes.model]
kind = "test.mean_model"
inputs = { features = "fbank.features", labels = "corpus.labels" }

[nodes.written]
kind = "io.write"
inputs = { data = "model.predictions" }
format = "arff"
"#,
    )
    .unwrap();
    let (out, bundle) = (dir.join("out"), dir.join("bundle"));
    let export = export(
        emoflow_faults::emoflow(),
        &graph,
        "model",
        &[],
        &dir,
        &bundle,
    );
    assert!(export.status.success(), "{}", stderr(&export));
    let saved: Vec<String> = std::fs::read_dir(bundle.join("models/model"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        saved,
        ["mean-arousal.txt", "mean-valence.txt"],
        "the declared artifacts, and only those"
    );
    let graph_toml = std::fs::read_to_string(bundle.join("graph.toml")).unwrap();
    assert!(
        graph_toml.contains("kind = \"test.mean_model\""),
        "{graph_toml}"
    );
    assert!(
        graph_toml.contains("weights = \"${bundle}/models/model\""),
        "{graph_toml}"
    );

    // The same recording, written to disk by `emoflow synth` (same seed).
    let corpus = dir.join("corpus");
    let synth = emoflow()
        .arg("synth")
        .arg(&corpus)
        .args(["--seconds", "4", "--per-split", "1"])
        .output()
        .unwrap();
    assert!(synth.status.success(), "{}", stderr(&synth));
    let predicted = dir.join("predicted");
    let run = predict_with(
        emoflow_faults::emoflow(),
        &bundle,
        &predicted,
        &[&corpus.join("recordings_audio/test_1.wav")],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    for dim in ["arousal", "valence"] {
        let expected = arff_values(&out.join(format!("written/written/{dim}/test_1.arff")));
        let got = arff_values(&predicted.join(format!("arff/predictions/{dim}/test_1.arff")));
        assert_eq!(got.len(), expected.len(), "{dim}: frames");
        assert!(!got.is_empty());
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 1e-6, "{dim}: largest difference {worst}");
    }
}
