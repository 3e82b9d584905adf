//! What every cluster kind's method produces: classes ordered by their mean
//! (class 0 = lowest) and the thresholds between them, with the fit data's
//! class weights and squared error. The SDK turns the means and thresholds
//! into the codebook, priors and classes by the rule every discretizer
//! follows ([`emoflow_sdk::families::cluster`]).

use emoflow_sdk::families::cluster::Fit;

use crate::weighted::Weighted1d;

/// A discretizer's result on the fit data for one k.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    /// Mean of the fit values of each class, ascending.
    pub means: Vec<f64>,
    /// The k - 1 thresholds between consecutive classes, ascending.
    pub thresholds: Vec<f64>,
    /// Total weight (number of frames) of fit data in each class.
    pub fit_weights: Vec<f64>,
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
        Self {
            means,
            thresholds,
            fit_weights,
            sse,
        }
    }

    pub fn num_classes(&self) -> usize {
        self.means.len()
    }

    /// What the SDK needs of the partition: means and thresholds.
    pub fn into_fit(self) -> Fit {
        Fit {
            means: self.means,
            thresholds: self.thresholds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use emoflow_sdk::families::cluster::Codebook;
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

    proptest::proptest! {
        /// The SDK codebook's assignment of each fit value agrees with the
        /// class sizes every method computed on the distinct values.
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
                let cb = Codebook::new("a", "k", &p.clone().into_fit(), d.values()[0], d.values()[d.len() - 1], []).unwrap();
                let mut counts = vec![0.0; k];
                for &v in &values {
                    counts[cb.classify(v) as usize] += 1.0;
                }
                proptest::prop_assert_eq!(&counts, &p.fit_weights, "{}", name);
                proptest::prop_assert!(p.means.windows(2).all(|m| m[0] < m[1]), "{} means {:?}", name, p.means);
            }
        }
    }
}
