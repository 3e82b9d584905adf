//! The candidate scan of `cluster.optimal1d` eight lanes at a time, on CPUs
//! with AVX-512.
//!
//! A scalar scan is bound by its divisions, one per candidate; a vector
//! division does eight. Each lane performs the same IEEE operations in the
//! same order as [`Run::scan`] (a product, a division and a difference; no
//! fused multiply-add), so both find the same value and, keeping the first
//! of equal values, the same start: the partition does not depend on the
//! CPU. The tests below check this bit for bit.

use super::Run;

/// Whether this CPU can run [`scan`].
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// [`Run::scan`] on eight lanes.
///
/// # Safety
/// The CPU must support AVX-512F, as [`available`] reports.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn scan(run: &Run) -> (f64, usize) {
    use std::arch::x86_64::*;

    let len = run.base.len();
    assert!(run.cum_w.len() == len && run.cum_wx.len() == len);
    let (w_end, s_end) = (_mm512_set1_pd(run.w_end), _mm512_set1_pd(run.s_end));
    let mut best = _mm512_set1_pd(f64::INFINITY);
    let mut best_at = _mm512_setzero_si512();
    let mut at = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    for start in (0..len).step_by(8) {
        // The last chunk may be short: its missing lanes load nothing and
        // never compare below `best`.
        let lanes: __mmask8 = if len - start >= 8 {
            0xff
        } else {
            (1 << (len - start)) - 1
        };
        // SAFETY: `start < len` for all three slices, and a masked load reads
        // only the lanes in `lanes`, i.e. indices below `len`.
        let (w, s, base) = unsafe {
            (
                _mm512_maskz_loadu_pd(lanes, run.cum_w.as_ptr().add(start)),
                _mm512_maskz_loadu_pd(lanes, run.cum_wx.as_ptr().add(start)),
                _mm512_maskz_loadu_pd(lanes, run.base.as_ptr().add(start)),
            )
        };
        let sum = _mm512_sub_pd(s_end, s);
        let v = _mm512_sub_pd(
            base,
            _mm512_div_pd(_mm512_mul_pd(sum, sum), _mm512_sub_pd(w_end, w)),
        );
        // Strictly less: each lane keeps the first of its equal values.
        let better = _mm512_mask_cmp_pd_mask(lanes, v, best, _CMP_LT_OQ);
        best = _mm512_mask_blend_pd(better, best, v);
        best_at = _mm512_mask_blend_epi64(better, best_at, at);
        at = _mm512_add_epi64(at, _mm512_set1_epi64(8));
    }
    let least = _mm512_reduce_min_pd(best);
    // Of the lanes holding the least value, the first candidate.
    let holders = _mm512_cmp_pd_mask(best, _mm512_set1_pd(least), _CMP_EQ_OQ);
    (
        least,
        _mm512_mask_reduce_min_epi64(holders, best_at) as usize,
    )
}

/// Never called: [`available`] is false off x86-64.
///
/// # Safety
/// None needed; kept `unsafe` to match the x86-64 signature.
#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn scan(run: &Run) -> (f64, usize) {
    run.scan()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn both(run: &Run) -> Option<((f64, usize), (f64, usize))> {
        if !available() {
            eprintln!("no AVX-512 on this CPU: the scalar scan is the only one used");
            return None;
        }
        // SAFETY: checked just above.
        Some((run.scan(), unsafe { scan(run) }))
    }

    proptest! {
        /// Random prefix sums of positive weights, candidates of any length
        /// (every tail length of the last chunk).
        #[test]
        fn vector_scan_equals_scalar_scan_bit_for_bit(
            points in prop::collection::vec((0.01f64..5.0, -1.0f64..1.0, -10.0f64..10.0), 1..80),
        ) {
            let (mut w, mut s) = (0.0, 0.0);
            let (mut cum_w, mut cum_wx, mut base) = (vec![], vec![], vec![]);
            for &(weight, x, b) in &points {
                cum_w.push(w);
                cum_wx.push(s);
                base.push(b);
                w += weight;
                s += weight * x;
            }
            let run = Run { cum_w: &cum_w, cum_wx: &cum_wx, base: &base, w_end: w, s_end: s };
            if let Some((scalar, vector)) = both(&run) {
                prop_assert_eq!(scalar.0.to_bits(), vector.0.to_bits());
                prop_assert_eq!(scalar.1, vector.1);
            }
        }
    }

    #[test]
    fn equal_values_resolve_to_the_first_candidate() {
        for len in 1..40 {
            // Every candidate has the value 1 - 0 / w = 1.
            let cum_w: Vec<f64> = (0..len).map(|j| j as f64).collect();
            let (cum_wx, base) = (vec![0.0; len], vec![1.0; len]);
            let run = Run {
                cum_w: &cum_w,
                cum_wx: &cum_wx,
                base: &base,
                w_end: len as f64,
                s_end: 0.0,
            };
            if let Some((scalar, vector)) = both(&run) {
                assert_eq!(scalar, (1.0, 0), "len {len}");
                assert_eq!(vector, (1.0, 0), "len {len}");
            }
        }
    }
}
