//! `metric.ccc`: the concordance correlation coefficient
//!
//! ```text
//! ccc = 2 cov(x, y) / (var x + var y + (mean x - mean y)^2)
//! ```
//!
//! per split and dim, between predictions and labels matched as
//! [`emoflow_sdk::families::metric`] says. Conventions (the metric name says which was
//! used, see [`metric_name`]):
//! - population (default): variances and covariance over N;
//! - AVEC 2016: the official scorer's variances over N - 1, covariance over N;
//! - over the concatenation of the utterances (default) or the mean of
//!   per-utterance values.

use emoflow_sdk::prelude::{Context, Inputs, KindSpec, Node, Outputs};
use serde::Deserialize;

use crate::Error;
use emoflow_sdk::families::metric::{self as matching, Aggregate};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Convention {
    /// Variances and covariance over N.
    #[default]
    Population,
    /// The official AVEC 2016 scorer: variances over N - 1, covariance over N.
    Avec2016,
}

/// Parameters of `metric.ccc`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// `population` (variances and covariance over N) or `avec2016` (the
    /// official AVEC 2016 scorer: variances over N - 1, covariance over N).
    #[serde(default)]
    pub convention: Convention,
    /// `concatenated`: one CCC over all utterances of a split, as AVEC
    /// scores; `utterance_mean`: the mean of per-utterance CCCs.
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

struct CccNode(Params);

impl Node for CccNode {
    fn run(&mut self, _ctx: &Context, inputs: Inputs) -> emoflow_sdk::Result<Outputs> {
        let Params {
            convention,
            aggregate,
            max_length_mismatch,
            ref row_labels,
            ref dims,
        } = self.0;
        let name = metric_name(convention, aggregate);
        matching::run_metric(
            inputs,
            max_length_mismatch as usize,
            aggregate,
            &name,
            row_labels,
            dims,
            |s| ccc(s, convention),
        )
    }
}

pub fn spec() -> KindSpec {
    matching::with_ports(KindSpec::new("metric.ccc", file!()).doc(
        "Concordance correlation coefficient between predictions and labels, per split and dim. \
         The row name says the convention: `ccc` (population, concatenated), with `_avec2016` \
         and/or `_utt_mean` appended for the options.",
    ))
    .create(|p: Params| Ok(CccNode(p)))
}

/// "ccc", with "_avec2016" and/or "_utt_mean" appended for the options, so
/// that results of different conventions never share a name.
pub fn metric_name(convention: Convention, aggregate: Aggregate) -> String {
    let mut name = String::from("ccc");
    if convention == Convention::Avec2016 {
        name.push_str("_avec2016");
    }
    if aggregate == Aggregate::UtteranceMean {
        name.push_str("_utt_mean");
    }
    name
}

/// CCC of the (x, y) samples. Two passes (means, then centred sums), so
/// that labels with a large offset lose no precision.
pub fn ccc(
    samples: impl Iterator<Item = (f64, f64)> + Clone,
    convention: Convention,
) -> Result<f64, Error> {
    let (mut n, mut sum_x, mut sum_y) = (0usize, 0.0, 0.0);
    for (x, y) in samples.clone() {
        n += 1;
        sum_x += x;
        sum_y += y;
    }
    let min_frames = match convention {
        Convention::Population => 1,
        Convention::Avec2016 => 2,
    };
    if n < min_frames {
        return Err(Error::Undefined(format!(
            "CCC needs at least {min_frames} frame(s), got {n}"
        )));
    }
    let (mean_x, mean_y) = (sum_x / n as f64, sum_y / n as f64);
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for (x, y) in samples {
        let (dx, dy) = (x - mean_x, y - mean_y);
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    let n = n as f64;
    let var_divisor = match convention {
        Convention::Population => n,
        Convention::Avec2016 => n - 1.0,
    };
    let denominator = sxx / var_divisor + syy / var_divisor + (mean_x - mean_y).powi(2);
    if denominator == 0.0 {
        return Err(Error::Undefined(
            "CCC undefined: predictions and labels are the same constant".into(),
        ));
    }
    Ok(2.0 * (sxy / n) / denominator)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(x: &[f64], y: &[f64], c: Convention) -> f64 {
        ccc(x.iter().copied().zip(y.iter().copied()), c).unwrap()
    }

    #[test]
    fn perfect_agreement_is_one_and_negation_of_centred_data_minus_one() {
        let x = [0.1, -0.3, 0.4, -0.2];
        let neg: Vec<f64> = x.iter().map(|v| -v).collect();
        assert!((of(&x, &x, Convention::Population) - 1.0).abs() < 1e-12);
        assert!((of(&x, &neg, Convention::Population) + 1.0).abs() < 1e-12);
    }

    #[test]
    fn bias_and_scale_lower_ccc_but_not_correlation() {
        let x = [0.0, 1.0, 2.0, 3.0];
        let shifted = [1.0, 2.0, 3.0, 4.0];
        // cov = 1.25, var = 1.25 each, mean difference 1: 2.5 / 3.5.
        assert!((of(&x, &shifted, Convention::Population) - 2.5 / 3.5).abs() < 1e-15);
        // AVEC: variances 5/3 each, covariance still 1.25: 2.5 / (10/3 + 1).
        assert!((of(&x, &shifted, Convention::Avec2016) - 2.5 / (10.0 / 3.0 + 1.0)).abs() < 1e-15);
    }

    #[test]
    fn a_constant_prediction_scores_zero() {
        assert_eq!(
            of(&[0.5, 0.5, 0.5], &[0.1, 0.2, 0.3], Convention::Population),
            0.0
        );
    }

    #[test]
    fn undefined_cases_are_errors() {
        let same = [0.2, 0.2];
        let err = ccc(
            same.iter().copied().zip(same.iter().copied()),
            Convention::Population,
        )
        .unwrap_err();
        assert!(err.to_string().contains("same constant"), "{err}");
        let one = [(0.1, 0.2)];
        assert!(ccc(one.iter().copied(), Convention::Avec2016).is_err());
        assert!(ccc(std::iter::empty(), Convention::Population).is_err());
    }

    #[test]
    fn names_say_the_convention() {
        assert_eq!(
            metric_name(Convention::Population, Aggregate::Concatenated),
            "ccc"
        );
        assert_eq!(
            metric_name(Convention::Avec2016, Aggregate::UtteranceMean),
            "ccc_avec2016_utt_mean"
        );
    }
}
