//! The paper's training protocol (step 2): Adam, one utterance per
//! minibatch, full backpropagation through time, two-stage early stopping
//! on dev CCC.
//!
//! * Stage 1: `stage1_epochs` epochs at `lr`, remembering the state (model
//!   and Adam moments) with the best dev CCC.
//! * At the end of stage 1 that best state is restored.
//! * Stage 2: after every epoch without a dev-CCC improvement the learning
//!   rate halves; training stops when it falls below `min_lr` or after
//!   `max_epochs` epochs in total. (The paper does not restore the best
//!   state within stage 2, and neither do we.)
//! * The result is the best state of the whole run.
//!
//! Determinism on the CPU: the initial weights and each epoch's utterance
//! order come from ChaCha streams keyed by the seed (and the epoch), not
//! from libtorch's process-wide generator (nothing else is random: no
//! dropout), and the thread count is fixed. So the random state needs no
//! saving, and a run resumed from a checkpoint replays exactly what the
//! uninterrupted run does.
//!
//! After every epoch a checkpoint is written (see [`crate::checkpoint`]); a
//! run finding a checkpoint of the same configuration and data resumes from
//! it. The cancel query is asked before every utterance; a cancelled run
//! stops with [`Error::Cancelled`] and resumes from the end of its last
//! complete epoch.

use std::path::PathBuf;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind, TchError, Tensor};

use crate::Error;
use crate::adam::Adam;
use crate::checkpoint::{self, Best, Progress, Snapshot};
use crate::network::{Blstm, BlstmConfig};
use crate::readout::{Readout, concordance, to_vec};

/// Training hyper-parameters; the defaults are the paper's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Learning rate of stage 1 (and the start of stage 2).
    pub lr: f64,
    /// Epochs of stage 1.
    pub stage1_epochs: usize,
    /// Epochs in total, both stages.
    pub max_epochs: usize,
    /// Stage 2 stops once the learning rate falls below this.
    pub min_lr: f64,
    /// L2 weight, added to the gradient as `weight_decay * parameter`
    /// (PyTorch Adam's `weight_decay`), on every parameter.
    pub weight_decay: f64,
    pub seed: u64,
    /// libtorch intra-op threads (CPU).
    pub threads: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            lr: 0.002,
            stage1_epochs: 20,
            max_epochs: 40,
            min_lr: 1e-5,
            weight_decay: 0.0,
            seed: 0,
            threads: 1,
        }
    }
}

/// One row of the training log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss over the epoch's utterances.
    pub loss: f64,
    /// CCC of the dev predictions, all dev utterances concatenated.
    pub dev_ccc: f64,
    /// Learning rate this epoch trained with.
    pub lr: f64,
    pub seconds: f64,
}

/// A training utterance: features `[T, D]` (float) and one target per head
/// (classes `[T]` int64 per task, or values `[T]` float).
#[derive(Debug)]
pub struct TrainUtterance {
    pub id: String,
    pub features: Tensor,
    pub targets: Vec<Tensor>,
}

/// A dev utterance: features and the continuous reference `[T]` the dev
/// CCC compares the read-out prediction with.
#[derive(Debug)]
pub struct DevUtterance {
    pub id: String,
    pub features: Tensor,
    pub reference: Tensor,
}

/// A loss as the trainer calls it: `(head output, head target) -> scalar`.
pub type Loss<'a> = &'a dyn Fn(&Tensor, &Tensor) -> Result<Tensor, TchError>;

/// Everything that defines a run besides its data.
pub struct TrainSetup<'a> {
    pub model: BlstmConfig,
    pub train: TrainConfig,
    pub device: Device,
    pub loss: Loss<'a>,
    /// Identifies the loss in the configuration hash (e.g. `loss.ccc`).
    pub loss_name: &'a str,
    pub readout: &'a Readout,
    /// Checkpoint file; its directory is created when missing.
    pub checkpoint: PathBuf,
}

/// The outcome: the best model of the run.
#[derive(Debug)]
pub struct Trained {
    pub store: VarStore,
    pub model: Blstm,
    pub log: Vec<EpochLog>,
    pub best: Best,
}

/// Trains (or resumes, or returns a finished run from its checkpoint).
/// `cancelled` is asked before every utterance (an `AtomicBool`, the SDK's
/// cancel query); `on_epoch` sees every log row as it is made (not the rows
/// of epochs restored from a checkpoint).
pub fn train(
    setup: &TrainSetup,
    train_set: &[TrainUtterance],
    dev_set: &[DevUtterance],
    cancelled: &dyn Fn() -> bool,
    on_epoch: &mut dyn FnMut(&EpochLog),
) -> Result<Trained, Error> {
    validate(setup, train_set, dev_set)?;
    let config = &setup.train;
    tch::set_num_threads(config.threads.max(1) as i32);
    let store = VarStore::new(setup.device);
    let model = Blstm::new(&store.root(), setup.model.clone())?;
    model.initialize(&store, config.seed)?;
    let mut adam = Adam::new(&store, config.weight_decay);
    let config_hash = configuration_hash(setup, train_set, dev_set)?;

    let (mut progress, mut best) =
        match checkpoint::read(&setup.checkpoint, adam.names(), setup.device)? {
            Some(loaded) => {
                if loaded.progress.config_hash != config_hash {
                    return Err(Error::Checkpoint {
                        path: setup.checkpoint.clone(),
                        message: "written by a run with another configuration or data; \
                              remove it or use another checkpoint path"
                            .into(),
                    });
                }
                loaded.current.restore(&mut adam)?;
                tracing::info!(
                    "resuming after epoch {} from {}",
                    loaded.progress.epochs_done,
                    setup.checkpoint.display()
                );
                (loaded.progress, loaded.best)
            }
            None => {
                let progress = Progress {
                    config_hash,
                    epochs_done: 0,
                    lr: config.lr,
                    steps: 0,
                    best: None,
                    finished: false,
                    log: vec![],
                };
                (progress, None)
            }
        };

    let device = setup.device;
    let on_device = |t: &Tensor| t.to_device(device);
    let train_data: Vec<(Tensor, Vec<Tensor>)> = train_set
        .iter()
        .map(|u| {
            (
                on_device(&u.features),
                u.targets.iter().map(on_device).collect(),
            )
        })
        .collect();
    let dev_features: Vec<Tensor> = dev_set.iter().map(|u| on_device(&u.features)).collect();
    let dev_reference: Vec<f32> = dev_set
        .iter()
        .map(|u| to_vec(&u.reference))
        .collect::<Result<Vec<_>, _>>()?
        .concat();

    while !progress.finished {
        let epoch = progress.epochs_done + 1;
        let started = Instant::now();
        let mut order: Vec<usize> = (0..train_set.len()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        rng.set_stream(epoch as u64);
        order.shuffle(&mut rng);

        let mut loss_sum = 0.0;
        for &index in &order {
            if cancelled() {
                return Err(Error::Cancelled { epoch });
            }
            let (features, targets) = &train_data[index];
            let value = training_step(
                &model,
                &mut adam,
                setup.loss,
                features,
                targets,
                progress.lr,
            )?;
            if !value.is_finite() {
                let utterance = train_set[index].id.clone();
                return Err(Error::NonFinite {
                    epoch,
                    utterance,
                    value,
                });
            }
            loss_sum += value;
        }

        let dev_ccc = evaluate(&model, setup.readout, &dev_features, &dev_reference)?;
        if dev_ccc.is_nan() {
            // Only a constant dev reference predicted exactly does this.
            return Err(Error::Data(format!(
                "dev CCC is undefined in epoch {epoch}: dev reference and prediction are the same constant"
            )));
        }
        let row = EpochLog {
            epoch,
            loss: loss_sum / train_set.len() as f64,
            dev_ccc,
            lr: progress.lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        on_epoch(&row);
        progress.log.push(row);
        progress.epochs_done = epoch;

        let improved = progress.best.is_none_or(|b| dev_ccc > b.dev_ccc);
        if improved {
            best = Some(Snapshot::capture(&adam));
            progress.best = Some(Best {
                epoch,
                dev_ccc,
                steps: adam.moments().steps,
            });
        }
        if epoch == config.stage1_epochs {
            if let Some(best) = &best {
                best.restore(&mut adam)?;
            }
        } else if epoch > config.stage1_epochs && !improved {
            progress.lr /= 2.0;
        }
        progress.finished = progress.lr < config.min_lr || epoch >= config.max_epochs;
        progress.steps = adam.moments().steps;
        checkpoint::write(&setup.checkpoint, &adam, best.as_ref(), &progress)?;
    }

    let (best, best_record) = best.zip(progress.best).ok_or_else(|| {
        Error::Data("training finished without a single epoch (max_epochs = 0?)".into())
    })?;
    best.restore(&mut adam)?;
    Ok(Trained {
        store,
        model,
        log: progress.log,
        best: best_record,
    })
}

/// One minibatch: forward one utterance, the loss summed over the heads,
/// backward, one Adam step. Returns the loss; when it is not finite nothing
/// is updated.
pub fn training_step(
    model: &Blstm,
    adam: &mut Adam,
    loss: Loss,
    features: &Tensor,
    targets: &[Tensor],
    lr: f64,
) -> Result<f64, TchError> {
    let outputs = model.forward(features)?;
    let mut total = loss(&outputs[0], &targets[0])?;
    for (output, target) in outputs.iter().zip(targets).skip(1) {
        total = total.f_add(&loss(output, target)?)?;
    }
    let value = total.f_double_value(&[])?;
    if value.is_finite() {
        adam.zero_grad();
        total.f_backward()?;
        adam.step(lr)?;
    }
    Ok(value)
}

/// Dev CCC of the read-out predictions over all dev utterances.
fn evaluate(
    model: &Blstm,
    readout: &Readout,
    features: &[Tensor],
    reference: &[f32],
) -> Result<f64, TchError> {
    let prediction = tch::no_grad(|| -> Result<Vec<f32>, TchError> {
        let mut all = Vec::with_capacity(reference.len());
        for utterance in features {
            all.extend(to_vec(&readout.values(&model.forward(utterance)?)?)?);
        }
        Ok(all)
    })?;
    Ok(concordance(&prediction, reference))
}

fn validate(
    setup: &TrainSetup,
    train_set: &[TrainUtterance],
    dev_set: &[DevUtterance],
) -> Result<(), Error> {
    let fail = |message: String| Err(Error::Data(message));
    if train_set.is_empty() || dev_set.is_empty() {
        return fail(format!(
            "need train and dev utterances, got {} and {}",
            train_set.len(),
            dev_set.len()
        ));
    }
    let widths = setup.model.head_widths();
    if widths != setup.readout.head_widths() {
        return fail(format!(
            "model heads {widths:?} and read-out codebooks {:?} disagree",
            setup.readout.head_widths()
        ));
    }
    if setup.train.max_epochs == 0 {
        return Err(Error::Invalid("max_epochs must be at least 1".into()));
    }
    let frames_of = |id: &str, features: &Tensor| -> Result<i64, Error> {
        match features.size()[..] {
            [frames, dim]
                if dim == setup.model.input_dim && frames > 0 && features.kind() == Kind::Float =>
            {
                Ok(frames)
            }
            _ => Err(Error::Data(format!(
                "utterance {id}: features must be float [frames > 0, {}], got {:?} {:?}",
                setup.model.input_dim,
                features.kind(),
                features.size()
            ))),
        }
    };
    for utterance in train_set {
        let frames = frames_of(&utterance.id, &utterance.features)?;
        if utterance.targets.len() != widths.len() {
            return fail(format!(
                "utterance {}: {} targets for {} heads",
                utterance.id,
                utterance.targets.len(),
                widths.len()
            ));
        }
        for (t, (target, &width)) in utterance.targets.iter().zip(&widths).enumerate() {
            if target.size() != [frames] {
                return fail(format!(
                    "utterance {}: target {t} has shape {:?}, the features {frames} frames",
                    utterance.id,
                    target.size()
                ));
            }
            if target.kind() == Kind::Int64 {
                let (low, high) = (target.min().int64_value(&[]), target.max().int64_value(&[]));
                if low < 0 || high >= width {
                    return fail(format!(
                        "utterance {}: task {t} has classes in [{low}, {high}], the head {width} classes",
                        utterance.id
                    ));
                }
            }
        }
    }
    for utterance in dev_set {
        let frames = frames_of(&utterance.id, &utterance.features)?;
        if utterance.reference.size() != [frames] {
            return fail(format!(
                "dev utterance {}: reference has shape {:?}, the features {frames} frames",
                utterance.id,
                utterance.reference.size()
            ));
        }
    }
    Ok(())
}

/// blake3 over the configuration (model, training, loss, read-out) and
/// the data, so a checkpoint is only resumed by a run of the same problem.
fn configuration_hash(
    setup: &TrainSetup,
    train_set: &[TrainUtterance],
    dev_set: &[DevUtterance],
) -> Result<String, TchError> {
    let mut hasher = blake3::Hasher::new();
    // The thread count is left out: a rerun with another thread budget may
    // resume (its results can differ in the last bits, nothing more).
    let train = TrainConfig {
        threads: 0,
        ..setup.train.clone()
    };
    let description = serde_json::json!({
        "model": setup.model,
        "train": train,
        "loss": setup.loss_name,
        "readout": format!("{:?}", setup.readout),
    });
    hasher.update(description.to_string().as_bytes());
    let mut add = |tensor: &Tensor| -> Result<(), TchError> {
        let bytes = tensor
            .f_contiguous()?
            .f_view_dtype(Kind::Uint8)?
            .f_flatten(0, -1)?;
        hasher.update(&Vec::<u8>::try_from(bytes)?);
        Ok(())
    };
    for utterance in train_set {
        add(&utterance.features)?;
        utterance.targets.iter().try_for_each(&mut add)?;
    }
    for utterance in dev_set {
        add(&utterance.features)?;
        add(&utterance.reference)?;
    }
    Ok(hasher.finalize().to_hex().to_string())
}
