"""A plugin author's first build: `emoflow plugin new` (the decode
template), then `cargo build --release` into an empty target directory,
as on a machine that has never built a plugin (the crates' sources already
downloaded: the time is compiling, not fetching).

    python3 bench/plugin_build.py OUT.json [--work DIR]

Records the wall time, the crates compiled (arrow's among them), the load
average before and after (the build competes with whatever else runs) and
the template's line count.
"""

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EMOFLOW = ROOT / "target" / "release" / "emoflow"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--work", default="target/bench/plugin-build")
    args = parser.parse_args()
    work = ROOT / args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    subprocess.run([str(EMOFLOW), "plugin", "new", "first-plugin", "--family", "decode", "--dir", str(work)],
                   check=True, stdout=subprocess.DEVNULL)
    project = work / "first-plugin"
    # The sources, fetched beforehand so that the timed build only compiles.
    subprocess.run(["cargo", "fetch", "--manifest-path", str(project / "Cargo.toml")], check=True,
                   stderr=subprocess.DEVNULL)
    load_start = os.getloadavg()
    start = time.perf_counter()
    build = subprocess.run(
        ["cargo", "build", "--release", "--manifest-path", str(project / "Cargo.toml"),
         "--target-dir", str(work / "target")],
        check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    load_end = os.getloadavg()
    crates = [line.split()[1] for line in build.stderr.splitlines() if line.strip().startswith("Compiling")]
    result = {
        "seconds": seconds,
        "crates": len(crates),
        "arrow_crates": sorted(c for c in crates if c.startswith("arrow")),
        "lines": sum(len(p.read_text().splitlines()) for p in (project / "src").glob("*.rs")),
        "cores": os.cpu_count(),
        "load_start": [round(x, 2) for x in load_start],
        "load_end": [round(x, 2) for x in load_end],
        "rustc": subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip(),
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"first build of the plugin template: {seconds:.0f} s, {len(crates)} crates")


if __name__ == "__main__":
    main()
