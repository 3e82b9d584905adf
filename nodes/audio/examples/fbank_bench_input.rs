//! Writes the fbank benchmark input (see benches/common) as a 16-bit WAV for
//! bench/fbank_peers.py:
//!
//!     cargo run --release -p emoflow-audio --example fbank_bench_input -- OUT.wav

#[path = "../benches/common/mod.rs"]
mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .ok_or("usage: fbank_bench_input OUT.wav")?;
    let input = common::input();
    emoflow_audio::wav::write_wav_i16(
        std::path::Path::new(&out),
        input.sample_rate,
        &input.samples,
    )?;
    println!("{out}: {} s at {} Hz", common::SECONDS, input.sample_rate);
    Ok(())
}
