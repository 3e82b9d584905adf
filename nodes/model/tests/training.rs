//! The training protocol on a tiny synthetic problem: learns, is
//! deterministic, resumes exactly, follows the two-stage schedule, and
//! reports bad losses and foreign checkpoints.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

mod common;

use common::{DIM, FRAMES, class_of, means_and_priors, utterances};
use emoflow_faults::Scratch;
use emoflow_model::network::{BlstmConfig, Output};
use emoflow_model::readout::{Readout, TaskCodebook};
use emoflow_model::train::{
    DevUtterance, EpochLog, TrainConfig, TrainSetup, TrainUtterance, train,
};
use tch::{Device, Kind, TchError, Tensor};

/// Class edges of the one task: values below -0.2, between, above 0.2.
const EDGES: [f32; 2] = [-0.2, 0.2];

struct Problem {
    train: Vec<TrainUtterance>,
    dev: Vec<DevUtterance>,
    readout: Readout,
}

/// Six training and three dev utterances; `classifier` chooses class or
/// value targets.
fn problem(classifier: bool) -> Problem {
    let features = |frames: &[f32]| Tensor::from_slice(frames).view([FRAMES as i64, DIM as i64]);
    let train_data = utterances(7, 6);
    let train = train_data
        .iter()
        .enumerate()
        .map(|(i, (frames, label))| {
            let target = if classifier {
                Tensor::from_slice(
                    &label
                        .iter()
                        .map(|&v| class_of(v, &EDGES) as i64)
                        .collect::<Vec<_>>(),
                )
            } else {
                Tensor::from_slice(label)
            };
            TrainUtterance {
                id: format!("train_{i}"),
                features: features(frames),
                targets: vec![target],
            }
        })
        .collect();
    let dev = utterances(8, 3)
        .iter()
        .enumerate()
        .map(|(i, (frames, label))| DevUtterance {
            id: format!("dev_{i}"),
            features: features(frames),
            reference: Tensor::from_slice(label),
        })
        .collect();
    let readout = if classifier {
        let labels: Vec<f32> = train_data
            .iter()
            .flat_map(|(_, label)| label.clone())
            .collect();
        let (means, priors) = means_and_priors(&labels, &EDGES);
        Readout::classifier(vec![TaskCodebook { means, priors }]).unwrap()
    } else {
        Readout::Regressor
    };
    Problem {
        train,
        dev,
        readout,
    }
}

fn model_config(classifier: bool) -> BlstmConfig {
    let output = if classifier {
        Output::Classifier { classes: vec![3] }
    } else {
        Output::Regressor
    };
    BlstmConfig {
        input_dim: DIM as i64,
        hidden: 6,
        layers: 2,
        output,
    }
}

fn train_config() -> TrainConfig {
    TrainConfig {
        lr: 0.02,
        stage1_epochs: 4,
        max_epochs: 10,
        min_lr: 1e-3,
        seed: 11,
        ..TrainConfig::default()
    }
}

/// A checkpoint path in a fresh scratch directory (the fault suite's:
/// removed when the test passes).
struct Checkpoint {
    _dir: Scratch,
    path: PathBuf,
}

impl std::ops::Deref for Checkpoint {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

fn scratch(name: &str) -> Checkpoint {
    let dir = Scratch::new("model", name);
    Checkpoint {
        path: dir.join("checkpoint.safetensors"),
        _dir: dir,
    }
}

type LossFn = fn(&Tensor, &Tensor) -> Result<Tensor, TchError>;

#[derive(Debug)]
struct Run {
    parameters: Vec<(String, Tensor)>,
    log: Vec<EpochLog>,
    best_ccc: f64,
}

fn run(
    classifier: bool,
    loss: LossFn,
    config: TrainConfig,
    checkpoint: &Path,
    cancel_after_epoch: Option<usize>,
) -> Result<Run, emoflow_model::Error> {
    let problem = problem(classifier);
    let setup = TrainSetup {
        model: model_config(classifier),
        train: config,
        device: Device::Cpu,
        loss: &loss,
        loss_name: "test",
        readout: &problem.readout,
        checkpoint: checkpoint.to_path_buf(),
    };
    let cancel = AtomicBool::new(false);
    let mut on_epoch = |row: &EpochLog| {
        if Some(row.epoch) == cancel_after_epoch {
            cancel.store(true, Ordering::Relaxed);
        }
    };
    let trained = train(
        &setup,
        &problem.train,
        &problem.dev,
        &|| cancel.load(Ordering::Relaxed),
        &mut on_epoch,
    )?;
    let mut parameters: Vec<(String, Tensor)> = trained.store.variables().into_iter().collect();
    parameters.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Run {
        parameters,
        log: trained.log,
        best_ccc: trained.best.dev_ccc,
    })
}

fn assert_same_parameters(a: &Run, b: &Run) {
    assert_eq!(a.parameters.len(), b.parameters.len());
    for ((name, x), (_, y)) in a.parameters.iter().zip(&b.parameters) {
        assert!(x.equal(y), "{name} differs");
    }
}

fn without_seconds(log: &[EpochLog]) -> Vec<(usize, f64, f64, f64)> {
    log.iter()
        .map(|r| (r.epoch, r.loss, r.dev_ccc, r.lr))
        .collect()
}

#[test]
fn classifier_and_regressor_learn_and_beat_a_constant_predictor() {
    // A constant prediction has CCC 0.
    let cases: [(bool, LossFn, &str); 3] = [
        (
            true,
            emoflow_loss::cost_sensitive_ce::cost_sensitive_ce,
            "cls",
        ),
        (false, emoflow_loss::ccc::ccc, "ccc"),
        (false, emoflow_loss::mse::mse, "mse"),
    ];
    for (classifier, loss, name) in cases {
        let config = TrainConfig {
            max_epochs: 12,
            ..train_config()
        };
        let result = run(classifier, loss, config, &scratch(name), None).unwrap();
        assert!(
            result.best_ccc > 0.5,
            "{name}: best dev CCC {}",
            result.best_ccc
        );
        let first = result.log.first().unwrap().loss;
        let best_loss = result
            .log
            .iter()
            .map(|r| r.loss)
            .fold(f64::INFINITY, f64::min);
        assert!(
            best_loss < first,
            "{name}: training loss never fell below {first}"
        );
    }
}

#[test]
fn same_seed_gives_the_same_model_and_another_seed_does_not() {
    let a = run(
        true,
        emoflow_loss::ce::ce,
        train_config(),
        &scratch("seed_a"),
        None,
    )
    .unwrap();
    let b = run(
        true,
        emoflow_loss::ce::ce,
        train_config(),
        &scratch("seed_b"),
        None,
    )
    .unwrap();
    assert_same_parameters(&a, &b);
    assert_eq!(without_seconds(&a.log), without_seconds(&b.log));
    let other = TrainConfig {
        seed: 12,
        ..train_config()
    };
    let c = run(true, emoflow_loss::ce::ce, other, &scratch("seed_c"), None).unwrap();
    assert!(!a.parameters[0].1.equal(&c.parameters[0].1));
}

#[test]
fn a_cancelled_run_resumes_to_the_same_model_as_an_uninterrupted_one() {
    let whole = run(
        true,
        emoflow_loss::ce::ce,
        train_config(),
        &scratch("whole"),
        None,
    )
    .unwrap();
    let path = scratch("resumed");
    // Cancelled right after the last stage-1 epoch, whose end restores the
    // best state; then again inside stage 2.
    for stop in [
        train_config().stage1_epochs,
        train_config().stage1_epochs + 2,
    ] {
        match run(
            true,
            emoflow_loss::ce::ce,
            train_config(),
            &path,
            Some(stop),
        ) {
            Err(emoflow_model::Error::Cancelled { epoch }) => assert_eq!(epoch, stop + 1),
            other => panic!("expected a cancellation, got {:?}", other.map(|r| r.log)),
        }
    }
    // A torn temporary file from a killed write must not matter.
    let mut torn = path.to_path_buf().into_os_string();
    torn.push(".tmp");
    std::fs::write(&torn, b"half a checkpoint").unwrap();
    let resumed = run(true, emoflow_loss::ce::ce, train_config(), &path, None).unwrap();
    assert_same_parameters(&whole, &resumed);
    assert_eq!(without_seconds(&whole.log), without_seconds(&resumed.log));
    // A finished run's checkpoint returns the same model without training.
    let again = run(true, emoflow_loss::ce::ce, train_config(), &path, Some(1)).unwrap();
    assert_same_parameters(&whole, &again);
}

#[test]
fn schedule_keeps_lr_in_stage_one_then_halves_it_after_each_epoch_without_improvement() {
    let config = TrainConfig {
        max_epochs: 30,
        min_lr: 2e-3,
        ..train_config()
    };
    let result = run(
        true,
        emoflow_loss::ce::ce,
        config.clone(),
        &scratch("schedule"),
        None,
    )
    .unwrap();
    let log = &result.log;
    let mut best = f64::NEG_INFINITY;
    let mut next_lr = config.lr;
    for row in log {
        assert_eq!(row.lr, next_lr, "lr of epoch {}", row.epoch);
        let improved = row.dev_ccc > best;
        best = best.max(row.dev_ccc);
        if row.epoch > config.stage1_epochs && !improved {
            next_lr /= 2.0;
        }
    }
    assert!(
        log.iter().all(|r| r.lr >= config.min_lr),
        "trained with lr below min_lr: {log:?}"
    );
    // It stopped because the next rate fell below the floor, before the cap.
    assert!(
        next_lr < config.min_lr && log.len() < config.max_epochs,
        "{log:?}"
    );
    assert_eq!(result.best_ccc, best);
}

#[test]
fn a_non_finite_loss_stops_training_naming_epoch_and_utterance() {
    let problem = problem(true);
    let train_set = problem.train;
    let _ = train_set[2].features.get(5).get(0).fill_(f64::NAN);
    let loss: LossFn = emoflow_loss::ce::ce;
    let nan_dir = scratch("nan");
    let setup = TrainSetup {
        model: model_config(true),
        train: train_config(),
        device: Device::Cpu,
        loss: &loss,
        loss_name: "test",
        readout: &problem.readout,
        checkpoint: nan_dir.to_path_buf(),
    };
    let error = train(&setup, &train_set, &problem.dev, &|| false, &mut |_| {}).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, emoflow_model::Error::NonFinite { epoch: 1, .. }),
        "{message}"
    );
    assert!(
        message.contains("utterance train_2") && message.contains("epoch 1"),
        "{message}"
    );
}

#[test]
fn a_checkpoint_of_another_configuration_is_refused() {
    let path = scratch("foreign");
    let short = TrainConfig {
        max_epochs: 2,
        ..train_config()
    };
    run(true, emoflow_loss::ce::ce, short, &path, None).unwrap();
    let other = TrainConfig {
        max_epochs: 2,
        weight_decay: 1e-4,
        ..train_config()
    };
    let error = run(true, emoflow_loss::ce::ce, other, &path, None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("another configuration") && error.contains("checkpoint.safetensors"),
        "{error}"
    );
}

#[test]
fn bad_targets_are_reported_with_the_utterance() {
    let problem = problem(true);
    let mut train_set = problem.train;
    train_set[1].targets[0] = Tensor::full([FRAMES as i64], 3, (Kind::Int64, Device::Cpu));
    let loss: LossFn = emoflow_loss::ce::ce;
    let bad_dir = scratch("bad");
    let setup = TrainSetup {
        model: model_config(true),
        train: train_config(),
        device: Device::Cpu,
        loss: &loss,
        loss_name: "test",
        readout: &problem.readout,
        checkpoint: bad_dir.to_path_buf(),
    };
    let error = train(&setup, &train_set, &problem.dev, &|| false, &mut |_| {}).unwrap_err();
    assert!(error.to_string().contains("utterance train_1"), "{error}");
}

#[test]
fn settings_that_cannot_work_reach_the_host_as_invalid() {
    let checkpoint = scratch("no-epochs");
    let config = TrainConfig {
        max_epochs: 0,
        ..train_config()
    };
    let error = run(false, emoflow_loss::mse::mse, config, &checkpoint, None).unwrap_err();
    assert!(matches!(error, emoflow_model::Error::Invalid(_)), "{error}");
    let host = emoflow_sdk::Error::from(error);
    assert_eq!(host.code, emoflow_sdk::ErrorCode::Invalid, "{host}");
    assert!(
        host.message.contains("max_epochs must be at least 1"),
        "{host}"
    );
}
