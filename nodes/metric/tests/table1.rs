//! The paper's Table 1 in process: cluster.optimal1d's codebooks fed to
//! metric.reconstruction, on the 200k golden labels of the cluster crate
//! (scripts/golden/kmeans.py), checked against the exact optimum there.

use emoflow_sdk::harness::Harness;
use emoflow_sdk::prelude::{CodebookRow, MetricRow, SeriesRow, Split};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../cluster/tests/golden");

/// The labels as 25 recordings of 8000 frames, 13 in train and 12 in dev.
fn labels() -> Vec<SeriesRow> {
    let bytes = std::fs::read(format!("{GOLDEN}/labels_200k.f32le")).unwrap();
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    values
        .chunks(8000)
        .enumerate()
        .map(|(i, chunk)| {
            let split = if i < 13 { Split::Train } else { Split::Dev };
            SeriesRow {
                utt_id: format!("{split}_{}", i + 1),
                split,
                dim: "arousal".into(),
                frame_period: 0.04,
                values: chunk.to_vec(),
            }
        })
        .collect()
}

#[test]
fn reconstruction_error_of_optimal1d_codebooks_is_the_exact_optimum() {
    let labels = labels();
    let ks: Vec<u32> = (4..=10).collect();
    let codebook: Vec<CodebookRow> =
        Harness::new(emoflow_cluster::emoflow_plugin(), "cluster.optimal1d")
            .param("k", &ks)
            .rows("labels", &labels)
            .run()
            .unwrap()
            .rows("codebook")
            .unwrap();
    let metrics: Vec<MetricRow> =
        Harness::new(emoflow_metric::emoflow_plugin(), "metric.reconstruction")
            .rows("labels", &labels)
            .rows("codebook", &codebook)
            .run()
            .unwrap()
            .rows("metrics")
            .unwrap();
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{GOLDEN}/kmeans_sse.json")).unwrap(),
    )
    .unwrap();
    let mut last_ccc = 0.0;
    for k in ks {
        let get = |name: &str| {
            metrics
                .iter()
                .find(|r| r.name == name && r.get_label("k") == Some(&k.to_string()))
                .unwrap_or_else(|| panic!("no {name} for k = {k}"))
                .value
        };
        let (ccc, rmse) = (get("ccc"), get("rmse"));
        eprintln!("k = {k:2}: CCC {ccc:.4}, RMSE {rmse:.4}");
        let exact_sse = golden["ckmeans"]["sse"][k.to_string()].as_f64().unwrap();
        let sse = rmse * rmse * 200_000.0;
        assert!(
            (sse - exact_sse).abs() <= 1e-9 * exact_sse,
            "k = {k}: RMSE^2 N = {sse}, exact optimum {exact_sse}"
        );
        assert!(ccc > last_ccc, "k = {k}: CCC {ccc} not above {last_ccc}");
        last_ccc = ccc;
    }
}
