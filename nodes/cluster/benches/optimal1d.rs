//! optimal1d on the 200k golden labels, k = 10; the peers are timed on the
//! same file by bench/kmeans_peers.py.

use criterion::{Criterion, criterion_group, criterion_main};
use emoflow_cluster::{optimal1d, weighted::Weighted1d};

#[path = "../tests/common/mod.rs"]
mod common;

fn bench(c: &mut Criterion) {
    let labels = common::labels_200k();
    // As the peers are timed: from raw labels (sort and merge included).
    c.bench_function("optimal1d/200k/k10", |b| {
        b.iter(|| {
            let data = Weighted1d::from_values(labels.iter().copied()).unwrap();
            optimal1d::partition(&data, 10).unwrap()
        })
    });
    let data = Weighted1d::from_values(labels.iter().copied()).unwrap();
    c.bench_function("optimal1d/200k/k10/dp_only", |b| {
        b.iter(|| optimal1d::partition(&data, 10).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
