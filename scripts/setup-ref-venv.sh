#!/usr/bin/env bash
# The reference tools that golden data and benchmarks compare against
# (torchaudio, kaldi-native-fbank, scikit-learn, ckmeans, kenlm, NumPy),
# pinned in scripts/requirements-ref.txt, into .venv-ref. Only needed to
# regenerate golden data or to run the benchmarks; tests read committed data.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv-ref/.installed-$(sha256sum scripts/requirements-ref.txt | cut -c1-16)
if [ -f "$stamp" ]; then exit 0; fi
python3 -m venv .venv-ref
.venv-ref/bin/pip install --quiet --upgrade pip
.venv-ref/bin/pip install --quiet -r scripts/requirements-ref.txt
touch "$stamp"
