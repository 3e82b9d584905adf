//! `model.blstm`: trains the paper's deep BLSTM and predicts every
//! utterance with the best model, or (`weights`) predicts with models it
//! saved before.
//!
//! * Classifier (the `classes` and `codebook` inputs wired): one softmax
//!   head per task (discretizer) of the dimension, trained on the class
//!   sequences. Outputs class posteriors per task (the decoders apply the
//!   prior scaling) and, as `values`, the average over tasks of the cluster
//!   mean of the best class after prior scaling (what `decode.argmax` gives).
//! * Regressor (`labels` wired, `classes` not): one linear output trained on
//!   the continuous labels; `values` is its output, `posteriors` is empty.
//!
//! The loss comes from the `loss` input (required to train): a loss node's
//! tensor function, called through the plugin ABI. Training follows [`crate::train`]: dev CCC
//! (all dev utterances concatenated) against the `labels` series when wired,
//! otherwise against the reconstruction of the gold classes. One model per
//! dimension; the best is saved to the artifact directory as
//! `model-<tag>.safetensors` (PyTorch parameter names) with its card
//! `model-<tag>.json` (dimension, seed, network, tasks, parameters, best
//! epoch), beside the resumable `checkpoint-<tag>.safetensors`; the tag is
//! `<dim>`, or `<dim>-seed<N>` in an ensemble (`seeds`).
//!
//! Weights mode (`weights` = such a directory, e.g. an exported bundle): no
//! training. Every card there (only those of `dim` when given) is rebuilt
//! from its network configuration and saved weights, and predicts every
//! utterance of `features`, whatever its split; a dimension's seeds are
//! averaged in the order they were trained in, so the outputs equal the
//! training run's. Classifier cards read out through the `codebook` input
//! (their tasks pick its rows); `classes`, `labels` and `loss` are ignored
//! and `log` is empty.
//!
//! Alignment: features and labels (or classes) whose lengths differ by at
//! most `max_length_mismatch` frames are both cut to the shorter for
//! training (the metrics' rule); predictions cover every feature frame.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use emoflow_sdk::arrow::array::{
    ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use emoflow_sdk::arrow::datatypes::{Field, Schema};
use emoflow_sdk::conventions::shows;
use emoflow_sdk::prelude::*;
use emoflow_sdk_tch::ContextExt;
use serde::{Deserialize, Serialize};
use tch::{Device, TchError, Tensor};

use crate::device::DeviceChoice;
use crate::ensemble::{Ensemble, predict};
use crate::model_card::{self, load_model, model_tag, save_model, saved_models, weights_beside};
use crate::network::Output;
use crate::problem::{Problem, classifier_readout};
use crate::readout::Readout;
use crate::train::{EpochLog, TrainConfig, TrainSetup, Trained, train};

/// Parameters of `model.blstm`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Stacked bidirectional LSTM layers (the paper: 3, 4 or 5).
    #[serde(default = "default_layers")]
    #[schemars(range(min = 1, max = 16))]
    pub layers: i64,
    /// LSTM units per direction (the paper: 80, so 160 per layer).
    #[serde(default = "default_hidden")]
    #[schemars(range(min = 1, max = 4096))]
    pub hidden: i64,
    /// Adam learning rate of stage 1 (and the start of stage 2).
    #[serde(default = "default_lr")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub lr: f64,
    /// Epochs of stage 1 at the initial learning rate; the best of them is
    /// restored before stage 2.
    #[serde(default = "default_stage1_epochs")]
    #[schemars(range(min = 0, max = 10000))]
    pub stage1_epochs: usize,
    /// Epochs in total, both stages.
    #[serde(default = "default_max_epochs")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_epochs: usize,
    /// Stage 2 halves the learning rate after every epoch without a dev-CCC
    /// improvement and stops once it falls below this.
    #[serde(default = "default_min_lr")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_lr: f64,
    /// L2 weight (added to the gradient as l2 * parameter, PyTorch Adam's
    /// weight_decay); the paper tries 0 and 2e-5.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub l2: f64,
    /// Seed of the initial weights and of the utterance order.
    #[serde(default)]
    pub seed: u64,
    /// An ensemble: one model per seed, their predictions (posteriors and
    /// values) averaged, as the paper combines its 3 seeds. Overrides `seed`.
    #[serde(default)]
    pub seeds: Option<Vec<u64>>,
    /// The dimension to model (e.g. `arousal`); by default one model per
    /// dimension of the labels.
    #[serde(default)]
    pub dim: Option<String>,
    /// Classifier: the tasks (discretizers, e.g. `k4`) to use as heads; by
    /// default every task of the dimension, ordered by class count.
    #[serde(default)]
    pub tasks: Option<Vec<String>>,
    /// Predict with trained models instead of training: a directory holding
    /// `model-*.json` cards and `model-*.safetensors` weights as this node
    /// writes them to its artifact directory. Their cards fix the network,
    /// tasks and seeds; `dim` and `device` still apply, the other training
    /// parameters do not. The cache keys this path, not the files in it: a
    /// graph that replaces them in place must run with `--no-cache`
    /// (`emoflow predict` does not cache).
    #[serde(default)]
    pub weights: Option<String>,
    /// Overrides the run's device: `auto`, `cpu` or `cuda:N`.
    #[serde(default)]
    pub device: Option<String>,
    /// libtorch threads of this node on the CPU. Fixed by the graph, not by
    /// `--jobs`, because the thread count changes the order of floating-point
    /// sums and so the trained weights; the host reserves this many of
    /// `--jobs` while the node runs. One thread per training and more
    /// trainings at once is the faster way through a sweep.
    #[serde(default = "default_threads")]
    #[schemars(range(min = 1, max = 256))]
    pub threads: usize,
    /// Largest length difference between features and labels (or classes),
    /// in frames, absorbed by cutting both to the shorter; more is an error.
    #[serde(default = "default_max_length_mismatch")]
    #[schemars(range(min = 0, max = 1000))]
    pub max_length_mismatch: usize,
}

impl Params {
    /// The seeds to train, in the order their predictions are summed.
    pub(crate) fn seed_list(&self) -> Vec<u64> {
        self.seeds.clone().unwrap_or_else(|| vec![self.seed])
    }
}

fn default_layers() -> i64 {
    3
}
fn default_hidden() -> i64 {
    80
}
fn default_lr() -> f64 {
    TrainConfig::default().lr
}
fn default_stage1_epochs() -> usize {
    TrainConfig::default().stage1_epochs
}
fn default_max_epochs() -> usize {
    TrainConfig::default().max_epochs
}
fn default_min_lr() -> f64 {
    TrainConfig::default().min_lr
}
fn default_threads() -> usize {
    1
}
fn default_max_length_mismatch() -> usize {
    2
}

/// The `model.blstm` kind.
pub fn spec() -> KindSpec {
    KindSpec::new("model.blstm", file!())
        .doc(
            "The paper's deep bidirectional LSTM: a multi-task classifier over discretized labels \
             (classes + codebook wired) or a regressor (labels wired), trained with Adam and \
             two-stage early stopping on dev CCC; predicts every utterance with the best model. \
             With `weights`, predicts with the models saved in that directory instead of training.",
        )
        .input("features", port::FEATURES, "frame features of every utterance, all splits")
        .optional_input("classes", port::CLASSES, "classifier targets: class sequences per task")
        .optional_input("codebook", port::CODEBOOK, "classifier: class means and training priors per task")
        .optional_input(
            "labels",
            port::SERIES,
            "regressor targets; for a classifier the dev reference (else the gold classes' reconstruction)",
        )
        .optional_input("loss", port::LOSS, "the loss node (loss.*) to train with; required unless `weights` is set")
        .output("posteriors", port::POSTERIORS, "classifier: class posteriors per task, not prior-scaled (empty for a regressor)")
        .output("values", port::SERIES, "continuous predictions of every utterance")
        .output("log", port::TABLE, "training log: dim, seed, epoch, loss, dev_ccc, lr, seconds (empty with `weights`)")
        .shows(shows::CURVES)
        // libtorch's thread settings are process-wide, and a training is
        // long work that Ctrl-C and crashes should reach alone.
        .own_process()
        .threads_param("threads")
        .export(ModelExport::new("weights", &model_card::ARTIFACTS).dim("dim"))
        .create(BlstmNode::new)
}

struct BlstmNode {
    params: Params,
    device: Option<DeviceChoice>,
}

impl BlstmNode {
    fn new(params: Params) -> Result<Self> {
        let device = params
            .device
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(Error::invalid)?;
        if params.seeds.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::invalid(
                "`seeds` must list at least one seed (or use `seed`)",
            ));
        }
        if params.tasks.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::invalid("`tasks` must name at least one task"));
        }
        Ok(Self { params, device })
    }
}

/// The inputs, read whole.
pub(crate) struct Data {
    pub(crate) features: Vec<FeatureRow>,
    /// Classifier: classes rows and codebook rows.
    pub(crate) classes: Option<(Vec<ClassesRow>, Vec<CodebookRow>)>,
    pub(crate) labels: Option<Vec<SeriesRow>>,
}

/// Posteriors (classifier) and values of every utterance.
pub(crate) type Predictions = (Vec<PosteriorsRow>, Vec<SeriesRow>);

/// Rows of the training log: dimension, seed, epoch.
type LogRows = Vec<(String, u64, EpochLog)>;

impl Node for BlstmNode {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let features = FeatureRow::read_all(&inputs.batches("features")?)?;
        let ((posteriors, values), log) = match &self.params.weights {
            Some(dir) => (
                self.predict_saved(ctx, Path::new(dir), &features, &mut inputs)?,
                vec![],
            ),
            None => self.train_and_predict(ctx, features, &mut inputs)?,
        };
        Ok(Outputs::new()
            .with_batch("posteriors", PosteriorsRow::write(&posteriors)?)
            .with_batch("values", SeriesRow::write(&values)?)
            .with_batch("log", log_table(&log)?))
    }

    /// With `weights`, the cards and weights `predict_saved` loads.
    fn input_files(&self) -> Result<Vec<PathBuf>> {
        let Some(dir) = &self.params.weights else {
            return Ok(Vec::new());
        };
        let models = saved_models(Path::new(dir), self.params.dim.as_deref())?;
        Ok(models
            .into_values()
            .flatten()
            .flat_map(|(card, _)| [weights_beside(&card), card])
            .collect())
    }
}

impl BlstmNode {
    /// The `device` parameter, else the run's device.
    fn device(&self, ctx: &Context) -> Result<Device> {
        let choice = match self.device {
            Some(choice) => choice,
            None => ctx.device().parse().map_err(Error::invalid)?,
        };
        choice.resolve().map_err(Error::invalid)
    }

    fn train_and_predict(
        &self,
        ctx: &Context,
        features: Vec<FeatureRow>,
        inputs: &mut Inputs,
    ) -> Result<(Predictions, LogRows)> {
        let loss_rows = inputs
            .optional_batches("loss")?
            .map(|b| LossRow::read_all(&b))
            .transpose()?
            .ok_or_else(|| {
                Error::invalid(
                    "training needs a loss: wire a loss node (loss.*) to `loss` \
                     (or set `weights` to predict with trained models)",
                )
            })?;
        let [loss] = loss_rows.as_slice() else {
            return Err(Error::invalid(format!(
                "input `loss` must hold one loss, got {}",
                loss_rows.len()
            )));
        };
        let classes = inputs
            .optional_batches("classes")?
            .map(|b| ClassesRow::read_all(&b))
            .transpose()?;
        let codebook = inputs
            .optional_batches("codebook")?
            .map(|b| CodebookRow::read_all(&b))
            .transpose()?;
        let labels = inputs
            .optional_batches("labels")?
            .map(|b| SeriesRow::read_all(&b))
            .transpose()?;
        let classes = match (classes, codebook) {
            (Some(classes), Some(codebook)) => Some((classes, codebook)),
            (None, None) => None,
            _ => {
                return Err(Error::invalid(
                    "a classifier needs both `classes` and `codebook` wired",
                ));
            }
        };
        if classes.is_none() && labels.is_none() {
            return Err(Error::invalid(
                "wire `classes` + `codebook` (classifier) or `labels` (regressor)",
            ));
        }
        let data = Data {
            features,
            classes,
            labels,
        };
        let device = self.device(ctx)?;
        tracing::info!("model.blstm on {device:?} with {}", loss.kind);

        let tensor_fn = ctx.tensor_fn(&loss.kind, &loss.params);
        let call = |output: &Tensor, target: &Tensor| -> std::result::Result<Tensor, TchError> {
            tensor_fn
                .call(&[output, target])
                .map_err(|e| TchError::Torch(e.message))
        };
        let loss_fn = LossFn {
            call: &call,
            name: &loss.kind,
        };
        let seeds = self.params.seed_list();
        let mut posteriors = Vec::new();
        let mut values = Vec::new();
        let mut log = Vec::new();
        for dim in self.dims(&data)? {
            let problem = Problem::build(&self.params, &data, &dim)?;
            let mut ensemble = Ensemble::default();
            for &seed in &seeds {
                let tag = model_tag(&dim, &seeds, seed);
                let trained = self
                    .train(ctx, &problem, device, &loss_fn, seed, &tag)
                    .map_err(|e| {
                        Error::from(e)
                            .context(format!("model.blstm, dimension `{dim}`, seed {seed}"))
                    })?;
                save_model(ctx, &tag, seed, &problem, &trained, &self.params)
                    .map_err(|e| Error::from(e).context(format!("saving the model of `{tag}`")))?;
                let (p, v) = predict(&trained.model, &problem, &data.features, device)
                    .map_err(|e| Error::failed(format!("predicting `{tag}`: {e}")))?;
                ensemble.add(p, v);
                log.extend(trained.log.into_iter().map(|row| (dim.clone(), seed, row)));
            }
            let (p, v) = ensemble.mean();
            posteriors.extend(p);
            values.extend(v);
        }
        Ok(((posteriors, values), log))
    }

    /// Weights mode: the models saved in `dir` predict every utterance.
    fn predict_saved(
        &self,
        ctx: &Context,
        dir: &Path,
        features: &[FeatureRow],
        inputs: &mut Inputs,
    ) -> Result<Predictions> {
        let codebook = inputs
            .optional_batches("codebook")?
            .map(|b| CodebookRow::read_all(&b))
            .transpose()?;
        let models = saved_models(dir, self.params.dim.as_deref())?;
        let device = self.device(ctx)?;
        tracing::info!(
            "model.blstm on {device:?} with the models of {}",
            dir.display()
        );
        // Training predicts with this thread count too (see `train`), so
        // the results are the same.
        tch::set_num_threads(self.params.threads as i32);
        let mut posteriors = Vec::new();
        let mut values = Vec::new();
        for (dim, cards) in models {
            let mut ensemble = Ensemble::default();
            for (path, card) in cards {
                let at = |e: Error| e.context(path.display());
                if let Some(row) = features
                    .iter()
                    .find(|r| r.dims as i64 != card.network.input_dim)
                {
                    return Err(at(Error::data(format!(
                        "the model takes {}-dimensional features, utterance `{}` has {}",
                        card.network.input_dim, row.utt_id, row.dims
                    ))));
                }
                let readout = match &card.network.output {
                    Output::Regressor => Readout::Regressor,
                    Output::Classifier { classes } => {
                        let codebook = codebook.as_deref().ok_or_else(|| {
                            at(Error::invalid(
                                "a classifier: wire `codebook` (the class means and priors of its tasks) for its read-out",
                            ))
                        })?;
                        let (_, readout) =
                            classifier_readout(codebook, &dim, &card.tasks).map_err(at)?;
                        if readout.head_widths() != *classes {
                            return Err(at(Error::data(format!(
                                "the codebook's tasks {:?} have {:?} classes, the model's heads {classes:?}",
                                card.tasks,
                                readout.head_widths()
                            ))));
                        }
                        readout
                    }
                };
                let model = load_model(&path, &card.network, device)?;
                let problem = Problem {
                    dim: dim.clone(),
                    config: card.network,
                    readout,
                    tasks: card.tasks,
                    train: vec![],
                    dev: vec![],
                };
                let (p, v) = predict(&model, &problem, features, device)
                    .map_err(|e| at(Error::failed(format!("predicting: {e}"))))?;
                ensemble.add(p, v);
            }
            let (p, v) = ensemble.mean();
            posteriors.extend(p);
            values.extend(v);
        }
        Ok((posteriors, values))
    }
}

impl BlstmNode {
    /// The dimensions to model: the `dim` parameter, or every dimension of
    /// the targets.
    fn dims(&self, data: &Data) -> Result<Vec<String>> {
        let available: BTreeSet<String> = match (&data.classes, &data.labels) {
            (Some((classes, _)), _) => classes.iter().map(|r| r.dim.clone()).collect(),
            (None, Some(labels)) => labels.iter().map(|r| r.dim.clone()).collect(),
            (None, None) => BTreeSet::new(),
        };
        match &self.params.dim {
            Some(dim) if available.contains(dim) => Ok(vec![dim.clone()]),
            Some(dim) => Err(Error::invalid(format!(
                "dimension `{dim}` is not in the targets (they have {available:?})"
            ))),
            None if available.is_empty() => Err(Error::data("the targets hold no rows")),
            None => Ok(available.into_iter().collect()),
        }
    }

    fn train(
        &self,
        ctx: &Context,
        problem: &Problem,
        device: Device,
        loss: &LossFn,
        seed: u64,
        tag: &str,
    ) -> std::result::Result<Trained, crate::Error> {
        let p = &self.params;
        let setup = TrainSetup {
            model: problem.config.clone(),
            train: TrainConfig {
                lr: p.lr,
                stage1_epochs: p.stage1_epochs,
                max_epochs: p.max_epochs,
                min_lr: p.min_lr,
                weight_decay: p.l2,
                seed,
                threads: p.threads,
            },
            device,
            loss: loss.call,
            loss_name: loss.name,
            readout: &problem.readout,
            checkpoint: ctx
                .artifact_dir()
                .join(format!("checkpoint-{tag}.safetensors")),
        };
        let dim = &problem.dim;
        let mut on_epoch = |row: &EpochLog| {
            tracing::info!(
                "{dim} epoch {}: loss {:.4}, dev CCC {:.4}, lr {:.2e}, {:.1} s",
                row.epoch,
                row.loss,
                row.dev_ccc,
                row.lr,
                row.seconds
            );
            ctx.progress(
                row.epoch as u64,
                p.max_epochs as u64,
                &format!("{dim} epoch {}", row.epoch),
            );
        };
        train(
            &setup,
            &problem.train,
            &problem.dev,
            &|| ctx.is_cancelled(),
            &mut on_epoch,
        )
    }
}

/// The loss a training minimises: the tensor function the `loss` input
/// names, and that kind's name for the log.
struct LossFn<'a> {
    call: &'a dyn Fn(&Tensor, &Tensor) -> std::result::Result<Tensor, TchError>,
    name: &'a str,
}

/// The training log as a `table`.
fn log_table(rows: &[(String, u64, EpochLog)]) -> Result<RecordBatch> {
    let float = |f: fn(&EpochLog) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|(_, _, r)| f(r)),
        ))
    };
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "dim",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|(d, _, _)| d),
            )),
        ),
        (
            "seed",
            Arc::new(UInt64Array::from_iter_values(
                rows.iter().map(|(_, s, _)| *s),
            )),
        ),
        (
            "epoch",
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|(_, _, r)| r.epoch as u32),
            )),
        ),
        ("loss", float(|r| r.loss)),
        ("dev_ccc", float(|r| r.dev_ccc)),
        ("lr", float(|r| r.lr)),
        ("seconds", float(|r| r.seconds)),
    ];
    let schema = Schema::new(
        columns
            .iter()
            .map(|(name, array)| Field::new(*name, array.data_type().clone(), false))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .map_err(|e| Error::failed(format!("training log table: {e}")))
}
