//! feature.fbank against torchaudio.compliance.kaldi.fbank (dither 0) on the
//! golden data of scripts/golden/fbank.py: every log-Mel value within 1e-4,
//! at 16, 44.1 and 48 kHz, with snip_edges true and false, and for each
//! window type and the other options.

use std::path::{Path, PathBuf};

use emoflow_audio::fbank::{Fbank, FbankOptions};
use emoflow_audio::wav::read_wav;
use serde::Deserialize;

const LOG_TOLERANCE: f64 = 1e-4;
/// For linear (not log) energies, relative to the value.
const LINEAR_TOLERANCE: f64 = 1e-5;

#[derive(Deserialize)]
struct Manifest {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    wav: String,
    sample_rate: u32,
    options: FbankOptions,
    frames: usize,
    dim: usize,
    output: String,
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn fbank_matches_torchaudio_on_every_golden_case() {
    let dir = golden_dir();
    let manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string(dir.join("fbank.json")).unwrap()).unwrap();
    let required = [
        "default_16000_snip",
        "default_44100_snip",
        "default_48000_snip",
        "default_16000_centred",
        "default_44100_centred",
        "default_48000_centred",
    ];
    for name in required {
        assert!(
            manifest.cases.iter().any(|c| c.name == name),
            "golden case {name} missing"
        );
    }
    let mut failures = Vec::new();
    for case in &manifest.cases {
        let audio = read_wav(&dir.join(&case.wav)).unwrap();
        assert_eq!(audio.sample_rate, case.sample_rate, "{}", case.name);
        let fbank = Fbank::new(&case.options, audio.sample_rate).unwrap();
        let ours = fbank.compute(&audio.samples, 2);
        let reference = read_f32(&dir.join(&case.output));
        assert_eq!(fbank.dim(), case.dim, "{}: dim", case.name);
        assert_eq!(
            fbank.num_frames(audio.samples.len()),
            case.frames,
            "{}: frames",
            case.name
        );
        assert_eq!(ours.len(), reference.len(), "{}", case.name);
        let log = case.options.use_log_fbank;
        let worst = ours
            .iter()
            .zip(&reference)
            .map(|(&a, &b)| {
                let diff = (f64::from(a) - f64::from(b)).abs();
                if log {
                    diff
                } else {
                    diff / f64::from(b).abs().max(1.0)
                }
            })
            .fold(0.0f64, f64::max);
        let tolerance = if log { LOG_TOLERANCE } else { LINEAR_TOLERANCE };
        println!(
            "{:<24} {} x {}: largest difference {worst:.2e}",
            case.name, case.frames, case.dim
        );
        if worst > tolerance {
            failures.push(format!("{}: {worst:.2e} > {tolerance:.0e}", case.name));
        }
    }
    assert!(failures.is_empty(), "beyond tolerance: {failures:?}");
}
