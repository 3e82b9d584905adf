"""Golden data for the cluster family (nodes/cluster/tests/golden/).

Writes
  labels_200k.f32le  200,000 emotion-like labels, raw little-endian float32
  kmeans_sse.json    per k = 4..10: the within-class sum of squared errors of
                     scikit-learn KMeans(n_init=10) and of ckmeans (exact DP)
                     on those labels, read as float64

The labels imitate AVEC 2016 / RECOLA gold-standard traces: 25 recordings of
8,000 frames; each a smooth, mean-reverting random walk around a level drawn
from a four-component mixture, held flat for its first frames (raters start
idle), clipped to [-1, 1] and rounded to 6 decimals, as the release does.
Seeded: the same file comes out every time with the pinned NumPy.

Regenerate (versions pinned in scripts/requirements-ref.txt) from the
repository root:
    .venv-ref/bin/python scripts/golden/kmeans.py
"""

import json
import pathlib

import ckmeans
import numpy as np
import sklearn
from sklearn.cluster import KMeans

SEED = 20170820
RECORDINGS = 25
FRAMES = 8000
KS = range(4, 11)
OUT = pathlib.Path(__file__).resolve().parents[2] / "nodes/cluster/tests/golden"


def emotion_like_labels(rng: np.random.Generator) -> np.ndarray:
    levels = np.array([-0.35, -0.05, 0.15, 0.45])
    traces = []
    for _ in range(RECORDINGS):
        level = rng.choice(levels, p=[0.2, 0.35, 0.3, 0.15]) + rng.normal(0, 0.05)
        # Low-pass filtered noise drives a mean-reverting walk: smooth like
        # averaged rater traces, with excursions of a few tenths.
        drive = np.convolve(rng.normal(0, 0.004, FRAMES), np.ones(25) / 25, mode="same")
        x = np.empty(FRAMES)
        x[0] = level
        for t in range(1, FRAMES):
            x[t] = level + 0.998 * (x[t - 1] - level) + drive[t]
        x[: rng.integers(50, 400)] = x[0]
        traces.append(np.round(np.clip(x, -1.0, 1.0), 6))
    return np.concatenate(traces).astype("<f4")


def sse(clusters) -> float:
    return float(sum(((c - c.mean()) ** 2).sum() for c in clusters))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    labels = emotion_like_labels(np.random.default_rng(SEED))
    (OUT / "labels_200k.f32le").write_bytes(labels.tobytes())
    x = np.frombuffer((OUT / "labels_200k.f32le").read_bytes(), dtype="<f4").astype(np.float64)
    result = {
        "labels": "labels_200k.f32le",
        "count": int(x.size),
        "distinct": int(np.unique(x).size),
        "generator_seed": SEED,
        "sklearn": {"version": sklearn.__version__, "n_init": 10, "random_state": 0, "sse": {}},
        "ckmeans": {"version": "1.2.0", "sse": {}},
    }
    for k in KS:
        km = KMeans(n_clusters=k, n_init=10, random_state=0).fit(x.reshape(-1, 1))
        result["sklearn"]["sse"][str(k)] = sse([x[km.labels_ == c] for c in range(k)])
        result["ckmeans"]["sse"][str(k)] = sse(ckmeans.ckmeans(x, k))
        print(k, result["sklearn"]["sse"][str(k)], result["ckmeans"]["sse"][str(k)])
    (OUT / "kmeans_sse.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
