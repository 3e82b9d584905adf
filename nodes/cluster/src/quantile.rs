//! `cluster.quantile`: equal-frequency classes. Each class takes (as nearly
//! as the data allows) 1/k of the fit frames; the threshold between two
//! classes lies halfway between the last distinct value of one and the first
//! of the next.
//!
//! Thresholds only fall between distinct values, so a value repeated in more
//! than 1/k of the frames makes equal frequencies impossible: the classes
//! around it are then uneven, but every class keeps at least one distinct
//! value.

use emoflow_sdk::KindSpec;

use crate::Error;
use crate::codebook::Partition;
use crate::discretize::{self, Params};
use crate::weighted::Weighted1d;

pub fn spec() -> KindSpec {
    discretize::kind_spec(
        "cluster.quantile",
        file!(),
        "Equal-frequency classes: each holds about 1/k of the fit splits' labels.",
    )
    .create(|p: Params| Ok(discretize::node(p.plan()?, partition)))
}

pub fn partition(data: &Weighted1d, k: usize) -> Result<Partition, Error> {
    data.require_classes(k)?;
    let values = data.values();
    let n = values.len();
    let total = data.total_weight();
    let mut edges = Vec::with_capacity(k + 1);
    edges.push(values[0]);
    // `split`: how many distinct values lie below the threshold.
    let mut split = 0;
    for i in 1..k {
        let target = total * i as f64 / k as f64;
        let above = data.position_of_weight(target).clamp(1, n - 1);
        let below = above - 1;
        let nearest = if below >= 1
            && target - data.weight_before(below) < data.weight_before(above) - target
        {
            below
        } else {
            above
        };
        // Leave at least one distinct value to this class and to each class after it.
        split = nearest.clamp(split + 1, n - (k - i));
        edges.push(0.5 * (values[split - 1] + values[split]));
    }
    edges.push(values[n - 1]);
    Ok(Partition::from_edges(data, &edges))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_hold_equal_numbers_of_frames() {
        let data = Weighted1d::from_values((0..100).map(|i| (i as f64 * 0.37).sin())).unwrap();
        let p = partition(&data, 4).unwrap();
        assert_eq!(p.fit_weights, vec![25.0, 25.0, 25.0, 25.0]);
        assert!(p.means.windows(2).all(|m| m[0] < m[1]));
    }

    #[test]
    fn thresholds_lie_halfway_between_neighbouring_values() {
        let data = Weighted1d::from_values([0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        let p = partition(&data, 3).unwrap();
        assert_eq!(p.thresholds, vec![1.5, 3.5]);
        assert_eq!(p.means, vec![0.5, 2.5, 4.5]);
    }

    #[test]
    fn a_dominant_value_gives_uneven_but_non_empty_classes() {
        // 0.0 holds 8 of 12 frames: no split can give 3 equal classes.
        let mut values = vec![0.0; 8];
        values.extend([-1.0, -0.5, 0.5, 1.0]);
        let data = Weighted1d::from_values(values).unwrap();
        let p = partition(&data, 3).unwrap();
        assert_eq!(p.fit_weights, vec![2.0, 8.0, 2.0]);
    }
}
