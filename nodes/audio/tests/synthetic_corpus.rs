//! The synthetic corpus on disk is the AVEC 2016 layout: it reads back
//! through the avec2016 reader into exactly what `source.synthetic` emits in
//! memory, and a seed always writes the same bytes.

use std::path::Path;

use emoflow_audio::avec2016;
use emoflow_audio::corpus::{Dim, Split};
use emoflow_audio::synthetic::{SynthOptions, synth_recording, write_corpus};

fn small() -> SynthOptions {
    SynthOptions {
        seconds: 12.0,
        per_split: 2,
        seed: 7,
        ..SynthOptions::default()
    }
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn written_corpus_reads_back_as_the_in_memory_recordings() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small();
    let summary = write_corpus(dir.path(), &opts).unwrap();
    assert_eq!(summary.recordings, 6);
    assert_eq!(summary.files.len(), 6 * 3);

    let files = avec2016::scan(dir.path(), &Dim::ALL, &Split::ALL).unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["train_1", "train_2", "dev_1", "dev_2", "test_1", "test_2"]
    );
    for (files, (split, number, name)) in files.iter().zip(opts.recordings()) {
        let from_disk = avec2016::load(files, emoflow_audio::corpus::DEFAULT_LABEL_RANGE).unwrap();
        let in_memory = synth_recording(&opts, split, number).to_recording();
        assert_eq!(from_disk.name, name);
        assert_eq!(from_disk, in_memory, "{name}");
        assert_eq!(from_disk.audio.sample_rate, 16000);
        assert_eq!(from_disk.audio.samples.len(), 12 * 16000);
        assert_eq!(from_disk.labels.len(), 2);
        assert!(
            from_disk.labels.iter().all(|t| t.values.len() == 301),
            "{name}"
        );
    }
}

#[test]
fn gold_standard_files_have_the_release_header() {
    let dir = tempfile::tempdir().unwrap();
    write_corpus(dir.path(), &small()).unwrap();
    let text = std::fs::read_to_string(dir.path().join("ratings_gold_standard/valence/dev_2.arff"))
        .unwrap();
    let header = "@relation GOLDSTANDARD_VALENCE\n\n@attribute Instance_name string\n\
                  @attribute frameTime numeric\n@attribute GoldStandard numeric\n\n\n@data\n\n";
    assert!(text.starts_with(header), "{}", &text[..200]);
    let rows: Vec<&str> = text[header.len()..].lines().collect();
    assert_eq!(rows.len(), 301);
    assert!(rows[0].starts_with("dev_2,0,"));
    assert!(rows[26].starts_with("dev_2,1.04,"));
    assert!(rows[300].starts_with("dev_2,12,"));
}

#[test]
fn the_same_seed_writes_byte_identical_files_and_another_seed_does_not() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    write_corpus(a.path(), &small()).unwrap();
    write_corpus(b.path(), &small()).unwrap();
    write_corpus(c.path(), &SynthOptions { seed: 8, ..small() }).unwrap();
    let (ta, tb, tc) = (tree(a.path()), tree(b.path()), tree(c.path()));
    assert_eq!(ta.len(), 18);
    assert!(ta == tb, "same seed, different files");
    let names = |t: &[(String, Vec<u8>)]| t.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ta), names(&tc));
    for ((name, x), (_, y)) in ta.iter().zip(&tc) {
        assert_ne!(x, y, "{name} did not change with the seed");
    }
}
