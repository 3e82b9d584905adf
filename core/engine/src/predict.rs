//! `emoflow predict`: checks a bundle written by `emoflow export` and finds
//! the recordings to apply it to. The command (`main.rs`) then runs the
//! bundle's graph once per recording.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::export::{BUNDLE_FORMAT, BundleManifest, MANIFEST};

/// Reads a bundle's manifest and checks that it is this version's and that
/// every file it lists is there, unchanged.
pub fn open_bundle(dir: &Path) -> Result<BundleManifest, String> {
    let path = dir.join(MANIFEST);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "{} is not an emoflow bundle: it has no {MANIFEST} (make one with `emoflow export`)",
                dir.display()
            ));
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let manifest: BundleManifest =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: not a bundle manifest: {e}", path.display()))?;
    let this = env!("CARGO_PKG_VERSION");
    if manifest.format != BUNDLE_FORMAT || manifest.emoflow_version != this {
        return Err(format!(
            "bundle {} was exported by emoflow {} (bundle format {}); this is emoflow {this} (format {BUNDLE_FORMAT}): \
             export it again with this version, whose nodes may read their inputs differently",
            dir.display(),
            manifest.emoflow_version,
            manifest.format
        ));
    }
    for file in &manifest.files {
        let path = dir.join(&file.path);
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("bundle {} is missing {} (listed in its {MANIFEST})", dir.display(), file.path)
            }
            _ => format!("{}: {e}", path.display()),
        })?;
        if bytes.len() as u64 != file.bytes || blake3::hash(&bytes).to_hex().as_str() != file.blake3 {
            return Err(format!(
                "bundle file {} changed since it was exported (its size or hash differs from {MANIFEST}); export the bundle again",
                path.display()
            ));
        }
    }
    Ok(manifest)
}

/// The recordings named on the command line: files as given, directories
/// by their `*.wav` files (sorted, not recursive). Each recording is known
/// by its file name stem, so two with the same stem are refused.
pub fn recordings(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    if inputs.is_empty() {
        return Err("name at least one WAV file or directory of WAV files".into());
    }
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let entries = std::fs::read_dir(input).map_err(|e| format!("{}: {e}", input.display()))?;
            let mut wavs: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")))
                .collect();
            if wavs.is_empty() {
                return Err(format!("directory {} holds no .wav files", input.display()));
            }
            wavs.sort();
            files.extend(wavs);
        } else if input.is_file() {
            files.push(input.clone());
        } else {
            return Err(format!("{}: no such file or directory", input.display()));
        }
    }
    let mut stems: BTreeMap<String, &PathBuf> = BTreeMap::new();
    for file in &files {
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(other) = stems.insert(stem.clone(), file) {
            return Err(format!(
                "{} and {} are both recording `{stem}`: outputs are named by the file stem, rename one",
                other.display(),
                file.display()
            ));
        }
    }
    Ok(files)
}
