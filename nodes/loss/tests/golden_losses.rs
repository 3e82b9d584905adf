//! Each loss's value and gradient equal PyTorch's on the same random data
//! (scripts/golden/losses.py), called directly and called as a trainer
//! calls it: through the plugin ABI with libtorch tensor handles.

use std::collections::HashMap;

use emoflow_sdk::harness::Harness;
use emoflow_sdk::prelude::*;
use emoflow_sdk_tch::ContextExt;
use tch::Tensor;

fn golden() -> HashMap<String, Tensor> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/losses.safetensors"
    );
    Tensor::read_safetensors(path)
        .expect("golden data (scripts/golden/losses.py)")
        .into_iter()
        .collect()
}

fn golden_tensor<'a>(golden: &'a HashMap<String, Tensor>, kind: &str, what: &str) -> &'a Tensor {
    let key = format!("{}/{what}", kind.trim_start_matches("loss."));
    golden
        .get(&key)
        .unwrap_or_else(|| panic!("{key} missing from the golden data"))
}

/// Loss value and the largest gradient difference from PyTorch's.
fn loss_and_gradient_error(
    golden: &HashMap<String, Tensor>,
    kind: &str,
    call: impl FnOnce(&Tensor, &Tensor) -> Tensor,
) -> (f64, f64) {
    let prediction = golden_tensor(golden, kind, "prediction")
        .detach()
        .set_requires_grad(true);
    let loss = call(&prediction, golden_tensor(golden, kind, "target"));
    assert_eq!(
        loss.size(),
        Vec::<i64>::new(),
        "{kind}: the loss must be a scalar"
    );
    loss.backward();
    let gradient_error = (prediction.grad() - golden_tensor(golden, kind, "grad"))
        .abs()
        .max();
    (loss.double_value(&[]), gradient_error.double_value(&[]))
}

fn assert_matches_pytorch(
    golden: &HashMap<String, Tensor>,
    kind: &str,
    (loss, gradient_error): (f64, f64),
) {
    let expected = golden_tensor(golden, kind, "loss").double_value(&[0]);
    assert!(
        (loss - expected).abs() <= 1e-5 * expected.abs().max(1.0),
        "{kind}: loss {loss} vs PyTorch {expected}"
    );
    assert!(
        gradient_error <= 1e-6,
        "{kind}: gradient differs from PyTorch's by {gradient_error}"
    );
}

#[test]
fn values_and_gradients_equal_pytorch() {
    let golden = golden();
    for kind in emoflow_loss::KINDS {
        let result =
            loss_and_gradient_error(&golden, kind.name, |p, t| (kind.function)(p, t).unwrap());
        assert_matches_pytorch(&golden, kind.name, result);
    }
}

#[test]
fn cost_sensitive_golden_case_has_misdecided_frames_so_the_cost_is_exercised() {
    // Guards the golden data itself: with every frame decided correctly the
    // cost-sensitive loss would equal plain CE and prove nothing.
    let golden = golden();
    let logits = golden_tensor(&golden, "cost_sensitive_ce", "prediction");
    let target = golden_tensor(&golden, "cost_sensitive_ce", "target");
    let wrong = logits
        .argmax(1, false)
        .ne_tensor(target)
        .sum(tch::Kind::Int64)
        .int64_value(&[]);
    assert!(wrong > 5, "only {wrong} misdecided frames");
}

/// A stand-in trainer: calls the loss its parameters name through the
/// plugin ABI on the golden data, backpropagates, and reports the loss and
/// the gradient error as metrics.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ProbeParams {
    loss: String,
    /// What to pass: (prediction, target) or, to provoke errors, only the
    /// prediction or both swapped.
    #[serde(default)]
    inputs: ProbeInputs,
}

#[derive(Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum ProbeInputs {
    #[default]
    Both,
    PredictionOnly,
    Swapped,
}

struct Probe(ProbeParams);

impl Node for Probe {
    fn run(&mut self, ctx: &Context, _: Inputs) -> Result<Outputs> {
        let golden = golden();
        let loss = ctx.tensor_fn(&self.0.loss, "{}");
        let mut error = None;
        let (value, gradient_error) = loss_and_gradient_error(&golden, &self.0.loss, |p, t| {
            let inputs = match self.0.inputs {
                ProbeInputs::Both => vec![p, t],
                ProbeInputs::PredictionOnly => vec![p],
                ProbeInputs::Swapped => vec![t, p],
            };
            loss.call(&inputs).unwrap_or_else(|e| {
                error = Some(e);
                p.sum(tch::Kind::Float)
            })
        });
        if let Some(error) = error {
            return Err(error);
        }
        let rows = [
            MetricRow::new("loss", "-", "-", value),
            MetricRow::new("gradient_error", "-", "-", gradient_error),
        ];
        Ok(Outputs::new().with_batch("out", MetricRow::write(&rows)?))
    }
}

fn probe() -> KindSpec {
    KindSpec::new("test.loss_probe", file!())
        .output("out", port::METRICS, "loss value and gradient error")
        .create(|p: ProbeParams| Ok(Probe(p)))
}

emoflow_sdk::export_plugin!(probe);

fn probe_harness(kind: &str) -> Harness {
    Harness::new(emoflow_plugin(), "test.loss_probe")
        .with_plugin(emoflow_loss::emoflow_plugin())
        .param("loss", kind)
}

#[test]
fn through_the_plugin_abi_values_and_gradients_still_equal_pytorch() {
    let golden = golden();
    for kind in emoflow_loss::KINDS {
        let out = probe_harness(kind.name).run().unwrap();
        let rows: Vec<MetricRow> = out.rows("out").unwrap();
        assert_matches_pytorch(&golden, kind.name, (rows[0].value, rows[1].value));
    }
}

#[test]
fn a_loss_node_hands_the_trainer_its_kind_and_refuses_parameters() {
    for kind in emoflow_loss::KINDS {
        let out = Harness::new(emoflow_loss::emoflow_plugin(), kind.name)
            .run()
            .unwrap();
        let rows: Vec<LossRow> = out.rows("loss").unwrap();
        assert_eq!(
            rows,
            vec![LossRow {
                kind: kind.name.to_string(),
                params: "{}".to_string()
            }]
        );
        let error = Harness::new(emoflow_loss::emoflow_plugin(), kind.name)
            .param("weight", 2)
            .run()
            .unwrap_err();
        assert!(error.message.contains("unknown field `weight`"), "{error}");
    }
}

#[test]
fn errors_cross_the_abi_naming_the_loss_and_the_problem() {
    let error = probe_harness("loss.mse")
        .param("inputs", "prediction_only")
        .run()
        .unwrap_err();
    assert!(
        error
            .message
            .contains("`loss.mse` takes (prediction, target), got 1 tensors"),
        "{error}"
    );
    let error = probe_harness("loss.ce")
        .param("inputs", "swapped")
        .run()
        .unwrap_err();
    assert!(error.message.contains("calling `loss.ce`"), "{error}");
    assert!(
        error
            .message
            .contains("ce: prediction must be float logits [frames, classes]"),
        "{error}"
    );
}
