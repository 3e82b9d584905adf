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
//! Each `sse` is O(1) from the prefix sums of [`Weighted1d`]. Three facts
//! keep the work small:
//! - `D[m][i]` never decreases with `i`, and no row of an optimal partition
//!   costs more than the whole of any k-class partition. The error of a
//!   quick Lloyd partition (from the quantile classes; on the golden labels
//!   within 0.04 % of the optimum) therefore ends each layer at the last row
//!   below it, found by bisection, and later layers search only starts
//!   after those rows.
//! - The classes are found from both ends: the first `k / 2` as optimal
//!   partitions of prefixes, the others of suffixes (prefixes of the
//!   mirrored data), joined at the best cut. Each side has half the layers,
//!   and the early layers, which the bound cuts most, are solved twice
//!   rather than the late ones once. On the 200k golden labels at k = 10 the
//!   two sides solve 3.96 layers' worth of rows instead of 8. The sides are
//!   independent and run on separate threads when the node has two.
//! - The cost satisfies the quadrangle inequality, so the best start `j` of
//!   the last class never decreases as `i` grows: a layer is solved by divide
//!   and conquer over `i`, each row searching only between the best starts of
//!   its already solved neighbours (O(n log n) per layer at worst).
//!   `D[m-1][j-1]` never decreases with `j` and `sse(j..=i)` never increases,
//!   so `D[m-1][a-1] + sse(b..=i)` bounds every candidate of a block `a..=b`
//!   from below: wide searches evaluate block bounds first and scan only the
//!   blocks that can still beat the best value found.
//!
//! Once the middle row of a divide-and-conquer step is solved, the rows
//! below and above it are independent: with more threads than sides the two
//! halves run on separate threads (recursively, down to
//! `MIN_ROWS_PER_THREAD` rows). No thread count changes the result.
//!
//! On the 200k golden labels the divide and conquer ran about half the
//! instructions of a SMAWK (O(n) per layer) version, with sequential memory
//! access. Most of the remaining time goes into scanning runs of candidates,
//! and a scan is bound by its divisions: on CPUs with AVX-512 long runs are
//! scanned eight lanes at a time ([`simd`]), with the same result, bit for
//! bit.

use emoflow_sdk::prelude::{Context, Inputs, KindSpec, Node, Outputs};

use crate::Error;
use crate::codebook::Partition;
use crate::discretize::{self, Params, Plan};
use crate::weighted::Weighted1d;
use crate::{kmeans, quantile};

mod simd;

/// Searches at most this wide are scanned whole.
const SCAN_ALL: usize = 48;

/// Runs shorter than this are scanned on one lane: on the 200k golden
/// labels the vector scan of shorter runs cost as much as it saved.
const SIMD_MIN_RUN: usize = 16;

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

/// The node: a [`discretize::node`] whose method uses the run's thread budget.
struct Optimal1d {
    plan: Plan,
}

impl Node for Optimal1d {
    fn run(&mut self, ctx: &Context, inputs: Inputs) -> emoflow_sdk::Result<Outputs> {
        let threads = ctx.threads();
        let method = move |data: &Weighted1d, k| partition_threads(data, k, threads);
        discretize::node(self.plan.clone(), method).run(ctx, inputs)
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
    // A prefix whose least error in m classes exceeds the error of a known
    // k-class partition cannot start an optimal one: the layers stop there.
    let limit = row_limit(data, upper_bound(data, k)?);
    let starts = optimal_starts(data, k, limit, threads.max(1), Kernel::detect());
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

/// How a layer scans a run of candidate starts; both give the same result.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kernel {
    Scalar,
    /// Eight lanes: only where [`simd::available`].
    Avx512,
}

impl Kernel {
    fn detect() -> Self {
        if simd::available() {
            Kernel::Avx512
        } else {
            Kernel::Scalar
        }
    }
}

/// Index of the first distinct value of each class in an optimal partition.
///
/// The classes are found from both ends at once: the first `k / 2` classes
/// as optimal partitions of every prefix, the others as optimal partitions of
/// every suffix (prefixes of the mirrored data), and the best place for the
/// cut between them.
///
/// `limit` is at least the least error: rows of a layer whose least error
/// exceeds it are not solved.
fn optimal_starts(
    data: &Weighted1d,
    k: usize,
    limit: f64,
    threads: usize,
    kernel: Kernel,
) -> Vec<usize> {
    let n = data.len();
    if k == 1 {
        return vec![0];
    }
    let front = |threads| {
        Side {
            data,
            classes: k / 2,
            k,
            limit,
            kernel,
        }
        .solve(threads)
    };
    let back = |threads| {
        let mirrored = data.mirrored();
        Side {
            data: &mirrored,
            classes: k - k / 2,
            k,
            limit,
            kernel,
        }
        .solve(threads)
    };
    let (front, back) = if threads > 1 {
        std::thread::scope(|scope| {
            let back = scope.spawn(|| back(threads / 2));
            let front = front(threads - threads / 2);
            (
                front,
                back.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            )
        })
    } else {
        (front(1), back(1))
    };
    // The front classes end at `end`, the back ones cover the values after
    // it, i.e. the mirrored prefix ending at n - 2 - end.
    let (mut best, mut end) = (f64::INFINITY, 0);
    for i in front.rows() {
        if let Some(back_value) = back.value(n - 2 - i) {
            let v = front.values[i] + back_value;
            if v < best {
                (best, end) = (v, i);
            }
        }
    }
    // `best` is the error of a real partition, so it is within the limit
    // exactly when the limit was valid (at least the least error), as the
    // upper bound and ROW_SLACK make it; otherwise solve every row.
    if best > limit {
        return optimal_starts(data, k, f64::INFINITY, threads, kernel);
    }
    let mut starts = front.starts(end);
    // A mirrored class starting at s' ends, in the data, just before n - s'.
    let mirrored_starts = back.starts(n - 2 - end);
    starts.push(end + 1);
    starts.extend(mirrored_starts[1..].iter().rev().map(|&s| n - s));
    starts
}

/// Margin on the error of a known partition before a row is dropped,
/// relative to the error of one class, the scale of the prefix sums' rounding.
const ROW_SLACK: f64 = 1e-9;

/// The row limit for a known partition of error `bound`.
fn row_limit(data: &Weighted1d, bound: f64) -> f64 {
    bound + ROW_SLACK * data.segment_sse(0, data.len())
}

/// The error of Lloyd's algorithm started from the quantile classes: a
/// partition close to optimal, found in microseconds.
fn upper_bound(data: &Weighted1d, k: usize) -> Result<f64, Error> {
    let start = quantile::partition(data, k)?.means;
    Ok(Partition::from_centres(data, &kmeans::lloyd(data, start, 100, 0.0)).sse)
}

/// The first `classes` classes of a k-class partition of `data`.
struct Side<'a> {
    data: &'a Weighted1d,
    classes: usize,
    k: usize,
    limit: f64,
    kernel: Kernel,
}

/// A solved [`Side`]: for each prefix ending at a row in `first..=last`,
/// its least error in the side's classes and, per layer, the start of the
/// last class of each row's best split.
struct Solved {
    first: usize,
    last: usize,
    values: Vec<f64>,
    /// `argmins[m - 2][i]`: start of the last class in the best split of
    /// values `0..=i` into `m` classes.
    argmins: Vec<Vec<u32>>,
}

impl Side<'_> {
    fn solve(&self, threads: usize) -> Solved {
        let n = self.data.len();
        let (_, _, cum_wxx) = self.data.prefix_sums();
        // Rows of layer m leave at least one value to each of the k - m
        // classes after them.
        let last_row = |m: usize| n - 1 - (self.k - m);
        let prefix_error = |i: usize| self.data.segment_sse(0, i + 1);
        let mut last = rows_within(0, last_row(1), |i| prefix_error(i) <= self.limit);
        let mut prev: Vec<f64> = (0..=last).map(prefix_error).collect();
        prev.resize(n, f64::INFINITY);
        let mut cur = vec![f64::INFINITY; n];
        let mut base = vec![0.0; n];
        let mut argmins = Vec::with_capacity(self.classes - 1);
        for m in 2..=self.classes {
            let first = m - 1;
            // Starts after `last + 1` would follow a prefix beyond the limit.
            let to = (last + 1).min(last_row(m));
            for j in first..=to {
                base[j] = prev[j - 1] - cum_wxx[j];
            }
            let layer = Layer {
                data: self.data,
                prev: &prev,
                base: &base,
                kernel: self.kernel,
            };
            let row_error = |i: usize| layer.best_start(i, first, to.min(i)).0;
            last = rows_within(first, last_row(m), |i| row_error(i) <= self.limit);
            let mut arg = vec![0u32; n];
            let mut out = Rows {
                first: 0,
                value: &mut cur,
                arg: &mut arg,
            };
            layer.solve(first, last, first, to, &mut out, threads);
            cur[last + 1..].fill(f64::INFINITY);
            argmins.push(arg);
            std::mem::swap(&mut prev, &mut cur);
        }
        Solved {
            first: self.classes - 1,
            last,
            values: prev,
            argmins,
        }
    }
}

/// The last row of `first..=last` where `within` holds, by bisection:
/// `within` holds on `first` and, once false, stays false.
fn rows_within(first: usize, last: usize, within: impl Fn(usize) -> bool) -> usize {
    let (mut inside, mut outside) = (first, last + 1);
    while outside - inside > 1 {
        let mid = inside + (outside - inside) / 2;
        if within(mid) {
            inside = mid;
        } else {
            outside = mid;
        }
    }
    inside
}

impl Solved {
    fn rows(&self) -> std::ops::RangeInclusive<usize> {
        self.first..=self.last
    }

    /// The least error of the prefix ending at `row`, if it was solved.
    fn value(&self, row: usize) -> Option<f64> {
        self.rows().contains(&row).then(|| self.values[row])
    }

    /// The start of each class in the best split of the prefix ending at `end`.
    fn starts(&self, mut end: usize) -> Vec<usize> {
        let mut starts = Vec::with_capacity(self.argmins.len() + 1);
        for arg in self.argmins.iter().rev() {
            let start = arg[end] as usize;
            starts.push(start);
            end = start - 1;
        }
        starts.push(0);
        starts.reverse();
        starts
    }
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
    kernel: Kernel,
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
        let run = Run {
            cum_w: &cum_w[from..=to],
            cum_wx: &cum_wx[from..=to],
            base: &self.base[from..=to],
            w_end: cum_w[i + 1],
            s_end: cum_wx[i + 1],
        };
        let (best, offset) = match self.kernel {
            // SAFETY: `Kernel::Avx512` is chosen only where `simd::available()`.
            Kernel::Avx512 if run.base.len() >= SIMD_MIN_RUN => unsafe { simd::scan(&run) },
            _ => run.scan(),
        };
        (best + cum_wxx[i + 1], from + offset)
    }
}

/// Consecutive candidate starts `j` of the last class of a row: the part
/// `base[j] - (s_end - cum_wx[j])^2 / (w_end - cum_w[j])` of their value
/// that varies with `j` (the row's `cum_wxx` term is common to all).
struct Run<'a> {
    cum_w: &'a [f64],
    cum_wx: &'a [f64],
    base: &'a [f64],
    w_end: f64,
    s_end: f64,
}

impl Run<'_> {
    /// The least value and the offset of its first occurrence.
    fn scan(&self) -> (f64, usize) {
        let (mut best, mut best_at) = (f64::INFINITY, 0);
        let candidates = self.cum_w.iter().zip(self.cum_wx).zip(self.base);
        for (at, ((&w, &s), &base)) in candidates.enumerate() {
            let sum = self.s_end - s;
            let v = base - sum * sum / (self.w_end - w);
            if v < best {
                best = v;
                best_at = at;
            }
        }
        (best, best_at)
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
    fn neither_threads_nor_the_kernel_change_the_result() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        // Wide enough for several levels of splitting.
        let values: Vec<f64> = (0..40_000).map(|_| rng.random_range(-1.0..1.0)).collect();
        let data = Weighted1d::from_values(values).unwrap();
        for k in [2, 5, 10] {
            let limit = row_limit(&data, upper_bound(&data, k).unwrap());
            let one = optimal_starts(&data, k, limit, 1, Kernel::Scalar);
            for threads in [2, 3, 8] {
                assert_eq!(
                    optimal_starts(&data, k, limit, threads, Kernel::Scalar),
                    one,
                    "k {k}, {threads} threads"
                );
            }
            let kernel = Kernel::detect();
            assert_eq!(
                optimal_starts(&data, k, limit, 2, kernel),
                one,
                "k {k}, {kernel:?}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// The row limit only saves work: from the exact optimum (every row
        /// beyond it dropped) to no limit at all, the partition is the same;
        /// a limit below the optimum is detected and costs a second run.
        #[test]
        fn any_limit_from_the_optimum_up_gives_the_same_partition(
            values in prop::collection::vec(-1.0f64..1.0, 30..400),
            k in 2usize..=9,
        ) {
            let data = Weighted1d::from_values(values.iter().copied()).unwrap();
            let unlimited = optimal_starts(&data, k, f64::INFINITY, 1, Kernel::Scalar);
            let optimum = quadratic_dp(&data, k);
            for limit in [row_limit(&data, optimum), row_limit(&data, upper_bound(&data, k).unwrap()), 2.0 * optimum, 0.5 * optimum] {
                prop_assert_eq!(&optimal_starts(&data, k, limit, 1, Kernel::Scalar), &unlimited, "limit {}", limit);
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
