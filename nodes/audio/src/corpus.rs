//! What the three source kinds share: a recording (audio plus its label
//! tracks), its partition, and the checks that its labels fit its audio.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::wav::Audio;

/// Label frame period of the AVEC 2016 gold standard (and of the synthetic
/// corpus): one value every 40 ms, the first at time 0.
pub const LABEL_PERIOD: f64 = 0.04;

/// How many label frames a recording may have beyond (or short of) what its
/// audio covers before the source refuses it.
pub const LABEL_LENGTH_TOLERANCE: usize = 2;

/// A partition of the corpus (the SDK's convention).
pub use emoflow_sdk::conventions::Split;

/// Whether recordings of `split` must come with labels: test recordings may
/// come without (AVEC keeps them private).
pub fn labels_required(split: Split) -> bool {
    split != Split::Test
}

/// An emotion dimension of the AVEC 2016 gold standard.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Dim {
    Arousal,
    Valence,
}

impl Dim {
    pub const ALL: [Dim; 2] = [Dim::Arousal, Dim::Valence];

    pub fn as_str(self) -> &'static str {
        match self {
            Dim::Arousal => "arousal",
            Dim::Valence => "valence",
        }
    }
}

/// One label track of a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelTrack {
    pub dim: String,
    /// One value per label period of the source, the first at time 0.
    pub values: Vec<f32>,
}

/// A recording as a source emits it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// Utterance id, e.g. `train_3`.
    pub name: String,
    pub split: Split,
    pub audio: Audio,
    /// Empty for a test recording without labels.
    pub labels: Vec<LabelTrack>,
}

/// Number of frames (every `period` seconds from time 0) whose time lies
/// within `seconds`: 300 s at 0.04 s cover 7501.
pub fn frames_covered(seconds: f64, period: f64) -> usize {
    // The small epsilon keeps 300 s from losing its last frame to rounding.
    (seconds / period + 1e-6).floor() as usize + 1
}

/// Refuses a label track whose length differs from what the audio covers by
/// more than [`LABEL_LENGTH_TOLERANCE`] frames.
pub fn check_label_length(
    recording: &str,
    audio_seconds: f64,
    labels: usize,
    period: f64,
    source: &Path,
) -> Result<()> {
    let covered = frames_covered(audio_seconds, period);
    if labels.abs_diff(covered) > LABEL_LENGTH_TOLERANCE {
        return Err(Error::recording(
            recording,
            format!(
                "{} has {labels} label frames but the audio ({audio_seconds:.3} s) covers {covered} \
                 frames of {period} s (tolerance {LABEL_LENGTH_TOLERANCE})",
                source.display(),
            ),
        ));
    }
    Ok(())
}

/// Checks that the `index`-th label row sits at `index * period` seconds
/// (within a quarter period), so a file with another rate or with missing
/// or shuffled rows is refused at the offending line.
pub fn check_frame_time(
    path: &Path,
    line: usize,
    index: usize,
    time: f64,
    period: f64,
) -> Result<()> {
    let expected = index as f64 * period;
    if !time.is_finite() || (time - expected).abs() > period / 4.0 {
        return Err(Error::line(
            path,
            line,
            format!(
                "time {time} out of sequence: row {} of frames every {period} s should be at {expected:.3}",
                index + 1
            ),
        ));
    }
    Ok(())
}

/// The interval every label must lie in: a source's `label_range`.
pub type LabelRange = [f64; 2];

/// AVEC's [-1, 1] with a wide margin: other scales fit, a broken export's
/// 1e30 (which drags a class mean to 5.7e12) does not.
pub const DEFAULT_LABEL_RANGE: LabelRange = [-10.0, 10.0];

/// The serde default of the sources' `label_range`.
pub fn default_label_range() -> LabelRange {
    DEFAULT_LABEL_RANGE
}

/// Refuses a `label_range` that is not two finite numbers, the lower first.
pub fn check_label_range([low, high]: LabelRange) -> Result<()> {
    if low.is_finite() && high.is_finite() && low < high {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "label_range [{low}, {high}] must be two finite numbers, the lower first (default {DEFAULT_LABEL_RANGE:?})"
    )))
}

/// Checks one label value: a finite number within `range`.
pub fn check_label_value(
    path: &Path,
    line: usize,
    column: &str,
    value: f64,
    [low, high]: LabelRange,
) -> Result<f32> {
    if value.is_nan() {
        return Err(Error::line(path, line, format!("{column}: label is NaN")));
    }
    // A finite f64 beyond f32's range would silently become infinite.
    if !value.is_finite() || value.abs() > f64::from(f32::MAX) {
        return Err(Error::line(
            path,
            line,
            format!("{column}: label {value:e} is not finite in 32-bit floating point"),
        ));
    }
    if value < low || value > high {
        return Err(Error::line(
            path,
            line,
            format!(
                "{column}: label {value} is outside label_range [{low}, {high}]: fix the value, \
                 or widen the source's `label_range` if the corpus uses another scale"
            ),
        ));
    }
    Ok(value as f32)
}

/// Refuses recordings (WAV path and sample rate) of more than one sample
/// rate, naming those off the majority rate, unless `resample_to` converts
/// them all on read (then checks that it can): `feature.fbank` builds its
/// filterbank per rate, so features of different rates are not comparable.
pub fn check_sample_rates(rates: &[(&Path, u32)], resample_to: Option<u32>) -> Result<()> {
    if let Some(to) = resample_to {
        for &(path, rate) in rates {
            crate::resample::Resampler::new(rate, to)
                .map_err(|e| Error::file(path, e.to_string()))?;
        }
        return Ok(());
    }
    let mut counts = std::collections::BTreeMap::<u32, usize>::new();
    for &(_, rate) in rates {
        *counts.entry(rate).or_default() += 1;
    }
    // The most common rate; of equally common ones, the highest.
    let Some((&majority, &count)) = counts.iter().max_by_key(|&(&rate, &n)| (n, rate)) else {
        return Ok(());
    };
    let odd: Vec<String> = rates
        .iter()
        .filter(|&&(_, rate)| rate != majority)
        .map(|(path, rate)| format!("{} ({rate} Hz)", path.display()))
        .collect();
    if odd.is_empty() {
        return Ok(());
    }
    const SHOWN: usize = 5;
    let more = odd.len().saturating_sub(SHOWN);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Err(Error::Invalid(format!(
        "recordings differ in sample rate: {count} of {} are at {majority} Hz, but not {}{more}; \
         set `sample_rate = {majority}` on the source to resample every recording to one rate \
         on read (feature.fbank builds a different filterbank per rate, so their features would \
         not be comparable)",
        rates.len(),
        odd[..odd.len().min(SHOWN)].join(", "),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_beyond_f32_range_is_refused_with_its_file_and_line() {
        let path = Path::new("arousal/train_1.arff");
        let err = check_label_value(path, 12, "GoldStandard", 1e39, [-1e40, 1e40])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train_1.arff") && err.contains("12") && err.contains("1e39"),
            "{err}"
        );
        assert!(
            check_label_value(
                path,
                12,
                "GoldStandard",
                f64::NEG_INFINITY,
                DEFAULT_LABEL_RANGE
            )
            .is_err()
        );
        assert_eq!(
            check_label_value(path, 12, "GoldStandard", -0.25, DEFAULT_LABEL_RANGE).unwrap(),
            -0.25
        );
    }

    #[test]
    fn five_minutes_cover_the_release_7501_label_frames() {
        assert_eq!(frames_covered(300.0, LABEL_PERIOD), 7501);
        assert_eq!(frames_covered(4_800_000.0 / 16000.0, LABEL_PERIOD), 7501);
        assert_eq!(frames_covered(13_230_000.0 / 44100.0, LABEL_PERIOD), 7501);
        assert_eq!(frames_covered(299.99, LABEL_PERIOD), 7500);
        assert_eq!(frames_covered(300.0, 0.1), 3001);
    }

    #[test]
    fn label_length_within_tolerance_passes_and_beyond_names_recording_and_file() {
        for n in 7499..=7503 {
            check_label_length("dev_2", 300.0, n, LABEL_PERIOD, Path::new("g/dev_2.arff")).unwrap();
        }
        let msg = check_label_length(
            "dev_2",
            300.0,
            7504,
            LABEL_PERIOD,
            Path::new("g/dev_2.arff"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.starts_with("recording dev_2: g/dev_2.arff has 7504 label frames"),
            "{msg}"
        );
        assert!(check_label_length("dev_2", 300.0, 7498, LABEL_PERIOD, Path::new("g")).is_err());
    }

    #[test]
    fn frame_times_must_follow_the_period() {
        let p = Path::new("l.csv");
        check_frame_time(p, 5, 3, 0.12, 0.04).unwrap();
        check_frame_time(p, 5, 3, 0.1201, 0.04).unwrap();
        let msg = check_frame_time(p, 5, 3, 0.16, 0.04)
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("l.csv:5: time 0.16 out of sequence"),
            "{msg}"
        );
    }

    #[test]
    fn nan_and_infinite_labels_are_refused_with_their_line() {
        let p = Path::new("a.arff");
        assert_eq!(
            check_label_value(p, 9, "GoldStandard", 0.25, DEFAULT_LABEL_RANGE).unwrap(),
            0.25
        );
        let msg = check_label_value(p, 9, "GoldStandard", f64::NAN, DEFAULT_LABEL_RANGE)
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "a.arff:9: GoldStandard: label is NaN");
        assert!(check_label_value(p, 9, "x", f64::INFINITY, DEFAULT_LABEL_RANGE).is_err());
    }

    #[test]
    fn a_label_outside_the_range_is_refused_with_its_file_line_and_the_fix() {
        let p = Path::new("arousal/train_1.arff");
        let msg = check_label_value(p, 40, "GoldStandard", 1e30, DEFAULT_LABEL_RANGE)
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("arousal/train_1.arff:40: GoldStandard: label 1000000000000000000000000000000 is outside label_range [-10, 10]"), "{msg}");
        assert!(msg.contains("widen the source's `label_range`"), "{msg}");
        assert!(check_label_value(p, 40, "GoldStandard", -10.5, DEFAULT_LABEL_RANGE).is_err());
        assert_eq!(
            check_label_value(p, 40, "GoldStandard", -9.5, DEFAULT_LABEL_RANGE).unwrap(),
            -9.5
        );
        assert_eq!(
            check_label_value(p, 40, "GoldStandard", 50.0, [0.0, 100.0]).unwrap(),
            50.0
        );
    }

    #[test]
    fn a_label_range_must_be_ordered_and_finite() {
        check_label_range(DEFAULT_LABEL_RANGE).unwrap();
        for bad in [
            [1.0, -1.0],
            [0.0, 0.0],
            [f64::NEG_INFINITY, 1.0],
            [f64::NAN, 1.0],
        ] {
            assert!(check_label_range(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn one_sample_rate_per_corpus_unless_resampled() {
        let (a, b, c) = (
            Path::new("r/train_1.wav"),
            Path::new("r/dev_1.wav"),
            Path::new("r/test_1.wav"),
        );
        check_sample_rates(&[(a, 44100), (b, 44100), (c, 44100)], None).unwrap();
        let msg = check_sample_rates(&[(a, 44100), (b, 192000), (c, 44100)], None)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("2 of 3 are at 44100 Hz, but not r/dev_1.wav (192000 Hz)"),
            "{msg}"
        );
        assert!(
            msg.contains("set `sample_rate = 44100` on the source"),
            "{msg}"
        );
        check_sample_rates(&[(a, 44100), (b, 192000), (c, 16000)], Some(16000)).unwrap();
    }

    #[test]
    fn of_equally_common_rates_the_highest_is_the_majority_and_long_lists_are_cut() {
        let paths: Vec<std::path::PathBuf> =
            (0..9).map(|i| format!("r/train_{i}.wav").into()).collect();
        let rates: Vec<(&Path, u32)> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_path(), if i == 0 { 48000 } else { 8000 + i as u32 }))
            .collect();
        let msg = check_sample_rates(&rates, None).unwrap_err().to_string();
        assert!(
            msg.contains("1 of 9 are at 48000 Hz, but not r/train_1.wav (8001 Hz)"),
            "{msg}"
        );
        assert!(msg.contains("r/train_5.wav (8005 Hz) and 3 more;"), "{msg}");
    }
}
