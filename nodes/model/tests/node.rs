//! `model.blstm` as a node, run in-process through the plugin ABI with the
//! loss plugin providing the loss: trains on a tiny synthetic problem, beats
//! a constant predictor, and reports wiring and data errors.

mod common;

use common::{DIM, FRAMES, class_of, means_and_priors, utterances};
use emoflow_sdk::foreign::ForeignPlugin;
use emoflow_sdk::harness::{Harness, HarnessOutput};
use emoflow_sdk::prelude::*;

const PERIOD: f64 = 0.04;
/// Two discretizers of the one dimension.
const TASKS: [(&str, &[f32]); 2] = [("k2", &[0.0]), ("k3", &[-0.2, 0.2])];

struct Corpus {
    features: Vec<FeatureRow>,
    labels: Vec<SeriesRow>,
    classes: Vec<ClassesRow>,
    codebook: Vec<CodebookRow>,
}

/// 6 train, 3 dev and 2 test utterances of dimension `arousal`.
fn corpus() -> Corpus {
    let splits = [
        (Split::Train, 6, 7),
        (Split::Dev, 3, 8),
        (Split::Test, 2, 9),
    ];
    let mut corpus = Corpus {
        features: vec![],
        labels: vec![],
        classes: vec![],
        codebook: vec![],
    };
    let mut train_labels = vec![];
    for (split, count, seed) in splits {
        for (i, (frames, label)) in utterances(seed, count).into_iter().enumerate() {
            let utt_id = format!("{}_{i}", split.as_str());
            if split == Split::Train {
                train_labels.extend(&label);
            }
            for (task, edges) in TASKS {
                corpus.classes.push(ClassesRow {
                    utt_id: utt_id.clone(),
                    split,
                    dim: "arousal".into(),
                    task: task.into(),
                    num_classes: edges.len() as u32 + 1,
                    classes: label.iter().map(|&v| class_of(v, edges)).collect(),
                });
            }
            corpus.features.push(FeatureRow {
                utt_id: utt_id.clone(),
                split,
                dims: DIM,
                frame_period: PERIOD,
                frames,
            });
            corpus.labels.push(SeriesRow {
                utt_id,
                split,
                dim: "arousal".into(),
                frame_period: PERIOD,
                values: label,
            });
        }
    }
    for (task, edges) in TASKS {
        let (means, priors) = means_and_priors(&train_labels, edges);
        for (class, (mean, prior)) in means.into_iter().zip(priors).enumerate() {
            corpus.codebook.push(CodebookRow {
                dim: "arousal".into(),
                task: task.into(),
                num_classes: edges.len() as u32 + 1,
                class: class as u32,
                mean,
                lower: f64::NEG_INFINITY,
                upper: f64::INFINITY,
                prior,
            });
        }
    }
    corpus
}

fn harness(loss: &str) -> Harness {
    Harness::new(emoflow_model::emoflow_plugin(), "model.blstm")
        .with_plugin(emoflow_loss::emoflow_plugin())
        .rows(
            "loss",
            &[LossRow {
                kind: loss.into(),
                params: "{}".into(),
            }],
        )
        .param("layers", 2)
        .param("hidden", 6)
        .param("lr", 0.02)
        .param("stage1_epochs", 4)
        .param("max_epochs", 12)
        .param("device", "cpu")
}

fn classifier(corpus: &Corpus, loss: &str) -> Harness {
    harness(loss)
        .rows("features", &corpus.features)
        .rows("classes", &corpus.classes)
        .rows("codebook", &corpus.codebook)
        .rows("labels", &corpus.labels)
}

/// CCC of the dev predictions against the dev labels, concatenated.
fn dev_ccc(out: &HarnessOutput, corpus: &Corpus) -> f64 {
    let values: Vec<SeriesRow> = out.rows("values").unwrap();
    let (mut x, mut y) = (vec![], vec![]);
    for label in corpus.labels.iter().filter(|l| l.split == Split::Dev) {
        let prediction = values
            .iter()
            .find(|v| v.utt_id == label.utt_id)
            .expect("a prediction per utterance");
        x.extend(prediction.values.iter().map(|&v| v as f64));
        y.extend(label.values.iter().map(|&v| v as f64));
    }
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(&y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    2.0 * sxy / (sxx + syy + n * (mx - my).powi(2))
}

#[test]
fn classifier_trains_beats_a_constant_and_predicts_every_utterance() {
    let corpus = corpus();
    let out = classifier(&corpus, "loss.cost_sensitive_ce").run().unwrap();
    // A constant predictor has CCC 0.
    let ccc = dev_ccc(&out, &corpus);
    assert!(ccc > 0.5, "dev CCC {ccc}");

    let values: Vec<SeriesRow> = out.rows("values").unwrap();
    assert_eq!(
        values.len(),
        corpus.features.len(),
        "one series per utterance, test split included"
    );
    assert!(
        values
            .iter()
            .all(|v| v.values.len() == FRAMES && v.dim == "arousal" && v.frame_period == PERIOD)
    );

    let posteriors: Vec<PosteriorsRow> = out.rows("posteriors").unwrap();
    assert_eq!(posteriors.len(), corpus.features.len() * TASKS.len());
    for row in &posteriors {
        let k = if row.task == "k2" { 2 } else { 3 };
        assert_eq!((row.num_classes, row.num_frames()), (k, FRAMES));
        for t in 0..FRAMES {
            let sum: f32 = row.frame(t).iter().sum();
            assert!(
                (sum - 1.0).abs() < 1e-5,
                "{} {} frame {t} sums to {sum}",
                row.utt_id,
                row.task
            );
        }
    }

    let log = &out.batches("log")[0];
    assert!(
        log.num_rows() >= 5 && log.num_rows() <= 12,
        "{} epochs",
        log.num_rows()
    );
    assert!(out.logged("arousal epoch 1: loss"), "{:?}", out.logs);
    assert_eq!(out.progress.last().map(|p| p.1), Some(12));

    let weights = out.artifact_dir.join("model-arousal.safetensors");
    let names: Vec<String> = tch::Tensor::read_safetensors(&weights)
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for expected in [
        "lstm.weight_ih_l0",
        "lstm.bias_hh_l1_reverse",
        "heads.0.weight",
        "heads.1.bias",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    let card: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.artifact_dir.join("model-arousal.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(card["tasks"], serde_json::json!(["k2", "k3"]));
    assert!(
        out.artifact_dir
            .join("checkpoint-arousal.safetensors")
            .exists()
    );
}

#[test]
fn regressor_with_the_ccc_loss_beats_a_constant() {
    let corpus = corpus();
    let out = harness("loss.ccc")
        .rows("features", &corpus.features)
        .rows("labels", &corpus.labels)
        .run()
        .unwrap();
    let ccc = dev_ccc(&out, &corpus);
    assert!(ccc > 0.5, "dev CCC {ccc}");
    assert!(out.rows::<PosteriorsRow>("posteriors").unwrap().is_empty());
}

#[test]
fn a_rerun_in_the_same_artifact_directory_resumes_to_the_same_predictions() {
    let corpus = corpus();
    let first = classifier(&corpus, "loss.cost_sensitive_ce").run().unwrap();
    let again = classifier(&corpus, "loss.cost_sensitive_ce")
        .artifact_dir(&first.artifact_dir)
        .run()
        .unwrap();
    assert_eq!(
        first.rows::<SeriesRow>("values").unwrap(),
        again.rows::<SeriesRow>("values").unwrap()
    );
    assert!(
        !again.logged("epoch 1: loss"),
        "the finished checkpoint should make training unnecessary"
    );
}

#[test]
fn wiring_and_parameter_errors_say_what_to_do() {
    let corpus = corpus();
    assert_refused(
        harness("loss.mse").rows("features", &corpus.features),
        "wire `classes` + `codebook` (classifier) or `labels` (regressor)",
    );
    assert_refused(
        harness("loss.ce")
            .rows("features", &corpus.features)
            .rows("classes", &corpus.classes),
        "needs both `classes` and `codebook`",
    );
    assert_refused(
        classifier(&corpus, "loss.cost_sensitive_ce").param("device", "gpu"),
        "expected auto, cpu or cuda:N",
    );
    assert_refused(
        classifier(&corpus, "loss.cost_sensitive_ce").param("dim", "valence"),
        "dimension `valence` is not in the targets",
    );
    assert_refused(
        classifier(&corpus, "loss.cost_sensitive_ce").param("tasks", ["k5"]),
        "no task `k5`",
    );
    assert_refused(
        classifier(&corpus, "loss.cost_sensitive_ce").param("layer", 3),
        "unknown field `layer`",
    );
}

#[test]
fn a_label_length_far_from_the_feature_length_is_an_error_naming_the_utterance() {
    let mut corpus = corpus();
    corpus.labels[1].values.truncate(FRAMES - 3);
    assert_refused(
        harness("loss.mse")
            .rows("features", &corpus.features)
            .rows("labels", &corpus.labels),
        "utterance `train_1`: 30 feature frames against 27 labels",
    );
    // Within the tolerance, the common frames are used.
    let mut corpus = self::corpus();
    corpus.labels[1].values.truncate(FRAMES - 2);
    harness("loss.mse")
        .param("max_epochs", 1)
        .rows("features", &corpus.features)
        .rows("labels", &corpus.labels)
        .run()
        .unwrap();
}

#[test]
fn a_mismatched_loss_fails_with_the_loss_message() {
    // A value loss given class logits: the loss's own shape check speaks.
    let corpus = corpus();
    assert_refused(
        classifier(&corpus, "loss.mse"),
        "mse: prediction and target must be float [frames]",
    );
}

#[test]
fn a_cancelled_run_stops_as_cancelled() {
    let corpus = corpus();
    let error = classifier(&corpus, "loss.cost_sensitive_ce")
        .cancelled()
        .run()
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::Cancelled);
}

#[test]
fn an_ensemble_of_seeds_predicts_the_mean_of_its_models() {
    let corpus = corpus();
    let run = |h: Harness| {
        h.param("max_epochs", 3)
            .param("stage1_epochs", 2)
            .run()
            .unwrap()
    };
    let one = run(classifier(&corpus, "loss.ce").param("seed", 1));
    let two = run(classifier(&corpus, "loss.ce").param("seed", 2));
    let both = run(classifier(&corpus, "loss.ce").param("seeds", [1, 2]));
    let (one, two, both): (Vec<PosteriorsRow>, Vec<PosteriorsRow>, Vec<PosteriorsRow>) = (
        one.rows("posteriors").unwrap(),
        two.rows("posteriors").unwrap(),
        both.rows("posteriors").unwrap(),
    );
    assert_eq!(both.len(), one.len());
    for ((a, b), mean) in one.iter().zip(&two).zip(&both) {
        assert_eq!((&mean.utt_id, &mean.task), (&a.utt_id, &a.task));
        for ((x, y), m) in a.posteriors.iter().zip(&b.posteriors).zip(&mean.posteriors) {
            assert!(
                (m - (x + y) / 2.0).abs() < 1e-6,
                "{m} is not the mean of {x} and {y}"
            );
        }
    }
    assert!(
        one.iter()
            .zip(&two)
            .any(|(a, b)| a.posteriors != b.posteriors),
        "the seeds differ"
    );
}

#[test]
fn an_empty_seed_list_is_refused() {
    let err = classifier(&corpus(), "loss.ce")
        .param("seeds", Vec::<u64>::new())
        .run()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`seeds` must list at least one seed"),
        "{err}"
    );
}

#[test]
fn posteriors_are_not_prior_scaled_so_decode_argmax_gives_the_models_values() {
    let corpus = corpus();
    let out = classifier(&corpus, "loss.ce")
        .param("max_epochs", 3)
        .param("stage1_epochs", 2)
        .run()
        .unwrap();
    let posteriors: Vec<PosteriorsRow> = out.rows("posteriors").unwrap();
    for row in &posteriors {
        for frame in row.posteriors.chunks(row.num_classes as usize) {
            assert!(
                (frame.iter().sum::<f32>() - 1.0).abs() < 1e-4,
                "a distribution per frame"
            );
        }
    }
    let decoded = Harness::new(emoflow_decode::emoflow_plugin(), "decode.argmax")
        .rows("posteriors", &posteriors)
        .rows("codebook", &corpus.codebook)
        .run()
        .unwrap();
    let predictions: Vec<SeriesRow> = decoded.rows("predictions").unwrap();
    let values: Vec<SeriesRow> = out.rows("values").unwrap();
    for value in &values {
        let prediction = predictions
            .iter()
            .find(|p| p.utt_id == value.utt_id)
            .unwrap();
        for (a, b) in prediction.values.iter().zip(&value.values) {
            assert!(
                (a - b).abs() < 1e-5,
                "{}: argmax {a} vs model {b}",
                value.utt_id
            );
        }
    }
}

/// `model.blstm` predicting with the models saved in `dir` (weights mode),
/// with only what that needs wired.
/// Runs the node and checks that it fails with a message containing `needle`.
fn assert_refused(harness: Harness, needle: &str) {
    let error = harness.run().unwrap_err();
    assert!(error.message.contains(needle), "{error}");
}

fn saved(dir: &std::path::Path, features: &[FeatureRow]) -> Harness {
    Harness::new(emoflow_model::emoflow_plugin(), "model.blstm")
        .param("weights", dir)
        .param("device", "cpu")
        .rows("features", features)
}

/// Asserts two runs' predictions agree, utterance by utterance, up to the
/// split (weights mode keeps the split of the features it is given).
fn assert_same_predictions(trained: &HarnessOutput, applied: &HarnessOutput) {
    assert_rows_close::<SeriesRow>(trained, applied, "values", |r| {
        (
            format!("{} {} {}", r.utt_id, r.dim, r.frame_period),
            &r.values,
        )
    });
    assert_rows_close::<PosteriorsRow>(trained, applied, "posteriors", |r| {
        (
            format!("{} {} {} {}", r.utt_id, r.dim, r.task, r.num_classes),
            &r.posteriors,
        )
    });
}

/// Output `port` of both runs: the same rows (by `key`), numbers within 1e-6.
fn assert_rows_close<R: PortRows>(
    trained: &HarnessOutput,
    applied: &HarnessOutput,
    port: &str,
    key: impl Fn(&R) -> (String, &[f32]),
) {
    let (a, b): (Vec<R>, Vec<R>) = (trained.rows(port).unwrap(), applied.rows(port).unwrap());
    assert_eq!(a.len(), b.len(), "{port}: rows");
    for (a, b) in a.iter().zip(&b) {
        let ((key_a, a), (key_b, b)) = (key(a), key(b));
        assert_eq!(key_a, key_b, "{port}");
        let close = a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6);
        assert!(close, "{port} of {key_a}: {a:?} vs {b:?}");
    }
}

/// The corpus's features, all in the test split (new recordings).
fn all_test(features: &[FeatureRow]) -> Vec<FeatureRow> {
    features
        .iter()
        .cloned()
        .map(|f| FeatureRow {
            split: Split::Test,
            ..f
        })
        .collect()
}

#[test]
fn weights_mode_predicts_what_training_predicted_for_a_classifier_ensemble() {
    let corpus = corpus();
    let trained = classifier(&corpus, "loss.ce")
        .param("seeds", [2, 1])
        .param("max_epochs", 3)
        .param("stage1_epochs", 2)
        .run()
        .unwrap();
    let dir = &trained.artifact_dir;
    let applied = saved(dir, &corpus.features)
        .rows("codebook", &corpus.codebook)
        .run()
        .unwrap();
    assert_same_predictions(&trained, &applied);
    assert!(!applied.logged("epoch 1"), "weights mode does not train");
    let (log, trained_log) = (&applied.batches("log")[0], &trained.batches("log")[0]);
    assert_eq!((log.num_rows(), log.schema()), (0, trained_log.schema()));

    // New recordings (all `test`), with the training inputs wired: ignored.
    let features = all_test(&corpus.features);
    let applied = harness("loss.ce")
        .param("weights", dir)
        .param("seeds", [7])
        .rows("features", &features)
        .rows("classes", &corpus.classes)
        .rows("codebook", &corpus.codebook)
        .rows("labels", &corpus.labels)
        .run()
        .unwrap();
    assert_same_predictions(&trained, &applied);
    let values: Vec<SeriesRow> = applied.rows("values").unwrap();
    assert!(values.iter().all(|v| v.split == Split::Test));

    // The training order of the seeds, not the files' order.
    assert_refused(
        saved(dir, &corpus.features),
        "model-arousal-seed2.json: a classifier: wire `codebook`",
    );
}

#[test]
fn weights_mode_predicts_what_training_predicted_for_a_regressor() {
    let corpus = corpus();
    let trained = harness("loss.ccc")
        .param("max_epochs", 3)
        .param("stage1_epochs", 2)
        .rows("features", &corpus.features)
        .rows("labels", &corpus.labels)
        .run()
        .unwrap();
    let applied = saved(&trained.artifact_dir, &corpus.features)
        .param("dim", "arousal")
        .run()
        .unwrap();
    assert_same_predictions(&trained, &applied);
    assert!(
        applied
            .rows::<PosteriorsRow>("posteriors")
            .unwrap()
            .is_empty()
    );
    let applied = saved(&trained.artifact_dir, &all_test(&corpus.features))
        .run()
        .unwrap();
    assert_same_predictions(&trained, &applied);

    // What it declares to the host before running: each card it loads and
    // the weights beside it, so that new weights rerun it.
    let plugin = ForeignPlugin::from_table(emoflow_model::emoflow_plugin(), "model").unwrap();
    let params = serde_json::json!({ "weights": trained.artifact_dir, "dim": "arousal" });
    let node = std::sync::Arc::new(plugin)
        .create("model.blstm", &params)
        .unwrap();
    let card = trained.artifact_dir.join("model-arousal.json");
    assert_eq!(
        node.input_files().unwrap(),
        [card.with_extension("safetensors"), card]
    );
}

#[test]
fn weights_mode_errors_name_the_directory_the_dimension_or_the_file() {
    let corpus = corpus();
    assert_refused(
        saved(
            std::path::Path::new("/nonexistent/bundle"),
            &corpus.features,
        ),
        "`weights` directory: /nonexistent/bundle: No such file",
    );

    let trained = harness("loss.mse")
        .param("max_epochs", 1)
        .rows("features", &corpus.features)
        .rows("labels", &corpus.labels)
        .run()
        .unwrap();
    let dir = &trained.artifact_dir;
    let empty = dir.join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_refused(
        saved(&empty, &corpus.features),
        "holds no model cards (model-*.json)",
    );

    assert_refused(
        saved(dir, &corpus.features).param("dim", "valence"),
        "holds no model of dimension `valence`",
    );

    let wider: Vec<FeatureRow> = corpus
        .features
        .iter()
        .map(|f| FeatureRow {
            dims: DIM + 1,
            frames: f
                .frames
                .chunks(DIM)
                .flat_map(|frame| frame.iter().copied().chain([0.0]))
                .collect(),
            ..f.clone()
        })
        .collect();
    let error = saved(dir, &wider).run().unwrap_err();
    let card = dir.join("model-arousal.json");
    assert!(
        error.message.contains(&format!(
            "{}: the model takes 3-dimensional features, utterance `train_0` has 4",
            card.display()
        )),
        "{error}"
    );

    // A card whose network the weights do not fit, then no weights at all.
    let text = std::fs::read_to_string(&card)
        .unwrap()
        .replace("\"hidden\": 6", "\"hidden\": 5");
    std::fs::write(&card, text).unwrap();
    assert_refused(
        saved(dir, &corpus.features),
        "model-arousal.safetensors: tensor `heads.0.weight` is [1, 12]",
    );
    std::fs::remove_file(dir.join("model-arousal.safetensors")).unwrap();
    assert_refused(saved(dir, &corpus.features), "model-arousal.safetensors");

    // Training without a loss.
    assert_refused(
        Harness::new(emoflow_model::emoflow_plugin(), "model.blstm")
            .rows("features", &corpus.features)
            .rows("labels", &corpus.labels),
        "wire a loss node (loss.*) to `loss`",
    );
}
