#!/usr/bin/env bash
# The README's test command: every test, on a fresh machine.
#   1. libtorch (PyPI torch==2.11.0) into .venv, if missing; formatting
#      (cargo fmt --check) and lints (clippy, warnings are errors), which
#      fail in seconds rather than after the build;
#   2. the workspace (release: one build serves the tests and the graphs);
#   3. the out-of-tree example plugin (plugins/decode-hysteresis): its tests;
#   4. unit, property, golden-data and end-to-end tests (cargo nextest),
#      the Slurm executor's included (scripts/slurm-local.sh starts a
#      single-node Slurm, installing it if needed: root or sudo), and the
#      run page in headless Chromium (installed if needed, likewise);
#   5. `emoflow test`: every graph's [test] preset and expectations, and the
#      example plugin's graph, loaded with --plugin-path; the Python SDK's
#      and the Python example's (plugins/python-example) pytest tests,
#      `emoflow plugin check` of its kinds and its graph's `emoflow test`;
#   6. the release bundle (scripts/dist.sh), unpacked into a temporary
#      directory, runs the demo's [test] preset with the project's torch.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh
# libpython3.11 (linked by nodes/python) and .venv-python (pyarrow, NumPy,
# pytest, pinned) for the Python kinds and their tests.
./scripts/setup-python-plugins.sh
cargo fmt --all --check
cargo clippy --release --workspace --all-targets -- -D warnings
cargo build --release --workspace
# Out-of-tree projects share one target directory of their own.
plugin=plugins/decode-hysteresis/Cargo.toml
cargo test --release --manifest-path "$plugin" --target-dir target/out-of-tree
cargo build --release --manifest-path "$plugin" --target-dir target/out-of-tree
./scripts/slurm-local.sh start
# The run page's browser test (tests/faults/tests/report.rs) opens it in
# Debian's Chromium, headless; required here, so that it cannot skip.
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
        || { "${sudo[@]}" apt-get update -q >/dev/null && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
fi
export EMOFLOW_REQUIRE_CHROMIUM=1
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --release --workspace --no-fail-fast
else
    cargo test --release --workspace --no-fail-fast
fi
# Doc examples are not run by nextest.
cargo test --release --workspace --doc
target/release/emoflow test graphs/
mkdir -p target/example-plugins
cp target/out-of-tree/release/libdecode_hysteresis.so target/example-plugins/
target/release/emoflow plugin check target/example-plugins/libdecode_hysteresis.so
target/release/emoflow test --plugin-path target/example-plugins plugins/decode-hysteresis/graph.toml
.venv-python/bin/python -m pytest -q python/tests plugins/python-example
EMOFLOW_PYTHON=.venv-python/bin/python EMOFLOW_PLUGIN_PATH=plugins/python-example \
    target/release/emoflow plugin check target/release/libemoflow_python.so
EMOFLOW_PYTHON=.venv-python/bin/python \
    target/release/emoflow test --plugin-path plugins/python-example plugins/python-example/graph.toml
./scripts/dist.sh
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
tar -C "$unpacked" -xzf target/dist/emoflow-*-linux-x86_64.tar.gz
(cd "$unpacked"/emoflow-* &&
    EMOFLOW_PYTHON="$OLDPWD/.venv/bin/python3" bin/emoflow doctor &&
    EMOFLOW_PYTHON="$OLDPWD/.venv/bin/python3" bin/emoflow run graphs/demo.toml --preset-test --out out --cache cache >/dev/null)
echo "release bundle: ran the demo's [test] preset from $unpacked"
