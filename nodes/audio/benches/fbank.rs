//! feature.fbank on 300 s of 16 kHz speech-like audio, 40 Mel bins, Kaldi
//! defaults (dither 0), with one and two threads. The peers (torchaudio,
//! kaldi-native-fbank) are timed on the same input by bench/fbank_peers.py.
//!
//! `scaling_fbank/seconds/S`: one thread on the first S seconds of the same
//! input, for scripts/bench.sh's cost-vs-size plot (peer side:
//! bench/fbank_peers.py --sweep).

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use emoflow_audio::fbank::{Fbank, FbankOptions};

fn fbank_300s(c: &mut Criterion) {
    let recording = common::input().to_recording();
    let samples = recording.audio.samples;
    let fbank = Fbank::new(&FbankOptions::default(), recording.audio.sample_rate).unwrap();
    let mut group = c.benchmark_group("fbank_300s_16k_40bins");
    group.sample_size(20);
    for threads in [1, 2] {
        group.bench_with_input(
            BenchmarkId::new("threads", threads),
            &threads,
            |b, &threads| {
                b.iter(|| fbank.compute(&samples, threads));
            },
        );
    }
    group.finish();
}

fn scaling_fbank(c: &mut Criterion) {
    let recording = common::input().to_recording();
    let rate = recording.audio.sample_rate as usize;
    let samples = recording.audio.samples;
    let fbank = Fbank::new(&FbankOptions::default(), recording.audio.sample_rate).unwrap();
    let mut group = c.benchmark_group("scaling_fbank");
    // A short run per point: the sweep shows the curve's shape, the group
    // above gives the headline number.
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for seconds in [30usize, 75, 150, 300] {
        let prefix = &samples[..(seconds * rate).min(samples.len())];
        group.bench_with_input(BenchmarkId::new("seconds", seconds), &seconds, |b, _| {
            b.iter(|| black_box(fbank.compute(prefix, 1)))
        });
    }
    group.finish();
}

criterion_group!(benches, fbank_300s, scaling_fbank);
criterion_main!(benches);
