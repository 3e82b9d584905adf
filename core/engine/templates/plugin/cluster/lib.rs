//! `{{kind}}`: a discretizer. It places the class thresholds at the
//! quantiles of the fit values (equal-frequency classes) and represents each
//! class by its mean. Replace [`fit`] with your own idea; the SDK's
//! discretizer ([`emoflow_sdk::families::cluster`]) picks the fit data per
//! dimension, builds one codebook per k with train priors, and turns every
//! label series into class sequences, by the rule every emoflow
//! discretizer follows.

use emoflow_sdk::families::cluster::{self, DiscretizerNode, Fit, Params};
use emoflow_sdk::prelude::*;

pub fn spec() -> KindSpec {
    cluster::kind_spec(
        "{{kind}}",
        file!(),
        "Equal-frequency classes: thresholds at the quantiles of the fit splits' labels.",
    )
    .create(|p: Params| Ok(DiscretizerNode::new(p.plan()?, fit)))
}

/// `k` classes on `values` (the fit labels of one dimension, sorted
/// ascending): thresholds at the `i / k` quantiles, each class's mean.
pub fn fit(values: &[f64], k: usize) -> Result<Fit> {
    let thresholds: Vec<f64> = (1..k).map(|i| values[i * values.len() / k]).collect();
    if thresholds.windows(2).any(|t| t[0] >= t[1]) || thresholds.first() <= values.first() {
        return Err(Error::data(format!(
            "too few distinct values for {k} equal-frequency classes"
        )));
    }
    let means = (0..k)
        .map(|c| {
            let lower = if c == 0 { f64::NEG_INFINITY } else { thresholds[c - 1] };
            let upper = thresholds.get(c).copied().unwrap_or(f64::INFINITY);
            let members: Vec<f64> =
                values.iter().copied().filter(|&v| lower <= v && v < upper).collect();
            members.iter().sum::<f64>() / members.len() as f64
        })
        .collect();
    Ok(Fit { means, thresholds })
}

emoflow_sdk::export_plugin!(spec);

#[cfg(test)]
mod tests {
    use super::*;
    use emoflow_sdk::harness::Harness;

    fn labels(utt_id: &str, split: Split, values: &[f32]) -> SeriesRow {
        SeriesRow {
            utt_id: utt_id.into(),
            split,
            dim: "arousal".into(),
            frame_period: 0.04,
            values: values.to_vec(),
        }
    }

    #[test]
    fn classes_hold_equal_shares_of_the_fit_values() {
        let fit = fit(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 3).unwrap();
        assert_eq!(fit.thresholds, vec![2.0, 4.0]);
        assert_eq!(fit.means, vec![0.5, 2.5, 4.5]);
    }

    #[test]
    fn the_node_writes_a_codebook_and_classes_for_every_split() {
        let out = Harness::new(crate::emoflow_plugin(), "{{kind}}")
            .param("k", [2])
            .rows(
                "labels",
                &[
                    labels("train_1", Split::Train, &[-0.5, -0.4, 0.4, 0.5]),
                    labels("test_1", Split::Test, &[-0.9, 0.9]),
                ],
            )
            .run()
            .unwrap();
        let codebook: Vec<CodebookRow> = out.rows("codebook").unwrap();
        assert_eq!(codebook.len(), 2);
        assert_eq!(codebook[0].task, "k2");
        let classes: Vec<ClassesRow> = out.rows("classes").unwrap();
        let test = classes.iter().find(|c| c.split == Split::Test).unwrap();
        assert_eq!(test.classes, vec![0, 1], "outside the fit range: the end classes");
    }

    #[test]
    fn too_many_classes_are_an_error_naming_dim_and_k() {
        let err = Harness::new(crate::emoflow_plugin(), "{{kind}}")
            .param("k", [4])
            .rows("labels", &[labels("train_1", Split::Train, &[0.0, 0.0, 1.0])])
            .run()
            .unwrap_err();
        assert!(err.message.contains("dim 'arousal'") && err.message.contains("k = 4"), "{err}");
    }
}
