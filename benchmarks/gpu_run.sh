#!/usr/bin/env bash
# GPU checks, run on the device machine from the repository root (no network there).
# Needs a numpy<2.5 wheel in .whl/ (numba-cuda breaks on numpy 2.5), fetched beforehand with:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl "numpy==2.4.*"
# Usage: bash benchmarks/gpu_run.sh [codegen] [fno] [fno-accuracy]   (default: codegen)
# WHEELS=folder picks the carried wheels (default .whl).
# fno-accuracy reuses benchmarks/results/fno_darcy_data/ (generated beforehand on a CPU machine).
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --target /tmp/site "${WHEELS:-.whl}"/*.whl
# pdeflow maps its domain folders to subpackages; mirror that without installing
rm -rf /tmp/shim && mkdir -p /tmp/shim/pdeflow
cp pdeflow/*.py /tmp/shim/pdeflow/
for d in symbolic solvers operators meshes datagen; do ln -s "$PWD/$d" "/tmp/shim/pdeflow/$d"; done
export PYTHONPATH=/tmp/site:/tmp/shim:$PWD
export PDEFLOW_CACHE_DIR=/tmp/pdeflow-cache
python3 -c "import numpy, numba; from numba import cuda; print('numpy', numpy.__version__, 'numba', numba.__version__, 'cuda', cuda.is_available())" || echo 'numba-cuda unavailable (needs the numpy 2.4 wheel; the torch checks do not)'
nvidia-smi --query-gpu=name,memory.total --format=csv || true
what=${*:-codegen}
for w in $what; do
  case "$w" in
    codegen) python3 benchmarks/gpu_codegen.py --N 1024 --repeats 30 ;;
    fno-accuracy) PDEFLOW_PROGRESS=plain timeout "${ACCURACY_TIMEOUT:-600}" python3 benchmarks/gpu_fno_darcy_accuracy.py --reuse --train-dir "${OUT:-/tmp/out}/fno_darcy_run" ${ACCURACY_ARGS:-} || echo "fno-accuracy exited with $?" ;;
    fno) PDEFLOW_PROGRESS=plain python3 benchmarks/gpu_fno.py --neuralop-path "${NEUROP_PATH:-benchmarks/results/neuralop_site}" --out "${OUT:-/tmp/out}/gpu_fno.json" ${GPU_FNO_ARGS:-} ;;
    *) echo "unknown check $w"; exit 2 ;;
  esac
done
mkdir -p "${OUT:-/tmp/out}" && cp benchmarks/results/*.json "${OUT:-/tmp/out}/" 2>/dev/null || true
