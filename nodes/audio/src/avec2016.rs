//! `source.avec2016`: the AVEC 2016 release of RECOLA, read as released.
//!
//! Layout under the root directory:
//! ```text
//! recordings_audio/{train,dev,test}_N.wav
//! ratings_gold_standard/{arousal,valence}/{train,dev,test}_N.arff
//! ```
//! The partition comes from the file name. A train or dev recording needs a
//! gold-standard file for every requested dimension; a test recording may
//! have none (AVEC keeps test labels private) and then gets no label rows.
//! Gold-standard files are ARFF with a `frameTime` attribute (one row every
//! 0.04 s from 0) and a `GoldStandard` attribute (or, failing that name, the
//! only other numeric attribute); columns are found by name. The
//! `Instance_name` column is not checked against the file name. A label
//! track whose length differs from what the audio covers by more than
//! [`LABEL_LENGTH_TOLERANCE`](crate::corpus::LABEL_LENGTH_TOLERANCE) frames
//! is an error naming the recording.

use std::path::{Path, PathBuf};

use emoflow_sdk::prelude::{Context, Inputs, KindSpec, Node, Outputs, port};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::arff::{Arff, AttributeType, Value};
use crate::corpus::{self, Dim, LABEL_PERIOD, LabelRange, LabelTrack, Recording, Split};
use crate::error::{Error, Result};
use crate::ports::{lazy_audio, series_batch, series_rows, wav_audio_row};
use crate::wav::{read_wav, read_wav_info};

pub const AUDIO_DIR: &str = "recordings_audio";
pub const GOLD_DIR: &str = "ratings_gold_standard";

/// The files of one recording, found by [`scan`].
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingFiles {
    pub name: String,
    pub split: Split,
    pub wav: PathBuf,
    /// Gold-standard files present for the requested dimensions.
    pub labels: Vec<(Dim, PathBuf)>,
}

impl RecordingFiles {
    /// Every file of the recording: its audio, then its gold standard.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.wav.as_path())
            .chain(self.labels.iter().map(|(_, path)| path.as_path()))
    }
}

/// Parses `train_3` into its split and number.
pub fn parse_name(stem: &str) -> Option<(Split, u32)> {
    let (split, number) = stem.split_once('_')?;
    let split = Split::parse(split).ok()?;
    // Plain decimal digits only: `train_03x` or `train_+3` are not names of the release.
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((split, number.parse().ok()?))
}

/// Lists the recordings of `splits` under `root`, in split order (train,
/// dev, test) then by number, and their gold-standard files for `dims`.
pub fn scan(root: &Path, dims: &[Dim], splits: &[Split]) -> Result<Vec<RecordingFiles>> {
    let audio_dir = root.join(AUDIO_DIR);
    let entries = std::fs::read_dir(&audio_dir).map_err(|e| Error::io(&audio_dir, e))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(&audio_dir, e))?.path();
        let is_wav = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
        if !is_wav {
            continue;
        }
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let Some((split, number)) = parse_name(stem) else {
            return Err(Error::file(
                &path,
                "not an AVEC 2016 recording name: expected {train,dev,test}_N.wav",
            ));
        };
        if splits.contains(&split) {
            found.push((split, number, stem.to_string(), path));
        }
    }
    if found.is_empty() {
        let wanted: Vec<&str> = splits.iter().map(|s| s.as_str()).collect();
        return Err(Error::file(
            &audio_dir,
            format!("no {} recordings ({{split}}_N.wav) found", wanted.join("/")),
        ));
    }
    found.sort();
    found
        .into_iter()
        .map(|(split, _, name, wav)| {
            let mut labels = Vec::new();
            for &dim in dims {
                let path = root
                    .join(GOLD_DIR)
                    .join(dim.as_str())
                    .join(format!("{name}.arff"));
                if path.is_file() {
                    labels.push((dim, path));
                } else if corpus::labels_required(split) {
                    return Err(Error::file(
                        &path,
                        format!(
                            "missing {} gold standard of {} recording {name}",
                            dim.as_str(),
                            split.as_str()
                        ),
                    ));
                }
            }
            Ok(RecordingFiles {
                name,
                split,
                wav,
                labels,
            })
        })
        .collect()
}

/// Reads one recording's audio and labels and checks their lengths agree.
pub fn load(files: &RecordingFiles, range: LabelRange) -> Result<Recording> {
    let audio = read_wav(&files.wav)?;
    let labels = load_labels(files, audio.duration_seconds(), range)?;
    Ok(Recording {
        name: files.name.clone(),
        split: files.split,
        audio,
        labels,
    })
}

/// Reads one recording's gold standard (values within `range`) and checks
/// it against the length of its audio.
pub fn load_labels(
    files: &RecordingFiles,
    audio_seconds: f64,
    range: LabelRange,
) -> Result<Vec<LabelTrack>> {
    files
        .labels
        .iter()
        .map(|(dim, path)| {
            let values = read_gold_standard(path, range)?;
            corpus::check_label_length(
                &files.name,
                audio_seconds,
                values.len(),
                LABEL_PERIOD,
                path,
            )?;
            Ok(LabelTrack {
                dim: dim.as_str().to_string(),
                values,
            })
        })
        .collect()
}

/// Reads a gold-standard ARFF file into its label values (one per 0.04 s,
/// each within `range`).
pub fn read_gold_standard(path: &Path, range: LabelRange) -> Result<Vec<f32>> {
    let arff = Arff::read(path)?;
    let time_col = arff
        .attribute_index("frameTime")
        .ok_or_else(|| Error::file(path, "no frameTime attribute"))?;
    let value_col = match arff.attribute_index("GoldStandard") {
        Some(i) => i,
        None => {
            let numeric: Vec<usize> = (0..arff.attributes.len())
                .filter(|&i| i != time_col && arff.attributes[i].kind == AttributeType::Numeric)
                .collect();
            match numeric[..] {
                [only] => only,
                _ => {
                    return Err(Error::file(
                        path,
                        "no GoldStandard attribute (and not exactly one other numeric attribute)",
                    ));
                }
            }
        }
    };
    let value_name = arff.attributes[value_col].name.clone();
    let number = |row: &crate::arff::Row, col: usize| match &row.values[col] {
        Value::Number(v) => Ok(*v),
        Value::Missing => Err(Error::line(
            path,
            row.line,
            format!("{}: missing value '?'", arff.attributes[col].name),
        )),
        Value::Text(t) => Err(Error::line(
            path,
            row.line,
            format!("{}: '{t}' is not a number", arff.attributes[col].name),
        )),
    };
    arff.rows
        .iter()
        .enumerate()
        .map(|(index, row)| {
            corpus::check_frame_time(path, row.line, index, number(row, time_col)?, LABEL_PERIOD)?;
            corpus::check_label_value(path, row.line, &value_name, number(row, value_col)?, range)
        })
        .collect()
}

// ---- node -----------------------------------------------------------------

/// Parameters of `source.avec2016`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Avec2016Params {
    /// Root directory of the release: it holds recordings_audio/ and ratings_gold_standard/.
    pub root: PathBuf,
    /// Emotion dimensions whose gold standard to read.
    #[serde(default = "all_dims")]
    pub dims: Vec<Dim>,
    /// Partitions to read.
    #[serde(default = "all_splits")]
    pub splits: Vec<Split>,
    /// Resample every recording to this rate (Hz) on read. Without it, a corpus whose recordings differ in sample rate is refused (naming the odd files and the majority rate): feature.fbank builds a different filterbank per rate, so their features would not be comparable.
    #[schemars(range(min = 1000, max = 768000))]
    pub sample_rate: Option<u32>,
    /// The interval [low, high] every label must lie in; a value outside it is refused with its file and line. The default fits AVEC's [-1, 1] with a wide margin.
    #[serde(default = "corpus::default_label_range")]
    pub label_range: LabelRange,
}

fn all_dims() -> Vec<Dim> {
    Dim::ALL.to_vec()
}

fn all_splits() -> Vec<Split> {
    Split::ALL.to_vec()
}

struct Avec2016Source(Avec2016Params);

impl Node for Avec2016Source {
    fn run(&mut self, ctx: &Context, _inputs: Inputs) -> emoflow_sdk::Result<Outputs> {
        let p = &self.0;
        let recordings = scan(&p.root, &p.dims, &p.splits)?;
        // Labels are small: read them now, against the length each WAV
        // header declares; the audio streams later, one recording at a time.
        let mut series = Vec::new();
        let mut rates = Vec::with_capacity(recordings.len());
        for (i, files) in recordings.iter().enumerate() {
            ctx.check_cancelled()?;
            let (rate, frames) = read_wav_info(&files.wav)?;
            rates.push((files.wav.as_path(), rate));
            let tracks = load_labels(files, frames as f64 / f64::from(rate), p.label_range)?;
            series.extend(series_rows(&files.name, files.split, tracks, LABEL_PERIOD));
            ctx.progress(i as u64 + 1, recordings.len() as u64, &files.name);
        }
        corpus::check_sample_rates(&rates, p.sample_rate)?;
        tracing::info!(recordings = recordings.len(), label_tracks = series.len(), root = %p.root.display(), "AVEC 2016 corpus");
        let (rate, threads) = (p.sample_rate, ctx.threads());
        let audio = lazy_audio(recordings, move |files| {
            wav_audio_row(files.name, files.split, &files.wav, rate, threads)
        })?;
        Ok(Outputs::new()
            .with_stream("audio", audio)
            .with_batch("labels", series_batch(&series, LABEL_PERIOD)?))
    }

    fn input_files(&self) -> emoflow_sdk::Result<Vec<PathBuf>> {
        let p = &self.0;
        let recordings = scan(&p.root, &p.dims, &p.splits)?;
        Ok(recordings
            .iter()
            .flat_map(RecordingFiles::paths)
            .map(Path::to_path_buf)
            .collect())
    }
}

/// The `source.avec2016` node kind.
pub fn kind() -> KindSpec {
    KindSpec::new("source.avec2016", file!())
        .doc(
            "Reads the AVEC 2016 release of RECOLA as released: recordings_audio/{train,dev,test}_N.wav and \
             ratings_gold_standard/{arousal,valence}/NAME.arff (0.04 s frames). Test recordings may lack labels.",
        )
        .output("audio", port::AUDIO, "one row per recording: mono samples in [-1, 1] at the corpus's one rate (or sample_rate)")
        .output("labels", port::SERIES, "one row per recording and dimension: the gold standard, frame period 0.04 s")
        .export(crate::source_wav::reads_new_recordings())
        .create(|p: Avec2016Params| {
            corpus::check_label_range(p.label_range)?;
            Ok(Avec2016Source(p))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wav::write_wav_i16;

    /// Writes a small AVEC-layout corpus: `seconds` of audio per recording at
    /// 16 kHz and a gold standard with the number of frames the audio covers.
    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new(names: &[&str], seconds: f64) -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join(AUDIO_DIR)).unwrap();
            let fixture = Fixture { dir };
            for name in names {
                fixture.wav(name, seconds);
                let frames = (seconds / LABEL_PERIOD).round() as usize + 1;
                for dim in Dim::ALL {
                    fixture.gold(dim, name, frames);
                }
            }
            fixture
        }

        fn root(&self) -> &Path {
            self.dir.path()
        }

        fn wav(&self, name: &str, seconds: f64) -> PathBuf {
            let path = self.root().join(AUDIO_DIR).join(format!("{name}.wav"));
            let samples: Vec<i16> = (0..(seconds * 16000.0) as usize)
                .map(|i| (i % 200) as i16)
                .collect();
            write_wav_i16(&path, 16000, &samples).unwrap();
            path
        }

        fn gold_path(&self, dim: Dim, name: &str) -> PathBuf {
            self.root()
                .join(GOLD_DIR)
                .join(dim.as_str())
                .join(format!("{name}.arff"))
        }

        fn gold(&self, dim: Dim, name: &str, frames: usize) -> PathBuf {
            let mut text = String::from(
                "@relation GOLDSTANDARD\n\n@attribute Instance_name string\n\
                 @attribute frameTime numeric\n@attribute GoldStandard numeric\n\n\n@data\n\n",
            );
            for i in 0..frames {
                text.push_str(&format!(
                    "{name},{},{}\n",
                    i as f64 * 0.04,
                    (i as f64 * 0.01).sin() * 0.3
                ));
            }
            let path = self.gold_path(dim, name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    #[test]
    fn names_give_the_partition() {
        assert_eq!(parse_name("train_1"), Some((Split::Train, 1)));
        assert_eq!(parse_name("dev_12"), Some((Split::Dev, 12)));
        assert_eq!(parse_name("test_9"), Some((Split::Test, 9)));
        for bad in [
            "train", "train_", "devel_1", "train_1a", "Train_1", "train_+1",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn scan_orders_by_split_then_number_and_allows_unlabelled_test() {
        let f = Fixture::new(&["dev_1", "train_10", "train_2"], 1.0);
        f.wav("test_1", 1.0);
        let files = scan(f.root(), &Dim::ALL, &Split::ALL).unwrap();
        let names: Vec<&str> = files.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["train_2", "train_10", "dev_1", "test_1"]);
        assert!(files[3].labels.is_empty());
        assert_eq!(files[0].labels.len(), 2);

        let only_dev = scan(f.root(), &[Dim::Valence], &[Split::Dev]).unwrap();
        assert_eq!(only_dev.len(), 1);
        assert_eq!(
            only_dev[0].labels,
            vec![(Dim::Valence, f.gold_path(Dim::Valence, "dev_1"))]
        );
    }

    #[test]
    fn load_reads_audio_and_labels_of_each_dimension() {
        let f = Fixture::new(&["train_1"], 2.0);
        let files = scan(f.root(), &Dim::ALL, &Split::ALL).unwrap();
        let rec = load(&files[0], corpus::DEFAULT_LABEL_RANGE).unwrap();
        assert_eq!((rec.name.as_str(), rec.split), ("train_1", Split::Train));
        assert_eq!(rec.audio.sample_rate, 16000);
        assert_eq!(rec.audio.samples.len(), 32000);
        assert_eq!(rec.audio.samples[199], 199.0 / 32768.0);
        assert_eq!(rec.labels.len(), 2);
        assert_eq!(rec.labels[1].dim, "valence");
        assert_eq!(rec.labels[1].values.len(), 51);
        assert_eq!(rec.labels[1].values[50], (0.5f64.sin() * 0.3) as f32);
    }

    #[test]
    fn a_missing_label_file_of_a_train_recording_names_the_file() {
        let f = Fixture::new(&["train_1", "dev_1"], 1.0);
        let missing = f.gold_path(Dim::Arousal, "dev_1");
        std::fs::remove_file(&missing).unwrap();
        let msg = scan(f.root(), &Dim::ALL, &Split::ALL)
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            format!(
                "{}: missing arousal gold standard of dev recording dev_1",
                missing.display()
            )
        );
        // Asking only for valence does not need the arousal file.
        assert!(scan(f.root(), &[Dim::Valence], &Split::ALL).is_ok());
    }

    #[test]
    fn label_audio_length_mismatch_beyond_tolerance_names_the_recording() {
        let f = Fixture::new(&["train_4"], 2.0);
        // 2 s of audio cover 51 frames; 54 is three too many.
        f.gold(Dim::Valence, "train_4", 54);
        let files = scan(f.root(), &Dim::ALL, &Split::ALL).unwrap();
        let msg = load(&files[0], corpus::DEFAULT_LABEL_RANGE)
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("recording train_4: "), "{msg}");
        assert!(
            msg.contains("54 label frames") && msg.contains("(2.000 s) covers 51"),
            "{msg}"
        );
        // Two too many is within tolerance.
        f.gold(Dim::Valence, "train_4", 53);
        assert!(load(&files[0], corpus::DEFAULT_LABEL_RANGE).is_ok());
    }

    #[test]
    fn bad_rows_in_a_gold_standard_name_file_and_line() {
        let f = Fixture::new(&["dev_3"], 1.0);
        let path = f.gold_path(Dim::Arousal, "dev_3");
        let text = std::fs::read_to_string(&path).unwrap();
        // Row 3 of the data is line 12 (9 header lines, rows from line 10).
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[11].starts_with("dev_3,0.08,"));
        let cases = [
            (
                "dev_3,0.08",
                "expected 3 fields (Instance_name, frameTime, GoldStandard), found 2",
            ),
            ("dev_3,0.08,NaN", "GoldStandard: label is NaN"),
            ("dev_3,0.08,?", "GoldStandard: missing value '?'"),
            ("dev_3,0.08,0.1.2", "GoldStandard: '0.1.2' is not a number"),
            ("dev_3,0.12,0.1", "time 0.12 out of sequence"),
        ];
        for (row, expected) in cases {
            let mut edited = lines.clone();
            edited[11] = row;
            std::fs::write(&path, edited.join("\n")).unwrap();
            let msg = read_gold_standard(&path, corpus::DEFAULT_LABEL_RANGE)
                .unwrap_err()
                .to_string();
            assert!(
                msg.starts_with(&format!("{}:12: {expected}", path.display())),
                "{row}: {msg}"
            );
        }
    }

    #[test]
    fn wav_names_outside_the_release_pattern_are_refused() {
        let f = Fixture::new(&["train_1"], 1.0);
        let stray = f.wav("train_1_16k", 1.0);
        let msg = scan(f.root(), &Dim::ALL, &Split::ALL)
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with(&stray.display().to_string()), "{msg}");
    }

    #[test]
    fn a_root_without_the_layout_names_the_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let msg = scan(dir.path(), &Dim::ALL, &Split::ALL)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("recordings_audio"), "{msg}");
    }
}
