//! The benchmark input, shared by the criterion bench and the example that
//! writes it for bench/fbank_peers.py: 300 s of the synthetic corpus's
//! speech-like audio at 16 kHz (recording train_1, seed 0).

use emoflow_audio::corpus::Split;
use emoflow_audio::synthetic::{SynthOptions, SynthRecording, synth_recording};

pub const SECONDS: f64 = 300.0;

pub fn input() -> SynthRecording {
    let opts = SynthOptions {
        seconds: SECONDS,
        per_split: 1,
        test_labels: false,
        ..SynthOptions::default()
    };
    synth_recording(&opts, Split::Train, 1)
}
