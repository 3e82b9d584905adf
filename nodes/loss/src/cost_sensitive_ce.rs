//! `loss.cost_sensitive_ce`: the paper's cost-sensitive cross entropy
//! (Le et al. 2017, Eq. 6-7), mean over frames:
//!
//! ```text
//! L = - mean_f C(y_f, l_f) log y_f(l_f)
//! C(y_f, l_f) = 1 + |argmax_i y_f(i) - l_f| / N
//! ```
//!
//! y_f = softmax(logits_f), N = number of classes. Classes are ordered by
//! their cluster mean, so the index distance measures how wrong a frame's
//! decision is. C is a constant weight per frame: argmax has no gradient, so
//! the gradient is C_f times the plain cross-entropy gradient.

use emoflow_sdk::KindSpec;
use tch::{Kind, TchError, Tensor};

/// The `loss.cost_sensitive_ce` kind.
pub const KIND: super::LossKind = super::LossKind {
    name: "loss.cost_sensitive_ce",
    doc: "The paper's cost-sensitive cross entropy (Eq. 6-7), mean over frames: each \
          frame's CE is weighted by 1 + |argmax - label| / K, a constant (no gradient \
          through argmax). Prediction logits [T, K], target classes [T] (int64).",
    target: super::Target::Classes,
    function: cost_sensitive_ce,
};

/// `loss.cost_sensitive_ce` as a plugin node kind.
pub fn spec() -> KindSpec {
    KIND.spec(file!())
}

/// Cost-sensitive cross entropy of `logits` `[T, K]` against classes
/// `target` `[T]` (int64).
pub fn cost_sensitive_ce(logits: &Tensor, target: &Tensor) -> Result<Tensor, TchError> {
    super::check_classes("cost_sensitive_ce", logits, target)?;
    let classes = logits.size()[1];
    let cost = tch::no_grad(|| -> Result<Tensor, TchError> {
        let distance = logits.f_argmax(1, false)?.f_sub(target)?.f_abs()?;
        distance
            .f_to_kind(logits.kind())?
            .f_div_scalar(classes as f64)?
            .f_add_scalar(1.0)
    })?;
    // gather reports class indices outside [0, K) as an error.
    let log_likelihood =
        logits
            .f_log_softmax(1, Kind::Float)?
            .f_gather(1, &target.f_unsqueeze(1)?, false)?;
    log_likelihood
        .f_squeeze_dim(1)?
        .f_mul(&cost)?
        .f_mean(None::<Kind>)?
        .f_neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_cross_entropy_when_every_frame_is_decided_correctly() {
        // argmax == label on every frame, so C = 1 everywhere.
        let logits = Tensor::from_slice(&[3.0f32, 0.5, 0.1, 0.2, 2.0, 0.3]).view([2, 3]);
        let target = Tensor::from_slice(&[0i64, 1]);
        let weighted = cost_sensitive_ce(&logits, &target)
            .unwrap()
            .double_value(&[]);
        let plain = super::super::ce::ce(&logits, &target)
            .unwrap()
            .double_value(&[]);
        assert!((weighted - plain).abs() < 1e-6, "{weighted} vs {plain}");
    }

    #[test]
    fn a_frame_decided_two_classes_off_costs_one_plus_two_over_n_times_its_nll() {
        // One frame, 4 classes, argmax 3, label 1: C = 1 + 2/4.
        let logits = Tensor::from_slice(&[0.0f32, 1.0, 0.0, 2.0]).view([1, 4]);
        let target = Tensor::from_slice(&[1i64]);
        let loss = cost_sensitive_ce(&logits, &target)
            .unwrap()
            .double_value(&[]);
        let log_sum_exp = (1.0f64 + 1f64.exp() + 1.0 + 2f64.exp()).ln();
        let nll = log_sum_exp - 1.0;
        assert!((loss - 1.5 * nll).abs() < 1e-6, "{loss} vs {}", 1.5 * nll);
    }

    #[test]
    fn out_of_range_class_is_an_error_not_a_crash() {
        let logits = Tensor::zeros([2, 3], (Kind::Float, tch::Device::Cpu));
        let target = Tensor::from_slice(&[0i64, 3]);
        assert!(cost_sensitive_ce(&logits, &target).is_err());
    }
}
