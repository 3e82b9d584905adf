//! What every discretizer node does around its method: pick the fit data per
//! dim, fit one codebook per k (task "k4", "k6", ...), count priors on the
//! training split, and turn every label series into class sequences.

use std::collections::HashSet;

use crate::Error;
use crate::codebook::{Codebook, Partition};
use crate::weighted::Weighted1d;

/// Class priors are counted on this split only.
pub const TRAIN_SPLIT: &str = "train";

/// One utterance's values (labels or predictions) for one dimension (a row
/// of a `series` port).
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    pub utt_id: &'a str,
    pub split: &'a str,
    pub dim: &'a str,
    pub values: &'a [f32],
}

/// One utterance's classes for one (dim, task) (a row of a `classes` port).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassSeries {
    pub utt_id: String,
    pub split: String,
    pub dim: String,
    pub task: String,
    pub num_classes: u32,
    pub classes: Vec<u32>,
}

/// The parameters every discretizer node shares.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Numbers of classes, one task each.
    pub ks: Vec<usize>,
    /// Splits whose labels the classes are fitted on.
    pub fit_splits: Vec<String>,
    /// Dimensions to discretize; `None`: every dim present, in order of appearance.
    pub dims: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Discretized {
    /// Per dim, then per k in the plan's order.
    pub codebooks: Vec<Codebook>,
    /// Per input series (in input order, selected dims only), then per k.
    pub classes: Vec<ClassSeries>,
}

/// Task name of the k-class label set.
pub fn task_name(k: usize) -> String {
    format!("k{k}")
}

/// Runs `method` (fit data, k -> partition) as the plan says.
pub fn discretize(
    labels: &[Series],
    plan: &Plan,
    method: impl Fn(&Weighted1d, usize) -> Result<Partition, Error>,
) -> Result<Discretized, Error> {
    validate_plan(plan)?;
    validate_labels(labels)?;
    let dims = select_dims(labels, plan.dims.as_deref())?;
    let mut codebooks = Vec::with_capacity(dims.len() * plan.ks.len());
    for dim in &dims {
        let of_dim = || labels.iter().filter(move |s| s.dim == dim.as_str());
        let context = || format!("dim '{dim}' (fit splits: {})", plan.fit_splits.join(", "));
        let fit = Weighted1d::from_values(
            of_dim()
                .filter(|s| plan.fit_splits.iter().any(|f| f == s.split))
                .flat_map(|s| s.values.iter().map(|&v| v as f64)),
        )?;
        if fit.is_empty() {
            return Err(Error::In { context: context(), source: Box::new(Error::EmptyFitData) });
        }
        for &k in &plan.ks {
            let partition = method(&fit, k).map_err(|e| Error::In {
                context: format!("{}, k = {k}", context()),
                source: Box::new(e),
            })?;
            let train = of_dim()
                .filter(|s| s.split == TRAIN_SPLIT)
                .flat_map(|s| s.values.iter().map(|&v| v as f64));
            codebooks.push(Codebook::new(dim, &task_name(k), &partition, train));
        }
    }
    let classes = labels
        .iter()
        .flat_map(|s| {
            codebooks.iter().filter(|cb| cb.dim == s.dim).map(|cb| ClassSeries {
                utt_id: s.utt_id.to_owned(),
                split: s.split.to_owned(),
                dim: s.dim.to_owned(),
                task: cb.task.clone(),
                num_classes: cb.num_classes() as u32,
                classes: s.values.iter().map(|&v| cb.classify(v as f64)).collect(),
            })
        })
        .collect();
    Ok(Discretized { codebooks, classes })
}

fn validate_plan(plan: &Plan) -> Result<(), Error> {
    let invalid = |msg: String| Err(Error::InvalidInput(msg));
    if plan.ks.is_empty() {
        return invalid("k: at least one number of classes is needed".into());
    }
    if let Some(k) = plan.ks.iter().find(|&&k| k < 2) {
        return invalid(format!("k: {k} is not a valid number of classes (at least 2)"));
    }
    let mut seen = HashSet::new();
    if let Some(k) = plan.ks.iter().find(|&&k| !seen.insert(k)) {
        return invalid(format!("k: {k} is listed twice"));
    }
    if plan.fit_splits.is_empty() {
        return invalid("fit_splits: at least one split is needed".into());
    }
    Ok(())
}

fn validate_labels(labels: &[Series]) -> Result<(), Error> {
    let mut seen = HashSet::new();
    for s in labels {
        if !seen.insert((s.utt_id, s.dim)) {
            return Err(Error::InvalidInput(format!(
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

fn select_dims(labels: &[Series], wanted: Option<&[String]>) -> Result<Vec<String>, Error> {
    let mut present: Vec<&str> = Vec::new();
    for s in labels {
        if !present.contains(&s.dim) {
            present.push(s.dim);
        }
    }
    match wanted {
        None if present.is_empty() => Err(Error::InvalidInput("no label series in the input".into())),
        None => Ok(present.into_iter().map(str::to_owned).collect()),
        Some(wanted) => {
            if let Some(missing) = wanted.iter().find(|d| !present.contains(&d.as_str())) {
                return Err(Error::InvalidInput(format!(
                    "dims: '{missing}' is not in the labels (present: {})",
                    present.join(", ")
                )));
            }
            Ok(wanted.to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimal1d;

    fn plan(ks: &[usize]) -> Plan {
        Plan { ks: ks.to_vec(), fit_splits: vec!["train".into(), "dev".into()], dims: None }
    }

    const TRAIN_A: [f32; 6] = [-0.5, -0.5, -0.4, 0.4, 0.5, 0.5];
    const DEV_A: [f32; 3] = [-0.45, 0.45, 0.45];
    const TEST_A: [f32; 3] = [-0.9, 0.0, 0.9];
    const TRAIN_V: [f32; 4] = [0.1, 0.2, 0.3, 0.4];

    fn labels() -> Vec<Series<'static>> {
        vec![
            Series { utt_id: "train_1", split: "train", dim: "arousal", values: &TRAIN_A },
            Series { utt_id: "dev_1", split: "dev", dim: "arousal", values: &DEV_A },
            Series { utt_id: "test_1", split: "test", dim: "arousal", values: &TEST_A },
            Series { utt_id: "train_1", split: "train", dim: "valence", values: &TRAIN_V },
        ]
    }

    #[test]
    fn one_codebook_per_dim_and_k_fitted_on_fit_splits() {
        let out = discretize(&labels(), &plan(&[2, 3]), optimal1d::partition).unwrap();
        let keys: Vec<(&str, &str)> = out.codebooks.iter().map(|c| (c.dim.as_str(), c.task.as_str())).collect();
        assert_eq!(keys, vec![("arousal", "k2"), ("arousal", "k3"), ("valence", "k2"), ("valence", "k3")]);
        // arousal k2 on train + dev (9 values), not on test.
        let k2 = &out.codebooks[0];
        let mean_low = (-0.5f32 - 0.5 - 0.4 - 0.45) as f64 / 4.0;
        assert!((k2.classes[0].mean - mean_low).abs() < 1e-6, "{:?}", k2.classes);
        assert_eq!(k2.classes[0].lower, -0.5f32 as f64, "fit range excludes test's -0.9");
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
        let test_k2 = out.classes.iter().find(|c| c.utt_id == "test_1" && c.task == "k2").unwrap();
        assert_eq!((test_k2.split.as_str(), test_k2.num_classes), ("test", 2));
        assert_eq!(test_k2.classes, vec![0, 1, 1], "0.0 is above the midpoint of the two means");
    }

    #[test]
    fn dims_selects_and_orders() {
        let p = Plan { dims: Some(vec!["valence".into()]), ..plan(&[2]) };
        let out = discretize(&labels(), &p, optimal1d::partition).unwrap();
        assert!(out.codebooks.iter().all(|c| c.dim == "valence"));
        assert!(out.classes.iter().all(|c| c.dim == "valence"));
        let p = Plan { dims: Some(vec!["dominance".into()]), ..plan(&[2]) };
        let err = discretize(&labels(), &p, optimal1d::partition).unwrap_err();
        assert!(err.to_string().contains("'dominance' is not in the labels (present: arousal, valence)"), "{err}");
    }

    #[test]
    fn errors_name_the_dim_and_k() {
        // valence has 4 distinct values.
        let err = discretize(&labels(), &plan(&[5]), optimal1d::partition).unwrap_err();
        assert_eq!(
            err.to_string(),
            "dim 'valence' (fit splits: train, dev), k = 5: k = 5 classes requested but the fit data has only 4 distinct value(s)"
        );
        let p = Plan { fit_splits: vec!["dev".into()], ..plan(&[2]) };
        let err = discretize(&labels(), &p, optimal1d::partition).unwrap_err();
        assert_eq!(err.to_string(), "dim 'valence' (fit splits: dev): no label values to fit");
    }

    #[test]
    fn nan_and_duplicate_series_are_rejected_with_the_utterance() {
        let bad = [0.1, f32::NAN];
        let mut l = labels();
        l.push(Series { utt_id: "dev_2", split: "dev", dim: "valence", values: &bad });
        let err = discretize(&l, &plan(&[2]), optimal1d::partition).unwrap_err();
        assert_eq!(err.to_string(), "utterance 'dev_2', dim 'valence', frame 1: not a finite number (NaN)");
        let mut l = labels();
        l.push(l[0]);
        let err = discretize(&l, &plan(&[2]), optimal1d::partition).unwrap_err();
        assert!(err.to_string().contains("'train_1' has two label series for dim 'arousal'"), "{err}");
    }

    #[test]
    fn invalid_plans_are_rejected() {
        for ks in [&[][..], &[1], &[4, 4]] {
            assert!(discretize(&labels(), &plan(ks), optimal1d::partition).is_err(), "{ks:?}");
        }
        let p = Plan { fit_splits: vec![], ..plan(&[2]) };
        assert!(discretize(&labels(), &p, optimal1d::partition).is_err());
    }
}
