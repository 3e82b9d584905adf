//! `smooth.median`: a running median over each series.
//!
//! The window is centred and odd (`window` frames, `window / 2` each side).
//! Edges repeat the first and last value (scipy.ndimage's `mode="nearest"`),
//! so the output has the input's length and a constant series is unchanged.

use emoflow_sdk::conventions::port;
use emoflow_sdk::{Context, Error, Inputs, KindSpec, Node, Outputs};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::common::smooth_series;
use crate::error::Result;

fn default_window() -> usize {
    9
}

/// Parameters of `smooth.median`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Window length in frames, odd (9 frames = 0.36 s at 40 ms).
    #[serde(default = "default_window")]
    #[schemars(range(min = 1))]
    pub window: usize,
}

/// The median filter of `values`; `window` must be odd.
pub fn median_filter(values: &[f32], window: usize) -> Result<Vec<f32>> {
    if window.is_multiple_of(2) {
        return Err(Error::invalid(format!(
            "median window {window} must be odd, so that it is centred"
        )));
    }
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let half = window / 2;
    let last = values.len() - 1;
    let at = |i: isize| values[i.clamp(0, last as isize) as usize];
    // The window kept sorted: one removal and one insertion per frame.
    let mut sorted: Vec<f32> = (-(half as isize)..=half as isize).map(at).collect();
    sorted.sort_by(f32::total_cmp);
    let mut out = Vec::with_capacity(values.len());
    for t in 0..values.len() as isize {
        out.push(sorted[half]);
        let leaving = at(t - half as isize);
        let entering = at(t + half as isize + 1);
        let i = sorted.partition_point(|v| v.total_cmp(&leaving).is_lt());
        sorted.remove(i);
        let j = sorted.partition_point(|v| v.total_cmp(&entering).is_lt());
        sorted.insert(j, entering);
    }
    Ok(out)
}

struct Median(Params);

impl Node for Median {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        smooth_series(ctx, &mut inputs, |values| {
            median_filter(values, self.0.window)
        })
    }
}

pub fn spec() -> KindSpec {
    KindSpec::new("smooth.median", file!())
        .doc(
            "Running median of each series over a centred odd window; edges repeat the end values.",
        )
        .input("series", port::SERIES, "series to smooth (predictions)")
        .output(
            "smoothed",
            port::SERIES,
            "the smoothed series, same lengths",
        )
        .create(|params: Params| {
            if params.window.is_multiple_of(2) {
                return Err(Error::invalid(format!(
                    "window = {} must be odd, so that it is centred",
                    params.window
                )));
            }
            Ok(Median(params))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn removes_spikes_and_repeats_edges() {
        let x = [1.0, 1.0, 9.0, 1.0, 2.0, 2.0, -7.0, 2.0];
        assert_eq!(
            median_filter(&x, 3).unwrap(),
            vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0]
        );
        // Nearest edges: the first window is [3, 3, 3, 1, 2].
        assert_eq!(
            median_filter(&[3.0, 1.0, 2.0], 5).unwrap(),
            vec![3.0, 2.0, 2.0]
        );
        assert_eq!(median_filter(&[], 5).unwrap(), Vec::<f32>::new());
        assert!(median_filter(&x, 4).unwrap_err().message.contains("odd"));
    }

    proptest! {
        #[test]
        fn equals_the_median_of_each_clamped_window(
            x in prop::collection::vec(-5.0f32..5.0, 1..60),
            half in 0usize..8,
        ) {
            let out = median_filter(&x, 2 * half + 1).unwrap();
            for (t, &got) in out.iter().enumerate() {
                let mut w: Vec<f32> = (t as isize - half as isize..=(t + half) as isize)
                    .map(|i| x[i.clamp(0, x.len() as isize - 1) as usize])
                    .collect();
                w.sort_by(f32::total_cmp);
                prop_assert_eq!(got, w[half]);
            }
        }
    }
}
