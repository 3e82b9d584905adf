//! `emoflow predict`: checks a bundle written by `emoflow export` and finds
//! the recordings to apply it to. The command (`main.rs`) then runs the
//! bundle's graph once per recording.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::export::{BUNDLE_FORMAT, BundleManifest, MANIFEST, Role};
use crate::registry::Registry;

/// Reads a bundle's manifest and checks that it is this version's and that
/// every file it lists is there, unchanged.
pub fn open_bundle(dir: &Path) -> Result<BundleManifest> {
    let path = dir.join(MANIFEST);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Bundle(format!(
                "{} is not an emoflow bundle: it has no {MANIFEST} (make one with `emoflow export`)",
                dir.display()
            )));
        }
        Err(e) => return Err(Error::Bundle(format!("{}: {e}", path.display()))),
    };
    let manifest: BundleManifest = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Bundle(format!("{}: not a bundle manifest: {e}", path.display())))?;
    let this = env!("CARGO_PKG_VERSION");
    if manifest.format != BUNDLE_FORMAT || manifest.emoflow_version != this {
        return Err(Error::Bundle(format!(
            "bundle {} was exported by emoflow {} (bundle format {}); this is emoflow {this} (format {BUNDLE_FORMAT}): \
             export it again with this version, whose nodes may read their inputs differently",
            dir.display(),
            manifest.emoflow_version,
            manifest.format
        )));
    }
    for file in &manifest.files {
        let path = dir.join(&file.path);
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::Bundle(match e.kind() {
                std::io::ErrorKind::NotFound => {
                    format!(
                        "bundle {} is missing {} (listed in its {MANIFEST})",
                        dir.display(),
                        file.path
                    )
                }
                _ => format!("{}: {e}", path.display()),
            })
        })?;
        if bytes.len() as u64 != file.bytes || blake3::hash(&bytes).to_hex().as_str() != file.blake3
        {
            return Err(Error::Bundle(format!(
                "bundle file {} changed since it was exported (its size or hash differs from {MANIFEST}); export the bundle again",
                path.display()
            )));
        }
    }
    Ok(manifest)
}

/// The recordings named on the command line, found as the bundle's source
/// finds them: its kind, given the paths, lists the files it would read
/// (for WAV files: files as given, directories by their `*.wav` files).
pub fn recordings(
    manifest: &BundleManifest,
    registry: &Registry,
    inputs: &[PathBuf],
) -> Result<Vec<PathBuf>> {
    let source = manifest
        .nodes
        .iter()
        .find(|n| n.role == Role::Source)
        .ok_or_else(|| Error::Bundle("the bundle has no source node".into()))?;
    let param = source.paths.as_deref().ok_or_else(|| {
        Error::Bundle(format!(
            "the bundle's source `{}` names no recordings parameter",
            source.name
        ))
    })?;
    let provider = registry.get(&source.kind).ok_or_else(|| {
        Error::Bundle(format!(
            "the bundle's source kind `{}` is not installed",
            source.kind
        ))
    })?;
    let paths: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    // The paths come from the command line: what the source says of them
    // is a usage error.
    let usage = |e: emoflow_sdk::Error| Error::Usage(e.message);
    let node = provider
        .plugin
        .create(&source.kind, &serde_json::json!({ param: paths }))
        .map_err(usage)?;
    node.input_files().map_err(usage)
}
