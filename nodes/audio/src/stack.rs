//! `feature.stack`: k consecutive frames into one, and the rule that pairs
//! stacked frames with labels.
//!
//! Stacking: frames are grouped without overlap, stride k: output frame j
//! is the concatenation of input frames jk .. jk+k-1 (k * D values). The
//! last group, when incomplete, is padded by repeating the last input frame,
//! so no audio is dropped: n frames give ceil(n / k) stacked frames. The
//! node refuses an utterance of zero frames, naming it.
//!
//! Alignment with labels ([`align`]): both sequences start at time 0 and
//! share the label period (4 x 10 ms = 40 ms in the paper): stacked frame j
//! covers the audio from 40 j ms (its first 25 ms window starts there) and is
//! paired with label j, the label at 40 j ms. The common prefix is kept; what
//! one sequence has beyond the other's end is trimmed, and reported. If the
//! lengths differ by more than the tolerance (2 frames by default), the
//! recording is refused with an error naming it. Example: 300 s of 16 kHz
//! audio gives 29998 fbank frames (snip_edges) and 7500 stacked frames (the
//! last group padded with two copies of frame 29997) against 7501 labels:
//! 7500 pairs, the label at 300.00 s (after the last audio frame starts)
//! trimmed. Training, decoding and scoring all use [`align`], so a
//! prediction and its reference are paired identically everywhere.

use emoflow_sdk::prelude::{
    Context, FeatureRow, Inputs, KindSpec, Node, Outputs, PortRows, SeriesRow, port,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::corpus::LABEL_LENGTH_TOLERANCE;
use crate::error::{Error, Result};
use crate::ports::{features_output, series_batch};

/// Default tolerance of [`align`], in frames.
pub const DEFAULT_TOLERANCE: usize = LABEL_LENGTH_TOLERANCE;

/// Stacks `frames` (rows of `dim` values) by `k`: returns ceil(n / k) rows
/// of `k * dim` values.
pub fn stack(frames: &[f32], dim: usize, k: usize) -> Vec<f32> {
    assert!(
        dim > 0 && k > 0 && frames.len().is_multiple_of(dim),
        "stack: {} values are not rows of {dim}",
        frames.len()
    );
    let n = frames.len() / dim;
    let groups = n.div_ceil(k);
    let mut out = Vec::with_capacity(groups * k * dim);
    for j in 0..groups {
        for i in j * k..(j + 1) * k {
            let row = i.min(n - 1);
            out.extend_from_slice(&frames[row * dim..(row + 1) * dim]);
        }
    }
    out
}

/// How a feature sequence and a label sequence were paired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alignment {
    /// Number of (frame, label) pairs: the common prefix.
    pub frames: usize,
    /// Feature frames dropped from the end.
    pub trimmed_features: usize,
    /// Labels dropped from the end.
    pub trimmed_labels: usize,
}

/// Pairs `features` frames with `labels` labels of the same period, from
/// time 0: keeps the common prefix, refuses a length difference beyond
/// `tolerance` with an error naming `recording`.
pub fn align(
    recording: &str,
    features: usize,
    labels: usize,
    tolerance: usize,
) -> Result<Alignment> {
    if features.abs_diff(labels) > tolerance {
        return Err(Error::recording(
            recording,
            format!(
                "{features} feature frames against {labels} label frames: more than {tolerance} apart \
                 (are the label period and the stacking factor consistent?)"
            ),
        ));
    }
    let frames = features.min(labels);
    Ok(Alignment {
        frames,
        trimmed_features: features - frames,
        trimmed_labels: labels - frames,
    })
}

// ---- node -----------------------------------------------------------------

/// Parameters of `feature.stack`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StackParams {
    /// Consecutive frames per stacked frame (the paper: 4 x 10 ms = 40 ms).
    #[serde(default = "default_k")]
    #[schemars(range(min = 1, max = 1000))]
    pub k: usize,
    /// Largest difference in frames between a recording's stacked features and its labels.
    #[serde(default = "default_tolerance")]
    #[schemars(range(min = 0, max = 1000))]
    pub tolerance: usize,
}

fn default_k() -> usize {
    4
}

fn default_tolerance() -> usize {
    DEFAULT_TOLERANCE
}

struct StackNode(StackParams);

impl Node for StackNode {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> emoflow_sdk::Result<Outputs> {
        let StackParams { k, tolerance } = self.0;
        if k == 0 {
            return Err(emoflow_sdk::Error::invalid(
                "feature.stack: k must be at least 1",
            ));
        }
        let batches = inputs.batches("features")?;
        let fallback = batches.first().map(|b| b.schema());
        let mut features = FeatureRow::read_all(&batches)?;
        for row in &mut features {
            ctx.check_cancelled()?;
            if row.dims == 0 {
                return Err(emoflow_sdk::Error::data(format!(
                    "utterance {}: features of dimension 0",
                    row.utt_id
                )));
            }
            // The last group is padded, so only an empty row stacks to
            // nothing; passing it on would fail later, far from its cause.
            if row.frames.is_empty() {
                return Err(emoflow_sdk::Error::data(format!(
                    "utterance {}: no feature frames, so no stacked frame (k = {k}); \
                     is the recording shorter than one feature frame?",
                    row.utt_id
                )));
            }
            row.frames = stack(&row.frames, row.dims, k);
            row.dims *= k;
            row.frame_period *= k as f64;
        }
        let period = features.first().map_or(0.0, |f| f.frame_period);
        let mut labels = match inputs.optional_batches("labels")? {
            Some(batches) => SeriesRow::read_all(&batches)?,
            None => Vec::new(),
        };
        if let Some(l) = labels.first()
            && (l.frame_period - period).abs() > 1e-6 * l.frame_period
            && !features.is_empty()
        {
            return Err(emoflow_sdk::Error::data(format!(
                "labels have a frame period of {} s but the stacked features {period} s (k = {k}); \
                 choose k so that they match",
                l.frame_period
            )));
        }
        let (mut trimmed_labels, mut trimmed_features) = (0, 0);
        for feature in &mut features {
            let tracks: Vec<&mut SeriesRow> = labels
                .iter_mut()
                .filter(|l| l.utt_id == feature.utt_id)
                .collect();
            if tracks.is_empty() {
                continue;
            }
            let n = feature.num_frames();
            let mut common = n;
            for track in &tracks {
                common =
                    common.min(align(&feature.utt_id, n, track.values.len(), tolerance)?.frames);
            }
            for track in tracks {
                trimmed_labels += track.values.len() - common;
                track.values.truncate(common);
            }
            trimmed_features += n - common;
            feature.frames.truncate(common * feature.dims);
        }
        if let Some(orphan) = labels
            .iter()
            .find(|l| !features.iter().any(|f| f.utt_id == l.utt_id))
        {
            return Err(emoflow_sdk::Error::data(format!(
                "labels of utterance {} ({}) have no features",
                orphan.utt_id, orphan.dim
            )));
        }
        tracing::info!(
            utterances = features.len(),
            trimmed_label_frames = trimmed_labels,
            trimmed_feature_frames = trimmed_features,
            "stacked by {k} and aligned with the labels"
        );
        let outputs = features_output(Outputs::new(), "features", &features, fallback)?;
        Ok(outputs.with_batch("labels", series_batch(&labels, period)?))
    }
}

/// The `feature.stack` node kind.
pub fn kind() -> KindSpec {
    KindSpec::new("feature.stack", file!())
        .doc(
            "Stacks k consecutive frames into one (stride k, the last group padded by repeating the last frame) \
             and aligns the labels: both start at 0 with one period; the common prefix is kept, the tail of the \
             longer trimmed and logged, a difference over `tolerance` frames is an error naming the recording.",
        )
        .input("features", port::FEATURES, "frames of dimension D, at least one per utterance")
        .optional_input("labels", port::SERIES, "labels at k times the feature period, to align")
        .output("features", port::FEATURES, "stacked frames of dimension k x D, trimmed to the labels where there are labels")
        .output("labels", port::SERIES, "the labels trimmed to the stacked frames (empty when not wired)")
        .create(|p: StackParams| Ok(StackNode(p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn groups_of_k_with_the_last_padded_by_repetition() {
        // Five 2-d frames: [0,0.5], [1,1.5], ...
        let frames: Vec<f32> = (0..5).flat_map(|i| [i as f32, i as f32 + 0.5]).collect();
        let stacked = stack(&frames, 2, 2);
        assert_eq!(
            stacked,
            vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 4.0, 4.5]
        );
        assert_eq!(stack(&frames, 2, 1), frames);
        assert!(stack(&[], 2, 4).is_empty());
    }

    #[test]
    fn five_minutes_pair_7500_stacked_frames_with_7501_labels() {
        let fbank_frames: usize = 1 + (4_800_000 - 400) / 160;
        assert_eq!(fbank_frames, 29998);
        let stacked = fbank_frames.div_ceil(4);
        assert_eq!(stacked, 7500);
        let a = align("train_1", stacked, 7501, DEFAULT_TOLERANCE).unwrap();
        assert_eq!(
            a,
            Alignment {
                frames: 7500,
                trimmed_features: 0,
                trimmed_labels: 1
            }
        );
    }

    #[test]
    fn a_mismatch_beyond_tolerance_names_the_recording() {
        assert_eq!(align("dev_1", 7503, 7501, 2).unwrap().trimmed_features, 2);
        let msg = align("dev_1", 7498, 7501, 2).unwrap_err().to_string();
        assert!(
            msg.starts_with("recording dev_1: 7498 feature frames against 7501 label frames"),
            "{msg}"
        );
    }

    proptest! {
        #[test]
        fn stacked_rows_hold_consecutive_frames(n in 1usize..60, dim in 1usize..5, k in 1usize..6) {
            let frames: Vec<f32> = (0..n * dim).map(|v| v as f32).collect();
            let stacked = stack(&frames, dim, k);
            prop_assert_eq!(stacked.len(), n.div_ceil(k) * k * dim);
            for (j, row) in stacked.chunks(k * dim).enumerate() {
                for i in 0..k {
                    let source = (j * k + i).min(n - 1);
                    prop_assert_eq!(&row[i * dim..(i + 1) * dim], &frames[source * dim..(source + 1) * dim]);
                }
            }
        }

        #[test]
        fn alignment_keeps_the_common_prefix(f in 0usize..100, l in 0usize..100, tol in 0usize..4) {
            match align("r", f, l, tol) {
                Ok(a) => {
                    prop_assert!(f.abs_diff(l) <= tol);
                    prop_assert_eq!(a.frames, f.min(l));
                    prop_assert_eq!(a.frames + a.trimmed_features, f);
                    prop_assert_eq!(a.frames + a.trimmed_labels, l);
                }
                Err(_) => prop_assert!(f.abs_diff(l) > tol),
            }
        }
    }
}
