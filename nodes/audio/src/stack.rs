//! `feature.stack`: k consecutive frames into one, and the rule that pairs
//! stacked frames with labels.
//!
//! Stacking: frames are grouped without overlap, stride k: output frame j
//! is the concatenation of input frames jk .. jk+k-1 (k * D values). The
//! last group, when incomplete, is padded by repeating the last input frame,
//! so no audio is dropped: n frames give ceil(n / k) stacked frames.
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

use crate::corpus::LABEL_LENGTH_TOLERANCE;
use crate::error::{Error, Result};

/// Default tolerance of [`align`], in frames.
pub const DEFAULT_TOLERANCE: usize = LABEL_LENGTH_TOLERANCE;

/// Stacks `frames` (rows of `dim` values) by `k`: returns ceil(n / k) rows
/// of `k * dim` values.
pub fn stack(frames: &[f32], dim: usize, k: usize) -> Vec<f32> {
    assert!(dim > 0 && k > 0 && frames.len() % dim == 0, "stack: {} values are not rows of {dim}", frames.len());
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
pub fn align(recording: &str, features: usize, labels: usize, tolerance: usize) -> Result<Alignment> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn groups_of_k_with_the_last_padded_by_repetition() {
        // Five 2-d frames: [0,0.5], [1,1.5], ...
        let frames: Vec<f32> = (0..5).flat_map(|i| [i as f32, i as f32 + 0.5]).collect();
        let stacked = stack(&frames, 2, 2);
        assert_eq!(stacked, vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 4.0, 4.5]);
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
        assert_eq!(a, Alignment { frames: 7500, trimmed_features: 0, trimmed_labels: 1 });
    }

    #[test]
    fn a_mismatch_beyond_tolerance_names_the_recording() {
        assert_eq!(align("dev_1", 7503, 7501, 2).unwrap().trimmed_features, 2);
        let msg = align("dev_1", 7498, 7501, 2).unwrap_err().to_string();
        assert!(msg.starts_with("recording dev_1: 7498 feature frames against 7501 label frames"), "{msg}");
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
