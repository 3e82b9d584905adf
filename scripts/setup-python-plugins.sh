#!/usr/bin/env bash
# What Python node kinds (nodes/python, docs/python.md) need:
#   1. Debian's libpython3.11 and its headers, which the plugin links and
#      embeds (installed if missing: root or sudo);
#   2. .venv-python: a venv of that same Python 3.11 with the pinned
#      python/requirements.txt (pyarrow, NumPy, pytest) and the repository's
#      SDK (python/emoflow_sdk) on its path.
# Idempotent. Use it with EMOFLOW_PYTHON=.venv-python/bin/python.
# `--system-only` stops after step 1: what building the workspace needs
# (scripts/demo.sh), without the venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=/usr/bin/python3.11
if [ ! -e /usr/lib/x86_64-linux-gnu/libpython3.11.so ] || ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
    packages=(libpython3.11-dev python3.11-venv)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}" >/dev/null \
        || { "${sudo[@]}" apt-get update -q >/dev/null && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}" >/dev/null; }
fi
if [ "${1:-}" = --system-only ]; then exit 0; fi
stamp=.venv-python/.requirements-$(sha256sum python/requirements.txt | cut -c1-16)
if [ -f "$stamp" ]; then exit 0; fi
rm -rf .venv-python
"$PYTHON" -m venv .venv-python
.venv-python/bin/pip install --quiet --upgrade pip
.venv-python/bin/pip install --quiet -r python/requirements.txt
# The SDK from this tree, importable by pytest and by the embedded interpreter.
site=$(.venv-python/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$PWD/python" > "$site/emoflow_sdk.pth"
touch "$stamp"
echo "Python plugin environment ready in .venv-python"
