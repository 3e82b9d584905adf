//! metric.ccc's kernel (`emoflow_metric::ccc::ccc`, population convention,
//! two passes) on n (prediction, label) pairs: 67,509 (one RECOLA split:
//! 9 recordings x 7501 frames) and 1,000,000. The values are deterministic,
//! x_i = sin(0.001 i), y_i = 0.8 x_i + 0.1 cos(0.0037 i), so that
//! bench/ccc_peer.py times NumPy on exactly the same numbers.
//!
//! Run: `cargo bench --workspace --bench ccc` (from the workspace root).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use emoflow_metric::ccc::{Convention, ccc};

pub const SIZES: [usize; 2] = [67_509, 1_000_000];

fn pairs(n: usize) -> (Vec<f64>, Vec<f64>) {
    let x: Vec<f64> = (0..n).map(|i| (0.001 * i as f64).sin()).collect();
    let y = x
        .iter()
        .enumerate()
        .map(|(i, v)| 0.8 * v + 0.1 * (0.0037 * i as f64).cos())
        .collect();
    (x, y)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("ccc");
    for n in SIZES {
        let (x, y) = pairs(n);
        group.bench_with_input(BenchmarkId::new("n", n), &n, |b, _| {
            b.iter(|| {
                let samples = x.iter().copied().zip(y.iter().copied());
                black_box(ccc(black_box(samples), Convention::Population).unwrap())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
