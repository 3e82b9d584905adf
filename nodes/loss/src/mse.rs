//! `loss.mse`: mean squared error over frames (the REG-MSE baseline).

use emoflow_sdk::KindSpec;
use tch::{Reduction, TchError, Tensor};

/// The `loss.mse` kind.
pub const KIND: super::LossKind = super::LossKind {
    name: "loss.mse",
    doc: "Mean squared error over frames (REG-MSE): prediction and target values [T].",
    target: super::Target::Values,
    function: mse,
};

/// `loss.mse` as a plugin node kind.
pub fn spec() -> KindSpec {
    KIND.spec(file!())
}

/// Mean over the T frames of `(prediction - target)^2`, both `[T]`.
pub fn mse(prediction: &Tensor, target: &Tensor) -> Result<Tensor, TchError> {
    super::check_values("mse", prediction, target)?;
    prediction.f_mse_loss(target, Reduction::Mean)
}
