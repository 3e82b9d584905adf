//! One training step of the paper's network: forward + cost-sensitive CE
//! over four heads + backward + Adam, for 3 layers x 80 units per
//! direction, T = 7500 frames (one 5-minute RECOLA recording), 160-d input,
//! heads of 4/6/8/10 classes, one thread. The peer is bench/blstm_peer.py
//! (the same step in PyTorch).
//!
//! `scaling_epoch/layers/L`: one epoch (one step per utterance, as
//! emoflow_model::train runs it, without the dev pass) over 4 utterances of
//! 1500 frames (the demo corpus's shape: 4 train recordings of 60 s) for
//! L = 1..4 layers, for scripts/bench.sh's cost-vs-size plot (peer side:
//! bench/blstm_peer.py --sweep).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use emoflow_model::adam::Adam;
use emoflow_model::network::{Blstm, BlstmConfig, Output};
use emoflow_model::train::training_step;
use tch::nn::VarStore;
use tch::{Device, Kind, TchError, Tensor};

const FRAMES: i64 = 7500;
const CLASSES: [i64; 4] = [4, 6, 8, 10];

/// The paper's network with `layers` layers, its variables in `store`.
fn blstm(store: &VarStore, layers: i64) -> Blstm {
    let output = Output::Classifier {
        classes: CLASSES.to_vec(),
    };
    let config = BlstmConfig {
        input_dim: 160,
        hidden: 80,
        layers,
        output,
    };
    Blstm::new(&store.root(), config).unwrap()
}

/// Random 160-d features and one target track per head.
fn utterance(frames: i64) -> (Tensor, Vec<Tensor>) {
    let features = Tensor::randn([frames, 160], (Kind::Float, Device::Cpu));
    let targets = CLASSES
        .iter()
        .map(|&k| Tensor::randint(k, [frames], (Kind::Int64, Device::Cpu)))
        .collect();
    (features, targets)
}

fn loss(o: &Tensor, t: &Tensor) -> Result<Tensor, TchError> {
    emoflow_loss::cost_sensitive_ce::cost_sensitive_ce(o, t)
}

fn step(c: &mut Criterion) {
    tch::set_num_threads(1);
    tch::manual_seed(0);
    let store = VarStore::new(Device::Cpu);
    let model = blstm(&store, 3);
    let mut adam = Adam::new(&store, 0.0);
    let (features, targets) = utterance(FRAMES);
    let mut group = c.benchmark_group("blstm");
    group.sample_size(10);
    group.bench_function("train_step_3x80_T7500_1thread", |b| {
        b.iter(|| training_step(&model, &mut adam, &loss, &features, &targets, 0.002).unwrap())
    });
    group.finish();
}

fn scaling_epoch(c: &mut Criterion) {
    tch::set_num_threads(1);
    tch::manual_seed(0);
    let data: Vec<(Tensor, Vec<Tensor>)> = (0..4).map(|_| utterance(1500)).collect();
    let mut group = c.benchmark_group("scaling_epoch");
    // A short run per point: the sweep shows the curve's shape, the group
    // above gives the headline number.
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for layers in [1i64, 2, 3, 4] {
        let store = VarStore::new(Device::Cpu);
        let model = blstm(&store, layers);
        let mut adam = Adam::new(&store, 0.0);
        group.bench_with_input(BenchmarkId::new("layers", layers), &layers, |b, _| {
            b.iter(|| {
                for (features, targets) in &data {
                    training_step(&model, &mut adam, &loss, features, targets, 0.002).unwrap();
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, step, scaling_epoch);
criterion_main!(benches);
