//! `source.synthetic`: a deterministic speech-like corpus with continuous
//! arousal and valence labels, in memory or written in the AVEC 2016 layout.
//!
//! Each recording has a hidden emotion trajectory: arousal and valence are
//! smooth random curves (sums of slow sinusoids, periods 4 to 90 s) around a
//! per-recording mean, mostly within about -0.3..0.6 like RECOLA. The audio
//! expresses the emotion of the moment:
//! - voiced excitation: a glottal-pulse train with per-period jitter and
//!   shimmer, shaped by glottal and spectral-tilt low-pass filters and lip
//!   radiation, through four formant resonators moving between vowel targets;
//! - syllables with a rise-fall energy envelope, optional noise-burst
//!   consonants, phrases of 3 to 12 syllables with declining pitch and
//!   pitch accents, pauses between phrases, and a low background noise;
//! - arousal drives speaking rate, pause length, loudness, pitch level, pitch
//!   range and spectral tilt (many strong cues);
//! - valence widens the pitch range, brightens the tilt and raises the
//!   formants a little (a smile): fewer and subtler cues, so valence is
//!   harder to learn than arousal.
//!
//! The gold standard is the hidden trajectory as an annotator reports it:
//! delayed by an annotator lag (the `annotator_lag` option, varied by
//! +-25 % per recording and dimension) plus a small slow jitter, sampled every
//! 0.04 s from 0 (7501 frames for 300 s). Everything is drawn from ChaCha8
//! streams keyed by the seed, the split and the recording number, so a seed
//! gives the same corpus, file for file and byte for byte.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use emoflow_sdk::prelude::{AudioRow, Context, Inputs, KindSpec, Node, Outputs, port};

use crate::avec2016::{AUDIO_DIR, GOLD_DIR};
use crate::corpus::{self, Dim, LABEL_PERIOD, LabelTrack, Recording, Split, frames_covered};
use crate::error::{Error, Result};
use crate::ports::{lazy_audio, series_batch, series_rows};
use crate::wav::{Audio, i16_to_f32, write_wav_i16};

/// Options of the synthetic corpus (also the parameters of `source.synthetic`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SynthOptions {
    /// Length of every recording in seconds (the AVEC 2016 release: 300).
    #[schemars(range(min = 1.0, max = 3600.0))]
    pub seconds: f64,
    /// Recordings in each of train, dev and test (the release: 9).
    #[schemars(range(min = 1, max = 1000))]
    pub per_split: usize,
    /// Seed of every random draw; the same seed gives the same corpus.
    pub seed: u64,
    /// Audio sample rate in Hz.
    #[schemars(range(min = 8000, max = 96000))]
    pub sample_rate: u32,
    /// Mean annotator lag in seconds: labels trail the audio by about this much.
    #[schemars(range(min = 0.0, max = 10.0))]
    pub annotator_lag: f64,
    /// Give test recordings labels too (the real release keeps them private).
    pub test_labels: bool,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            seconds: 60.0,
            per_split: 3,
            seed: 0,
            sample_rate: 16000,
            annotator_lag: 2.0,
            test_labels: true,
        }
    }
}

impl SynthOptions {
    pub fn validate(&self) -> Result<()> {
        let ok = self.seconds.is_finite()
            && self.seconds >= 1.0
            && self.per_split >= 1
            && (8000..=96000).contains(&self.sample_rate)
            && (0.0..=10.0).contains(&self.annotator_lag);
        if ok {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "synthetic corpus options out of range: {self:?} (seconds >= 1, per_split >= 1, \
                 sample_rate 8000..=96000, annotator_lag 0..=10)"
            )))
        }
    }

    /// The recordings of the corpus in emission order: (split, number, name).
    pub fn recordings(&self) -> Vec<(Split, usize, String)> {
        Split::ALL
            .into_iter()
            .flat_map(|split| {
                (1..=self.per_split).map(move |n| (split, n, format!("{}_{n}", split.as_str())))
            })
            .collect()
    }
}

/// One synthetic recording as 16-bit samples and label values exactly as
/// written to disk.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthRecording {
    pub name: String,
    pub split: Split,
    pub sample_rate: u32,
    pub samples: Vec<i16>,
    /// Arousal then valence, formatted as in the ARFF files.
    pub labels: Vec<(Dim, Vec<String>)>,
}

impl SynthRecording {
    /// The recording as a source emits it: what the AVEC reader gets back
    /// from the written files, value for value.
    pub fn to_recording(&self) -> Recording {
        Recording {
            name: self.name.clone(),
            split: self.split,
            audio: Audio {
                sample_rate: self.sample_rate,
                samples: self.samples.iter().map(|&s| i16_to_f32(s)).collect(),
            },
            labels: parse_labels(&self.labels),
        }
    }

    /// The gold-standard ARFF text of one dimension, in the release's layout.
    pub fn arff(&self, dim: Dim) -> Option<String> {
        let (_, values) = self.labels.iter().find(|(d, _)| *d == dim)?;
        let mut text = format!(
            "@relation GOLDSTANDARD_{}\n\n@attribute Instance_name string\n\
             @attribute frameTime numeric\n@attribute GoldStandard numeric\n\n\n@data\n\n",
            dim.as_str().to_ascii_uppercase()
        );
        for (i, value) in values.iter().enumerate() {
            text.push_str(&format!("{},{},{value}\n", self.name, frame_time(i)));
        }
        Some(text)
    }
}

/// What [`write_corpus`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusSummary {
    pub recordings: usize,
    pub files: Vec<PathBuf>,
}

/// Writes the corpus under `dir` in the AVEC 2016 layout (16-bit WAV and
/// gold-standard ARFF), creating the directories.
pub fn write_corpus(dir: &Path, opts: &SynthOptions) -> Result<CorpusSummary> {
    opts.validate()?;
    let audio_dir = dir.join(AUDIO_DIR);
    std::fs::create_dir_all(&audio_dir).map_err(|e| Error::io(&audio_dir, e))?;
    for dim in Dim::ALL {
        let d = dir.join(GOLD_DIR).join(dim.as_str());
        std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    }
    let mut files = Vec::new();
    let recordings = opts.recordings();
    for (split, number, _) in &recordings {
        let rec = synth_recording(opts, *split, *number);
        let wav = audio_dir.join(format!("{}.wav", rec.name));
        write_wav_i16(&wav, rec.sample_rate, &rec.samples)?;
        files.push(wav);
        for dim in Dim::ALL {
            if let Some(text) = rec.arff(dim) {
                let path = dir
                    .join(GOLD_DIR)
                    .join(dim.as_str())
                    .join(format!("{}.arff", rec.name));
                std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
                files.push(path);
            }
        }
    }
    Ok(CorpusSummary {
        recordings: recordings.len(),
        files,
    })
}

/// `frameTime` of label frame `i` as the release writes it: 0, 0.04, 1, 1.04.
fn frame_time(i: usize) -> String {
    let hundredths = i * 4;
    let (whole, frac) = (hundredths / 100, hundredths % 100);
    match frac {
        0 => format!("{whole}"),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

fn format_label(value: f64) -> String {
    let text = format!("{value:.6}");
    if text == "-0.000000" {
        "0.000000".into()
    } else {
        text
    }
}

/// A smooth zero-mean unit-variance random curve: a sum of sinusoids with
/// log-uniform periods, amplitudes growing with the period.
struct Curve {
    parts: Vec<(f64, f64, f64)>,
}

impl Curve {
    fn new(rng: &mut ChaCha8Rng, count: usize, min_period: f64, max_period: f64) -> Curve {
        let mut parts: Vec<(f64, f64, f64)> = (0..count)
            .map(|_| {
                let period = min_period * (max_period / min_period).powf(rng.random::<f64>());
                let amplitude = period.sqrt() * (0.5 + rng.random::<f64>());
                (amplitude, 2.0 * PI / period, 2.0 * PI * rng.random::<f64>())
            })
            .collect();
        let variance: f64 = parts.iter().map(|p| p.0 * p.0 / 2.0).sum();
        let norm = variance.sqrt();
        for p in &mut parts {
            p.0 /= norm;
        }
        Curve { parts }
    }

    fn at(&self, t: f64) -> f64 {
        self.parts
            .iter()
            .map(|(a, w, phi)| a * (w * t + phi).sin())
            .sum()
    }
}

/// The hidden emotion of a recording.
struct Emotion {
    arousal: (f64, f64, Curve),
    valence: (f64, f64, Curve),
}

impl Emotion {
    fn new(rng: &mut ChaCha8Rng) -> Emotion {
        let arousal = (
            uniform(rng, -0.05, 0.25),
            uniform(rng, 0.12, 0.22),
            Curve::new(rng, 8, 4.0, 90.0),
        );
        let valence = (
            uniform(rng, 0.0, 0.2),
            uniform(rng, 0.08, 0.16),
            Curve::new(rng, 8, 4.0, 90.0),
        );
        Emotion { arousal, valence }
    }

    fn value(dim: &(f64, f64, Curve), t: f64) -> f64 {
        (dim.0 + dim.1 * dim.2.at(t)).clamp(-0.9, 0.9)
    }

    fn arousal(&self, t: f64) -> f64 {
        Emotion::value(&self.arousal, t)
    }

    fn valence(&self, t: f64) -> f64 {
        Emotion::value(&self.valence, t)
    }
}

fn uniform(rng: &mut ChaCha8Rng, low: f64, high: f64) -> f64 {
    low + (high - low) * rng.random::<f64>()
}

/// Formant targets (F1, F2, F3 in Hz) of a few vowels.
const VOWELS: [[f64; 3]; 7] = [
    [730.0, 1090.0, 2440.0],
    [270.0, 2290.0, 3010.0],
    [300.0, 870.0, 2240.0],
    [530.0, 1840.0, 2480.0],
    [570.0, 840.0, 2410.0],
    [660.0, 1720.0, 2410.0],
    [490.0, 1350.0, 1690.0],
];
const BANDWIDTHS: [f64; 4] = [80.0, 100.0, 140.0, 200.0];
const F4: f64 = 3300.0;

struct Syllable {
    start: f64,
    /// End of the consonant noise burst (== start when there is none).
    vowel_start: f64,
    end: f64,
    vowel: usize,
    amplitude: f64,
    /// Pitch accent height, in units of the pitch range.
    accent: f64,
    /// Position in the phrase, 0 at its first syllable and 1 at its last.
    phrase_position: f64,
}

/// Lays out phrases of syllables and pauses over the recording.
fn syllables(rng: &mut ChaCha8Rng, emotion: &Emotion, seconds: f64) -> Vec<Syllable> {
    let mut out = Vec::new();
    let mut t = uniform(rng, 0.1, 0.5);
    while t < seconds {
        let count = rng.random_range(3..=12);
        for k in 0..count {
            let a = emotion.arousal(t);
            let rate = 4.0 * (0.8 * a).exp();
            let duration = uniform(rng, 0.7, 1.3) / rate;
            let consonant = if rng.random::<f64>() < 0.55 {
                uniform(rng, 0.2, 0.35) * duration
            } else {
                0.0
            };
            let stressed = rng.random::<f64>() < 0.3;
            out.push(Syllable {
                start: t,
                vowel_start: t + consonant,
                end: t + duration,
                vowel: rng.random_range(0..VOWELS.len()),
                amplitude: uniform(rng, 0.7, 1.0) * if stressed { 1.3 } else { 1.0 },
                accent: if stressed {
                    uniform(rng, 0.5, 1.0)
                } else {
                    uniform(rng, 0.0, 0.25)
                },
                phrase_position: k as f64 / (count - 1) as f64,
            });
            t += duration;
        }
        let mean_pause = 0.45 * (-1.5 * emotion.arousal(t)).exp();
        t += 0.12 - mean_pause * (1.0 - rng.random::<f64>()).ln();
    }
    out
}

/// Control values of one 5 ms block.
#[derive(Clone, Copy, Default)]
struct Control {
    voiced: f64,
    noise: f64,
    /// Pitch relative to the speaker's base, in semitones.
    semitones: f64,
    formants: [f64; 3],
    /// Pole of the spectral-tilt low-pass (larger is darker).
    tilt: f64,
    /// Factor on the formant frequencies (a smile shortens the vocal tract).
    smile: f64,
}

/// A two-pole resonator with unit gain at 0 Hz.
#[derive(Clone, Copy, Default)]
struct Resonator {
    c1: f64,
    c2: f64,
    gain: f64,
    y1: f64,
    y2: f64,
}

impl Resonator {
    fn tune(&mut self, freq: f64, bandwidth: f64, rate: f64) {
        let r = (-PI * bandwidth / rate).exp();
        self.c1 = 2.0 * r * (2.0 * PI * freq / rate).cos();
        self.c2 = -r * r;
        self.gain = 1.0 - self.c1 - self.c2;
    }

    fn step(&mut self, x: f64) -> f64 {
        let y = self.gain * x + self.c1 * self.y1 + self.c2 * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// One-pole low-pass `y = (1 - p) x + p y[-1]`.
fn one_pole(state: &mut f64, pole: f64, x: f64) -> f64 {
    *state = (1.0 - pole) * x + pole * *state;
    *state
}

/// What a random stream of a recording is for: each draws independently,
/// so the labels can be made without rendering the audio.
#[derive(Clone, Copy)]
enum Stream {
    Emotion = 0,
    Audio = 1,
    Labels = 2,
}

fn stream(opts: &SynthOptions, split: Split, number: usize, purpose: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let split_code = Split::ALL.iter().position(|&s| s == split).unwrap_or(0) as u64;
    rng.set_stream((purpose as u64) << 48 | split_code << 32 | number as u64);
    rng
}

fn emotion(opts: &SynthOptions, split: Split, number: usize) -> Emotion {
    Emotion::new(&mut stream(opts, split, number, Stream::Emotion))
}

fn n_samples(opts: &SynthOptions) -> usize {
    (opts.seconds * f64::from(opts.sample_rate)).round() as usize
}

/// Generates recording `number` (1-based) of `split`.
pub fn synth_recording(opts: &SynthOptions, split: Split, number: usize) -> SynthRecording {
    let emotion = emotion(opts, split, number);
    SynthRecording {
        name: format!("{}_{number}", split.as_str()),
        split,
        sample_rate: opts.sample_rate,
        samples: audio(opts, split, number, &emotion),
        labels: labels(opts, split, number, &emotion),
    }
}

/// The label tracks of a recording (as [`synth_recording`] gives them),
/// without rendering its audio.
pub fn synth_labels(opts: &SynthOptions, split: Split, number: usize) -> Vec<LabelTrack> {
    parse_labels(&labels(opts, split, number, &emotion(opts, split, number)))
}

/// The audio of a recording (as [`synth_recording`] gives it).
pub fn synth_audio(opts: &SynthOptions, split: Split, number: usize) -> Audio {
    let samples = audio(opts, split, number, &emotion(opts, split, number));
    Audio {
        sample_rate: opts.sample_rate,
        samples: samples.into_iter().map(i16_to_f32).collect(),
    }
}

fn audio(opts: &SynthOptions, split: Split, number: usize, emotion: &Emotion) -> Vec<i16> {
    let mut rng = stream(opts, split, number, Stream::Audio);
    let rate = f64::from(opts.sample_rate);
    let base_f0 = 100.0 * 2.2f64.powf(rng.random::<f64>());
    let formant_scale = uniform(&mut rng, 0.9, 1.12) * (base_f0 / 120.0).powf(0.2);
    let schedule = syllables(&mut rng, emotion, opts.seconds);

    let n_samples = n_samples(opts);
    let block = (rate * 0.005).round() as usize;
    let n_blocks = n_samples.div_ceil(block);
    let controls = controls(&schedule, emotion, n_blocks, block as f64 / rate);

    let speech = render(
        &mut rng,
        &controls,
        block,
        n_samples,
        rate,
        base_f0,
        formant_scale,
    );
    let peak = speech.iter().fold(0.0f64, |m, &x| m.max(x.abs())).max(1e-9);
    let speech_gain = 0.5 / peak;
    let mut background = 0.0;
    let noise_level = 0.5 * 10f64.powf(-50.0 / 20.0) * 3.0;
    speech
        .iter()
        .map(|&x| {
            let bg = one_pole(&mut background, 0.9, uniform(&mut rng, -1.0, 1.0)) * noise_level;
            ((x * speech_gain + bg) * 32768.0)
                .round()
                .clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

fn labels(
    opts: &SynthOptions,
    split: Split,
    number: usize,
    emotion: &Emotion,
) -> Vec<(Dim, Vec<String>)> {
    if !(corpus::labels_required(split) || opts.test_labels) {
        return Vec::new();
    }
    let mut rng = stream(opts, split, number, Stream::Labels);
    let frames = frames_covered(
        n_samples(opts) as f64 / f64::from(opts.sample_rate),
        LABEL_PERIOD,
    );
    Dim::ALL
        .into_iter()
        .map(|dim| {
            let lag = opts.annotator_lag * uniform(&mut rng, 0.75, 1.25);
            let jitter = Curve::new(&mut rng, 6, 1.0, 6.0);
            let values = (0..frames)
                .map(|i| {
                    let t = i as f64 * LABEL_PERIOD;
                    let felt = match dim {
                        Dim::Arousal => emotion.arousal(t - lag),
                        Dim::Valence => emotion.valence(t - lag),
                    };
                    format_label(felt + 0.03 * jitter.at(t))
                })
                .collect();
            (dim, values)
        })
        .collect()
}

/// Label values as a reader of the written text gets them.
fn parse_labels(labels: &[(Dim, Vec<String>)]) -> Vec<LabelTrack> {
    labels
        .iter()
        .map(|(dim, values)| LabelTrack {
            dim: dim.as_str().to_string(),
            // The text is what format_label wrote: always a number.
            values: values
                .iter()
                .map(|v| v.parse::<f64>().unwrap_or(f64::NAN) as f32)
                .collect(),
        })
        .collect()
}

/// Samples the syllable schedule and the emotion at each block's centre.
fn controls(
    schedule: &[Syllable],
    emotion: &Emotion,
    n_blocks: usize,
    block_seconds: f64,
) -> Vec<Control> {
    let mut out = vec![Control::default(); n_blocks];
    let mut previous_vowel = VOWELS[0];
    let mut next = 0;
    let mut held = Control {
        formants: VOWELS[0],
        ..Control::default()
    };
    for (b, control) in out.iter_mut().enumerate() {
        let t = (b as f64 + 0.5) * block_seconds;
        let a = emotion.arousal(t);
        let v = emotion.valence(t);
        while next < schedule.len() && schedule[next].end <= t {
            previous_vowel = VOWELS[schedule[next].vowel];
            next += 1;
        }
        let loudness = 10f64.powf(14.0 * a / 20.0);
        let level = 5.0 * a;
        let range = (2.5 + 3.0 * a + 10.0 * v).max(0.5);
        held.tilt = (0.8 - 0.12 * a - 0.5 * v).clamp(0.55, 0.95);
        held.smile = 1.0 + 0.2 * v;
        held.voiced = 0.0;
        held.noise = 0.0;
        if let Some(s) = schedule.get(next).filter(|s| s.start <= t) {
            let target = VOWELS[s.vowel];
            if t < s.vowel_start {
                let x = (t - s.start) / (s.vowel_start - s.start);
                held.noise = loudness * s.amplitude * (PI * x).sin();
            } else {
                let x = (t - s.vowel_start) / (s.end - s.vowel_start);
                held.voiced = loudness * s.amplitude * (PI * x).sin().powf(0.7);
                let glide = (x / 0.3).min(1.0);
                for k in 0..3 {
                    held.formants[k] = previous_vowel[k] + (target[k] - previous_vowel[k]) * glide;
                }
                let declination = 0.5 - s.phrase_position;
                let accent = s.accent * (PI * x).sin();
                held.semitones = level + range * (declination + accent);
            }
        }
        *control = held;
    }
    out
}

/// Renders the speech (without background noise) from the block controls.
fn render(
    rng: &mut ChaCha8Rng,
    controls: &[Control],
    block: usize,
    n_samples: usize,
    rate: f64,
    base_f0: f64,
    formant_scale: f64,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(n_samples);
    let mut formants = [Resonator::default(); 4];
    let mut fricative = Resonator::default();
    fricative.tune((4500.0f64).min(0.35 * rate), 1500.0, rate);
    let smooth = 1.0 - (-1.0 / (0.004 * rate)).exp();
    let (mut voiced_amp, mut noise_amp) = (0.0, 0.0);
    let (mut phase, mut carry, mut pulse_gain, mut period_f0) = (0.0, 0.0, 1.0, base_f0);
    let (mut glottal1, mut glottal2, mut tilt_state, mut radiated) = (0.0, 0.0, 0.0, 0.0);
    let mut noise_prev = 0.0;
    for (b, control) in controls.iter().enumerate() {
        for (k, r) in formants.iter_mut().enumerate() {
            let freq = if k < 3 { control.formants[k] } else { F4 };
            r.tune(
                (freq * formant_scale * control.smile).min(0.45 * rate),
                BANDWIDTHS[k],
                rate,
            );
        }
        let f0 = base_f0 * 2f64.powf(control.semitones / 12.0);
        let end = ((b + 1) * block).min(n_samples);
        for _ in b * block..end {
            voiced_amp += (control.voiced - voiced_amp) * smooth;
            noise_amp += (control.noise - noise_amp) * smooth;
            // Glottal pulses at the pitch, the impulse split between the two
            // samples around its fractional position.
            let mut excitation = carry;
            carry = 0.0;
            phase += period_f0 / rate;
            if phase >= 1.0 {
                phase -= 1.0;
                let past = phase / (period_f0 / rate);
                excitation += (1.0 - past) * pulse_gain;
                carry = past * pulse_gain;
                period_f0 = f0 * (1.0 + 0.02 * (rng.random::<f64>() - 0.5));
                pulse_gain = 1.0 + 0.16 * (rng.random::<f64>() - 0.5);
            }
            let g = one_pole(
                &mut glottal2,
                0.97,
                one_pole(&mut glottal1, 0.97, excitation),
            );
            let tilted = one_pole(&mut tilt_state, control.tilt, g);
            let lips = tilted - radiated;
            radiated = tilted;
            let white = rng.random::<f64>() - 0.5;
            let mut x = voiced_amp * (lips * 8.0 + 0.004 * white);
            for r in &mut formants {
                x = r.step(x);
            }
            let hiss = white - 0.95 * noise_prev;
            noise_prev = white;
            out.push(x + noise_amp * 0.05 * fricative.step(hiss));
        }
    }
    out
}

// ---- node -----------------------------------------------------------------

struct SyntheticSource(SynthOptions);

impl Node for SyntheticSource {
    fn run(&mut self, ctx: &Context, _inputs: Inputs) -> emoflow_sdk::Result<Outputs> {
        let opts = self.0.clone();
        let recordings = opts.recordings();
        let mut series = Vec::new();
        for (i, (split, number, name)) in recordings.iter().enumerate() {
            ctx.check_cancelled()?;
            let tracks = synth_labels(&opts, *split, *number);
            series.extend(series_rows(name, *split, tracks, LABEL_PERIOD));
            ctx.progress(i as u64 + 1, recordings.len() as u64, name);
        }
        tracing::info!(
            recordings = recordings.len(),
            seconds = opts.seconds,
            seed = opts.seed,
            "synthetic corpus"
        );
        let audio = lazy_audio(recordings, move |(split, number, name)| {
            let audio = synth_audio(&opts, split, number);
            Ok(AudioRow {
                utt_id: name,
                split,
                sample_rate: audio.sample_rate,
                samples: audio.samples,
            })
        })?;
        Ok(Outputs::new()
            .with_stream("audio", audio)
            .with_batch("labels", series_batch(&series, LABEL_PERIOD)?))
    }
}

/// The `source.synthetic` node kind.
pub fn kind() -> KindSpec {
    KindSpec::new("source.synthetic", file!())
        .doc(
            "A deterministic speech-like corpus with arousal and valence labels, generated in memory: the \
             same recordings, audio and labels that `emoflow synth` writes in the AVEC 2016 layout.",
        )
        .output("audio", port::AUDIO, "one row per recording: mono samples in [-1, 1]")
        .output("labels", port::SERIES, "one row per recording and dimension, frame period 0.04 s")
        .export(crate::source_wav::reads_new_recordings())
        .create(|opts: SynthOptions| {
            opts.validate()?;
            Ok(SyntheticSource(opts))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short() -> SynthOptions {
        SynthOptions {
            seconds: 20.0,
            per_split: 1,
            ..SynthOptions::default()
        }
    }

    #[test]
    fn frame_times_are_written_like_the_release() {
        let got: Vec<String> = [0, 1, 2, 25, 26, 7500]
            .iter()
            .map(|&i| frame_time(i))
            .collect();
        assert_eq!(got, ["0", "0.04", "0.08", "1", "1.04", "300"]);
    }

    #[test]
    fn recordings_have_the_release_lengths() {
        let rec = synth_recording(&short(), Split::Dev, 1);
        assert_eq!(rec.name, "dev_1");
        assert_eq!(rec.samples.len(), 320_000);
        assert_eq!(rec.labels.len(), 2);
        assert!(rec.labels.iter().all(|(_, v)| v.len() == 501));
    }

    #[test]
    fn the_same_seed_gives_the_same_recording_and_another_seed_does_not() {
        let a = synth_recording(&short(), Split::Train, 1);
        assert_eq!(a, synth_recording(&short(), Split::Train, 1));
        let other_seed = SynthOptions { seed: 1, ..short() };
        assert_ne!(
            a.samples,
            synth_recording(&other_seed, Split::Train, 1).samples
        );
        assert_ne!(
            a.samples,
            synth_recording(&short(), Split::Train, 2).samples
        );
    }

    #[test]
    fn labels_stay_in_a_recola_like_range_and_vary() {
        let opts = SynthOptions {
            seconds: 120.0,
            ..short()
        };
        for (split, n) in [(Split::Train, 1), (Split::Dev, 1), (Split::Test, 1)] {
            let rec = synth_recording(&opts, split, n).to_recording();
            for track in &rec.labels {
                let v = &track.values;
                let mean = v.iter().sum::<f32>() / v.len() as f32;
                let sd =
                    (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / v.len() as f32).sqrt();
                let inside = v.iter().filter(|x| (-0.5..=0.8).contains(*x)).count();
                assert!(
                    inside as f32 / v.len() as f32 > 0.95,
                    "{} {}",
                    rec.name,
                    track.dim
                );
                assert!(
                    sd > 0.03,
                    "{} {} barely varies: sd {sd}",
                    rec.name,
                    track.dim
                );
            }
        }
    }

    #[test]
    fn audio_has_speech_and_pauses_without_clipping() {
        let rec = synth_recording(&short(), Split::Train, 1).to_recording();
        let s = &rec.audio.samples;
        let peak = s.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!((0.45..=0.6).contains(&peak), "peak {peak}");
        // Energy over 25 ms windows spans a large range: vowels at about
        // -25 dBFS and pauses at the background noise near -65 dBFS.
        let energies: Vec<f32> = s
            .chunks(400)
            .map(|w| w.iter().map(|x| x * x).sum::<f32>())
            .collect();
        let share = |keep: &dyn Fn(f32) -> bool| {
            energies.iter().filter(|&&e| keep(e)).count() as f32 / energies.len() as f32
        };
        let speech = share(&|e| e > 1e-2);
        let pauses = share(&|e| e < 1e-3);
        assert!(
            speech > 0.2 && pauses > 0.1,
            "speech {speech} pauses {pauses}"
        );
    }

    /// Correlation of `x[i]` with `y[i + shift]`.
    fn lagged_correlation(x: &[f64], y: &[f64], shift: usize) -> f64 {
        let n = x.len().min(y.len() - shift);
        let (x, y) = (&x[..n], &y[shift..shift + n]);
        let (mx, my) = (
            x.iter().sum::<f64>() / n as f64,
            y.iter().sum::<f64>() / n as f64,
        );
        let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
        let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
        let syy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
        sxy / (sxx * syy).sqrt()
    }

    #[test]
    fn arousal_labels_follow_loudness_after_the_annotator_lag_and_valence_does_not() {
        // Loudness and pause density follow arousal: the 2 s average of the
        // 40 ms frame energy (dB) correlates best with the arousal labels
        // about `annotator_lag` later. Valence has no loudness cue.
        let opts = SynthOptions {
            seconds: 240.0,
            annotator_lag: 3.0,
            ..short()
        };
        let smooth = |x: &[f64]| -> Vec<f64> {
            x.windows(50)
                .map(|w| w.iter().sum::<f64>() / 50.0)
                .collect()
        };
        let shifts = 0..150;
        let mut arousal_curve = vec![0.0; shifts.len()];
        let mut valence_curve = vec![0.0; shifts.len()];
        for n in 1..=3 {
            let rec = synth_recording(&opts, Split::Train, n).to_recording();
            let energy: Vec<f64> = rec
                .audio
                .samples
                .chunks(640)
                .map(|w| {
                    10.0 * (w.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() + 1e-9).log10()
                })
                .collect();
            let energy = smooth(&energy);
            for (curve, track) in [
                (&mut arousal_curve, &rec.labels[0]),
                (&mut valence_curve, &rec.labels[1]),
            ] {
                let labels = smooth(
                    &track
                        .values
                        .iter()
                        .map(|&x| f64::from(x))
                        .collect::<Vec<_>>(),
                );
                for (c, shift) in curve.iter_mut().zip(shifts.clone()) {
                    *c += lagged_correlation(&energy, &labels, shift) / 3.0;
                }
            }
        }
        let best = (0..arousal_curve.len())
            .max_by(|&a, &b| arousal_curve[a].total_cmp(&arousal_curve[b]))
            .unwrap();
        let best_seconds = best as f64 * 0.04;
        assert!(
            (2.4..=3.6).contains(&best_seconds),
            "best lag {best_seconds} s"
        );
        assert!(
            arousal_curve[best] > 0.4,
            "energy barely follows arousal: {}",
            arousal_curve[best]
        );
        assert!(
            arousal_curve[best] > arousal_curve[0] + 0.1,
            "the lag does not matter"
        );
        let valence_max = valence_curve.iter().cloned().fold(f64::MIN, f64::max);
        assert!(
            valence_max < 0.25,
            "valence follows loudness: {valence_max}"
        );
    }

    #[test]
    fn labels_and_audio_alone_equal_those_of_the_whole_recording() {
        let whole = synth_recording(&short(), Split::Dev, 1).to_recording();
        assert_eq!(synth_labels(&short(), Split::Dev, 1), whole.labels);
        assert_eq!(synth_audio(&short(), Split::Dev, 1), whole.audio);
    }

    #[test]
    fn test_labels_can_be_withheld() {
        let opts = SynthOptions {
            test_labels: false,
            ..short()
        };
        assert!(synth_recording(&opts, Split::Test, 1).labels.is_empty());
        assert_eq!(synth_recording(&opts, Split::Dev, 1).labels.len(), 2);
    }

    #[test]
    fn options_out_of_range_are_refused() {
        for bad in [
            SynthOptions {
                seconds: 0.5,
                ..short()
            },
            SynthOptions {
                per_split: 0,
                ..short()
            },
            SynthOptions {
                sample_rate: 4000,
                ..short()
            },
        ] {
            assert!(write_corpus(Path::new("/nonexistent"), &bad).is_err());
        }
    }
}
