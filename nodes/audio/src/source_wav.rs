//! `source.wav`: arbitrary WAV recordings without labels, to apply a trained
//! system to new audio (`emoflow predict`).
//!
//! `paths` lists files and directories, in the order given. A directory
//! contributes its `*.wav` files (extension in any case), sorted by name,
//! without descending into subdirectories; a file named directly is taken
//! whatever its extension. The utterance id is the file stem, so two files
//! with the same stem are refused. Every recording gets the `split` param's
//! partition. The ports are those of the corpus sources (`source.avec2016`,
//! `source.synthetic`), so a graph can swap its corpus node for this one;
//! `labels` is empty.

use std::path::{Path, PathBuf};

use emoflow_sdk::prelude::{Context, Inputs, KindSpec, Node, Outputs, SourceExport, port};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::corpus::{LABEL_PERIOD, Split};
use crate::error::{Error, Result};
use crate::ports::{lazy_audio, series_batch, wav_audio_row};
use crate::wav::read_wav_info;

/// One recording found by [`scan`].
#[derive(Debug, Clone, PartialEq)]
pub struct WavFile {
    /// The file stem.
    pub name: String,
    pub path: PathBuf,
}

/// Lists the recordings `paths` name, in the order given, a directory's
/// WAV files sorted in its place.
pub fn scan(paths: &[PathBuf]) -> Result<Vec<WavFile>> {
    if paths.is_empty() {
        return Err(no_paths());
    }
    let mut found: Vec<WavFile> = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::file(path, "no such file or directory"),
            _ => Error::io(path, e),
        })?;
        let files = if meta.is_dir() {
            wavs_in(path)?
        } else {
            vec![path.clone()]
        };
        for path in files {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .ok_or_else(|| Error::file(&path, "file name is not UTF-8"))?
                .to_string();
            if let Some(first) = found.iter().find(|f| f.name == name) {
                return Err(Error::file(
                    &path,
                    format!(
                        "recording id `{name}` (the file stem) is already that of {}; ids must be unique",
                        first.path.display()
                    ),
                ));
            }
            found.push(WavFile { name, path });
        }
    }
    Ok(found)
}

/// How a bundle written by `emoflow export` reads new recordings in place
/// of any of this crate's corpus readers: with `source.wav`, brought to the
/// training recordings' rate by `feature.resample`.
pub(crate) fn reads_new_recordings() -> SourceExport {
    SourceExport::new("source.wav", "paths").resampler("feature.resample", "rate")
}

fn no_paths() -> Error {
    Error::Invalid("source.wav: `paths` is empty: give WAV files or directories of them".into())
}

/// The `*.wav` files of `dir`, sorted; none is an error naming `dir`.
fn wavs_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut wavs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let is_wav = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
        if is_wav && path.is_file() {
            wavs.push(path);
        }
    }
    if wavs.is_empty() {
        return Err(Error::file(dir, "no .wav files in this directory"));
    }
    wavs.sort();
    Ok(wavs)
}

// ---- node -----------------------------------------------------------------

/// Parameters of `source.wav`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WavParams {
    /// WAV files (any extension) and directories (their *.wav files, sorted, not recursive), in this order.
    pub paths: Vec<String>,
    /// The partition every recording is given.
    #[serde(default = "test_split")]
    pub split: Split,
}

fn test_split() -> Split {
    Split::Test
}

struct WavSource(WavParams);

impl WavSource {
    fn scan(&self) -> Result<Vec<WavFile>> {
        scan(&self.0.paths.iter().map(PathBuf::from).collect::<Vec<_>>())
    }
}

impl Node for WavSource {
    fn run(&mut self, ctx: &Context, _inputs: Inputs) -> emoflow_sdk::Result<Outputs> {
        let split = self.0.split;
        let files = self.scan()?;
        // Headers only, so a file that is not a WAV fails the run before
        // any downstream node starts; the samples stream later.
        for (i, file) in files.iter().enumerate() {
            ctx.check_cancelled()?;
            read_wav_info(&file.path)?;
            ctx.progress(i as u64 + 1, files.len() as u64, &file.name);
        }
        tracing::info!(recordings = files.len(), split = %split, "WAV files");
        // Any rate: `emoflow predict` resamples to the training corpus's.
        let audio = lazy_audio(files, move |file| {
            wav_audio_row(file.name, split, &file.path, None, 1)
        })?;
        Ok(Outputs::new()
            .with_stream("audio", audio)
            .with_batch("labels", series_batch(&[], LABEL_PERIOD)?))
    }

    fn input_files(&self) -> emoflow_sdk::Result<Vec<PathBuf>> {
        Ok(self.scan()?.into_iter().map(|file| file.path).collect())
    }
}

/// The `source.wav` node kind.
pub fn kind() -> KindSpec {
    KindSpec::new("source.wav", file!())
        .doc(
            "WAV recordings without labels, to apply a trained system to new audio: files (any extension) and \
             directories (their *.wav files, sorted, not recursive); the utterance id is the file stem. Same \
             ports as source.avec2016, so a graph can swap its corpus for it.",
        )
        .output("audio", port::AUDIO, "one row per file: mono samples in [-1, 1] at the file's rate")
        .output("labels", port::SERIES, "empty (no labels), frame period 0.04 s")
        .export(reads_new_recordings())
        .create(|p: WavParams| {
            // Refused when the graph is checked, not only when it runs.
            if p.paths.is_empty() {
                return Err(no_paths().into());
            }
            Ok(WavSource(p))
        })
}
