#!/usr/bin/env bash
# One GPU benchmark (issue 14 item 5), ready for a GPU machine in <= 10 minutes:
#   bench/gpu.sh [--quantus-python /path/to/quantus-venv/bin/python] [--amp]
# Writes bench/out/gpu.json and prints the ratios (curves vs forward floor, Quantus vs ours,
# IG m=200 vs Captum, FPA's share of a training step, Table D.2 extrapolated from a timed slice).
# Without a GPU it runs the CPU fallback on tiny sizes (seconds; the numbers are not GPU numbers)
# into bench/out/gpu_cpu_fallback.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
if "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    exec "$PY" bench/gpu_bench.py --device cuda --out bench/out/gpu.json "$@"
fi
echo "bench/gpu.sh: no CUDA device; CPU fallback on tiny sizes (not GPU numbers)" >&2
OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" exec "$PY" bench/gpu_bench.py --device cpu --tiny \
    --out bench/out/gpu_cpu_fallback.json "$@"
