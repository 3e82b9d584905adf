"""Writes docs/PERFORMANCE.md and docs/img/perf-*.png from one run of
scripts/bench.sh: criterion's estimates (target/criterion/, only those
written by this run), the peers' JSON and the demo's overhead (target/bench/).

    .venv-ref/bin/python bench/report.py [--work target/bench]

Stdlib and matplotlib (pinned in scripts/requirements-ref.txt) only.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CRITERION = ROOT / "target" / "criterion"
DOC = ROOT / "docs" / "PERFORMANCE.md"
IMG = ROOT / "docs" / "img"


class Run:
    def __init__(self, work):
        self.work = Path(work)
        self.started = int((self.work / "started").read_text())
        self.quick = (self.work / "quick").read_text().strip() == "1"
        self.missing = []

    def crit(self, bench_id):
        """criterion's median (s) of BENCH_ID (its directory under
        target/criterion), if this run wrote it."""
        path = CRITERION / bench_id / "new" / "estimates.json"
        if not path.exists() or path.stat().st_mtime < self.started:
            self.missing.append(f"criterion `{bench_id}`")
            return None
        return json.loads(path.read_text())["median"]["point_estimate"] * 1e-9

    def peer(self, name):
        path = self.work / f"{name}.json"
        if not path.exists():
            self.missing.append(f"peer results `{path.name}`")
            return {"versions": {}, "medians": {}, "sweeps": {}}
        return json.loads(path.read_text())

    def peer_median(self, data, key):
        entry = data["medians"].get(key)
        if entry is None:
            self.missing.append(f"peer median `{key}`")
            return None
        return entry["seconds"]


def fmt(seconds):
    if seconds is None:
        return "not measured"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def ratio(peer, ours):
    if peer is None or ours is None:
        return "–"
    return f"{peer / ours:.2f}×"


def table(rows):
    """rows: (area/what, emoflow s, peer name, peer s)."""
    lines = ["| emoflow | median | peer | peer median | peer / emoflow |", "| --- | ---: | --- | ---: | ---: |"]
    for ours_name, ours, peer_name, peer in rows:
        lines.append(f"| {ours_name} | {fmt(ours)} | {peer_name} | {fmt(peer) if peer_name != '–' else '–'} | "
                     f"{ratio(peer, ours) if peer_name != '–' else '–'} |")
    return "\n".join(lines)


def sh(*cmd):
    try:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def machine(run):
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    dirty = sh("git", "status", "--porcelain", "--untracked-files=no")
    commit = sh("git", "rev-parse", "--short=12", "HEAD") + (" (with uncommitted changes)" if dirty else "")
    load_start = (run.work / "loadavg-start").read_text().split()[:3] if (run.work / "loadavg-start").exists() else ["?"] * 3
    load_end = Path("/proc/loadavg").read_text().split()[:3]
    elapsed = (run.work / "elapsed").read_text().strip() if (run.work / "elapsed").exists() else "?"
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "date": datetime.datetime.fromtimestamp(run.started).strftime("%Y-%m-%d %H:%M"),
        "commit": commit,
        "rustc": sh("rustc", "--version"),
        "python": platform.python_version(),
        "load_start": " ".join(load_start),
        "load_end": " ".join(load_end),
        "elapsed": elapsed,
    }


def plot(name, title, xlabel, series, logy=False, note=None):
    """series: label -> {x: seconds}; writes docs/img/perf-NAME.png."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for label, points in series.items():
        if not points:
            continue
        xs = sorted(points)
        ax.plot(xs, [points[x] * 1e3 for x in xs], marker="o", label=label)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("median time (ms)")
    if logy:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if note:
        fig.text(0.01, 0.01, note, fontsize=7, alpha=0.7)
    fig.tight_layout()
    path = IMG / f"perf-{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path.relative_to(DOC.parent)


def sweep_table(xlabel, series):
    xs = sorted({x for points in series.values() for x in points})
    head = f"| {xlabel} | " + " | ".join(series) + " |"
    lines = [head, "| ---: |" + " ---: |" * len(series)]
    for x in xs:
        lines.append(f"| {x:g} | " + " | ".join(fmt(series[s].get(x)) for s in series) + " |")
    return "\n".join(lines)


# The sections `scripts/bench.sh --only NAME` regenerates in place.
PARTIAL = {
    "python": lambda run, w: python_section(run, w),
    "sweeps": lambda run, w: scaling_section(run, w),
    "sources": lambda run, w: fingerprint_section(run, w),
    "plugin-build": lambda run, w: plugin_build_section(run, w),
}


def splice(names, run):
    """Regenerates only the named sections of the existing document."""
    doc = DOC.read_text()
    for name in names:
        out = []
        PARTIAL[name](run, out.append)
        m = machine(run)
        out.insert(1, f"(This section alone regenerated by `scripts/bench.sh --only {name}`: {m['date']}, commit "
                      f"{m['commit']}, load average {m['load_start']} at the start.)\n")
        text = "\n".join(out) + "\n"
        heading = out[0].strip()
        if heading in doc:
            start = doc.index(heading)
            end = doc.find("\n## ", start + len(heading))
            doc = doc[:start] + text + (doc[end + 1:] if end >= 0 else "")
        else:
            at = doc.index("## GPU")
            doc = doc[:at] + text + doc[at:]
    DOC.write_text(doc)
    print(f"wrote {', '.join(names)} into {DOC.relative_to(ROOT)}" + (f"; missing: {', '.join(run.missing)}" if run.missing else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="target/bench")
    parser.add_argument("--only", nargs="*", choices=sorted(PARTIAL), help="regenerate only these sections in place")
    args = parser.parse_args()
    run = Run(ROOT / args.work)
    if args.only:
        splice(args.only, run)
        return
    IMG.mkdir(parents=True, exist_ok=True)
    m = machine(run)

    fb, km, dc, bl, cc = (run.peer(n) for n in ("fbank", "kmeans", "decode", "blstm", "ccc"))
    versions = {}
    for data in (fb, km, dc, bl, cc):
        versions.update(data.get("versions", {}))

    out = []
    w = out.append
    w("# Performance\n")
    w("Generated by `scripts/bench.sh` (bench/report.py) — do not edit by hand; rerun the script. "
      "Each emoflow benchmark (criterion, median) runs right before its peer (Python, median of repeated "
      "runs after a warm-up) in the same sitting on the same input, so the ratios are taken on one machine "
      "state. **peer / emoflow > 1 means emoflow is faster.**\n")
    w("## Machine\n")
    w(f"- CPU: {m['cpu']}, {m['cores']} logical cores; memory {m['memory']}; {m['os']}")
    w(f"- date {m['date']}; commit {m['commit']}; {m['rustc']}; Python {m['python']}")
    w("- peers: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + " (scripts/requirements-ref.txt)")
    w(f"- run: {'`--quick`' if run.quick else 'full'}, {m['elapsed']} s in all; load average (1/5/15 min) "
      f"{m['load_start']} at the start, {m['load_end']} at the end")
    w("- **The machine was shared**: two cores, with other jobs (compilers) running beside the benchmarks at "
      "times. Absolute times are noisy; the ratios, taken minutes apart in one run, less so, but a ratio "
      "within ±15 % of 1 should be read as a tie.\n")

    # fbank
    e1, e2 = run.crit("fbank_300s_16k_40bins/threads/1"), run.crit("fbank_300s_16k_40bins/threads/2")
    w("## Features: feature.fbank\n")
    w("300 s of 16 kHz speech-like audio (the synthetic corpus's train_1), 40 Mel bins, Kaldi 25/10 ms povey "
      "frames, dither 0; emoflow: `nodes/audio/benches/fbank.rs`, peers: `bench/fbank_peers.py` on the same "
      "samples written as WAV. kaldi-native-fbank's time includes collecting its frames into one array.\n")
    w(table([
        ("fbank, 1 thread", e1, "torchaudio.compliance.kaldi.fbank, 1 thread", run.peer_median(fb, "torchaudio_1thread")),
        ("fbank, 2 threads", e2, "torchaudio.compliance.kaldi.fbank, 2 threads", run.peer_median(fb, "torchaudio_2thread")),
        ("fbank, 1 thread", e1, "kaldi-native-fbank, 1 thread", run.peer_median(fb, "kaldi_native_fbank_1thread")),
    ]))
    w("")

    # k-means
    o = run.crit("optimal1d_200k_k10")
    w("## Discretisation: cluster.optimal1d (exact 1-D k-means)\n")
    w("The 200,000 golden labels (`nodes/cluster/tests/golden/labels_200k.f32le`), k = 10, from the raw values "
      "(sorting included). emoflow: `nodes/cluster/benches/optimal1d.rs`; peers: `bench/kmeans_peers.py`. "
      "ckmeans is the same exact DP (Ckmeans.1d.dp); scikit-learn's Lloyd + k-means++ with 10 restarts is "
      "what the paper ran and only reaches a local optimum. The DP solves the first and the last k / 2 classes "
      "from both ends, only over the rows that a quick Lloyd partition's error leaves possible, and scans "
      "candidates on AVX-512 where the CPU has it (bit-identical results). With two threads the two ends run "
      "side by side; sorting stays on one.\n")
    ck = run.peer_median(km, "ckmeans")
    for what, ours in (("one thread", o), ("two threads", run.crit("optimal1d_200k_k10_threads2"))):
        if ours is not None and ck is not None:
            # Issue 4's target: 30 ms on a machine where ckmeans took about 67 ms.
            verdict = "meets" if ck / ours >= 67 / 30 else "does **not** meet"
            w(f"- On {what}: {ck / ours:.2f}× ckmeans's speed, which {verdict} the target of 30 ms where "
              f"ckmeans takes 67 ms (2.23×); {fmt(ours)} here.")
    w("")
    w(table([
        ("optimal1d, k = 10, from raw labels", o, "ckmeans.ckmeans(x, 10)", run.peer_median(km, "ckmeans")),
        ("optimal1d, k = 10, from raw labels", o, "sklearn KMeans(n_clusters=10, n_init=10)",
         run.peer_median(km, "sklearn_kmeans_ninit10")),
        ("optimal1d, k = 10, from raw labels, 2 threads", run.crit("optimal1d_200k_k10_threads2"), "ckmeans.ckmeans(x, 10)",
         run.peer_median(km, "ckmeans")),
        ("optimal1d, DP only (labels already sorted and merged)", run.crit("optimal1d_200k_k10_dp_only"), "–", None),
        ("optimal1d, DP only, 2 threads", run.crit("optimal1d_200k_k10_dp_only_threads2"), "–", None),
    ]))
    w("")

    # decode
    d = run.crit("exact_trigram_k10_t7501")
    w("## Decoding: decode.emotion_lm\n")
    w("One exact trigram decode, K = 10 classes, T = 7501 frames (one RECOLA recording), 100 expanded "
      "(history, class) states. emoflow: `nodes/decode/benches/decode.rs`; peer: `bench/decode_peers.py`, the "
      "usual dense NumPy Viterbi (states vectorised, frames in a Python loop) over the same state space. The "
      "inputs are alike in shape, not identical (the peer's move scores are random, ours come from a trained "
      "LM); the work per frame is the same. The paper's whole sweep has no peer.\n")
    w(table([
        ("exact trigram, K = 10, T = 7501", d, "NumPy Viterbi, 100 states", run.peer_median(dc, "numpy_viterbi")),
        ("sweep: alpha 0..14 x order 2, 3 x 9 recordings x 4 tasks", run.crit("sweep/alpha0-14_order2-3_9rec_4tasks"), "–", None),
    ]))
    w("")

    # BLSTM
    s = run.crit("blstm/train_step_3x80_T7500_1thread")
    w("## Model: model.blstm training step\n")
    w("One training step of the paper's network (forward, cost-sensitive CE over four heads of 4/6/8/10 "
      "classes, backward, Adam): 3 layers x 80 units per direction, T = 7500, 160-d input, one thread. "
      "emoflow: `nodes/model/benches/step.rs` (tch over libtorch 2.11.0); peer: `bench/blstm_peer.py` "
      "(PyTorch 2.11.0, the reference model of the golden tests). Both run the same libtorch kernels, so "
      "a ratio near 1 is expected: the number shows what the Rust side adds or saves around them.\n")
    w(table([("train step, 3 x 80, T = 7500, 1 thread", s, "PyTorch, same step", run.peer_median(bl, "pytorch_train_step"))]))
    w("")

    # CCC
    w("## Metric: metric.ccc\n")
    w("The CCC kernel (`emoflow_metric::ccc::ccc`, population moments, two passes) on the same deterministic "
      "pairs as the peer (`nodes/metric/benches/ccc.rs`, `bench/ccc_peer.py`: NumPy, mean and centred "
      "products as users write it).\n")
    w(table([(f"ccc, n = {n:,}", run.crit(f"ccc/n/{n}"), "NumPy", run.peer_median(cc, f"numpy_ccc_n{n}"))
             for n in (67509, 1000000)]))
    w("")

    # scaling
    w("## Cost as the work grows\n")
    w("emoflow's side: the `scaling_*` criterion groups (short: 10 samples) in each area's bench above "
      "(`fbank.rs`, `decode.rs`, `optimal1d.rs`, `step.rs`); the peers' `--sweep`. One thread everywhere.\n")

    def crit_sweep(group, axis, xs):
        return {x: v for x in xs if (v := run.crit(f"{group}/{axis}/{x}")) is not None}

    def peer_sweep(data, key):
        return {float(x) if "." in x else int(x): v for x, v in data["sweeps"].get(key, {}).get("points", {}).items()}

    sections = [
        ("fbank", "feature.fbank vs input length (40 bins, 1 thread)", "input length (s)",
         {"emoflow fbank": crit_sweep("scaling_fbank", "seconds", [30, 75, 150, 300]),
          "torchaudio kaldi.fbank": peer_sweep(fb, "torchaudio_1thread"),
          "kaldi-native-fbank": peer_sweep(fb, "kaldi_native_fbank_1thread")}, True),
        ("decode", "exact trigram decode vs length (K = 10)", "frames",
         {"emoflow decode.emotion_lm": crit_sweep("scaling_decode", "frames", [1875, 3750, 7501, 15002]),
          "NumPy Viterbi": peer_sweep(dc, "numpy_viterbi")}, True),
        ("kmeans", "1-D k-means (k = 10) vs number of labels", "labels",
         {"emoflow optimal1d": crit_sweep("scaling_kmeans", "labels", [25000, 50000, 100000, 200000]),
          "ckmeans": peer_sweep(km, "ckmeans"),
          "sklearn KMeans n_init=10": peer_sweep(km, "sklearn_kmeans_ninit10")}, True),
        ("epoch", "training epoch (4 x 1500 frames, 80 units, 1 thread) vs layers", "BLSTM layers",
         {"emoflow model.blstm": crit_sweep("scaling_epoch", "layers", [1, 2, 3, 4]),
          "PyTorch": peer_sweep(bl, "pytorch_epoch")}, False),
    ]
    for name, title, xlabel, series, logy in sections:
        path = plot(name, title, xlabel, series, logy=logy)
        w(f"### {title}\n")
        w(f"![{title}]({path.as_posix()})\n")
        w(sweep_table(xlabel, series))
        w("")
    w("The epoch is one training step per utterance (as `emoflow_model::train` runs an epoch) over 4 "
      "utterances of 1500 frames — the demo corpus's shape — without the dev pass or checkpoint.\n")

    # demo
    w("## The demo graph and the engine's overhead\n")
    demos = [json.loads(p.read_text()) for p in sorted(run.work.glob("demo-jobs*.json"))]
    if not demos:
        run.missing.append("demo run")
        w("Not measured in this run.\n")
    else:
        w("`graphs/demo.toml` run with `--no-cache` (every node really runs; `bench/demo_overhead.py`), timed "
          "from outside the process: plugin loading, validation, planning, scheduling and run.json included.\n")
        w("| run | nodes | wall | sum of node seconds | critical path | engine overhead | share of wall |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for dm in demos:
            how = "wall − sum (exact)" if dm["overhead_exact"] else "wall − max(critical path, sum / jobs) (rough)"
            w(f"| `--jobs {dm['jobs']}`, status {dm['status']} | {dm['nodes']} | {dm['wall_seconds']:.2f} s | "
              f"{dm['sum_node_seconds']:.2f} s | {dm['critical_path_seconds']:.2f} s | "
              f"{dm['overhead_seconds']:.3f} s ({how}) | {100 * dm['overhead_fraction']:.2f} % |")
        w("")
        exact = next((dm for dm in demos if dm["overhead_exact"]), None)
        if exact:
            verdict = "meets" if exact["engine_own_fraction"] < 0.01 else "does **not** meet"
            outside = exact["wall_seconds"] - exact["engine_seconds"]
            inside = exact["engine_seconds"] - exact["sum_node_seconds"]
            w(f"With one job, nodes run one after another, so everything outside the nodes' own seconds is "
              f"overhead: {exact['overhead_seconds']:.3f} s, {100 * exact['overhead_fraction']:.2f} % of the wall "
              f"time. {exact['plugin_load_seconds']:.3f} s of it is loading the plugin libraries (run.json's "
              f"`plugin_loads`), almost all of it libtorch's own start-up, which the first plugin linking it pays "
              f"as `import torch` does in Python. The engine's own overhead is the rest: "
              f"**{exact['engine_own_seconds']:.3f} s, {100 * exact['engine_own_fraction']:.2f} % of the wall "
              f"time**, which {verdict} the target of under 1 %. Before and after the scheduler (process start, "
              f"plugin loading, validation, planning, writing run.json: wall minus run.json's `seconds`) is "
              f"{outside:.3f} s; inside the scheduler between nodes (run.json's `seconds` minus the sum of node "
              f"seconds: cache keys, launching threads, collecting metrics and files) {inside:.3f} s, over "
              f"{exact['nodes']} nodes.\n")
        w("What this does *not* separate: a node's seconds in run.json span its whole execution in the engine — "
          "creating it across the plugin ABI, its run, and staging and committing its Arrow IPC outputs to disk — "
          "so the ABI crossing and output staging inside each node are counted as node time here, not as "
          "overhead. With two jobs the estimate is rough: the critical path follows the DAG's edges, which omit "
          "the wait for the sweep's selection, and a node running alone gets both threads.\n")
        top = list(demos[0]["seconds_by_kind"].items())[:6]
        w("Where the time goes (`--jobs " + str(demos[0]["jobs"]) + "`, node seconds by kind): " +
          ", ".join(f"{k} {v:.2f} s" for k, v in top) + ".\n")

    scaling_section(run, w)
    fingerprint_section(run, w)
    python_section(run, w)
    plugin_build_section(run, w)

    w("## GPU\n")
    w("Not measured. The GPU check (`scripts/gpu_check.sh`: the model's epoch on CUDA beside PyTorch's cuDNN "
      "LSTM) has not been run on a GPU machine yet: no device has been available to this project so far. "
      "Nor has the sweep fixture above (`bench/graphs/sweep8.toml`) with its eight trainings sharing one GPU "
      "from worker processes. There are no GPU numbers in this document.\n")

    w("## Caveats\n")
    w("- The scaling sweeps are short criterion runs (10 samples, 2 s) and the peers' sweeps use few runs; "
      "read them for the shape of the curves, the tables above for the headline ratios.")
    w("- The decoding peer does the same work on alike, not identical, inputs (see above); every other "
      "comparison uses the same input on both sides.")
    w("- Python peers are timed with `time.perf_counter` around the call (interpreter overhead included, as a "
      "user pays it); criterion times the Rust kernels, not the plugins' Arrow in/out.")
    if run.missing:
        w("- **Missing from this run**: " + ", ".join(run.missing) + ".")
    w("")
    DOC.write_text("\n".join(out))
    print(f"wrote {DOC.relative_to(ROOT)}" + (f"; missing: {', '.join(run.missing)}" if run.missing else ""))


def python_section(run, w):
    """The crossing cost of a Python kind (nodes/python/examples/crossing.rs)."""
    w("## Python kinds: the cost of a call\n")
    path = run.work / "python.json"
    if not path.exists():
        run.missing.append("Python crossing run")
        w("Not measured in this run.\n")
        return
    p = json.loads(path.read_text())
    w(f"`nodes/python/examples/crossing.rs`: {p['frames'] // 100} s of {p['dims']}-dimensional features "
      f"({p['frames']} frames at 10 ms, {p['megabytes']:.1f} MB of float32) through an identity kind in "
      "Python (`bench/python/bench_identity.py`, through the embedded interpreter and the Arrow C stream "
      "interface both ways) and the same kind in Rust, each called as the host calls a node (create, run, "
      f"pull and check the output) in process; median of {p['runs']} calls after a warm-up.\n")
    w("| kind | per call |")
    w("| --- | ---: |")
    w(f"| Rust identity | {1e3 * p['rust_seconds']:.2f} ms |")
    w(f"| Python identity | {1e3 * p['python_seconds']:.2f} ms |")
    w(f"\nThe crossing costs **{1e3 * p['overhead_seconds']:.2f} ms** per call (target: under 5 ms): the "
      "features are not copied, only the stream and array structs cross. A node of a Python kind run "
      "in a worker process (the default) also pays that process's start and the interpreter's, once "
      "per worker.\n")


def fingerprint_section(run, w):
    """Content-addressed sources (bench/fingerprint.py)."""
    w("## Fingerprinting the files sources read\n")
    path = run.work / "fingerprint.json"
    if not path.exists():
        run.missing.append("fingerprint run")
        w("Not measured in this run.\n")
        return
    fp = json.loads(path.read_text())
    c, first = fp["corpus"], fp["first"]
    mb = c["bytes"] / 1e6
    w(f"`bench/fingerprint.py`: a RECOLA-shaped synthetic corpus ({c['recordings']} recordings of "
      f"{c['seconds_each']} s at {c['sample_rate']} Hz, 16-bit WAV and ARFF labels: {mb:.0f} MB) read by "
      f"`bench/graphs/corpus.toml`, the AVEC 2016 source alone; the paper's graphs read their corpus through "
      f"the same source, so their fingerprinting costs the same. Files were in the page cache (just written).\n")
    w("| run | files | hashed | from the stat cache | fingerprinting |")
    w("| --- | ---: | ---: | ---: | ---: |")
    w(f"| first (nothing known) | {first['files']} | {first['hashed']} | {first['from_stat_cache']} | "
      f"{first['seconds']:.3f} s ({mb / max(first['seconds'], 1e-9):.0f} MB/s; reading the bytes once in Python: "
      f"{c['read_once_seconds']:.3f} s) |")
    for i, r in enumerate(fp["reruns"], 1):
        w(f"| rerun {i}, nothing changed | {r['files']} | {r['hashed']} | {r['from_stat_cache']} | {r['seconds']:.4f} s |")
    w("")
    med = fp["median_rerun_fingerprint_seconds"]
    w("A file hashed less than 2 s after it was last written is hashed again next time (an edit within the same "
      "timestamp tick keeps size and modification time; git does the same), so the first rerun after writing "
      "the corpus rehashes some files.\n")
    w(f"An unchanged rerun spends **{1e3 * med:.1f} ms** fingerprinting the corpus (target: under 0.2 s). "
      f"The demo reads no files (its corpus is generated); fully cached it reruns in "
      f"{fp['median_demo_rerun_wall_seconds']:.2f} s wall (median of {len(fp['demo_reruns'])}), "
      f"{fp['median_demo_rerun_fingerprint_seconds']:.4f} s of it fingerprinting.\n")


def plugin_build_section(run, w):
    """A plugin author's first build (bench/plugin_build.py)."""
    w("## A plugin's first build\n")
    path = run.work / "plugin-build.json"
    if not path.exists():
        run.missing.append("plugin build")
        w("Not measured in this run.\n")
        return
    b = json.loads(path.read_text())
    minutes, seconds = divmod(round(b["seconds"]), 60)
    w(f"`bench/plugin_build.py`: `emoflow plugin new` (the decode template, {b['lines']} lines), then "
      f"`cargo build --release` into an empty target directory, sources already fetched: **{minutes} min "
      f"{seconds:02d} s** for {b['crates']} crates (target: under 4 minutes on 2 cores), {b['rustc']}. "
      f"Arrow's share is {len(b['arrow_crates'])} crates ({', '.join(b['arrow_crates'])}): the SDK depends on "
      f"arrow's sub-crates, not on the `arrow` umbrella and its compute kernels (issue #19 measured a first "
      f"build on the umbrella and its default features at 10 min 37 s on this machine). Load average {' '.join(map(str, b['load_start']))} at the start, "
      f"{' '.join(map(str, b['load_end']))} at the end, on {b['cores']} cores: other builds ran beside it.\n")


def scaling_section(run, w):
    """Sweeps and --jobs (bench/scaling.py), and a projection of the paper's
    protocol to more cores from the training step's median above."""
    w("## Sweeps and `--jobs`\n")
    path = run.work / "scaling.json"
    if not path.exists():
        run.missing.append("scaling run")
        w("Not measured in this run.\n")
        return
    sc = json.loads(path.read_text())
    d = sc["demo"]
    med = {int(k): v for k, v in d["median_wall_seconds"].items()}
    util = {int(k): v for k, v in d["median_utilisation"].items()}
    ratio = d["ratio_jobs2_to_jobs1"]
    verdict = "meets" if ratio <= 0.56 and d["identical_tables"] else "does **not** meet"
    w(f"`bench/scaling.py` on {sc['cores']} cores (load average before: {' '.join(sc['loadavg_before'])}). "
      f"Trainings (`model.blstm`, an `own_process` kind) run in worker processes on the one thread their graph "
      f"fixes; `--jobs` is the run's thread budget.\n")
    w("| `graphs/demo.toml --no-cache` | median wall (of " + str(d["repeats"]) + ") | runs | utilisation |")
    w("| --- | ---: | --- | ---: |")
    for j in (1, 2):
        runs = ", ".join(f"{x:.1f}" for x in d["walls"][str(j)])
        w(f"| `--jobs {j}` | {med[j]:.1f} s | {runs} s | {util[j]:.2f} |")
    w("")
    w(f"`--jobs 2` takes **{ratio:.2f}x** the wall time of `--jobs 1` (target: at most 0.56x), and every run "
      f"wrote {'the same' if d['identical_tables'] else '**different**'} `table2.md` byte for byte: the target is "
      f"{'met' if verdict == 'meets' else 'not met'}. Utilisation is run.json's busy core-seconds (CPU time of the "
      f"process and its workers) over wall x jobs.\n")
    w("`bench/graphs/sweep8.toml`: eight equal trainings of the demo's size, one thread each.\n")
    w("| `--jobs` | wall | speedup over `--jobs 1` | utilisation | CPU seconds per training |")
    w("| ---: | ---: | ---: | ---: | ---: |")
    for p in sc["sweep8"]:
        w(f"| {p['jobs']} | {p['wall_seconds']:.1f} s | {p['speedup']:.2f}x | {p['utilisation']['ratio']:.2f} | "
          f"{p['training_cpu_seconds']:.2f} s |")
    w("")
    step = run.crit("blstm/train_step_3x80_T7500_1thread")
    if step is None:
        return
    # The protocol on a RECOLA-shaped corpus (9 recordings of 300 s per
    # split, T = 7500 frames each): 3 systems x 6 configurations = 18
    # training nodes, each training 2 dimensions x 3 seeds one after another.
    epochs = 40
    node_seconds = {layers: 6 * epochs * 9 * step * layers / 3 for layers in (3, 4, 5)}
    nodes = [node_seconds[l] for l in (3, 4, 5) for _ in range(6)]
    total = sum(nodes)

    def wall(cores):
        # Longest first onto the least loaded core (what the scheduler does).
        load = [0.0] * cores
        for s in sorted(nodes, reverse=True):
            load[load.index(min(load))] += s
        return max(load)

    w("**Projection: the paper's protocol** (`graphs/paper/table2.toml`: 108 trainings in 18 training nodes, "
      "each node training 2 dimensions x 3 seeds in turn) on a RECOLA-shaped corpus (9 recordings of 300 s per "
      f"split), from the training step's median above ({1e3 * step:.0f} ms for 3 x 80 units, T = 7500, one "
      f"thread), {epochs} epochs each (the default; early stopping ends some sooner), the step's cost growing "
      "with the layers, the dev pass and everything but training left out:\n")
    w("| cores (`--jobs`) | projected wall | |")
    w("| ---: | ---: | --- |")
    for cores in (1, 2, 16, 64):
        note = "18 training nodes: cores beyond 18 stay idle" if cores == 64 else ""
        w(f"| {cores} | {wall(cores) / 3600:.1f} h | {note} |")
    w("")
    w(f"In all, {total / 3600:.0f} core-hours of training. Past 18 cores the longest node bounds the run "
      f"({max(nodes) / 3600:.1f} h); more parallelism needs more nodes (a sweep axis over seeds or `dim`) or "
      "threads per training (`threads`, which also changes the results). On Slurm the trials run as one array, "
      "and the training nodes they share are computed once in the shared cache (the others wait on its lock): "
      "the same bound with one core per array task. The whole protocol was not run here: it is measured only "
      "through these parts.\n")


if __name__ == "__main__":
    main()
