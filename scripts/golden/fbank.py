#!/usr/bin/env python3
"""Golden data for feature.fbank: torchaudio.compliance.kaldi.fbank outputs.

Regenerate (only with the pinned versions of scripts/requirements-ref.txt):

    .venv-ref/bin/python scripts/golden/fbank.py

It writes into nodes/audio/tests/golden/:
  fbank_speech_{16000,44100,48000}.wav  2 s of a speech-like signal, 16-bit
  fbank_{case}.f32                      torchaudio's features, little-endian
                                        f32, frames x dim row-major
  fbank.json                            the cases: wav, options, shape, file

torchaudio runs on float64 input holding the int16 sample values (Kaldi's
scale), so the reference carries no float32 rounding of its own; the Rust
test (nodes/audio/tests/fbank_golden.rs) reads the WAV, runs our fbank and
compares. The script also prints how far torchaudio's own float32 run is
from the float64 one, as a yardstick for the tolerance.
"""

import json
import math
import pathlib
import wave

import numpy as np
import torch
import torchaudio
import torchaudio.compliance.kaldi as kaldi

OUT = pathlib.Path(__file__).resolve().parents[2] / "nodes" / "audio" / "tests" / "golden"
SECONDS = 2.0


def speech_like(rate: int, seed: int) -> np.ndarray:
    """Voiced syllables (pulse train through three formant resonators under a
    4 Hz envelope), noise-burst consonants, a pause and background noise;
    returned as int16."""
    rng = np.random.default_rng(seed)
    n = int(SECONDS * rate)
    t = np.arange(n) / rate
    f0 = 120.0 * 2.0 ** ((3.0 * np.sin(2 * np.pi * 0.7 * t) + 2.0 * np.sin(2 * np.pi * 3.1 * t)) / 12.0)
    phase = np.cumsum(f0 / rate)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    glottal = np.zeros(n)
    state = 0.0
    for i in range(n):  # two-pole glottal low-pass, then lip radiation below
        state = 0.94 * state + pulses[i]
        glottal[i] = state
    source = np.diff(glottal, prepend=0.0)
    formants = [(700.0, 90.0), (1200.0, 110.0), (2600.0, 160.0)]
    voiced = source
    for freq, bandwidth in formants:
        r = math.exp(-math.pi * bandwidth / rate)
        c1, c2 = 2 * r * math.cos(2 * math.pi * freq / rate), -r * r
        y = np.zeros(n)
        y1 = y2 = 0.0
        for i in range(n):
            y0 = (1 - c1 - c2) * voiced[i] + c1 * y1 + c2 * y2
            y[i] = y0
            y2, y1 = y1, y0
        voiced = y
    voiced /= np.max(np.abs(voiced))
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t), 0.0, None) ** 0.7
    envelope[(t > 1.2) & (t < 1.45)] = 0.0  # a pause
    bursts = (np.sin(2 * np.pi * 4.0 * t + 0.9) > 0.93).astype(float)
    hiss = np.diff(rng.standard_normal(n), prepend=0.0) * bursts * 0.05
    background = rng.standard_normal(n) * 3e-4
    signal = 0.5 * voiced * envelope + hiss + background
    return np.clip(np.round(signal * 32768.0), -32768, 32767).astype(np.int16)


def write_wav(path: pathlib.Path, rate: int, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())


# Every option of torchaudio that feature.fbank offers, at torchaudio's
# defaults except the paper's 40 bins.
BASE = dict(
    num_mel_bins=40,
    frame_length=25.0,
    frame_shift=10.0,
    dither=0.0,
    remove_dc_offset=True,
    preemphasis_coefficient=0.97,
    window_type="povey",
    blackman_coeff=0.42,
    round_to_power_of_two=True,
    snip_edges=True,
    low_freq=20.0,
    high_freq=0.0,
    use_power=True,
    use_log_fbank=True,
    use_energy=False,
    raw_energy=True,
    energy_floor=1.0,
)

CASES = (
    [(f"default_{rate}_snip", rate, {}) for rate in (16000, 44100, 48000)]
    + [(f"default_{rate}_centred", rate, {"snip_edges": False}) for rate in (16000, 44100, 48000)]
    + [
        ("hamming", 16000, {"window_type": "hamming"}),
        ("hanning", 16000, {"window_type": "hanning"}),
        ("rectangular", 16000, {"window_type": "rectangular"}),
        ("blackman", 16000, {"window_type": "blackman", "blackman_coeff": 0.4}),
        ("no_pow2", 16000, {"round_to_power_of_two": False}),
        ("magnitude", 16000, {"use_power": False}),
        ("linear", 16000, {"use_log_fbank": False}),
        ("energy_raw", 16000, {"use_energy": True}),
        ("energy_windowed", 16000, {"use_energy": True, "raw_energy": False, "energy_floor": 0.0}),
        ("band", 16000, {"low_freq": 100.0, "high_freq": -400.0, "num_mel_bins": 23}),
        ("plain", 44100, {"preemphasis_coefficient": 0.0, "remove_dc_offset": False, "snip_edges": False}),
        ("short_frames", 48000, {"frame_length": 20.0, "frame_shift": 5.0, "num_mel_bins": 80}),
    ]
)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    audio = {}
    for seed, rate in enumerate((16000, 44100, 48000)):
        samples = speech_like(rate, seed)
        name = f"fbank_speech_{rate}.wav"
        write_wav(OUT / name, rate, samples)
        audio[rate] = (name, samples)
    manifest = {
        "generator": "scripts/golden/fbank.py",
        "versions": {"torch": torch.__version__, "torchaudio": torchaudio.__version__, "numpy": np.__version__},
        "cases": [],
    }
    worst_f32 = 0.0
    for name, rate, overrides in CASES:
        options = {**BASE, **overrides}
        wav_name, samples = audio[rate]
        wave64 = torch.from_numpy(samples.astype(np.float64)).unsqueeze(0)
        feats = kaldi.fbank(wave64, sample_frequency=float(rate), **options).numpy()
        out_name = f"fbank_{name}.f32"
        feats.astype("<f4").tofile(OUT / out_name)
        if options["use_log_fbank"]:
            feats32 = kaldi.fbank(wave64.float(), sample_frequency=float(rate), **options).numpy()
            worst_f32 = max(worst_f32, float(np.max(np.abs(feats32 - feats))))
        manifest["cases"].append(
            {
                "name": name,
                "wav": wav_name,
                "sample_rate": rate,
                "options": options,
                "frames": int(feats.shape[0]),
                "dim": int(feats.shape[1]),
                "output": out_name,
            }
        )
    (OUT / "fbank.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(CASES)} cases written to {OUT}")
    print(f"torchaudio float32 vs float64, largest log-Mel difference: {worst_f32:.2e}")


if __name__ == "__main__":
    main()
