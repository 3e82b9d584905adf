//! Emotion decoding speed on RECOLA's shape (7501 frames per recording).
//!
//! - `exact_trigram_k10`: one exact trigram decode, K = 10, T = 7501, one
//!   thread (target: 5 ms or less).
//! - `sweep`: the paper's sweep, alpha = 0, 2, ..., 14 x order 2, 3, over 9
//!   recordings x 4 tasks (K = 4, 6, 8, 10): building each search table and
//!   decoding, one thread (target: 2 s or less).
//! - `scaling_decode/frames/T`: the K = 10 trigram decode (alpha 8) on
//!   T = 1875, 3750, 7501, 15002 frames, one thread, for scripts/bench.sh's
//!   cost-vs-size plot (peer side: bench/decode_peers.py --sweep).
//!
//! Data are synthetic: labels from a sticky random walk (for transitions and
//! the LMs) and random posteriors. `bench/decode_peers.py` times a NumPy
//! Viterbi on the same shape.
//!
//! Run: `cargo bench -p emoflow-decode --bench decode`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use emoflow_decode::arpa::{NgramLm, Vocab};
use emoflow_decode::ngram::{regions, train_witten_bell};
use emoflow_decode::search::{Lattice, Scorer};
use emoflow_decode::transitions::Transitions;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FRAMES: usize = 7501;
const RECORDINGS: usize = 9;

/// A label track that mostly stays and sometimes steps to a nearby class.
fn labels(rng: &mut ChaCha8Rng, k: usize) -> Vec<u32> {
    let mut class = rng.random_range(0..k) as i64;
    (0..FRAMES)
        .map(|_| {
            if rng.random_bool(0.03) {
                class = (class + rng.random_range(-2i64..=2)).clamp(0, k as i64 - 1);
            }
            class as u32
        })
        .collect()
}

/// Log-normalised random posteriors, frames x classes.
fn emissions(rng: &mut ChaCha8Rng, k: usize) -> Vec<f64> {
    (0..FRAMES)
        .flat_map(|_| {
            let frame: Vec<f64> = (0..k).map(|_| rng.random_range(0.01..1.0)).collect();
            let total: f64 = frame.iter().sum();
            frame.into_iter().map(move |p| (p / total).ln())
        })
        .collect()
}

struct Task {
    transitions: Transitions,
    /// Models of order 2 and 3.
    lms: [NgramLm; 2],
    emissions: Vec<Vec<f64>>,
}

fn task(k: usize, seed: u64) -> Task {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Train on 18 recordings (train + dev), as the paper's LM.
    let train: Vec<Vec<u32>> = (0..2 * RECORDINGS).map(|_| labels(&mut rng, k)).collect();
    let transitions =
        Transitions::estimate(train.iter().map(Vec::as_slice), k, 1.0, "bench").unwrap();
    let sentences: Vec<Vec<u32>> = train.iter().map(|l| regions(l)).collect();
    let vocab = Vocab::new(k).unwrap();
    let lm = |order| train_witten_bell(sentences.iter().map(Vec::as_slice), vocab, order).unwrap();
    let emissions = (0..RECORDINGS).map(|_| emissions(&mut rng, k)).collect();
    Task {
        transitions,
        lms: [lm(2), lm(3)],
        emissions,
    }
}

fn bench(c: &mut Criterion) {
    let tasks: Vec<Task> = [4, 6, 8, 10].iter().map(|&k| task(k, k as u64)).collect();

    let k10 = &tasks[3];
    let scorer = Scorer::new(&k10.transitions, Some(&k10.lms[1]), 8.0, "bench").unwrap();
    let mut lattice = Lattice::new(&scorer, "bench").unwrap();
    c.bench_function("exact_trigram_k10_t7501", |b| {
        b.iter(|| black_box(lattice.decode(black_box(&k10.emissions[0])).unwrap()))
    });

    let mut group = c.benchmark_group("sweep");
    group.sample_size(10);
    group.bench_function("alpha0-14_order2-3_9rec_4tasks", |b| {
        b.iter(|| {
            let mut checksum = 0.0;
            for alpha in (0..=14).step_by(2).map(f64::from) {
                for order in 0..2 {
                    for task in &tasks {
                        let scorer =
                            Scorer::new(&task.transitions, Some(&task.lms[order]), alpha, "bench")
                                .unwrap();
                        let mut lattice = Lattice::new(&scorer, "bench").unwrap();
                        for emissions in &task.emissions {
                            checksum += lattice.decode(emissions).unwrap().score;
                        }
                    }
                }
            }
            black_box(checksum)
        })
    });
    group.finish();
}

fn scaling_decode(c: &mut Criterion) {
    const K: usize = 10;
    let k10 = task(K, K as u64);
    let scorer = Scorer::new(&k10.transitions, Some(&k10.lms[1]), 8.0, "bench").unwrap();
    let mut lattice = Lattice::new(&scorer, "bench").unwrap();
    // Two recordings back to back give the longest point; shorter ones are
    // prefixes, so every point decodes the same kind of data.
    let emissions = k10.emissions[..2].concat();
    let mut group = c.benchmark_group("scaling_decode");
    // A short run per point: the sweep shows the curve's shape.
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for frames in [1875usize, 3750, FRAMES, 2 * FRAMES] {
        let prefix = &emissions[..frames * K];
        group.bench_with_input(BenchmarkId::new("frames", frames), &frames, |b, _| {
            b.iter(|| black_box(lattice.decode(black_box(prefix)).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench, scaling_decode);
criterion_main!(benches);
