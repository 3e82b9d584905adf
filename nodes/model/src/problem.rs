//! `model.blstm`'s training problem for one dimension: features aligned
//! with the targets (classes of each task, or labels) and the dev reference.

use std::collections::{BTreeMap, HashMap};

use emoflow_sdk::prelude::*;
use tch::Tensor;

use crate::blstm::{Data, Params};
use crate::network::{BlstmConfig, Output};
use crate::readout::{Readout, TaskCodebook};
use crate::train::{DevUtterance, TrainUtterance};

/// One dimension's training problem.
pub(crate) struct Problem {
    pub(crate) dim: String,
    pub(crate) config: BlstmConfig,
    pub(crate) readout: Readout,
    /// Classifier task names, in head order.
    pub(crate) tasks: Vec<String>,
    pub(crate) train: Vec<TrainUtterance>,
    pub(crate) dev: Vec<DevUtterance>,
}

impl Problem {
    pub(crate) fn build(params: &Params, data: &Data, dim: &str) -> Result<Problem> {
        let input_dim = data.features.first().map_or(0, |f| f.dims) as i64;
        if input_dim == 0 {
            return Err(Error::data(
                "input `features` holds no utterances (or 0-dimensional frames)",
            ));
        }
        let labels: HashMap<&str, &SeriesRow> = data
            .labels
            .iter()
            .flatten()
            .filter(|r| r.dim == dim)
            .map(|r| (r.utt_id.as_str(), r))
            .collect();
        let (output, readout, tasks, codebooks, class_targets) = match &data.classes {
            Some((classes, codebook)) => {
                let tasks = classifier_tasks(params, classes, dim);
                let (codebooks, readout) = classifier_readout(codebook, dim, &tasks)?;
                let mut targets: HashMap<&str, Vec<Option<&ClassesRow>>> = HashMap::new();
                for row in classes.iter().filter(|r| r.dim == dim) {
                    if let Some(t) = tasks.iter().position(|t| *t == row.task) {
                        targets
                            .entry(&row.utt_id)
                            .or_insert_with(|| vec![None; tasks.len()])[t] = Some(row);
                    }
                }
                let classes = readout.head_widths();
                (
                    Output::Classifier { classes },
                    readout,
                    tasks,
                    codebooks,
                    Some(targets),
                )
            }
            None => (Output::Regressor, Readout::Regressor, vec![], vec![], None),
        };
        let config = BlstmConfig {
            input_dim,
            hidden: params.hidden,
            layers: params.layers,
            output,
        };
        let mut train = Vec::new();
        let mut dev = Vec::new();
        for row in &data.features {
            if row.dims as i64 != input_dim {
                return Err(Error::data(format!(
                    "utterance `{}` has {}-dimensional features, the others {input_dim}",
                    row.utt_id, row.dims
                )));
            }
            let features =
                || Tensor::from_slice(&row.frames).view([row.num_frames() as i64, input_dim]);
            let aligned = |what: &str, length: usize| -> Result<usize> {
                let frames = row.num_frames();
                if frames.abs_diff(length) > params.max_length_mismatch {
                    return Err(Error::data(format!(
                        "utterance `{}`: {frames} feature frames against {length} {what}, more than \
                         max_length_mismatch = {} apart",
                        row.utt_id, params.max_length_mismatch
                    )));
                }
                Ok(frames.min(length))
            };
            let label = labels.get(row.utt_id.as_str());
            match row.split {
                Split::Train => {
                    let targets = match &class_targets {
                        Some(targets) => {
                            let Some(per_task) = targets.get(row.utt_id.as_str()) else {
                                continue;
                            };
                            let mut tensors = Vec::with_capacity(tasks.len());
                            for (task, target) in tasks.iter().zip(per_task) {
                                let target = target.ok_or_else(|| {
                                    Error::data(format!(
                                        "utterance `{}` has no classes of task `{task}`",
                                        row.utt_id
                                    ))
                                })?;
                                let frames = aligned(
                                    &format!("classes of task `{task}`"),
                                    target.classes.len(),
                                )?;
                                let classes: Vec<i64> =
                                    target.classes[..frames].iter().map(|&c| c as i64).collect();
                                tensors.push(Tensor::from_slice(&classes));
                            }
                            tensors
                        }
                        None => {
                            let Some(label) = label else { continue };
                            let frames = aligned("labels", label.values.len())?;
                            vec![Tensor::from_slice(&label.values[..frames])]
                        }
                    };
                    let frames = targets[0].size()[0];
                    train.push(TrainUtterance {
                        id: row.utt_id.clone(),
                        features: features().narrow(0, 0, frames),
                        targets,
                    });
                }
                Split::Dev => {
                    let reference = match (label, &class_targets) {
                        (Some(label), _) => label.values.clone(),
                        (None, Some(targets)) => match targets.get(row.utt_id.as_str()) {
                            Some(per_task) => {
                                reconstruct(&codebooks, &tasks, per_task, &row.utt_id)?
                            }
                            None => continue,
                        },
                        (None, None) => continue,
                    };
                    let frames = aligned("reference values", reference.len())?;
                    dev.push(DevUtterance {
                        id: row.utt_id.clone(),
                        features: features().narrow(0, 0, frames as i64),
                        reference: Tensor::from_slice(&reference[..frames]),
                    });
                }
                Split::Test => {}
            }
        }
        Ok(Problem {
            dim: dim.to_string(),
            config,
            readout,
            tasks,
            train,
            dev,
        })
    }
}

/// The classifier's tasks in head order: the `tasks` parameter, or every
/// task of the dimension ordered by class count.
pub(crate) fn classifier_tasks(params: &Params, classes: &[ClassesRow], dim: &str) -> Vec<String> {
    if let Some(tasks) = &params.tasks {
        return tasks.clone();
    }
    let counts: BTreeMap<&str, u32> = classes
        .iter()
        .filter(|r| r.dim == dim)
        .map(|r| (r.task.as_str(), r.num_classes))
        .collect();
    let mut tasks: Vec<(u32, &str)> = counts.into_iter().map(|(task, k)| (k, task)).collect();
    tasks.sort();
    tasks
        .into_iter()
        .map(|(_, task)| task.to_string())
        .collect()
}

/// The codebooks of `tasks` (head order) and the read-out over them.
pub(crate) fn classifier_readout(
    codebook: &[CodebookRow],
    dim: &str,
    tasks: &[String],
) -> Result<(Vec<TaskCodebook>, Readout)> {
    let mut codebooks = Vec::with_capacity(tasks.len());
    for task in tasks {
        let mut rows: Vec<&CodebookRow> = codebook
            .iter()
            .filter(|r| r.dim == dim && r.task == *task)
            .collect();
        if rows.is_empty() {
            return Err(Error::data(format!(
                "the codebook has no task `{task}` of dimension `{dim}`"
            )));
        }
        rows.sort_by_key(|r| r.class);
        let k = rows.len();
        if rows
            .iter()
            .enumerate()
            .any(|(i, r)| r.class as usize != i || r.num_classes as usize != k)
        {
            return Err(Error::data(format!(
                "the codebook of `{dim}`/`{task}` must list classes 0..num_classes once each"
            )));
        }
        codebooks.push(TaskCodebook {
            means: rows.iter().map(|r| r.mean).collect(),
            priors: rows.iter().map(|r| r.prior).collect(),
        });
    }
    let readout = Readout::classifier(codebooks.clone())
        .map_err(|e| Error::data(format!("dimension `{dim}`, tasks {tasks:?}: {e}")))?;
    Ok((codebooks, readout))
}

/// The gold classes' reconstruction: per frame the class means averaged
/// over the tasks.
pub(crate) fn reconstruct(
    codebooks: &[TaskCodebook],
    tasks: &[String],
    per_task: &[Option<&ClassesRow>],
    utt_id: &str,
) -> Result<Vec<f32>> {
    let mut sum: Vec<f64> = Vec::new();
    for ((task, row), codebook) in tasks.iter().zip(per_task).zip(codebooks) {
        let row = row.ok_or_else(|| {
            Error::data(format!(
                "dev utterance `{utt_id}` has no classes of task `{task}`"
            ))
        })?;
        sum.resize(row.classes.len(), 0.0);
        for (s, &c) in sum.iter_mut().zip(&row.classes) {
            *s += codebook.means.get(c as usize).copied().ok_or_else(|| {
                Error::data(format!(
                    "utterance `{utt_id}`, task `{task}`: class {c} outside the codebook"
                ))
            })?;
        }
    }
    Ok(sum
        .iter()
        .map(|s| (s / tasks.len() as f64) as f32)
        .collect())
}
