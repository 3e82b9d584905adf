//! The emotion language model of paper step 3: an n-gram model over region
//! labels `B(l)` (runs of identical frame labels collapsed), one per
//! dimension/task, with sentence boundaries `<s>` and `</s>`.
//!
//! Estimator: interpolated Witten-Bell (Chen & Goodman 1998), the estimator
//! of SRILM's `ngram-count -wbdiscount -interpolate`:
//!
//! ```text
//! p(w | h) = (c(h w) + T(h) p(w | h')) / (c(h) + T(h))
//! ```
//!
//! with `c(h) = sum_w c(h w)`, `T(h)` the number of distinct words seen after
//! `h`, `h'` = `h` without its first word, and the unigram level interpolated
//! with the uniform distribution over the `K` classes and `</s>`. For an
//! unseen `h w` this is `bow(h) p(w | h')` with `bow(h) = T(h) / (c(h) +
//! T(h))`, so the model is exactly an ARPA back-off model. Every n-gram seen
//! in training is kept (no count cut-offs; SRILM drops singleton 3-grams and
//! up by default: pass `-gt3min 1 -gt4min 1` to compare), and every class
//! is a unigram even when unseen (a closed vocabulary, SRILM's `-vocab`).

use std::collections::{BTreeMap, HashMap};

use crate::arpa::{BOS_LOG10_PROB, Entry, NgramLm, Token, Vocab, backoff_log10_prob};
use crate::common::ClassSequence;
use crate::error::{Result, bail};

/// `B(l)`: the label of each run of identical frame labels.
pub fn regions(classes: &[u32]) -> Vec<u32> {
    let mut out = classes.to_vec();
    out.dedup();
    out
}

/// Trains an interpolated Witten-Bell model of `order` on `sentences` (class
/// tokens without boundaries; these are added).
pub fn train_witten_bell<'a>(
    sentences: impl IntoIterator<Item = &'a [Token]>,
    vocab: Vocab,
    order: usize,
) -> Result<NgramLm> {
    if !(1..=crate::arpa::MAX_ORDER).contains(&order) {
        bail!("n-gram order {order} is outside 1..={}", crate::arpa::MAX_ORDER);
    }
    let mut counts: HashMap<Vec<Token>, u64> = HashMap::new();
    let mut padded = Vec::new();
    for sentence in sentences {
        if let Some(&bad) = sentence.iter().find(|&&t| t as usize >= vocab.num_classes()) {
            bail!("class {bad} out of range 0..{}", vocab.num_classes());
        }
        padded.clear();
        padded.push(vocab.bos());
        padded.extend_from_slice(sentence);
        padded.push(vocab.eos());
        // Every n-gram that ends in a predicted word (all but <s>).
        for end in 1..padded.len() {
            for n in 1..=order.min(end + 1) {
                *counts.entry(padded[end + 1 - n..=end].to_vec()).or_insert(0) += 1;
            }
        }
    }
    // c(h) and T(h) for every context h.
    let mut contexts: HashMap<&[Token], (u64, u64)> = HashMap::new();
    for (ngram, &count) in &counts {
        let stats = contexts.entry(&ngram[..ngram.len() - 1]).or_insert((0, 0));
        stats.0 += count;
        stats.1 += 1;
    }
    let Some(&(total, types)) = contexts.get([].as_slice()) else {
        bail!("no training sentences");
    };
    let log10_bow = |ngram: &[Token]| match contexts.get(ngram) {
        Some(&(count, types)) => (types as f64 / (count + types) as f64).log10(),
        None => 0.0,
    };

    let mut entries: HashMap<Vec<Token>, Entry> = HashMap::new();
    let uniform = 1.0 / (vocab.num_classes() + 1) as f64;
    for word in (0..vocab.num_classes() as Token).chain([vocab.eos()]) {
        let count = counts.get([word].as_slice()).copied().unwrap_or(0);
        let p = (count as f64 + types as f64 * uniform) / (total + types) as f64;
        entries.insert(vec![word], Entry { log10_prob: p.log10(), log10_bow: log10_bow(&[word]) });
    }
    entries.insert(vec![vocab.bos()], Entry { log10_prob: BOS_LOG10_PROB, log10_bow: log10_bow(&[vocab.bos()]) });

    // Order by order, so that p(w | h') is final when order n needs it.
    let mut ngrams: Vec<(&Vec<Token>, u64)> = counts.iter().map(|(g, &c)| (g, c)).collect();
    ngrams.sort_unstable_by_key(|(g, _)| (g.len(), (*g).clone()));
    for n in 2..=order {
        let computed: Vec<(Vec<Token>, Entry)> = ngrams
            .iter()
            .filter(|(g, _)| g.len() == n)
            .map(|&(ngram, count)| {
                let (history, word) = (&ngram[..n - 1], ngram[n - 1]);
                let (context_count, context_types) = contexts[history];
                let lower = 10f64.powf(backoff_log10_prob(&entries, n - 1, &history[1..], word));
                let p = (count as f64 + context_types as f64 * lower) / (context_count + context_types) as f64;
                (ngram.clone(), Entry { log10_prob: p.log10(), log10_bow: log10_bow(ngram) })
            })
            .collect();
        entries.extend(computed);
    }
    NgramLm::new(vocab, order, entries)
}

/// One model per dimension/task of `classes`, trained on the region label
/// sequences of the rows whose split is in `splits`.
pub fn train_per_task(
    classes: &[ClassSequence],
    splits: &[String],
    order: usize,
) -> Result<Vec<((String, String), NgramLm)>> {
    let mut grouped: BTreeMap<(String, String), (usize, Vec<Vec<u32>>)> = BTreeMap::new();
    for row in classes {
        let (k, sentences) = grouped.entry((row.dim.clone(), row.task.clone())).or_insert((row.num_classes, Vec::new()));
        if *k != row.num_classes {
            bail!(
                "classes of utterance {} ({}/{}): num_classes {} but other utterances have {k}",
                row.utt_id, row.dim, row.task, row.num_classes
            );
        }
        if splits.contains(&row.split) {
            sentences.push(regions(&row.classes));
        }
    }
    grouped
        .into_iter()
        .map(|((dim, task), (k, sentences))| {
            let what = format!("language model of {dim}/{task}");
            if sentences.is_empty() {
                bail!("{what}: no utterance in the splits {splits:?}");
            }
            let lm = Vocab::new(k)
                .and_then(|vocab| train_witten_bell(sentences.iter().map(Vec::as_slice), vocab, order))
                .map_err(|e| crate::error::Error(format!("{what}: {}", e.0)))?;
            Ok(((dim, task), lm))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn regions_collapse_runs() {
        assert_eq!(regions(&[2, 2, 0, 0, 0, 2, 1, 1]), vec![2, 0, 2, 1]);
        assert_eq!(regions(&[]), Vec::<u32>::new());
    }

    /// Hand-computed: sentences "0 1" and "0", K = 2, bigram.
    #[test]
    fn witten_bell_matches_the_formula_on_a_hand_example() {
        let vocab = Vocab::new(2).unwrap();
        let sentences: [&[Token]; 2] = [&[0, 1], &[0]];
        let lm = train_witten_bell(sentences, vocab, 2).unwrap();
        let (bos, eos) = (vocab.bos(), vocab.eos());
        let expect = [
            // Unigrams: counts 0:2 1:1 </s>:2, N = 5, T = 3, uniform 1/3.
            (vec![], 0, 3.0 / 8.0),
            (vec![], 1, 2.0 / 8.0),
            (vec![], eos, 3.0 / 8.0),
            // After <s>: c = 2, T = 1.
            (vec![bos], 0, (2.0 + 3.0 / 8.0) / 3.0),
            (vec![bos], 1, (2.0 / 8.0) / 3.0),
            // After 0: c = 2, T = 2; "0 0" unseen backs off with 2/4.
            (vec![0], 1, (1.0 + 2.0 * 2.0 / 8.0) / 4.0),
            (vec![0], eos, (1.0 + 2.0 * 3.0 / 8.0) / 4.0),
            (vec![0], 0, 0.5 * 3.0 / 8.0),
            // After 1: c = 1, T = 1.
            (vec![1], eos, (1.0 + 3.0 / 8.0) / 2.0),
            (vec![1], 1, 0.5 * 2.0 / 8.0),
        ];
        for (context, word, p) in expect {
            let got = 10f64.powf(lm.log10_prob(&context, word));
            assert!((got - p).abs() < 1e-12, "p({word} | {context:?}) = {got}, want {p}");
        }
    }

    #[test]
    fn unseen_classes_get_unigram_mass_and_empty_training_is_an_error() {
        let vocab = Vocab::new(3).unwrap();
        let sentences: [&[Token]; 1] = [&[0, 1]];
        let lm = train_witten_bell(sentences, vocab, 3).unwrap();
        assert!(lm.log10_prob(&[], 2).is_finite());
        assert!(train_witten_bell(std::iter::empty(), vocab, 2).is_err());
        let sentences: [&[Token]; 1] = [&[0, 3]];
        assert!(train_witten_bell(sentences, vocab, 2).unwrap_err().0.contains("class 3"));
    }

    #[test]
    fn per_task_training_names_a_task_without_training_data() {
        let row = |split: &str, task: &str| ClassSequence {
            utt_id: format!("{split}_1"),
            split: split.into(),
            dim: "arousal".into(),
            task: task.into(),
            num_classes: 2,
            classes: vec![0, 0, 1, 1, 0],
        };
        let rows = [row("train", "k2"), row("test", "k2b")];
        let err = train_per_task(&rows, &["train".into()], 2).unwrap_err();
        assert!(err.0.contains("arousal/k2b"), "{err}");
        let models = train_per_task(&rows[..1], &["train".into()], 2).unwrap();
        // Trained on regions 0 1 0: the bigram "0 0" is never seen.
        let lm = &models[0].1;
        assert!(lm.log10_prob(&[1], 0) > lm.log10_prob(&[1], 1));
    }

    fn sentences(max_class: u32) -> impl Strategy<Value = Vec<Vec<Token>>> {
        prop::collection::vec(prop::collection::vec(0..max_class, 0..8), 1..6)
    }

    proptest! {
        /// The back-off weights make every conditional distribution sum to 1
        /// over the classes and </s>, for seen and unseen contexts alike.
        #[test]
        fn every_context_is_normalised(
            k in 1usize..5,
            order in 1usize..=4,
            data in sentences(4),
            context in prop::collection::vec(0u32..4, 0..4),
            starts_with_bos in any::<bool>(),
        ) {
            let vocab = Vocab::new(k).unwrap();
            let k32 = k as u32;
            let data: Vec<Vec<Token>> = data.into_iter().map(|s| s.into_iter().map(|t| t % k32).collect()).collect();
            let lm = train_witten_bell(data.iter().map(Vec::as_slice), vocab, order).unwrap();
            let mut context: Vec<Token> = context.into_iter().map(|t| t % k32).collect();
            if starts_with_bos {
                context.insert(0, vocab.bos());
            }
            let total: f64 = (0..k32).chain([vocab.eos()]).map(|w| 10f64.powf(lm.log10_prob(&context, w))).sum();
            prop_assert!((total - 1.0).abs() < 1e-9, "sum {total} for context {context:?}");
            // And the model survives its own ARPA text unchanged.
            prop_assert_eq!(&NgramLm::parse_arpa(&lm.to_arpa(), k, "rt").unwrap(), &lm);
        }
    }
}
