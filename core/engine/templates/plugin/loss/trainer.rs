//! `{{kind}}` called as a trainer calls it: through the plugin ABI, by the
//! kind and parameters of the row its node hands over, with libtorch tensor
//! handles, so that autograd flows back into the trainer's prediction.

use emoflow_sdk::harness::Harness;
use emoflow_sdk::prelude::*;
use emoflow_sdk_tch::ContextExt;
use schemars::JsonSchema;
use serde::Deserialize;
use tch::Tensor;

/// A stand-in trainer: calls the loss its `loss` input names on a
/// prediction 2 for a target 0, backpropagates, and reports the loss value
/// and the prediction's gradient.
struct Probe;

impl Node for Probe {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let rows = LossRow::read_all(&inputs.batches("loss")?)?;
        let loss = ctx.tensor_fn(&rows[0].kind, &rows[0].params);
        let prediction = Tensor::from_slice(&[2.0f32]).set_requires_grad(true);
        let value = loss.call(&[&prediction, &Tensor::from_slice(&[0.0f32])])?;
        value.backward();
        let rows = [
            MetricRow::new("loss", "-", "-", value.double_value(&[])),
            MetricRow::new("gradient", "-", "-", prediction.grad().double_value(&[0])),
        ];
        Ok(Outputs::new().with_batch("out", MetricRow::write(&rows)?))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoParams {}

fn probe() -> KindSpec {
    KindSpec::new("test.loss_probe", file!())
        .input("loss", port::LOSS, "the loss to call")
        .output("out", port::METRICS, "loss value and gradient")
        .create(|_: NoParams| Ok(Probe))
}

emoflow_sdk::export_plugin!(probe);

/// (loss, gradient) of the loss node with `params`, called by the probe.
fn called_by_a_trainer(params: &[(&str, f64)]) -> (f64, f64) {
    let mut node = Harness::new({{crate}}::emoflow_plugin(), "{{kind}}");
    for (key, value) in params {
        node = node.param(key, value);
    }
    let loss: Vec<LossRow> = node.run().unwrap().rows("loss").unwrap();
    let out = Harness::new(emoflow_plugin(), "test.loss_probe")
        .with_plugin({{crate}}::emoflow_plugin())
        .rows("loss", &loss)
        .run()
        .unwrap();
    let rows: Vec<MetricRow> = out.rows("out").unwrap();
    (rows[0].value, rows[1].value)
}

#[test]
fn a_trainer_gets_the_value_and_gradient_with_the_nodes_parameters() {
    // An error of 2, beyond delta: delta * (2 - delta / 2), gradient delta.
    assert_eq!(called_by_a_trainer(&[]), (0.5 * 1.75, 0.5));
    assert_eq!(called_by_a_trainer(&[("delta", 1.0)]), (1.5, 1.0));
}
