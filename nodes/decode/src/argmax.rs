//! `decode.argmax`: CLS-Raw of the paper. Per frame the most likely class
//! after prior scaling, mapped to its cluster mean, averaged over tasks.

use crate::common::{Codebooks, Series, TaskPosteriors, decode_and_average};
use crate::error::Result;

/// The first most likely class of each frame.
pub fn decode_argmax(posteriors: &[TaskPosteriors], codebooks: &Codebooks) -> Result<Vec<Series>> {
    decode_and_average(posteriors, codebooks, |row, emissions| {
        Ok(emissions.chunks_exact(row.num_classes).map(argmax).collect())
    })
}

fn argmax(frame: &[f64]) -> u32 {
    let mut best = 0;
    for (class, &score) in frame.iter().enumerate() {
        if score > frame[best] {
            best = class;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::CodebookRow;

    #[test]
    fn prior_scaling_can_change_the_winner() {
        // Class 0 is common (prior 0.8): 0.6 vs 0.4 becomes 0.75 vs 2.0.
        let codebooks = Codebooks::from_rows(&[
            CodebookRow { dim: "valence".into(), task: "k2".into(), num_classes: 2, class: 0, mean: -0.2, prior: 0.8 },
            CodebookRow { dim: "valence".into(), task: "k2".into(), num_classes: 2, class: 1, mean: 0.3, prior: 0.2 },
        ])
        .unwrap();
        let row = TaskPosteriors {
            utt_id: "dev_1".into(),
            split: "dev".into(),
            dim: "valence".into(),
            task: "k2".into(),
            num_classes: 2,
            values: vec![0.6, 0.4, 0.9, 0.1],
        };
        let out = decode_argmax(&[row], &codebooks).unwrap();
        // Frame 1: 0.9/0.8 = 1.125 vs 0.1/0.2 = 0.5, class 0 stays.
        assert_eq!(out[0].values, vec![0.3, -0.2]);
    }
}
