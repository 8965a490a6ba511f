#!/usr/bin/env bash
# The GPU checks of the train step in one run, on a machine with CUDA, PyTorch, pytest, pandas,
# pyarrow, tiktoken and PyYAML (the device machine's image has them all): the precision tests on
# CUDA (and the CPU), the speed-option equivalence tests, and benchmarks/train_step.py on the
# default model. Outputs and figures go to $OUT (the device tool's folder) or benchmarks/gpu/.
#
#     bash benchmarks/gpu_check.sh
set -euo pipefail
out=${OUT:-benchmarks/gpu}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -m pytest -q -p no:cacheprovider tests/test_precision.py tests/test_head.py tests/test_step.py \
    2>&1 | tee "$out/tests.txt"
python3 benchmarks/train_step.py --steps 50 --out "$out/results.csv" 2>&1 | tee "$out/train_step.txt"
