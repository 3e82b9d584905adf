//! `source.csv`: WAV recordings with time-continuous CSV labels beside them.
//!
//! Layout under the root directory (each split directory is optional):
//! ```text
//! {train,dev,test}/NAME.wav
//! {train,dev,test}/NAME.csv           time,arousal,valence   (all dimensions in one file)
//! {train,dev,test}/DIM/NAME.csv       time,label             (one file per dimension)
//! ```
//! The split is the directory; the utterance id is `NAME`. For each
//! recording the combined `NAME.csv` is used when it exists, and its header
//! names the dimension columns (any subset of columns may be requested, in
//! any order, matched case-insensitively). Otherwise each requested
//! dimension is read from `DIM/NAME.csv`, whose second column holds the
//! values whatever its name (`label`, `GoldStandard`, ...).
//!
//! CSV details: a header line is required; its first column is the time in
//! seconds (`time`, `frameTime` or `timestamp`, any case). The delimiter is `,`, or `;` when
//! the header contains one (RECOLA's individual ratings). Surrounding quotes
//! on header names are removed. Rows must be at `i * frame_period` seconds
//! from 0; blank lines are skipped. As with the AVEC source, a train or dev
//! recording without labels is an error naming the expected file, a test
//! recording may have none, and a label track whose length differs from the
//! audio's by more than
//! [`LABEL_LENGTH_TOLERANCE`](crate::corpus::LABEL_LENGTH_TOLERANCE) frames
//! is an error naming the recording.

use std::path::{Path, PathBuf};

use emoflow_sdk::prelude::{Context, Inputs, KindSpec, Node, Outputs, port};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::corpus::{self, LabelRange, LabelTrack, Recording, Split};
use crate::error::{Error, Result};
use crate::ports::{lazy_audio, series_batch, series_rows, wav_audio_row};
use crate::wav::{read_wav, read_wav_info};

/// Where a recording's labels are.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFiles {
    /// `NAME.csv` with a column per dimension.
    Combined(PathBuf),
    /// `DIM/NAME.csv`, one per requested dimension.
    PerDim(Vec<(String, PathBuf)>),
    /// A test recording without labels.
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CsvRecordingFiles {
    pub name: String,
    pub split: Split,
    pub wav: PathBuf,
    pub labels: LabelFiles,
}

impl CsvRecordingFiles {
    /// Every file of the recording: its audio, then its label files.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        let labels: Vec<&Path> = match &self.labels {
            LabelFiles::Combined(path) => vec![path],
            LabelFiles::PerDim(files) => files.iter().map(|(_, path)| path.as_path()).collect(),
            LabelFiles::None => Vec::new(),
        };
        std::iter::once(self.wav.as_path()).chain(labels)
    }
}

/// Lists the recordings of `splits` under `root` (split order, then name).
pub fn scan(root: &Path, dims: &[String], splits: &[Split]) -> Result<Vec<CsvRecordingFiles>> {
    let mut out = Vec::new();
    for &split in splits {
        let dir = root.join(split.as_str());
        if !dir.is_dir() {
            continue;
        }
        let mut wavs = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let path = entry.map_err(|e| Error::io(&dir, e))?.path();
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
            {
                wavs.push(path);
            }
        }
        wavs.sort();
        for wav in wavs {
            let name = wav
                .file_stem()
                .and_then(|s| s.to_str())
                .ok_or_else(|| Error::file(&wav, "file name is not UTF-8"))?
                .to_string();
            let labels = label_files(&dir, &name, split, dims)?;
            out.push(CsvRecordingFiles {
                name,
                split,
                wav,
                labels,
            });
        }
    }
    if out.is_empty() {
        let wanted: Vec<&str> = splits.iter().map(|s| s.as_str()).collect();
        return Err(Error::file(
            root,
            format!("no WAV files found in {{{}}}/", wanted.join(",")),
        ));
    }
    Ok(out)
}

fn label_files(dir: &Path, name: &str, split: Split, dims: &[String]) -> Result<LabelFiles> {
    let combined = dir.join(format!("{name}.csv"));
    if combined.is_file() {
        return Ok(LabelFiles::Combined(combined));
    }
    let per_dim: Vec<(String, PathBuf)> = dims
        .iter()
        .map(|d| (d.clone(), dir.join(d).join(format!("{name}.csv"))))
        .collect();
    match per_dim.iter().find(|(_, p)| !p.is_file()) {
        None => Ok(LabelFiles::PerDim(per_dim)),
        Some(_) if !corpus::labels_required(split) && per_dim.iter().all(|(_, p)| !p.is_file()) => {
            Ok(LabelFiles::None)
        }
        Some((_, missing)) => Err(Error::file(
            missing,
            format!(
                "missing labels of {} recording {name} (neither {} nor this file exists)",
                split.as_str(),
                combined.display()
            ),
        )),
    }
}

/// Reads one recording's audio and labels and checks their lengths agree.
pub fn load(
    files: &CsvRecordingFiles,
    dims: &[String],
    frame_period: f64,
    range: LabelRange,
) -> Result<Recording> {
    let audio = read_wav(&files.wav)?;
    let labels = load_labels(files, dims, frame_period, audio.duration_seconds(), range)?;
    Ok(Recording {
        name: files.name.clone(),
        split: files.split,
        audio,
        labels,
    })
}

/// Reads one recording's labels (values within `range`) and checks them
/// against the length of its audio.
pub fn load_labels(
    files: &CsvRecordingFiles,
    dims: &[String],
    frame_period: f64,
    audio_seconds: f64,
    range: LabelRange,
) -> Result<Vec<LabelTrack>> {
    let tracks: Vec<(LabelTrack, &Path)> = match &files.labels {
        LabelFiles::Combined(path) => read_label_csv(path, dims, frame_period, range)?
            .into_iter()
            .map(|t| (t, path.as_path()))
            .collect(),
        LabelFiles::PerDim(files) => files
            .iter()
            .map(|(dim, path)| {
                let values = read_single_csv(path, frame_period, range)?;
                Ok((
                    LabelTrack {
                        dim: dim.clone(),
                        values,
                    },
                    path.as_path(),
                ))
            })
            .collect::<Result<_>>()?,
        LabelFiles::None => Vec::new(),
    };
    for (track, path) in &tracks {
        corpus::check_label_length(
            &files.name,
            audio_seconds,
            track.values.len(),
            frame_period,
            path,
        )?;
    }
    Ok(tracks.into_iter().map(|(t, _)| t).collect())
}

/// Reads the requested dimension columns of a combined label file.
pub fn read_label_csv(
    path: &Path,
    dims: &[String],
    frame_period: f64,
    range: LabelRange,
) -> Result<Vec<LabelTrack>> {
    let table = Table::read(path)?;
    let columns = dims
        .iter()
        .map(|dim| {
            table.header[1..]
                .iter()
                .position(|h| h.eq_ignore_ascii_case(dim))
                .map(|i| i + 1)
                .ok_or_else(|| {
                    Error::line(
                        path,
                        1,
                        format!("no column '{dim}' (columns: {})", table.header.join(", ")),
                    )
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let values = table.columns(path, &columns, frame_period, range)?;
    Ok(dims
        .iter()
        .zip(values)
        .map(|(dim, values)| LabelTrack {
            dim: dim.clone(),
            values,
        })
        .collect())
}

/// Reads the value column of a one-dimension label file (`time,label`).
pub fn read_single_csv(path: &Path, frame_period: f64, range: LabelRange) -> Result<Vec<f32>> {
    let table = Table::read(path)?;
    if table.header.len() != 2 {
        return Err(Error::line(
            path,
            1,
            format!(
                "expected 2 columns (time and one label), found {}",
                table.header.len()
            ),
        ));
    }
    Ok(table.columns(path, &[1], frame_period, range)?.remove(0))
}

/// A parsed CSV file: the header and the data lines with their numbers.
struct Table {
    header: Vec<String>,
    delimiter: char,
    rows: Vec<(usize, String)>,
}

impl Table {
    fn read(path: &Path) -> Result<Table> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        // Spreadsheet programs save UTF-8 CSV with a byte order mark.
        let mut lines = text
            .trim_start_matches('\u{feff}')
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty());
        let (header_line, header) = lines
            .next()
            .ok_or_else(|| Error::file(path, "empty label file"))?;
        let delimiter = if header.contains(';') { ';' } else { ',' };
        let header: Vec<String> = header
            .split(delimiter)
            .map(|h| h.trim().trim_matches(['"', '\'']).to_string())
            .collect();
        let time_names = ["time", "frametime", "timestamp"];
        if !time_names.iter().any(|t| header[0].eq_ignore_ascii_case(t)) {
            return Err(Error::line(
                path,
                header_line,
                format!(
                    "the first column must be the time (time, frameTime or timestamp), found '{}'",
                    header[0]
                ),
            ));
        }
        Ok(Table {
            header,
            delimiter,
            rows: lines.map(|(n, l)| (n, l.to_string())).collect(),
        })
    }

    /// Parses the given columns of every row, checking times and values.
    fn columns(
        &self,
        path: &Path,
        columns: &[usize],
        frame_period: f64,
        range: LabelRange,
    ) -> Result<Vec<Vec<f32>>> {
        let mut out = vec![Vec::with_capacity(self.rows.len()); columns.len()];
        for (index, (line, row)) in self.rows.iter().enumerate() {
            let fields: Vec<&str> = row.split(self.delimiter).map(str::trim).collect();
            if fields.len() != self.header.len() {
                return Err(Error::line(
                    path,
                    *line,
                    format!(
                        "expected {} fields ({}), found {}",
                        self.header.len(),
                        self.header.join(", "),
                        fields.len()
                    ),
                ));
            }
            let number = |col: usize| {
                fields[col].parse::<f64>().map_err(|_| {
                    Error::line(
                        path,
                        *line,
                        format!("{}: '{}' is not a number", self.header[col], fields[col]),
                    )
                })
            };
            corpus::check_frame_time(path, *line, index, number(0)?, frame_period)?;
            for (values, &col) in out.iter_mut().zip(columns) {
                values.push(corpus::check_label_value(
                    path,
                    *line,
                    &self.header[col],
                    number(col)?,
                    range,
                )?);
            }
        }
        Ok(out)
    }
}

// ---- node -----------------------------------------------------------------

/// Parameters of `source.csv`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvParams {
    /// Root directory holding train/, dev/ and test/ (each optional) with NAME.wav and its labels.
    pub root: PathBuf,
    /// Label columns (combined files) or sub-directories (one file per dimension) to read.
    #[serde(default = "default_dims")]
    pub dims: Vec<String>,
    /// Partitions to read.
    #[serde(default = "all_splits")]
    pub splits: Vec<Split>,
    /// Seconds between label rows; rows must sit at multiples of it from 0.
    #[serde(default = "default_period")]
    #[schemars(range(min = 0.001, max = 10.0))]
    pub frame_period: f64,
    /// Resample every recording to this rate (Hz) on read. Without it, a corpus whose recordings differ in sample rate is refused (naming the odd files and the majority rate): feature.fbank builds a different filterbank per rate, so their features would not be comparable.
    #[schemars(range(min = 1000, max = 768000))]
    pub sample_rate: Option<u32>,
    /// The interval [low, high] every label must lie in; a value outside it is refused with its file and line. The default fits AVEC's [-1, 1] with a wide margin.
    #[serde(default = "corpus::default_label_range")]
    pub label_range: LabelRange,
}

fn default_dims() -> Vec<String> {
    vec!["arousal".into(), "valence".into()]
}

fn all_splits() -> Vec<Split> {
    Split::ALL.to_vec()
}

fn default_period() -> f64 {
    crate::corpus::LABEL_PERIOD
}

struct CsvSource(CsvParams);

impl Node for CsvSource {
    fn run(&mut self, ctx: &Context, _inputs: Inputs) -> emoflow_sdk::Result<Outputs> {
        let p = &self.0;
        if p.dims.is_empty() || p.frame_period.is_nan() || p.frame_period <= 0.0 {
            return Err(emoflow_sdk::Error::invalid(
                "source.csv: dims must not be empty and frame_period must be positive",
            ));
        }
        let recordings = scan(&p.root, &p.dims, &p.splits)?;
        let mut series = Vec::new();
        let mut rates = Vec::with_capacity(recordings.len());
        for (i, files) in recordings.iter().enumerate() {
            ctx.check_cancelled()?;
            let (rate, frames) = read_wav_info(&files.wav)?;
            rates.push((files.wav.as_path(), rate));
            let tracks = load_labels(
                files,
                &p.dims,
                p.frame_period,
                frames as f64 / f64::from(rate),
                p.label_range,
            )?;
            series.extend(series_rows(
                &files.name,
                files.split,
                tracks,
                p.frame_period,
            ));
            ctx.progress(i as u64 + 1, recordings.len() as u64, &files.name);
        }
        corpus::check_sample_rates(&rates, p.sample_rate)?;
        tracing::info!(recordings = recordings.len(), label_tracks = series.len(), root = %p.root.display(), "CSV corpus");
        let (rate, threads) = (p.sample_rate, ctx.threads());
        let audio = lazy_audio(recordings, move |files| {
            wav_audio_row(files.name, files.split, &files.wav, rate, threads)
        })?;
        Ok(Outputs::new()
            .with_stream("audio", audio)
            .with_batch("labels", series_batch(&series, p.frame_period)?))
    }

    fn input_files(&self) -> emoflow_sdk::Result<Vec<PathBuf>> {
        let p = &self.0;
        let recordings = scan(&p.root, &p.dims, &p.splits)?;
        Ok(recordings
            .iter()
            .flat_map(CsvRecordingFiles::paths)
            .map(Path::to_path_buf)
            .collect())
    }
}

/// The `source.csv` node kind.
pub fn kind() -> KindSpec {
    KindSpec::new("source.csv", file!())
        .doc(
            "Reads WAV recordings with time-continuous CSV labels: {train,dev,test}/NAME.wav with \
             NAME.csv (time,arousal,valence) or DIM/NAME.csv (time,label) beside them.",
        )
        .output(
            "audio",
            port::AUDIO,
            "one row per recording: mono samples in [-1, 1] at the corpus's one rate (or sample_rate)",
        )
        .output(
            "labels",
            port::SERIES,
            "one row per recording and dimension, at frame_period",
        )
        .create(|p: CsvParams| {
            corpus::check_label_range(p.label_range)?;
            Ok(CsvSource(p))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wav::write_wav_i16;

    fn dims(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn write_wav(path: &Path, seconds: f64) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let samples = vec![100i16; (seconds * 8000.0) as usize];
        write_wav_i16(path, 8000, &samples).unwrap();
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// `time,arousal,valence` rows every 0.04 s for `frames` frames.
    fn combined(frames: usize) -> String {
        let mut text = String::from("time,arousal,valence\n");
        for i in 0..frames {
            text.push_str(&format!(
                "{:.2},{},{}\n",
                i as f64 * 0.04,
                i as f64 / 100.0,
                -(i as f64) / 200.0
            ));
        }
        text
    }

    #[test]
    fn combined_file_columns_are_found_by_header_name() {
        let dir = tempfile::tempdir().unwrap();
        write_wav(&dir.path().join("train/spk1.wav"), 1.0);
        write(&dir.path().join("train/spk1.csv"), &combined(26));
        let want = dims(&["Valence", "arousal"]);
        let files = scan(dir.path(), &want, &Split::ALL).unwrap();
        assert_eq!(files.len(), 1);
        let rec = load(&files[0], &want, 0.04, corpus::DEFAULT_LABEL_RANGE).unwrap();
        assert_eq!((rec.name.as_str(), rec.split), ("spk1", Split::Train));
        assert_eq!(rec.labels[0].dim, "Valence");
        assert_eq!(rec.labels[0].values[10], -0.05);
        assert_eq!(rec.labels[1].values[10], 0.1);
        assert_eq!(rec.labels[1].values.len(), 26);
    }

    #[test]
    fn per_dimension_files_with_semicolons_and_any_value_name() {
        let dir = tempfile::tempdir().unwrap();
        write_wav(&dir.path().join("dev/a.wav"), 0.4);
        let mut text = String::from("frameTime;label\n");
        for i in 0..5 {
            text.push_str(&format!("{};{}\n\n", i as f64 * 0.1, i));
        }
        write(&dir.path().join("dev/arousal/a.csv"), &text);
        write(
            &dir.path().join("dev/valence/a.csv"),
            &text.replace("label", "GoldStandard"),
        );
        let want = dims(&["arousal", "valence"]);
        let files = scan(dir.path(), &want, &Split::ALL).unwrap();
        let rec = load(&files[0], &want, 0.1, corpus::DEFAULT_LABEL_RANGE).unwrap();
        assert_eq!(rec.labels[1].dim, "valence");
        assert_eq!(rec.labels[1].values, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn test_recordings_may_lack_labels_but_train_and_dev_may_not() {
        let dir = tempfile::tempdir().unwrap();
        write_wav(&dir.path().join("test/t.wav"), 0.2);
        let want = dims(&["arousal"]);
        let files = scan(dir.path(), &want, &Split::ALL).unwrap();
        assert_eq!(files[0].labels, LabelFiles::None);
        assert!(
            load(&files[0], &want, 0.04, corpus::DEFAULT_LABEL_RANGE)
                .unwrap()
                .labels
                .is_empty()
        );

        write_wav(&dir.path().join("dev/d.wav"), 0.2);
        let msg = scan(dir.path(), &want, &Split::ALL)
            .unwrap_err()
            .to_string();
        let expected = dir.path().join("dev/arousal/d.csv");
        assert!(
            msg.starts_with(&format!(
                "{}: missing labels of dev recording d",
                expected.display()
            )),
            "{msg}"
        );
    }

    #[test]
    fn bad_rows_and_headers_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.csv");
        let want = dims(&["arousal"]);
        let cases = [
            (
                "time,arousal\n0,0.1\n0.04\n",
                "l.csv:3: expected 2 fields (time, arousal), found 1",
            ),
            (
                "time,arousal\n0,0.1\n0.04,nan\n",
                "l.csv:3: arousal: label is NaN",
            ),
            (
                "time,arousal\n0,0.1\n0.04,high\n",
                "l.csv:3: arousal: 'high' is not a number",
            ),
            (
                "time,arousal\n0,0.1\n0.08,0.2\n",
                "l.csv:3: time 0.08 out of sequence",
            ),
            (
                "t,arousal\n0,0.1\n",
                "l.csv:1: the first column must be the time",
            ),
            (
                "time,valence\n0,0.1\n",
                "l.csv:1: no column 'arousal' (columns: time, valence)",
            ),
            (
                "time,arousal\n0,0.1\n0.04,1e30\n",
                "l.csv:3: arousal: label 1000000000000000000000000000000 is outside label_range [-10, 10]",
            ),
        ];
        for (text, expected) in cases {
            std::fs::write(&path, text).unwrap();
            let msg = read_label_csv(&path, &want, 0.04, corpus::DEFAULT_LABEL_RANGE)
                .unwrap_err()
                .to_string();
            let expected = format!("{}/{expected}", dir.path().display());
            assert!(msg.starts_with(&expected), "{text:?}: {msg}");
        }
    }

    #[test]
    fn label_audio_length_mismatch_names_the_recording() {
        let dir = tempfile::tempdir().unwrap();
        write_wav(&dir.path().join("train/x.wav"), 1.0);
        write(&dir.path().join("train/x.csv"), &combined(20));
        let want = dims(&["arousal"]);
        let files = scan(dir.path(), &want, &Split::ALL).unwrap();
        let msg = load(&files[0], &want, 0.04, corpus::DEFAULT_LABEL_RANGE)
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("recording x: ") && msg.contains("20 label frames"),
            "{msg}"
        );
    }

    #[test]
    fn a_byte_order_mark_before_the_header_is_not_part_of_the_time_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bom.csv");
        std::fs::write(&path, "\u{feff}time,arousal\n0,0.1\n0.04,0.2\n").unwrap();
        let tracks = read_label_csv(
            &path,
            &dims(&["arousal"]),
            0.04,
            corpus::DEFAULT_LABEL_RANGE,
        )
        .unwrap();
        assert_eq!(tracks[0].values, vec![0.1, 0.2]);
    }
}
