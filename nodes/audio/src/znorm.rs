//! `feature.znorm`: z-normalisation of features, per dimension.
//!
//! Two modes: `utterance` (the paper) normalises every utterance with its
//! own mean and standard deviation over time; `train` computes one mean and
//! standard deviation over all frames of the train split and applies them to
//! every split, so dev and test see the training scale. The standard
//! deviation is the population one (divide by N). A dimension whose
//! standard deviation is below [`STD_FLOOR`] (constant over the frames) is
//! only centred, not scaled, so it becomes 0 instead of NaN.

use emoflow_sdk::prelude::{
    Context, FeatureRow, FittedExport, Inputs, KindSpec, Node, Outputs, PortRows, Split, port,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ports::features_output;

/// Standard deviations below this are treated as 0 (divide by 1 instead).
pub const STD_FLOOR: f64 = 1e-6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ZnormMode {
    /// Each utterance with its own statistics.
    Utterance,
    /// Statistics of the train split, applied to all splits.
    Train,
}

/// Per-dimension count, mean and sum of squared deviations, mergeable
/// across utterances (Chan et al.'s pairwise update, stable for long
/// corpora).
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    count: u64,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Stats {
    pub fn new(dim: usize) -> Stats {
        Stats {
            count: 0,
            mean: vec![0.0; dim],
            m2: vec![0.0; dim],
        }
    }

    /// Statistics of one utterance's frames (rows of `dim` values).
    pub fn of_frames(frames: &[f32], dim: usize) -> Stats {
        let mut stats = Stats::new(dim);
        let n = frames.len() / dim;
        if n == 0 {
            return stats;
        }
        for row in frames.chunks_exact(dim) {
            for (m, &v) in stats.mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        stats.mean.iter_mut().for_each(|m| *m /= n as f64);
        for row in frames.chunks_exact(dim) {
            for ((s, m), &v) in stats.m2.iter_mut().zip(&stats.mean).zip(row) {
                *s += (f64::from(v) - m).powi(2);
            }
        }
        stats.count = n as u64;
        stats
    }

    /// Adds another set of frames' statistics to these.
    pub fn merge(&mut self, other: &Stats) {
        assert_eq!(
            self.mean.len(),
            other.mean.len(),
            "merging statistics of different dimensions"
        );
        if other.count == 0 {
            return;
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        for d in 0..self.mean.len() {
            let delta = other.mean[d] - self.mean[d];
            self.mean[d] += delta * nb / n;
            self.m2[d] += other.m2[d] + delta * delta * na * nb / n;
        }
        self.count += other.count;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// Population standard deviation per dimension.
    pub fn std(&self) -> Vec<f64> {
        self.m2
            .iter()
            .map(|m2| {
                if self.count == 0 {
                    0.0
                } else {
                    (m2 / self.count as f64).sqrt()
                }
            })
            .collect()
    }

    /// Normalises `frames` (rows of the statistics' dimension) in place.
    pub fn apply(&self, frames: &mut [f32]) {
        let dim = self.mean.len();
        let scale: Vec<f64> = self
            .std()
            .iter()
            .map(|&s| if s < STD_FLOOR { 1.0 } else { 1.0 / s })
            .collect();
        for row in frames.chunks_exact_mut(dim) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&scale) {
                *v = ((f64::from(*v) - m) * s) as f32;
            }
        }
    }
}

// ---- node -----------------------------------------------------------------

/// Parameters of `feature.znorm`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZnormParams {
    /// `utterance`: each utterance with its own statistics (the paper); `train`: statistics of the train split for all.
    #[serde(default = "default_mode")]
    pub mode: ZnormMode,
}

fn default_mode() -> ZnormMode {
    ZnormMode::Utterance
}

struct ZnormNode(ZnormParams);

impl Node for ZnormNode {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> emoflow_sdk::Result<Outputs> {
        let batches = inputs.batches("features")?;
        let fallback = batches.first().map(|b| b.schema());
        let mut rows = FeatureRow::read_all(&batches)?;
        let train = match self.0.mode {
            ZnormMode::Utterance => None,
            ZnormMode::Train => {
                let dims = rows.first().map_or(0, |r| r.dims);
                let mut stats = Stats::new(dims);
                for row in rows.iter().filter(|r| r.split == Split::Train) {
                    stats.merge(&Stats::of_frames(&row.frames, dims));
                }
                if stats.count() == 0 && !rows.is_empty() {
                    return Err(emoflow_sdk::Error::data(
                        "feature.znorm (mode train): no train frames to take statistics from",
                    ));
                }
                Some(stats)
            }
        };
        let total = rows.len() as u64;
        for (i, row) in rows.iter_mut().enumerate() {
            ctx.check_cancelled()?;
            match &train {
                Some(stats) => stats.apply(&mut row.frames),
                None => Stats::of_frames(&row.frames, row.dims).apply(&mut row.frames),
            }
            ctx.progress(i as u64 + 1, total, &row.utt_id);
        }
        features_output(Outputs::new(), "features", &rows, fallback)
    }
}

/// The `feature.znorm` node kind.
pub fn kind() -> KindSpec {
    KindSpec::new("feature.znorm", file!())
        .doc(
            "Z-normalises features per dimension: per utterance over time (mode utterance), or with the mean and \
             standard deviation of all train frames (mode train). Constant dimensions become 0.",
        )
        .input("features", port::FEATURES, "frames")
        .output("features", port::FEATURES, "normalised frames, same shape")
        .export(
            FittedExport::new(
                "with `mode = \"train\"` it normalises with the training split's statistics, which no output keeps",
                false,
            )
            .when("mode", "train"),
        )
        .create(|p: ZnormParams| Ok(ZnormNode(p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn utterance_normalisation_gives_zero_mean_unit_std_and_zeroes_constant_dims() {
        // Dimension 0 varies, dimension 1 is constant.
        let mut frames = vec![1.0, 5.0, 2.0, 5.0, 3.0, 5.0, 6.0, 5.0];
        let stats = Stats::of_frames(&frames, 2);
        assert_eq!(stats.mean(), &[3.0, 5.0]);
        assert_eq!(stats.std(), vec![(14.0f64 / 4.0).sqrt(), 0.0]);
        stats.apply(&mut frames);
        let s = (14.0f64 / 4.0).sqrt();
        let expected: Vec<f32> = [-2.0, 0.0, -1.0, 0.0, 0.0, 0.0, 3.0, 0.0]
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 2 == 0 { (v / s) as f32 } else { 0.0 })
            .collect();
        assert_eq!(frames, expected);
    }

    #[test]
    fn train_statistics_are_applied_to_other_splits() {
        let train = [0.0f32, 10.0, 2.0, 10.0];
        let mut dev = vec![4.0f32, 13.0];
        let mut stats = Stats::of_frames(&train, 2);
        stats.merge(&Stats::new(2));
        stats.apply(&mut dev);
        // Train: dim 0 mean 1 std 1; dim 1 constant 10 (centred only).
        assert_eq!(dev, vec![3.0, 3.0]);
    }

    proptest! {
        #[test]
        fn merged_statistics_equal_those_of_the_concatenation(
            a in prop::collection::vec(-100.0f32..100.0, 0..40),
            b in prop::collection::vec(-100.0f32..100.0, 0..40),
        ) {
            let (a, b) = (&a[..a.len() / 2 * 2], &b[..b.len() / 2 * 2]);
            let mut merged = Stats::of_frames(a, 2);
            merged.merge(&Stats::of_frames(b, 2));
            let whole = Stats::of_frames(&[a, b].concat(), 2);
            prop_assert_eq!(merged.count(), whole.count());
            for d in 0..2 {
                prop_assert!((merged.mean()[d] - whole.mean()[d]).abs() < 1e-9);
                prop_assert!((merged.std()[d] - whole.std()[d]).abs() < 1e-9);
            }
        }

        #[test]
        fn normalised_utterances_have_zero_mean_and_unit_std(
            frames in prop::collection::vec(-50.0f32..50.0, 6..90),
        ) {
            let mut frames = frames[..frames.len() / 3 * 3].to_vec();
            let stats = Stats::of_frames(&frames, 3);
            stats.apply(&mut frames);
            let after = Stats::of_frames(&frames, 3);
            for d in 0..3 {
                prop_assert!(after.mean()[d].abs() < 1e-5);
                let expected = if stats.std()[d] < STD_FLOOR { 0.0 } else { 1.0 };
                prop_assert!((after.std()[d] - expected).abs() < 1e-5, "dim {}: {}", d, after.std()[d]);
            }
        }
    }
}
