#!/usr/bin/env bash
# The README's build-and-demo command: libtorch into .venv (once), a release
# build of the whole workspace, then the demo graph on the embedded
# synthetic corpus. Extra arguments go to `emoflow run`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh
# nodes/python links Debian's libpython3.11 (installed if missing).
./scripts/setup-python-plugins.sh --system-only
cargo build --release --workspace
exec target/release/emoflow run graphs/demo.toml --out out/demo "$@"
