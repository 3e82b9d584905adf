//! Trains the Witten-Bell models of the kenlm golden test and scores its
//! query sentences: run by `scripts/golden/arpa_kenlm.py`, which compares
//! the scores with kenlm's.
//!
//! Usage: `arpa_golden DIR` reads `DIR/lm_corpus.txt` and
//! `DIR/lm_queries.txt` and writes `DIR/wb_order{1..4}.arpa` and
//! `DIR/ours_scores.csv` (order, query, log10 probability).

use std::fmt::Write as _;
use std::path::Path;

use emoflow_decode::arpa::{MAX_ORDER, Vocab};
use emoflow_decode::ngram::train_witten_bell;

/// A corpus file: `# classes K`, then one sentence of class ids per line.
fn read_sentences(path: &Path) -> (Option<usize>, Vec<Vec<u32>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut classes = None;
    let mut sentences = Vec::new();
    for line in text.lines() {
        if let Some(k) = line.strip_prefix("# classes ") {
            classes = Some(k.trim().parse().expect("class count"));
        } else {
            sentences.push(line.split_whitespace().map(|w| w.parse().expect("class id")).collect());
        }
    }
    (classes, sentences)
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: arpa_golden DIR");
    let dir = Path::new(&dir);
    let (classes, corpus) = read_sentences(&dir.join("lm_corpus.txt"));
    let (_, queries) = read_sentences(&dir.join("lm_queries.txt"));
    let vocab = Vocab::new(classes.expect("lm_corpus.txt starts with '# classes K'")).unwrap();
    let mut scores = String::from("order,query,log10\n");
    for order in 1..=MAX_ORDER {
        let lm = train_witten_bell(corpus.iter().map(Vec::as_slice), vocab, order).unwrap();
        std::fs::write(dir.join(format!("wb_order{order}.arpa")), lm.to_arpa()).unwrap();
        for (i, query) in queries.iter().enumerate() {
            writeln!(scores, "{order},{i},{}", lm.sentence_log10(query)).unwrap();
        }
    }
    std::fs::write(dir.join("ours_scores.csv"), scores).unwrap();
}
