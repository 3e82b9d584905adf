//! One training step of the paper's network: forward + cost-sensitive CE
//! over four heads + backward + Adam, for 3 layers x 80 units per
//! direction, T = 7500 frames (one 5-minute RECOLA recording), 160-d input,
//! heads of 4/6/8/10 classes, one thread. The peer is bench/blstm_peer.py
//! (the same step in PyTorch).

use criterion::{Criterion, criterion_group, criterion_main};
use emoflow_model::adam::Adam;
use emoflow_model::network::{Blstm, BlstmConfig, Output};
use emoflow_model::train::training_step;
use tch::nn::VarStore;
use tch::{Device, Kind, TchError, Tensor};

const FRAMES: i64 = 7500;
const CLASSES: [i64; 4] = [4, 6, 8, 10];

fn step(c: &mut Criterion) {
    tch::set_num_threads(1);
    tch::manual_seed(0);
    let store = VarStore::new(Device::Cpu);
    let output = Output::Classifier {
        classes: CLASSES.to_vec(),
    };
    let config = BlstmConfig {
        input_dim: 160,
        hidden: 80,
        layers: 3,
        output,
    };
    let model = Blstm::new(&store.root(), config).unwrap();
    let mut adam = Adam::new(&store, 0.0);
    let features = Tensor::randn([FRAMES, 160], (Kind::Float, Device::Cpu));
    let targets: Vec<Tensor> = CLASSES
        .iter()
        .map(|&k| Tensor::randint(k, [FRAMES], (Kind::Int64, Device::Cpu)))
        .collect();
    let loss = |o: &Tensor, t: &Tensor| -> Result<Tensor, TchError> {
        emoflow_loss::cost_sensitive_ce::cost_sensitive_ce(o, t)
    };
    let mut group = c.benchmark_group("blstm");
    group.sample_size(10);
    group.bench_function("train_step_3x80_T7500_1thread", |b| {
        b.iter(|| training_step(&model, &mut adam, &loss, &features, &targets, 0.002).unwrap())
    });
    group.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
