//! `{{kind}}`: a metric, the mean absolute error between predictions and
//! labels per split and dimension. Replace [`mean_absolute_error`] with your
//! statistic; the SDK's metric helpers ([`emoflow_sdk::families::metric`])
//! match predictions with labels by utterance and dimension, align their
//! lengths, refuse non-finite values and write one `metrics` row per split
//! and dimension, as `metric.ccc` and `metric.rmse` do.

use std::collections::BTreeMap;

use emoflow_sdk::families::metric::{self, Aggregate, Samples};
use emoflow_sdk::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;

/// Parameters of `{{kind}}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// `concatenated`: one value over all utterances of a split;
    /// `utterance_mean`: the mean of per-utterance values.
    #[serde(default)]
    pub aggregate: Aggregate,
    /// Largest length difference, in frames, between a prediction and its
    /// labels that is absorbed by cutting both to the shorter.
    #[serde(default = "metric::default_max_length_mismatch")]
    pub max_length_mismatch: u32,
    /// Extra labels on every row, e.g. `{ system = "CLS-Raw" }`.
    #[serde(default)]
    pub row_labels: BTreeMap<String, String>,
    /// The dimensions to score; empty: every dimension the labels have.
    #[serde(default)]
    pub dims: Vec<String>,
}

struct Mae(Params);

impl Node for Mae {
    fn run(&mut self, _ctx: &Context, inputs: Inputs) -> Result<Outputs> {
        let p = &self.0;
        metric::run_metric(
            inputs,
            p.max_length_mismatch as usize,
            p.aggregate,
            "mae",
            &p.row_labels,
            &p.dims,
            mean_absolute_error,
        )
    }
}

pub fn spec() -> KindSpec {
    metric::with_ports(KindSpec::new("{{kind}}", file!()).doc(
        "Mean absolute error between predictions and labels, per split and dim (rows named `mae`).",
    ))
    .create(|p: Params| Ok(Mae(p)))
}

/// The mean of |prediction - label| over the frames.
pub fn mean_absolute_error(frames: Samples) -> Result<f64> {
    let (n, sum) = frames.fold((0usize, 0.0), |(n, sum), (x, y)| (n + 1, sum + (x - y).abs()));
    if n == 0 {
        return Err(Error::data("the mean absolute error of no frames is undefined"));
    }
    Ok(sum / n as f64)
}

emoflow_sdk::export_plugin!(spec);

#[cfg(test)]
mod tests {
    use super::*;
    use emoflow_sdk::harness::Harness;

    fn series(utt_id: &str, split: Split, values: &[f32]) -> SeriesRow {
        SeriesRow {
            utt_id: utt_id.into(),
            split,
            dim: "arousal".into(),
            frame_period: 0.04,
            values: values.to_vec(),
        }
    }

    #[test]
    fn one_row_per_split_and_dim_with_the_mean_absolute_error() {
        let out = Harness::new(crate::emoflow_plugin(), "{{kind}}")
            .param("row_labels", BTreeMap::from([("system", "mine")]))
            .rows("predictions", &[series("dev_1", Split::Dev, &[0.5, 0.0]), series("train_1", Split::Train, &[1.0])])
            .rows("labels", &[series("train_1", Split::Train, &[0.5]), series("dev_1", Split::Dev, &[0.25, 0.25])])
            .run()
            .unwrap();
        let rows: Vec<MetricRow> = out.rows("metrics").unwrap();
        let found: Vec<(&str, &str, f64)> = rows.iter().map(|r| (r.name.as_str(), r.split.as_str(), r.value)).collect();
        assert_eq!(found, vec![("mae", "train", 0.5), ("mae", "dev", 0.25)]);
        assert_eq!(rows[0].get_label("system"), Some("mine"));
    }

    #[test]
    fn a_label_without_prediction_is_an_error_naming_the_utterance() {
        let err = Harness::new(crate::emoflow_plugin(), "{{kind}}")
            .rows("predictions", &[series("dev_1", Split::Dev, &[0.5])])
            .rows("labels", &[series("dev_2", Split::Dev, &[0.5])])
            .run()
            .unwrap_err();
        assert!(err.message.contains("'dev_2'"), "{err}");
    }
}
