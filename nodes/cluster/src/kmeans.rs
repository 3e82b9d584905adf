//! `cluster.kmeans`: Lloyd's algorithm with k-means++ seeding and restarts,
//! the heuristic the paper (and scikit-learn) use; `cluster.optimal1d` finds
//! the exact optimum of the same objective and is preferred for labels.
//!
//! Specialised to 1-D: with sorted centres each class is a run of consecutive
//! distinct values cut at the midpoints between centres, so an assignment
//! step is k binary searches and an update step k prefix-sum lookups.
//! Results are identical to Lloyd on the raw frames (duplicates are weights).

use emoflow_sdk::KindSpec;
use emoflow_sdk::prelude::Split;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::Error;
use crate::codebook::Partition;
use crate::discretize;
use crate::weighted::Weighted1d;

/// Parameters of `cluster.kmeans`: those of every discretizer, then Lloyd's.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Numbers of classes, each at least 2; one task per number, named `k`
    /// followed by it (`k4`, `k6`, ...).
    #[serde(default = "discretize::default_k")]
    #[schemars(length(min = 1), inner(range(min = 2, max = 1000)))]
    pub k: Vec<u32>,
    /// Splits whose labels the classes are fitted on. Class priors always
    /// come from the `train` split.
    #[serde(default = "discretize::default_fit_splits")]
    #[schemars(length(min = 1))]
    pub fit_splits: Vec<Split>,
    /// Dimensions to discretize, e.g. `["arousal"]`; every dimension present
    /// in the labels when absent.
    #[serde(default)]
    pub dims: Option<Vec<String>>,
    /// Independent k-means++ seedings per k; the one with the least squared
    /// error wins.
    #[serde(default = "default_n_init")]
    #[schemars(range(min = 1, max = 1000))]
    pub n_init: u32,
    /// Lloyd iterations per seeding at most.
    #[serde(default = "default_max_iter")]
    #[schemars(range(min = 1))]
    pub max_iter: u32,
    /// A seeding stops when its centres' summed squared movement in one
    /// iteration is at most `tol` times the variance of the labels.
    #[serde(default = "default_tol")]
    #[schemars(range(min = 0.0))]
    pub tol: f64,
    /// Seed of the random seedings (ChaCha8): equal seeds, equal codebooks.
    #[serde(default)]
    pub seed: u64,
}

fn default_n_init() -> u32 {
    KmeansConfig::default().n_init as u32
}

fn default_max_iter() -> u32 {
    KmeansConfig::default().max_iter as u32
}

fn default_tol() -> f64 {
    KmeansConfig::default().tol
}

pub fn spec() -> KindSpec {
    discretize::kind_spec(
        "cluster.kmeans",
        file!(),
        "k-means by Lloyd's algorithm with k-means++ seeding and restarts, as the paper and \
         scikit-learn run it; `cluster.optimal1d` reaches the exact optimum of the same objective.",
    )
    .create(|p: Params| {
        let plan = discretize::Params {
            k: p.k,
            fit_splits: p.fit_splits,
            dims: p.dims,
        }
        .plan()?;
        let config = KmeansConfig {
            n_init: p.n_init as usize,
            max_iter: p.max_iter as usize,
            tol: p.tol,
            seed: p.seed,
        };
        Ok(discretize::node(
            plan,
            move |data: &Weighted1d, k: usize| partition(data, k, &config),
        ))
    })
}

/// Lloyd/k-means++ settings; the defaults are scikit-learn's.
#[derive(Debug, Clone, PartialEq)]
pub struct KmeansConfig {
    /// Independent seedings; the run with the least error wins.
    pub n_init: usize,
    /// Lloyd iterations per run at most.
    pub max_iter: usize,
    /// A run stops when the summed squared centre movement of an iteration
    /// falls to `tol` times the variance of the data.
    pub tol: f64,
    pub seed: u64,
}

impl Default for KmeansConfig {
    fn default() -> Self {
        Self {
            n_init: 10,
            max_iter: 300,
            tol: 1e-4,
            seed: 0,
        }
    }
}

pub fn partition(data: &Weighted1d, k: usize, config: &KmeansConfig) -> Result<Partition, Error> {
    data.require_classes(k)?;
    if config.n_init == 0 || config.max_iter == 0 {
        return Err(Error::Invalid(
            "n_init and max_iter must be at least 1".into(),
        ));
    }
    if !(config.tol >= 0.0 && config.tol.is_finite()) {
        return Err(Error::Invalid(format!(
            "tol must be finite and >= 0, not {}",
            config.tol
        )));
    }
    let variance = data.segment(0, data.len()).sse / data.total_weight();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut best: Option<Partition> = None;
    for _ in 0..config.n_init {
        let centres = lloyd(
            data,
            seed_centres(data, k, &mut rng),
            config.max_iter,
            config.tol * variance,
        );
        let candidate = Partition::from_centres(data, &centres);
        if best.as_ref().is_none_or(|b| candidate.sse < b.sse) {
            best = Some(candidate);
        }
    }
    Ok(best.expect("n_init >= 1"))
}

/// Greedy k-means++: each new centre is the best (least resulting error) of
/// `2 + ln k` candidates drawn with probability proportional to weight times
/// squared distance to the nearest centre so far.
fn seed_centres(data: &Weighted1d, k: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let (xs, ws) = (data.values(), data.weights());
    let trials = 2 + (k as f64).ln() as usize;
    let first = xs[sample(&cumulative(ws.iter().copied()), rng)];
    let mut centres = vec![first];
    let mut nearest: Vec<f64> = xs.iter().map(|x| (x - first).powi(2)).collect();
    let mut trial_nearest = vec![0.0; xs.len()];
    let mut best_nearest = vec![0.0; xs.len()];
    while centres.len() < k {
        let cum = cumulative(ws.iter().zip(&nearest).map(|(w, d)| w * d));
        let mut best: Option<(f64, f64)> = None;
        for _ in 0..trials {
            let candidate = xs[sample(&cum, rng)];
            let mut potential = 0.0;
            for ((slot, &d), (&x, &w)) in trial_nearest
                .iter_mut()
                .zip(&nearest)
                .zip(xs.iter().zip(ws))
            {
                *slot = d.min((x - candidate).powi(2));
                potential += w * *slot;
            }
            if best.is_none_or(|(p, _)| potential < p) {
                best = Some((potential, candidate));
                std::mem::swap(&mut best_nearest, &mut trial_nearest);
            }
        }
        let (_, centre) = best.expect("at least two trials");
        centres.push(centre);
        std::mem::swap(&mut nearest, &mut best_nearest);
    }
    centres
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    weights
        .scan(0.0, |acc, w| {
            *acc += w;
            Some(*acc)
        })
        .collect()
}

/// An index drawn with probability proportional to its increment in `cum`
/// (zero increments are never drawn).
fn sample(cum: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let u = rng.random::<f64>() * cum[cum.len() - 1];
    cum.partition_point(|&c| c <= u).min(cum.len() - 1)
}

/// Lloyd iterations from `centres` until they move less than `tol_abs` or
/// `max_iter` is reached.
pub(crate) fn lloyd(
    data: &Weighted1d,
    mut centres: Vec<f64>,
    max_iter: usize,
    tol_abs: f64,
) -> Vec<f64> {
    let k = centres.len();
    for _ in 0..max_iter {
        centres.sort_unstable_by(f64::total_cmp);
        let mut bounds = Vec::with_capacity(k + 1);
        bounds.push(0);
        bounds.extend(
            centres
                .windows(2)
                .map(|p| data.count_below(0.5 * (p[0] + p[1]))),
        );
        bounds.push(data.len());
        let mut updated: Vec<Option<f64>> = bounds
            .windows(2)
            .map(|r| (r[0] < r[1]).then(|| data.segment(r[0], r[1]).mean))
            .collect();
        relocate_empty(data, &bounds, &centres, &mut updated);
        let updated: Vec<f64> = updated.into_iter().map(|c| c.expect("relocated")).collect();
        let shift: f64 = updated
            .iter()
            .zip(&centres)
            .map(|(a, b)| (a - b).powi(2))
            .sum();
        centres = updated;
        if shift <= tol_abs {
            break;
        }
    }
    centres
}

/// A class that lost all its values takes over the value farthest from its
/// current centre (as scikit-learn does). In 1-D the farthest member of a
/// class is one of its two ends, so only those are candidates.
fn relocate_empty(
    data: &Weighted1d,
    bounds: &[usize],
    centres: &[f64],
    updated: &mut [Option<f64>],
) {
    let empty = updated.iter().filter(|c| c.is_none()).count();
    if empty == 0 {
        return;
    }
    let xs = data.values();
    let mut candidates: Vec<(f64, usize)> = Vec::new();
    for (c, r) in bounds.windows(2).enumerate().filter(|(_, r)| r[0] < r[1]) {
        for i in [r[0], r[1] - 1] {
            candidates.push(((xs[i] - centres[c]).abs(), i));
        }
    }
    candidates.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    candidates.dedup_by_key(|c| c.1);
    let mut takers = candidates.into_iter().map(|(_, i)| xs[i]);
    for slot in updated.iter_mut().filter(|c| c.is_none()) {
        // Fewer candidates than empty classes needs k > 2 * non-empty
        // classes; the next iteration then splits the relocated centres.
        *slot = Some(takers.next().unwrap_or(xs[xs.len() - 1]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimal1d;

    fn groups() -> Weighted1d {
        Weighted1d::from_values([-0.52, -0.5, -0.48, 0.0, 0.01, 0.02, 0.88, 0.9]).unwrap()
    }

    #[test]
    fn finds_well_separated_groups() {
        let p = partition(&groups(), 3, &KmeansConfig::default()).unwrap();
        assert_eq!(p.fit_weights, vec![3.0, 3.0, 2.0]);
        assert!((p.means[2] - 0.89).abs() < 1e-12);
    }

    #[test]
    fn same_seed_same_result() {
        let data =
            Weighted1d::from_values((0..500).map(|i| ((i * 7919) % 1000) as f64 / 1000.0)).unwrap();
        let config = KmeansConfig {
            seed: 42,
            ..KmeansConfig::default()
        };
        assert_eq!(
            partition(&data, 6, &config).unwrap(),
            partition(&data, 6, &config).unwrap()
        );
    }

    #[test]
    fn restarts_never_hurt_and_never_beat_the_exact_optimum() {
        let data =
            Weighted1d::from_values((0..2000).map(|i| ((i as f64) * 0.013).sin().powi(3))).unwrap();
        for seed in 0..5 {
            let one = partition(
                &data,
                8,
                &KmeansConfig {
                    n_init: 1,
                    seed,
                    ..KmeansConfig::default()
                },
            )
            .unwrap();
            let ten = partition(
                &data,
                8,
                &KmeansConfig {
                    n_init: 10,
                    seed,
                    ..KmeansConfig::default()
                },
            )
            .unwrap();
            let exact = optimal1d::partition(&data, 8).unwrap();
            // The first of ten restarts is the single run (same random stream).
            assert!(ten.sse <= one.sse, "seed {seed}: {} > {}", ten.sse, one.sse);
            assert!(
                exact.sse <= ten.sse * (1.0 + 1e-12),
                "seed {seed}: {} < {}",
                ten.sse,
                exact.sse
            );
        }
    }

    #[test]
    fn an_emptied_class_is_relocated() {
        let data = Weighted1d::from_values([0.0, 1.0, 10.0, 11.0]).unwrap();
        // The centre at 21 is nearest to no value on the first step.
        let centres = lloyd(&data, vec![20.0, 21.0, 0.5], 10, 0.0);
        let p = Partition::from_centres(&data, &centres);
        assert!(
            p.fit_weights.iter().all(|&w| w > 0.0),
            "{:?}",
            p.fit_weights
        );
        assert_eq!(p.fit_weights.iter().sum::<f64>(), 4.0);
    }

    #[test]
    fn rejects_invalid_settings() {
        let bad = KmeansConfig {
            n_init: 0,
            ..KmeansConfig::default()
        };
        assert!(partition(&groups(), 2, &bad).is_err());
        let bad = KmeansConfig {
            tol: f64::NAN,
            ..KmeansConfig::default()
        };
        assert!(partition(&groups(), 2, &bad).is_err());
    }
}
