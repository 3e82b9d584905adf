//! Golden data written by scripts/golden/kmeans.py.

use std::path::PathBuf;

pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The 200,000 emotion-like labels, as the float64 values the references saw.
pub fn labels_200k() -> Vec<f64> {
    let path = golden_dir().join("labels_200k.f32le");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
        .collect()
}
