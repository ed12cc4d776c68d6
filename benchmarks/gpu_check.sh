#!/usr/bin/env bash
# The prepared GPU check (issue 13): INN's phases at CIFAR-10 size on one GPU, one table.
#   bash benchmarks/gpu_check.sh               # one H100/H200, about 3-8 minutes, nothing downloaded
#   bash benchmarks/gpu_check.sh --cpu-smoke   # toy size on the CPU, well under 3 minutes
# Extra flags go to benchmarks/gpu_check.py (--n, --epochs, --L, --H, --compile, --device).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || command -v python3 )}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" benchmarks/gpu_check.py "$@"
