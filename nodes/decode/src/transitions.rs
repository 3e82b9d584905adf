//! HMM transition probabilities `P(l_{f+1} | l_f)` estimated from training
//! class sequences (paper step 3), shared by `decode.viterbi` and
//! `decode.emotion_lm`.

use std::collections::BTreeMap;

use emoflow_sdk::conventions::{ClassesRow, Split};

use crate::common::TaskKey;
use crate::error::{Error, Result};

/// Natural-log transition probabilities of one dimension/task.
#[derive(Debug, Clone, PartialEq)]
pub struct Transitions {
    num_classes: usize,
    /// Row-major `from x to`.
    log_probs: Vec<f64>,
}

impl Transitions {
    /// Counts consecutive frame pairs in `sequences` and smooths additively:
    /// `P(j | i) = (n(i, j) + smoothing) / (n(i) + smoothing * K)`.
    /// `what` names the dimension/task in errors.
    pub fn estimate<'a>(
        sequences: impl IntoIterator<Item = &'a [u32]>,
        num_classes: usize,
        smoothing: f64,
        what: &str,
    ) -> Result<Self> {
        if !(smoothing.is_finite() && smoothing >= 0.0) {
            return Err(Error::invalid(format!(
                "{what}: transition smoothing {smoothing} must be finite and >= 0"
            )));
        }
        let k = num_classes;
        let mut counts = vec![0u64; k * k];
        for sequence in sequences {
            if let Some(&bad) = sequence.iter().find(|&&c| c as usize >= k) {
                return Err(Error::data(format!(
                    "{what}: class {bad} out of range 0..{k}"
                )));
            }
            for pair in sequence.windows(2) {
                counts[pair[0] as usize * k + pair[1] as usize] += 1;
            }
        }
        let mut log_probs = Vec::with_capacity(k * k);
        for (from, row) in counts.chunks_exact(k).enumerate() {
            let total = row.iter().sum::<u64>() as f64 + smoothing * k as f64;
            if total == 0.0 {
                return Err(Error::data(format!(
                    "{what}: class {from} is never followed by another frame in the training \
                     sequences and smoothing is 0, so its transitions are undefined"
                )));
            }
            log_probs.extend(row.iter().map(|&n| ((n as f64 + smoothing) / total).ln()));
        }
        Ok(Self {
            num_classes: k,
            log_probs,
        })
    }

    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// `ln P(to | from)`.
    pub fn log_prob(&self, from: usize, to: usize) -> f64 {
        self.log_probs[from * self.num_classes + to]
    }
}

/// Default of the decoders' `fit_splits` parameter.
pub fn default_fit_splits() -> Vec<Split> {
    vec![Split::Train]
}

/// Default of the decoders' `smoothing` parameter (add-one).
pub fn default_smoothing() -> f64 {
    1.0
}

/// Transitions for every dimension/task in `sequences`, estimated from the
/// rows whose split is one of `splits`.
pub fn fit_transitions(
    sequences: &[ClassesRow],
    splits: &[Split],
    smoothing: f64,
) -> Result<BTreeMap<TaskKey, Transitions>> {
    let mut grouped: BTreeMap<TaskKey, (usize, Vec<&[u32]>)> = BTreeMap::new();
    for row in sequences.iter().filter(|row| splits.contains(&row.split)) {
        let (k, rows) = grouped
            .entry((row.dim.clone(), row.task.clone()))
            .or_insert((row.num_classes as usize, Vec::new()));
        if *k != row.num_classes as usize {
            return Err(Error::data(format!(
                "classes of utterance {} ({}/{}): num_classes {} but other utterances have {k}",
                row.utt_id, row.dim, row.task, row.num_classes
            )));
        }
        rows.push(&row.classes);
    }
    grouped
        .into_iter()
        .map(|((dim, task), (k, rows))| {
            let what = format!("transitions of {dim}/{task}");
            let transitions = Transitions::estimate(rows, k, smoothing, &what)?;
            Ok(((dim, task), transitions))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_relative_frequencies_with_additive_smoothing() {
        let seqs: [&[u32]; 2] = [&[0, 0, 1], &[1, 1, 1, 0]];
        let t = Transitions::estimate(seqs, 2, 0.0, "t").unwrap();
        // From 0: 0->0 once, 0->1 once. From 1: 1->1 twice, 1->0 once.
        assert!((t.log_prob(0, 0) - 0.5f64.ln()).abs() < 1e-12);
        assert!((t.log_prob(1, 1) - (2.0f64 / 3.0).ln()).abs() < 1e-12);
        let t = Transitions::estimate(seqs, 2, 1.0, "t").unwrap();
        assert!((t.log_prob(1, 0) - (2.0f64 / 5.0).ln()).abs() < 1e-12);
    }

    #[test]
    fn rows_sum_to_one() {
        let seqs: [&[u32]; 1] = [&[0, 2, 2, 1, 0, 0, 2]];
        let t = Transitions::estimate(seqs, 4, 0.5, "t").unwrap();
        for from in 0..4 {
            let total: f64 = (0..4).map(|to| t.log_prob(from, to).exp()).sum();
            assert!((total - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn unseen_class_without_smoothing_and_bad_classes_are_errors() {
        let seqs: [&[u32]; 1] = [&[0, 1, 0]];
        let err = Transitions::estimate(seqs, 3, 0.0, "arousal/k3").unwrap_err();
        assert!(
            err.message.contains("arousal/k3") && err.message.contains("class 2"),
            "{err}"
        );
        let seqs: [&[u32]; 1] = [&[0, 5]];
        assert!(
            Transitions::estimate(seqs, 3, 1.0, "t")
                .unwrap_err()
                .message
                .contains("class 5")
        );
    }

    #[test]
    fn fit_uses_only_the_named_splits() {
        let row = |split: Split, classes: Vec<u32>| ClassesRow {
            utt_id: format!("{split}_1"),
            split,
            dim: "valence".into(),
            task: "k2".into(),
            num_classes: 2,
            classes,
        };
        let rows = [
            row(Split::Train, vec![0, 0, 0, 1]),
            row(Split::Dev, vec![1, 0, 1, 0]),
        ];
        let fitted = fit_transitions(&rows, &[Split::Train], 0.0);
        // Class 1 is never followed by a frame in train.
        assert!(fitted.is_err());
        let fitted = fit_transitions(&rows, &[Split::Train], 1.0).unwrap();
        let t = &fitted[&("valence".to_owned(), "k2".to_owned())];
        assert!((t.log_prob(0, 0) - (3.0f64 / 5.0).ln()).abs() < 1e-12);
        assert!((t.log_prob(1, 0) - 0.5f64.ln()).abs() < 1e-12);
    }
}
