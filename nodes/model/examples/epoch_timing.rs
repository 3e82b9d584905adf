//! Trains the paper's classifier for a few epochs on random RECOLA-sized
//! data (9 train + 9 dev utterances of 7500 frames x 160, 3 layers x 80
//! units per direction, heads 4/6/8/10, cost-sensitive CE) and prints each
//! epoch's seconds. scripts/gpu_check.sh runs it on CUDA beside PyTorch's
//! own cuDNN LSTM (scripts/gpu_check.py, same shapes).
//!
//! Usage: epoch_timing [--device auto|cpu|cuda:N] [--epochs N]
//!                     [--utterances N] [--frames N] [--threads N]

use emoflow_model::device::DeviceChoice;
use emoflow_model::network::{BlstmConfig, Output};
use emoflow_model::readout::{Readout, TaskCodebook};
use emoflow_model::train::{DevUtterance, TrainConfig, TrainSetup, TrainUtterance, train};
use tch::{Device, Kind, TchError, Tensor};

const CLASSES: [i64; 4] = [4, 6, 8, 10];

struct Options {
    device: DeviceChoice,
    epochs: usize,
    utterances: usize,
    frames: i64,
    threads: usize,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        device: DeviceChoice::Auto,
        epochs: 3,
        utterances: 9,
        frames: 7500,
        threads: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--device" => options.device = value.parse()?,
            "--epochs" => options.epochs = number()?,
            "--utterances" => options.utterances = number()?,
            "--frames" => options.frames = number()? as i64,
            "--threads" => options.threads = number()?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(options)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = options()?;
    let device = options.device.resolve()?;
    println!(
        "device {device:?} (CUDA available: {})",
        tch::Cuda::is_available()
    );
    tch::manual_seed(1);
    let features = || Tensor::randn([options.frames, 160], (Kind::Float, Device::Cpu));
    let train_set: Vec<TrainUtterance> = (0..options.utterances)
        .map(|i| TrainUtterance {
            id: format!("train_{i}"),
            features: features(),
            targets: CLASSES
                .iter()
                .map(|&k| Tensor::randint(k, [options.frames], (Kind::Int64, Device::Cpu)))
                .collect(),
        })
        .collect();
    let dev_set: Vec<DevUtterance> = (0..options.utterances)
        .map(|i| DevUtterance {
            id: format!("dev_{i}"),
            features: features(),
            reference: Tensor::rand([options.frames], (Kind::Float, Device::Cpu)),
        })
        .collect();
    let codebooks = CLASSES
        .iter()
        .map(|&k| TaskCodebook {
            means: (0..k).map(|c| c as f64 / k as f64).collect(),
            priors: vec![1.0 / k as f64; k as usize],
        })
        .collect();
    let readout = Readout::classifier(codebooks)?;
    let loss = |o: &Tensor, t: &Tensor| -> Result<Tensor, TchError> {
        emoflow_loss::cost_sensitive_ce::cost_sensitive_ce(o, t)
    };
    let scratch = std::env::temp_dir().join(format!("emoflow-epoch-timing-{}", std::process::id()));
    let setup = TrainSetup {
        model: BlstmConfig {
            input_dim: 160,
            hidden: 80,
            layers: 3,
            output: Output::Classifier {
                classes: CLASSES.to_vec(),
            },
        },
        train: TrainConfig {
            max_epochs: options.epochs,
            threads: options.threads,
            ..TrainConfig::default()
        },
        device,
        loss: &loss,
        loss_name: "loss.cost_sensitive_ce",
        readout: &readout,
        checkpoint: scratch.join("checkpoint.safetensors"),
    };
    let mut seconds = vec![];
    let mut on_epoch = |row: &emoflow_model::train::EpochLog| {
        println!(
            "emoflow epoch {}: {:.3} s (loss {:.4})",
            row.epoch, row.seconds, row.loss
        );
        seconds.push(row.seconds);
    };
    let result = train(&setup, &train_set, &dev_set, &|| false, &mut on_epoch);
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    seconds.sort_by(f64::total_cmp);
    println!("emoflow median epoch: {:.3} s", seconds[seconds.len() / 2]);
    Ok(())
}
