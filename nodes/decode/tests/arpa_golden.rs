//! ARPA files written by `lm.ngram` load in KenLM with the same
//! log-probabilities.
//!
//! `scripts/golden/arpa_kenlm.py` makes the corpus and queries in
//! `tests/golden/`, runs the ignored test `write_models_for_kenlm` below to
//! train interpolated Witten-Bell models of orders 1-4 (`wb_order{n}.arpa`)
//! and score the queries, scores the same queries with the kenlm module and
//! stores both in `wb_scores.csv`. The test `models_match_the_golden_files`
//! checks, without Python, that training still writes the same files and
//! that our scores still equal KenLM's.

use std::path::PathBuf;

use emoflow_decode::arpa::{MAX_ORDER, NgramLm, Vocab};
use emoflow_decode::ngram::train_witten_bell;

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// A sentence file: an optional `# classes K` line, then one sentence of
/// class ids per line.
fn read_sentences(name: &str) -> (Option<usize>, Vec<Vec<u32>>) {
    let path = golden().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut classes = None;
    let mut sentences = Vec::new();
    for line in text.lines() {
        match line.strip_prefix("# classes ") {
            Some(k) => classes = Some(k.trim().parse().unwrap()),
            None => sentences.push(
                line.split_whitespace()
                    .map(|w| w.parse().unwrap())
                    .collect(),
            ),
        }
    }
    (classes, sentences)
}

fn models() -> Vec<NgramLm> {
    let (classes, corpus) = read_sentences("lm_corpus.txt");
    let vocab = Vocab::new(classes.expect("lm_corpus.txt starts with '# classes K'")).unwrap();
    (1..=MAX_ORDER)
        .map(|order| train_witten_bell(corpus.iter().map(Vec::as_slice), vocab, order).unwrap())
        .collect()
}

/// Writes `wb_order{n}.arpa` and `ours_scores.csv` for the kenlm script.
#[test]
#[ignore = "run by scripts/golden/arpa_kenlm.py"]
fn write_models_for_kenlm() {
    let (_, queries) = read_sentences("lm_queries.txt");
    let mut scores = String::from("order,query,log10\n");
    for lm in models() {
        std::fs::write(
            golden().join(format!("wb_order{}.arpa", lm.order())),
            lm.to_arpa(),
        )
        .unwrap();
        for (i, query) in queries.iter().enumerate() {
            scores += &format!("{},{i},{}\n", lm.order(), lm.sentence_log10(query));
        }
    }
    std::fs::write(golden().join("ours_scores.csv"), scores).unwrap();
}

#[test]
fn models_match_the_golden_files() {
    let (_, queries) = read_sentences("lm_queries.txt");
    let models = models();
    for lm in &models {
        let file = golden().join(format!("wb_order{}.arpa", lm.order()));
        assert_eq!(
            lm.to_arpa(),
            std::fs::read_to_string(&file).unwrap(),
            "{} changed",
            file.display()
        );
    }
    let scores = std::fs::read_to_string(golden().join("wb_scores.csv")).unwrap();
    let mut checked = 0;
    for line in scores.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let (order, query): (usize, usize) =
            (fields[0].parse().unwrap(), fields[1].parse().unwrap());
        let kenlm: f64 = fields[3].parse().unwrap();
        let ours = models[order - 1].sentence_log10(&queries[query]);
        // KenLM keeps probabilities as float32.
        assert!(
            (ours - kenlm).abs() < 1e-4,
            "order {order} query {query}: ours {ours}, kenlm {kenlm}"
        );
        checked += 1;
    }
    assert_eq!(checked, MAX_ORDER * queries.len());
}
