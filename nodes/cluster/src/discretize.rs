//! The cluster kinds as SDK discretizers. Their methods work on the fit
//! values merged into [`Weighted1d`] and return a [`Partition`];
//! [`OnWeighted`] adapts such a method to
//! [`emoflow_sdk::families::cluster::Discretizer`], and the SDK does the
//! rest (fit data per dim, one codebook per k, train priors, classes of
//! every split), as for a plugin's discretizer.

use emoflow_sdk::families::cluster::{Discretizer, DiscretizerNode, Fit};
pub use emoflow_sdk::families::cluster::{Params, Plan, default_fit_splits, default_k, kind_spec};

use crate::Error;
use crate::codebook::Partition;
use crate::weighted::Weighted1d;

/// A method on [`Weighted1d`] data as an SDK discretizer.
pub struct OnWeighted<M>(pub M);

impl<M> Discretizer for OnWeighted<M>
where
    M: Fn(&Weighted1d, usize) -> Result<Partition, Error> + Send,
{
    fn fit(&self, values: &[f64], k: usize) -> emoflow_sdk::Result<Fit> {
        let data = Weighted1d::from_values(values.iter().copied())?;
        Ok((self.0)(&data, k)?.into_fit())
    }
}

/// The node of a cluster kind: `method` run as `plan` says.
pub fn node<M>(plan: Plan, method: M) -> DiscretizerNode<OnWeighted<M>>
where
    M: Fn(&Weighted1d, usize) -> Result<Partition, Error> + Send,
{
    DiscretizerNode::new(plan, OnWeighted(method))
}

#[cfg(test)]
mod tests {
    use emoflow_sdk::families::cluster::discretize;
    use emoflow_sdk::prelude::{SeriesRow, Split};

    use super::*;
    use crate::optimal1d;

    fn labels() -> Vec<SeriesRow> {
        let series = |utt_id: &str, split, dim: &str, values: &[f32]| SeriesRow {
            utt_id: utt_id.into(),
            split,
            dim: dim.into(),
            frame_period: 0.04,
            values: values.to_vec(),
        };
        vec![
            series(
                "train_1",
                Split::Train,
                "arousal",
                &[-0.5, -0.5, -0.4, 0.4, 0.5, 0.5],
            ),
            series("dev_1", Split::Dev, "arousal", &[-0.45, 0.45, 0.45]),
            series("test_1", Split::Test, "arousal", &[-0.9, 0.0, 0.9]),
            series("train_1", Split::Train, "valence", &[0.1, 0.2, 0.3, 0.4]),
        ]
    }

    #[test]
    fn a_method_fits_on_the_fit_splits_and_its_errors_name_dim_and_k() {
        let plan = |ks: &[u32]| Plan::new(ks, &default_fit_splits(), None).unwrap();
        let out = discretize(&labels(), &plan(&[2]), &OnWeighted(optimal1d::partition)).unwrap();
        // arousal k2 on train + dev (9 values), not on test.
        let mean_low = [-0.5f32, -0.5, -0.4, -0.45]
            .iter()
            .map(|&v| v as f64)
            .sum::<f64>()
            / 4.0;
        assert!(
            (out.codebooks[0].classes[0].mean - mean_low).abs() < 1e-12,
            "{:?}",
            out.codebooks[0]
        );
        let test_1 = out.classes.iter().find(|c| c.utt_id == "test_1").unwrap();
        assert_eq!(
            test_1.classes,
            vec![0, 1, 1],
            "0.0 is above the midpoint of the two means"
        );
        // valence has 4 distinct values.
        let err =
            discretize(&labels(), &plan(&[5]), &OnWeighted(optimal1d::partition)).unwrap_err();
        assert_eq!(
            err.message,
            "dim 'valence' (fit splits: train, dev), k = 5: k = 5 classes requested but the fit data has only 4 distinct value(s)"
        );
    }
}
