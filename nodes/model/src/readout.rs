//! From network outputs to continuous predictions, and the dev metric.
//!
//! Classifier: per task, the posteriors are divided by the training class
//! priors and renormalised (prior scaling, paper step 2), the best class is
//! mapped to its cluster mean, and the tasks' values are averaged.
//! Regressor: the output is the prediction.

use tch::{Device, Kind, TchError, Tensor};

/// One task's classes, ordered by cluster mean.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskCodebook {
    /// Cluster mean of each class (the value a class maps back to).
    pub means: Vec<f64>,
    /// Class priors of the training labels; all positive.
    pub priors: Vec<f64>,
}

/// How outputs become values.
#[derive(Debug, Clone, PartialEq)]
pub enum Readout {
    Classifier(Vec<TaskCodebook>),
    Regressor,
}

impl Readout {
    /// A classifier read-out; every task needs as many means as priors,
    /// finite means and positive finite priors.
    pub fn classifier(tasks: Vec<TaskCodebook>) -> Result<Readout, TchError> {
        for (t, task) in tasks.iter().enumerate() {
            let problem = if task.means.len() != task.priors.len() || task.means.len() < 2 {
                Some(format!(
                    "{} means and {} priors",
                    task.means.len(),
                    task.priors.len()
                ))
            } else if task.means.iter().any(|m| !m.is_finite()) {
                Some(format!("non-finite class mean in {:?}", task.means))
            } else if task.priors.iter().any(|p| !(p.is_finite() && *p > 0.0)) {
                Some(format!(
                    "class priors must be positive, got {:?}",
                    task.priors
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(TchError::Shape(format!("codebook of task {t}: {problem}")));
            }
        }
        Ok(Readout::Classifier(tasks))
    }

    /// Head widths this read-out expects (K_t per task, or 1).
    pub fn head_widths(&self) -> Vec<i64> {
        match self {
            Readout::Classifier(tasks) => tasks.iter().map(|t| t.means.len() as i64).collect(),
            Readout::Regressor => vec![1],
        }
    }

    /// Prior-scaled posteriors `[T, K]` of one task's logits:
    /// softmax(logits) / prior, renormalised, computed as
    /// softmax(logits - log prior), which is the same and cannot overflow.
    pub fn scaled_posteriors(logits: &Tensor, priors: &[f64]) -> Result<Tensor, TchError> {
        let log_priors = Tensor::f_from_slice(priors)?
            .f_to_device(logits.device())?
            .f_log()?
            .f_to_kind(logits.kind())?;
        logits.f_sub(&log_priors)?.f_softmax(1, logits.kind())
    }

    /// The continuous prediction `[T]` (float) from one utterance's
    /// outputs (as `Blstm::forward` returns them).
    pub fn values(&self, outputs: &[Tensor]) -> Result<Tensor, TchError> {
        match self {
            Readout::Regressor => outputs[0].f_to_kind(Kind::Float),
            Readout::Classifier(tasks) => {
                let mut sum: Option<Tensor> = None;
                for (logits, task) in outputs.iter().zip(tasks) {
                    let classes =
                        Self::scaled_posteriors(logits, &task.priors)?.f_argmax(1, false)?;
                    let means = Tensor::f_from_slice(&task.means)?.f_to_device(logits.device())?;
                    let values = means.f_index_select(0, &classes)?;
                    sum = Some(match sum {
                        None => values,
                        Some(sum) => sum.f_add(&values)?,
                    });
                }
                let sum = sum.ok_or_else(|| TchError::Shape("classifier without tasks".into()))?;
                sum.f_div_scalar(tasks.len() as f64)?.f_to_kind(Kind::Float)
            }
        }
    }
}

/// Concordance correlation coefficient of two equally long series, with
/// population (1/N) moments, computed in f64. NaN when undefined (both
/// constant and equal).
pub fn concordance(prediction: &[f32], reference: &[f32]) -> f64 {
    let n = prediction.len() as f64;
    let mean = |x: &[f32]| x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mean_p, mean_r) = (mean(prediction), mean(reference));
    let (mut var_p, mut var_r, mut cov) = (0.0, 0.0, 0.0);
    for (&p, &r) in prediction.iter().zip(reference) {
        let (dp, dr) = (p as f64 - mean_p, r as f64 - mean_r);
        var_p += dp * dp;
        var_r += dr * dr;
        cov += dp * dr;
    }
    2.0 * cov / n / ((var_p + var_r) / n + (mean_p - mean_r).powi(2))
}

/// Copies a float tensor to a host vector.
pub(crate) fn to_vec(tensor: &Tensor) -> Result<Vec<f32>, TchError> {
    Vec::<f32>::try_from(
        tensor
            .f_to_device(Device::Cpu)?
            .f_to_kind(Kind::Float)?
            .f_flatten(0, -1)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_scaling_prefers_the_rare_class_when_posteriors_are_close() {
        // Raw posteriors slightly favour class 0, but class 0 is 9 times as
        // frequent in training: after scaling class 1 wins.
        let logits = Tensor::from_slice(&[0.2f32, 0.0]).view([1, 2]);
        let scaled = Readout::scaled_posteriors(&logits, &[0.9, 0.1]).unwrap();
        let p: Vec<f32> = to_vec(&scaled).unwrap();
        assert!(p[1] > p[0], "{p:?}");
        assert!((p[0] + p[1] - 1.0).abs() < 1e-6, "renormalised: {p:?}");
        let expected_1 = (0.0f64.exp() / 0.1) / (0.2f64.exp() / 0.9 + 0.0f64.exp() / 0.1);
        assert!((p[1] as f64 - expected_1).abs() < 1e-6);
    }

    #[test]
    fn classifier_values_average_the_chosen_class_means_over_tasks() {
        let readout = Readout::classifier(vec![
            TaskCodebook {
                means: vec![-0.5, 0.5],
                priors: vec![0.5, 0.5],
            },
            TaskCodebook {
                means: vec![-0.3, 0.0, 0.3],
                priors: vec![0.3, 0.4, 0.3],
            },
        ])
        .unwrap();
        // Frame 0: task 0 -> class 1 (0.5), task 1 -> class 0 (-0.3).
        // Frame 1: task 0 -> class 0 (-0.5), task 1 -> class 2 (0.3).
        let task0 = Tensor::from_slice(&[0.0f32, 2.0, 2.0, 0.0]).view([2, 2]);
        let task1 = Tensor::from_slice(&[3.0f32, 0.0, 0.0, 0.0, 0.0, 3.0]).view([2, 3]);
        let values = to_vec(&readout.values(&[task0, task1]).unwrap()).unwrap();
        assert!(
            (values[0] - 0.1).abs() < 1e-6 && (values[1] + 0.1).abs() < 1e-6,
            "{values:?}"
        );
    }

    #[test]
    fn classifier_rejects_zero_priors_and_mismatched_codebooks() {
        let zero = TaskCodebook {
            means: vec![0.0, 1.0],
            priors: vec![1.0, 0.0],
        };
        assert!(
            Readout::classifier(vec![zero])
                .unwrap_err()
                .to_string()
                .contains("task 0")
        );
        let short = TaskCodebook {
            means: vec![0.0, 1.0, 2.0],
            priors: vec![0.5, 0.5],
        };
        assert!(Readout::classifier(vec![short]).is_err());
    }

    #[test]
    fn concordance_is_one_for_identity_and_penalises_bias_and_scale() {
        let y = [0.1f32, 0.4, -0.2, 0.3, 0.0];
        assert!((concordance(&y, &y) - 1.0).abs() < 1e-12);
        let biased: Vec<f32> = y.iter().map(|v| v + 0.3).collect();
        let scaled: Vec<f32> = y.iter().map(|v| v * 0.5).collect();
        assert!(concordance(&biased, &y) < 0.8);
        assert!(concordance(&scaled, &y) < 0.95);
        // Pearson of the scaled copy is 1: CCC is lower by the scale mismatch.
        let mean = y.iter().sum::<f32>() as f64 / 5.0;
        let var: f64 = y.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / 5.0;
        let expected = 2.0 * 0.5 * var / (var + 0.25 * var + (mean - 0.5 * mean).powi(2));
        assert!((concordance(&scaled, &y) - expected).abs() < 1e-6);
    }
}
