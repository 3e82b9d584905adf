//! The metric kinds run in-process through the plugin ABI (SDK harness).

use emoflow_metric::emoflow_plugin;
use emoflow_sdk::ErrorCode;
use emoflow_sdk::harness::Harness;
use emoflow_sdk::prelude::{CodebookRow, MetricRow, SeriesRow, Split};

fn series(utt_id: &str, split: Split, dim: &str, values: &[f32]) -> SeriesRow {
    SeriesRow {
        utt_id: utt_id.into(),
        split,
        dim: dim.into(),
        frame_period: 0.04,
        values: values.to_vec(),
    }
}

fn labels() -> Vec<SeriesRow> {
    vec![
        series("dev_1", Split::Dev, "arousal", &[0.0, 0.1, 0.2, 0.3]),
        series("dev_2", Split::Dev, "arousal", &[0.3, 0.1, -0.1]),
    ]
}

fn predictions() -> Vec<SeriesRow> {
    vec![
        // One frame longer than its labels: trimmed, within the default tolerance.
        series("dev_1", Split::Dev, "arousal", &[0.05, 0.1, 0.25, 0.2, 0.9]),
        series("dev_2", Split::Dev, "arousal", &[0.2, 0.1, 0.0]),
        series("test_1", Split::Test, "arousal", &[0.0, 0.0]),
    ]
}

#[test]
fn ccc_node_scores_per_split_and_dim_and_logs_the_alignment() {
    let out = Harness::new(emoflow_plugin(), "metric.ccc")
        .param("convention", "avec2016")
        .rows("predictions", &predictions())
        .rows("labels", &labels())
        .run()
        .unwrap();
    let rows: Vec<MetricRow> = out.rows("metrics").unwrap();
    assert_eq!(rows.len(), 1);
    let (name, dim, split) = (
        rows[0].name.as_str(),
        rows[0].dim.as_str(),
        rows[0].split.as_str(),
    );
    assert_eq!((name, dim, split), ("ccc_avec2016", "arousal", "dev"));
    let x = [0.05f32, 0.1, 0.25, 0.2, 0.2, 0.1, 0.0].map(|v| v as f64);
    let y = [0.0f32, 0.1, 0.2, 0.3, 0.3, 0.1, -0.1].map(|v| v as f64);
    let expected = emoflow_metric::ccc::ccc(
        x.into_iter().zip(y),
        emoflow_metric::ccc::Convention::Avec2016,
    )
    .unwrap();
    assert!(
        (rows[0].value - expected).abs() < 1e-12,
        "{} vs {expected}",
        rows[0].value
    );
    assert!(out.logged("both cut to 4"), "the trim is logged");
    assert!(
        out.logged("have no labels and are not scored"),
        "test_1 is reported"
    );
}

#[test]
fn rmse_node_averages_utterances_when_asked() {
    let out = Harness::new(emoflow_plugin(), "metric.rmse")
        .param("aggregate", "utterance_mean")
        .rows("predictions", &predictions())
        .rows("labels", &labels())
        .run()
        .unwrap();
    let rows: Vec<MetricRow> = out.rows("metrics").unwrap();
    let per_utt = |p: &[f64], l: &[f64]| {
        (p.iter().zip(l).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / p.len() as f64).sqrt()
    };
    let f = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    let expected = 0.5
        * (per_utt(&f(&[0.05, 0.1, 0.25, 0.2]), &f(&[0.0, 0.1, 0.2, 0.3]))
            + per_utt(&f(&[0.2, 0.1, 0.0]), &f(&[0.3, 0.1, -0.1])));
    assert_eq!(rows[0].name, "rmse_utt_mean");
    assert!((rows[0].value - expected).abs() < 1e-12);
}

#[test]
fn node_errors_name_the_problem() {
    let strict = Harness::new(emoflow_plugin(), "metric.ccc")
        .param("max_length_mismatch", 0)
        .rows("predictions", &predictions())
        .rows("labels", &labels())
        .run()
        .unwrap_err();
    assert!(
        strict
            .to_string()
            .contains("utterance 'dev_1', dim 'arousal': 5 predicted frames but 4 labels"),
        "{strict}"
    );
    let unknown = Harness::new(emoflow_plugin(), "metric.ccc")
        .param("convetion", "avec2016")
        .rows("predictions", &predictions())
        .rows("labels", &labels())
        .run()
        .unwrap_err();
    assert!(
        unknown.to_string().contains("unknown field `convetion`"),
        "{unknown}"
    );
    let missing = Harness::new(emoflow_plugin(), "metric.rmse")
        .rows("predictions", &predictions()[1..])
        .rows("labels", &labels())
        .run()
        .unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("'dev_1', dim 'arousal' (dev) has labels but no prediction"),
        "{missing}"
    );
}

#[test]
fn dims_limits_the_metric_to_the_dimensions_a_model_predicts() {
    let mut labels = labels();
    labels.push(series(
        "dev_1",
        Split::Dev,
        "valence",
        &[0.0, 0.1, 0.2, 0.3],
    ));
    let run = |kind: &str, dims: &[&str]| {
        Harness::new(emoflow_plugin(), kind)
            .param("dims", dims)
            .param(
                "row_labels",
                serde_json::json!({ "system": "arousal-only" }),
            )
            .rows("predictions", &predictions())
            .rows("labels", &labels)
            .run()
    };
    for kind in ["metric.ccc", "metric.rmse"] {
        let rows: Vec<MetricRow> = run(kind, &["arousal"]).unwrap().rows("metrics").unwrap();
        let scored: Vec<(&str, &[(String, String)])> = rows
            .iter()
            .map(|r| (r.dim.as_str(), r.labels.as_slice()))
            .collect();
        assert_eq!(
            scored,
            [(
                "arousal",
                &[("system".to_string(), "arousal-only".to_string())][..]
            )],
            "{kind}"
        );
        let all = run(kind, &[]).unwrap_err().to_string();
        assert!(
            all.contains("dim 'valence' (dev) has labels but no prediction (`dims` limits"),
            "{all}"
        );
        let absent = run(kind, &["dominance"]).unwrap_err().to_string();
        assert!(
            absent.contains(
                "`dims` lists 'dominance', which the labels lack (they have: arousal, valence)"
            ),
            "{absent}"
        );
    }
}

#[test]
fn reconstruction_node_reports_ccc_and_rmse_per_task() {
    let labels = vec![
        series("train_1", Split::Train, "valence", &[-0.2, -0.1, 0.1, 0.2]),
        series("dev_1", Split::Dev, "valence", &[-0.3, 0.3]),
    ];
    let class = |class: u32, mean: f64, lower: f64, upper: f64| CodebookRow {
        dim: "valence".into(),
        task: "k2".into(),
        num_classes: 2,
        class,
        mean,
        lower,
        upper,
        prior: 0.5,
    };
    let codebook = [class(0, -0.2, -0.3, 0.0), class(1, 0.2, 0.0, 0.3)];
    let out = Harness::new(emoflow_plugin(), "metric.reconstruction")
        .rows("labels", &labels)
        .rows("codebook", &codebook)
        .run()
        .unwrap();
    let rows: Vec<MetricRow> = out.rows("metrics").unwrap();
    let names: Vec<(&str, &str, Option<&str>, Option<&str>)> = rows
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.split.as_str(),
                r.get_label("task"),
                r.get_label("k"),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("ccc", "train+dev", Some("k2"), Some("2")),
            ("rmse", "train+dev", Some("k2"), Some("2"))
        ]
    );
    // Errors: 0, 0.1, 0.1, 0, 0.1, 0.1 (as f32 labels) -> RMSE ~ sqrt(0.04 / 6).
    assert!(
        (rows[1].value - (0.04f64 / 6.0).sqrt()).abs() < 1e-7,
        "{}",
        rows[1].value
    );
}

/// The host receives a parameter's fault as `Invalid` (fix the graph) and
/// the inputs' as `Data` (fix the data).
#[test]
fn parameter_errors_reach_the_host_as_invalid_and_input_errors_as_data() {
    let err = Harness::new(emoflow_plugin(), "metric.ccc")
        .param("dims", ["dominance"])
        .rows("predictions", &predictions())
        .rows("labels", &labels())
        .run()
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Invalid, "{err}");
    assert!(err.message.contains("`dims` lists 'dominance'"), "{err}");
    let err = Harness::new(emoflow_plugin(), "metric.rmse")
        .rows("predictions", &predictions()[1..])
        .rows("labels", &labels())
        .run()
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Data, "{err}");
}
