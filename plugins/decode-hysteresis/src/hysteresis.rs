//! `decode.hysteresis`: argmax decoding that holds on to its class.
//!
//! Like `decode.argmax` (the paper's CLS-Raw), it divides each frame's
//! posteriors by the class priors, maps the chosen classes to their cluster
//! means and averages the tasks of each utterance and dimension; those steps
//! are the SDK's decoder helpers ([`emoflow_sdk::families::decode`]). What
//! differs is how a task's class is chosen:
//!
//! * the first frame takes its most likely class;
//! * a class *beats* the current one on a frame when its prior-scaled
//!   posterior is at least `margin` times the current class's;
//! * the decoder switches to a class once it has beaten the current one on
//!   `min_frames` consecutive frames. The switch takes effect on that last
//!   frame: the decoder only looks back, so a change shows `min_frames - 1`
//!   frames late, and a blip shorter than `min_frames` frames never shows.
//!
//! With `margin = 1` and `min_frames = 1` this is plain argmax decoding.

use emoflow_sdk::families::decode::{self, decode_and_average, node_progress};
use emoflow_sdk::prelude::*;
use emoflow_sdk::tracing;
use schemars::JsonSchema;
use serde::Deserialize;

/// Parameters of `decode.hysteresis`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// How many times larger (after prior scaling) a class's posterior must
    /// be than the current class's to count against it; 1 counts any win.
    #[serde(default = "default_margin")]
    #[schemars(range(min = 1.0))]
    pub margin: f64,
    /// Consecutive frames a class must beat the current one by `margin`
    /// before the decoder switches to it; 1 switches at once.
    #[serde(default = "default_min_frames")]
    #[schemars(range(min = 1))]
    pub min_frames: u32,
}

fn default_margin() -> f64 {
    1.5
}

fn default_min_frames() -> u32 {
    3
}

impl Params {
    /// The schema tells the host the same bounds; this check is for callers
    /// that skip it (tests, other hosts).
    fn validate(&self) -> Result<()> {
        if !(self.margin >= 1.0 && self.margin.is_finite()) {
            return Err(Error::invalid(format!(
                "decode.hysteresis: `margin` must be a finite number >= 1, got {}",
                self.margin
            )));
        }
        if self.min_frames < 1 {
            return Err(Error::invalid(
                "decode.hysteresis: `min_frames` must be at least 1, got 0",
            ));
        }
        Ok(())
    }
}

/// The node: its parameters, checked.
struct Hysteresis {
    params: Params,
}

impl Hysteresis {
    fn new(params: Params) -> Result<Self> {
        params.validate()?;
        Ok(Self { params })
    }
}

impl Node for Hysteresis {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let (posteriors, codebooks) = decode::read_decoder_inputs(&mut inputs)?;
        let (mut switches, mut argmax_switches) = (0, 0);
        let predictions = decode_and_average(
            &posteriors,
            &codebooks,
            &mut node_progress(ctx),
            |row, scores| {
                let k = row.num_classes as usize;
                let classes = decode_task(scores, k, &self.params);
                switches += count_changes(&classes);
                argmax_switches += count_changes(&decode_task(scores, k, &ARGMAX));
                Ok(classes)
            },
        )?;
        ctx.progress(posteriors.len() as u64, posteriors.len() as u64, "decoded");
        tracing::info!(
            "decoded {} task rows: {switches} class changes where argmax makes {argmax_switches}",
            posteriors.len()
        );
        decode::predictions_output(&predictions)
    }
}

/// The parameters under which hysteresis decoding is argmax decoding.
const ARGMAX: Params = Params {
    margin: 1.0,
    min_frames: 1,
};

pub fn spec() -> KindSpec {
    decode::kind_spec(
        "decode.hysteresis",
        file!(),
        "Argmax decoding with hysteresis: per task, the class only changes once another \
         beats it by a factor `margin` (prior-scaled posteriors) on `min_frames` consecutive \
         frames; then cluster means averaged over tasks, as decode.argmax.",
    )
    .create(Hysteresis::new)
}

// ---- decoding one task ------------------------------------------------------

/// One class per frame of `scores` (frames x `num_classes`, row-major, log
/// prior-scaled posteriors).
pub fn decode_task(scores: &[f64], num_classes: usize, params: &Params) -> Vec<u32> {
    // `margin` times larger is `ln(margin)` more in the log domain.
    let log_margin = params.margin.ln();
    let mut classes = Vec::with_capacity(scores.len() / num_classes.max(1));
    let mut current = None;
    // Per class: on how many consecutive frames it has beaten `current`.
    let mut streak = vec![0u32; num_classes];
    for frame in scores.chunks_exact(num_classes) {
        let now = *current.get_or_insert_with(|| argmax(frame));
        let mut switch_to: Option<usize> = None;
        for (class, &score) in frame.iter().enumerate() {
            if class != now && beats((class, score), (now, frame[now]), log_margin) {
                streak[class] += 1;
                // Several may be due on one frame: the best of them wins.
                if streak[class] >= params.min_frames && switch_to.is_none_or(|s| score > frame[s])
                {
                    switch_to = Some(class);
                }
            } else {
                streak[class] = 0;
            }
        }
        if let Some(class) = switch_to {
            current = Some(class);
            // The streaks counted wins over the old class.
            streak.fill(0);
        }
        classes.push(current.unwrap_or(now) as u32);
    }
    classes
}

/// Whether `challenger` (class, log score) beats `current` by `log_margin`.
/// An exact tie goes to the lower class, as argmax's first most likely class.
fn beats(challenger: (usize, f64), current: (usize, f64), log_margin: f64) -> bool {
    let bar = current.1 + log_margin;
    challenger.1 > bar || (challenger.1 == bar && challenger.0 < current.0)
}

/// The first most likely class of a frame.
fn argmax(frame: &[f64]) -> usize {
    let mut best = 0;
    for (class, &score) in frame.iter().enumerate() {
        if score > frame[best] {
            best = class;
        }
    }
    best
}

fn count_changes(classes: &[u32]) -> usize {
    classes.windows(2).filter(|w| w[0] != w[1]).count()
}

// ---- tests ------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use emoflow_sdk::harness::Harness;

    /// The codebook of `arousal`/`task`: one row per class, with these
    /// means and priors.
    fn codebook(task: &str, means: &[f64], priors: &[f64]) -> Vec<CodebookRow> {
        (0..means.len())
            .map(|c| CodebookRow {
                dim: "arousal".into(),
                task: task.into(),
                num_classes: means.len() as u32,
                class: c as u32,
                mean: means[c],
                lower: means[c] - 0.5,
                upper: means[c] + 0.5,
                prior: priors[c],
            })
            .collect()
    }

    fn posteriors(utt: &str, task: &str, num_classes: u32, values: Vec<f32>) -> PosteriorsRow {
        PosteriorsRow {
            utt_id: utt.into(),
            split: Split::Dev,
            dim: "arousal".into(),
            task: task.into(),
            num_classes,
            frame_period: 0.04,
            posteriors: values,
        }
    }

    /// Two-class frames from the probability of class 1 on each frame.
    fn two_class(p1: &[f32]) -> Vec<f32> {
        p1.iter().flat_map(|&p| [1.0 - p, p]).collect()
    }

    /// Runs `decode.hysteresis` with `(margin, min_frames)` (or the
    /// defaults) on one task of two classes (means -1 and +1, equal priors)
    /// and returns its predictions.
    fn decode_two_class(p1: &[f32], params: Option<(f64, u32)>) -> Vec<f32> {
        let mut harness = Harness::new(crate::emoflow_plugin(), "decode.hysteresis")
            .rows("posteriors", &[posteriors("dev_1", "k2", 2, two_class(p1))])
            .rows("codebook", &codebook("k2", &[-1.0, 1.0], &[0.5, 0.5]));
        if let Some((margin, min_frames)) = params {
            harness = harness
                .param("margin", margin)
                .param("min_frames", min_frames);
        }
        let out = harness.run().unwrap();
        let rows: Vec<SeriesRow> = out.rows("predictions").unwrap();
        assert_eq!(rows.len(), 1);
        rows[0].values.clone()
    }

    /// A small deterministic pseudo-random generator (no extra dependency).
    fn uniform(state: &mut u64) -> f32 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*state >> 40) as f32) / (1u64 << 24) as f32
    }

    #[test]
    fn with_margin_1_and_min_frames_1_it_is_argmax_decoding() {
        // Two tasks of 3 and 4 classes with unequal priors, random frames.
        let mut rows = codebook("k3", &[-0.5, 0.0, 0.5], &[0.2, 0.5, 0.3]);
        rows.extend(codebook(
            "k4",
            &[-0.6, -0.2, 0.2, 0.6],
            &[0.1, 0.4, 0.4, 0.1],
        ));
        let mut state = 7;
        let frames = 200;
        let mut random = |k: usize| -> Vec<f32> {
            (0..frames * k)
                .map(|_| uniform(&mut state) + 0.01)
                .collect()
        };
        let input = vec![
            posteriors("dev_1", "k3", 3, random(3)),
            posteriors("dev_1", "k4", 4, random(4)),
        ];

        // Plain argmax decoding, written out: the first most likely class
        // of each frame after dividing by the priors, its cluster mean,
        // averaged over the two tasks.
        let mut expected = vec![0.0f64; frames];
        for row in &input {
            let book: Vec<&CodebookRow> = rows.iter().filter(|r| r.task == row.task).collect();
            for (t, frame) in row.posteriors.chunks(row.num_classes as usize).enumerate() {
                let scaled: Vec<f64> = frame
                    .iter()
                    .zip(&book)
                    .map(|(&y, c)| f64::from(y) / c.prior)
                    .collect();
                let best =
                    (0..scaled.len()).fold(0, |b, c| if scaled[c] > scaled[b] { c } else { b });
                expected[t] += book[best].mean;
            }
        }
        let expected: Vec<f32> = expected.iter().map(|s| (s / 2.0) as f32).collect();

        let out = Harness::new(crate::emoflow_plugin(), "decode.hysteresis")
            .param("margin", 1.0)
            .param("min_frames", 1)
            .rows("posteriors", &input)
            .rows("codebook", &rows)
            .run()
            .unwrap();
        let predictions: Vec<SeriesRow> = out.rows("predictions").unwrap();
        assert_eq!(predictions.len(), 1);
        assert_eq!(predictions[0].values, expected);
        assert_eq!(predictions[0].frame_period, 0.04);

        // An exact tie goes to the lower class, as in argmax.
        assert_eq!(
            decode_two_class(&[0.9, 0.5], Some((1.0, 1))),
            vec![1.0, -1.0]
        );
    }

    #[test]
    fn a_one_frame_blip_is_ignored_with_min_frames_2() {
        let p1 = [0.1, 0.1, 0.1, 0.9, 0.1, 0.1];
        assert_eq!(decode_two_class(&p1, Some((1.0, 2))), vec![-1.0; 6]);
        // The same blip with min_frames 1 shows.
        assert_eq!(
            decode_two_class(&p1, Some((1.0, 1))),
            vec![-1.0, -1.0, -1.0, 1.0, -1.0, -1.0]
        );
    }

    #[test]
    fn a_sustained_change_is_taken_on_its_min_frames_th_frame() {
        // Class 1 wins from frame 2 on; with min_frames 3 the decoder
        // switches on frame 4, the third winning frame.
        let p1 = [0.1, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9];
        assert_eq!(
            decode_two_class(&p1, Some((1.5, 3))),
            vec![-1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0]
        );
        // A change of only min_frames - 1 frames is not taken.
        let p1 = [0.1, 0.1, 0.9, 0.9, 0.1, 0.1, 0.1];
        assert_eq!(decode_two_class(&p1, Some((1.5, 3))), vec![-1.0; 7]);
    }

    #[test]
    fn a_win_smaller_than_the_margin_does_not_count() {
        // 0.55 / 0.45 = 1.22 < 1.5: class 0 stays. 0.65 / 0.35 = 1.86 wins.
        assert_eq!(
            decode_two_class(&[0.4, 0.55, 0.55, 0.55], Some((1.5, 1))),
            vec![-1.0; 4]
        );
        assert_eq!(
            decode_two_class(&[0.4, 0.65, 0.65, 0.65], Some((1.5, 1))),
            vec![-1.0, 1.0, 1.0, 1.0]
        );
    }

    #[test]
    fn the_defaults_are_margin_1_5_and_min_frames_3() {
        // Class 1 wins by 0.7 / 0.3 = 2.33 from frame 1 on: taken on frame 3.
        assert_eq!(
            decode_two_class(&[0.2, 0.7, 0.7, 0.7, 0.7], None),
            vec![-1.0, -1.0, -1.0, 1.0, 1.0]
        );
    }

    /// The error of a node created with one parameter set to `value`.
    fn error_with(name: &str, value: impl serde::Serialize) -> Error {
        Harness::new(crate::emoflow_plugin(), "decode.hysteresis")
            .param(name, value)
            .rows(
                "posteriors",
                &[posteriors("dev_1", "k2", 2, two_class(&[0.5]))],
            )
            .rows("codebook", &codebook("k2", &[-1.0, 1.0], &[0.5, 0.5]))
            .run()
            .unwrap_err()
    }

    #[test]
    fn bad_parameters_are_errors_naming_the_parameter() {
        let err = error_with("margin", 0.5);
        assert_eq!(err.code, ErrorCode::Invalid);
        assert!(
            err.message.contains("`margin`") && err.message.contains("0.5"),
            "{err}"
        );
        let err = error_with("min_frames", 0);
        assert!(err.message.contains("`min_frames`"), "{err}");
        let err = error_with("min_frame", 2);
        assert!(err.message.contains("unknown field `min_frame`"), "{err}");
    }

    #[test]
    fn it_reports_progress_and_logs_how_many_changes_it_kept() {
        let out = Harness::new(crate::emoflow_plugin(), "decode.hysteresis")
            .rows(
                "posteriors",
                &[posteriors(
                    "dev_1",
                    "k2",
                    2,
                    two_class(&[0.1, 0.9, 0.1, 0.1]),
                )],
            )
            .rows("codebook", &codebook("k2", &[-1.0, 1.0], &[0.5, 0.5]))
            .run()
            .unwrap();
        assert_eq!(out.progress, vec![(0, 1), (1, 1)]);
        assert!(
            out.logged("0 class changes where argmax makes 2"),
            "{:?}",
            out.logs
        );
    }

    #[test]
    fn a_cancelled_run_stops_with_cancelled() {
        let err = Harness::new(crate::emoflow_plugin(), "decode.hysteresis")
            .rows(
                "posteriors",
                &[posteriors("dev_1", "k2", 2, two_class(&[0.5]))],
            )
            .rows("codebook", &codebook("k2", &[-1.0, 1.0], &[0.5, 0.5]))
            .cancelled()
            .run()
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Cancelled);
    }

    #[test]
    fn the_schema_states_the_bounds_and_defaults() {
        let schema = spec().params_schema;
        let margin = &schema["properties"]["margin"];
        assert_eq!(margin["minimum"], 1.0);
        assert_eq!(margin["default"], 1.5);
        assert_eq!(schema["properties"]["min_frames"]["minimum"], 1);
        assert_eq!(schema["additionalProperties"], false);
    }

    #[test]
    fn a_posterior_count_that_disagrees_with_the_codebook_names_the_utterance() {
        let err = Harness::new(crate::emoflow_plugin(), "decode.hysteresis")
            .rows(
                "posteriors",
                &[posteriors("dev_7", "k2", 3, vec![0.2, 0.3, 0.5])],
            )
            .rows("codebook", &codebook("k2", &[-1.0, 1.0], &[0.5, 0.5]))
            .run()
            .unwrap_err();
        assert!(
            err.message.contains("dev_7") && err.message.contains("codebook has 2"),
            "{err}"
        );
    }
}
