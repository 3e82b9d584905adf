"""Runs the demo graph and estimates the engine's overhead from its run.json.

    python3 bench/demo_overhead.py OUT.json [--jobs N] [--work DIR] [GRAPH]

Runs `target/release/emoflow run GRAPH --no-cache --jobs N --out WORK/jobsN`
(every node really runs: with the cache, nodes are skipped and the run says
nothing about the engine) and times the whole process (plugin loading,
validation, planning, scheduling, run.json) from the outside.

Each node's `seconds` in run.json spans its whole execution in the engine:
creating the node across the plugin ABI, its run, and staging and
committing its Arrow IPC outputs. So the overhead computed here is what
the engine costs *outside* the nodes:

- with --jobs 1 (nodes one after another): wall - sum(node seconds), exact;
- with more jobs: wall - max(critical path, sum / jobs) is only a rough
  estimate (a node running alone gets the whole thread budget, so the
  sum / jobs bound is loose); the critical path follows the DAG's edges
  (`emoflow graph --dot`), which omit the sweep-selection wait.

The cost of the ABI crossing and the output staging inside each node's
seconds is not separated here.
"""

import argparse
import json
import re
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EMOFLOW = ROOT / "target" / "release" / "emoflow"


def critical_path(graph, seconds):
    dot = subprocess.run([str(EMOFLOW), "graph", "--dot", graph], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    parents = {}
    for a, b in re.findall(r'^\s*"([^"]+)"\s*->\s*"([^"]+)"', dot, re.M):
        parents.setdefault(b, set()).add(a)
    memo = {}

    def finish(node):
        if node not in memo:
            memo[node] = seconds.get(node, 0.0) + max((finish(p) for p in parents.get(node, ())), default=0.0)
        return memo[node]

    return max((finish(n) for n in seconds), default=0.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("json")
    parser.add_argument("graph", nargs="?", default="graphs/demo.toml")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--work", default="target/bench/demo")
    args = parser.parse_args()
    out = Path(args.work) / f"jobs{args.jobs}"
    cmd = [str(EMOFLOW), "run", args.graph, "--no-cache", "--jobs", str(args.jobs), "--device", "cpu",
           "--out", str(out)]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    run = json.loads((ROOT / out / "run.json").read_text())
    seconds = {name: node["seconds"] for name, node in run["nodes"].items()}
    by_kind = {}
    for node in run["nodes"].values():
        by_kind[node["kind"]] = by_kind.get(node["kind"], 0.0) + node["seconds"]
    total = sum(seconds.values())
    # Loading the plugin libraries runs their initialisers: libtorch's
    # start-up (operator registration) is paid by the first plugin linking it.
    loads = sum(p["seconds"] for p in run.get("plugin_loads", []))
    path = critical_path(args.graph, seconds)
    busy = total if args.jobs == 1 else max(path, total / args.jobs)
    result = {
        "command": " ".join(["emoflow", *cmd[1:]]),
        "jobs": args.jobs,
        "status": run["status"],
        "nodes": len(seconds),
        "statuses": sorted({n["status"] for n in run["nodes"].values()}),
        "wall_seconds": wall,
        "engine_seconds": run["seconds"],
        "sum_node_seconds": total,
        "critical_path_seconds": path,
        "overhead_seconds": wall - busy,
        "overhead_fraction": (wall - busy) / wall,
        "plugin_load_seconds": loads,
        "engine_own_seconds": wall - busy - loads,
        "engine_own_fraction": (wall - busy - loads) / wall,
        "overhead_exact": args.jobs == 1,
        "seconds_by_kind": dict(sorted(by_kind.items(), key=lambda kv: -kv[1])),
    }
    Path(args.json).write_text(json.dumps(result, indent=1))
    print(f"demo (--jobs {args.jobs}): wall {wall:.2f} s, {len(seconds)} nodes, sum of node seconds {total:.2f} s, "
          f"critical path {path:.2f} s, overhead {result['overhead_seconds']:.3f} s "
          f"({100 * result['overhead_fraction']:.2f} %), of which loading plugin libraries {loads:.3f} s")


if __name__ == "__main__":
    main()
