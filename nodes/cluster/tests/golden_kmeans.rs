//! optimal1d against scikit-learn and ckmeans on 200k emotion-like labels
//! (golden data from scripts/golden/kmeans.py).

mod common;

use emoflow_cluster::{optimal1d, weighted::Weighted1d};

fn reference_sse(tool: &str, k: usize) -> f64 {
    let path = common::golden_dir().join("kmeans_sse.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json[tool]["sse"][k.to_string()]
        .as_f64()
        .unwrap_or_else(|| panic!("{} has no {tool} SSE for k = {k}", path.display()))
}

/// Squared error of every label around the mean of its class, summed
/// directly (not from prefix sums), as the reference script does.
fn direct_sse(labels: &[f64], partition: &emoflow_cluster::codebook::Partition) -> f64 {
    let class_of = |v: f64| partition.thresholds.partition_point(|&t| t <= v);
    labels
        .iter()
        .map(|&v| (v - partition.means[class_of(v)]).powi(2))
        .sum()
}

#[test]
fn optimal1d_is_never_worse_than_sklearn_and_matches_exact_ckmeans() {
    let labels = common::labels_200k();
    assert_eq!(labels.len(), 200_000);
    let data = Weighted1d::from_values(labels.iter().copied()).unwrap();
    for k in 4..=10 {
        let partition = optimal1d::partition(&data, k).unwrap();
        let ours = direct_sse(&labels, &partition);
        let sklearn = reference_sse("sklearn", k);
        let exact = reference_sse("ckmeans", k);
        // Summation order differs between the tools: allow 1e-9 relative.
        assert!(
            ours <= sklearn * (1.0 + 1e-9),
            "k = {k}: ours {ours} > sklearn {sklearn}"
        );
        assert!(
            (ours - exact).abs() <= 1e-9 * exact,
            "k = {k}: ours {ours} vs ckmeans {exact}"
        );
        assert!(
            (partition.sse - ours).abs() <= 1e-9 * ours,
            "prefix-sum SSE {} vs direct {ours}",
            partition.sse
        );
    }
}
