#!/usr/bin/env bash
# The test command (README): installs what the suite needs, then lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 PIP_DISABLE_PIP_VERSION_CHECK=1
python -c 'import torch' 2>/dev/null || python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[test]"
# graphviz draws the pictures; Debian's chromium opens the interactive view in a browser test
missing=""
command -v dot >/dev/null || missing="$missing graphviz"
command -v chromium >/dev/null || missing="$missing chromium"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $missing >/dev/null;
  else sudo apt-get update -qq && sudo apt-get install -y -qq $missing >/dev/null; fi
fi
python -m ruff check pgc tests bench
python -m mypy
python -m pytest -q -n 2 --dist loadgroup "$@"
