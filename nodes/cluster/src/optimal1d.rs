//! `cluster.optimal1d`: exact 1-D k-means, i.e. the partition of the labels
//! into k classes with the minimum within-class sum of squared errors, by the
//! dynamic programme of Wang & Song (2011, "Ckmeans.1d.dp").
//!
//! In sorted order an optimal class is a run of consecutive values, so with
//! `D[m][i]` the least error of the first `i + 1` distinct values in `m`
//! classes,
//!
//! ```text
//! D[m][i] = min over j <= i of  D[m-1][j-1] + sse(j..=i)
//! ```
//!
//! Each `sse` is O(1) from the prefix sums of [`Weighted1d`]. Two facts make
//! a layer cheap:
//! - The cost satisfies the quadrangle inequality, so the best start `j` of
//!   the last class never decreases as `i` grows: a layer is solved by divide
//!   and conquer over `i`, each row searching only between the best starts of
//!   its already solved neighbours (O(n log n) per layer at worst).
//! - `D[m-1][j-1]` never decreases with `j` and `sse(j..=i)` never increases,
//!   so `D[m-1][a-1] + sse(b..=i)` bounds every candidate of a block `a..=b`
//!   from below: wide searches evaluate block bounds first and scan only the
//!   blocks that can still beat the best value found.
//!
//! Once the middle row of a divide-and-conquer step is solved, the rows
//! below and above it are independent: with a thread budget the two halves
//! run on separate threads (recursively, down to `MIN_ROWS_PER_THREAD` rows),
//! with the same result as on one thread.
//!
//! On the 200k golden labels this ran about half the instructions of a SMAWK
//! (O(n) per layer) version of the same DP, with sequential memory access.

use emoflow_sdk::prelude::{Context, Inputs, KindSpec, Node, Outputs};

use crate::Error;
use crate::codebook::Partition;
use crate::discretize::{self, Discretizer, Params, Plan};
use crate::weighted::Weighted1d;

/// Searches at most this wide are scanned whole.
const SCAN_ALL: usize = 48;

/// A thread takes at least this many rows of a layer: fewer cost more to
/// hand over than they take to solve.
const MIN_ROWS_PER_THREAD: usize = 4096;

/// Relative slack of the block pruning, far above the rounding error of the
/// prefix sums: a block is skipped only when its bound exceeds the best value
/// by more than rounding can explain.
const PRUNE_SLACK: f64 = 1e-10;

pub fn spec() -> KindSpec {
    discretize::kind_spec(
        "cluster.optimal1d",
        file!(),
        "Exact 1-D k-means: per dim, the classes with the least within-class squared error on \
         the fit splits' labels (dynamic programming, Wang & Song 2011). The paper's discretizer.",
    )
    .create(|p: Params| Ok(Optimal1d { plan: p.plan()? }))
}

/// The node: a [`Discretizer`] whose method uses the run's thread budget.
struct Optimal1d {
    plan: Plan,
}

impl Node for Optimal1d {
    fn run(&mut self, ctx: &Context, inputs: Inputs) -> emoflow_sdk::Result<Outputs> {
        let threads = ctx.threads();
        let method = move |data: &Weighted1d, k| partition_threads(data, k, threads);
        Discretizer::new(self.plan.clone(), method).run(ctx, inputs)
    }
}

/// The optimal partition of `data` into `k` classes.
pub fn partition(data: &Weighted1d, k: usize) -> Result<Partition, Error> {
    partition_threads(data, k, 1)
}

/// [`partition`] on up to `threads` threads (the result does not depend on
/// their number).
pub fn partition_threads(data: &Weighted1d, k: usize, threads: usize) -> Result<Partition, Error> {
    data.require_classes(k)?;
    let starts = optimal_starts(data, k, threads.max(1));
    let centres: Vec<f64> = starts
        .iter()
        .zip(starts.iter().skip(1).chain([&data.len()]))
        .map(|(&s, &e)| data.segment(s, e).mean)
        .collect();
    // In an optimal partition every value is nearest to its own class mean,
    // so midpoint thresholds reproduce it (a value exactly on a midpoint may
    // change side, which leaves the error unchanged).
    Ok(Partition::from_centres(data, &centres))
}

/// Index of the first distinct value of each class in an optimal partition.
fn optimal_starts(data: &Weighted1d, k: usize, threads: usize) -> Vec<usize> {
    let n = data.len();
    let mut prev: Vec<f64> = (0..n).map(|i| data.segment_sse(0, i + 1)).collect();
    let mut cur = vec![0.0; n];
    let mut base = vec![0.0; n];
    // argmins[m - 2][i]: start of the last class in the best split of values
    // 0..=i into m classes.
    let mut argmins: Vec<Vec<u32>> = Vec::with_capacity(k.saturating_sub(1));
    for m in 2..=k {
        // Layer m is needed only for rows that leave enough values for the
        // k - m classes after it; the last layer only for the full data.
        let first = m - 1;
        let last = n - 1 - (k - m);
        let (_, _, cum_wxx) = data.prefix_sums();
        for j in first..=last {
            base[j] = prev[j - 1] - cum_wxx[j];
        }
        let layer = Layer {
            data,
            prev: &prev,
            base: &base,
        };
        let mut arg = vec![0u32; n];
        let mut out = Rows {
            first: 0,
            value: &mut cur,
            arg: &mut arg,
        };
        let first_row = if m == k { n - 1 } else { first };
        layer.solve(first_row, last, first, last, &mut out, threads);
        argmins.push(arg);
        std::mem::swap(&mut prev, &mut cur);
    }
    let mut starts = Vec::with_capacity(k);
    let mut end = n - 1;
    for arg in argmins.iter().rev() {
        let start = arg[end] as usize;
        starts.push(start);
        end = start - 1;
    }
    starts.push(0);
    starts.reverse();
    starts
}

/// A layer's results for consecutive rows, from row `first` on.
struct Rows<'a> {
    first: usize,
    value: &'a mut [f64],
    arg: &'a mut [u32],
}

impl Rows<'_> {
    fn set(&mut self, row: usize, value: f64, arg: usize) {
        self.value[row - self.first] = value;
        self.arg[row - self.first] = arg as u32;
    }

    /// Rows before `row` and rows from `row` on.
    fn split_at(&mut self, row: usize) -> (Rows<'_>, Rows<'_>) {
        let (left_value, right_value) = self.value.split_at_mut(row - self.first);
        let (left_arg, right_arg) = self.arg.split_at_mut(row - self.first);
        let left = Rows {
            first: self.first,
            value: left_value,
            arg: left_arg,
        };
        let right = Rows {
            first: row,
            value: right_value,
            arg: right_arg,
        };
        (left, right)
    }
}

/// One DP layer: `prev` is the layer before, `base[j]` the part of a
/// candidate's value that depends on its start `j` only.
struct Layer<'a> {
    data: &'a Weighted1d,
    prev: &'a [f64],
    base: &'a [f64],
}

impl Layer<'_> {
    /// Solves rows `lo..=hi`, whose best starts lie in `from..=to`, on up
    /// to `threads` threads.
    fn solve(&self, lo: usize, hi: usize, from: usize, to: usize, out: &mut Rows, threads: usize) {
        if lo > hi {
            return;
        }
        let mid = lo + (hi - lo) / 2;
        let (v, best) = self.best_start(mid, from, to.min(mid));
        out.set(mid, v, best);
        // Once the middle row is known the halves are independent.
        if threads > 1 && mid - lo >= MIN_ROWS_PER_THREAD {
            let left_threads = threads / 2;
            let (mut left, mut right) = out.split_at(mid);
            std::thread::scope(|scope| {
                scope.spawn(|| self.solve(lo, mid - 1, from, best, &mut left, left_threads));
                self.solve(mid + 1, hi, best, to, &mut right, threads - left_threads);
            });
            return;
        }
        if mid > lo {
            self.solve(lo, mid - 1, from, best, out, 1);
        }
        self.solve(mid + 1, hi, best, to, out, 1);
    }

    /// The least `prev[j-1] + sse(j..=i)` over `j` in `from..=to`, and its
    /// (leftmost) `j`.
    fn best_start(&self, i: usize, from: usize, to: usize) -> (f64, usize) {
        let width = to + 1 - from;
        if width <= SCAN_ALL {
            return self.scan(i, from, to);
        }
        let size = ((width as f64).sqrt() as usize).max(SCAN_ALL);
        let blocks = width.div_ceil(size);
        let block = |b: usize| (from + b * size, (from + (b + 1) * size - 1).min(to));
        let bound = |b: usize| {
            let (a, z) = block(b);
            self.prev[a - 1] + self.data.segment_sse(z, i + 1)
        };
        let bounds: Vec<f64> = (0..blocks).map(bound).collect();
        // The most promising block first gives a strong value to prune with.
        let first = (0..blocks)
            .min_by(|&x, &y| bounds[x].total_cmp(&bounds[y]))
            .expect("width > 0");
        let mut best = self.scan(i, block(first).0, block(first).1);
        for b in (0..blocks).filter(|&b| b != first) {
            if bounds[b] > best.0 + PRUNE_SLACK * best.0.abs() {
                continue;
            }
            let (a, z) = block(b);
            let candidate = self.scan(i, a, z);
            if candidate.0 < best.0 || (candidate.0 == best.0 && candidate.1 < best.1) {
                best = candidate;
            }
        }
        best
    }

    /// Evaluates every start in `from..=to`.
    fn scan(&self, i: usize, from: usize, to: usize) -> (f64, usize) {
        let (cum_w, cum_wx, cum_wxx) = self.data.prefix_sums();
        let (w_end, s_end, q_end) = (cum_w[i + 1], cum_wx[i + 1], cum_wxx[i + 1]);
        let (mut best, mut best_j) = (f64::INFINITY, from);
        let candidates = cum_w[from..=to]
            .iter()
            .zip(&cum_wx[from..=to])
            .zip(&self.base[from..=to]);
        for (j, ((&w, &s), &base)) in (from..).zip(candidates) {
            let sum = s_end - s;
            let v = base - sum * sum / (w_end - w);
            if v < best {
                best = v;
                best_j = j;
            }
        }
        (best + q_end, best_j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Weighted squared error of one class, computed directly.
    fn direct_sse(points: &[(f64, f64)]) -> f64 {
        let w: f64 = points.iter().map(|p| p.1).sum();
        let mean = points.iter().map(|p| p.0 * p.1).sum::<f64>() / w;
        points
            .iter()
            .map(|p| p.1 * (p.0 - mean) * (p.0 - mean))
            .sum()
    }

    /// Least error over every way of cutting the sorted `points` into `k`
    /// non-empty contiguous runs.
    fn brute_force(points: &[(f64, f64)], k: usize) -> f64 {
        fn go(points: &[(f64, f64)], k: usize) -> f64 {
            if k == 1 {
                return direct_sse(points);
            }
            (1..=points.len() - (k - 1))
                .map(|cut| direct_sse(&points[..cut]) + go(&points[cut..], k - 1))
                .fold(f64::INFINITY, f64::min)
        }
        let mut sorted = points.to_vec();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        go(&sorted, k)
    }

    /// The textbook O(k n^2) DP, to check the fast DP on inputs too large to enumerate.
    fn quadratic_dp(data: &Weighted1d, k: usize) -> f64 {
        let n = data.len();
        let mut d: Vec<f64> = (0..n).map(|i| data.segment_sse(0, i + 1)).collect();
        for _ in 2..=k {
            d = (0..n)
                .map(|i| {
                    (1..=i)
                        .map(|j| d[j - 1] + data.segment_sse(j, i + 1))
                        .fold(f64::INFINITY, f64::min)
                })
                .collect();
        }
        d[n - 1]
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
    }

    /// Labels drawn from few values, so that duplicates are frequent.
    fn coarse_values(max_len: usize) -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec((-8i32..=8).prop_map(|v| v as f64 / 8.0), 1..=max_len)
    }

    proptest! {
        #[test]
        fn equals_brute_force_on_raw_values_with_duplicates(values in coarse_values(10), k in 1usize..=5) {
            let data = Weighted1d::from_values(values.iter().copied()).unwrap();
            prop_assume!(k <= data.len());
            let raw: Vec<(f64, f64)> = values.iter().map(|&v| (v, 1.0)).collect();
            let p = partition(&data, k).unwrap();
            let best = brute_force(&raw, k);
            prop_assert!(close(p.sse, best), "optimal1d {} vs brute force {}", p.sse, best);
            prop_assert_eq!(p.num_classes(), k);
            prop_assert!(p.fit_weights.iter().all(|&w| w > 0.0), "no empty class: {:?}", p.fit_weights);
        }

        #[test]
        fn equals_brute_force_with_real_weights(
            points in prop::collection::vec((-1.0f64..1.0, 0.01f64..5.0), 1..=9),
            k in 1usize..=5,
        ) {
            let (values, weights): (Vec<f64>, Vec<f64>) = points.iter().copied().unzip();
            let data = Weighted1d::from_weighted(&values, &weights).unwrap();
            prop_assume!(k <= data.len());
            let p = partition(&data, k).unwrap();
            let best = brute_force(&points, k);
            prop_assert!(close(p.sse, best), "optimal1d {} vs brute force {}", p.sse, best);
        }

        #[test]
        fn integer_weights_equal_repeated_values(values in coarse_values(12), k in 1usize..=4) {
            let repeated = Weighted1d::from_values(values.iter().copied()).unwrap();
            prop_assume!(k <= repeated.len());
            let weighted = Weighted1d::from_weighted(repeated.values(), repeated.weights()).unwrap();
            let (a, b) = (partition(&repeated, k).unwrap(), partition(&weighted, k).unwrap());
            prop_assert_eq!(&a.fit_weights, &b.fit_weights);
            prop_assert!(a.means.iter().zip(&b.means).all(|(x, y)| close(*x, *y)), "{:?} vs {:?}", a.means, b.means);
        }

        #[test]
        fn equals_quadratic_dp_on_larger_inputs(
            values in prop::collection::vec(-1.0f64..1.0, 30..300),
            k in 2usize..=12,
        ) {
            let data = Weighted1d::from_values(values.iter().copied()).unwrap();
            let p = partition(&data, k).unwrap();
            let best = quadratic_dp(&data, k);
            prop_assert!(close(p.sse, best), "optimal1d {} vs O(kn^2) DP {}", p.sse, best);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        /// Wide searches, where the block bounds prune.
        #[test]
        fn equals_quadratic_dp_where_blocks_are_pruned(
            values in prop::collection::vec(-1.0f64..1.0, 600..1500),
            k in 2usize..=6,
        ) {
            let data = Weighted1d::from_values(values.iter().copied()).unwrap();
            let p = partition(&data, k).unwrap();
            let best = quadratic_dp(&data, k);
            prop_assert!(close(p.sse, best), "optimal1d {} vs O(kn^2) DP {}", p.sse, best);
        }
    }

    #[test]
    fn threads_do_not_change_the_result() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        // Wide enough for several levels of splitting.
        let values: Vec<f64> = (0..40_000).map(|_| rng.random_range(-1.0..1.0)).collect();
        let data = Weighted1d::from_values(values).unwrap();
        for k in [2, 5, 10] {
            let one = optimal_starts(&data, k, 1);
            for threads in [2, 3, 8] {
                assert_eq!(
                    optimal_starts(&data, k, threads),
                    one,
                    "k {k}, {threads} threads"
                );
            }
        }
    }

    #[test]
    fn finds_well_separated_groups() {
        let data =
            Weighted1d::from_values([0.9, -0.5, 0.0, -0.52, 0.88, 0.02, -0.48, 0.01]).unwrap();
        let p = partition(&data, 3).unwrap();
        assert_eq!(p.fit_weights, vec![3.0, 3.0, 2.0]);
        assert!((p.means[0] + 0.5).abs() < 1e-12);
        assert!((p.means[1] - 0.01).abs() < 1e-12);
        assert!((p.means[2] - 0.89).abs() < 1e-12);
    }

    #[test]
    fn k_equal_to_distinct_values_is_exact() {
        let data = Weighted1d::from_values([0.3, 0.1, 0.2, 0.1]).unwrap();
        let p = partition(&data, 3).unwrap();
        assert_eq!(p.sse, 0.0);
        assert_eq!(p.means, vec![0.1, 0.2, 0.3]);
    }

    #[test]
    fn rejects_more_classes_than_distinct_values() {
        let data = Weighted1d::from_values([0.1, 0.1, 0.2]).unwrap();
        let err = partition(&data, 3).unwrap_err();
        assert!(err.to_string().contains("only 2 distinct"), "{err}");
    }
}
