"""Golden data for metric.ccc and metric.rmse (nodes/metric/tests/golden/).

Writes ccc.json: random prediction/label series (float32 values, stored as
the exact float64 of each float32) for two splits x two dims x a few
utterances of different lengths, and NumPy's float64 results per (split, dim)
for every convention the nodes offer:
  ccc                    concatenated, variances and covariance over N
  ccc_avec2016           concatenated, variances over N-1, covariance over N
  ccc_utt_mean           mean of per-utterance CCCs (population)
  ccc_avec2016_utt_mean  mean of per-utterance CCCs (AVEC 2016)
  rmse, rmse_utt_mean

Regenerate (versions pinned in scripts/requirements-ref.txt) from the
repository root:
    .venv-ref/bin/python scripts/golden/ccc.py
"""

import json
import pathlib

import numpy as np

SEED = 2016
OUT = pathlib.Path(__file__).resolve().parents[2] / "nodes/metric/tests/golden"


def ccc(x: np.ndarray, y: np.ndarray, ddof: int) -> float:
    mx, my = x.mean(), y.mean()
    cov = np.mean((x - mx) * (y - my))
    return float(2 * cov / (x.var(ddof=ddof) + y.var(ddof=ddof) + (mx - my) ** 2))


def rmse(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((x - y) ** 2)))


def main() -> None:
    rng = np.random.default_rng(SEED)
    series, expected = [], []
    for split in ["dev", "test"]:
        for dim in ["arousal", "valence"]:
            preds, labels = [], []
            for u in range(int(rng.integers(3, 6))):
                n = int(rng.integers(50, 400))
                label = np.cumsum(rng.normal(0, 0.02, n)) + rng.normal(0, 0.2)
                # Imperfect predictions: scaled, biased, noisy.
                pred = rng.uniform(0.3, 1.2) * label + rng.normal(0, 0.1) + rng.normal(0, 0.05, n)
                label, pred = label.astype(np.float32), pred.astype(np.float32)
                series.append({
                    "utt_id": f"{split}_{u + 1}", "split": split, "dim": dim,
                    "prediction": [float(v) for v in pred], "label": [float(v) for v in label],
                })
                preds.append(pred.astype(np.float64))
                labels.append(label.astype(np.float64))
            x, y = np.concatenate(preds), np.concatenate(labels)
            results = {
                "ccc": ccc(x, y, 0),
                "ccc_avec2016": ccc(x, y, 1),
                "ccc_utt_mean": float(np.mean([ccc(p, l, 0) for p, l in zip(preds, labels)])),
                "ccc_avec2016_utt_mean": float(np.mean([ccc(p, l, 1) for p, l in zip(preds, labels)])),
                "rmse": rmse(x, y),
                "rmse_utt_mean": float(np.mean([rmse(p, l) for p, l in zip(preds, labels)])),
            }
            expected += [{"split": split, "dim": dim, "name": k, "value": v} for k, v in results.items()]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ccc.json").write_text(json.dumps({"numpy": np.__version__, "series": series, "expected": expected}) + "\n")


if __name__ == "__main__":
    main()
