//! `post.avec`: the AVEC 2016 baseline's post-processing of predictions.
//!
//! 1. Delay: the predictions move `delay` frames earlier (the prediction of
//!    frame `t + delay` is used for frame `t`) and the end is padded with the
//!    last value. A negative delay moves them later, padding the start with
//!    the first value.
//! 2. Bias and scale, fitted per dimension on one split (dev) over the
//!    concatenated recordings and applied to every split: `fit = mean_std`
//!    gives the predictions the labels' mean and standard deviation
//!    (`scale = sd(labels) / sd(predictions)`), `fit = least_squares` is the
//!    least-squares line from predictions to labels. A constant prediction
//!    keeps scale 1 (only the bias moves it).
//! 3. When several delays are given, each is tried and the one with the best
//!    CCC of the fitted dev predictions wins (ties: the first listed).
//!
//! Statistics use population (1/N) moments.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use emoflow_sdk::conventions::{PortRows, SeriesRow, Split, port};
use emoflow_sdk::{Context, Error, FittedExport, Inputs, KindSpec, Node, Outputs};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::check_finite;
use crate::error::Result;

/// How the bias and scale are fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    /// Match the labels' mean and standard deviation.
    #[default]
    MeanStd,
    /// The least-squares line from predictions to labels.
    LeastSquares,
}

fn no_delay() -> Vec<i64> {
    vec![0]
}

fn dev() -> Split {
    Split::Dev
}

/// Parameters of `post.avec`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Annotation delays to try, in frames: predictions move this many frames
    /// earlier (negative: later); the one with the best fitted CCC on
    /// `fit_split` is kept.
    #[serde(default = "no_delay")]
    pub delays: Vec<i64>,
    /// `mean_std` or `least_squares`.
    #[serde(default)]
    pub fit: Fit,
    /// The split the delay, scale and bias are fitted on.
    #[serde(default = "dev")]
    pub fit_split: Split,
}

/// What was chosen for one dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub dim: String,
    pub delay: i64,
    pub scale: f64,
    pub bias: f64,
    /// CCC of the fitted predictions on the fitting split.
    pub ccc: f64,
}

/// `values` moved `delay` frames earlier (later when negative), padded with
/// the value at the end they move away from.
pub fn shift(values: &[f32], delay: i64) -> Vec<f32> {
    let (Some(&first), Some(&last)) = (values.first(), values.last()) else {
        return Vec::new();
    };
    let n = values.len();
    let moved = (delay.unsigned_abs() as usize).min(n);
    if delay >= 0 {
        values[moved..]
            .iter()
            .copied()
            .chain(std::iter::repeat_n(last, moved))
            .collect()
    } else {
        std::iter::repeat_n(first, moved)
            .chain(values[..n - moved].iter().copied())
            .collect()
    }
}

struct Moments {
    mean_x: f64,
    mean_y: f64,
    var_x: f64,
    var_y: f64,
    cov: f64,
}

fn moments(x: &[f64], y: &[f64]) -> Moments {
    let n = x.len() as f64;
    let mean_x = x.iter().sum::<f64>() / n;
    let mean_y = y.iter().sum::<f64>() / n;
    let (mut var_x, mut var_y, mut cov) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        var_x += (a - mean_x) * (a - mean_x);
        var_y += (b - mean_y) * (b - mean_y);
        cov += (a - mean_x) * (b - mean_y);
    }
    Moments {
        mean_x,
        mean_y,
        var_x: var_x / n,
        var_y: var_y / n,
        cov: cov / n,
    }
}

/// Lin's concordance correlation coefficient (0 when both are constant and
/// equal, where it is undefined).
fn ccc(x: &[f64], y: &[f64]) -> f64 {
    let m = moments(x, y);
    let denominator = m.var_x + m.var_y + (m.mean_x - m.mean_y).powi(2);
    if denominator > 0.0 {
        2.0 * m.cov / denominator
    } else {
        0.0
    }
}

/// `(scale, bias)` mapping predictions `x` towards labels `y`.
fn fit_line(x: &[f64], y: &[f64], fit: Fit) -> (f64, f64) {
    let m = moments(x, y);
    let scale = if m.var_x > 0.0 {
        match fit {
            Fit::MeanStd => (m.var_y / m.var_x).sqrt(),
            Fit::LeastSquares => m.cov / m.var_x,
        }
    } else {
        1.0
    };
    (scale, m.mean_y - scale * m.mean_x)
}

/// Chooses delay, scale and bias per dimension from the `fit_split` rows of
/// `predictions` and their `labels` (matched by utterance and dimension).
pub fn calibrate(
    predictions: &[SeriesRow],
    labels: &[SeriesRow],
    delays: &[i64],
    fit: Fit,
    fit_split: Split,
) -> Result<Vec<Calibration>> {
    if delays.is_empty() {
        return Err(Error::invalid("post.avec needs at least one delay"));
    }
    let mut dims: Vec<&str> = Vec::new();
    for row in predictions {
        if !dims.contains(&row.dim.as_str()) {
            dims.push(&row.dim);
        }
    }
    let mut out = Vec::new();
    for dim in dims {
        let mut pairs = Vec::new();
        for row in predictions
            .iter()
            .filter(|r| r.dim == dim && r.split == fit_split)
        {
            let Some(label) = labels
                .iter()
                .find(|l| l.utt_id == row.utt_id && l.dim == dim)
            else {
                return Err(Error::data(format!(
                    "utterance {} ({dim}): no labels to fit the post-processing on",
                    row.utt_id
                )));
            };
            if label.values.len() != row.values.len() {
                return Err(Error::data(format!(
                    "utterance {} ({dim}): {} predictions but {} labels",
                    row.utt_id,
                    row.values.len(),
                    label.values.len()
                )));
            }
            pairs.push((row, label));
        }
        if pairs.is_empty() {
            return Err(Error::data(format!(
                "{dim}: no predictions in split {fit_split} to fit the post-processing on"
            )));
        }
        let y: Vec<f64> = pairs
            .iter()
            .flat_map(|(_, l)| l.values.iter().map(|&v| f64::from(v)))
            .collect();
        let mut best: Option<Calibration> = None;
        for &delay in delays {
            let x: Vec<f64> = pairs
                .iter()
                .flat_map(|(p, _)| shift(&p.values, delay))
                .map(f64::from)
                .collect();
            let (scale, bias) = fit_line(&x, &y, fit);
            let fitted: Vec<f64> = x.iter().map(|v| scale * v + bias).collect();
            let score = ccc(&fitted, &y);
            if best.as_ref().is_none_or(|b| score > b.ccc) {
                best = Some(Calibration {
                    dim: dim.to_owned(),
                    delay,
                    scale,
                    bias,
                    ccc: score,
                });
            }
        }
        out.extend(best);
    }
    Ok(out)
}

/// Applies each dimension's calibration to every row.
pub fn apply(predictions: &[SeriesRow], calibrations: &[Calibration]) -> Result<Vec<SeriesRow>> {
    predictions
        .iter()
        .map(|row| {
            let Some(c) = calibrations.iter().find(|c| c.dim == row.dim) else {
                return Err(Error::data(format!(
                    "utterance {}: no calibration for {}",
                    row.utt_id, row.dim
                )));
            };
            let values = shift(&row.values, c.delay)
                .into_iter()
                .map(|v| (c.scale * f64::from(v) + c.bias) as f32)
                .collect();
            Ok(SeriesRow {
                values,
                ..row.clone()
            })
        })
        .collect()
}

fn fit_table(calibrations: &[Calibration]) -> Result<RecordBatch> {
    let f64s =
        |f: fn(&Calibration) -> f64| Arc::new(calibrations.iter().map(f).collect::<Float64Array>());
    let schema = Schema::new(vec![
        Field::new("dim", DataType::Utf8, false),
        Field::new("delay", DataType::Int64, false),
        Field::new("scale", DataType::Float64, false),
        Field::new("bias", DataType::Float64, false),
        Field::new("ccc", DataType::Float64, false),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(
                calibrations
                    .iter()
                    .map(|c| Some(c.dim.as_str()))
                    .collect::<StringArray>(),
            ),
            Arc::new(calibrations.iter().map(|c| c.delay).collect::<Int64Array>()),
            f64s(|c| c.scale),
            f64s(|c| c.bias),
            f64s(|c| c.ccc),
        ],
    )?)
}

struct PostAvec(Params);

impl Node for PostAvec {
    fn run(&mut self, _ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let predictions = SeriesRow::read_all(&inputs.batches("predictions")?)?;
        let labels = SeriesRow::read_all(&inputs.batches("labels")?)?;
        check_finite(&predictions, "predictions")?;
        check_finite(&labels, "labels")?;
        let calibrations = calibrate(
            &predictions,
            &labels,
            &self.0.delays,
            self.0.fit,
            self.0.fit_split,
        )?;
        for c in &calibrations {
            tracing::info!(
                "{}: delay {} frames, scale {:.4}, bias {:.4}, {} CCC {:.4}",
                c.dim,
                c.delay,
                c.scale,
                c.bias,
                self.0.fit_split,
                c.ccc
            );
        }
        Ok(Outputs::new()
            .with_batch(
                "calibrated",
                SeriesRow::write(&apply(&predictions, &calibrations)?)?,
            )
            .with_batch("fit", fit_table(&calibrations)?))
    }
}

pub fn spec() -> KindSpec {
    KindSpec::new("post.avec", file!())
        .doc(
            "AVEC 2016 baseline post-processing: shift the predictions by an annotation delay \
             (chosen from `delays` by CCC on `fit_split`), then a scale and bias fitted per \
             dimension on `fit_split` and applied to every split.",
        )
        .input("predictions", port::SERIES, "predictions of every split")
        .input(
            "labels",
            port::SERIES,
            "gold-standard labels (those of `fit_split` are used)",
        )
        .output("calibrated", port::SERIES, "the post-processed predictions")
        .output(
            "fit",
            port::TABLE,
            "per dimension: dim, delay Int64, scale, bias, ccc (on `fit_split`)",
        )
        .export(FittedExport::new(
            "its delay, bias and scale are fitted on dev and no output keeps them",
            false,
        ))
        .create(|params: Params| {
            if params.delays.is_empty() {
                return Err(Error::invalid("delays must list at least one delay"));
            }
            Ok(PostAvec(params))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(utt: &str, split: Split, values: Vec<f32>) -> SeriesRow {
        SeriesRow {
            utt_id: utt.into(),
            split,
            dim: "arousal".into(),
            frame_period: 0.04,
            values,
        }
    }

    #[test]
    fn shift_moves_earlier_and_pads_with_the_last_value() {
        assert_eq!(shift(&[1.0, 2.0, 3.0, 4.0], 1), vec![2.0, 3.0, 4.0, 4.0]);
        assert_eq!(shift(&[1.0, 2.0, 3.0, 4.0], -1), vec![1.0, 1.0, 2.0, 3.0]);
        assert_eq!(shift(&[1.0, 2.0, 3.0], 0), vec![1.0, 2.0, 3.0]);
        assert_eq!(shift(&[1.0, 2.0, 3.0], 7), vec![3.0, 3.0, 3.0]);
        assert_eq!(shift(&[1.0, 2.0, 3.0], -7), vec![1.0, 1.0, 1.0]);
        assert_eq!(shift(&[], 2), Vec::<f32>::new());
    }

    /// Labels are the predictions two frames early, halved and moved up by 1.
    fn delayed_labels() -> (Vec<SeriesRow>, Vec<SeriesRow>) {
        let signal: Vec<f32> = (0..40)
            .map(|t| ((t as f32) * 0.7).sin() + 0.1 * t as f32)
            .collect();
        let labels: Vec<f32> = shift(&signal, 2).iter().map(|v| 0.5 * v + 1.0).collect();
        let predictions = vec![
            series("dev_1", Split::Dev, signal.clone()),
            series("test_1", Split::Test, signal),
        ];
        (predictions, vec![series("dev_1", Split::Dev, labels)])
    }

    #[test]
    fn finds_the_delay_and_the_line_on_dev_and_applies_them_everywhere() {
        let (predictions, labels) = delayed_labels();
        for fit in [Fit::MeanStd, Fit::LeastSquares] {
            let c =
                calibrate(&predictions, &labels, &[-2, 0, 1, 2, 3, 4], fit, Split::Dev).unwrap();
            assert_eq!(c.len(), 1);
            assert_eq!(c[0].delay, 2, "{fit:?}");
            assert!(
                (c[0].scale - 0.5).abs() < 0.02 && (c[0].bias - 1.0).abs() < 0.05,
                "{:?}",
                c[0]
            );
            assert!(c[0].ccc > 0.99);
            let out = apply(&predictions, &c).unwrap();
            for (got, want) in out[0].values.iter().zip(&labels[0].values) {
                assert!((got - want).abs() < 0.05);
            }
            assert_eq!(out[1].split, Split::Test);
            assert_eq!(out[1].values, out[0].values);
        }
    }

    #[test]
    fn mean_std_matches_the_label_moments_exactly() {
        let predictions = vec![series("dev_1", Split::Dev, vec![1.0, 2.0, 4.0, 1.0])];
        let labels = vec![series("dev_1", Split::Dev, vec![0.0, -1.0, 3.0, 2.0])];
        let c = calibrate(&predictions, &labels, &[0], Fit::MeanStd, Split::Dev).unwrap();
        let out = apply(&predictions, &c).unwrap();
        let x: Vec<f64> = out[0].values.iter().map(|&v| f64::from(v)).collect();
        let y: Vec<f64> = labels[0].values.iter().map(|&v| f64::from(v)).collect();
        let m = moments(&x, &y);
        assert!((m.mean_x - m.mean_y).abs() < 1e-6 && (m.var_x - m.var_y).abs() < 1e-5);
    }

    #[test]
    fn missing_or_mismatched_labels_are_errors_naming_the_utterance() {
        let (predictions, mut labels) = delayed_labels();
        labels[0].values.pop();
        let err = calibrate(&predictions, &labels, &[0], Fit::MeanStd, Split::Dev).unwrap_err();
        assert!(
            err.message.contains("dev_1") && err.message.contains("39 labels"),
            "{err}"
        );
        let err = calibrate(&predictions, &[], &[0], Fit::MeanStd, Split::Dev).unwrap_err();
        assert!(err.message.contains("dev_1"), "{err}");
        let err = calibrate(&predictions, &labels, &[0], Fit::MeanStd, Split::Train).unwrap_err();
        assert!(err.message.contains("train"), "{err}");
    }
}
