//! The cost of crossing into Python: 300 s of 160-dimensional features
//! (30000 frames at 10 ms, one utterance) through `bench.identity_py`
//! (bench/python/bench_identity.py) and through the same identity kind in
//! Rust, each run as the host runs a node (create, run, pull and check
//! the output) through the SDK harness, in process. Prints the medians as
//! JSON; scripts/bench.sh (section `python`) runs it with
//! EMOFLOW_PLUGIN_PATH=bench/python and EMOFLOW_PYTHON=.venv-python/bin/python.
//!
//!   cargo run --release -p emoflow-python --example crossing -- [RUNS]

use std::time::Instant;

use emoflow_sdk::harness::Harness;
use emoflow_sdk::prelude::*;

const FRAMES: usize = 30_000;
const DIMS: usize = 160;

struct Identity;

impl Node for Identity {
    fn run(&mut self, _ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        Ok(Outputs::new().with_stream("features", Box::new(inputs.stream("features")?)))
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoParams {}

fn identity() -> KindSpec {
    KindSpec::new("bench.identity_rs", file!())
        .doc("Returns its input.")
        .input("features", port::FEATURES, "any features")
        .output("features", port::FEATURES, "the same features")
        .create(|_: NoParams| Ok(Identity))
}

emoflow_sdk::export_plugin!(identity);

/// Median seconds of `runs` calls of `kind`, after one warm-up call.
fn median(
    plugin: &'static emoflow_sdk::ffi::FFI_Plugin,
    kind: &str,
    input: &arrow::record_batch::RecordBatch,
    runs: usize,
) -> f64 {
    let call = || {
        let started = Instant::now();
        let out = Harness::new(plugin, kind)
            .input("features", vec![input.clone()])
            .run()
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let elapsed = started.elapsed().as_secs_f64();
        assert_eq!(
            out.batches("features")
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>(),
            1
        );
        elapsed
    };
    call();
    let mut times: Vec<f64> = (0..runs).map(|_| call()).collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

fn main() {
    let runs = std::env::args()
        .nth(1)
        .map(|r| r.parse().expect("RUNS is a number"))
        .unwrap_or(50);
    let frames: Vec<f32> = (0..FRAMES * DIMS)
        .map(|i| (i % 997) as f32 * 1e-3)
        .collect();
    let row = FeatureRow {
        utt_id: "utt".into(),
        split: Split::Train,
        dims: DIMS,
        frame_period: 0.01,
        frames,
    };
    let input = FeatureRow::write(&[row]).expect("a features batch");
    let rust = median(emoflow_plugin(), "bench.identity_rs", &input, runs);
    let python = median(
        emoflow_python::emoflow_plugin(),
        "bench.identity_py",
        &input,
        runs,
    );
    println!(
        "{}",
        serde_json::json!({
            "frames": FRAMES, "dims": DIMS, "runs": runs,
            "megabytes": (FRAMES * DIMS * 4) as f64 / 1e6,
            "rust_seconds": rust, "python_seconds": python, "overhead_seconds": python - rust,
        })
    );
}
