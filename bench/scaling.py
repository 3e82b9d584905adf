"""Sweeps and --jobs: how the wall time of training sweeps falls with the
threads given to `emoflow run`, in one sitting.

    python3 bench/scaling.py OUT.json [--repeats 3] [--jobs 1 2 4] [--work DIR]

1. The demo graph (`graphs/demo.toml --no-cache --device cpu`) at --jobs 1
   and --jobs 2, alternating, `--repeats` times each: the median wall time
   of each, the speedup, and whether every run wrote the same table2.md.
2. `bench/graphs/sweep8.toml`, eight equal trainings on one thread each, at
   every --jobs of `--jobs` (once each): wall time, speedup over --jobs 1,
   run.json's utilisation, and the trainings' mean worker CPU seconds.

Wall times are taken from the outside (the whole process, plugin loading
included). Run it on an otherwise idle machine: every figure here is a
ratio of runs seconds apart, but a compiler beside them still skews it.
"""

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EMOFLOW = ROOT / "target" / "release" / "emoflow"


def run(graph, jobs, out):
    cmd = [str(EMOFLOW), "run", graph, "--no-cache", "--device", "cpu", "--jobs", str(jobs), "--out", str(out)]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    report = json.loads((ROOT / out / "run.json").read_text())
    assert report["status"] == "ok", report["status"]
    return wall, report


def training_cpu(report):
    cpu = [n["worker"]["cpu_seconds"] for n in report["nodes"].values() if n.get("worker")]
    return statistics.mean(cpu) if cpu else None


def demo(work, repeats):
    walls = {1: [], 2: []}
    util = {1: [], 2: []}
    tables = set()
    for r in range(repeats):
        for jobs in (1, 2):
            out = Path(work) / f"demo-{jobs}-{r}"
            wall, report = run("graphs/demo.toml", jobs, out)
            walls[jobs].append(wall)
            util[jobs].append(report["utilisation"]["ratio"])
            tables.add(hashlib.blake2b((ROOT / out / "table" / "table2.md").read_bytes()).hexdigest())
            print(f"demo --jobs {jobs} #{r + 1}: {wall:.1f} s, utilisation {report['utilisation']['ratio']:.2f}")
    median = {j: statistics.median(w) for j, w in walls.items()}
    return {
        "repeats": repeats,
        "walls": walls,
        "median_wall_seconds": median,
        "median_utilisation": {j: statistics.median(u) for j, u in util.items()},
        "ratio_jobs2_to_jobs1": median[2] / median[1],
        "identical_tables": len(tables) == 1,
    }


def sweep(work, jobs_list):
    points = []
    for jobs in jobs_list:
        wall, report = run("bench/graphs/sweep8.toml", jobs, Path(work) / f"sweep8-{jobs}")
        points.append({
            "jobs": jobs,
            "wall_seconds": wall,
            "utilisation": report["utilisation"],
            "training_cpu_seconds": training_cpu(report),
            "trainings": sum(1 for n in report["nodes"].values() if n["kind"] == "model.blstm"),
        })
        print(f"sweep8 --jobs {jobs}: {wall:.1f} s, utilisation {report['utilisation']['ratio']:.2f}")
    base = points[0]["wall_seconds"]
    for p in points:
        p["speedup"] = base / p["wall_seconds"]
    return points


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("json")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--work", default="target/bench/scaling")
    args = parser.parse_args()
    result = {
        "cores": os.cpu_count(),
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
        "demo": demo(args.work, args.repeats),
        "sweep8": sweep(args.work, args.jobs),
    }
    Path(args.json).write_text(json.dumps(result, indent=1))
    d = result["demo"]
    print(f"demo: --jobs 2 takes {d['ratio_jobs2_to_jobs1']:.2f} x the wall time of --jobs 1 "
          f"(medians of {args.repeats}); tables identical: {d['identical_tables']}")


if __name__ == "__main__":
    main()
