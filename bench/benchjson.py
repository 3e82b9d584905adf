"""Shared by the peer scripts: median wall time of a callable, and the JSON
file that scripts/bench.sh collects (bench/report.py reads it).

JSON layout, one file per peer script:
    {"script": "fbank_peers.py", "versions": {"torch": "2.11.0", ...},
     "medians": {"NAME": {"seconds": S, "runs": N}, ...},
     "sweeps": {"NAME": {"axis": "seconds", "points": {"30": S, ...}}, ...}}
"""

import json
import statistics
import time


def median_seconds(fn, runs):
    """Median wall time of `runs` calls of fn, after one untimed warm-up."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Results:
    def __init__(self, script, versions):
        self.data = {"script": script, "versions": versions, "medians": {}, "sweeps": {}}

    def median(self, name, seconds, runs):
        self.data["medians"][name] = {"seconds": seconds, "runs": runs}

    def point(self, name, axis, size, seconds):
        sweep = self.data["sweeps"].setdefault(name, {"axis": axis, "points": {}})
        sweep["points"][str(size)] = seconds

    def write(self, path):
        if path:
            with open(path, "w") as f:
                json.dump(self.data, f, indent=1)
