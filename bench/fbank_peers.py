#!/usr/bin/env python3
"""Times the peers of feature.fbank on the benchmark input, in one process.

    cargo run --release -p emoflow-audio --example fbank_bench_input -- /tmp/fbank_bench.wav
    .venv-ref/bin/python bench/fbank_peers.py /tmp/fbank_bench.wav [--runs 7]
    cargo bench -p emoflow-audio --bench fbank        # our side, same input

Input: 300 s of 16 kHz speech-like audio (the synthetic corpus's train_1,
seed 0). Both peers get Kaldi's int16 scale, 40 Mel bins, 25/10 ms povey
frames, dither 0. Reported: the median wall time of --runs runs after one
warm-up run, for torchaudio.compliance.kaldi.fbank with 1 and 2 torch
threads and for kaldi-native-fbank (single-threaded; the time includes
collecting its frames into one array, as a user must).
"""

import argparse
import statistics
import time
import wave

import numpy as np
import torch
import torchaudio
import torchaudio.compliance.kaldi as kaldi
import kaldi_native_fbank as knf


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, "expects mono 16-bit"
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return rate, samples.astype(np.float32)


def median_seconds(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wav")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    rate, samples = read_wav(args.wav)
    print(f"input: {len(samples) / rate:.1f} s at {rate} Hz; torch {torch.__version__}, "
          f"torchaudio {torchaudio.__version__}, kaldi-native-fbank {getattr(knf, '__version__', '?')}")

    waveform = torch.from_numpy(samples).unsqueeze(0)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        seconds = median_seconds(
            lambda: kaldi.fbank(waveform, sample_frequency=float(rate), num_mel_bins=40, dither=0.0), args.runs)
        print(f"torchaudio.compliance.kaldi.fbank, {threads} thread(s): median {seconds * 1e3:.1f} ms")

    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = float(rate)
    opts.frame_opts.dither = 0.0
    opts.mel_opts.num_bins = 40
    as_list = samples.tolist()

    def knf_run():
        fbank = knf.OnlineFbank(opts)
        fbank.accept_waveform(float(rate), as_list)
        fbank.input_finished()
        return np.array([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])

    seconds = median_seconds(knf_run, args.runs)
    print(f"kaldi-native-fbank, 1 thread: median {seconds * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
