//! What every discretizer produces, whatever its method: classes ordered by
//! their mean (class 0 = lowest), the thresholds that assign a value to a
//! class, and class priors.
//!
//! Assignment rule (the same for every method, and the one the `codebook`
//! port documents): class `c` holds the values `v` with
//! `lower[c] <= v < upper[c]`, where `upper[c] == lower[c + 1]` is the
//! threshold between the two classes. Values below the first threshold go to
//! class 0 and values at or above the last one to the top class, so data
//! outside the fit range (e.g. the test split) is still assigned; `lower[0]`
//! and `upper[k-1]` just record the range of the fit data.

use emoflow_sdk::prelude::CodebookRow;

use crate::weighted::Weighted1d;

/// Pseudo-count added to every class when estimating priors (Laplace
/// smoothing): a class that never occurs in the training labels still gets a
/// small non-zero prior, so dividing posteriors by priors stays finite. With
/// tens of thousands of training frames its effect elsewhere is negligible.
pub const PRIOR_PSEUDO_COUNT: f64 = 1.0;

/// A discretizer's result on the fit data for one k.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    /// Mean of the fit values of each class, ascending.
    pub means: Vec<f64>,
    /// The k - 1 thresholds between consecutive classes, ascending.
    pub thresholds: Vec<f64>,
    /// Total weight (number of frames) of fit data in each class.
    pub fit_weights: Vec<f64>,
    pub fit_min: f64,
    pub fit_max: f64,
    /// Within-class sum of squared deviations of the fit data from `means`.
    pub sse: f64,
}

impl Partition {
    /// k-means-type classes: each value belongs to its nearest centre, i.e.
    /// the thresholds are the midpoints between adjacent centres. A centre
    /// that attracts no fit value keeps its own position as class mean.
    pub fn from_centres(data: &Weighted1d, centres: &[f64]) -> Self {
        let mut centres = centres.to_vec();
        centres.sort_unstable_by(f64::total_cmp);
        let thresholds: Vec<f64> = centres.windows(2).map(|p| 0.5 * (p[0] + p[1])).collect();
        Self::from_thresholds(data, thresholds, &centres)
    }

    /// Bin-type classes from the k + 1 ascending bin edges; the inner edges
    /// are the thresholds. An empty bin gets its centre as class mean.
    pub fn from_edges(data: &Weighted1d, edges: &[f64]) -> Self {
        let centres: Vec<f64> = edges.windows(2).map(|p| 0.5 * (p[0] + p[1])).collect();
        Self::from_thresholds(data, edges[1..edges.len() - 1].to_vec(), &centres)
    }

    fn from_thresholds(data: &Weighted1d, thresholds: Vec<f64>, fallback: &[f64]) -> Self {
        let mut bounds = Vec::with_capacity(thresholds.len() + 2);
        bounds.push(0);
        bounds.extend(thresholds.iter().map(|&t| data.count_below(t)));
        bounds.push(data.len());
        let mut means = Vec::with_capacity(fallback.len());
        let mut fit_weights = Vec::with_capacity(fallback.len());
        let mut sse = 0.0;
        for (c, range) in bounds.windows(2).enumerate() {
            let seg = data.segment(range[0], range[1]);
            means.push(if seg.weight > 0.0 {
                seg.mean
            } else {
                fallback[c]
            });
            fit_weights.push(seg.weight);
            sse += if seg.weight > 0.0 { seg.sse } else { 0.0 };
        }
        let values = data.values();
        Self {
            means,
            thresholds,
            fit_weights,
            fit_min: values[0],
            fit_max: values[values.len() - 1],
            sse,
        }
    }

    pub fn num_classes(&self) -> usize {
        self.means.len()
    }
}

/// One class of a codebook (one row of the `codebook` port).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CodebookClass {
    pub mean: f64,
    pub lower: f64,
    pub upper: f64,
    pub prior: f64,
}

/// The classes of one (dim, task).
#[derive(Debug, Clone, PartialEq)]
pub struct Codebook {
    pub dim: String,
    pub task: String,
    pub classes: Vec<CodebookClass>,
}

impl Codebook {
    /// Builds the codebook of `partition`, with priors counted on
    /// `train_values` (the training split's labels) and smoothed by
    /// [`PRIOR_PSEUDO_COUNT`].
    pub fn new(
        dim: &str,
        task: &str,
        partition: &Partition,
        train_values: impl IntoIterator<Item = f64>,
    ) -> Self {
        let k = partition.num_classes();
        let mut lower = Vec::with_capacity(k);
        lower.push(partition.fit_min);
        lower.extend_from_slice(&partition.thresholds);
        let mut upper = partition.thresholds.clone();
        upper.push(partition.fit_max);
        let mut codebook = Self {
            dim: dim.to_owned(),
            task: task.to_owned(),
            classes: (0..k)
                .map(|c| CodebookClass {
                    mean: partition.means[c],
                    lower: lower[c],
                    upper: upper[c],
                    prior: 0.0,
                })
                .collect(),
        };
        let mut counts = vec![0.0; k];
        for v in train_values {
            counts[codebook.classify(v) as usize] += 1.0;
        }
        let total: f64 = counts.iter().sum::<f64>() + PRIOR_PSEUDO_COUNT * k as f64;
        for (class, count) in codebook.classes.iter_mut().zip(counts) {
            class.prior = (count + PRIOR_PSEUDO_COUNT) / total;
        }
        codebook
    }

    /// The codebook as rows of the `codebook` port, class 0 first.
    pub fn rows(&self) -> Vec<CodebookRow> {
        self.classes
            .iter()
            .enumerate()
            .map(|(c, class)| CodebookRow {
                dim: self.dim.clone(),
                task: self.task.clone(),
                num_classes: self.classes.len() as u32,
                class: c as u32,
                mean: class.mean,
                lower: class.lower,
                upper: class.upper,
                prior: class.prior,
            })
            .collect()
    }

    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// The class of `value` under the module's assignment rule.
    pub fn classify(&self, value: f64) -> u32 {
        let inner = &self.classes[..self.classes.len() - 1];
        inner.partition_point(|c| c.upper <= value) as u32
    }

    /// `value` replaced by the mean of its class.
    pub fn reconstruct(&self, value: f64) -> f64 {
        self.classes[self.classify(value) as usize].mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use proptest::strategy::Strategy;

    type Method = dyn Fn(&Weighted1d, usize) -> Result<Partition, Error>;

    fn data(values: &[f64]) -> Weighted1d {
        Weighted1d::from_values(values.iter().copied()).unwrap()
    }

    #[test]
    fn centres_give_midpoint_thresholds_and_member_means() {
        let d = data(&[0.0, 0.1, 0.2, 0.9, 1.0]);
        let p = Partition::from_centres(&d, &[0.95, 0.1]);
        assert_eq!(p.thresholds, vec![0.525]);
        assert!((p.means[0] - 0.1).abs() < 1e-12 && (p.means[1] - 0.95).abs() < 1e-12);
        assert_eq!(p.fit_weights, vec![3.0, 2.0]);
        assert!((p.sse - (0.01 + 0.01 + 0.0025 + 0.0025)).abs() < 1e-12);
    }

    #[test]
    fn empty_bin_falls_back_to_its_centre() {
        let d = data(&[0.0, 0.1, 0.9, 1.0]);
        let p = Partition::from_edges(&d, &[0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0]);
        assert_eq!(p.fit_weights, vec![2.0, 0.0, 2.0]);
        assert!((p.means[1] - 0.5).abs() < 1e-12);
    }

    fn codebook() -> Codebook {
        let d = data(&[-0.5, -0.4, 0.0, 0.1, 0.5, 0.6]);
        let p = Partition::from_edges(&d, &[-0.5, -0.2, 0.3, 0.6]);
        Codebook::new("arousal", "k3", &p, [-0.45, -0.45, 0.55])
    }

    #[test]
    fn classify_uses_half_open_classes_and_extends_the_end_classes() {
        let cb = codebook();
        assert_eq!(
            cb.classify(-0.2),
            1,
            "a threshold belongs to the upper class"
        );
        assert_eq!(cb.classify(-0.2000001), 0);
        assert_eq!(cb.classify(-7.0), 0, "below the fit range");
        assert_eq!(cb.classify(0.3), 2);
        assert_eq!(cb.classify(9.0), 2, "above the fit range");
        assert!((cb.reconstruct(0.05) - 0.05).abs() < 1e-12);
    }

    #[test]
    fn bounds_record_fit_range_and_thresholds() {
        let cb = codebook();
        let bounds: Vec<(f64, f64)> = cb.classes.iter().map(|c| (c.lower, c.upper)).collect();
        assert_eq!(bounds, vec![(-0.5, -0.2), (-0.2, 0.3), (0.3, 0.6)]);
    }

    #[test]
    fn priors_are_smoothed_train_frequencies() {
        let cb = codebook();
        // train: two values in class 0, none in class 1, one in class 2.
        let priors: Vec<f64> = cb.classes.iter().map(|c| c.prior).collect();
        assert_eq!(priors, vec![3.0 / 6.0, 1.0 / 6.0, 2.0 / 6.0]);
    }

    #[test]
    fn without_train_data_priors_are_uniform() {
        let d = data(&[0.0, 1.0]);
        let cb = Codebook::new(
            "valence",
            "k2",
            &Partition::from_centres(&d, &[0.0, 1.0]),
            [],
        );
        assert!(cb.classes.iter().all(|c| c.prior == 0.5));
    }

    proptest::proptest! {
        /// The codebook's assignment of each fit value agrees with the class
        /// sizes every method computed on the distinct values.
        #[test]
        fn classify_agrees_with_every_methods_partition(
            values in proptest::collection::vec((-20i32..=20).prop_map(|v| v as f64 / 20.0), 4..60),
            k in 2usize..=4,
        ) {
            let d = Weighted1d::from_values(values.iter().copied()).unwrap();
            proptest::prop_assume!(k <= d.len());
            let kmeans = |d: &Weighted1d, k| crate::kmeans::partition(d, k, &crate::kmeans::KmeansConfig::default());
            let methods: [(&str, &Method); 4] = [
                ("optimal1d", &crate::optimal1d::partition),
                ("kmeans", &kmeans),
                ("quantile", &crate::quantile::partition),
                ("uniform", &crate::uniform::partition),
            ];
            for (name, method) in methods {
                let p = method(&d, k).unwrap();
                let cb = Codebook::new("a", "k", &p, []);
                let mut counts = vec![0.0; k];
                for &v in &values {
                    counts[cb.classify(v) as usize] += 1.0;
                }
                proptest::prop_assert_eq!(&counts, &p.fit_weights, "{}", name);
                proptest::prop_assert!(p.means.windows(2).all(|m| m[0] < m[1]), "{} means {:?}", name, p.means);
            }
        }
    }

    #[test]
    fn rows_number_classes_from_zero() {
        let rows = codebook().rows();
        assert_eq!(
            rows.iter().map(|r| r.class).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert!(
            rows.iter()
                .all(|r| r.num_classes == 3 && r.dim == "arousal" && r.task == "k3")
        );
        assert_eq!(
            (rows[1].lower, rows[1].upper, rows[1].prior),
            (-0.2, 0.3, 1.0 / 6.0)
        );
    }
}
