//! What every discretizer node does around its method: pick the fit data per
//! dim, fit one codebook per k (task "k4", "k6", ...), count priors on the
//! training split, and turn every label series into class sequences. The
//! kinds differ only in the method (values, k -> [`Partition`]).

use std::collections::HashSet;

use emoflow_sdk::prelude::{
    ClassesRow, CodebookRow, Context, FittedExport, Inputs, KindSpec, Node, Outputs, PortRows,
    SeriesRow, Split, port,
};
use serde::Deserialize;

use crate::Error;
use crate::codebook::{Codebook, Partition};
use crate::weighted::Weighted1d;

/// Class priors are counted on this split only.
pub const PRIOR_SPLIT: Split = Split::Train;

/// Parameters of `cluster.optimal1d`, `cluster.quantile` and
/// `cluster.uniform` (`cluster.kmeans` has these and its own).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Numbers of classes, each at least 2; one task per number, named `k`
    /// followed by it (`k4`, `k6`, ...).
    #[serde(default = "default_k")]
    #[schemars(length(min = 1), inner(range(min = 2, max = 1000)))]
    pub k: Vec<u32>,
    /// Splits whose labels the classes are fitted on. Class priors always
    /// come from the `train` split.
    #[serde(default = "default_fit_splits")]
    #[schemars(length(min = 1))]
    pub fit_splits: Vec<Split>,
    /// Dimensions to discretize, e.g. `["arousal"]`; every dimension present
    /// in the labels when absent.
    #[serde(default)]
    pub dims: Option<Vec<String>>,
}

/// The paper's four tasks.
pub fn default_k() -> Vec<u32> {
    vec![4, 6, 8, 10]
}

/// The paper fits on train + dev.
pub fn default_fit_splits() -> Vec<Split> {
    vec![Split::Train, Split::Dev]
}

impl Params {
    pub fn plan(&self) -> emoflow_sdk::Result<Plan> {
        Ok(Plan::new(&self.k, &self.fit_splits, self.dims.clone())?)
    }
}

/// Checked parameters of a discretizer run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    ks: Vec<usize>,
    fit_splits: Vec<Split>,
    dims: Option<Vec<String>>,
}

impl Plan {
    pub fn new(ks: &[u32], fit_splits: &[Split], dims: Option<Vec<String>>) -> Result<Self, Error> {
        let invalid = |msg: String| Err(Error::Invalid(msg));
        if ks.is_empty() {
            return invalid("k: at least one number of classes is needed".into());
        }
        if let Some(k) = ks.iter().find(|&&k| k < 2) {
            return invalid(format!(
                "k: {k} is not a valid number of classes (at least 2)"
            ));
        }
        let mut seen = HashSet::new();
        if let Some(k) = ks.iter().find(|&&k| !seen.insert(k)) {
            return invalid(format!("k: {k} is listed twice"));
        }
        if fit_splits.is_empty() {
            return invalid("fit_splits: at least one split is needed".into());
        }
        Ok(Self {
            ks: ks.iter().map(|&k| k as usize).collect(),
            fit_splits: fit_splits.to_vec(),
            dims,
        })
    }

    fn fit_splits_text(&self) -> String {
        self.fit_splits
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Discretized {
    /// Per dim, then per k in the plan's order.
    pub codebooks: Vec<Codebook>,
    /// Per input series (in input order, selected dims only), then per k.
    pub classes: Vec<ClassesRow>,
}

/// Task name of the k-class label set.
pub fn task_name(k: usize) -> String {
    format!("k{k}")
}

/// Runs `method` (fit data, k -> partition) as the plan says.
pub fn discretize(
    labels: &[SeriesRow],
    plan: &Plan,
    method: impl Fn(&Weighted1d, usize) -> Result<Partition, Error>,
) -> Result<Discretized, Error> {
    validate_labels(labels)?;
    let dims = select_dims(labels, plan.dims.as_deref())?;
    let mut codebooks = Vec::with_capacity(dims.len() * plan.ks.len());
    for dim in &dims {
        let of_dim = || labels.iter().filter(move |s| s.dim == *dim);
        let context = || format!("dim '{dim}' (fit splits: {})", plan.fit_splits_text());
        let fit = Weighted1d::from_values(
            of_dim()
                .filter(|s| plan.fit_splits.contains(&s.split))
                .flat_map(|s| s.values.iter().map(|&v| v as f64)),
        )?;
        if fit.is_empty() {
            return Err(Error::In {
                context: context(),
                source: Box::new(Error::EmptyFitData),
            });
        }
        for &k in &plan.ks {
            let partition = method(&fit, k).map_err(|e| Error::In {
                context: format!("{}, k = {k}", context()),
                source: Box::new(e),
            })?;
            let train = of_dim()
                .filter(|s| s.split == PRIOR_SPLIT)
                .flat_map(|s| s.values.iter().map(|&v| v as f64));
            codebooks.push(Codebook::new(dim, &task_name(k), &partition, train));
        }
    }
    let classes = labels
        .iter()
        .flat_map(|s| {
            codebooks
                .iter()
                .filter(|cb| cb.dim == s.dim)
                .map(|cb| ClassesRow {
                    utt_id: s.utt_id.clone(),
                    split: s.split,
                    dim: s.dim.clone(),
                    task: cb.task.clone(),
                    num_classes: cb.num_classes() as u32,
                    classes: s.values.iter().map(|&v| cb.classify(v as f64)).collect(),
                })
        })
        .collect();
    Ok(Discretized { codebooks, classes })
}

fn validate_labels(labels: &[SeriesRow]) -> Result<(), Error> {
    let mut seen = HashSet::new();
    for s in labels {
        if !seen.insert((s.utt_id.as_str(), s.dim.as_str())) {
            return Err(Error::Data(format!(
                "utterance '{}' has two label series for dim '{}'",
                s.utt_id, s.dim
            )));
        }
        if let Some((frame, &v)) = s.values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(Error::NonFinite {
                location: format!("utterance '{}', dim '{}', frame {frame}", s.utt_id, s.dim),
                value: v as f64,
            });
        }
    }
    Ok(())
}

fn select_dims(labels: &[SeriesRow], wanted: Option<&[String]>) -> Result<Vec<String>, Error> {
    let mut present: Vec<&str> = Vec::new();
    for s in labels {
        if !present.contains(&s.dim.as_str()) {
            present.push(&s.dim);
        }
    }
    match wanted {
        None if present.is_empty() => {
            Err(Error::Data("no label series in the input".into()))
        }
        None => Ok(present.into_iter().map(str::to_owned).collect()),
        Some(wanted) => {
            if let Some(missing) = wanted.iter().find(|d| !present.contains(&d.as_str())) {
                return Err(Error::Invalid(format!(
                    "dims: '{missing}' is not in the labels (present: {})",
                    present.join(", ")
                )));
            }
            Ok(wanted.to_vec())
        }
    }
}

/// A discretizer node: the checked plan and the kind's method.
pub struct Discretizer<M> {
    plan: Plan,
    method: M,
}

impl<M> Discretizer<M>
where
    M: Fn(&Weighted1d, usize) -> Result<Partition, Error> + Send,
{
    pub fn new(plan: Plan, method: M) -> Self {
        Self { plan, method }
    }
}

impl<M> Node for Discretizer<M>
where
    M: Fn(&Weighted1d, usize) -> Result<Partition, Error> + Send,
{
    fn run(&mut self, _ctx: &Context, mut inputs: Inputs) -> emoflow_sdk::Result<Outputs> {
        let labels = SeriesRow::read_all(&inputs.batches("labels")?)?;
        let out = discretize(&labels, &self.plan, &self.method)?;
        for cb in &out.codebooks {
            // Class balance is what made the paper reject equal-width bins.
            let show = |f: fn(&crate::codebook::CodebookClass) -> f64| {
                cb.classes
                    .iter()
                    .map(|c| format!("{:.3}", f(c)))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            tracing::info!(
                "{} {}: class means [{}], train priors [{}]",
                cb.dim,
                cb.task,
                show(|c| c.mean),
                show(|c| c.prior)
            );
        }
        let rows: Vec<CodebookRow> = out.codebooks.iter().flat_map(Codebook::rows).collect();
        Ok(Outputs::new()
            .with_batch("codebook", CodebookRow::write(&rows)?)
            .with_batch("classes", ClassesRow::write(&out.classes)?))
    }
}

/// The kind's name, source file and documentation, with the ports every
/// discretizer has.
pub fn kind_spec(kind: &'static str, source_file: &'static str, doc: &'static str) -> KindSpec {
    KindSpec::new(kind, source_file)
        .doc(doc)
        .input(
            "labels",
            port::SERIES,
            "continuous labels, one row per utterance and dim",
        )
        .output(
            "codebook",
            port::CODEBOOK,
            "per dim and task: the classes ordered by mean, their bounds and train priors",
        )
        .output(
            "classes",
            port::CLASSES,
            "every label series as class sequences, one row per task",
        )
        .export(FittedExport::new("it fits its classes on the series it reads", true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimal1d;

    fn plan(ks: &[u32]) -> Plan {
        Plan::new(ks, &default_fit_splits(), None).unwrap()
    }

    fn series(utt_id: &str, split: Split, dim: &str, values: &[f32]) -> SeriesRow {
        SeriesRow {
            utt_id: utt_id.into(),
            split,
            dim: dim.into(),
            frame_period: 0.04,
            values: values.to_vec(),
        }
    }

    fn labels() -> Vec<SeriesRow> {
        vec![
            series(
                "train_1",
                Split::Train,
                "arousal",
                &[-0.5, -0.5, -0.4, 0.4, 0.5, 0.5],
            ),
            series("dev_1", Split::Dev, "arousal", &[-0.45, 0.45, 0.45]),
            series("test_1", Split::Test, "arousal", &[-0.9, 0.0, 0.9]),
            series("train_1", Split::Train, "valence", &[0.1, 0.2, 0.3, 0.4]),
        ]
    }

    #[test]
    fn one_codebook_per_dim_and_k_fitted_on_fit_splits() {
        let out = discretize(&labels(), &plan(&[2, 3]), optimal1d::partition).unwrap();
        let keys: Vec<(&str, &str)> = out
            .codebooks
            .iter()
            .map(|c| (c.dim.as_str(), c.task.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("arousal", "k2"),
                ("arousal", "k3"),
                ("valence", "k2"),
                ("valence", "k3")
            ]
        );
        // arousal k2 on train + dev (9 values), not on test.
        let k2 = &out.codebooks[0];
        let mean_low = [-0.5f32, -0.5, -0.4, -0.45]
            .iter()
            .map(|&v| v as f64)
            .sum::<f64>()
            / 4.0;
        assert!(
            (k2.classes[0].mean - mean_low).abs() < 1e-12,
            "{:?}",
            k2.classes
        );
        assert_eq!(
            k2.classes[0].lower, -0.5f32 as f64,
            "fit range excludes test's -0.9"
        );
    }

    #[test]
    fn priors_come_from_train_only() {
        let out = discretize(&labels(), &plan(&[2]), optimal1d::partition).unwrap();
        // train arousal: 3 low, 3 high -> (3 + 1) / (6 + 2) each, whatever dev holds.
        let priors: Vec<f64> = out.codebooks[0].classes.iter().map(|c| c.prior).collect();
        assert_eq!(priors, vec![0.5, 0.5]);
    }

    #[test]
    fn every_series_gets_classes_per_task_including_test() {
        let out = discretize(&labels(), &plan(&[2, 3]), optimal1d::partition).unwrap();
        assert_eq!(out.classes.len(), 4 * 2);
        let test_k2 = out
            .classes
            .iter()
            .find(|c| c.utt_id == "test_1" && c.task == "k2")
            .unwrap();
        assert_eq!((test_k2.split, test_k2.num_classes), (Split::Test, 2));
        assert_eq!(
            test_k2.classes,
            vec![0, 1, 1],
            "0.0 is above the midpoint of the two means"
        );
    }

    #[test]
    fn dims_selects_and_orders() {
        let p = Plan::new(&[2], &default_fit_splits(), Some(vec!["valence".into()])).unwrap();
        let out = discretize(&labels(), &p, optimal1d::partition).unwrap();
        assert!(out.codebooks.iter().all(|c| c.dim == "valence"));
        assert!(out.classes.iter().all(|c| c.dim == "valence"));
        let p = Plan::new(&[2], &default_fit_splits(), Some(vec!["dominance".into()])).unwrap();
        let err = discretize(&labels(), &p, optimal1d::partition).unwrap_err();
        assert!(
            err.to_string()
                .contains("'dominance' is not in the labels (present: arousal, valence)"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_dim_and_k() {
        // valence has 4 distinct values.
        let err = discretize(&labels(), &plan(&[5]), optimal1d::partition).unwrap_err();
        assert_eq!(
            err.to_string(),
            "dim 'valence' (fit splits: train, dev), k = 5: k = 5 classes requested but the fit data has only 4 distinct value(s)"
        );
        let p = Plan::new(&[2], &[Split::Dev], None).unwrap();
        let err = discretize(&labels(), &p, optimal1d::partition).unwrap_err();
        assert_eq!(
            err.to_string(),
            "dim 'valence' (fit splits: dev): no label values to fit"
        );
    }

    #[test]
    fn nan_and_duplicate_series_are_rejected_with_the_utterance() {
        let mut l = labels();
        l.push(series("dev_2", Split::Dev, "valence", &[0.1, f32::NAN]));
        let err = discretize(&l, &plan(&[2]), optimal1d::partition).unwrap_err();
        assert_eq!(
            err.to_string(),
            "utterance 'dev_2', dim 'valence', frame 1: not a finite number (NaN)"
        );
        let mut l = labels();
        l.push(l[0].clone());
        let err = discretize(&l, &plan(&[2]), optimal1d::partition).unwrap_err();
        assert!(
            err.to_string()
                .contains("'train_1' has two label series for dim 'arousal'"),
            "{err}"
        );
    }

    #[test]
    fn invalid_plans_are_rejected() {
        for ks in [&[][..], &[1], &[4, 4]] {
            assert!(
                Plan::new(ks, &default_fit_splits(), None).is_err(),
                "{ks:?}"
            );
        }
        assert!(Plan::new(&[2], &[], None).is_err());
    }
}
