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
//! The squared-error cost satisfies the quadrangle inequality, so each DP
//! layer is a totally monotone matrix (rows i, columns j) and its row minima
//! are found by SMAWK in O(n) evaluations: O(k n) in total after sorting, with
//! n the number of distinct values. Each `sse` is O(1) from the prefix sums of
//! [`Weighted1d`].

use crate::Error;
use crate::codebook::Partition;
use crate::weighted::Weighted1d;

/// The optimal partition of `data` into `k` classes.
pub fn partition(data: &Weighted1d, k: usize) -> Result<Partition, Error> {
    data.require_classes(k)?;
    let starts = optimal_starts(data, k);
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
fn optimal_starts(data: &Weighted1d, k: usize) -> Vec<usize> {
    let n = data.len();
    let mut prev: Vec<f64> = (0..n).map(|i| data.segment_sse(0, i + 1)).collect();
    let mut cur = vec![f64::INFINITY; n];
    // argmins[m - 2][i]: start of the last class in the best split of values
    // 0..=i into m classes.
    let mut argmins: Vec<Vec<u32>> = Vec::with_capacity(k.saturating_sub(1));
    for m in 2..=k {
        // Layer m is needed only for rows that leave enough values for the
        // k - m classes after it; the last layer only for the full data.
        let first = m - 1;
        let last = n - 1 - (k - m);
        let rows: Vec<usize> = if m == k { vec![n - 1] } else { (first..=last).collect() };
        let cols: Vec<usize> = (first..=last).collect();
        let prev_layer = &prev;
        let cost = |i: usize, j: usize| {
            if j > i {
                f64::INFINITY
            } else {
                prev_layer[j - 1] + data.segment_sse(j, i + 1)
            }
        };
        let mut arg = vec![0u32; n];
        row_minima(&rows, &cols, &cost, &mut arg, &mut cur);
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

/// SMAWK: the leftmost minimum of every row of a totally monotone matrix
/// `f(row, col)` restricted to `rows` x `cols` (both ascending), written to
/// `arg[row]` and `val[row]`.
///
/// The DP layer is "infinite" above the diagonal (col > row); that keeps the
/// matrix totally monotone for strict comparisons, which is all SMAWK uses.
fn row_minima(
    rows: &[usize],
    cols: &[usize],
    f: &impl Fn(usize, usize) -> f64,
    arg: &mut [u32],
    val: &mut [f64],
) {
    if rows.is_empty() {
        return;
    }
    // REDUCE: keep at most one candidate column per row. A column is dropped
    // once a later column beats it on the row it stands for (then it loses
    // on every later row too), or when a full stack already beats it.
    let mut kept: Vec<usize> = Vec::with_capacity(rows.len().min(cols.len()));
    for &c in cols {
        while let Some(&top) = kept.last() {
            let r = rows[kept.len() - 1];
            if f(r, c) < f(r, top) {
                kept.pop();
            } else {
                break;
            }
        }
        if kept.len() < rows.len() {
            kept.push(c);
        }
    }
    let odd_rows: Vec<usize> = rows.iter().skip(1).step_by(2).copied().collect();
    row_minima(&odd_rows, &kept, f, arg, val);
    // The minimum of an even row lies between the minima of the odd rows
    // around it, so one sweep over `kept` serves all even rows.
    let mut start = 0;
    for idx in (0..rows.len()).step_by(2) {
        let r = rows[idx];
        let stop = match rows.get(idx + 1) {
            Some(&next) => arg[next] as usize,
            None => kept[kept.len() - 1],
        };
        let (mut best_col, mut best) = (kept[start], f(r, kept[start]));
        let mut p = start + 1;
        while p < kept.len() && kept[p] <= stop {
            let v = f(r, kept[p]);
            if v < best {
                best = v;
                best_col = kept[p];
            }
            p += 1;
        }
        arg[r] = best_col as u32;
        val[r] = best;
        start = p - 1;
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
        points.iter().map(|p| p.1 * (p.0 - mean) * (p.0 - mean)).sum()
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

    /// The textbook O(k n^2) DP, to check SMAWK on inputs too large to enumerate.
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

    #[test]
    fn finds_well_separated_groups() {
        let data = Weighted1d::from_values([0.9, -0.5, 0.0, -0.52, 0.88, 0.02, -0.48, 0.01]).unwrap();
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
