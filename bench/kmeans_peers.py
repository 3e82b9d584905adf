"""Peers of cluster.optimal1d, timed on the same input as its criterion bench
(nodes/cluster/benches/optimal1d.rs): the 200k golden labels, k = 10.

  ckmeans.ckmeans(x, 10)                          exact 1-D DP (Ckmeans.1d.dp)
  sklearn KMeans(n_clusters=10, n_init=10).fit    Lloyd + k-means++ restarts

Each is run several times in this one process; the median wall time is
printed (after one untimed warm-up run). Input conversion to float64 is done
once, outside the timing, as the peers' users would hold float64 already.

Run from the repository root with the reference venv (versions pinned in
scripts/requirements-ref.txt):
    .venv-ref/bin/python bench/kmeans_peers.py [--runs N] [--sweep] [--json PATH]

--sweep also times both on the first 25k, 50k, 100k and 200k labels
(scaling_kmeans in nodes/cluster/benches/optimal1d.rs is our side); --json PATH
writes the medians for scripts/bench.sh.
"""

import argparse
import os
import pathlib

import ckmeans
import numpy as np
import sklearn
from sklearn.cluster import KMeans

from benchjson import Results, median_seconds

LABELS = pathlib.Path(__file__).resolve().parents[1] / "nodes/cluster/tests/golden/labels_200k.f32le"
K = 10


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=11, help="timed runs of ckmeans (sklearn: a third, at least 3)")
    parser.add_argument("--sweep", action="store_true", help="also time the first 25k/50k/100k/200k labels")
    parser.add_argument("--json", help="write the medians to this file")
    args = parser.parse_args()
    x = np.frombuffer(LABELS.read_bytes(), dtype="<f4").astype(np.float64)
    column = x.reshape(-1, 1)
    print(f"{x.size} labels, k = {K}, {os.cpu_count()} CPUs, numpy {np.__version__}, "
          f"scikit-learn {sklearn.__version__}")
    results = Results("kmeans_peers.py", {"numpy": np.__version__, "scikit-learn": sklearn.__version__,
                                          "ckmeans": "1.2.0"})
    t = median_seconds(lambda: ckmeans.ckmeans(x, K), args.runs)
    print(f"ckmeans 1.2.0                 median {t * 1e3:8.1f} ms over {args.runs} runs")
    results.median("ckmeans", t, args.runs)
    runs = max(3, args.runs // 3)
    t = median_seconds(lambda: KMeans(n_clusters=K, n_init=10, random_state=0).fit(column), runs)
    print(f"sklearn KMeans(n_init=10)     median {t * 1e3:8.1f} ms over {runs} runs")
    results.median("sklearn_kmeans_ninit10", t, runs)
    if args.sweep:
        for n in (25_000, 50_000, 100_000, 200_000):
            xs, cs = x[:n].copy(), column[:n].copy()
            t_ck = median_seconds(lambda: ckmeans.ckmeans(xs, K), max(3, args.runs // 2))
            t_sk = median_seconds(lambda: KMeans(n_clusters=K, n_init=10, random_state=0).fit(cs), 3)
            results.point("ckmeans", "labels", n, t_ck)
            results.point("sklearn_kmeans_ninit10", "labels", n, t_sk)
            print(f"sweep {n:7d} labels: ckmeans {t_ck * 1e3:.1f} ms, sklearn {t_sk * 1e3:.1f} ms")
    results.write(args.json)


if __name__ == "__main__":
    main()
