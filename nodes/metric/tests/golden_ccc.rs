//! metric.ccc and metric.rmse against NumPy (golden data from
//! scripts/golden/ccc.py): every convention, per split and dim, to 1e-9.

use emoflow_metric::ccc::{self, Convention};
use emoflow_metric::rmse;
use emoflow_sdk::families::metric::{Aggregate, match_series};
use emoflow_sdk::prelude::{SeriesRow, Split};
use serde_json::Value;

fn text(v: &Value) -> String {
    v.as_str().unwrap().to_owned()
}

fn floats(v: &Value) -> Vec<f32> {
    // Each number is the exact float64 of a float32, so `as f32` is exact.
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn every_convention_matches_numpy() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/ccc.json");
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let series = golden["series"].as_array().unwrap();
    let row = |s: &Value, values: &str| SeriesRow {
        utt_id: text(&s["utt_id"]),
        split: Split::parse(s["split"].as_str().unwrap()).unwrap(),
        dim: text(&s["dim"]),
        frame_period: 0.04,
        values: floats(&s[values]),
    };
    // Predictions in reverse order: matching is by utterance and dim.
    let predictions: Vec<SeriesRow> = series.iter().rev().map(|s| row(s, "prediction")).collect();
    let labels: Vec<SeriesRow> = series.iter().map(|s| row(s, "label")).collect();
    let matching = match_series(&predictions, &labels, 0).unwrap();
    assert_eq!(matching.groups.len(), 4);

    let expected = golden["expected"].as_array().unwrap();
    assert_eq!(expected.len(), 4 * 6);
    for e in expected {
        let (split, dim, name) = (
            e["split"].as_str().unwrap(),
            e["dim"].as_str().unwrap(),
            e["name"].as_str().unwrap(),
        );
        let group = matching
            .groups
            .iter()
            .find(|g| g.split.as_str() == split && g.dim == dim)
            .unwrap();
        let mut ours = None;
        for aggregate in [Aggregate::Concatenated, Aggregate::UtteranceMean] {
            for convention in [Convention::Population, Convention::Avec2016] {
                if ccc::metric_name(convention, aggregate) == name {
                    ours = Some(
                        group
                            .aggregate(aggregate, |s| ccc::ccc(s, convention))
                            .unwrap(),
                    );
                }
            }
            if rmse::metric_name(aggregate) == name {
                ours = Some(group.aggregate(aggregate, |s| rmse::rmse(s)).unwrap());
            }
        }
        let ours = ours.unwrap_or_else(|| panic!("no metric named {name}"));
        let theirs = e["value"].as_f64().unwrap();
        assert!(
            (ours - theirs).abs() <= 1e-9,
            "{split}/{dim} {name}: ours {ours} vs numpy {theirs}"
        );
    }
}
