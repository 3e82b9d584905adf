#!/usr/bin/env bash
# The README's test command: every test, on a fresh machine.
#   1. libtorch (PyPI torch==2.11.0) into .venv, if missing;
#   2. the workspace (release: one build serves the tests and the graphs);
#   3. unit, property, golden-data and end-to-end tests (cargo nextest);
#   4. `emoflow test graphs/`: every graph's [test] preset and expectations.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh
cargo build --release --workspace
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --release --workspace --no-fail-fast
else
    cargo test --release --workspace --no-fail-fast
fi
# Doc examples are not run by nextest.
cargo test --release --workspace --doc
target/release/emoflow test graphs/
