//! Discretizers: continuous labels in, a codebook and class sequences out.
//!
//! A discretizer kind has one input, `labels` (port type `series`), and two
//! outputs, `codebook` and `classes`. What differs between kinds is only
//! where the class thresholds go; implement [`Discretizer::fit`] for that and
//! [`DiscretizerNode`] does the rest by the rule every emoflow discretizer
//! follows:
//!
//! * **Tasks.** One task per number of classes `k` in the `k` parameter,
//!   named by [`task_name`]: `k4`, `k6`, ...
//! * **Fit data.** Per dimension, the label values of the `fit_splits`
//!   (default train and dev), sorted ascending; [`Discretizer::fit`] returns
//!   the class means (ascending) and the `k - 1` thresholds between them.
//! * **Classes.** Class `c` holds the values `v` with
//!   `lower[c] <= v < upper[c]`, where `upper[c] == lower[c + 1]` is the
//!   threshold between the two classes. Values below the first threshold go
//!   to class 0 and values at or above the last one to the top class, so
//!   data outside the fit range (e.g. the test split) is still assigned;
//!   `lower[0]` and `upper[k-1]` record the minimum and maximum of the fit
//!   values.
//! * **Priors.** Counted on the train split ([`PRIOR_SPLIT`]), whatever the
//!   fit splits, with [`PRIOR_PSEUDO_COUNT`] added to every class.
//! * **Output.** `codebook`: per dimension and task, one row per class;
//!   `classes`: every input series (every split) as one class sequence per
//!   task.
//!
//! ```
//! use emoflow_sdk::families::cluster::{Codebook, Fit};
//!
//! // Two classes split at 0.0, fitted on values from -1.0 to 1.0; the
//! // training labels hold three values below the threshold and one above.
//! let fit = Fit { means: vec![-0.5, 0.5], thresholds: vec![0.0] };
//! let codebook = Codebook::new("arousal", "k2", &fit, -1.0, 1.0, [-0.9, -0.2, -0.1, 0.4])?;
//! assert_eq!(codebook.classify(-7.0), 0); // below the fit range: class 0
//! assert_eq!(codebook.classify(0.0), 1); // a threshold belongs to the upper class
//! // (3 + 1) / (4 + 2) and (1 + 1) / (4 + 2)
//! assert_eq!(codebook.classes[0].prior, 4.0 / 6.0);
//! assert_eq!(codebook.classes[1].prior, 2.0 / 6.0);
//! # Ok::<(), emoflow_sdk::Error>(())
//! ```

use std::collections::HashSet;

use serde::Deserialize;

use crate::conventions::{ClassesRow, CodebookRow, PortRows, SeriesRow, Split, port};
use crate::{Context, Error, Inputs, KindSpec, Node, Outputs, Result};

/// Pseudo-count added to every class when estimating priors (Laplace
/// smoothing): a class that never occurs in the training labels still gets a
/// small non-zero prior, so dividing posteriors by priors stays finite. With
/// tens of thousands of training frames its effect elsewhere is negligible.
pub const PRIOR_PSEUDO_COUNT: f64 = 1.0;

/// Class priors are counted on this split only.
pub const PRIOR_SPLIT: Split = Split::Train;

/// Task name of the k-class label set.
///
/// ```
/// assert_eq!(emoflow_sdk::families::cluster::task_name(4), "k4");
/// ```
pub fn task_name(k: usize) -> String {
    format!("k{k}")
}

/// What a [`Discretizer`] places on the fit data for one `k`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The `k` class means, ascending: what a class is reconstructed as.
    pub means: Vec<f64>,
    /// The `k - 1` thresholds between consecutive classes, ascending.
    pub thresholds: Vec<f64>,
}

/// A discretization method: where the classes of `k` go on the fit values.
///
/// Any `Fn(&[f64], usize) -> Result<Fit> + Send` is one.
///
/// ```
/// use emoflow_sdk::families::cluster::{Discretizer, Fit};
///
/// /// Equal-width classes over the fit range.
/// fn uniform(values: &[f64], k: usize) -> emoflow_sdk::Result<Fit> {
///     let (lo, hi) = (values[0], values[values.len() - 1]);
///     let edge = |i: usize| lo + (hi - lo) * i as f64 / k as f64;
///     Ok(Fit {
///         means: (0..k).map(|c| 0.5 * (edge(c) + edge(c + 1))).collect(),
///         thresholds: (1..k).map(edge).collect(),
///     })
/// }
///
/// let fit = uniform.fit(&[0.0, 0.25, 1.0], 2)?;
/// assert_eq!(fit.thresholds, vec![0.5]);
/// # Ok::<(), emoflow_sdk::Error>(())
/// ```
pub trait Discretizer: Send {
    /// `k` classes on `values`: the fit splits' labels of one dimension,
    /// finite, sorted ascending, at least one. An error (e.g. fewer distinct
    /// values than `k`) is reported with the dimension and `k`.
    fn fit(&self, values: &[f64], k: usize) -> Result<Fit>;
}

impl<F> Discretizer for F
where
    F: Fn(&[f64], usize) -> Result<Fit> + Send,
{
    fn fit(&self, values: &[f64], k: usize) -> Result<Fit> {
        self(values, k)
    }
}

/// One class of a codebook (one row of the `codebook` port).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CodebookClass {
    pub mean: f64,
    pub lower: f64,
    pub upper: f64,
    pub prior: f64,
}

/// The classes of one (dim, task).
#[derive(Debug, Clone, PartialEq)]
pub struct Codebook {
    pub dim: String,
    pub task: String,
    pub classes: Vec<CodebookClass>,
}

impl Codebook {
    /// The codebook of `fit` on fit values from `fit_min` to `fit_max`, with
    /// priors counted on `train_values` (the training split's labels) and
    /// smoothed by [`PRIOR_PSEUDO_COUNT`]. Fails unless `fit` has one
    /// threshold fewer than means.
    pub fn new(
        dim: &str,
        task: &str,
        fit: &Fit,
        fit_min: f64,
        fit_max: f64,
        train_values: impl IntoIterator<Item = f64>,
    ) -> Result<Self> {
        let k = fit.means.len();
        if k == 0 || fit.thresholds.len() + 1 != k {
            return Err(Error::failed(format!(
                "{dim}/{task}: the discretizer returned {k} means and {} thresholds \
                 (k means need k - 1 thresholds) {}",
                fit.thresholds.len(),
                crate::NODE_BUG
            )));
        }
        let mut lower = Vec::with_capacity(k);
        lower.push(fit_min);
        lower.extend_from_slice(&fit.thresholds);
        let mut upper = fit.thresholds.clone();
        upper.push(fit_max);
        let mut codebook = Self {
            dim: dim.to_owned(),
            task: task.to_owned(),
            classes: (0..k)
                .map(|c| CodebookClass {
                    mean: fit.means[c],
                    lower: lower[c],
                    upper: upper[c],
                    prior: 0.0,
                })
                .collect(),
        };
        let mut counts = vec![0.0; k];
        for v in train_values {
            counts[codebook.classify(v) as usize] += 1.0;
        }
        let total: f64 = counts.iter().sum::<f64>() + PRIOR_PSEUDO_COUNT * k as f64;
        for (class, count) in codebook.classes.iter_mut().zip(counts) {
            class.prior = (count + PRIOR_PSEUDO_COUNT) / total;
        }
        Ok(codebook)
    }

    /// The codebook as rows of the `codebook` port, class 0 first.
    pub fn rows(&self) -> Vec<CodebookRow> {
        self.classes
            .iter()
            .enumerate()
            .map(|(c, class)| CodebookRow {
                dim: self.dim.clone(),
                task: self.task.clone(),
                num_classes: self.classes.len() as u32,
                class: c as u32,
                mean: class.mean,
                lower: class.lower,
                upper: class.upper,
                prior: class.prior,
            })
            .collect()
    }

    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// The class of `value` under the module's assignment rule.
    pub fn classify(&self, value: f64) -> u32 {
        let inner = &self.classes[..self.classes.len() - 1];
        inner.partition_point(|c| c.upper <= value) as u32
    }

    /// `value` replaced by the mean of its class.
    pub fn reconstruct(&self, value: f64) -> f64 {
        self.classes[self.classify(value) as usize].mean
    }
}

/// Parameters every discretizer kind has (a kind with more declares its own
/// struct with these fields and [`Plan::new`]s them).
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
    pub fn plan(&self) -> Result<Plan> {
        Plan::new(&self.k, &self.fit_splits, self.dims.clone())
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
    /// Fails (naming the parameter) without a k, with a k below 2 or listed
    /// twice, or without a fit split.
    pub fn new(ks: &[u32], fit_splits: &[Split], dims: Option<Vec<String>>) -> Result<Self> {
        let invalid = |msg: String| Err(Error::invalid(msg));
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

/// A discretizer's whole output.
#[derive(Debug, Clone, PartialEq)]
pub struct Discretized {
    /// Per dim, then per k in the plan's order.
    pub codebooks: Vec<Codebook>,
    /// Per input series (in input order, selected dims only), then per k.
    pub classes: Vec<ClassesRow>,
}

/// Runs `method` as the plan says, by the module's rule.
///
/// ```
/// use emoflow_sdk::families::cluster::{Fit, Plan, discretize};
/// use emoflow_sdk::prelude::{SeriesRow, Split};
///
/// let labels = vec![SeriesRow {
///     utt_id: "train_1".into(),
///     split: Split::Train,
///     dim: "arousal".into(),
///     frame_period: 0.04,
///     values: vec![-0.5, -0.4, 0.4, 0.5],
/// }];
/// // Two classes split at zero, whatever the data.
/// let at_zero = |_: &[f64], _k: usize| Ok(Fit { means: vec![-0.45, 0.45], thresholds: vec![0.0] });
/// let out = discretize(&labels, &Plan::new(&[2], &[Split::Train], None)?, &at_zero)?;
/// assert_eq!(out.codebooks[0].task, "k2");
/// assert_eq!(out.classes[0].classes, vec![0, 0, 1, 1]);
/// # Ok::<(), emoflow_sdk::Error>(())
/// ```
pub fn discretize(
    labels: &[SeriesRow],
    plan: &Plan,
    method: &impl Discretizer,
) -> Result<Discretized> {
    validate_labels(labels)?;
    let dims = select_dims(labels, plan.dims.as_deref())?;
    let mut codebooks = Vec::with_capacity(dims.len() * plan.ks.len());
    for dim in &dims {
        let of_dim = || labels.iter().filter(move |s| s.dim == *dim);
        let context = || format!("dim '{dim}' (fit splits: {})", plan.fit_splits_text());
        let mut fit: Vec<f64> = of_dim()
            .filter(|s| plan.fit_splits.contains(&s.split))
            .flat_map(|s| s.values.iter().map(|&v| v as f64))
            .collect();
        fit.sort_unstable_by(f64::total_cmp);
        let (Some(&fit_min), Some(&fit_max)) = (fit.first(), fit.last()) else {
            return Err(Error::data("no label values to fit").context(context()));
        };
        for &k in &plan.ks {
            let classes = method
                .fit(&fit, k)
                .map_err(|e| e.context(format!("{}, k = {k}", context())))?;
            let train = of_dim()
                .filter(|s| s.split == PRIOR_SPLIT)
                .flat_map(|s| s.values.iter().map(|&v| v as f64));
            codebooks.push(Codebook::new(
                dim,
                &task_name(k),
                &classes,
                fit_min,
                fit_max,
                train,
            )?);
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

fn validate_labels(labels: &[SeriesRow]) -> Result<()> {
    let mut seen = HashSet::new();
    for s in labels {
        if !seen.insert((s.utt_id.as_str(), s.dim.as_str())) {
            return Err(Error::invalid(format!(
                "utterance '{}' has two label series for dim '{}'",
                s.utt_id, s.dim
            )));
        }
        if let Some((frame, &v)) = s.values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(Error::data(format!(
                "utterance '{}', dim '{}', frame {frame}: not a finite number ({v})",
                s.utt_id, s.dim
            )));
        }
    }
    Ok(())
}

fn select_dims(labels: &[SeriesRow], wanted: Option<&[String]>) -> Result<Vec<String>> {
    let mut present: Vec<&str> = Vec::new();
    for s in labels {
        if !present.contains(&s.dim.as_str()) {
            present.push(&s.dim);
        }
    }
    match wanted {
        None if present.is_empty() => Err(Error::data("no label series in the input")),
        None => Ok(present.into_iter().map(str::to_owned).collect()),
        Some(wanted) => {
            if let Some(missing) = wanted.iter().find(|d| !present.contains(&d.as_str())) {
                return Err(Error::invalid(format!(
                    "dims: '{missing}' is not in the labels (present: {})",
                    present.join(", ")
                )));
            }
            Ok(wanted.to_vec())
        }
    }
}

/// A discretizer node: the checked plan and the kind's method. Reads
/// `labels`, writes `codebook` and `classes`, and logs each codebook's
/// class means and priors.
pub struct DiscretizerNode<D> {
    plan: Plan,
    method: D,
}

impl<D: Discretizer> DiscretizerNode<D> {
    pub fn new(plan: Plan, method: D) -> Self {
        Self { plan, method }
    }
}

impl<D: Discretizer> Node for DiscretizerNode<D> {
    fn run(&mut self, _ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let labels = SeriesRow::read_all(&inputs.batches("labels")?)?;
        let out = discretize(&labels, &self.plan, &self.method)?;
        for cb in &out.codebooks {
            // Class balance is what made the paper reject equal-width bins.
            let show = |f: fn(&CodebookClass) -> f64| {
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
/// discretizer has; add `.create(...)`.
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
        .export(crate::FittedExport::new(
            "it fits its classes on the series it reads",
            true,
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two-means-style classes: thresholds at the midpoints of `centres`.
    fn at(centres: &'static [f64]) -> impl Fn(&[f64], usize) -> Result<Fit> + Send {
        move |_, k| {
            let means = centres[..k].to_vec();
            Ok(Fit {
                thresholds: means.windows(2).map(|p| 0.5 * (p[0] + p[1])).collect(),
                means,
            })
        }
    }

    fn codebook() -> Codebook {
        let fit = Fit {
            means: vec![-0.45, 0.05, 0.55],
            thresholds: vec![-0.2, 0.3],
        };
        Codebook::new("arousal", "k3", &fit, -0.5, 0.6, [-0.45, -0.45, 0.55]).unwrap()
    }

    #[test]
    fn classify_uses_half_open_classes_and_extends_the_end_classes() {
        let cb = codebook();
        assert_eq!(
            cb.classify(-0.2),
            1,
            "a threshold belongs to the upper class"
        );
        assert_eq!(cb.classify(-0.2000001), 0);
        assert_eq!(cb.classify(-7.0), 0, "below the fit range");
        assert_eq!(cb.classify(0.3), 2);
        assert_eq!(cb.classify(9.0), 2, "above the fit range");
        assert_eq!(cb.reconstruct(0.0), 0.05);
    }

    #[test]
    fn bounds_record_fit_range_and_thresholds() {
        let bounds: Vec<(f64, f64)> = codebook()
            .classes
            .iter()
            .map(|c| (c.lower, c.upper))
            .collect();
        assert_eq!(bounds, vec![(-0.5, -0.2), (-0.2, 0.3), (0.3, 0.6)]);
    }

    #[test]
    fn priors_are_smoothed_train_frequencies() {
        // train: two values in class 0, none in class 1, one in class 2.
        let priors: Vec<f64> = codebook().classes.iter().map(|c| c.prior).collect();
        assert_eq!(priors, vec![3.0 / 6.0, 1.0 / 6.0, 2.0 / 6.0]);
    }

    #[test]
    fn without_train_data_priors_are_uniform() {
        let fit = Fit {
            means: vec![0.0, 1.0],
            thresholds: vec![0.5],
        };
        let cb = Codebook::new("valence", "k2", &fit, 0.0, 1.0, []).unwrap();
        assert!(cb.classes.iter().all(|c| c.prior == 0.5));
    }

    #[test]
    fn a_fit_with_the_wrong_number_of_thresholds_is_a_node_bug() {
        let fit = Fit {
            means: vec![0.0, 1.0],
            thresholds: vec![],
        };
        let err = Codebook::new("valence", "k2", &fit, 0.0, 1.0, []).unwrap_err();
        assert!(
            err.message.contains("valence/k2") && err.message.ends_with(crate::NODE_BUG),
            "{err}"
        );
    }

    #[test]
    fn rows_number_classes_from_zero() {
        let rows = codebook().rows();
        assert_eq!(
            rows.iter().map(|r| r.class).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert!(
            rows.iter()
                .all(|r| r.num_classes == 3 && r.dim == "arousal" && r.task == "k3")
        );
        assert_eq!(
            (rows[1].lower, rows[1].upper, rows[1].prior),
            (-0.2, 0.3, 1.0 / 6.0)
        );
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

    fn plan(ks: &[u32]) -> Plan {
        Plan::new(ks, &default_fit_splits(), None).unwrap()
    }

    #[test]
    fn the_method_sees_the_sorted_fit_splits_and_every_split_gets_classes() {
        let seen = std::sync::Mutex::new(Vec::new());
        let method = |values: &[f64], k: usize| {
            seen.lock().unwrap().push(values.to_vec());
            at(&[-0.45, 0.45, 1.0])(values, k)
        };
        let out = discretize(&labels(), &plan(&[2, 3]), &method).unwrap();
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
        let arousal: Vec<f64> = [-0.5f32, -0.5, -0.45, -0.4, 0.4, 0.45, 0.45, 0.5, 0.5]
            .iter()
            .map(|&v| v as f64)
            .collect();
        assert_eq!(
            seen.lock().unwrap()[0],
            arousal,
            "train + dev, sorted; not test's -0.9"
        );
        assert_eq!(out.codebooks[0].classes[0].lower, -0.5f32 as f64);
        assert_eq!(out.codebooks[0].classes[1].upper, 0.5f32 as f64);
        // train arousal: 3 low, 3 high -> (3 + 1) / (6 + 2) each, whatever dev holds.
        assert_eq!(
            out.codebooks[0]
                .classes
                .iter()
                .map(|c| c.prior)
                .collect::<Vec<_>>(),
            vec![0.5, 0.5]
        );
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
            "0.0 is on the threshold: the upper class"
        );
    }

    #[test]
    fn errors_name_the_dim_and_k() {
        let refuse =
            |_: &[f64], k: usize| -> Result<Fit> { Err(Error::data(format!("cannot make {k}"))) };
        let err = discretize(&labels(), &plan(&[5]), &refuse).unwrap_err();
        assert_eq!(
            err.message,
            "dim 'arousal' (fit splits: train, dev), k = 5: cannot make 5"
        );
        let p = Plan::new(&[2], &[Split::Dev], None).unwrap();
        let err = discretize(&labels(), &p, &at(&[0.0, 1.0])).unwrap_err();
        assert_eq!(
            err.message,
            "dim 'valence' (fit splits: dev): no label values to fit"
        );
    }

    #[test]
    fn dims_select_and_unknown_dims_nan_and_duplicates_are_named() {
        let p = Plan::new(&[2], &default_fit_splits(), Some(vec!["valence".into()])).unwrap();
        let out = discretize(&labels(), &p, &at(&[0.0, 1.0])).unwrap();
        assert!(
            out.codebooks.iter().all(|c| c.dim == "valence")
                && out.classes.iter().all(|c| c.dim == "valence")
        );
        let p = Plan::new(&[2], &default_fit_splits(), Some(vec!["dominance".into()])).unwrap();
        let err = discretize(&labels(), &p, &at(&[0.0, 1.0])).unwrap_err();
        assert!(
            err.message
                .contains("'dominance' is not in the labels (present: arousal, valence)"),
            "{err}"
        );
        let mut l = labels();
        l.push(series("dev_2", Split::Dev, "valence", &[0.1, f32::NAN]));
        let err = discretize(&l, &plan(&[2]), &at(&[0.0, 1.0])).unwrap_err();
        assert_eq!(
            err.message,
            "utterance 'dev_2', dim 'valence', frame 1: not a finite number (NaN)"
        );
        let mut l = labels();
        l.push(l[0].clone());
        let err = discretize(&l, &plan(&[2]), &at(&[0.0, 1.0])).unwrap_err();
        assert!(
            err.message
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
