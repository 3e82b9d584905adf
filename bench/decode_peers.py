#!/usr/bin/env python3
"""Peer timing for emotion decoding: a NumPy Viterbi, vectorised over states,
on the shape of nodes/decode/benches/decode.rs `exact_trigram_k10_t7501`:
K = 10 classes, T = 7501 frames (one RECOLA recording), trigram LM, i.e. the
K (K-1) + K = 100 expanded states (current class + previous region label or
<s>). It is the usual dense formulation: per frame
delta = max over predecessors (delta_prev[:, None] + log_transition) + emission,
with back-pointers; the move scores (log transition + alpha * LM) are random,
which does not change the work.

Run (after `cargo bench --workspace --bench decode`, to print the
ratio to criterion's median too):

    .venv-ref/bin/python bench/decode_peers.py [--repeats 20] [--sweep] [--json PATH]

Prints the median seconds of one decode; if criterion's estimate for our
decoder is found under $CARGO_TARGET_DIR (or target/), the ratio as well.
--sweep also times T = 1875, 3750, 7501 and 15002 frames
(scaling_decode in nodes/decode/benches/decode.rs is our side); --json PATH
writes the medians for scripts/bench.sh.
"""
import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from benchjson import Results

K = 10
FRAMES = 7501
BOS = K


def expanded_trigram(rng):
    """Log move scores between the (history, class) states of a trigram."""
    states = [(h, c) for h in [BOS, *range(K)] for c in range(K) if h != c]
    index = {s: i for i, s in enumerate(states)}
    log_a = np.log(rng.dirichlet(np.ones(K), size=K))
    lm = np.log(rng.dirichlet(np.ones(K), size=(K + 1, K)))  # [history, class, next]
    alpha = 8.0
    moves = np.full((len(states), len(states)), -np.inf)
    for (h, c), i in index.items():
        moves[i, i] = log_a[c, c]
        for nxt in range(K):
            if nxt != c:
                moves[i, index[(c, nxt)]] = log_a[c, nxt] + alpha * lm[h, c, nxt]
    start = np.full(len(states), -np.inf)
    for c in range(K):
        start[index[(BOS, c)]] = alpha * lm[BOS, 0, c]
    classes = np.array([c for _, c in states])
    return moves, start, classes


def viterbi(emissions, moves, start, classes):
    """Best class sequence: states vectorised, frames in a Python loop."""
    frames = emissions.shape[0]
    state_emissions = emissions[:, classes]
    back = np.empty((frames, moves.shape[0]), dtype=np.int32)
    delta = start + state_emissions[0]
    for f in range(1, frames):
        scores = delta[:, None] + moves
        back[f] = np.argmax(scores, axis=0)
        delta = scores[back[f], np.arange(moves.shape[0])] + state_emissions[f]
    state = int(np.argmax(delta))
    path = np.empty(frames, dtype=np.int32)
    for f in range(frames - 1, 0, -1):
        path[f] = classes[state]
        state = back[f, state]
    path[0] = classes[state]
    return path


def criterion_median():
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path(__file__).resolve().parents[1] / "target"))
    estimates = target / "criterion" / "exact_trigram_k10_t7501" / "new" / "estimates.json"
    if not estimates.exists():
        return None
    return json.loads(estimates.read_text())["median"]["point_estimate"] * 1e-9


def main():
    parser = argparse.ArgumentParser(description="NumPy Viterbi peer timing")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--sweep", action="store_true", help="also time T = 1875/3750/7501/15002 frames")
    parser.add_argument("--json", help="write the medians to this file")
    args = parser.parse_args()
    rng = np.random.default_rng(7501)
    moves, start, classes = expanded_trigram(rng)

    def median_decode(frames, repeats):
        posteriors = rng.uniform(0.01, 1.0, size=(frames, K))
        emissions = np.log(posteriors / posteriors.sum(axis=1, keepdims=True))
        viterbi(emissions, moves, start, classes)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            viterbi(emissions, moves, start, classes)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    results = Results("decode_peers.py", {"numpy": np.__version__})
    median = median_decode(FRAMES, args.repeats)
    results.median("numpy_viterbi", median, args.repeats)
    print(f"numpy viterbi, {moves.shape[0]} states x {FRAMES} frames: median {median * 1e3:.2f} ms "
          f"over {args.repeats} runs (numpy {np.__version__})")
    ours = criterion_median()
    if ours is not None:
        print(f"emoflow exact_trigram_k10_t7501 (criterion median): {ours * 1e3:.2f} ms; "
              f"numpy / emoflow = {median / ours:.1f}x")
    if args.sweep:
        for frames in (1875, 3750, 7501, 15002):
            t = median_decode(frames, max(3, args.repeats // 4))
            results.point("numpy_viterbi", "frames", frames, t)
            print(f"sweep T = {frames:5d}: numpy viterbi {t * 1e3:.1f} ms")
    results.write(args.json)


if __name__ == "__main__":
    main()
