#!/usr/bin/env python3
"""Golden check: ARPA files written by emoflow's lm.ngram load in KenLM with
the same log-probabilities.

Regenerate / rerun (one command, from the repository root):

    .venv-ref/bin/python scripts/golden/arpa_kenlm.py

It writes a deterministic corpus of region-label sentences (5 classes) and
query sentences into nodes/decode/tests/golden/, runs the ignored Rust test
`write_models_for_kenlm` (nodes/decode/tests/arpa_golden.rs) to train
interpolated Witten-Bell models of orders 1-4 and score the queries, loads
each ARPA file with the kenlm module (pinned in scripts/requirements-ref.txt)
and compares full-sentence scores (bos and eos, log10). KenLM refuses
unigram models, so order 1 is scored by a plain reading of the ARPA file
instead. The scores of both sides go to wb_scores.csv, which the Rust test
nodes/decode/tests/arpa_golden.rs checks without Python.

--no-build skips cargo and uses the files already in the golden folder.
Cargo builds into $CARGO_TARGET_DIR when it is set.
Exit status 1 when any score differs by more than 1e-4 (KenLM keeps
probabilities as float32).
"""
import argparse
import csv
import math
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "nodes" / "decode" / "tests" / "golden"
CLASSES = 5
ORDERS = (1, 2, 3, 4)
TOLERANCE = 1e-4


def region_sentence(rng, length):
    """A sentence of region labels: a sticky walk that never repeats a label."""
    out = [rng.randrange(CLASSES)]
    while len(out) < length:
        step = rng.choice((-1, 1, 1, -2, 2)) if rng.random() < 0.8 else rng.randrange(1, CLASSES)
        out.append((out[-1] + step) % CLASSES)
    return out


def write_inputs():
    rng = random.Random(2017)
    corpus = [region_sentence(rng, rng.randint(1, 12)) for _ in range(60)]
    # Queries: more of the same, unseen patterns, repeats and the empty sentence.
    queries = [region_sentence(rng, rng.randint(1, 10)) for _ in range(30)]
    queries += [[rng.randrange(CLASSES) for _ in range(rng.randint(1, 8))] for _ in range(10)]
    queries += [[], [0], [4, 4, 4], [0, 1, 2, 3, 4, 3, 2, 1, 0]]
    GOLDEN.mkdir(parents=True, exist_ok=True)
    with open(GOLDEN / "lm_corpus.txt", "w") as f:
        f.write(f"# classes {CLASSES}\n")
        f.writelines(" ".join(map(str, s)) + "\n" for s in corpus)
    with open(GOLDEN / "lm_queries.txt", "w") as f:
        f.writelines(" ".join(map(str, s)) + "\n" for s in queries)
    return [" ".join(map(str, s)) for s in queries]


def unigram_score(path, sentence):
    """log10 p(<s> sentence </s>) under a unigram ARPA model."""
    probs = {}
    section = None
    for line in open(path):
        line = line.strip()
        if line.startswith("\\1-grams:"):
            section = 1
        elif line.startswith("\\"):
            section = None
        elif section == 1 and line:
            fields = line.split()
            probs[fields[1]] = float(fields[0])
    return sum(probs[w] for w in sentence.split() + ["</s>"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-build", action="store_true", help="reuse the files in the golden folder")
    args = parser.parse_args()
    if args.no_build:
        queries = [line.strip() for line in open(GOLDEN / "lm_queries.txt")]
    else:
        queries = write_inputs()
        subprocess.run(
            ["cargo", "test", "--quiet", "-p", "emoflow-decode", "--test", "arpa_golden", "--",
             "--ignored", "--exact", "write_models_for_kenlm"],
            cwd=ROOT,
            check=True,
        )
    import kenlm

    ours = {}
    with open(GOLDEN / "ours_scores.csv") as f:
        for row in csv.DictReader(f):
            ours[int(row["order"]), int(row["query"])] = float(row["log10"])
    rows = []
    worst = 0.0
    for order in ORDERS:
        path = GOLDEN / f"wb_order{order}.arpa"
        model = kenlm.Model(str(path)) if order >= 2 else None
        if model is not None and model.order != order:
            sys.exit(f"{path}: kenlm reads order {model.order}, expected {order}")
        for i, sentence in enumerate(queries):
            reference = model.score(sentence, bos=True, eos=True) if model else unigram_score(path, sentence)
            diff = abs(reference - ours[order, i])
            worst = max(worst, diff)
            rows.append((order, i, ours[order, i], reference))
            if not math.isfinite(diff) or diff > TOLERANCE:
                print(f"order {order} query {i} {sentence!r}: ours {ours[order, i]} kenlm {reference}")
    with open(GOLDEN / "wb_scores.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["order", "query", "ours_log10", "kenlm_log10"])
        writer.writerows(rows)
    (GOLDEN / "ours_scores.csv").unlink()
    print(f"{len(rows)} sentence scores over orders {ORDERS}: largest |ours - kenlm| = {worst:.3g}")
    sys.exit(0 if worst <= TOLERANCE else 1)


if __name__ == "__main__":
    main()
