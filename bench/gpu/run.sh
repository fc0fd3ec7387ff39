#!/usr/bin/env bash
# One prepared command for a machine with one (or more) GPUs that has PyTorch installed and no
# network: lark and graphviz come as wheels in bench/gpu/wheels/ (or are installed already); pgc
# runs from this repository, never from an installed copy. Writes its figures to
# bench/results/gpu/ (or the folder given with --out). `--cpu`: the same steps, shrunk, on the
# CPU (the test suite runs it). See README.md, "GPU check". None of it has run on a GPU with this
# version; part (e), pgc 1f1b against torch's Schedule1F1B on two or more GPUs over nccl, has never
# run on a GPU at all (only its --cpu form, 2 processes over gloo).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if ! python -c "import lark" 2>/dev/null; then
  python -m pip install --no-index --find-links "$here/wheels" lark graphviz
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec python "$here/run.py" "$@"
