//! Metrics that compare predictions with labels: matching, alignment and
//! the score per split and dimension.
//!
//! A metric kind of this family has two inputs, `predictions` and `labels`
//! (port type `series`), and one output, `metrics` ([`with_ports`]); it only
//! supplies a statistic over (prediction, label) frames and [`run_metric`]
//! does the rest by these rules:
//!
//! - A prediction and a label series match when `utt_id` and `dim` agree;
//!   their `split`s must agree too. Each (utt_id, dim) may occur once per input.
//! - Every label series must have a prediction (a missing one would silently
//!   change the score). Predictions without labels (e.g. the test split of
//!   AVEC 2016, whose labels are not public) are not scored and are listed in
//!   [`Matching::unlabelled`] for the node to log.
//! - Alignment: equal lengths are used as they are. Lengths that differ by at
//!   most `max_length_mismatch` frames are both cut to the shorter one, i.e.
//!   the trailing frames of the longer series are dropped, and the cut is
//!   listed in [`Matching::trimmed`] for the node to log. A larger difference
//!   is an error naming the utterance.
//! - Any non-finite value is an error naming the utterance and frame.
//! - One `metrics` row per (split, dim), in order of first appearance in the
//!   labels; [`Aggregate`] says whether the statistic runs over the
//!   concatenated frames or is the mean of per-utterance values.
//!
//! ```
//! use emoflow_sdk::families::metric::{Aggregate, match_series};
//! use emoflow_sdk::prelude::{SeriesRow, Split};
//!
//! let series = |values: &[f32]| SeriesRow {
//!     utt_id: "dev_1".into(), split: Split::Dev, dim: "arousal".into(),
//!     frame_period: 0.04, values: values.to_vec(),
//! };
//! let (predictions, labels) = ([series(&[0.5, 0.25, 0.0])], [series(&[0.5, 0.5])]);
//! // One frame of difference is absorbed: both are cut to 2 frames.
//! let matching = match_series(&predictions, &labels, 1)?;
//! let mean_abs_error = |frames: emoflow_sdk::families::metric::Samples| {
//!     let (n, sum) = frames.fold((0, 0.0), |(n, s), (x, y)| (n + 1, s + f64::abs(x - y)));
//!     Ok::<f64, emoflow_sdk::Error>(sum / n as f64)
//! };
//! let group = &matching.groups[0];
//! assert_eq!((group.split, group.dim), (Split::Dev, "arousal"));
//! assert_eq!(group.aggregate(Aggregate::Concatenated, mean_abs_error)?, 0.125);
//! # Ok::<(), emoflow_sdk::Error>(())
//! ```

use std::collections::{HashMap, HashSet};

use crate::conventions::{MetricRow, PortRows, SeriesRow, Split, port};
use crate::{Error, Inputs, KindSpec, Outputs, Result};

/// The tolerance of the alignment rule, in frames: the 40 ms feature stacking
/// of a 5-minute recording leaves about two frames fewer than labels.
pub const DEFAULT_MAX_LENGTH_MISMATCH: u32 = 2;

/// Serde default of the nodes' `max_length_mismatch`.
pub fn default_max_length_mismatch() -> u32 {
    DEFAULT_MAX_LENGTH_MISMATCH
}

/// How per-utterance results are combined within a (split, dim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// The metric of all utterances' frames concatenated (AVEC's way).
    #[default]
    Concatenated,
    /// The unweighted mean of the per-utterance metrics.
    UtteranceMean,
}

/// One utterance's aligned prediction and label (equal lengths).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair<'a> {
    pub utt_id: &'a str,
    pub prediction: &'a [f32],
    pub label: &'a [f32],
}

/// The matched utterances of one (split, dim).
#[derive(Debug, Clone, PartialEq)]
pub struct Group<'a> {
    pub split: Split,
    pub dim: &'a str,
    pub pairs: Vec<Pair<'a>>,
}

/// A length difference the alignment rule absorbed.
#[derive(Debug, Clone, PartialEq)]
pub struct Trim<'a> {
    pub utt_id: &'a str,
    pub dim: &'a str,
    pub prediction_len: usize,
    pub label_len: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Matching<'a> {
    /// In order of first appearance in the labels.
    pub groups: Vec<Group<'a>>,
    pub trimmed: Vec<Trim<'a>>,
    /// (utt_id, dim) of predictions that have no label.
    pub unlabelled: Vec<(&'a str, &'a str)>,
}

/// (prediction, label) frames of a run of pairs, in order, as f64.
#[derive(Debug, Clone)]
pub struct Samples<'p, 'a> {
    pairs: &'p [Pair<'a>],
    pair: usize,
    frame: usize,
}

impl<'p, 'a> Samples<'p, 'a> {
    pub fn new(pairs: &'p [Pair<'a>]) -> Self {
        Self {
            pairs,
            pair: 0,
            frame: 0,
        }
    }
}

impl Iterator for Samples<'_, '_> {
    type Item = (f64, f64);

    fn next(&mut self) -> Option<(f64, f64)> {
        loop {
            let p = self.pairs.get(self.pair)?;
            if let (Some(&x), Some(&y)) = (p.prediction.get(self.frame), p.label.get(self.frame)) {
                self.frame += 1;
                return Some((x as f64, y as f64));
            }
            self.pair += 1;
            self.frame = 0;
        }
    }
}

impl Group<'_> {
    /// `stat` over this group's frames, aggregated as `how` says. Errors
    /// are prefixed with the split, dim and (per utterance) the utterance.
    pub fn aggregate<E: Into<Error>>(
        &self,
        how: Aggregate,
        stat: impl Fn(Samples<'_, '_>) -> std::result::Result<f64, E>,
    ) -> Result<f64> {
        let context = |utt: Option<&str>| {
            let mut c = format!("split '{}', dim '{}'", self.split, self.dim);
            if let Some(u) = utt {
                c.push_str(&format!(", utterance '{u}'"));
            }
            c
        };
        let within = |utt: Option<&str>, e: E| e.into().context(context(utt));
        match how {
            Aggregate::Concatenated => stat(Samples::new(&self.pairs)).map_err(|e| within(None, e)),
            Aggregate::UtteranceMean => {
                let mut sum = 0.0;
                for (i, p) in self.pairs.iter().enumerate() {
                    sum += stat(Samples::new(&self.pairs[i..=i]))
                        .map_err(|e| within(Some(p.utt_id), e))?;
                }
                Ok(sum / self.pairs.len() as f64)
            }
        }
    }
}

/// Rejects a series holding a NaN or an infinity; `role` says which input
/// it came from ("prediction", "label").
pub fn check_finite(series: &SeriesRow, role: &str) -> Result<()> {
    match series.values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(frame) => Err(Error::data(format!(
            "{role} of utterance '{}', dim '{}', frame {frame}: not a finite number ({})",
            series.utt_id, series.dim, series.values[frame]
        ))),
    }
}

/// Pairs `predictions` with `labels` under the module's rules.
pub fn match_series<'a>(
    predictions: &'a [SeriesRow],
    labels: &'a [SeriesRow],
    max_length_mismatch: usize,
) -> Result<Matching<'a>> {
    let mut by_key: HashMap<(&str, &str), &SeriesRow> = HashMap::with_capacity(predictions.len());
    for p in predictions {
        check_finite(p, "prediction")?;
        if by_key.insert((&p.utt_id, &p.dim), p).is_some() {
            return Err(duplicate("predictions", p));
        }
    }
    let mut groups: Vec<Group<'a>> = Vec::new();
    let mut trimmed = Vec::new();
    let mut seen = HashSet::with_capacity(labels.len());
    for l in labels {
        check_finite(l, "label")?;
        if !seen.insert((l.utt_id.as_str(), l.dim.as_str())) {
            return Err(duplicate("labels", l));
        }
        let Some(p) = by_key.get(&(l.utt_id.as_str(), l.dim.as_str())) else {
            return Err(Error::data(format!(
                "utterance '{}', dim '{}' ({}) has labels but no prediction \
                 (`dims` limits the dimensions scored)",
                l.utt_id, l.dim, l.split
            )));
        };
        if p.split != l.split {
            return Err(Error::data(format!(
                "utterance '{}' is in split '{}' in the predictions but '{}' in the labels",
                l.utt_id, p.split, l.split
            )));
        }
        let (np, nl) = (p.values.len(), l.values.len());
        if np.abs_diff(nl) > max_length_mismatch {
            return Err(Error::data(format!(
                "utterance '{}', dim '{}': {np} predicted frames but {nl} labels, more than the \
                 {max_length_mismatch} frame(s) of difference allowed (max_length_mismatch)",
                l.utt_id, l.dim
            )));
        }
        if np != nl {
            trimmed.push(Trim {
                utt_id: &l.utt_id,
                dim: &l.dim,
                prediction_len: np,
                label_len: nl,
            });
        }
        let n = np.min(nl);
        let pair = Pair {
            utt_id: &l.utt_id,
            prediction: &p.values[..n],
            label: &l.values[..n],
        };
        match groups
            .iter_mut()
            .find(|g| g.split == l.split && g.dim == l.dim)
        {
            Some(g) => g.pairs.push(pair),
            None => groups.push(Group {
                split: l.split,
                dim: &l.dim,
                pairs: vec![pair],
            }),
        }
    }
    let unlabelled = predictions
        .iter()
        .filter(|p| !seen.contains(&(p.utt_id.as_str(), p.dim.as_str())))
        .map(|p| (p.utt_id.as_str(), p.dim.as_str()))
        .collect();
    Ok(Matching {
        groups,
        trimmed,
        unlabelled,
    })
}

/// Declares the ports of a metric that compares predictions with labels.
pub fn with_ports(spec: KindSpec) -> KindSpec {
    spec.input(
        "predictions",
        port::SERIES,
        "predicted series, one row per utterance and dim",
    )
    .input(
        "labels",
        port::SERIES,
        "the reference labels, matched by utt_id and dim",
    )
    .output("metrics", port::METRICS, "one row per split and dim")
}

/// The whole run of a prediction-vs-label metric node: read both inputs,
/// match them, log what the alignment rule did, and score each (split, dim)
/// group with `stat`, naming the rows `name` and labelling them
/// `row_labels`; `dims`, when not empty, limits the dimensions scored.
pub fn run_metric<E: Into<Error>>(
    mut inputs: Inputs,
    max_length_mismatch: usize,
    aggregate: Aggregate,
    name: &str,
    row_labels: &std::collections::BTreeMap<String, String>,
    dims: &[String],
    stat: impl Fn(Samples<'_, '_>) -> std::result::Result<f64, E>,
) -> Result<Outputs> {
    let mut predictions = SeriesRow::read_all(&inputs.batches("predictions")?)?;
    let mut labels = SeriesRow::read_all(&inputs.batches("labels")?)?;
    if !dims.is_empty() {
        let mut present: Vec<&str> = labels.iter().map(|l| l.dim.as_str()).collect();
        present.sort_unstable();
        present.dedup();
        if let Some(missing) = dims.iter().find(|d| !present.contains(&d.as_str())) {
            return Err(Error::invalid(format!(
                "`dims` lists '{missing}', which the labels lack (they have: {})",
                present.join(", ")
            )));
        }
        let others: Vec<&str> = present
            .into_iter()
            .filter(|d| !dims.iter().any(|s| s == d))
            .collect();
        if !others.is_empty() {
            tracing::info!(
                "scoring {} only; not scored: {}",
                dims.join(", "),
                others.join(", ")
            );
        }
        predictions.retain(|p| dims.contains(&p.dim));
        labels.retain(|l| dims.contains(&l.dim));
    }
    let matching = match_series(&predictions, &labels, max_length_mismatch)?;
    for t in &matching.trimmed {
        tracing::info!(
            "utterance '{}', dim '{}': {} predicted frames, {} labels; both cut to {}",
            t.utt_id,
            t.dim,
            t.prediction_len,
            t.label_len,
            t.prediction_len.min(t.label_len)
        );
    }
    if let Some((utt, dim)) = matching.unlabelled.first() {
        tracing::info!(
            "{} predicted series have no labels and are not scored (e.g. utterance '{utt}', dim '{dim}')",
            matching.unlabelled.len()
        );
    }
    if matching.groups.is_empty() {
        tracing::warn!("no labelled utterance to score: the metrics are empty");
    }
    let rows = matching
        .groups
        .iter()
        .map(|g| {
            let mut row = MetricRow::new(
                name,
                g.dim,
                g.split.as_str(),
                g.aggregate(aggregate, &stat)?,
            );
            row.labels = row_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Ok(row)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Outputs::new().with_batch("metrics", MetricRow::write(&rows)?))
}

fn duplicate(input: &str, s: &SeriesRow) -> Error {
    Error::data(format!(
        "{input}: utterance '{}' appears twice for dim '{}'",
        s.utt_id, s.dim
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(utt_id: &str, split: &str, dim: &str, values: &[f32]) -> SeriesRow {
        SeriesRow {
            utt_id: utt_id.into(),
            split: Split::parse(split).unwrap(),
            dim: dim.into(),
            frame_period: 0.04,
            values: values.to_vec(),
        }
    }

    #[test]
    fn groups_by_split_and_dim_in_label_order() {
        let (a, b) = ([0.1, 0.2], [0.3, 0.4]);
        let preds = [
            s("dev_1", "dev", "valence", &a),
            s("train_1", "train", "arousal", &b),
            s("dev_1", "dev", "arousal", &a),
        ];
        let labels = [
            s("train_1", "train", "arousal", &a),
            s("dev_1", "dev", "arousal", &b),
            s("dev_1", "dev", "valence", &b),
        ];
        let m = match_series(&preds, &labels, 0).unwrap();
        let keys: Vec<(&str, &str)> = m.groups.iter().map(|g| (g.split.as_str(), g.dim)).collect();
        assert_eq!(
            keys,
            vec![("train", "arousal"), ("dev", "arousal"), ("dev", "valence")]
        );
        assert_eq!(
            m.groups[0].pairs[0].prediction,
            &b[..],
            "matched by utterance, not position"
        );
        assert!(m.trimmed.is_empty() && m.unlabelled.is_empty());
    }

    #[test]
    fn small_length_differences_are_trimmed_and_reported() {
        let (p, l) = (
            [s("u", "dev", "arousal", &[1.0, 2.0, 3.0, 4.0])],
            [s("u", "dev", "arousal", &[1.0, 2.0])],
        );
        let m = match_series(&p, &l, 2).unwrap();
        assert_eq!(m.groups[0].pairs[0].prediction, &[1.0, 2.0]);
        assert_eq!(
            m.trimmed,
            vec![Trim {
                utt_id: "u",
                dim: "arousal",
                prediction_len: 4,
                label_len: 2
            }]
        );
        let err = match_series(&p, &l, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "utterance 'u', dim 'arousal': 4 predicted frames but 2 labels, more than the 1 frame(s) of difference allowed (max_length_mismatch)"
        );
    }

    #[test]
    fn a_label_without_prediction_is_an_error_and_the_reverse_is_reported() {
        let v = [s("dev_3", "dev", "valence", &[0.0, 1.0])];
        let err = match_series(&[], &v, 2).unwrap_err();
        assert!(
            err.to_string()
                .contains("'dev_3', dim 'valence' (dev) has labels but no prediction"),
            "{err}"
        );
        let m = match_series(&v, &[], 2).unwrap();
        assert!(m.groups.is_empty());
        assert_eq!(m.unlabelled, vec![("dev_3", "valence")]);
    }

    #[test]
    fn inconsistent_inputs_are_rejected() {
        let v = [0.0, 1.0];
        let (dev, train) = ([s("u", "dev", "a", &v)], [s("u", "train", "a", &v)]);
        let err = match_series(&dev, &train, 2).unwrap_err();
        assert!(
            err.to_string()
                .contains("split 'dev' in the predictions but 'train'"),
            "{err}"
        );
        let twice = [s("u", "dev", "a", &v), s("u", "dev", "a", &v)];
        let err = match_series(&twice, &[], 2).unwrap_err();
        assert!(
            err.to_string()
                .contains("predictions: utterance 'u' appears twice"),
            "{err}"
        );
        let bad = [s("u", "dev", "a", &[0.0, f32::INFINITY])];
        let err = match_series(&dev, &bad, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "label of utterance 'u', dim 'a', frame 1: not a finite number (inf)"
        );
    }

    #[test]
    fn samples_walk_all_pairs_in_order() {
        let (a, b, c) = ([1.0f32, 2.0], [10.0f32, 20.0], [3.0f32]);
        let pairs = [
            Pair {
                utt_id: "x",
                prediction: &a,
                label: &b,
            },
            Pair {
                utt_id: "e",
                prediction: &[],
                label: &[],
            },
            Pair {
                utt_id: "y",
                prediction: &c,
                label: &c,
            },
        ];
        let got: Vec<(f64, f64)> = Samples::new(&pairs).collect();
        assert_eq!(got, vec![(1.0, 10.0), (2.0, 20.0), (3.0, 3.0)]);
    }

    #[test]
    fn utterance_mean_averages_per_utterance_values_and_names_failures() {
        let (a, b) = ([1.0f32, 1.0], [2.0f32, 2.0, 2.0, 2.0]);
        let g = Group {
            split: Split::Dev,
            dim: "arousal",
            pairs: vec![
                Pair {
                    utt_id: "u1",
                    prediction: &a,
                    label: &a,
                },
                Pair {
                    utt_id: "u2",
                    prediction: &b,
                    label: &b,
                },
            ],
        };
        let frames = |s: Samples| Ok::<f64, Error>(s.count() as f64);
        assert_eq!(g.aggregate(Aggregate::Concatenated, frames).unwrap(), 6.0);
        assert_eq!(g.aggregate(Aggregate::UtteranceMean, frames).unwrap(), 3.0);
        let fail = |s: Samples| {
            if s.count() > 2 {
                Err(Error::data("too long"))
            } else {
                Ok(0.0)
            }
        };
        let err = g.aggregate(Aggregate::UtteranceMean, fail).unwrap_err();
        assert_eq!(
            err.to_string(),
            "split 'dev', dim 'arousal', utterance 'u2': too long"
        );
    }
}
