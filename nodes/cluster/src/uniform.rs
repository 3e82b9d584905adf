//! `cluster.uniform`: equal-width classes over [min, max] of the fit data.
//! The paper tried and rejected it (classes at the extremes are nearly
//! empty); it is kept for comparison. An empty class is represented by its
//! bin centre.

use emoflow_sdk::KindSpec;

use crate::Error;
use crate::codebook::Partition;
use crate::discretize::{self, Params};
use crate::weighted::Weighted1d;

pub fn spec() -> KindSpec {
    discretize::kind_spec(
        "cluster.uniform",
        file!(),
        "Equal-width classes over the fit splits' label range (rejected by the paper for its \
         class imbalance; kept for comparison).",
    )
    .create(|p: Params| Ok(discretize::node(p.plan()?, partition)))
}

pub fn partition(data: &Weighted1d, k: usize) -> Result<Partition, Error> {
    data.require_classes(k)?;
    let values = data.values();
    let (lo, hi) = (values[0], values[values.len() - 1]);
    let edges: Vec<f64> = (0..=k)
        .map(|i| {
            if i == k {
                hi
            } else {
                lo + (hi - lo) * i as f64 / k as f64
            }
        })
        .collect();
    Ok(Partition::from_edges(data, &edges))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_have_equal_width_over_the_fit_range() {
        let data = Weighted1d::from_values([-1.0, -0.9, 0.1, 0.2, 0.3, 1.0]).unwrap();
        let p = partition(&data, 4).unwrap();
        assert_eq!(p.thresholds, vec![-0.5, 0.0, 0.5]);
        assert_eq!(p.fit_weights, vec![2.0, 0.0, 3.0, 1.0]);
        assert!(
            (p.means[1] + 0.25).abs() < 1e-12,
            "empty bin -> its centre: {:?}",
            p.means
        );
        assert!((p.means[2] - 0.2).abs() < 1e-12);
    }
}
