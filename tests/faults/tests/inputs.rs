//! Corrupt corpus files, read through a graph as a user would: the run
//! exits 1 naming the file (and the line, for text), and a fixed file then
//! runs.

use std::path::Path;

use emoflow_faults::{Scratch, emoflow, run, stderr};

/// A two-second synthetic corpus in the AVEC 2016 layout under `dir/corpus`.
fn synth(dir: &Scratch) -> std::path::PathBuf {
    let corpus = dir.join("corpus");
    let out = emoflow().args(["synth", "--seconds", "2", "--per-split", "1", "--seed", "7"]).arg(&corpus).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    corpus
}

/// `SOURCE` over `root`, its audio through fbank and stacked with its labels,
/// so that every file is read.
fn graph(dir: &Scratch, source: &str, root: &Path) -> std::path::PathBuf {
    let file = dir.join("graph.toml");
    std::fs::write(
        &file,
        format!(
            "[nodes.corpus]\nkind = \"{source}\"\nroot = {root:?}\n\n\
             [nodes.fbank]\nkind = \"feature.fbank\"\ninputs = {{ audio = \"corpus.audio\" }}\n\n\
             [nodes.stack]\nkind = \"feature.stack\"\ninputs = {{ features = \"fbank.features\", labels = \"corpus.labels\" }}\n"
        ),
    )
    .unwrap();
    file
}

/// Runs the graph; asserts it failed with exit status 1 and every `needle`
/// in its error, and returns the error.
fn fails_naming(dir: &Scratch, graph: &Path, needles: &[&str]) -> String {
    let (out, _) = run(graph, dir, &["--no-cache"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn a_truncated_wav_is_named() {
    let dir = Scratch::new("faults", "wav");
    let corpus = synth(&dir);
    let wav = corpus.join("recordings_audio/dev_1.wav");
    let bytes = std::fs::read(&wav).unwrap();
    std::fs::write(&wav, &bytes[..bytes.len() / 2 + 1]).unwrap();
    fails_naming(&dir, &graph(&dir, "source.avec2016", &corpus), &["dev_1.wav"]);
}

#[test]
fn a_wav_that_is_not_riff_is_named() {
    let dir = Scratch::new("faults", "not-riff");
    let corpus = synth(&dir);
    std::fs::write(corpus.join("recordings_audio/train_1.wav"), b"ID3\x04 an mp3 renamed .wav").unwrap();
    fails_naming(&dir, &graph(&dir, "source.avec2016", &corpus), &["train_1.wav"]);
}

#[test]
fn a_bad_number_in_an_arff_is_named_with_its_line_and_a_fixed_file_runs() {
    let dir = Scratch::new("faults", "arff");
    let corpus = synth(&dir);
    let arff = corpus.join("ratings_gold_standard/valence/train_1.arff");
    let good = std::fs::read_to_string(&arff).unwrap();
    let line = good.lines().position(|l| l.starts_with("train_1,0.08,")).unwrap() + 1;
    let broken: Vec<String> =
        good.lines().map(|l| if l.starts_with("train_1,0.08,") { "train_1,0.08,0.2x5".to_string() } else { l.to_string() }).collect();
    std::fs::write(&arff, broken.join("\n")).unwrap();
    let graph = graph(&dir, "source.avec2016", &corpus);
    fails_naming(&dir, &graph, &[&format!("train_1.arff:{line}")]);

    std::fs::write(&arff, good).unwrap();
    let (out, _) = run(&graph, &dir, &["--no-cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_csv_row_missing_a_column_is_named_with_its_line() {
    let dir = Scratch::new("faults", "csv");
    let corpus = synth(&dir);
    // The CSV layout: SPLIT/NAME.wav beside SPLIT/NAME.csv.
    let root = dir.join("csv");
    for split in ["train", "dev", "test"] {
        std::fs::create_dir_all(root.join(split)).unwrap();
        let name = format!("{split}_1");
        std::fs::copy(corpus.join(format!("recordings_audio/{name}.wav")), root.join(split).join(format!("{name}.wav"))).unwrap();
        let rows: String = (0..50).map(|i| format!("{:.2},0.1,{}\n", f64::from(i) * 0.04, if i == 7 && split == "dev" { "" } else { "0.2" })).collect();
        let rows = rows.replace(",\n", "\n");
        std::fs::write(root.join(split).join(format!("{name}.csv")), format!("time,arousal,valence\n{rows}")).unwrap();
    }
    // Row 7 of the data is line 9 (after the header).
    fails_naming(&dir, &graph(&dir, "source.csv", &root), &["dev_1.csv:9"]);
}
