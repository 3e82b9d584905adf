#!/usr/bin/env bash
# Installs libtorch for the build: PyPI torch==2.11.0 (what tch 0.24.0 binds)
# into the project-local venv .venv. Idempotent; .cargo/config.toml points
# the build at it, so nobody exports LIBTORCH by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH=2.11.0
stamp=.venv/.torch-$TORCH
if [ -f "$stamp" ]; then exit 0; fi
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet "torch==$TORCH"
touch "$stamp"
echo "libtorch $TORCH installed in .venv"
