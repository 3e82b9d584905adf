//! Adam with its moments in plain tensors, so a checkpoint can save and
//! restore them and a resumed run continues exactly (tch's `nn::Optimizer`
//! wraps the C++ optimiser and does not expose its state).
//!
//! Same update as `torch.optim.Adam` (L2 `weight_decay` added to the
//! gradient, bias-corrected moments); tests/golden_blstm.rs checks the
//! parameters after a few steps against PyTorch's.

use tch::nn::VarStore;
use tch::{TchError, Tensor};

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPSILON: f64 = 1e-8;

/// The optimiser's state besides the parameters themselves.
#[derive(Debug)]
pub struct Moments {
    /// First moments, in the order of [`Adam::names`].
    pub first: Vec<Tensor>,
    /// Second moments, same order.
    pub second: Vec<Tensor>,
    /// Steps taken (for the bias correction).
    pub steps: i64,
}

impl Moments {
    /// An independent copy (same device).
    pub fn deep_copy(&self) -> Moments {
        let copy = |tensors: &[Tensor]| tensors.iter().map(Tensor::copy).collect();
        Moments {
            first: copy(&self.first),
            second: copy(&self.second),
            steps: self.steps,
        }
    }
}

/// Adam over all trainable variables of a var store.
#[derive(Debug)]
pub struct Adam {
    names: Vec<String>,
    parameters: Vec<Tensor>,
    moments: Moments,
    weight_decay: f64,
}

impl Adam {
    /// Covers the store's variables in name order (a stable order for
    /// checkpoints), with zero moments.
    pub fn new(store: &VarStore, weight_decay: f64) -> Adam {
        let mut named: Vec<(String, Tensor)> = store.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let (names, parameters): (Vec<_>, Vec<_>) = named.into_iter().unzip();
        let zeros = || parameters.iter().map(Tensor::zeros_like).collect();
        let moments = Moments {
            first: zeros(),
            second: zeros(),
            steps: 0,
        };
        Adam {
            names,
            parameters,
            moments,
            weight_decay,
        }
    }

    /// Variable names, the order of [`Adam::parameters`] and the moments.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The variables themselves (shallow handles: writing them writes the
    /// model).
    pub fn parameters(&self) -> &[Tensor] {
        &self.parameters
    }

    pub fn moments(&self) -> &Moments {
        &self.moments
    }

    /// Replaces the moments (on resume, or when restoring the best state).
    pub fn set_moments(&mut self, moments: Moments) -> Result<(), TchError> {
        if moments.first.len() != self.parameters.len()
            || moments.second.len() != self.parameters.len()
        {
            return Err(TchError::Shape(format!(
                "Adam state has {} moments for {} parameters",
                moments.first.len(),
                self.parameters.len()
            )));
        }
        for (i, (first, second)) in moments.first.iter().zip(&moments.second).enumerate() {
            let expected = self.parameters[i].size();
            if first.size() != expected || second.size() != expected {
                return Err(TchError::Shape(format!(
                    "Adam moments of {} have shape {:?}, the parameter {expected:?}",
                    self.names[i],
                    first.size()
                )));
            }
        }
        self.moments = moments;
        Ok(())
    }

    /// Clears the gradients before the next backward pass.
    pub fn zero_grad(&mut self) {
        for parameter in &mut self.parameters {
            parameter.zero_grad();
        }
    }

    /// One update with learning rate `lr` from the current gradients.
    /// Parameters without a gradient are left alone, as PyTorch does.
    pub fn step(&mut self, lr: f64) -> Result<(), TchError> {
        self.moments.steps += 1;
        let steps = self.moments.steps as i32;
        let step_size = lr / (1.0 - BETA1.powi(steps));
        let correction2_sqrt = (1.0 - BETA2.powi(steps)).sqrt();
        tch::no_grad(|| {
            let moments = self
                .moments
                .first
                .iter_mut()
                .zip(self.moments.second.iter_mut());
            // The in-place operations return their target again: dropped.
            for (parameter, (first, second)) in self.parameters.iter_mut().zip(moments) {
                let mut gradient = parameter.grad();
                if !gradient.defined() {
                    continue;
                }
                if self.weight_decay != 0.0 {
                    gradient = gradient.f_add(&parameter.f_mul_scalar(self.weight_decay)?)?;
                }
                _ = first.f_lerp_(&gradient, 1.0 - BETA1)?;
                _ = second.f_mul_scalar_(BETA2)?;
                _ = second.f_addcmul_(&gradient.f_mul_scalar(1.0 - BETA2)?, &gradient)?;
                let denominator = second
                    .f_sqrt()?
                    .f_div_scalar(correction2_sqrt)?
                    .f_add_scalar(EPSILON)?;
                _ = parameter.f_addcdiv_(&first.f_mul_scalar(-step_size)?, &denominator)?;
            }
            Ok(())
        })
    }
}
