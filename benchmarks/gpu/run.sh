#!/usr/bin/env bash
# The GPU verification, one command on the device machine (Python 3.12 with torch, torchvision, OpenCV, scikit-image
# and pytest; no package registry). Build the wheels it installs here first: `make gpu-wheels` (into .whl/), then
#   device run, carry [.whl]:  bash benchmarks/gpu/run.sh
# It installs the carried wheels into /tmp/site, runs the CUDA tests and a GPU subset of the suite, then the GPU
# benchmarks; logs and JSON go to $OUT (or ./gpu_out). About 6-8 minutes on an H200.
set -o pipefail
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo 'installing the carried wheels failed: run make gpu-wheels here and carry .whl'; exit 1; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())' \
    | tee -a "$OUT/gpu.txt"
# the CUDA-parametrised tests (skipped on CPU) and the tests of AMP, resume and on-device noise synthesis
timeout 240 python3 -m pytest -q -p no:cacheprovider tests -k 'cuda or amp or resume or on_device or generator' \
    2>&1 | tee "$OUT/pytest.log"
tests_rc=$?
timeout 300 python3 benchmarks/gpu/gpu_checks.py --device cuda --out "$OUT" 2>&1 | tee "$OUT/benchmarks.log"
bench_rc=$?
echo "tests exit $tests_rc, benchmarks exit $bench_rc"
exit $(( tests_rc || bench_rc ))
