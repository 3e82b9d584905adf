//! The network equals PyTorch's nn.LSTM(bidirectional) + linear heads with
//! the same weights, and our Adam equals torch.optim.Adam
//! (scripts/golden/blstm.py).

use std::collections::HashMap;

use emoflow_model::adam::Adam;
use emoflow_model::network::{Blstm, BlstmConfig, Output};
use serde::Deserialize;
use tch::nn::VarStore;
use tch::{Device, Tensor};

#[derive(Deserialize)]
struct AdamCase {
    lr: f64,
    weight_decay: f64,
    steps: usize,
}

#[derive(Deserialize)]
struct Case {
    input_dim: i64,
    hidden: i64,
    layers: i64,
    classes: Option<Vec<i64>>,
    adam: Option<AdamCase>,
}

struct Golden {
    cases: HashMap<String, Case>,
    tensors: HashMap<String, Tensor>,
}

impl Golden {
    fn load() -> Golden {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
        let json = std::fs::read_to_string(format!("{dir}/blstm.json"))
            .expect("golden (scripts/golden/blstm.py)");
        let tensors = Tensor::read_safetensors(format!("{dir}/blstm.safetensors")).unwrap();
        Golden {
            cases: serde_json::from_str(&json).unwrap(),
            tensors: tensors.into_iter().collect(),
        }
    }

    fn get(&self, key: &str) -> &Tensor {
        self.tensors
            .get(key)
            .unwrap_or_else(|| panic!("golden tensor {key} missing"))
    }

    /// Our model with the case's PyTorch parameters, matched by name.
    fn model(&self, name: &str) -> (VarStore, Blstm) {
        let case = &self.cases[name];
        let output = match &case.classes {
            Some(classes) => Output::Classifier {
                classes: classes.clone(),
            },
            None => Output::Regressor,
        };
        let config = BlstmConfig {
            input_dim: case.input_dim,
            hidden: case.hidden,
            layers: case.layers,
            output,
        };
        let store = VarStore::new(Device::Cpu);
        let model = Blstm::new(&store.root(), config).unwrap();
        let variables = store.variables();
        let golden_names: Vec<&str> = self
            .tensors
            .keys()
            .filter_map(|k| k.strip_prefix(&format!("{name}/param/")))
            .collect();
        assert_eq!(
            variables.len(),
            golden_names.len(),
            "parameter count differs from PyTorch's"
        );
        tch::no_grad(|| {
            for (var_name, mut var) in variables {
                var.copy_(self.get(&format!("{name}/param/{var_name}")));
            }
        });
        (store, model)
    }
}

fn max_abs_difference(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

#[test]
fn forward_equals_pytorch_for_classifier_and_regressor() {
    let golden = Golden::load();
    for name in ["classifier", "regressor"] {
        let (_store, model) = golden.model(name);
        let outputs = tch::no_grad(|| model.forward(golden.get(&format!("{name}/input"))).unwrap());
        let heads = model.config().head_widths().len();
        assert_eq!(outputs.len(), heads);
        for (i, output) in outputs.iter().enumerate() {
            let difference = max_abs_difference(output, golden.get(&format!("{name}/output/{i}")));
            assert!(
                difference <= 1e-5,
                "{name} head {i}: differs from PyTorch by {difference}"
            );
        }
    }
}

#[test]
fn adam_steps_with_weight_decay_equal_torch_optim_adam() {
    let golden = Golden::load();
    let name = "classifier";
    let settings = golden.cases[name].adam.as_ref().unwrap();
    let (store, model) = golden.model(name);
    let features = golden.get(&format!("{name}/input"));
    let heads = model.config().head_widths().len();
    let targets: Vec<&Tensor> = (0..heads)
        .map(|i| golden.get(&format!("{name}/target/{i}")))
        .collect();
    let mut adam = Adam::new(&store, settings.weight_decay);
    for _ in 0..settings.steps {
        adam.zero_grad();
        let outputs = model.forward(features).unwrap();
        let losses = outputs
            .iter()
            .zip(&targets)
            .map(|(o, t)| emoflow_loss::ce::ce(o, t).unwrap());
        losses.reduce(|a, b| a + b).unwrap().backward();
        adam.step(settings.lr).unwrap();
    }
    for (var_name, var) in store.variables() {
        let expected = golden.get(&format!("{name}/adam/{var_name}"));
        let difference = max_abs_difference(&var, expected);
        assert!(
            difference <= 1e-5,
            "{var_name}: differs from PyTorch's Adam by {difference}"
        );
        let moved = max_abs_difference(expected, golden.get(&format!("{name}/param/{var_name}")));
        assert!(
            moved > 1e-4,
            "{var_name}: golden Adam did not move it; the test would prove nothing"
        );
    }
}
