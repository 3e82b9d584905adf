//! A tiny learnable problem shared by the training and node tests.

use std::f32::consts::TAU;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const FRAMES: usize = 30;
pub const DIM: usize = 3;

/// Utterances of a smooth label per frame; feature 0 is a noisy,
/// one-frame-late copy (so the backward direction helps), the others are
/// noise. Returns (features frames x DIM row-major, label) per utterance.
pub fn utterances(seed: u64, count: usize) -> Vec<(Vec<f32>, Vec<f32>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let period: f32 = rng.random_range(10.0..25.0);
            let phase: f32 = rng.random_range(0.0..TAU);
            let label: Vec<f32> = (0..FRAMES)
                .map(|t| 0.5 * (t as f32 * TAU / period + phase).sin())
                .collect();
            let mut features = Vec::with_capacity(FRAMES * DIM);
            for t in 0..FRAMES {
                features.push(label[t.saturating_sub(1)] * 2.0 + rng.random_range(-0.3..0.3));
                features.extend((1..DIM).map(|_| rng.random_range(-1.0f32..1.0)));
            }
            (features, label)
        })
        .collect()
}

/// The class of `value` given increasing class edges.
pub fn class_of(value: f32, edges: &[f32]) -> u32 {
    edges.iter().filter(|&&edge| value >= edge).count() as u32
}

/// Per class: the mean of the values in it and its frequency.
pub fn means_and_priors(values: &[f32], edges: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let k = edges.len() + 1;
    let mut sums = vec![0.0f64; k];
    let mut counts = vec![0usize; k];
    for &v in values {
        let c = class_of(v, edges) as usize;
        sums[c] += v as f64;
        counts[c] += 1;
    }
    let means = (0..k).map(|c| sums[c] / counts[c] as f64).collect();
    let priors = counts
        .iter()
        .map(|&c| c as f64 / values.len() as f64)
        .collect();
    (means, priors)
}
