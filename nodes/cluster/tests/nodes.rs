//! The discretizer kinds run in-process through the plugin ABI (SDK harness).

use emoflow_cluster::emoflow_plugin;
use emoflow_sdk::ErrorCode;
use emoflow_sdk::harness::{Harness, HarnessOutput};
use emoflow_sdk::prelude::{ClassesRow, CodebookRow, SeriesRow, Split};
use serde_json::{Value, json};

const KINDS: [&str; 4] = [
    "cluster.optimal1d",
    "cluster.kmeans",
    "cluster.quantile",
    "cluster.uniform",
];

fn series(utt_id: &str, split: Split, dim: &str, values: Vec<f32>) -> SeriesRow {
    SeriesRow {
        utt_id: utt_id.into(),
        split,
        dim: dim.into(),
        frame_period: 0.04,
        values,
    }
}

/// Smooth traces with many distinct values, for both dims and all splits.
fn labels() -> Vec<SeriesRow> {
    let trace = |phase: f32| {
        (0..200)
            .map(|t| (t as f32 * 0.05 + phase).sin() * 0.6)
            .collect::<Vec<_>>()
    };
    let mut rows = Vec::new();
    for (i, split) in [Split::Train, Split::Dev, Split::Test]
        .into_iter()
        .enumerate()
    {
        for (j, dim) in ["arousal", "valence"].into_iter().enumerate() {
            rows.push(series(
                &format!("{split}_1"),
                split,
                dim,
                trace(i as f32 + 0.5 * j as f32),
            ));
        }
    }
    rows
}

fn run(kind: &str, params: Value, labels: &[SeriesRow]) -> emoflow_sdk::Result<HarnessOutput> {
    let mut harness = Harness::new(emoflow_plugin(), kind);
    for (key, value) in params.as_object().unwrap() {
        harness = harness.param(key, value);
    }
    harness.rows("labels", labels).run()
}

#[test]
fn every_kind_outputs_consistent_codebooks_and_classes_for_the_default_tasks() {
    let labels = labels();
    for kind in KINDS {
        let out = run(kind, json!({}), &labels).unwrap();
        let codebook: Vec<CodebookRow> = out.rows("codebook").unwrap();
        let classes: Vec<ClassesRow> = out.rows("classes").unwrap();
        assert_eq!(codebook.len(), 2 * (4 + 6 + 8 + 10), "{kind}");
        assert_eq!(
            classes.len(),
            labels.len() * 4,
            "{kind}: every series, every task"
        );
        for row in &classes {
            let cb: Vec<&CodebookRow> = codebook
                .iter()
                .filter(|c| c.dim == row.dim && c.task == row.task)
                .collect();
            assert_eq!(row.task, format!("k{}", cb.len()), "{kind}");
            assert!(
                cb.windows(2)
                    .all(|w| w[0].mean < w[1].mean && w[0].upper == w[1].lower),
                "{kind}"
            );
            let values = &labels
                .iter()
                .find(|l| l.utt_id == row.utt_id && l.dim == row.dim)
                .unwrap()
                .values;
            for (&v, &c) in values.iter().zip(&row.classes) {
                let c = c as usize;
                let v = v as f64;
                let above_lower = c == 0 || v >= cb[c].lower;
                let below_upper = c == cb.len() - 1 || v < cb[c].upper;
                assert!(
                    above_lower && below_upper,
                    "{kind} {}: {v} in class {c}",
                    row.task
                );
            }
        }
        assert!(out.logged("train priors"), "{kind} logs the class balance");
    }
}

#[test]
fn kmeans_is_reproducible_with_a_seed() {
    let labels = labels();
    let params = json!({"k": [5], "seed": 7, "n_init": 3});
    let a: Vec<CodebookRow> = run("cluster.kmeans", params.clone(), &labels)
        .unwrap()
        .rows("codebook")
        .unwrap();
    let b: Vec<CodebookRow> = run("cluster.kmeans", params, &labels)
        .unwrap()
        .rows("codebook")
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn dims_and_fit_splits_select_the_fit_data() {
    let labels = labels();
    let out = run(
        "cluster.optimal1d",
        json!({"k": [2], "dims": ["valence"], "fit_splits": ["test"]}),
        &labels,
    )
    .unwrap();
    let codebook: Vec<CodebookRow> = out.rows("codebook").unwrap();
    let test = labels
        .iter()
        .find(|l| l.split == Split::Test && l.dim == "valence")
        .unwrap();
    let min = test.values.iter().copied().fold(f32::INFINITY, f32::min) as f64;
    assert!(codebook.iter().all(|c| c.dim == "valence"));
    assert_eq!(codebook[0].lower, min, "fitted on the test split only");
}

#[test]
fn bad_input_and_parameters_are_reported() {
    let few = vec![series(
        "train_1",
        Split::Train,
        "arousal",
        vec![0.1, 0.2, 0.2, 0.3],
    )];
    let err = run("cluster.optimal1d", json!({"k": [4]}), &few).unwrap_err();
    assert!(err.to_string().contains("dim 'arousal'"), "{err}");
    assert!(
        err.to_string().contains("only 3 distinct value(s)"),
        "{err}"
    );

    let nan = vec![series("dev_4", Split::Dev, "arousal", vec![0.1, f32::NAN])];
    let err = run("cluster.quantile", json!({"k": [2]}), &nan).unwrap_err();
    assert!(
        err.to_string()
            .contains("utterance 'dev_4', dim 'arousal', frame 1"),
        "{err}"
    );

    let err = run("cluster.uniform", json!({"k": [1]}), &few).unwrap_err();
    assert!(
        err.to_string()
            .contains("k: 1 is not a valid number of classes"),
        "{err}"
    );
    let err = run("cluster.kmeans", json!({"n_inits": 3}), &few).unwrap_err();
    assert!(err.to_string().contains("unknown field `n_inits`"), "{err}");
}

/// The host receives a parameter's fault as `Invalid` (fix the graph) and
/// the labels' as `Data` (fix the data), whichever layer finds it.
#[test]
fn parameter_errors_reach_the_host_as_invalid_and_label_errors_as_data() {
    let cases = [
        (
            "cluster.uniform",
            json!({"k": [4, 4]}),
            "k: 4 is listed twice",
        ),
        (
            "cluster.quantile",
            json!({"k": [2], "dims": ["dominance"]}),
            "dims: 'dominance'",
        ),
        (
            "cluster.kmeans",
            json!({"k": [2], "n_init": 0}),
            "n_init and max_iter",
        ),
    ];
    for (kind, params, says) in cases {
        let err = run(kind, params, &labels()).unwrap_err();
        assert_eq!(err.code, ErrorCode::Invalid, "{kind}: {err}");
        assert!(err.message.contains(says), "{kind}: {err}");
    }
    let nan = vec![series("dev_4", Split::Dev, "arousal", vec![0.1, f32::NAN])];
    let err = run("cluster.quantile", json!({"k": [2]}), &nan).unwrap_err();
    assert_eq!(err.code, ErrorCode::Data, "{err}");
}
