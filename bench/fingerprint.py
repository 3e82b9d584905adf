"""What content-addressed sources cost: fingerprinting the files a source
reads (blake3, and a stat cache that vouches for unchanged files).

    python3 bench/fingerprint.py OUT.json [--work DIR] [--repeats 3]

1. A RECOLA-shaped synthetic corpus, 27 recordings of 120 s at 44.1 kHz
   (`emoflow synth --seconds 120 --per-split 9 --sample-rate 44100`), read
   by `bench/graphs/corpus.toml` (the source alone): the first run hashes
   every file, beside the time to read the same bytes once in Python; then
   reruns with nothing changed, where the stat cache vouches for every
   file. The paper's graphs read their corpus through this same source,
   so this is their fingerprinting cost too.
2. The demo graph fully cached (after one run that fills the cache):
   wall time of the rerun, and the seconds its sources spent on
   fingerprints (run.json's `input_files`).
"""

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EMOFLOW = ROOT / "target" / "release" / "emoflow"


def emoflow(*args):
    start = time.perf_counter()
    subprocess.run([str(EMOFLOW), *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def fingerprints(out):
    run = json.loads((ROOT / out / "run.json").read_text())
    found = [n["input_files"] for n in run["nodes"].values() if n.get("input_files")]
    return {
        "files": sum(f["files"] for f in found),
        "hashed": sum(f["hashed"] for f in found),
        "from_stat_cache": sum(f["from_stat_cache"] for f in found),
        "seconds": sum(f["seconds"] for f in found),
        "statuses": sorted({n["status"] for n in run["nodes"].values()}),
    }


def read_once(corpus):
    total, start = 0, time.perf_counter()
    for path in sorted(Path(corpus).rglob("*")):
        if path.is_file():
            total += len(path.read_bytes())
    return total, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("json")
    parser.add_argument("--work", default="target/bench/fingerprint")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = ROOT / args.work
    corpus, cache = work / "corpus", work / "cache"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    emoflow("synth", str(corpus), "--seconds", "120", "--per-split", "9", "--sample-rate", "44100")
    nbytes, read_seconds = read_once(corpus)

    graph = ["run", "bench/graphs/corpus.toml", "--set", f"data={corpus}", "--cache", str(cache)]
    first_wall = emoflow(*graph, "--out", str(work / "first"))
    first = fingerprints(work / "first")
    reruns = []
    for r in range(args.repeats):
        wall = emoflow(*graph, "--out", str(work / f"rerun{r}"))
        reruns.append({"wall_seconds": wall, **fingerprints(work / f"rerun{r}")})

    demo = ["run", "graphs/demo.toml", "--device", "cpu", "--cache", str(work / "demo-cache")]
    emoflow(*demo, "--out", str(work / "demo-first"))
    demo_reruns = []
    for r in range(args.repeats):
        wall = emoflow(*demo, "--out", str(work / f"demo-rerun{r}"))
        demo_reruns.append({"wall_seconds": wall, **fingerprints(work / f"demo-rerun{r}")})

    result = {
        "corpus": {"recordings": 27, "seconds_each": 120, "sample_rate": 44100, "bytes": nbytes,
                   "read_once_seconds": read_seconds},
        "first": {"wall_seconds": first_wall, **first},
        "reruns": reruns,
        "median_rerun_fingerprint_seconds": statistics.median(r["seconds"] for r in reruns),
        "demo_reruns": demo_reruns,
        "median_demo_rerun_wall_seconds": statistics.median(r["wall_seconds"] for r in demo_reruns),
        "median_demo_rerun_fingerprint_seconds": statistics.median(r["seconds"] for r in demo_reruns),
    }
    Path(args.json).write_text(json.dumps(result, indent=1))
    print(f"corpus {nbytes / 1e6:.0f} MB: first run hashed {first['hashed']} files in {first['seconds']:.3f} s "
          f"(reading them once: {read_seconds:.3f} s); unchanged reruns: "
          f"{result['median_rerun_fingerprint_seconds']:.4f} s of fingerprinting; demo fully cached: "
          f"{result['median_demo_rerun_wall_seconds']:.2f} s wall, "
          f"{result['median_demo_rerun_fingerprint_seconds']:.4f} s of it fingerprinting")


if __name__ == "__main__":
    main()
