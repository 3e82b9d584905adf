#!/usr/bin/env python3
"""Times the peers of feature.fbank on the benchmark input, in one process.

    cargo run --release --example fbank_bench_input -- /tmp/fbank_bench.wav
    .venv-ref/bin/python bench/fbank_peers.py /tmp/fbank_bench.wav [--runs 7]
    cargo bench --workspace --bench fbank             # our side, same input

(scripts/bench.sh runs all of this.)

Input: 300 s of 16 kHz speech-like audio (the synthetic corpus's train_1,
seed 0). Both peers get Kaldi's int16 scale, 40 Mel bins, 25/10 ms povey
frames, dither 0. Reported: the median wall time of --runs runs after one
warm-up run, for torchaudio.compliance.kaldi.fbank with 1 and 2 torch
threads and for kaldi-native-fbank (single-threaded; the time includes
collecting its frames into one array, as a user must).

--sweep also times both peers (one thread) on the first 30, 75, 150 and
300 s of the input (scaling_fbank in nodes/audio/benches/fbank.rs is our
side); --json PATH writes the medians for scripts/bench.sh.
"""

import argparse
import wave

import numpy as np
import torch
import torchaudio
import torchaudio.compliance.kaldi as kaldi
import kaldi_native_fbank as knf

from benchjson import Results, median_seconds

SWEEP_SECONDS = (30, 75, 150, 300)


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, "expects mono 16-bit"
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return rate, samples.astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wav")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sweep", action="store_true", help="also time prefixes of 30/75/150/300 s")
    parser.add_argument("--json", help="write the medians to this file")
    args = parser.parse_args()
    rate, samples = read_wav(args.wav)
    print(f"input: {len(samples) / rate:.1f} s at {rate} Hz; torch {torch.__version__}, "
          f"torchaudio {torchaudio.__version__}, kaldi-native-fbank {getattr(knf, '__version__', '?')}")

    results = Results("fbank_peers.py", {"torch": torch.__version__, "torchaudio": torchaudio.__version__,
                                         "kaldi-native-fbank": getattr(knf, "__version__", "?")})
    waveform = torch.from_numpy(samples).unsqueeze(0)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        seconds = median_seconds(
            lambda: kaldi.fbank(waveform, sample_frequency=float(rate), num_mel_bins=40, dither=0.0), args.runs)
        print(f"torchaudio.compliance.kaldi.fbank, {threads} thread(s): median {seconds * 1e3:.1f} ms")
        results.median(f"torchaudio_{threads}thread", seconds, args.runs)

    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = float(rate)
    opts.frame_opts.dither = 0.0
    opts.mel_opts.num_bins = 40

    def knf_run(as_list):
        fbank = knf.OnlineFbank(opts)
        fbank.accept_waveform(float(rate), as_list)
        fbank.input_finished()
        return np.array([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])

    as_list = samples.tolist()
    seconds = median_seconds(lambda: knf_run(as_list), args.runs)
    print(f"kaldi-native-fbank, 1 thread: median {seconds * 1e3:.1f} ms")
    results.median("kaldi_native_fbank_1thread", seconds, args.runs)

    if args.sweep:
        torch.set_num_threads(1)
        runs = max(3, args.runs // 2)
        for length in SWEEP_SECONDS:
            prefix = samples[: length * rate]
            wave_prefix = torch.from_numpy(prefix).unsqueeze(0)
            list_prefix = prefix.tolist()
            t_ta = median_seconds(
                lambda: kaldi.fbank(wave_prefix, sample_frequency=float(rate), num_mel_bins=40, dither=0.0), runs)
            t_knf = median_seconds(lambda: knf_run(list_prefix), runs)
            results.point("torchaudio_1thread", "seconds", length, t_ta)
            results.point("kaldi_native_fbank_1thread", "seconds", length, t_knf)
            print(f"sweep {length:4d} s: torchaudio {t_ta * 1e3:.1f} ms, kaldi-native-fbank {t_knf * 1e3:.1f} ms")
    results.write(args.json)


if __name__ == "__main__":
    main()
