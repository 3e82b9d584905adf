//! emoflow standard nodes: loss family.
//!
//! Each loss is a pure function over libtorch tensors with one signature,
//! [`LossFn`]: `(prediction, target) -> scalar`, differentiable in
//! `prediction`. The model's trainer sums it over task heads and calls
//! `backward` on the sum.
//!
//! | kind | file | prediction | target |
//! |---|---|---|---|
//! | `loss.ce` | [`ce`] | logits `[T, K]` float | classes `[T]` int64 |
//! | `loss.cost_sensitive_ce` | [`cost_sensitive_ce`] | logits `[T, K]` | classes `[T]` int64 |
//! | `loss.mse` | [`mse`] | values `[T]` float | values `[T]` float |
//! | `loss.ccc` | [`ccc`] | values `[T]` float | values `[T]` float |
//!
//! # Reduction: mean over frames
//! The paper writes its loss as a sum over frames. We take the mean, for
//! every loss alike. With Adam (the paper's optimiser) a constant factor on
//! the loss barely changes the updates, since Adam divides by the running
//! gradient magnitude; the mean instead keeps loss values comparable across
//! utterance lengths (the training log shows them), keeps the L2 weight's
//! strength independent of utterance length, and avoids the large early
//! gradients that make lr 0.002 jumpy with 7500-frame sums. It is also what
//! Keras, which systems of that time used, does with a time-distributed loss.

#![forbid(unsafe_code)]

//!
//! # As plugins
//! Each kind is also a node (`loss.*`, no parameters) whose one output,
//! `loss`, names the function for a trainer's `loss` input; the trainer
//! calls it through the plugin ABI with libtorch tensor handles
//! (`(prediction, target)`), so autograd flows through a loss the trainer
//! was not compiled with.

use emoflow_sdk::{Error, KindSpec};
use emoflow_sdk_tch::KindSpecExt;
use tch::{Kind, TchError, Tensor};

pub mod ccc;
pub mod ce;
pub mod cost_sensitive_ce;
pub mod mse;

/// The uniform loss signature: `(prediction, target) -> scalar tensor`.
pub type LossFn = fn(&Tensor, &Tensor) -> Result<Tensor, TchError>;

/// What a loss's prediction is: per-class logits or one value per frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Prediction logits `[T, K]`, target class indices `[T]` (int64).
    Classes,
    /// Prediction values `[T]`, target values `[T]` (float).
    Values,
}

/// A loss kind: its graph name, documentation and function.
#[derive(Debug, Clone, Copy)]
pub struct LossKind {
    pub name: &'static str,
    pub doc: &'static str,
    pub target: Target,
    pub function: LossFn,
}

/// All loss kinds of this family.
pub const KINDS: [LossKind; 4] = [ce::KIND, cost_sensitive_ce::KIND, mse::KIND, ccc::KIND];

/// The losses take no parameters.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

impl LossKind {
    /// The kind as a tensor-function node; `source_file` is `file!()` of
    /// the file implementing it.
    fn spec(self, source_file: &'static str) -> KindSpec {
        let LossKind { name, function, .. } = self;
        KindSpec::new(name, source_file).doc(self.doc).tensor_fn(
            move |_: &NoParams, inputs: &[Tensor]| match inputs {
                [prediction, target] => {
                    function(prediction, target).map_err(|e| Error::data(e.to_string()))
                }
                _ => Err(Error::invalid(format!(
                    "`{name}` takes (prediction, target), got {} tensors",
                    inputs.len()
                ))),
            },
        )
    }
}

emoflow_sdk::export_plugin!(ce::spec, cost_sensitive_ce::spec, mse::spec, ccc::spec);

/// Checks classifier inputs: logits `[T, K]` floating point, classes `[T]`
/// int64, T > 0. Class range is left to the losses, which report it.
fn check_classes(loss: &str, logits: &Tensor, target: &Tensor) -> Result<(), TchError> {
    let (logits_size, target_size) = (logits.size(), target.size());
    let fail = |what: String| Err(TchError::Shape(format!("{loss}: {what}")));
    if logits_size.len() != 2 || !logits.is_floating_point() {
        return fail(format!(
            "prediction must be float logits [frames, classes], got {:?} {:?}",
            logits.kind(),
            logits_size
        ));
    }
    if target_size.len() != 1 || target.kind() != Kind::Int64 {
        return fail(format!(
            "target must be int64 class indices [frames], got {:?} {target_size:?}",
            target.kind()
        ));
    }
    if logits_size[0] != target_size[0] || target_size[0] == 0 {
        return fail(format!(
            "prediction has {} frames, target {}; both must be equal and non-zero",
            logits_size[0], target_size[0]
        ));
    }
    Ok(())
}

/// Checks regressor inputs: two floating-point `[T]` tensors, T > 0.
fn check_values(loss: &str, prediction: &Tensor, target: &Tensor) -> Result<(), TchError> {
    let (prediction_size, target_size) = (prediction.size(), target.size());
    if prediction_size.len() != 1
        || prediction_size != target_size
        || prediction_size[0] == 0
        || !prediction.is_floating_point()
        || !target.is_floating_point()
    {
        return Err(TchError::Shape(format!(
            "{loss}: prediction and target must be float [frames] of equal non-zero length, \
             got {:?} {prediction_size:?} and {:?} {target_size:?}",
            prediction.kind(),
            target.kind()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifier_losses_reject_value_shaped_input_with_the_kind_name() {
        let values = Tensor::from_slice(&[0.5f32, 0.1]);
        for kind in KINDS.iter().filter(|k| k.target == Target::Classes) {
            let error = (kind.function)(&values, &values).unwrap_err().to_string();
            assert!(
                error.contains(kind.name.trim_start_matches("loss.")),
                "{error}"
            );
            assert!(error.contains("logits"), "{error}");
        }
    }

    #[test]
    fn classifier_losses_reject_frame_count_mismatch_and_float_targets() {
        let logits = Tensor::zeros([3, 4], (Kind::Float, tch::Device::Cpu));
        let short = Tensor::from_slice(&[0i64, 1]);
        let float_target = Tensor::from_slice(&[0f32, 1., 2.]);
        for kind in KINDS.iter().filter(|k| k.target == Target::Classes) {
            let error = (kind.function)(&logits, &short).unwrap_err().to_string();
            assert!(error.contains("3 frames, target 2"), "{error}");
            let error = (kind.function)(&logits, &float_target)
                .unwrap_err()
                .to_string();
            assert!(error.contains("int64"), "{error}");
        }
    }

    #[test]
    fn regressor_losses_reject_length_mismatch_and_empty_input() {
        let three = Tensor::from_slice(&[0f32, 1., 2.]);
        let two = Tensor::from_slice(&[0f32, 1.]);
        let empty = Tensor::from_slice::<f32>(&[]);
        for kind in KINDS.iter().filter(|k| k.target == Target::Values) {
            for (prediction, target) in [(&three, &two), (&empty, &empty)] {
                let error = (kind.function)(prediction, target).unwrap_err().to_string();
                assert!(error.contains("equal non-zero length"), "{error}");
            }
        }
    }
}
