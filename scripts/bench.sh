#!/usr/bin/env bash
# The benchmark runner: emoflow and the peers a user would otherwise use,
# in one sitting on the same inputs, then docs/PERFORMANCE.md (medians,
# ratios, the demo graph's engine overhead) and its plots docs/img/perf-*.png.
#
#   scripts/bench.sh           about 15 minutes on 2 cores
#   scripts/bench.sh --quick   shorter criterion runs and fewer peer runs
#   scripts/bench.sh --only=sweeps,sources,python,plugin-build
#                              only those sections, spliced into the document
#                              (sweeps also reruns the training-step bench)
#
# Per area, emoflow's criterion bench runs right before its peer script, so
# both see the same machine state:
#   fbank    nodes/audio/benches/fbank.rs        bench/fbank_peers.py
#   k-means  nodes/cluster/benches/optimal1d.rs  bench/kmeans_peers.py
#   decode   nodes/decode/benches/decode.rs      bench/decode_peers.py
#   BLSTM    nodes/model/benches/step.rs         bench/blstm_peer.py
#   CCC      nodes/metric/benches/ccc.rs         bench/ccc_peer.py
#   scaling  each bench's scaling_* group above  the peers' --sweep
#   demo     graphs/demo.toml, --jobs 1 and 2    bench/demo_overhead.py
#   sweeps   demo and bench/graphs/sweep8.toml   bench/scaling.py
#            at several --jobs
#   sources  fingerprints of a corpus's files    bench/fingerprint.py
#   python   300 s of 160-d features through a   nodes/python/examples/crossing.rs
#            Python and a Rust identity kind
#   plugin-build  `emoflow plugin new`, cargo build into an empty target
#            directory                           bench/plugin_build.py
# Raw results: target/bench/ (peer JSON, logs); criterion's own under
# target/criterion/. bench/report.py only takes criterion estimates written
# by this run. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
only=()
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --only=*) IFS=, read -r -a only <<< "${arg#--only=}" ;;
        -h|--help) sed -n '2,/^# by this run/p' "$0"; exit 0 ;;
        *) echo "unknown option $arg (use --quick, --only=sweeps,sources,python,plugin-build)" >&2; exit 2 ;;
    esac
done

started=$(date +%s)
work=target/bench
rm -rf "$work"
mkdir -p "$work"
date +%s > "$work/started"
cat /proc/loadavg > "$work/loadavg-start"
echo "$quick" > "$work/quick"

# libtorch for the model crate (.venv), the reference tools (.venv-ref).
./scripts/setup-venv.sh
py=.venv-ref/bin/python
if ! [ -x "$py" ] || ! "$py" -c "import torch, torchaudio, kaldi_native_fbank, sklearn, ckmeans, matplotlib" 2>/dev/null; then
    ./scripts/setup-ref-venv.sh
fi
# No LD_LIBRARY_PATH: the only bench that links libtorch (nodes/model's
# step) gets an rpath to it from nodes/model/build.rs.

# Each area's bench also holds its scaling sweep (scaling_fbank,
# scaling_kmeans, scaling_decode, scaling_epoch), so it runs with the
# area's headline bench and is read from target/criterion/scaling_*/.
benches=(fbank optimal1d decode step ccc)
bench_args=()
for b in "${benches[@]}"; do bench_args+=(--bench "$b"); done
echo "== build"
cargo build --release --workspace
if [ ${#only[@]} -eq 0 ]; then
    # What the whole run needs; a section of --only builds its own.
    cargo bench --workspace --no-run "${bench_args[@]}"
    cargo run --release --example fbank_bench_input -- "$work/fbank_300s.wav"
fi

if [ "$quick" = 1 ]; then
    crit=(--quick --noplot)
    runs_fbank=3 runs_kmeans=5 repeats_decode=8 repeats_blstm=3 runs_ccc=20
else
    crit=(--noplot)
    runs_fbank=7 runs_kmeans=11 repeats_decode=20 repeats_blstm=10 runs_ccc=100
fi

criterion() {  # NAME: one criterion bench, its output kept in the log
    echo "== cargo bench --bench $1"
    if ! cargo bench --workspace --bench "$1" -- "${crit[@]}" > "$work/criterion-$1.log" 2>&1; then
        tail -20 "$work/criterion-$1.log" >&2
        exit 1
    fi
    # Criterion prints a short name and its time on one line, a long name above.
    grep -B1 -E "time: +\[" "$work/criterion-$1.log" | grep -v -E "^(--|Benchmarking )" || true
}

python_crossing() {  # the cost of a Python kind's call (nodes/python)
    echo "== Python kinds: crossing cost"
    ./scripts/setup-python-plugins.sh
    EMOFLOW_PLUGIN_PATH=bench/python EMOFLOW_PYTHON=.venv-python/bin/python \
        cargo run --release -q -p emoflow-python --example crossing -- 50 > "$work/python.json"
    cat "$work/python.json"
}

if [ ${#only[@]} -gt 0 ]; then
    repeats=3
    for section in "${only[@]}"; do
        case "$section" in
            sweeps)
                criterion step
                "$py" bench/scaling.py "$work/scaling.json" --repeats "$repeats" --jobs 1 2 4 --work "$work/scaling" ;;
            sources)
                "$py" bench/fingerprint.py "$work/fingerprint.json" --repeats "$repeats" --work "$work/fingerprint" ;;
            python) python_crossing ;;
            plugin-build)
                "$py" bench/plugin_build.py "$work/plugin-build.json" --work "$work/plugin-build" ;;
            *) echo "unknown section $section (sweeps, sources, python, plugin-build)" >&2; exit 2 ;;
        esac
    done
    echo $(( $(date +%s) - started )) > "$work/elapsed"
    "$py" bench/report.py --work "$work" --only "${only[@]}"
    exit 0
fi

criterion fbank
"$py" bench/fbank_peers.py "$work/fbank_300s.wav" --runs "$runs_fbank" --json "$work/fbank.json" --sweep
criterion optimal1d
"$py" bench/kmeans_peers.py --runs "$runs_kmeans" --json "$work/kmeans.json" --sweep
criterion decode
"$py" bench/decode_peers.py --repeats "$repeats_decode" --json "$work/decode.json" --sweep
criterion step
"$py" bench/blstm_peer.py --repeats "$repeats_blstm" --json "$work/blstm.json" --sweep
criterion ccc
"$py" bench/ccc_peer.py --runs "$runs_ccc" --json "$work/ccc.json"

echo "== demo graph"
"$py" bench/demo_overhead.py "$work/demo-jobs1.json" --jobs 1 --work "$work/demo"
if [ "$quick" = 0 ]; then
    "$py" bench/demo_overhead.py "$work/demo-jobs2.json" --jobs 2 --work "$work/demo"
fi

echo "== sweeps and --jobs"
if [ "$quick" = 1 ]; then repeats=1; else repeats=3; fi
"$py" bench/scaling.py "$work/scaling.json" --repeats "$repeats" --jobs 1 2 4 --work "$work/scaling"

echo "== fingerprints of source files"
"$py" bench/fingerprint.py "$work/fingerprint.json" --repeats "$repeats" --work "$work/fingerprint"

python_crossing
echo "== a plugin's first build"
"$py" bench/plugin_build.py "$work/plugin-build.json" --work "$work/plugin-build"

echo $(( $(date +%s) - started )) > "$work/elapsed"
echo "== report"
"$py" bench/report.py --work "$work"
echo "bench.sh: $(( $(date +%s) - started )) s"
