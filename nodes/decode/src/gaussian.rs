//! `smooth.gaussian`: convolution of each series with a normalised Gaussian.
//!
//! The kernel has standard deviation `sigma` frames and is cut at `truncate`
//! standard deviations, radius `floor(truncate * sigma + 0.5)` frames; edges
//! repeat the first and last value. Both as scipy.ndimage's
//! `gaussian_filter1d(x, sigma, mode="nearest", truncate=truncate)`.

use emoflow_sdk::conventions::port;
use emoflow_sdk::{Context, Error, Inputs, KindSpec, Node, Outputs};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::common::smooth_series;
use crate::error::Result;

fn default_sigma() -> f64 {
    3.0
}

fn default_truncate() -> f64 {
    4.0
}

/// Parameters of `smooth.gaussian`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Standard deviation of the kernel in frames (3 frames = 0.12 s at 40 ms).
    #[serde(default = "default_sigma")]
    #[schemars(range(min = 0.0))]
    pub sigma: f64,
    /// Kernel radius in standard deviations.
    #[serde(default = "default_truncate")]
    #[schemars(range(min = 0.0))]
    pub truncate: f64,
}

/// The Gaussian filter of `values`, computed in f64.
pub fn gaussian_filter(values: &[f32], sigma: f64, truncate: f64) -> Result<Vec<f32>> {
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(Error::invalid(format!(
            "gaussian sigma {sigma} must be finite and > 0 frames"
        )));
    }
    if !(truncate.is_finite() && truncate > 0.0) {
        return Err(Error::invalid(format!(
            "gaussian truncate {truncate} must be finite and > 0"
        )));
    }
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let radius = (truncate * sigma + 0.5) as isize;
    let weights: Vec<f64> = (-radius..=radius)
        .map(|i| (-0.5 * (i as f64 / sigma).powi(2)).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let last = values.len() as isize - 1;
    Ok((0..values.len() as isize)
        .map(|t| {
            let sum: f64 = (-radius..=radius)
                .zip(&weights)
                .map(|(i, w)| w * f64::from(values[(t + i).clamp(0, last) as usize]))
                .sum();
            (sum / total) as f32
        })
        .collect())
}

struct Gaussian(Params);

impl Node for Gaussian {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        smooth_series(ctx, &mut inputs, |values| {
            gaussian_filter(values, self.0.sigma, self.0.truncate)
        })
    }
}

pub fn spec() -> KindSpec {
    KindSpec::new("smooth.gaussian", file!())
        .doc(
            "Gaussian smoothing of each series (sigma in frames, cut at `truncate` sigmas); edges \
             repeat the end values, as scipy.ndimage.gaussian_filter1d(mode=\"nearest\").",
        )
        .input("series", port::SERIES, "series to smooth (predictions)")
        .output(
            "smoothed",
            port::SERIES,
            "the smoothed series, same lengths",
        )
        .create(|params: Params| {
            // The filter checks again; failing here names the parameter at graph build time.
            gaussian_filter(&[], params.sigma, params.truncate)?;
            Ok(Gaussian(params))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn smooths_an_impulse_into_the_normalised_kernel() {
        let mut x = vec![0.0f32; 21];
        x[10] = 1.0;
        let out = gaussian_filter(&x, 2.0, 4.0).unwrap();
        let sum: f32 = out.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
        // The kernel's peak and shape: exp(-0.5 (i / sigma)^2) / total.
        let total: f64 = (-8..=8)
            .map(|i: i32| (-0.5 * (f64::from(i) / 2.0).powi(2)).exp())
            .sum();
        assert!((f64::from(out[10]) - 1.0 / total).abs() < 1e-7);
        assert!((f64::from(out[12]) - (-0.5f64).exp() / total).abs() < 1e-7);
        assert_eq!(out[10 - 3], out[10 + 3]);
    }

    #[test]
    fn edges_repeat_the_end_values() {
        // A step after 3 frames: at frame 0 the window -4..=4 sees 5s at
        // -4..=2 (the edge repeats frame 0) and 0s at 3 and 4.
        let out = gaussian_filter(&[5.0, 5.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0], 1.0, 4.0).unwrap();
        let w = |i: f64| (-0.5 * i * i).exp();
        let total: f64 = (-4..=4).map(|i| w(f64::from(i))).sum();
        assert!((f64::from(out[0]) - 5.0 * (total - w(3.0) - w(4.0)) / total).abs() < 1e-5);
        // Frame 6 reaches frame 2 at the kernel's end; frame 7 sees only 0s.
        assert!((f64::from(out[6]) - 5.0 * w(4.0) / total).abs() < 1e-6);
        assert_eq!(out[7], 0.0);
        assert!(gaussian_filter(&[1.0], 0.0, 4.0).is_err());
    }

    proptest! {
        #[test]
        fn constants_stay_and_values_stay_within_the_input_range(
            x in prop::collection::vec(-5.0f32..5.0, 1..50),
            sigma in 0.1f64..6.0,
            c in -3.0f32..3.0,
        ) {
            let flat = gaussian_filter(&vec![c; x.len()], sigma, 4.0).unwrap();
            prop_assert!(flat.iter().all(|&v| (v - c).abs() < 1e-5));
            let out = gaussian_filter(&x, sigma, 4.0).unwrap();
            let (lo, hi) = x.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            prop_assert!(out.iter().all(|&v| v >= lo - 1e-5 && v <= hi + 1e-5));
        }
    }
}
