//! `loss.mse`: mean squared error over frames (the REG-MSE baseline).

use tch::{Reduction, TchError, Tensor};

/// Mean over the T frames of `(prediction - target)^2`, both `[T]`.
pub fn mse(prediction: &Tensor, target: &Tensor) -> Result<Tensor, TchError> {
    super::check_values("mse", prediction, target)?;
    prediction.f_mse_loss(target, Reduction::Mean)
}
