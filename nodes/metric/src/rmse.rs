//! `metric.rmse`: root mean squared error between predictions and labels per
//! split and dim, matched and aggregated as for [`crate::ccc`].

use emoflow_sdk::prelude::{Context, Inputs, KindSpec, Node, Outputs};
use serde::Deserialize;

use crate::Error;
use emoflow_sdk::families::metric::{self as matching, Aggregate};

/// Parameters of `metric.rmse`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// `concatenated`: one RMSE over all utterances of a split;
    /// `utterance_mean`: the mean of per-utterance RMSEs.
    #[serde(default)]
    pub aggregate: Aggregate,
    /// Largest length difference, in frames, between a prediction and its
    /// labels that is absorbed by cutting both to the shorter (each cut is
    /// logged); a larger difference is an error.
    #[serde(default = "matching::default_max_length_mismatch")]
    #[schemars(range(max = 1000))]
    pub max_length_mismatch: u32,
    /// Extra labels on every row, e.g. `{ system = "CLS-Raw" }`, so that
    /// `report.table` can tell the metrics of several systems apart.
    /// (Formerly `labels`, the name of the input port.)
    #[serde(default)]
    #[schemars(extend("x-renamed-from" = ["labels"]))]
    pub row_labels: std::collections::BTreeMap<String, String>,
    /// The dimensions to score, e.g. `["arousal"]` for a model of one
    /// dimension; the labels' other dimensions are left out (and logged).
    /// Empty (the default): every dimension the labels have, each of which
    /// must then have predictions.
    #[serde(default)]
    pub dims: Vec<String>,
}

struct RmseNode(Params);

impl Node for RmseNode {
    fn run(&mut self, _ctx: &Context, inputs: Inputs) -> emoflow_sdk::Result<Outputs> {
        let Params {
            aggregate,
            max_length_mismatch,
            ref row_labels,
            ref dims,
        } = self.0;
        matching::run_metric(
            inputs,
            max_length_mismatch as usize,
            aggregate,
            &metric_name(aggregate),
            row_labels,
            dims,
            |s| rmse(s),
        )
    }
}

pub fn spec() -> KindSpec {
    matching::with_ports(KindSpec::new("metric.rmse", file!()).doc(
        "Root mean squared error between predictions and labels, per split and dim \
         (`rmse`, or `rmse_utt_mean` for the mean of per-utterance values).",
    ))
    .create(|p: Params| Ok(RmseNode(p)))
}

/// "rmse", or "rmse_utt_mean" for the mean of per-utterance values.
pub fn metric_name(aggregate: Aggregate) -> String {
    match aggregate {
        Aggregate::Concatenated => "rmse".into(),
        Aggregate::UtteranceMean => "rmse_utt_mean".into(),
    }
}

pub fn rmse(samples: impl Iterator<Item = (f64, f64)>) -> Result<f64, Error> {
    let (n, sum) = samples.fold((0usize, 0.0), |(n, s), (x, y)| {
        (n + 1, s + (x - y) * (x - y))
    });
    if n == 0 {
        return Err(Error::Undefined("RMSE of no frames".into()));
    }
    Ok((sum / n as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_of_mean_squared_difference() {
        let pairs = [(0.0, 3.0), (1.0, 1.0), (2.0, -2.0), (0.5, 0.5)];
        assert_eq!(rmse(pairs.into_iter()).unwrap(), (25.0f64 / 4.0).sqrt());
        assert!(rmse(std::iter::empty()).is_err());
    }
}
