//! optimal1d on the 200k golden labels, k = 10, with one and two threads;
//! the peers are timed on the same file by bench/kmeans_peers.py.

use criterion::{Criterion, criterion_group, criterion_main};
use emoflow_cluster::{optimal1d, weighted::Weighted1d};

#[path = "../tests/common/mod.rs"]
mod common;

fn bench(c: &mut Criterion) {
    let labels = common::labels_200k();
    let data = Weighted1d::from_values(labels.iter().copied()).unwrap();
    // One thread keeps the ids bench/report.py reads; "/threads2" beside.
    for (threads, suffix) in [(1, ""), (2, "/threads2")] {
        // As the peers are timed: from raw labels (sort and merge included).
        c.bench_function(&format!("optimal1d/200k/k10{suffix}"), |b| {
            b.iter(|| {
                let data = Weighted1d::from_values(labels.iter().copied()).unwrap();
                optimal1d::partition_threads(&data, 10, threads).unwrap()
            })
        });
        c.bench_function(&format!("optimal1d/200k/k10/dp_only{suffix}"), |b| {
            b.iter(|| optimal1d::partition_threads(&data, 10, threads).unwrap())
        });
    }
}

/// `scaling_kmeans/labels/N`: the first N golden labels, k = 10, from raw
/// values as above, for scripts/bench.sh's cost-vs-size plot (peer side:
/// bench/kmeans_peers.py --sweep).
fn scaling_kmeans(c: &mut Criterion) {
    let labels = common::labels_200k();
    let mut group = c.benchmark_group("scaling_kmeans");
    // A short run per point: the sweep shows the curve's shape.
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_millis(500));
    group.measurement_time(std::time::Duration::from_secs(2));
    for n in [25_000usize, 50_000, 100_000, 200_000] {
        let values = &labels[..n];
        group.bench_with_input(criterion::BenchmarkId::new("labels", n), &n, |b, _| {
            b.iter(|| {
                let data = Weighted1d::from_values(values.iter().copied()).unwrap();
                optimal1d::partition(&data, 10).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, scaling_kmeans);
criterion_main!(benches);
