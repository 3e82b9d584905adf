//! `feature.fbank`: Kaldi-compatible log Mel filterbank energies.
//!
//! The computation follows Kaldi's `compute-fbank-feats` as
//! `torchaudio.compliance.kaldi.fbank` implements it, option for option
//! (same names, same meaning): framing (`snip_edges` true keeps only whole
//! frames; false centres frame `i` at `i * shift + shift / 2` and mirrors the
//! signal at both ends), optional Gaussian dither, DC removal, log energy,
//! pre-emphasis, the window, zero padding to a power of two, the power (or
//! magnitude) spectrum, triangular Mel filters without the Nyquist bin, and
//! the log with a floor of `f32::EPSILON`. Arithmetic is in f64 up to the
//! Mel filter sums (the log itself in f32, exact to about 1e-6 here): in f32
//! the FFT's rounding, relative to the frame's total energy, moves the
//! weakest Mel bins of loud frames (80 dB down) by up to 5e-4, as
//! torchaudio's own float32 run shows. Samples in [-1, 1] are first
//! multiplied by `sample_scale` (32768: Kaldi's int16 scale).
//!
//! Differences from torchaudio: the node refuses a recording too short for
//! one frame (shorter than one window with `snip_edges`), naming it, where
//! torchaudio returns no frames; defaults are the paper's (40 bins) rather
//! than torchaudio's 23; dither noise comes from a seeded ChaCha8 stream per
//! frame (torchaudio draws from torch's global generator), so a seed gives
//! the same features whatever the thread count (the node mixes the utterance
//! id into the seed, see [`utterance_seed`]); `htk_compat`, `subtract_mean`
//! and VTLN are not offered. Agreement with torchaudio (dither 0) is within
//! 1e-4 on every log-Mel value; see `tests/fbank_golden.rs`.
//!
//! Speed: the window, the Mel filters (as sparse rows) and the FFT plan are
//! computed once per sample rate; frames are split into contiguous chunks
//! over a thread budget, each thread with its own buffers.

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use realfft::{RealFftPlanner, RealToComplex};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use emoflow_sdk::prelude::{
    AudioRow, Context, FeatureRow, Inputs, KindSpec, Node, Outputs, PortRows, port,
};

use crate::error::{Error, Result};
use crate::parallel::for_row_chunks;

/// Window function applied to each frame (Kaldi's `--window-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WindowType {
    /// Hann window raised to the power 0.85 (Kaldi's default).
    Povey,
    Hamming,
    Hanning,
    Rectangular,
    Blackman,
}

/// Options of the filterbank, named as in Kaldi and torchaudio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FbankOptions {
    /// Number of triangular Mel filters (the paper: 40; torchaudio's default: 23).
    #[schemars(range(min = 4, max = 1024))]
    pub num_mel_bins: usize,
    /// Frame length in milliseconds.
    #[schemars(range(min = 0.1, max = 1000.0))]
    pub frame_length: f64,
    /// Frame shift in milliseconds.
    #[schemars(range(min = 0.1, max = 1000.0))]
    pub frame_shift: f64,
    /// Standard deviation of Gaussian noise added to each frame (int16 scale); 0 for none.
    #[schemars(range(min = 0.0))]
    pub dither: f64,
    /// Seed of the dither noise.
    pub dither_seed: u64,
    /// Subtract each frame's mean before anything else.
    pub remove_dc_offset: bool,
    /// Pre-emphasis coefficient: x[i] -= c * x[i-1].
    #[schemars(range(min = 0.0, max = 1.0))]
    pub preemphasis_coefficient: f64,
    /// Window function.
    pub window_type: WindowType,
    /// Constant of the Blackman window.
    pub blackman_coeff: f64,
    /// Zero-pad each frame to the next power of two before the FFT.
    pub round_to_power_of_two: bool,
    /// Keep only frames that fit entirely in the signal; false: centre frames on multiples of the shift and mirror the edges.
    pub snip_edges: bool,
    /// Lower edge of the lowest Mel filter in Hz.
    #[schemars(range(min = 0.0))]
    pub low_freq: f64,
    /// Upper edge of the highest Mel filter in Hz; 0 or negative: offset from the Nyquist frequency.
    pub high_freq: f64,
    /// Filter the power spectrum (true) or the magnitude spectrum (false).
    pub use_power: bool,
    /// Take the log of the filter outputs.
    pub use_log_fbank: bool,
    /// Prepend the log energy of each frame as an extra first column.
    pub use_energy: bool,
    /// Log energy before pre-emphasis and windowing (true) or after (false).
    pub raw_energy: bool,
    /// Floor of the energy (not the log); 0 for none.
    #[schemars(range(min = 0.0))]
    pub energy_floor: f64,
    /// Factor applied to samples in [-1, 1] first: 32768 gives Kaldi's int16 scale.
    #[schemars(range(min = 0.0))]
    pub sample_scale: f64,
}

impl Default for FbankOptions {
    fn default() -> Self {
        FbankOptions {
            num_mel_bins: 40,
            frame_length: 25.0,
            frame_shift: 10.0,
            dither: 0.0,
            dither_seed: 0,
            remove_dc_offset: true,
            preemphasis_coefficient: 0.97,
            window_type: WindowType::Povey,
            blackman_coeff: 0.42,
            round_to_power_of_two: true,
            snip_edges: true,
            low_freq: 20.0,
            high_freq: 0.0,
            use_power: true,
            use_log_fbank: true,
            use_energy: false,
            raw_energy: true,
            energy_floor: 1.0,
            sample_scale: 32768.0,
        }
    }
}

impl FbankOptions {
    /// Checks what does not depend on the sample rate ([`Fbank::new`]
    /// checks the rest).
    pub fn validate(&self) -> Result<()> {
        let problem = if !(0.0..=1.0).contains(&self.preemphasis_coefficient) {
            format!(
                "preemphasis_coefficient {} is not in [0, 1]",
                self.preemphasis_coefficient
            )
        } else if self.num_mel_bins <= 3 {
            format!("num_mel_bins {} must be at least 4", self.num_mel_bins)
        } else if !(self.frame_length > 0.0
            && self.frame_shift > 0.0
            && self.frame_length.is_finite()
            && self.frame_shift.is_finite())
        {
            format!(
                "frame_length {} ms and frame_shift {} ms must be positive",
                self.frame_length, self.frame_shift
            )
        } else if !(self.dither >= 0.0 && self.energy_floor >= 0.0 && self.low_freq >= 0.0) {
            "dither, energy_floor and low_freq must be >= 0".to_string()
        } else if !(self.sample_scale > 0.0 && self.sample_scale.is_finite()) {
            format!("sample_scale {} must be positive", self.sample_scale)
        } else {
            return Ok(());
        };
        Err(Error::Invalid(format!("feature.fbank: {problem}")))
    }
}

/// One Mel filter: its weights over FFT bins `start..start + weights.len()`.
#[derive(Debug, Clone, PartialEq)]
struct MelBand {
    start: usize,
    weights: Vec<f64>,
}

/// A filterbank computer for one sample rate; reuse it across utterances.
pub struct Fbank {
    opts: FbankOptions,
    sample_rate: u32,
    window_size: usize,
    window_shift: usize,
    padded_size: usize,
    window: Vec<f64>,
    bands: Vec<MelBand>,
    fft: Arc<dyn RealToComplex<f64>>,
}

/// Floor of the filter outputs and the energy before the log: torchaudio's
/// `finfo(float32).eps`.
const EPSILON: f64 = f32::EPSILON as f64;

/// Below this many frames per thread, threads cost more than they save.
const MIN_FRAMES_PER_THREAD: usize = 256;

impl Fbank {
    pub fn new(opts: &FbankOptions, sample_rate: u32) -> Result<Fbank> {
        opts.validate()?;
        let invalid = |m: String| Error::Invalid(format!("feature.fbank at {sample_rate} Hz: {m}"));
        let rate = f64::from(sample_rate);
        // Same expression and truncation as torchaudio, so 44.1 kHz gives
        // 1102 samples per 25 ms and 441 per 10 ms.
        let window_shift = (rate * opts.frame_shift * 0.001) as usize;
        let window_size = (rate * opts.frame_length * 0.001) as usize;
        if window_size < 2 || window_shift < 1 {
            return Err(invalid(format!(
                "frame_length {} ms and frame_shift {} ms give {window_size} and {window_shift} samples",
                opts.frame_length, opts.frame_shift
            )));
        }
        let padded_size = if opts.round_to_power_of_two {
            window_size.next_power_of_two()
        } else {
            window_size
        };
        if padded_size % 2 != 0 {
            return Err(invalid(format!(
                "the window has an odd length ({padded_size} samples); set round_to_power_of_two"
            )));
        }
        let bands = mel_bands(opts, rate, padded_size).map_err(invalid)?;
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(padded_size);
        Ok(Fbank {
            opts: opts.clone(),
            sample_rate,
            window_size,
            window_shift,
            padded_size,
            window: window(opts.window_type, window_size, opts.blackman_coeff),
            bands,
            fft,
        })
    }

    /// Values per frame: the Mel bins, plus one for the energy.
    pub fn dim(&self) -> usize {
        self.opts.num_mel_bins + usize::from(self.opts.use_energy)
    }

    /// Seconds between frames.
    pub fn frame_period(&self) -> f64 {
        self.window_shift as f64 / f64::from(self.sample_rate)
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Number of frames of a signal of `samples` samples.
    pub fn num_frames(&self, samples: usize) -> usize {
        if self.opts.snip_edges {
            if samples < self.window_size {
                0
            } else {
                1 + (samples - self.window_size) / self.window_shift
            }
        } else {
            (samples + self.window_shift / 2) / self.window_shift
        }
    }

    /// The fewest samples that give one frame: a whole window with
    /// `snip_edges`, else half a shift (rounded up).
    pub fn min_samples(&self) -> usize {
        if self.opts.snip_edges {
            self.window_size
        } else {
            self.window_shift - self.window_shift / 2
        }
    }

    /// Features of `samples` (in [-1, 1]), frames x [`dim`](Self::dim)
    /// row-major, using up to `threads` threads.
    pub fn compute(&self, samples: &[f32], threads: usize) -> Vec<f32> {
        self.compute_seeded(samples, threads, self.opts.dither_seed)
    }

    /// As [`compute`](Self::compute) with another dither seed (a node
    /// derives one per utterance).
    pub fn compute_seeded(&self, samples: &[f32], threads: usize, dither_seed: u64) -> Vec<f32> {
        let frames = self.num_frames(samples.len());
        let dim = self.dim();
        let mut out = vec![0.0f32; frames * dim];
        for_row_chunks(
            &mut out,
            dim,
            threads,
            MIN_FRAMES_PER_THREAD,
            |first, chunk| self.compute_frames(samples, first, chunk, dither_seed),
        );
        out
    }

    /// Computes consecutive frames from `first_frame` into `out`.
    fn compute_frames(
        &self,
        samples: &[f32],
        first_frame: usize,
        out: &mut [f32],
        dither_seed: u64,
    ) {
        let o = &self.opts;
        let scale = o.sample_scale;
        let preemph = o.preemphasis_coefficient;
        let log_floor = (o.energy_floor > 0.0).then(|| o.energy_floor.ln());
        let mut raw = vec![0.0f64; self.window_size];
        let mut frame = vec![0.0f64; self.padded_size];
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0f64; spectrum.len()];
        let ws = self.window_size;
        let pad = (ws / 2) as isize - (self.window_shift / 2) as isize;
        let n = samples.len();
        for (offset, row) in out.chunks_exact_mut(self.dim()).enumerate() {
            let index = first_frame + offset;
            let start = if o.snip_edges {
                (index * self.window_shift) as isize
            } else {
                (index * self.window_shift) as isize - pad
            };
            if start >= 0 && start as usize + ws <= n {
                let s = &samples[start as usize..start as usize + ws];
                for (x, &si) in raw.iter_mut().zip(s) {
                    *x = f64::from(si) * scale;
                }
            } else {
                for (j, x) in raw.iter_mut().enumerate() {
                    *x = f64::from(samples[reflect(start + j as isize, n)]) * scale;
                }
            }
            if o.dither > 0.0 {
                add_dither(&mut raw, o.dither, dither_seed, index as u64);
            }
            let mean = if o.remove_dc_offset {
                sum(&raw) / ws as f64
            } else {
                0.0
            };
            let raw_energy = (o.use_energy && o.raw_energy)
                .then(|| raw.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>());
            // DC removal, pre-emphasis (x[-1] = x[0]) and the window in one
            // pass: (x[j] - m) - c (x[j-1] - m) = x[j] - c x[j-1] - m (1 - c).
            let (head, tail) = frame.split_at_mut(ws);
            let dc = mean * (1.0 - preemph);
            head[0] = (raw[0] * (1.0 - preemph) - dc) * self.window[0];
            for (((y, x), previous), w) in head[1..]
                .iter_mut()
                .zip(&raw[1..])
                .zip(&raw[..ws - 1])
                .zip(&self.window[1..])
            {
                *y = (x - preemph * previous - dc) * w;
            }
            // The FFT uses its input as scratch: restore the zero padding.
            tail.fill(0.0);
            let log_energy = raw_energy.or_else(|| o.use_energy.then(|| energy(&frame[..ws])));
            self.fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .expect("buffers made by the plan have the plan's lengths");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                let sq = c.re * c.re + c.im * c.im;
                *p = if o.use_power { sq } else { sq.sqrt() };
            }
            let (energy_col, mel) = row.split_at_mut(usize::from(o.use_energy));
            if let Some(e) = log_energy {
                let log = e.max(EPSILON).ln();
                energy_col[0] = log_floor.map_or(log, |floor| log.max(floor)) as f32;
            }
            for (value, band) in mel.iter_mut().zip(&self.bands) {
                let bins = &power[band.start..band.start + band.weights.len()];
                // Summed in f64; the log in f32 is exact to 1e-6 here and
                // twice as fast.
                let e = dot(bins, &band.weights) as f32;
                *value = if o.use_log_fbank {
                    e.max(f32::EPSILON).ln()
                } else {
                    e
                };
            }
        }
    }
}

/// Index of sample `i` of a signal of length `n` mirrored at both ends
/// (`x[-1] = x[0]`, `x[n] = x[n-1]`), as Kaldi extends edge frames.
fn reflect(mut i: isize, n: usize) -> usize {
    let n = n as isize;
    loop {
        if i < 0 {
            i = -i - 1;
        } else if i >= n {
            i = 2 * n - 1 - i;
        } else {
            return i as usize;
        }
    }
}

fn energy(x: &[f64]) -> f64 {
    dot(x, x)
}

/// Sum with four accumulators: lets the compiler vectorise a loop that a
/// single running sum serialises.
fn sum(x: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = x.chunks_exact(4);
    let rest: f64 = chunks.remainder().iter().sum();
    for c in chunks {
        for k in 0..4 {
            acc[k] += c[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + rest
}

/// Dot product with four accumulators (see [`sum`]).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let rest: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + rest
}

/// Adds Gaussian noise from a stream keyed by the frame index, so frames
/// get the same noise whichever thread computes them.
fn add_dither(x: &mut [f64], dither: f64, seed: u64, frame: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(frame);
    for pair in x.chunks_mut(2) {
        // Box-Muller; 1 - u keeps the log's argument in (0, 1].
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt() * dither;
        let (sin, cos) = (2.0 * std::f64::consts::PI * u2).sin_cos();
        pair[0] += r * cos;
        if let Some(second) = pair.get_mut(1) {
            *second += r * sin;
        }
    }
}

fn window(kind: WindowType, size: usize, blackman_coeff: f64) -> Vec<f64> {
    let a = 2.0 * std::f64::consts::PI / (size - 1) as f64;
    (0..size)
        .map(|i| {
            let i = i as f64;
            let hann = 0.5 - 0.5 * (a * i).cos();
            match kind {
                WindowType::Povey => hann.powf(0.85),
                WindowType::Hanning => hann,
                WindowType::Hamming => 0.54 - 0.46 * (a * i).cos(),
                WindowType::Rectangular => 1.0,
                WindowType::Blackman => {
                    blackman_coeff - 0.5 * (a * i).cos()
                        + (0.5 - blackman_coeff) * (2.0 * a * i).cos()
                }
            }
        })
        .collect()
}

fn mel(freq: f64) -> f64 {
    1127.0 * (1.0 + freq / 700.0).ln()
}

/// The triangular filters, equally spaced on the Mel scale between
/// `low_freq` and `high_freq`, over FFT bins 0..padded/2 (no Nyquist bin).
fn mel_bands(
    opts: &FbankOptions,
    rate: f64,
    padded: usize,
) -> std::result::Result<Vec<MelBand>, String> {
    let nyquist = 0.5 * rate;
    let low = opts.low_freq;
    let high = if opts.high_freq <= 0.0 {
        opts.high_freq + nyquist
    } else {
        opts.high_freq
    };
    if !((0.0..nyquist).contains(&low) && high > 0.0 && high <= nyquist && low < high) {
        return Err(format!(
            "low_freq {low} and high_freq {high} (from {}) must satisfy 0 <= low < high <= {nyquist}",
            opts.high_freq
        ));
    }
    let bin_width = rate / padded as f64;
    let (mel_low, mel_high) = (mel(low), mel(high));
    let delta = (mel_high - mel_low) / (opts.num_mel_bins + 1) as f64;
    let bin_mels: Vec<f64> = (0..padded / 2).map(|k| mel(bin_width * k as f64)).collect();
    (0..opts.num_mel_bins)
        .map(|b| {
            let left = mel_low + b as f64 * delta;
            let center = left + delta;
            let right = center + delta;
            let weights: Vec<(usize, f64)> = bin_mels
                .iter()
                .enumerate()
                .filter_map(|(k, &m)| {
                    let w = ((m - left) / (center - left)).min((right - m) / (right - center));
                    (w > 0.0).then_some((k, w))
                })
                .collect();
            match (weights.first(), weights.last()) {
                (Some(&(start, _)), Some(&(end, _))) => {
                    let mut dense = vec![0.0f64; end + 1 - start];
                    for (k, w) in weights {
                        dense[k - start] = w;
                    }
                    Ok(MelBand {
                        start,
                        weights: dense,
                    })
                }
                _ => Err(format!(
                    "Mel filter {b} covers no FFT bin: use fewer num_mel_bins or a longer frame"
                )),
            }
        })
        .collect()
}

// ---- node -----------------------------------------------------------------

/// The dither seed of one utterance: the option's seed mixed with the
/// utterance id (FNV-1a), so utterances get different noise and a rerun the
/// same.
pub fn utterance_seed(seed: u64, utt_id: &str) -> u64 {
    utt_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) ^ seed
}

struct FbankNode(FbankOptions);

impl Node for FbankNode {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> emoflow_sdk::Result<Outputs> {
        let opts = &self.0;
        let mut banks: Vec<Fbank> = Vec::new();
        let mut period: Option<(f64, String)> = None;
        let mut batches = Vec::new();
        let mut done = 0u64;
        for batch in inputs.stream("audio")? {
            let rows = AudioRow::read(&batch.map_err(emoflow_sdk::Error::from)?)?;
            let mut features = Vec::with_capacity(rows.len());
            for row in rows {
                ctx.check_cancelled()?;
                let at = match banks
                    .iter()
                    .position(|b| b.sample_rate() == row.sample_rate)
                {
                    Some(at) => at,
                    None => {
                        banks.push(Fbank::new(opts, row.sample_rate).map_err(|e| {
                            emoflow_sdk::Error::from(e).context(format!("utterance {}", row.utt_id))
                        })?);
                        banks.len() - 1
                    }
                };
                let fbank = &banks[at];
                // One stream has one frame period: 10 ms must be a whole
                // number of samples at every rate (22.05 kHz is not).
                match &period {
                    None => period = Some((fbank.frame_period(), row.utt_id.clone())),
                    Some((p, first)) if (p - fbank.frame_period()).abs() > 1e-9 => {
                        return Err(emoflow_sdk::Error::data(format!(
                            "utterance {}: at {} Hz the frame shift is {} s, but {first} had {p} s; \
                             resample to one rate first (feature.resample)",
                            row.utt_id,
                            row.sample_rate,
                            fbank.frame_period()
                        )));
                    }
                    Some(_) => {}
                }
                // Kaldi and torchaudio return an empty matrix here; an empty
                // row would only fail later, far from its cause.
                if fbank.num_frames(row.samples.len()) == 0 {
                    return Err(too_short(fbank, &row));
                }
                let seed = utterance_seed(opts.dither_seed, &row.utt_id);
                let frames = fbank.compute_seeded(&row.samples, ctx.threads(), seed);
                done += 1;
                ctx.progress(done, 0, &row.utt_id);
                features.push(FeatureRow {
                    utt_id: row.utt_id,
                    split: row.split,
                    dims: fbank.dim(),
                    frame_period: fbank.frame_period(),
                    frames,
                });
            }
            if !features.is_empty() {
                batches.push(FeatureRow::write(&features)?);
            }
        }
        tracing::info!(utterances = done, "filterbank features");
        let dim = opts.num_mel_bins + usize::from(opts.use_energy);
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => FeatureRow::schema(dim, opts.frame_shift / 1000.0),
        };
        Ok(Outputs::new().with_batches("features", schema, batches))
    }
}

/// The error for a recording too short to give one frame.
fn too_short(fbank: &Fbank, row: &AudioRow) -> emoflow_sdk::Error {
    let opts = &fbank.opts;
    let rate = f64::from(row.sample_rate);
    let min = fbank.min_samples();
    let why = if opts.snip_edges {
        format!("one {} ms window", opts.frame_length)
    } else {
        format!(
            "half a {} ms frame shift, snip_edges false",
            opts.frame_shift
        )
    };
    emoflow_sdk::Error::data(format!(
        "utterance {}: {:.4} s of audio ({} samples at {} Hz) gives no frame; \
         feature.fbank needs at least {:.4} s ({min} samples: {why})",
        row.utt_id,
        row.samples.len() as f64 / rate,
        row.samples.len(),
        row.sample_rate,
        min as f64 / rate,
    ))
}

/// The `feature.fbank` node kind.
pub fn kind() -> KindSpec {
    KindSpec::new("feature.fbank", file!())
        .doc(
            "Kaldi-compatible log Mel filterbank (as torchaudio.compliance.kaldi.fbank, same option names); \
             samples are scaled to Kaldi's int16 range first. Uses the node's thread budget.",
        )
        .input("audio", port::AUDIO, "recordings; all must give the same frame period (one sample rate, or rates where the shift is whole) and at least one frame")
        .output("features", port::FEATURES, "one row per recording: num_mel_bins (+1 with use_energy) values per frame, frame period frame_shift")
        .create(|opts: FbankOptions| {
            // What does not depend on the sample rate is refused at once.
            opts.validate()?;
            Ok(FbankNode(opts))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fbank(opts: FbankOptions, rate: u32) -> Fbank {
        Fbank::new(&opts, rate).unwrap()
    }

    #[test]
    fn frame_counts_follow_kaldi() {
        let snip = fbank(FbankOptions::default(), 16000);
        assert_eq!(snip.num_frames(4_800_000), 29998);
        assert_eq!(snip.num_frames(399), 0);
        assert_eq!(snip.num_frames(400), 1);
        assert_eq!(snip.num_frames(559), 1);
        assert_eq!(snip.num_frames(560), 2);
        let centred = fbank(
            FbankOptions {
                snip_edges: false,
                ..FbankOptions::default()
            },
            16000,
        );
        assert_eq!(centred.num_frames(4_800_000), 30000);
        assert_eq!(centred.num_frames(79), 0);
        assert_eq!(centred.num_frames(80), 1);
        assert_eq!((snip.min_samples(), centred.min_samples()), (400, 80));
    }

    #[test]
    fn window_sizes_truncate_like_torchaudio() {
        let f = fbank(FbankOptions::default(), 44100);
        assert_eq!(
            (f.window_size, f.window_shift, f.padded_size),
            (1102, 441, 2048)
        );
        assert_eq!(f.frame_period(), 0.01);
        let f = fbank(
            FbankOptions {
                round_to_power_of_two: false,
                ..FbankOptions::default()
            },
            16000,
        );
        assert_eq!(f.padded_size, 400);
    }

    #[test]
    fn reflection_mirrors_including_the_edge_sample() {
        let got: Vec<usize> = (-3..8).map(|i| reflect(i, 5)).collect();
        assert_eq!(got, [2, 1, 0, 0, 1, 2, 3, 4, 4, 3, 2]);
    }

    #[test]
    fn mel_filters_are_triangles_that_peak_at_one_and_tile_the_band() {
        let f = fbank(FbankOptions::default(), 16000);
        assert_eq!(f.bands.len(), 40);
        for pair in f.bands.windows(2) {
            assert!(pair[1].start > pair[0].start);
        }
        for band in &f.bands {
            let peak = band.weights.iter().cloned().fold(0.0, f64::max);
            assert!(peak > 0.5 && peak <= 1.0, "{peak}");
        }
        // Between the centres of the first and last filters, overlapping
        // triangles sum to one.
        let mut total = vec![0.0f64; 257];
        for band in &f.bands {
            for (k, w) in band.weights.iter().enumerate() {
                total[band.start + k] += w;
            }
        }
        let inner = f.bands[1].start..f.bands[38].start;
        for k in inner {
            assert!((total[k] - 1.0).abs() < 1e-9, "bin {k}: {}", total[k]);
        }
    }

    #[test]
    fn a_tone_lights_the_filter_around_its_frequency() {
        let f = fbank(FbankOptions::default(), 16000);
        let tone: Vec<f32> = (0..16000)
            .map(|i| 0.3 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16000.0).sin())
            .collect();
        let feats = f.compute(&tone, 1);
        let row = &feats[50 * 40..51 * 40];
        let best = (0..40).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        // Filter centres are equally spaced in Mel between 20 Hz and 8 kHz.
        let (lo, hi) = (mel(20.0), mel(8000.0));
        let centre = |b: usize| lo + (b + 1) as f64 * (hi - lo) / 41.0;
        let target = mel(1000.0);
        let nearest = (0..40)
            .min_by(|&a, &b| {
                (centre(a) - target)
                    .abs()
                    .total_cmp(&(centre(b) - target).abs())
            })
            .unwrap();
        assert_eq!(best, nearest);
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count_even_with_dither() {
        let opts = FbankOptions {
            dither: 1.0,
            use_energy: true,
            ..FbankOptions::default()
        };
        let f = fbank(opts, 16000);
        let signal: Vec<f32> = (0..40000)
            .map(|i| ((i * 7919) % 1000) as f32 / 5000.0 - 0.1)
            .collect();
        let one = f.compute(&signal, 1);
        assert_eq!(one.len(), f.num_frames(40000) * 41);
        assert_eq!(one, f.compute(&signal, 2));
        assert_eq!(one, f.compute(&signal, 7));
        assert_ne!(
            one,
            f.compute_seeded(&signal, 1, 99),
            "the seed must change the dither"
        );
    }

    #[test]
    fn dither_keeps_silence_finite_and_varied() {
        let f = fbank(
            FbankOptions {
                dither: 1.0,
                ..FbankOptions::default()
            },
            16000,
        );
        let feats = f.compute(&vec![0.0; 8000], 1);
        assert!(
            feats
                .iter()
                .all(|v| v.is_finite() && *v > f32::EPSILON.ln())
        );
        let silent = fbank(FbankOptions::default(), 16000).compute(&vec![0.0; 8000], 1);
        assert!(silent.iter().all(|&v| v == f32::EPSILON.ln()));
    }

    #[test]
    fn impossible_options_are_refused_with_a_reason() {
        let cases = [
            (
                FbankOptions {
                    num_mel_bins: 3,
                    ..FbankOptions::default()
                },
                "num_mel_bins",
            ),
            (
                FbankOptions {
                    high_freq: 9000.0,
                    ..FbankOptions::default()
                },
                "high_freq",
            ),
            (
                FbankOptions {
                    low_freq: 8000.0,
                    ..FbankOptions::default()
                },
                "low_freq",
            ),
            (
                FbankOptions {
                    frame_length: 0.05,
                    ..FbankOptions::default()
                },
                "frame_length",
            ),
            (
                FbankOptions {
                    preemphasis_coefficient: 1.5,
                    ..FbankOptions::default()
                },
                "preemphasis",
            ),
            (
                FbankOptions {
                    num_mel_bins: 200,
                    ..FbankOptions::default()
                },
                "covers no FFT bin",
            ),
        ];
        for (opts, word) in cases {
            let msg = Fbank::new(&opts, 16000).err().unwrap().to_string();
            assert!(msg.contains(word), "{msg}");
        }
        let odd = FbankOptions {
            round_to_power_of_two: false,
            ..FbankOptions::default()
        };
        let msg = Fbank::new(&odd, 22050).err().unwrap().to_string();
        assert!(msg.contains("odd length"), "{msg}");
    }
}
