//! The decode family's node kinds run through the plugin ABI (the SDK's
//! harness) on small synthetic corpora.

use emoflow_decode::emoflow_plugin;
use emoflow_decode::ngram::LmRow;
use emoflow_sdk::ErrorCode;
use emoflow_sdk::arrow::array::{AsArray, RecordBatch};
use emoflow_sdk::arrow::datatypes::{Float64Type, Int64Type};
use emoflow_sdk::conventions::{ClassesRow, CodebookRow, PosteriorsRow, SeriesRow, Split};
use emoflow_sdk::foreign::ForeignPlugin;
use emoflow_sdk::harness::Harness;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const PERIOD: f64 = 0.04;
const TASKS: [(&str, u32); 2] = [("k3", 3), ("k4", 4)];

/// Class means spread over [-0.5, 0.5], equal priors except class 0.
fn codebook() -> Vec<CodebookRow> {
    let mut rows = Vec::new();
    for (task, k) in TASKS {
        for class in 0..k {
            let mean = -0.5 + f64::from(class) / f64::from(k - 1);
            let prior = if class == 0 {
                0.4
            } else {
                0.6 / f64::from(k - 1)
            };
            rows.push(CodebookRow {
                dim: "valence".into(),
                task: task.into(),
                num_classes: k,
                class,
                mean,
                lower: mean - 0.1,
                upper: mean + 0.1,
                prior,
            });
        }
    }
    rows
}

/// A sticky class track.
fn track(rng: &mut ChaCha8Rng, k: u32, frames: usize) -> Vec<u32> {
    let mut class = rng.random_range(0..k);
    (0..frames)
        .map(|_| {
            if rng.random_bool(0.05) {
                class = rng.random_range(0..k);
            }
            class
        })
        .collect()
}

struct Corpus {
    classes: Vec<ClassesRow>,
    posteriors: Vec<PosteriorsRow>,
}

/// Train and dev label tracks per task; noisy posteriors for the dev ones
/// (the true class gets most mass, but one frame in eight is a wrong blip).
fn corpus(seed: u64) -> Corpus {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut classes = Vec::new();
    let mut posteriors = Vec::new();
    for (split, n) in [(Split::Train, 4), (Split::Dev, 2)] {
        for i in 0..n {
            let utt_id = format!("{split}_{i}");
            for (task, k) in TASKS {
                let truth = track(&mut rng, k, 120);
                if split == Split::Dev {
                    let mut post = Vec::new();
                    for &c in &truth {
                        let shown = if rng.random_bool(0.125) {
                            rng.random_range(0..k)
                        } else {
                            c
                        };
                        let mut frame: Vec<f32> =
                            (0..k).map(|_| rng.random_range(0.01..0.2)).collect();
                        frame[shown as usize] += 1.0;
                        let total: f32 = frame.iter().sum();
                        post.extend(frame.iter().map(|p| p / total));
                    }
                    posteriors.push(PosteriorsRow {
                        utt_id: utt_id.clone(),
                        split,
                        dim: "valence".into(),
                        task: task.into(),
                        num_classes: k,
                        frame_period: PERIOD,
                        posteriors: post,
                    });
                }
                classes.push(ClassesRow {
                    utt_id: utt_id.clone(),
                    split,
                    dim: "valence".into(),
                    task: task.into(),
                    num_classes: k,
                    classes: truth,
                });
            }
        }
    }
    Corpus {
        classes,
        posteriors,
    }
}

fn argmax(corpus: &Corpus) -> Harness {
    Harness::new(emoflow_plugin(), "decode.argmax")
        .rows("posteriors", &corpus.posteriors)
        .rows("codebook", &codebook())
}

/// A decoder that also reads the training classes.
fn decoder(kind: &str, corpus: &Corpus) -> Harness {
    Harness::new(emoflow_plugin(), kind)
        .rows("posteriors", &corpus.posteriors)
        .rows("codebook", &codebook())
        .rows("classes", &corpus.classes)
}

fn lm_table(corpus: &Corpus, order: usize) -> Vec<RecordBatch> {
    let out = Harness::new(emoflow_plugin(), "lm.ngram")
        .param("order", order)
        .rows("classes", &corpus.classes)
        .run()
        .unwrap();
    out.batches("lm").to_vec()
}

fn predictions(out: &emoflow_sdk::harness::HarnessOutput) -> Vec<SeriesRow> {
    out.rows::<SeriesRow>("predictions").unwrap()
}

/// Number of value changes over all series: what decoding should lower.
fn changes(rows: &[SeriesRow]) -> usize {
    rows.iter()
        .map(|r| r.values.windows(2).filter(|w| w[0] != w[1]).count())
        .sum()
}

#[test]
fn argmax_maps_each_frame_to_the_average_of_the_tasks_class_means() {
    let corpus = corpus(1);
    let out = argmax(&corpus).run().unwrap();
    let rows = predictions(&out);
    assert_eq!(rows.len(), 2, "one series per dev utterance");
    let means = codebook();
    for row in &rows {
        assert_eq!(row.frame_period, PERIOD);
        assert_eq!(row.split, Split::Dev);
        let tasks: Vec<&PosteriorsRow> = corpus
            .posteriors
            .iter()
            .filter(|p| p.utt_id == row.utt_id)
            .collect();
        for (t, &value) in row.values.iter().enumerate() {
            let expected: f64 = tasks
                .iter()
                .map(|p| {
                    let frame = p.frame(t);
                    let prior = |c: usize| {
                        means
                            .iter()
                            .find(|m| m.task == p.task && m.class == c as u32)
                            .unwrap()
                    };
                    let best = (0..frame.len())
                        .max_by(|&a, &b| {
                            (f64::from(frame[a]) / prior(a).prior)
                                .total_cmp(&(f64::from(frame[b]) / prior(b).prior))
                        })
                        .unwrap();
                    prior(best).mean
                })
                .sum::<f64>()
                / tasks.len() as f64;
            assert!(
                (f64::from(value) - expected).abs() < 1e-6,
                "{} frame {t}",
                row.utt_id
            );
        }
    }
}

#[test]
fn viterbi_removes_blips_that_argmax_keeps() {
    let corpus = corpus(2);
    let raw = predictions(&argmax(&corpus).run().unwrap());
    let hmm = predictions(&decoder("decode.viterbi", &corpus).run().unwrap());
    assert!(
        changes(&hmm) * 2 < changes(&raw),
        "viterbi {} vs argmax {}",
        changes(&hmm),
        changes(&raw)
    );
}

#[test]
fn emotion_lm_with_alpha_zero_is_viterbi_and_a_wide_beam_is_exact() {
    let corpus = corpus(3);
    let hmm = predictions(&decoder("decode.viterbi", &corpus).run().unwrap());
    let lm = lm_table(&corpus, 3);
    let run = |alpha: f64, search: &str| {
        predictions(
            &decoder("decode.emotion_lm", &corpus)
                .input("lm", lm.clone())
                .param("alpha", alpha)
                .param("search", search)
                .param("beam_width", 10_000)
                .run()
                .unwrap(),
        )
    };
    assert_eq!(run(0.0, "exact"), hmm);
    let exact = run(4.0, "exact");
    assert_eq!(run(4.0, "beam"), exact);
    assert!(changes(&exact) <= changes(&hmm));
}

#[test]
fn lm_ngram_writes_arpa_files_that_arpa_dir_reads_back() {
    let corpus = corpus(4);
    let trained = Harness::new(emoflow_plugin(), "lm.ngram")
        .param("order", 2)
        .rows("classes", &corpus.classes)
        .run()
        .unwrap();
    let rows = LmRow::read_all(trained.batches("lm")).unwrap();
    assert_eq!(rows.len(), TASKS.len());
    assert!(
        rows.iter()
            .all(|r| r.order == 2 && r.dim == "valence" && r.arpa.contains("\\2-grams:"))
    );
    for row in &rows {
        let file = trained
            .artifact_dir
            .join(format!("valence_{}.arpa", row.task));
        assert_eq!(std::fs::read_to_string(file).unwrap(), row.arpa);
    }
    let loaded = Harness::new(emoflow_plugin(), "lm.ngram")
        .param("arpa_dir", trained.artifact_dir.to_str().unwrap())
        .rows("classes", &corpus.classes)
        .run()
        .unwrap();
    assert_eq!(LmRow::read_all(loaded.batches("lm")).unwrap(), rows);

    // Declared to the host before it runs, so that new models rerun it.
    let plugin = ForeignPlugin::from_table(emoflow_plugin(), "decode").unwrap();
    let params = serde_json::json!({ "arpa_dir": trained.artifact_dir });
    let declared = std::sync::Arc::new(plugin)
        .create("lm.ngram", &params)
        .unwrap()
        .input_files()
        .unwrap();
    let mut expected: Vec<_> = rows
        .iter()
        .map(|r| {
            trained
                .artifact_dir
                .join(format!("valence_{}.arpa", r.task))
        })
        .collect();
    expected.sort();
    assert_eq!(declared, expected);
}

#[test]
fn lm_ngram_arpa_dir_errors_name_the_file() {
    let corpus = corpus(5);
    let dir = std::env::temp_dir().join(format!("emoflow-decode-arpa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("valence_k3.arpa"),
        "\\data\\\nngram 1=1\n\n\\1-grams:\n-0.1\t9\n\\end\\\n",
    )
    .unwrap();
    let err = Harness::new(emoflow_plugin(), "lm.ngram")
        .param("arpa_dir", dir.to_str().unwrap())
        .rows("classes", &corpus.classes)
        .run()
        .unwrap_err();
    assert!(
        err.message.contains("valence_k3.arpa:5") && err.message.contains("\"9\""),
        "{}",
        err.message
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn emotion_lm_rejects_bad_parameters_and_missing_models() {
    let corpus = corpus(6);
    let lm = lm_table(&corpus, 2);
    let err = decoder("decode.emotion_lm", &corpus)
        .input("lm", lm.clone())
        .param("alpha", -1.0)
        .run()
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Invalid, "{}", err.message);
    let err = decoder("decode.emotion_lm", &corpus)
        .input("lm", lm.clone())
        .param("search", "greedy")
        .param("alpha", 1.0)
        .run()
        .unwrap_err();
    assert!(err.message.contains("greedy"), "{}", err.message);
    // Only the k3 model.
    let mut rows = LmRow::read_all(&lm).unwrap();
    rows.retain(|r| r.task == "k3");
    let err = decoder("decode.emotion_lm", &corpus)
        .input("lm", vec![LmRow::write(&rows).unwrap()])
        .param("alpha", 1.0)
        .run()
        .unwrap_err();
    assert!(err.message.contains("valence/k4"), "{}", err.message);
}

fn series(utt: &str, split: Split, values: Vec<f32>) -> SeriesRow {
    SeriesRow {
        utt_id: utt.into(),
        split,
        dim: "arousal".into(),
        frame_period: PERIOD,
        values,
    }
}

#[test]
fn smoothing_nodes_keep_rows_lengths_and_frame_period() {
    let input = vec![
        series("dev_1", Split::Dev, vec![0.0, 0.0, 1.0, 0.0, 0.0, 0.5, 0.5]),
        series("test_1", Split::Test, vec![]),
    ];
    let median = Harness::new(emoflow_plugin(), "smooth.median")
        .param("window", 3)
        .rows("series", &input)
        .run()
        .unwrap();
    let out = median.rows::<SeriesRow>("smoothed").unwrap();
    assert_eq!(out[0].values, vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5]);
    assert_eq!(
        (out[1].values.len(), out[1].frame_period, out[1].split),
        (0, PERIOD, Split::Test)
    );
    let gaussian = Harness::new(emoflow_plugin(), "smooth.gaussian")
        .param("sigma", 1.0)
        .rows("series", &input)
        .run()
        .unwrap();
    let out = gaussian.rows::<SeriesRow>("smoothed").unwrap();
    assert_eq!(out[0].values.len(), 7);
    assert!(out[0].values[2] < 1.0 && out[0].values[1] > 0.0);
    let err = Harness::new(emoflow_plugin(), "smooth.median")
        .param("window", 4)
        .rows("series", &input)
        .run()
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Invalid);
    let err = Harness::new(emoflow_plugin(), "smooth.gaussian")
        .param("sigma", 0.0)
        .rows("series", &input)
        .run()
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Invalid);
    let bad = vec![series("dev_7", Split::Dev, vec![0.0, f32::NAN])];
    let err = Harness::new(emoflow_plugin(), "smooth.median")
        .rows("series", &bad)
        .run()
        .unwrap_err();
    assert!(
        err.message.contains("dev_7") && err.message.contains("frame 1"),
        "{}",
        err.message
    );
}

#[test]
fn post_avec_fits_delay_and_line_on_dev_and_reports_them() {
    // Labels lead the predictions by 3 frames and are twice as large, minus 0.1.
    let signal = |phase: f32| -> Vec<f32> {
        (0..200)
            .map(|t| ((t as f32 + phase) * 0.13).sin())
            .collect()
    };
    let labels_of = |pred: &[f32]| -> Vec<f32> {
        (0..pred.len())
            .map(|t| 2.0 * pred[(t + 3).min(pred.len() - 1)] - 0.1)
            .collect()
    };
    let predictions = vec![
        series("dev_1", Split::Dev, signal(0.0)),
        series("test_1", Split::Test, signal(1.0)),
    ];
    let labels = vec![series(
        "dev_1",
        Split::Dev,
        labels_of(&predictions[0].values),
    )];
    let out = Harness::new(emoflow_plugin(), "post.avec")
        .param("delays", [0, 1, 2, 3, 4, 5])
        .param("fit", "least_squares")
        .rows("predictions", &predictions)
        .rows("labels", &labels)
        .run()
        .unwrap();
    let fit = &out.batches("fit")[0];
    assert_eq!(
        fit.column_by_name("delay")
            .unwrap()
            .as_primitive::<Int64Type>()
            .value(0),
        3
    );
    let scale = fit
        .column_by_name("scale")
        .unwrap()
        .as_primitive::<Float64Type>()
        .value(0);
    let bias = fit
        .column_by_name("bias")
        .unwrap()
        .as_primitive::<Float64Type>()
        .value(0);
    assert!(
        (scale - 2.0).abs() < 1e-4 && (bias + 0.1).abs() < 1e-4,
        "scale {scale} bias {bias}"
    );
    let calibrated = out.rows::<SeriesRow>("calibrated").unwrap();
    assert_eq!(calibrated.len(), 2);
    for (got, want) in calibrated[0].values.iter().zip(&labels[0].values) {
        assert!((got - want).abs() < 1e-4);
    }
    assert!(out.logged("delay 3 frames"));
    let err = Harness::new(emoflow_plugin(), "post.avec")
        .param("delays", Vec::<i64>::new())
        .rows("predictions", &predictions)
        .rows("labels", &labels)
        .run()
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Invalid);
}

/// A parameter that only the fitting finds unusable still reaches the host
/// as `Invalid` (fix the graph), not as bad data.
#[test]
fn parameter_errors_found_while_fitting_reach_the_host_as_invalid() {
    let corpus = corpus(5);
    let err = decoder("decode.viterbi", &corpus)
        .param("smoothing", -1.0)
        .run()
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Invalid, "{}", err.message);
    assert!(
        err.message
            .contains("transition smoothing -1 must be finite and >= 0"),
        "{}",
        err.message
    );
    let err = Harness::new(emoflow_plugin(), "lm.ngram")
        .param("order", 0)
        .rows("classes", &corpus.classes)
        .run()
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Invalid, "{}", err.message);
    assert!(err.message.contains("n-gram order 0"), "{}", err.message);
}
