//! feature.fbank on 300 s of 16 kHz speech-like audio, 40 Mel bins, Kaldi
//! defaults (dither 0), with one and two threads. The peers (torchaudio,
//! kaldi-native-fbank) are timed on the same input by bench/fbank_peers.py.

mod common;

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

criterion_group!(benches, fbank_300s);
criterion_main!(benches);
