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

/// Checks one label value: it must be a finite number.
pub fn check_label_value(path: &Path, line: usize, column: &str, value: f64) -> Result<f32> {
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
    Ok(value as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_beyond_f32_range_is_refused_with_its_file_and_line() {
        let path = Path::new("arousal/train_1.arff");
        let err = check_label_value(path, 12, "GoldStandard", 1e39).unwrap_err().to_string();
        assert!(err.contains("train_1.arff") && err.contains("12") && err.contains("1e39"), "{err}");
        assert!(check_label_value(path, 12, "GoldStandard", f64::NEG_INFINITY).is_err());
        assert_eq!(check_label_value(path, 12, "GoldStandard", -0.25).unwrap(), -0.25);
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
        assert_eq!(check_label_value(p, 9, "GoldStandard", 0.25).unwrap(), 0.25);
        let msg = check_label_value(p, 9, "GoldStandard", f64::NAN)
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "a.arff:9: GoldStandard: label is NaN");
        assert!(check_label_value(p, 9, "x", f64::INFINITY).is_err());
    }
}
