//! The deep bidirectional LSTM with multi-task heads (paper, step 2).
//!
//! Equal to PyTorch's `nn.LSTM(D, H, num_layers=L, bidirectional=True)`
//! followed by one `nn.Linear(2H, K_t)` per task (or one `nn.Linear(2H, 1)`
//! for the regressor), with PyTorch's parameter names
//! (`lstm.weight_ih_l0_reverse`, `heads.1.bias`, ...): it calls the same
//! libtorch LSTM kernel (cuDNN on CUDA), so weights move between the two
//! unchanged. Golden test: tests/golden_blstm.rs.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::nn::{self, Init, RNN};
use tch::{TchError, Tensor};

/// What the network outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// One softmax head per task (discretizer); `classes[t]` = K_t. The
    /// heads return logits; the losses and the read-out apply the softmax.
    Classifier { classes: Vec<i64> },
    /// One linear output per frame.
    Regressor,
}

/// Shape of the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlstmConfig {
    /// Feature dimension D (160 in the paper).
    pub input_dim: i64,
    /// LSTM units per direction (80 in the paper: 160 per layer).
    pub hidden: i64,
    /// Stacked bidirectional layers (3, 4 or 5 in the paper).
    pub layers: i64,
    pub output: Output,
}

impl BlstmConfig {
    /// Width of each head: K_t per task, or 1 for the regressor.
    pub fn head_widths(&self) -> Vec<i64> {
        match &self.output {
            Output::Classifier { classes } => classes.clone(),
            Output::Regressor => vec![1],
        }
    }

    fn validate(&self) -> Result<(), TchError> {
        let bad = |what: String| Err(TchError::Shape(format!("model.blstm: {what}")));
        if self.input_dim < 1 || self.hidden < 1 || self.layers < 1 {
            return bad(format!(
                "input_dim, hidden and layers must be positive, got {}, {}, {}",
                self.input_dim, self.hidden, self.layers
            ));
        }
        if let Output::Classifier { classes } = &self.output
            && (classes.is_empty() || classes.iter().any(|&k| k < 2))
        {
            return bad(format!(
                "a classifier needs tasks of 2 or more classes, got {classes:?}"
            ));
        }
        Ok(())
    }
}

/// The network. Its variables live in the `nn::Path` it was built in.
#[derive(Debug)]
pub struct Blstm {
    lstm: nn::LSTM,
    heads: Vec<nn::Linear>,
    config: BlstmConfig,
}

impl Blstm {
    /// Creates the variables under `path` (`lstm.*`, `heads.I.*`) with
    /// PyTorch's default initialisation (see [`Blstm::init_bound`]), drawn
    /// from libtorch's global generator; [`Blstm::initialize`] redraws them
    /// from a seed alone.
    pub fn new(path: &nn::Path, config: BlstmConfig) -> Result<Self, TchError> {
        config.validate()?;
        let bound = Self::init_bound(&config, "lstm");
        let uniform = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let lstm_config = nn::RNNConfig {
            num_layers: config.layers,
            bidirectional: true,
            batch_first: false,
            w_ih_init: uniform,
            w_hh_init: uniform,
            b_ih_init: Some(uniform),
            b_hh_init: Some(uniform),
            ..Default::default()
        };
        let lstm = nn::lstm(path / "lstm", config.input_dim, config.hidden, lstm_config);
        let width = 2 * config.hidden;
        let head_bound = Self::init_bound(&config, "heads");
        let head_init = Init::Uniform {
            lo: -head_bound,
            up: head_bound,
        };
        let head_config = nn::LinearConfig {
            ws_init: head_init,
            bs_init: Some(head_init),
            bias: true,
        };
        let heads_path = path / "heads";
        let heads = config
            .head_widths()
            .into_iter()
            .enumerate()
            .map(|(i, k)| nn::linear(&heads_path / i, width, k, head_config))
            .collect();
        Ok(Blstm {
            lstm,
            heads,
            config,
        })
    }

    /// PyTorch's default initialisation is uniform in ±1/sqrt(fan), fan =
    /// H for the LSTM and the heads' input width 2H for the heads.
    fn init_bound(config: &BlstmConfig, part: &str) -> f64 {
        let fan = if part == "lstm" {
            config.hidden
        } else {
            2 * config.hidden
        };
        1.0 / (fan as f64).sqrt()
    }

    /// Redraws every variable of `store` (which must hold exactly this
    /// network, built at its root) from the same distributions as
    /// [`Blstm::new`], with a ChaCha stream keyed by `seed`, in name order.
    /// Unlike libtorch's global generator this depends on nothing else in
    /// the process (concurrent trainings, other seeds).
    pub fn initialize(&self, store: &nn::VarStore, seed: u64) -> Result<(), TchError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut variables: Vec<(String, Tensor)> = store.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, mut variable) in variables {
            let part = name.split('.').next().unwrap_or_default();
            let bound = Self::init_bound(&self.config, part);
            let values: Vec<f32> = (0..variable.numel())
                .map(|_| rng.random_range(-bound..bound) as f32)
                .collect();
            let values = Tensor::f_from_slice(&values)?.f_view(variable.size().as_slice())?;
            tch::no_grad(|| variable.f_copy_(&values))?;
        }
        Ok(())
    }

    pub fn config(&self) -> &BlstmConfig {
        &self.config
    }

    /// Runs one utterance, `features` `[T, D]` on the variables' device.
    /// Returns one tensor per head: logits `[T, K_t]` for a classifier,
    /// values `[T]` for the regressor.
    pub fn forward(&self, features: &Tensor) -> Result<Vec<Tensor>, TchError> {
        let size = features.size();
        if size.len() != 2 || size[1] != self.config.input_dim {
            return Err(TchError::Shape(format!(
                "model.blstm: features must be [frames, {}], got {size:?}",
                self.config.input_dim
            )));
        }
        // The LSTM runs time-major with a batch of one utterance.
        let (hidden, _) = self
            .lstm
            .seq_init(&features.f_unsqueeze(1)?, &self.lstm.zero_state(1));
        let hidden = hidden.f_squeeze_dim(1)?;
        let outputs = self.heads.iter().map(|head| hidden.apply(head));
        Ok(match self.config.output {
            Output::Classifier { .. } => outputs.collect(),
            Output::Regressor => outputs.map(|values| values.squeeze_dim(1)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn build(seed: u64) -> (nn::VarStore, Blstm) {
        let store = nn::VarStore::new(Device::Cpu);
        let config = BlstmConfig {
            input_dim: 3,
            hidden: 4,
            layers: 2,
            output: Output::Classifier {
                classes: vec![2, 5],
            },
        };
        let model = Blstm::new(&store.root(), config).unwrap();
        model.initialize(&store, seed).unwrap();
        (store, model)
    }

    #[test]
    fn initialize_depends_on_the_seed_alone_and_keeps_pytorch_bounds() {
        let (a, _) = build(3);
        tch::manual_seed(99); // libtorch's generator must not matter
        let (b, _) = build(3);
        let (c, _) = build(4);
        for (name, x) in a.variables() {
            assert!(
                x.equal(&b.variables()[&name]),
                "{name} differs for the same seed"
            );
            assert!(
                !x.equal(&c.variables()[&name]),
                "{name} equal for another seed"
            );
            let bound = if name.starts_with("lstm.") {
                0.5
            } else {
                1.0 / 8f64.sqrt()
            };
            assert!(
                x.abs().max().double_value(&[]) <= bound,
                "{name} exceeds ±{bound}"
            );
        }
    }

    #[test]
    fn forward_gives_one_output_per_head_and_rejects_wrong_feature_width() {
        let (_store, model) = build(1);
        let outputs = model
            .forward(&Tensor::zeros([7, 3], (tch::Kind::Float, Device::Cpu)))
            .unwrap();
        let shapes: Vec<Vec<i64>> = outputs.iter().map(Tensor::size).collect();
        assert_eq!(shapes, vec![vec![7, 2], vec![7, 5]]);
        let error = model
            .forward(&Tensor::zeros([7, 4], (tch::Kind::Float, Device::Cpu)))
            .unwrap_err();
        assert!(error.to_string().contains("[frames, 3]"), "{error}");
    }

    #[test]
    fn configuration_errors_name_the_problem() {
        let store = nn::VarStore::new(Device::Cpu);
        let config = BlstmConfig {
            input_dim: 3,
            hidden: 4,
            layers: 2,
            output: Output::Classifier { classes: vec![1] },
        };
        let error = Blstm::new(&store.root(), config).unwrap_err().to_string();
        assert!(error.contains("2 or more classes"), "{error}");
    }
}
