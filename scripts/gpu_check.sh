#!/usr/bin/env bash
# GPU check of model.blstm: trains a few epochs on CUDA through our code
# (nodes/model/examples/epoch_timing, built beforehand) and prints the epoch
# time beside PyTorch's own cuDNN LSTM on the same shapes (gpu_check.py).
#
# Build here:  cargo build --release -p emoflow-model --example epoch_timing
# Run there:   scripts/gpu_check.sh [EPOCH_TIMING_BINARY]
#   (default target/release/examples/epoch_timing; CARGO_TARGET_DIR honoured)
# Environment: TORCH_VENV (default /opt/torch/.venv, PyTorch 2.11 with CUDA),
#              EPOCHS (default 3).
# The binary's rpath points at this checkout's .venv; on the GPU machine it
# takes libtorch from TORCH_VENV through LD_LIBRARY_PATH instead.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
torch_venv=${TORCH_VENV:-/opt/torch/.venv}
epochs=${EPOCHS:-3}
binary=${1:-${CARGO_TARGET_DIR:-$here/../target}/release/examples/epoch_timing}
torch_lib=$("$torch_venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
echo "== emoflow model.blstm (tch) on cuda:0"
"$binary" --device cuda:0 --epochs "$epochs"
echo "== PyTorch nn.LSTM (cuDNN) on cuda:0"
"$torch_venv/bin/python" "$here/gpu_check.py" --device cuda:0 --epochs "$epochs"
