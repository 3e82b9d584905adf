//! `{{kind}}`: a loss, the Huber loss between predicted and target values,
//! averaged over frames: quadratic for errors up to `delta`, linear beyond,
//! so that outlying frames pull less than with `loss.mse`. A trainer
//! (`model.blstm`) calls it inside its training loop through the plugin ABI
//! with libtorch tensors, and autograd flows through it. Replace [`huber`]
//! with your loss; keep it differentiable in the prediction.
//!
//! The contract of a regression loss, as `loss.mse` and `loss.ccc` have it:
//! `(prediction, target)`, both float values `[T]` of one utterance and one
//! task, T > 0; the result is a scalar tensor.

use emoflow_sdk::prelude::*;
use emoflow_sdk_tch::KindSpecExt;
use schemars::JsonSchema;
use serde::Deserialize;
use tch::{Reduction, Tensor};

/// Parameters of `{{kind}}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The error, in label units, up to which the loss is quadratic
    /// (half the squared error); beyond it the loss grows linearly.
    #[serde(default = "default_delta")]
    pub delta: f64,
}

fn default_delta() -> f64 {
    0.5
}

pub fn spec() -> KindSpec {
    KindSpec::new("{{kind}}", file!())
        .doc("Huber loss over frames: prediction and target values [T]; quadratic up to `delta`, linear beyond.")
        .tensor_fn(|p: &Params, inputs: &[Tensor]| match inputs {
            [prediction, target] => huber(prediction, target, p.delta),
            _ => Err(Error::invalid(format!(
                "`{{kind}}` takes (prediction, target), got {} tensors",
                inputs.len()
            ))),
        })
}

/// The mean over the T frames of the Huber loss of `prediction - target`,
/// both float `[T]`.
pub fn huber(prediction: &Tensor, target: &Tensor, delta: f64) -> Result<Tensor> {
    let (p, t) = (prediction.size(), target.size());
    if p.len() != 1 || p != t || p[0] == 0 || !prediction.is_floating_point() || !target.is_floating_point() {
        return Err(Error::data(format!(
            "{{kind}}: prediction and target must be float [frames] of equal non-zero length, \
             got {:?} {p:?} and {:?} {t:?}",
            prediction.kind(),
            target.kind()
        )));
    }
    if delta.is_nan() || delta <= 0.0 {
        return Err(Error::invalid(format!("{{kind}}: delta must be positive, got {delta}")));
    }
    prediction
        .f_huber_loss(target, Reduction::Mean, delta)
        .map_err(|e| Error::data(format!("{{kind}}: {e}")))
}

emoflow_sdk::export_plugin!(spec);

#[cfg(test)]
mod tests {
    use super::*;
    use emoflow_sdk::harness::Harness;

    fn values(values: &[f32]) -> Tensor {
        Tensor::from_slice(values)
    }

    #[test]
    fn quadratic_up_to_delta_linear_beyond_with_its_gradient() {
        // Errors 0.25 (quadratic: 0.25^2 / 2) and -2 (linear: 0.5 * (2 - 0.5 / 2)).
        let prediction = values(&[0.25, -2.0]).set_requires_grad(true);
        let loss = huber(&prediction, &values(&[0.0, 0.0]), 0.5).unwrap();
        assert_eq!(loss.size(), Vec::<i64>::new(), "a scalar");
        let expected = (0.03125 + 0.875) / 2.0;
        assert!((loss.double_value(&[]) - expected).abs() < 1e-6, "{loss}");
        loss.backward();
        // d/dx: the error inside delta, delta * sign outside; over 2 frames.
        let grad = Vec::<f32>::try_from(&prediction.grad()).unwrap();
        assert_eq!(grad, vec![0.125, -0.25]);
    }

    #[test]
    fn mismatched_or_empty_input_is_an_error_naming_the_loss() {
        for (prediction, target) in [(values(&[0.0, 1.0]), values(&[0.0])), (values(&[]), values(&[]))] {
            let error = huber(&prediction, &target, 1.0).unwrap_err();
            assert!(error.message.contains("{{kind}}: prediction and target"), "{error}");
        }
    }

    #[test]
    fn the_node_hands_a_trainer_its_kind_and_parameters() {
        let out = Harness::new(crate::emoflow_plugin(), "{{kind}}")
            .param("delta", 1.0)
            .run()
            .unwrap();
        let rows: Vec<LossRow> = out.rows("loss").unwrap();
        assert_eq!(rows, vec![LossRow { kind: "{{kind}}".into(), params: r#"{"delta":1.0}"#.into() }]);
    }

    #[test]
    fn an_unknown_parameter_is_refused() {
        let error = Harness::new(crate::emoflow_plugin(), "{{kind}}")
            .param("weight", 2)
            .run()
            .unwrap_err();
        assert!(error.message.contains("unknown field `weight`"), "{error}");
    }
}
