//! `loss.ccc`: 1 - concordance correlation coefficient of one utterance
//! (the REG-CCC baseline):
//!
//! ```text
//! 1 - 2 s_xy / (s_x^2 + s_y^2 + (mean_x - mean_y)^2)
//! ```
//!
//! with population (1/T) moments. Minimising it maximises CCC directly,
//! including bias and scale, which MSE does not reward as such.

use emoflow_sdk::KindSpec;
use tch::{Kind, TchError, Tensor};

/// The `loss.ccc` kind.
pub const KIND: super::LossKind = super::LossKind {
    name: "loss.ccc",
    doc: "1 - concordance correlation coefficient of the utterance (REG-CCC), \
          population moments: prediction and target values [T].",
    target: super::Target::Values,
    function: ccc,
};

/// `loss.ccc` as a plugin node kind.
pub fn spec() -> KindSpec {
    KIND.spec(file!())
}

/// `1 - CCC(prediction, target)`, both `[T]`. A constant prediction equal
/// to a constant target has an undefined CCC and gives NaN, which the
/// trainer reports.
pub fn ccc(prediction: &Tensor, target: &Tensor) -> Result<Tensor, TchError> {
    super::check_values("ccc", prediction, target)?;
    let prediction_mean = prediction.f_mean(None::<Kind>)?;
    let target_mean = target.f_mean(None::<Kind>)?;
    let prediction_centred = prediction.f_sub(&prediction_mean)?;
    let target_centred = target.f_sub(&target_mean)?;
    let covariance = prediction_centred
        .f_mul(&target_centred)?
        .f_mean(None::<Kind>)?;
    let denominator = prediction_centred
        .f_square()?
        .f_mean(None::<Kind>)?
        .f_add(&target_centred.f_square()?.f_mean(None::<Kind>)?)?
        .f_add(&prediction_mean.f_sub(&target_mean)?.f_square()?)?;
    covariance
        .f_mul_scalar(-2.0)?
        .f_div(&denominator)?
        .f_add_scalar(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss(prediction: &[f32], target: &[f32]) -> f64 {
        ccc(&Tensor::from_slice(prediction), &Tensor::from_slice(target))
            .unwrap()
            .double_value(&[])
    }

    #[test]
    fn is_zero_for_a_perfect_prediction_and_two_for_a_mirrored_one() {
        let target = [0.1f32, -0.3, 0.5, 0.2];
        let mirrored: Vec<f32> = target.iter().map(|v| -v).collect();
        assert!(loss(&target, &target).abs() < 1e-6);
        // CCC(x, -x) = -2 var / (2 var + (2 mean)^2); zero mean makes it -1.
        let centred = [0.3f32, -0.3, 0.1, -0.1];
        let negated: Vec<f32> = centred.iter().map(|v| -v).collect();
        assert!((loss(&negated, &centred) - 2.0).abs() < 1e-6);
        assert!(loss(&mirrored, &target) > 1.0);
    }

    #[test]
    fn penalises_a_shifted_prediction_that_correlation_alone_would_not() {
        let target = [0.1f32, -0.3, 0.5, 0.2];
        let shifted: Vec<f32> = target.iter().map(|v| v + 0.5).collect();
        assert!(loss(&shifted, &target) > 0.1);
    }
}
