//! `model.blstm`'s predictions: one model's over every utterance, and the
//! mean over an ensemble's seeds.

use emoflow_sdk::prelude::*;
use tch::{Device, TchError, Tensor};

use crate::blstm::Predictions;
use crate::network::Blstm;
use crate::problem::Problem;
use crate::readout::{Readout, to_vec};

/// Posteriors (classifier) and values of every utterance.
pub(crate) fn predict(
    model: &Blstm,
    problem: &Problem,
    features: &[FeatureRow],
    device: Device,
) -> std::result::Result<Predictions, TchError> {
    let mut posteriors = Vec::new();
    let mut values = Vec::new();
    tch::no_grad(|| {
        for row in features {
            let input = Tensor::f_from_slice(&row.frames)?
                .f_view([row.num_frames() as i64, row.dims as i64])?
                .f_to_device(device)?;
            let outputs = model.forward(&input)?;
            if let Readout::Classifier(codebooks) = &problem.readout {
                for ((logits, codebook), task) in outputs.iter().zip(codebooks).zip(&problem.tasks)
                {
                    // Plain posteriors: the decoders divide by the priors
                    // (CLS-Raw is argmax after prior scaling); scaling here
                    // too would divide twice.
                    let posterior = logits.f_softmax(1, logits.kind())?;
                    posteriors.push(PosteriorsRow {
                        utt_id: row.utt_id.clone(),
                        split: row.split,
                        dim: problem.dim.clone(),
                        task: task.clone(),
                        num_classes: codebook.means.len() as u32,
                        frame_period: row.frame_period,
                        posteriors: to_vec(&posterior)?,
                    });
                }
            }
            values.push(SeriesRow {
                utt_id: row.utt_id.clone(),
                split: row.split,
                dim: problem.dim.clone(),
                frame_period: row.frame_period,
                values: to_vec(&problem.readout.values(&outputs)?)?,
            });
        }
        Ok((posteriors, values))
    })
}

/// The predictions of an ensemble's models, summed as they come.
#[derive(Default)]
pub(crate) struct Ensemble {
    posteriors: Vec<PosteriorsRow>,
    values: Vec<SeriesRow>,
    models: usize,
}

impl Ensemble {
    /// Adds one model's predictions (same utterances, same order).
    pub(crate) fn add(&mut self, posteriors: Vec<PosteriorsRow>, values: Vec<SeriesRow>) {
        self.models += 1;
        if self.models == 1 {
            (self.posteriors, self.values) = (posteriors, values);
            return;
        }
        let sum =
            |into: &mut [f32], from: &[f32]| into.iter_mut().zip(from).for_each(|(a, b)| *a += b);
        for (a, b) in self.posteriors.iter_mut().zip(&posteriors) {
            sum(&mut a.posteriors, &b.posteriors);
        }
        for (a, b) in self.values.iter_mut().zip(&values) {
            sum(&mut a.values, &b.values);
        }
    }

    /// The mean over the models.
    pub(crate) fn mean(mut self) -> Predictions {
        let scale = 1.0 / self.models.max(1) as f32;
        self.posteriors
            .iter_mut()
            .flat_map(|r| r.posteriors.iter_mut())
            .for_each(|x| *x *= scale);
        self.values
            .iter_mut()
            .flat_map(|r| r.values.iter_mut())
            .for_each(|x| *x *= scale);
        (self.posteriors, self.values)
    }
}
