#!/usr/bin/env bash
# The GPT on one CUDA GPU (issue 21), in well under 10 minutes:
#   1. the parity test on --device cuda in float64 (every loss equal to the eager engine's to 1e-9);
#   2. a float32 run of the default config (1,000 steps, 20 names), through the command line;
#   3. a larger config (n_layer 4, n_embd 128, block 64, batch 32) in float32, tokens per second beside
#      a plain PyTorch loop of the same model.
# Needs a CUDA build of torch 2.13.0 in the environment (the `torch` extra installs the CPU build).
# Run from anywhere: bash benchmarks/gpu_check.sh   (PYTHON=... picks another interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else
    f"gpu_check: no CUDA GPU is available to this PyTorch ({torch.__version__}); nothing to check")'
"$PY" -c 'import torch; print("gpu_check:", torch.cuda.get_device_name(0), "torch", torch.__version__)'
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "== 1/3 parity on cuda, float64"
"$PY" -m pytest tests/test_gpt_torch.py -k cuda -p no:xdist -o addopts= -q -rs

echo "== 2/3 the default config in float32, 1,000 steps"
SECONDS=0
"$PY" -m micrograd gpt train --engine torch --device cuda --dtype float32 --steps 1000 --out "$OUT/f32" --samples 5
echo "(${SECONDS} s)"

echo "== 3/3 a larger config in float32: tokens per second"
"$PY" benchmarks/gpt_torch.py --device cuda --dtype float32 --only large --rounds 3 --steps 50
