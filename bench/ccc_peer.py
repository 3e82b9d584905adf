"""Peer of metric.ccc (nodes/metric/benches/ccc.rs): the concordance
correlation coefficient in NumPy, as users write it (population moments,
np.mean / np.var / centred products), on exactly the bench's numbers:
x_i = sin(0.001 i), y_i = 0.8 x_i + 0.1 cos(0.0037 i), for n = 67,509 (one
RECOLA split) and 1,000,000. The arrays are built once, outside the timing.

Run: .venv-ref/bin/python bench/ccc_peer.py [--runs N] [--json PATH]
"""

import argparse

import numpy as np

from benchjson import Results, median_seconds

SIZES = (67_509, 1_000_000)


def ccc(x, y):
    mx, my = x.mean(), y.mean()
    dx, dy = x - mx, y - my
    cov = (dx * dy).mean()
    return 2.0 * cov / ((dx * dx).mean() + (dy * dy).mean() + (mx - my) ** 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--json", help="write the medians to this file")
    args = parser.parse_args()
    results = Results("ccc_peer.py", {"numpy": np.__version__})
    for n in SIZES:
        i = np.arange(n, dtype=np.float64)
        x = np.sin(0.001 * i)
        y = 0.8 * x + 0.1 * np.cos(0.0037 * i)
        t = median_seconds(lambda: ccc(x, y), args.runs)
        results.median(f"numpy_ccc_n{n}", t, args.runs)
        print(f"numpy {np.__version__} ccc, n = {n}: median {t * 1e6:.1f} us over {args.runs} runs "
              f"(ccc = {ccc(x, y):.6f})")
    results.write(args.json)


if __name__ == "__main__":
    main()
