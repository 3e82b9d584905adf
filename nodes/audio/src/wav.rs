//! WAV input and output (through `hound`).
//!
//! Reading accepts any sample rate, any channel count (downmixed to mono by
//! averaging the channels), integer PCM of 8 to 32 bits and 32-bit float.
//! Integer samples are scaled by `1 / 2^(bits-1)`, so 16-bit `i` becomes
//! `i / 32768` exactly, as Kaldi and torchaudio read it; `feature.fbank`
//! multiplies by 32768 again to get Kaldi's int16 scale back.

use std::io::Seek;
use std::path::Path;

use crate::error::{Error, Result};

/// Mono audio: samples nominally in [-1, 1] at `sample_rate` Hz.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    pub sample_rate: u32,
    pub samples: Vec<f32>,
}

impl Audio {
    pub fn duration_seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

/// The `[-1, 1]` value of a 16-bit sample, as [`read_wav`] returns it.
pub fn i16_to_f32(sample: i16) -> f32 {
    f32::from(sample) / 32768.0
}

/// Reads a WAV file into mono audio.
pub fn read_wav(path: &Path) -> Result<Audio> {
    let reader = hound::WavReader::open(path).map_err(|e| header_error(path, e))?;
    let spec = reader.spec();
    if spec.channels == 0 {
        return Err(Error::file(path, "WAV header declares 0 channels"));
    }
    let declared = reader.len() as usize;
    // A header may claim more samples than the file holds (found by
    // fuzzing): reserve no more than its bytes can carry.
    let file_bytes = std::fs::metadata(path).map_or(0, |m| m.len()) as usize;
    let room = file_bytes / usize::from(spec.bits_per_sample.div_ceil(8)).max(1);
    let reserve = declared.min(room);
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => {
            collect(path, declared, reserve, reader.into_samples::<f32>())?
        }
        (hound::SampleFormat::Int, bits @ 8..=32) => {
            let scale = 1.0 / f64::from(1u32 << (bits - 1)) as f32;
            let ints: Vec<i32> = collect(path, declared, reserve, reader.into_samples::<i32>())?;
            ints.into_iter().map(|s| s as f32 * scale).collect()
        }
        (format, bits) => {
            return Err(Error::file(
                path,
                format!("unsupported WAV sample format: {bits}-bit {format:?}"),
            ));
        }
    };
    Ok(Audio {
        sample_rate: spec.sample_rate,
        samples: downmix(&interleaved, usize::from(spec.channels)),
    })
}

/// Sample rate and number of (multi-channel) frames a WAV header declares,
/// without reading the samples. A header that declares more sample bytes
/// than the file holds after it (a truncated file, or a data-size field that
/// lies) is an error naming the file and both sizes, before anything
/// downstream trusts the length (a label check would blame the labels).
pub fn read_wav_info(path: &Path) -> Result<(u32, usize)> {
    let reader = hound::WavReader::open(path).map_err(|e| header_error(path, e))?;
    let spec = reader.spec();
    let frames = reader.duration() as usize;
    let frame_bytes = u64::from(spec.channels) * u64::from(spec.bits_per_sample.div_ceil(8));
    let declared = frames as u64 * frame_bytes;
    // hound leaves the file positioned at the first sample.
    let mut file = reader.into_inner();
    let data_start = file.stream_position().map_err(|e| Error::io(path, e))?;
    let file_bytes = file
        .get_ref()
        .metadata()
        .map_err(|e| Error::io(path, e))?
        .len();
    let held = file_bytes.saturating_sub(data_start);
    if declared > held {
        let seconds = |bytes: u64| {
            bytes as f64 / frame_bytes.max(1) as f64 / f64::from(spec.sample_rate.max(1))
        };
        return Err(Error::file(
            path,
            format!(
                "bad WAV: its header declares {declared} bytes of samples ({:.3} s) but the file holds \
                 {held} after the header ({:.3} s): the file is truncated or its header's data size is \
                 wrong; re-export or re-copy it",
                seconds(declared),
                seconds(held),
            ),
        ));
    }
    Ok((spec.sample_rate, frames))
}

/// Writes mono 16-bit PCM.
pub fn write_wav_i16(path: &Path, sample_rate: u32, samples: &[i16]) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let to_error = |e: hound::Error| match e {
        hound::Error::IoError(io) => Error::io(path, io),
        other => Error::file(path, format!("cannot write WAV: {other}")),
    };
    let len = u32::try_from(samples.len())
        .map_err(|_| Error::file(path, "too many samples for one WAV file"))?;
    let mut writer = hound::WavWriter::create(path, spec).map_err(to_error)?;
    let mut fast = writer.get_i16_writer(len);
    for &s in samples {
        fast.write_sample(s);
    }
    fast.flush().map_err(to_error)?;
    writer.finalize().map_err(to_error)
}

/// hound reports a read that hits the end of the file as an `Other` I/O
/// error ("Failed to read enough bytes"); the standard library says
/// `UnexpectedEof`.
fn is_short_read(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::Other
    )
}

fn header_error(path: &Path, e: hound::Error) -> Error {
    match e {
        hound::Error::IoError(io) if is_short_read(&io) => {
            Error::file(path, "truncated WAV: the file ends inside its header")
        }
        hound::Error::IoError(io) => Error::io(path, io),
        hound::Error::FormatError(msg) if msg.contains("RIFF") || msg.contains("WAVE") => {
            Error::file(path, format!("not a RIFF/WAVE file ({msg})"))
        }
        other => Error::file(path, format!("unreadable WAV header: {other}")),
    }
}

fn collect<T, I>(path: &Path, declared: usize, reserve: usize, samples: I) -> Result<Vec<T>>
where
    I: Iterator<Item = hound::Result<T>>,
{
    let mut out = Vec::with_capacity(reserve);
    for sample in samples {
        match sample {
            Ok(s) => out.push(s),
            Err(hound::Error::IoError(io)) if is_short_read(&io) => {
                return Err(Error::file(
                    path,
                    format!(
                        "truncated WAV: the header declares {declared} samples, \
                         the file ends after {}",
                        out.len()
                    ),
                ));
            }
            Err(e) => return Err(Error::file(path, format!("unreadable WAV data: {e}"))),
        }
    }
    Ok(out)
}

fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels == 1 {
        return interleaved.to_vec();
    }
    let scale = 1.0 / channels as f32;
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() * scale)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_spec(
        path: &Path,
        spec: hound::WavSpec,
        write: impl FnOnce(&mut hound::WavWriter<std::io::BufWriter<std::fs::File>>),
    ) {
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        write(&mut w);
        w.finalize().unwrap();
    }

    fn spec(channels: u16, rate: u32, bits: u16, format: hound::SampleFormat) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: format,
        }
    }

    #[test]
    fn sixteen_bit_round_trips_exactly_at_kaldi_scale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let samples = [0i16, 1, -1, 32767, -32768, 1234];
        write_wav_i16(&path, 22050, &samples).unwrap();
        let audio = read_wav(&path).unwrap();
        assert_eq!(audio.sample_rate, 22050);
        let expected: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
        assert_eq!(audio.samples, expected);
    }

    #[test]
    fn info_reads_rate_and_length_from_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.wav");
        write_spec(&path, spec(2, 44100, 16, hound::SampleFormat::Int), |w| {
            for s in 0..10i16 {
                w.write_sample(s).unwrap();
            }
        });
        assert_eq!(read_wav_info(&path).unwrap(), (44100, 5));
    }

    #[test]
    fn stereo_is_averaged_to_mono() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        write_spec(&path, spec(2, 48000, 16, hound::SampleFormat::Int), |w| {
            for (l, r) in [(1000i16, 3000i16), (-200, 200), (32767, 32767)] {
                w.write_sample(l).unwrap();
                w.write_sample(r).unwrap();
            }
        });
        let audio = read_wav(&path).unwrap();
        assert_eq!(audio.sample_rate, 48000);
        assert_eq!(
            audio.samples,
            vec![2000.0 / 32768.0, 0.0, 32767.0 / 32768.0]
        );
    }

    #[test]
    fn twenty_four_bit_and_float_are_scaled_to_unit_range() {
        let dir = tempfile::tempdir().unwrap();
        let p24 = dir.path().join("24.wav");
        write_spec(&p24, spec(1, 44100, 24, hound::SampleFormat::Int), |w| {
            for s in [4_194_304i32, -8_388_608] {
                w.write_sample(s).unwrap();
            }
        });
        assert_eq!(read_wav(&p24).unwrap().samples, vec![0.5, -1.0]);

        let pf = dir.path().join("f.wav");
        write_spec(&pf, spec(1, 8000, 32, hound::SampleFormat::Float), |w| {
            for s in [0.25f32, -0.75] {
                w.write_sample(s).unwrap();
            }
        });
        let audio = read_wav(&pf).unwrap();
        assert_eq!(
            (audio.sample_rate, audio.samples),
            (8000, vec![0.25, -0.75])
        );
    }

    #[test]
    fn truncated_data_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.wav");
        write_wav_i16(&path, 16000, &[7i16; 1000]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 501]).unwrap();
        let msg = read_wav(&path).unwrap_err().to_string();
        assert!(msg.contains("cut.wav"), "{msg}");
        assert!(msg.contains("truncated WAV"), "{msg}");
    }

    #[test]
    fn a_header_declaring_more_data_than_the_file_holds_is_a_bad_wav_with_both_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lies.wav");
        write_wav_i16(&path, 16000, &[7i16; 1000]).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        // The data chunk's size field (bytes 40..44 of a plain 16-bit header).
        bytes[40..44].copy_from_slice(&779_111_392u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let msg = read_wav_info(&path).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "{}: bad WAV: its header declares 779111392 bytes of samples (24347.231 s) but the file \
                 holds 2000 after the header (0.062 s): the file is truncated or its header's data size \
                 is wrong; re-export or re-copy it",
                path.display()
            )
        );
        // A truncated file is caught the same way, from its header alone.
        write_wav_i16(&path, 16000, &[7i16; 1000]).unwrap();
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 501]).unwrap();
        let msg = read_wav_info(&path).unwrap_err().to_string();
        assert!(
            msg.contains("declares 2000 bytes of samples (0.062 s) but the file holds 1499"),
            "{msg}"
        );
    }

    #[test]
    fn truncated_header_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("head.wav");
        write_wav_i16(&path, 16000, &[7i16; 10]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..20]).unwrap();
        let msg = read_wav(&path).unwrap_err().to_string();
        assert!(
            msg.contains("head.wav") && msg.contains("truncated WAV"),
            "{msg}"
        );
    }

    #[test]
    fn a_file_that_is_not_riff_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.wav");
        std::fs::write(
            &path,
            b"@relation GOLDSTANDARD\n@data\nthis is text, not audio\n",
        )
        .unwrap();
        let msg = read_wav(&path).unwrap_err().to_string();
        assert!(
            msg.contains("notes.wav") && msg.contains("not a RIFF/WAVE file"),
            "{msg}"
        );
    }

    #[test]
    fn a_missing_file_is_an_error_naming_the_file() {
        let msg = read_wav(Path::new("/nonexistent/dir/x.wav"))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("/nonexistent/dir/x.wav: "), "{msg}");
    }
}
