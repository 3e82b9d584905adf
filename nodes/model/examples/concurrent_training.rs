//! Why two trainings in one process did not run faster than one (issue
//! 18): times the same training steps (the demo's network, 2 x 32 units,
//! four 1500-frame utterances per epoch) run
//!
//!   alone     one training on one thread;
//!   1+1       two trainings on two threads of this process, each having
//!             called `tch::set_num_threads(1)`;
//!   2+1       the same, but one training set 2 threads: what the old
//!             scheduler did (the first node started got the whole budget,
//!             `jobs / running`, and libtorch's setting is process-wide);
//!
//! and prints wall and CPU seconds of each. On the 2-core development
//! machine (idle, 20 epochs, five runs): alone 2.0-2.2 s; 1+1 1.8-2.0 s
//! wall for both (2.1x the throughput, CPU 3.6-3.8 s: nothing wasted);
//! 2+1 1.9-2.0 s in four runs and 7.7 s wall, 15.3 s CPU in one: the
//! 2-thread training's OpenMP workers spin-waiting for a core the other
//! training holds. The engine now never gives out more threads than
//! `--jobs` and fixes a training's own. Run on an idle machine:
//!
//!   cargo run --release -p emoflow-model --example concurrent_training [EPOCHS]

use std::time::Instant;

use emoflow_model::adam::Adam;
use emoflow_model::network::{Blstm, BlstmConfig, Output};
use emoflow_model::train::training_step;
use tch::nn::VarStore;
use tch::{Device, Kind, TchError, Tensor};

fn loss(o: &Tensor, t: &Tensor) -> Result<Tensor, TchError> {
    emoflow_loss::cost_sensitive_ce::cost_sensitive_ce(o, t)
}

/// `epochs` epochs of the demo's network on random data, on `threads`.
fn train(epochs: usize, threads: i32) {
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    let classes = vec![4, 6, 8, 10];
    let store = VarStore::new(Device::Cpu);
    let config = BlstmConfig {
        input_dim: 160,
        hidden: 32,
        layers: 2,
        output: Output::Classifier {
            classes: classes.clone(),
        },
    };
    let model = Blstm::new(&store.root(), config).unwrap();
    let mut adam = Adam::new(&store, 0.0);
    let data: Vec<(Tensor, Vec<Tensor>)> = (0..4)
        .map(|_| {
            let features = Tensor::randn([1500, 160], (Kind::Float, Device::Cpu));
            let targets = classes
                .iter()
                .map(|&k| Tensor::randint(k, [1500], (Kind::Int64, Device::Cpu)))
                .collect();
            (features, targets)
        })
        .collect();
    for _ in 0..epochs {
        for (features, targets) in &data {
            training_step(&model, &mut adam, &loss, features, targets, 0.002).unwrap();
        }
    }
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0
}

fn measure(name: &str, trainings: &[i32], epochs: usize) {
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    std::thread::scope(|s| {
        for &threads in trainings {
            s.spawn(move || train(epochs, threads));
        }
    });
    println!(
        "{name:>6}: {:.2} s wall, {:.2} s CPU, {} training(s)",
        wall.elapsed().as_secs_f64(),
        cpu_seconds() - cpu,
        trainings.len()
    );
}

fn main() {
    let epochs = std::env::args()
        .nth(1)
        .map_or(5, |e| e.parse().expect("EPOCHS: a number"));
    measure("alone", &[1], epochs);
    measure("1+1", &[1, 1], epochs);
    measure("2+1", &[2, 1], epochs);
}
