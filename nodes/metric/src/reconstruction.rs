//! `metric.reconstruction`: how faithfully each codebook represents the
//! labels (the paper's Table 1). Every label of the chosen splits (default:
//! train + dev, what the discretizers fit on) is replaced by the mean of its
//! class, and the CCC and RMSE between labels and reconstruction are computed
//! over all those frames concatenated, per dim and task.

use emoflow_sdk::prelude::{
    CodebookRow, Context, Inputs, KindSpec, MetricRow, Node, Outputs, PortRows, SeriesRow, Split,
    port,
};
use serde::Deserialize;

use crate::ccc::{self, Convention};
use crate::{Error, rmse};
use emoflow_sdk::families::metric::{Aggregate, check_finite};

/// Parameters of `metric.reconstruction`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Splits whose labels are reconstructed, all frames concatenated. The
    /// default matches the discretizers' default `fit_splits`.
    #[serde(default = "default_splits")]
    #[schemars(length(min = 1))]
    pub splits: Vec<Split>,
    /// CCC convention, as for `metric.ccc`: `population` or `avec2016`.
    #[serde(default)]
    pub convention: Convention,
}

fn default_splits() -> Vec<Split> {
    vec![Split::Train, Split::Dev]
}

/// One (dim, task) codebook read back from its `codebook` rows.
#[derive(Debug, Clone, PartialEq)]
pub struct CodebookView {
    pub dim: String,
    pub task: String,
    pub means: Vec<f64>,
    /// `upper` of every class but the last.
    thresholds: Vec<f64>,
}

impl CodebookView {
    /// Every codebook in `rows`, in order of first appearance, checked: each
    /// numbers its classes 0..k exactly once with k = `num_classes`, means
    /// ascend, and consecutive classes share their threshold.
    pub fn read_all(rows: &[CodebookRow]) -> Result<Vec<Self>, Error> {
        let mut keys: Vec<(&str, &str)> = Vec::new();
        for r in rows {
            if !keys.contains(&(r.dim.as_str(), r.task.as_str())) {
                keys.push((&r.dim, &r.task));
            }
        }
        keys.into_iter()
            .map(|(dim, task)| {
                let mut classes: Vec<&CodebookRow> = rows
                    .iter()
                    .filter(|r| r.dim == dim && r.task == task)
                    .collect();
                classes.sort_by_key(|r| r.class);
                Self::check(&classes).map_err(|msg| {
                    Error::Data(format!("codebook of dim '{dim}', task '{task}': {msg}"))
                })?;
                Ok(Self {
                    dim: dim.to_owned(),
                    task: task.to_owned(),
                    means: classes.iter().map(|r| r.mean).collect(),
                    thresholds: classes[..classes.len() - 1]
                        .iter()
                        .map(|r| r.upper)
                        .collect(),
                })
            })
            .collect()
    }

    fn check(classes: &[&CodebookRow]) -> Result<(), String> {
        let k = classes.len();
        if let Some(r) = classes.iter().find(|r| r.num_classes as usize != k) {
            return Err(format!(
                "num_classes is {} but {k} class rows are present",
                r.num_classes
            ));
        }
        if let Some((expected, r)) = classes
            .iter()
            .enumerate()
            .find(|(c, r)| r.class as usize != *c)
        {
            return Err(format!(
                "classes must be numbered 0..{k} once each; found class {} where {expected} was expected",
                r.class
            ));
        }
        for pair in classes.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if a.mean.partial_cmp(&b.mean) != Some(std::cmp::Ordering::Less) {
                return Err(format!(
                    "class means must ascend: class {} has {}, class {} has {}",
                    a.class, a.mean, b.class, b.mean
                ));
            }
            if a.upper != b.lower {
                return Err(format!(
                    "class {} ends at {} but class {} starts at {}",
                    a.class, a.upper, b.class, b.lower
                ));
            }
        }
        Ok(())
    }

    pub fn num_classes(&self) -> usize {
        self.means.len()
    }

    /// `value` replaced by the mean of its class. The `codebook` port's rule:
    /// a class covers [lower, upper); the first and last classes also take
    /// what lies below or above the fit range.
    pub fn reconstruct(&self, value: f64) -> f64 {
        self.means[self.thresholds.partition_point(|&t| t <= value)]
    }
}

/// Rows: per codebook (in order) the CCC then the RMSE, with split
/// `train+dev` (the splits joined by '+') and extra columns `task` and `k`.
pub fn reconstruction(
    labels: &[SeriesRow],
    codebooks: &[CodebookView],
    splits: &[Split],
    convention: Convention,
) -> Result<Vec<MetricRow>, Error> {
    for l in labels {
        check_finite(l, "label").map_err(|e| Error::Data(e.message))?;
    }
    let split_name = splits
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("+");
    let mut rows = Vec::with_capacity(2 * codebooks.len());
    for cb in codebooks {
        let values: Vec<f64> = labels
            .iter()
            .filter(|l| l.dim == cb.dim && splits.contains(&l.split))
            .flat_map(|l| l.values.iter().map(|&v| v as f64))
            .collect();
        if values.is_empty() {
            return Err(Error::Data(format!(
                "no labels of dim '{}' in split(s) {split_name} to reconstruct with task '{}'",
                cb.dim, cb.task
            )));
        }
        let rebuilt: Vec<f64> = values.iter().map(|&v| cb.reconstruct(v)).collect();
        let samples = || rebuilt.iter().copied().zip(values.iter().copied());
        let context =
            |e: Error| Error::Undefined(format!("dim '{}', task '{}': {e}", cb.dim, cb.task));
        let row = |name: String, value: f64| {
            MetricRow::new(&name, &cb.dim, &split_name, value)
                .label("task", cb.task.clone())
                .label("k", cb.num_classes().to_string())
        };
        let ccc_value = ccc::ccc(samples(), convention).map_err(context)?;
        rows.push(row(
            ccc::metric_name(convention, Aggregate::Concatenated),
            ccc_value,
        ));
        let rmse_value = rmse::rmse(samples()).map_err(context)?;
        rows.push(row(rmse::metric_name(Aggregate::Concatenated), rmse_value));
    }
    Ok(rows)
}

struct ReconstructionNode(Params);

impl Node for ReconstructionNode {
    fn run(&mut self, _ctx: &Context, mut inputs: Inputs) -> emoflow_sdk::Result<Outputs> {
        let labels = SeriesRow::read_all(&inputs.batches("labels")?)?;
        let codebooks =
            CodebookView::read_all(&CodebookRow::read_all(&inputs.batches("codebook")?)?)?;
        let rows = reconstruction(&labels, &codebooks, &self.0.splits, self.0.convention)?;
        Ok(Outputs::new().with_batch("metrics", MetricRow::write(&rows)?))
    }
}

pub fn spec() -> KindSpec {
    KindSpec::new("metric.reconstruction", file!())
        .doc(
            "CCC and RMSE between labels and their reconstruction from a codebook (each label \
             replaced by its class mean), per dim and task over the chosen splits concatenated: \
             the paper's Table 1.",
        )
        .input("labels", port::SERIES, "the continuous labels")
        .input(
            "codebook",
            port::CODEBOOK,
            "a discretizer's codebook, one or more (dim, task)",
        )
        .output(
            "metrics",
            port::METRICS,
            "`ccc` and `rmse` per dim and task, with columns `task` and `k`",
        )
        .create(|p: Params| {
            if p.splits.is_empty() {
                return Err(Error::Invalid("splits: at least one split is needed".into()).into());
            }
            Ok(ReconstructionNode(p))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRAIN: [f32; 6] = [-0.5, -0.4, -0.1, 0.0, 0.3, 0.5];
    const DEV: [f32; 4] = [-0.45, 0.05, 0.35, 0.6];
    const TEST: [f32; 2] = [-1.0, 1.0];

    fn series(utt_id: &str, split: Split, values: &[f32]) -> SeriesRow {
        SeriesRow {
            utt_id: utt_id.into(),
            split,
            dim: "arousal".into(),
            frame_period: 0.04,
            values: values.to_vec(),
        }
    }

    fn labels() -> Vec<SeriesRow> {
        vec![
            series("train_1", Split::Train, &TRAIN),
            series("dev_1", Split::Dev, &DEV),
            series("test_1", Split::Test, &TEST),
        ]
    }

    fn fit_values() -> Vec<f64> {
        TRAIN.iter().chain(&DEV).map(|&v| v as f64).collect()
    }

    /// Codebook rows with the given thresholds, each class represented by the
    /// mean of its train + dev values.
    fn rows(task: &str, thresholds: &[f64]) -> Vec<CodebookRow> {
        let k = thresholds.len() + 1;
        let class_of = |v: f64| thresholds.partition_point(|&t| t <= v);
        (0..k)
            .map(|c| {
                let members: Vec<f64> = fit_values()
                    .into_iter()
                    .filter(|&v| class_of(v) == c)
                    .collect();
                CodebookRow {
                    dim: "arousal".into(),
                    task: task.into(),
                    num_classes: k as u32,
                    class: c as u32,
                    mean: members.iter().sum::<f64>() / members.len() as f64,
                    lower: if c == 0 { -0.5 } else { thresholds[c - 1] },
                    upper: if c == k - 1 { 0.6 } else { thresholds[c] },
                    prior: 1.0 / k as f64,
                }
            })
            .collect()
    }

    fn splits() -> Vec<Split> {
        default_splits()
    }

    #[test]
    fn reconstructs_with_half_open_classes() {
        let cbs = CodebookView::read_all(&rows("k2", &[0.0])).unwrap();
        let cb = &cbs[0];
        assert_eq!(
            cb.reconstruct(0.0),
            cb.means[1],
            "a threshold belongs to the upper class"
        );
        assert_eq!(cb.reconstruct(-0.01), cb.means[0]);
        assert_eq!(cb.reconstruct(-7.0), cb.means[0], "below the fit range");
        assert_eq!(cb.reconstruct(7.0), cb.means[1], "above the fit range");
    }

    #[test]
    fn scores_labels_against_class_means_on_the_chosen_splits() {
        let cbs = CodebookView::read_all(&rows("k3", &[-0.2, 0.2])).unwrap();
        let out = reconstruction(&labels(), &cbs, &splits(), Convention::Population).unwrap();
        let values = fit_values();
        let rebuilt: Vec<f64> = values.iter().map(|&v| cbs[0].reconstruct(v)).collect();
        let expected_ccc = ccc::ccc(
            rebuilt.iter().copied().zip(values.iter().copied()),
            Convention::Population,
        )
        .unwrap();
        let expected_rmse = (values
            .iter()
            .zip(&rebuilt)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            / 10.0)
            .sqrt();
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].name.as_str(), out[0].split.as_str()),
            ("ccc", "train+dev")
        );
        assert_eq!(out[0].value, expected_ccc);
        assert_eq!(out[1].name, "rmse");
        assert!((out[1].value - expected_rmse).abs() < 1e-15);
        assert_eq!(
            (out[1].get_label("task"), out[1].get_label("k")),
            (Some("k3"), Some("3"))
        );
    }

    #[test]
    fn a_finer_codebook_reconstructs_better() {
        let mut all = rows("k2", &[0.0]);
        all.extend(rows("k4", &[-0.3, 0.0, 0.3]));
        let cbs = CodebookView::read_all(&all).unwrap();
        let out = reconstruction(&labels(), &cbs, &splits(), Convention::Population).unwrap();
        assert_eq!(
            out.iter()
                .map(|r| r.get_label("task").unwrap())
                .collect::<Vec<_>>(),
            ["k2", "k2", "k4", "k4"]
        );
        assert!(
            out[2].value > out[0].value,
            "ccc {} -> {}",
            out[0].value,
            out[2].value
        );
        assert!(
            out[3].value < out[1].value,
            "rmse {} -> {}",
            out[1].value,
            out[3].value
        );
    }

    #[test]
    fn test_split_is_scored_only_when_asked() {
        let cbs = CodebookView::read_all(&rows("k2", &[0.0])).unwrap();
        let out = reconstruction(&labels(), &cbs, &[Split::Test], Convention::Avec2016).unwrap();
        assert_eq!(
            (out[0].name.as_str(), out[0].split.as_str()),
            ("ccc_avec2016", "test")
        );
        let no_test: Vec<SeriesRow> = labels()
            .into_iter()
            .filter(|l| l.split != Split::Test)
            .collect();
        let err =
            reconstruction(&no_test, &cbs, &[Split::Test], Convention::Population).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no labels of dim 'arousal' in split(s) test to reconstruct with task 'k2'"
        );
    }

    #[test]
    fn invalid_codebooks_are_rejected() {
        let mut gap = rows("k2", &[0.0]);
        gap[1].lower = 0.1;
        let err = CodebookView::read_all(&gap).unwrap_err();
        assert_eq!(
            err.to_string(),
            "codebook of dim 'arousal', task 'k2': class 0 ends at 0 but class 1 starts at 0.1"
        );
        let mut missing = rows("k3", &[-0.2, 0.2]);
        missing.remove(1);
        let err = CodebookView::read_all(&missing).unwrap_err();
        assert!(
            err.to_string()
                .contains("num_classes is 3 but 2 class rows are present"),
            "{err}"
        );
        let mut renumbered = rows("k2", &[0.0]);
        renumbered[1].class = 5;
        let err = CodebookView::read_all(&renumbered).unwrap_err();
        assert!(
            err.to_string()
                .contains("found class 5 where 1 was expected"),
            "{err}"
        );
        let mut unordered = rows("k2", &[0.0]);
        unordered[0].mean = 0.9;
        assert!(CodebookView::read_all(&unordered).is_err());
    }
}
