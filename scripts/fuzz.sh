#!/usr/bin/env bash
# Fuzzes the readers and the graph loader (issue 9) with cargo-fuzz on stable
# Rust, without a sanitizer: each target for MINUTES (default 10), one after
# the other, then a summary per target. Exits 1 if any target found a crash
# (panic), an oversized allocation (> 2 GiB, see fuzz/src/lib.rs) or a
# timeout; the inputs are kept in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [MINUTES]
#   FUZZ_TARGETS="arff wav" scripts/fuzz.sh 1     # a subset
#   FUZZ_TIMEOUT=20                               # seconds one input may take
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). The targets are
# built once, up front (release, debug assertions and overflow checks on,
# `-s none`), and the built binaries are run directly, so edits made to the
# workspace while it fuzzes do not rebuild anything mid-run. The fuzzer grows
# fuzz/corpus/<target>/ (ignored by git) from the committed seeds in
# fuzz/seeds/<target>/ (regenerate with `python3 fuzz/make_seeds.py`); logs go
# to fuzz/logs/<target>.log. Reproduce a crash with
#   cargo fuzz run -s none TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail

minutes="${1:-10}"
if ! [[ "$minutes" =~ ^[0-9]+$ ]] || [ "$minutes" -lt 1 ]; then
    echo "usage: $0 [MINUTES]   (a whole number of minutes, at least 1)" >&2
    exit 2
fi
targets="${FUZZ_TARGETS:-arff wav graph}"
timeout_s="${FUZZ_TIMEOUT:-20}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

echo "== building the fuzz targets (cargo fuzz build -s none)"
if ! cargo fuzz build -s none; then
    echo "fuzz.sh: the fuzz targets do not build (see above)" >&2
    exit 2
fi
triple="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="fuzz/target/$triple/release"

mkdir -p fuzz/logs
summary=()
failed=0
for t in $targets; do
    if [ ! -x "$bin_dir/$t" ]; then
        echo "fuzz.sh: no fuzz target '$t' (built: $(cd "$bin_dir" && ls -F | sed -n 's/\*$//p' | tr '\n' ' '))" >&2
        exit 2
    fi
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    before="$(ls "fuzz/artifacts/$t")"
    log="fuzz/logs/$t.log"
    echo "== fuzzing $t for $minutes min (log: $log)"
    start=$SECONDS
    set +e
    "$bin_dir/$t" -artifact_prefix="fuzz/artifacts/$t/" \
        -max_total_time=$((minutes * 60)) -timeout="$timeout_s" -print_final_stats=1 \
        "fuzz/corpus/$t" "fuzz/seeds/$t" >"$log" 2>&1 &
    pid=$!
    wait "$pid"
    rc=$?
    set -e
    # The target's scratch file or directory (named after its process id).
    rm -rf "${TMPDIR:-/tmp}/emoflow-fuzz-$t-$pid" "${TMPDIR:-/tmp}/emoflow-fuzz-$t-$pid".*
    took=$((SECONDS - start))
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    units="$( (grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" || true) | tail -1 | sed 's/corp: //')"
    files="$(find "fuzz/corpus/$t" -type f | wc -l)"
    new="$(comm -13 <(printf '%s\n' "$before" | sort) <(ls "fuzz/artifacts/$t" | sort) | sed '/^$/d' | tr '\n' ' ')"
    if [ "$rc" -ne 0 ] || [ -n "$new" ]; then
        failed=1
        verdict="CRASH (exit $rc): ${new:-no artifact, see the log}"
        (grep -E -m3 "panicked at|ERROR: libFuzzer|emoflow-fuzz== ERROR|^Error" "$log" || true) | sed 's/^/    /'
    else
        verdict="no crash"
    fi
    line="$t: ${took}s, ${execs:-?} execs (${rate:-?}/s), corpus ${units:-?} (entries/bytes), ${files} files in fuzz/corpus/$t, ${verdict}"
    echo "$line"
    summary+=("$line")
done

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
