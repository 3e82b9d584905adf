//! Corrupt corpus files, read through a graph as a user would: the run
//! exits 1 naming the file (and the line, for text), and a fixed file then
//! runs.

use std::path::Path;

use emoflow_faults::{Scratch, emoflow, run, status, stderr};

/// A two-second synthetic corpus in the AVEC 2016 layout under `dir/corpus`.
fn synth(dir: &Scratch) -> std::path::PathBuf {
    let corpus = dir.join("corpus");
    let out = emoflow()
        .args(["synth", "--seconds", "2", "--per-split", "1", "--seed", "7"])
        .arg(&corpus)
        .output()
        .unwrap();
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

/// Replaces the row of `arff` that starts with `prefix` by `row`; returns
/// the row's (1-based) line and the file's text before.
fn replace_row(arff: &Path, prefix: &str, row: &str) -> (usize, String) {
    let text = std::fs::read_to_string(arff).unwrap();
    let line = text.lines().position(|l| l.starts_with(prefix)).unwrap() + 1;
    let edited: Vec<&str> = text
        .lines()
        .map(|l| if l.starts_with(prefix) { row } else { l })
        .collect();
    std::fs::write(arff, edited.join("\n")).unwrap();
    (line, text)
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
fn a_truncated_wav_is_named_in_the_nodes_own_words() {
    let dir = Scratch::new("faults", "wav");
    let corpus = synth(&dir);
    let wav = corpus.join("recordings_audio/dev_1.wav");
    let bytes = std::fs::read(&wav).unwrap();
    std::fs::write(&wav, &bytes[..bytes.len() / 2 + 1]).unwrap();
    let err = fails_naming(
        &dir,
        &graph(&dir, "source.avec2016", &corpus),
        &["dev_1.wav", "the file is truncated"],
    );
    for wrapper in [
        "C Data interface",
        "Cannot get next batch",
        "Error code",
        "External error",
    ] {
        assert!(!err.contains(wrapper), "`{wrapper}` in:\n{err}");
    }
}

#[test]
fn a_wav_whose_data_size_lies_is_a_bad_wav_not_a_label_mismatch() {
    let dir = Scratch::new("faults", "wav-lies");
    let corpus = synth(&dir);
    let wav = corpus.join("recordings_audio/train_1.wav");
    let mut bytes = std::fs::read(&wav).unwrap();
    let data = bytes.windows(4).position(|w| w == b"data").unwrap() + 4;
    bytes[data..data + 4].copy_from_slice(&779_111_392u32.to_le_bytes());
    std::fs::write(&wav, &bytes).unwrap();
    let err = fails_naming(
        &dir,
        &graph(&dir, "source.avec2016", &corpus),
        &["train_1.wav: bad WAV", "declares 779111392 bytes"],
    );
    assert!(
        !err.contains("label frames") && !err.contains(".arff"),
        "the labels are not to blame:\n{err}"
    );
}

/// A mono 16-bit PCM WAV of `seconds` of a 440 Hz tone at `rate` Hz.
fn write_wav(path: &Path, rate: u32, seconds: f64) {
    let samples = (seconds * f64::from(rate)) as u32;
    let mut bytes = Vec::new();
    bytes.extend(b"RIFF");
    bytes.extend((36 + 2 * samples).to_le_bytes());
    bytes.extend(b"WAVEfmt ");
    for (value, width) in [
        (16, 4),
        (1, 2),
        (1, 2),
        (rate, 4),
        (2 * rate, 4),
        (2, 2),
        (16, 2),
    ] {
        bytes.extend(&u32::to_le_bytes(value)[..width]);
    }
    bytes.extend(b"data");
    bytes.extend((2 * samples).to_le_bytes());
    for i in 0..samples {
        let phase = f64::from(i) * 440.0 * std::f64::consts::TAU / f64::from(rate);
        bytes.extend(((phase.sin() * 8000.0) as i16).to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_corpus_of_mixed_sample_rates_is_refused_naming_the_odd_file_unless_resampled() {
    let dir = Scratch::new("faults", "rates");
    let corpus = synth(&dir);
    write_wav(&corpus.join("recordings_audio/dev_1.wav"), 48000, 2.0);
    let graph = graph(&dir, "source.avec2016", &corpus);
    fails_naming(
        &dir,
        &graph,
        &[
            "2 of 3 are at 16000 Hz",
            "dev_1.wav (48000 Hz)",
            "set `sample_rate = 16000` on the source",
        ],
    );

    let (out, _) = run(
        &graph,
        &dir,
        &["--no-cache", "--set", "corpus.sample_rate=16000"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_label_outside_the_label_range_is_refused_with_its_file_and_line() {
    let dir = Scratch::new("faults", "label-range");
    let corpus = synth(&dir);
    let (line, _) = replace_row(
        &corpus.join("ratings_gold_standard/arousal/dev_1.arff"),
        "dev_1,0.08,",
        "dev_1,0.08,1e30",
    );
    let graph = graph(&dir, "source.avec2016", &corpus);
    fails_naming(
        &dir,
        &graph,
        &[&format!(
            "dev_1.arff:{line}: GoldStandard: label 1000000000000000000000000000000 is outside label_range [-10, 10]"
        )],
    );

    // A corpus on another scale widens the range.
    let (out, _) = run(
        &graph,
        &dir,
        &["--no-cache", "--set", "corpus.label_range=[-1e31, 1e31]"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_csv_label_file_saved_with_a_byte_order_mark_is_read() {
    let dir = Scratch::new("faults", "bom");
    let root = csv_corpus(&dir, |split, rows| {
        if split == "dev" {
            format!("\u{feff}{rows}")
        } else {
            rows
        }
    });
    let (out, _) = run(&graph(&dir, "source.csv", &root), &dir, &["--no-cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_wav_that_is_not_riff_is_named() {
    let dir = Scratch::new("faults", "not-riff");
    let corpus = synth(&dir);
    std::fs::write(
        corpus.join("recordings_audio/train_1.wav"),
        b"ID3\x04 an mp3 renamed .wav",
    )
    .unwrap();
    fails_naming(
        &dir,
        &graph(&dir, "source.avec2016", &corpus),
        &["train_1.wav"],
    );
}

#[test]
fn a_bad_number_in_an_arff_is_named_with_its_line_and_a_fixed_file_runs() {
    let dir = Scratch::new("faults", "arff");
    let corpus = synth(&dir);
    let arff = corpus.join("ratings_gold_standard/valence/train_1.arff");
    let (line, good) = replace_row(&arff, "train_1,0.08,", "train_1,0.08,0.2x5");
    let graph = graph(&dir, "source.avec2016", &corpus);
    fails_naming(&dir, &graph, &[&format!("train_1.arff:{line}")]);

    std::fs::write(&arff, good).unwrap();
    let (out, _) = run(&graph, &dir, &["--no-cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The synthetic corpus in the CSV layout under `dir/csv`: SPLIT/NAME.wav
/// beside SPLIT/NAME.csv, whose text `edit(split, text)` may change.
fn csv_corpus(dir: &Scratch, edit: impl Fn(&str, String) -> String) -> std::path::PathBuf {
    let corpus = synth(dir);
    let root = dir.join("csv");
    for split in ["train", "dev", "test"] {
        std::fs::create_dir_all(root.join(split)).unwrap();
        let name = format!("{split}_1");
        std::fs::copy(
            corpus.join(format!("recordings_audio/{name}.wav")),
            root.join(split).join(format!("{name}.wav")),
        )
        .unwrap();
        let rows: String = (0..50)
            .map(|i| format!("{:.2},0.1,0.2\n", f64::from(i) * 0.04))
            .collect();
        std::fs::write(
            root.join(split).join(format!("{name}.csv")),
            edit(split, format!("time,arousal,valence\n{rows}")),
        )
        .unwrap();
    }
    root
}

#[test]
fn a_csv_row_missing_a_column_is_named_with_its_line() {
    let dir = Scratch::new("faults", "csv");
    // Row 7 of the data is line 9 (after the header).
    let root = csv_corpus(&dir, |split, text| {
        if split == "dev" {
            text.replace("\n0.28,0.1,0.2\n", "\n0.28,0.1\n")
        } else {
            text
        }
    });
    fails_naming(&dir, &graph(&dir, "source.csv", &root), &["dev_1.csv:9"]);
}

/// `touch` a file: a new mtime, the same content.
fn touch(path: &Path) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
}

/// Runs the graph (cached) and returns the statuses of the source and of
/// the node that reads its labels.
fn statuses(dir: &Scratch, graph: &Path) -> [String; 2] {
    let (out, report) = run(graph, dir, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    ["corpus", "stack"].map(|node| status(&report, node).to_string())
}

/// Needs the scheduler to key a source's cache entry on its declared
/// files' fingerprint (`ForeignNode::input_files`, `StatCache`).
#[test]
fn editing_adding_or_removing_a_recording_reruns_the_source_and_touch_does_not() {
    let dir = Scratch::new("faults", "rerun");
    let corpus = synth(&dir);
    let graph = graph(&dir, "source.avec2016", &corpus);
    let (ran, cached) = (["ran", "ran"], ["cached", "cached"]);
    assert_eq!(statuses(&dir, &graph), ran);
    assert_eq!(statuses(&dir, &graph), cached);

    let arff = corpus.join("ratings_gold_standard/valence/train_1.arff");
    touch(&arff);
    touch(&corpus.join("recordings_audio/dev_1.wav"));
    assert_eq!(statuses(&dir, &graph), cached, "touch changes no content");

    // One GoldStandard value, the file's size unchanged.
    let text = std::fs::read_to_string(&arff).unwrap();
    let row = text
        .lines()
        .find(|l| l.starts_with("train_1,0.08,"))
        .unwrap();
    let last = row.chars().last().unwrap().to_digit(10).unwrap();
    let edited = format!("{}{}", &row[..row.len() - 1], (last + 1) % 10);
    std::fs::write(&arff, text.replace(row, &edited)).unwrap();
    assert_eq!(statuses(&dir, &graph), ran, "an edited label");

    let added = [
        "recordings_audio/train_2.wav",
        "ratings_gold_standard/arousal/train_2.arff",
        "ratings_gold_standard/valence/train_2.arff",
    ];
    for file in added {
        std::fs::copy(
            corpus.join(file.replace("train_2", "train_1")),
            corpus.join(file),
        )
        .unwrap();
    }
    assert_eq!(statuses(&dir, &graph), ran, "an added recording");
    for file in added {
        std::fs::remove_file(corpus.join(file)).unwrap();
    }
    assert_eq!(
        statuses(&dir, &graph),
        cached,
        "the corpus as it was before the addition"
    );

    std::fs::remove_file(corpus.join("recordings_audio/test_1.wav")).unwrap();
    assert_eq!(statuses(&dir, &graph), ran, "a removed recording");
}
