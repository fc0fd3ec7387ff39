#!/usr/bin/env bash
# The main job: compile examples/chain4.pgc (a 4-stage LLaMA-style chain pipeline) and train it
# with torchrun on 4 CPU processes over gloo. Installs what it needs on a fresh machine.
# Extra arguments go to train.py, e.g. `bash examples/run_default.sh --steps 60 --trace trace`.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" PIP_DISABLE_PIP_VERSION_CHECK=1
python -c 'import torch' 2>/dev/null || python -m pip install -q torch==2.13.0  # the CPU build here; a bare `torch` pulls a CUDA build
python -c 'import lark, pgc.cli' 2>/dev/null || python -m pip install -q -e .
OUT="${OUT:-build/chain4}"
python -m pgc compile examples/chain4.pgc -o "$OUT"
cd "$OUT"
exec torchrun --standalone --nproc-per-node 4 train.py "$@"
